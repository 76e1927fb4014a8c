"""The in-file test runner: it reports mismatches and refuses data the catalogue cannot hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from adapters.sdk import AttributeType, PredicateOperator
from gateway.engine.catalogue import Catalogue
from gateway.engine.outcome import Decision
from gateway.programs.errors import CaseDataError
from gateway.programs.model import Program
from gateway.programs.testing import describe_agencies, run_program_tests

LoadDocument = Callable[[Mapping[str, Any]], Program]


def test_a_matching_case_passes(
    load_document: LoadDocument, valid: dict[str, Any], documented_catalogue: Catalogue
) -> None:
    (result,) = run_program_tests(load_document(valid), documented_catalogue)
    assert result.passed
    assert result.message == ""
    assert result.evaluation.decision is Decision.ELIGIBLE


@pytest.mark.parametrize(
    ("expect", "fragment"),
    [
        pytest.param(
            {"decision": "ineligible"}, "decision eligible, expected ineligible", id="decision"
        ),
        pytest.param(
            {"decision": "eligible", "rules": {"car": "fail"}}, "rule car pass", id="rule"
        ),
        pytest.param(
            {"decision": "eligible", "reason_codes": ["INCOME_OK"]},
            "reason codes ['INCOME_OK', 'NO_CAR']",
            id="reason-codes",
        ),
    ],
)
def test_a_mismatch_fails_the_case_and_says_why(
    load_document: LoadDocument,
    valid: dict[str, Any],
    documented_catalogue: Catalogue,
    expect: dict[str, Any],
    fragment: str,
) -> None:
    valid["tests"][0]["expect"] = expect
    (result,) = run_program_tests(load_document(valid), documented_catalogue)
    assert not result.passed
    assert fragment in result.message


def test_unavailable_agencies_are_simulated_as_failed(
    load_document: LoadDocument, valid: dict[str, Any], documented_catalogue: Catalogue
) -> None:
    valid["tests"][0]["unavailable"] = ["vehicle_registry"]
    valid["tests"][0]["expect"] = {
        "decision": "undetermined",
        "rules": {"car": "unknown", "income": "pass"},
        "reason_codes": ["SOURCE_FAILED"],
    }
    (result,) = run_program_tests(load_document(valid), documented_catalogue)
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param(
            {"members": [{"tax.wealth": 1}]}, "tax does not serve 'wealth'", id="unserved-attribute"
        ),
        pytest.param(
            {"members": [{"tax.annual_income": "a lot"}]}, "is not int64", id="wrong-type"
        ),
        pytest.param({"members": [{"tax.annual_income": True}]}, "is not int64", id="bool-for-int"),
        pytest.param({"unavailable": ["customs"]}, "no agency 'customs'", id="unknown-agency"),
    ],
)
def test_case_data_the_catalogue_cannot_hold_is_refused(
    load_document: LoadDocument,
    valid: dict[str, Any],
    documented_catalogue: Catalogue,
    change: dict[str, Any],
    fragment: str,
) -> None:
    valid["tests"][0].update(change)
    with pytest.raises(CaseDataError, match=r"sample.yaml") as raised:
        run_program_tests(load_document(valid), documented_catalogue)
    assert fragment in str(raised.value)


def test_describe_agencies_reads_the_compact_table() -> None:
    (tax,) = describe_agencies({"tax": {"annual_income": "int64 lt ge", "licensed": "bool"}})
    assert tax.agency_id == "tax"
    income = tax.attribute("annual_income")
    assert income.type is AttributeType.INT64
    assert income.predicate_operators == {PredicateOperator.LT, PredicateOperator.GE}
    assert tax.attribute("licensed").predicate_operators == frozenset()
