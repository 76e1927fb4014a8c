"""The artefact's invariants: every bad field is an InvalidArtefactError naming it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consent import (
    AttributeRef,
    ConsentError,
    FetchType,
    Frequency,
    Grantor,
    GuardianRelation,
    InvalidArtefactError,
    Providers,
    Scope,
    Validity,
    refs,
)
from tests.consent.conftest import DAY, GUARDIAN, NOW, SUBJECT, artefact, mandate


def test_the_base_artefact_is_valid() -> None:
    made = artefact()
    assert made.subject == SUBJECT
    assert not made.guardian
    assert made.scope.agencies == {"tax", "civil_registry"}


def test_a_guardian_with_a_relation_may_consent() -> None:
    made = artefact(grantor=Grantor(GUARDIAN, GuardianRelation.PARENT))
    assert made.guardian


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"subject": "0012345678"}, "subject", id="subject-bad-check-digit"),
        pytest.param({"subject": "۰۰۱۲۳۴۵۶۷۸"}, "subject", id="subject-persian-digits"),
        pytest.param({"subject": "1111111111"}, "subject", id="subject-repeated-digit"),
        pytest.param({"grantor": Grantor(GUARDIAN)}, "grantor.relation", id="guardian-no-relation"),
        pytest.param(
            {"grantor": Grantor(SUBJECT, GuardianRelation.PARENT)},
            "grantor.relation",
            id="self-with-relation",
        ),
        pytest.param({"id": "has space"}, "id", id="id-with-space"),
        pytest.param({"id": ""}, "id", id="id-empty"),
        pytest.param({"purpose_code": "Eligibility"}, "purpose_code", id="purpose-not-identifier"),
        pytest.param({"purpose_text": " "}, "purpose_text", id="purpose-text-blank"),
        pytest.param({"purpose_text": "a\nb"}, "purpose_text", id="purpose-text-control"),
        pytest.param({"frequency": None}, "frequency", id="periodic-without-frequency"),
        pytest.param({"fetch_type": FetchType.ONE_TIME}, "frequency", id="one-time-with-frequency"),
        pytest.param({"data_life": dt.timedelta(0)}, "data_life", id="data-life-zero"),
        pytest.param(
            {"data_life": dt.timedelta(seconds=1.5)}, "data_life", id="data-life-fractional"
        ),
        pytest.param({"created_at": NOW.replace(tzinfo=None)}, "created_at", id="naive-created"),
        pytest.param({"supersedes": "c-1"}, "supersedes", id="supersedes-itself"),
        pytest.param(
            {"providers": Providers(frozenset({"tax"}))}, "scope", id="scope-outside-providers"
        ),
    ],
)
def test_bad_artefacts_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArtefactError, match=f"^{field}: "):
        artefact(**changes)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(lambda: AttributeRef.parse("income"), "attribute", id="ref-without-dot"),
        pytest.param(lambda: AttributeRef.parse("Tax.income"), "agency", id="ref-upper-agency"),
        pytest.param(lambda: AttributeRef.parse("tax."), "attribute", id="ref-empty-attribute"),
        pytest.param(lambda: Frequency(0, DAY), "frequency.max_uses", id="frequency-zero"),
        pytest.param(lambda: Frequency(True, DAY), "frequency.max_uses", id="frequency-bool"),
        pytest.param(lambda: Frequency(1, -DAY), "frequency.period", id="frequency-negative"),
        pytest.param(Providers, "providers", id="providers-empty"),
        pytest.param(Scope, "scope", id="scope-empty"),
        pytest.param(lambda: Validity(NOW, NOW), "validity", id="validity-empty-window"),
        pytest.param(
            lambda: Validity(NOW, NOW.replace(tzinfo=None) + DAY),
            "validity.valid_until",
            id="validity-naive",
        ),
        pytest.param(
            lambda: Validity(NOW.astimezone(dt.timezone(dt.timedelta(hours=3, minutes=30))), NOW),
            "validity.valid_from",
            id="validity-tehran-offset",
        ),
        pytest.param(lambda: Grantor("123"), "grantor.national_id", id="grantor-bad-id"),
        pytest.param(lambda: mandate(programs=frozenset()), "programs", id="mandate-no-program"),
        pytest.param(
            lambda: mandate(valid_until=NOW - 40 * DAY), "valid_until", id="mandate-ends-first"
        ),
        pytest.param(lambda: mandate(legal_reference=""), "legal_reference", id="mandate-no-law"),
    ],
)
def test_bad_parts_are_refused(build: Any, field: str) -> None:
    with pytest.raises(InvalidArtefactError, match=f"^{field}: "):
        build()


def test_refs_read_agency_dot_attribute() -> None:
    assert refs("tax.annual_income") == {AttributeRef("tax", "annual_income")}
    assert str(AttributeRef("tax", "annual_income")) == "tax.annual_income"


def test_every_error_is_a_consent_error() -> None:
    assert issubclass(InvalidArtefactError, ConsentError)
