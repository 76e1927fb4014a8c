"""Showing a CheckResult to a person (rich text, Persian or English) or a program (JSON)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from google.protobuf import json_format
from rich.console import Console
from rich.table import Table
from sakha.v1 import eligibility_pb2

from gateway.labels import LABELS, label

_DECISION_STYLE = {
    eligibility_pb2.DECISION_ELIGIBLE: ("ELIGIBLE", "bold green"),
    eligibility_pb2.DECISION_INELIGIBLE: ("INELIGIBLE", "bold red"),
    eligibility_pb2.DECISION_UNDETERMINED: ("UNDETERMINED", "bold yellow"),
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


def decision_label(decision: str, lang: str) -> str:
    """A decision's name as printed: ``ELIGIBLE``, or in Persian with the name beside it."""
    return f"{label(decision, lang)} ({decision})" if lang == "fa" else decision


def show_result(console: Console, result: eligibility_pb2.CheckResult, lang: str) -> None:
    """Print a decision, its reasons and the agencies consulted, every label in ``lang``."""
    name, style = _DECISION_STYLE.get(result.decision, ("UNSPECIFIED", "bold"))

    def said(key: str) -> str:
        return label(key, lang)

    console.print(
        f"[{style}]{decision_label(name, lang)}[/]  {said('program')} {result.program_id} "
        f"v{result.program_version}  {said('as of')} {result.as_of}  "
        f"{said('request')} {result.request_id}"
    )
    if result.reason_codes:
        console.print(f"{said('reasons')}: " + ", ".join(result.reason_codes))
    if result.household_size:
        console.print(f"{said('household members considered')}: {result.household_size}")
    if result.HasField("legal_basis"):
        basis = result.legal_basis
        console.print(f"{said('under')} {basis.kind} {basis.reference}")
    rules = Table(*map(said, ("rule", "outcome", "code", "reason")), show_edge=False)
    for rule in result.rules:
        outcome, colour = _OUTCOME.get(rule.outcome, ("unknown", "white"))
        rules.add_row(
            rule.rule_id, f"[{colour}]{said(outcome)}[/]", rule.reason_code, text(rule.reason, lang)
        )
    console.print(rules)
    sources = Table(*map(said, ("agency", "status", "ms", "detail")), show_edge=False)
    repeated = Counter(source.agency_id for source in result.sources)
    for position, source in enumerate(result.sources):
        status = eligibility_pb2.SourceStatus.Name(source.status).removeprefix("SOURCE_STATUS_")
        colour = "green" if status in ("OK", "NOT_FOUND") else "red"
        shown = said(status) if status in LABELS else status
        agency = source.agency_id
        if repeated[agency] > 1:  # the identity lookup first, then the program's own read
            agency = f"{agency} ({said('identity' if position == 0 else 'program read')})"
        sources.add_row(agency, f"[{colour}]{shown}[/]", str(source.latency_ms), source.detail)
    console.print(sources)
    if result.HasField("audit_index"):
        console.print(f"{said('audit receipt: log index')} {result.audit_index}")
