"""Showing a CheckResult to a person (rich text, Persian or English) or a program (JSON)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from rich.console import Console
from rich.table import Table
from sakha.v1 import eligibility_pb2

LANGUAGES = ("en", "fa")

_DECISION_STYLE = {
    eligibility_pb2.DECISION_ELIGIBLE: ("ELIGIBLE", "واجد شرایط", "bold green"),
    eligibility_pb2.DECISION_INELIGIBLE: ("INELIGIBLE", "فاقد شرایط", "bold red"),
    eligibility_pb2.DECISION_UNDETERMINED: ("UNDETERMINED", "نامشخص", "bold yellow"),
}
_OUTCOME = {
    eligibility_pb2.RULE_OUTCOME_PASS: ("pass", "green"),
    eligibility_pb2.RULE_OUTCOME_FAIL: ("fail", "red"),
    eligibility_pb2.RULE_OUTCOME_UNKNOWN: ("unknown", "yellow"),
}


def text(localized: eligibility_pb2.LocalizedText, lang: str) -> str:
    """The text in ``lang``, falling back to the other language when it is missing."""
    first, second = (localized.fa, localized.en) if lang == "fa" else (localized.en, localized.fa)
    return first or second


def decision_name(decision: int) -> str:
    """The decision's English name (ELIGIBLE, INELIGIBLE, UNDETERMINED)."""
    known = _DECISION_STYLE.get(eligibility_pb2.Decision.ValueType(decision))
    return known[0] if known is not None else "UNSPECIFIED"


def as_json(message: Any) -> str:
    """The message as JSON with field names as in the proto."""
    return json.dumps(
        json_format.MessageToDict(message, preserving_proto_field_name=True),
        ensure_ascii=False,
        indent=2,
    )


def show_result(console: Console, result: eligibility_pb2.CheckResult, lang: str) -> None:
    """Print a decision, its reasons and the agencies consulted."""
    name_en, name_fa, style = _DECISION_STYLE.get(
        result.decision, ("UNSPECIFIED", "نامشخص", "bold")
    )
    label = f"{name_fa} ({name_en})" if lang == "fa" else name_en
    console.print(
        f"[{style}]{label}[/]  program {result.program_id} v{result.program_version}"
        f"  as of {result.as_of}  request {result.request_id}"
    )
    if result.reason_codes:
        console.print("reasons: " + ", ".join(result.reason_codes))
    if result.household_size:
        console.print(f"household members considered: {result.household_size}")
    if result.HasField("legal_basis"):
        console.print(f"under {result.legal_basis.kind} {result.legal_basis.reference}")
    rules = Table("rule", "outcome", "code", "reason", title=None, show_edge=False)
    for rule in result.rules:
        outcome, colour = _OUTCOME.get(rule.outcome, ("?", "white"))
        rules.add_row(
            rule.rule_id, f"[{colour}]{outcome}[/]", rule.reason_code, text(rule.reason, lang)
        )
    console.print(rules)
    sources = Table("agency", "status", "ms", "detail", show_edge=False)
    for source in result.sources:
        status = eligibility_pb2.SourceStatus.Name(source.status).removeprefix("SOURCE_STATUS_")
        colour = "green" if status in ("OK", "NOT_FOUND") else "red"
        sources.add_row(
            source.agency_id, f"[{colour}]{status}[/]", str(source.latency_ms), source.detail
        )
    console.print(sources)
    if result.HasField("audit_index"):
        console.print(f"audit receipt: log index {result.audit_index}")
