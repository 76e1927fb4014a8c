"""``--lang fa`` prints every label in Persian: a check's decision, headings, outcomes and
statuses, ``programs list`` headings and ``programs test`` marks and counts; codes and ids
stay as they are."""

from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from rich.console import Console
from sakha.v1 import eligibility_pb2

from gateway.cli import main
from gateway.labels import LABELS, label
from gateway.render import decision_label, show_result

PERSIAN = re.compile(r"[\u0600-\u06FF]")
ENGLISH_LABELS = (
    "program", "as of", "request", "reasons", "household members", "under", "rule",
    "outcome", "reason", "agency", "status", "detail", "audit receipt", "pass", "fail",
)  # fmt: skip


def _result() -> eligibility_pb2.CheckResult:
    result = eligibility_pb2.CheckResult(
        decision=eligibility_pb2.DECISION_INELIGIBLE,
        program_id="livelihood_basket",
        program_version="2026.1",
        as_of="2026-06-01",
        request_id="r-1",
        reason_codes=["INCOME_TOO_HIGH"],
        household_size=3,
        audit_index=41,
    )
    result.legal_basis.kind = "consent"
    result.legal_basis.reference = "c-1"
    for outcome in (eligibility_pb2.RULE_OUTCOME_PASS, eligibility_pb2.RULE_OUTCOME_FAIL):
        rule = result.rules.add(rule_id=f"r{outcome}", outcome=outcome, reason_code="X")
        rule.reason.en, rule.reason.fa = "English reason", "دلیل فارسی"
    for status in (eligibility_pb2.SOURCE_STATUS_OK, eligibility_pb2.SOURCE_STATUS_TIMEOUT):
        result.sources.add(agency_id="tax", status=status, latency_ms=12)
    return result


def _shown(lang: str) -> str:
    out = io.StringIO()
    show_result(Console(file=out, width=200, no_color=True), _result(), lang)
    return out.getvalue()


def test_a_check_in_persian_has_no_english_label_left() -> None:
    shown = _shown("fa").lower()
    for english in ENGLISH_LABELS:
        assert not re.search(rf"\b{english}\b", shown), english
    assert "فاقد شرایط (INELIGIBLE)".lower() in shown
    for key in ("program", "as of", "reasons", "rule", "status", "pass", "fail", "TIMEOUT"):
        assert label(key, "fa") in shown
    assert "livelihood_basket" in shown  # ids stay
    assert "INCOME_TOO_HIGH".lower() in shown  # and codes
    assert "دلیل فارسی" in shown
    assert "english reason" not in shown


def test_a_check_in_english_is_unchanged() -> None:
    shown = _shown("en")
    assert shown.startswith("INELIGIBLE  program livelihood_basket v2026.1  as of 2026-06-01")
    assert "reasons: INCOME_TOO_HIGH" in shown
    assert "audit receipt: log index 41" in shown
    assert not PERSIAN.search(shown)


@pytest.mark.parametrize("key", sorted(LABELS))
def test_every_label_has_persian_text(key: str) -> None:
    assert PERSIAN.search(label(key, "fa")), key
    assert label(key, "en").strip()


def test_programs_list_and_test_in_persian() -> None:
    listed = CliRunner().invoke(main, ["programs", "list", "--lang", "fa"])
    assert listed.exit_code == 0, listed.output
    heading = listed.output.splitlines()[0]
    assert all(label(k, "fa") in heading for k in ("version", "title", "unit", "need"))
    tested = CliRunner().invoke(main, ["programs", "test", "--lang", "fa"])
    assert tested.exit_code == 0, tested.output
    *cases, summary = tested.output.splitlines()
    assert all(line.startswith(label("ok", "fa")) for line in cases)
    assert label("test cases of", "fa") in summary
    assert label("failed", "fa") in summary
    assert not re.search(r"\b(passed|failed|programs?)\b", summary)


def test_check_batch_counts_decisions_in_persian_beside_their_names() -> None:
    assert decision_label("ELIGIBLE", "fa") == "واجد شرایط (ELIGIBLE)"
    assert decision_label("ERROR", "fa") == "خطا (ERROR)"
    assert decision_label("ELIGIBLE", "en") == "ELIGIBLE"


def test_an_agency_read_in_two_phases_is_labelled_each_time() -> None:
    result = _result()
    del result.sources[:]
    result.sources.add(agency_id="civil_registry", status=eligibility_pb2.SOURCE_STATUS_OK)
    result.sources.add(agency_id="tax", status=eligibility_pb2.SOURCE_STATUS_OK)
    result.sources.add(agency_id="civil_registry", status=eligibility_pb2.SOURCE_STATUS_OK)
    out = io.StringIO()
    show_result(Console(file=out, width=200, no_color=True), result, "en")
    shown = out.getvalue()
    assert "civil_registry (identity)" in shown
    assert "civil_registry (program read)" in shown
    assert re.search(r"^\s*tax\s", shown, re.MULTILINE)  # read once: no label
