"""The consent decision: each refusal with its reason, and properties that must always hold."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import (
    Allowed,
    AttributeRef,
    Basis,
    ConsentDeniedError,
    ConsentState,
    ConsentStatus,
    DenialReason,
    Frequency,
    HouseholdCoverage,
    InvalidArtefactError,
    MandateStatus,
    Providers,
    Scope,
    UseRequest,
    decide_consent,
    decide_mandate,
    refs,
)
from tests.consent.conftest import DAY, NOW, OTHER, artefact, mandate, one_time, use_request

R = DenialReason


def request(**changes: Any) -> UseRequest:
    """The use the base artefact allows, its household's data included."""
    return use_request(
        **{"predicates": refs("civil_registry.household_size"), "household": True, **changes}
    )


def state(status: ConsentStatus = ConsentStatus.ACTIVE, **changes: Any) -> ConsentState:
    """The base artefact, unused, with ``status``."""
    return ConsentState(artefact(), status, 0, **changes)


def test_the_base_use_is_allowed() -> None:
    assert decide_consent(state(), request(), NOW) == Allowed(Basis.CONSENT, "c-1")


@pytest.mark.parametrize(
    ("given_state", "use", "now", "reason", "says"),
    [
        pytest.param(state(), request(subject=OTHER), NOW, R.WRONG_SUBJECT, "another", id="subj"),
        pytest.param(
            state(), request(organisation_id="bank"), NOW, R.WRONG_CONSUMER, "bank", id="org"
        ),
        pytest.param(
            state(), request(program_id="fuel_card"), NOW, R.WRONG_PROGRAM, "fuel_card", id="prog"
        ),
        pytest.param(
            state(), request(purpose="marketing"), NOW, R.PURPOSE_NOT_COVERED, "marketing", id="p"
        ),
        pytest.param(state(), request(), NOW - 2 * DAY, R.NOT_YET_VALID, "from", id="early"),
        pytest.param(state(), request(), NOW + 90 * DAY, R.EXPIRED, "EXPIRED", id="expired"),
        pytest.param(state(ConsentStatus.PAUSED), request(), NOW, R.PAUSED, "PAUSED", id="paused"),
        pytest.param(
            state(ConsentStatus.REVOKED), request(), NOW, R.REVOKED, "REVOKED", id="revoked"
        ),
        pytest.param(
            state(ConsentStatus.REFUSED), request(), NOW, R.REFUSED, "REFUSED", id="refused"
        ),
        pytest.param(
            state(ConsentStatus.REQUESTED), request(), NOW, R.PENDING, "REQUESTED", id="pending"
        ),
        pytest.param(
            state(ConsentStatus.SUPERSEDED),
            request(),
            NOW,
            R.SUPERSEDED,
            "SUPERSEDED",
            id="superseded",
        ),
        pytest.param(
            state(),
            request(attributes=refs("tax.annual_income", "tax.assets")),
            NOW,
            R.OUT_OF_SCOPE,
            "tax.assets",
            id="attribute",
        ),
        pytest.param(
            state(),
            request(attributes=refs("civil_registry.household_size")),
            NOW,
            R.OUT_OF_SCOPE,
            "civil_registry.household_size",
            id="predicate-read-as-value",
        ),
        pytest.param(
            state(),
            request(attributes=refs("tax.annual_income"), agencies={"welfare": None}),
            NOW,
            R.PROVIDER_NOT_COVERED,
            "welfare",
            id="agency",
        ),
        pytest.param(
            ConsentState(
                artefact(household=HouseholdCoverage.SUBJECT_ONLY), ConsentStatus.ACTIVE, 0
            ),
            request(),
            NOW,
            R.HOUSEHOLD_NOT_COVERED,
            "household",
            id="household",
        ),
        pytest.param(
            ConsentState(one_time(), ConsentStatus.ACTIVE, 1),
            request(),
            NOW,
            R.SPENT,
            "used already",
            id="spent",
        ),
        pytest.param(
            state(recent_uses=tuple(NOW - n * DAY for n in range(4))),
            request(),
            NOW,
            R.FREQUENCY_EXCEEDED,
            "4 uses",
            id="frequency",
        ),
    ],
)
def test_refusals_name_their_reason(
    given_state: ConsentState, use: UseRequest, now: dt.datetime, reason: R, says: str
) -> None:
    with pytest.raises(ConsentDeniedError, match=says) as caught:
        decide_consent(given_state, use, now)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_a_one_time_consent_allows_its_first_use() -> None:
    assert decide_consent(ConsentState(one_time(), ConsentStatus.ACTIVE, 0), request(), NOW)


def test_uses_older_than_the_period_do_not_count() -> None:
    old = tuple(NOW - (30 + n) * DAY for n in range(10))
    assert decide_consent(state(recent_uses=(*old, NOW - DAY)), request(), NOW)


def test_a_category_covers_its_agencies() -> None:
    by_category = artefact(
        providers=Providers(frozenset({"tax", "civil_registry"}), frozenset({"bank"})),
        scope=Scope(refs("tax.annual_income", "bank_melli.balance")),
    )
    use = request(
        attributes=refs("bank_melli.balance"),
        predicates=frozenset(),
        agencies={"bank_melli": "bank"},
    )
    assert decide_consent(ConsentState(by_category, ConsentStatus.ACTIVE, 0), use, NOW)
    with pytest.raises(ConsentDeniedError) as caught:
        decide_consent(
            ConsentState(by_category, ConsentStatus.ACTIVE, 0),
            dataclasses.replace(use, agencies={"bank_melli": None}),
            NOW,
        )
    assert caught.value.reason is R.PROVIDER_NOT_COVERED


def test_a_use_touching_nothing_is_an_invalid_request() -> None:
    with pytest.raises(InvalidArtefactError, match="at least one attribute"):
        request(attributes=frozenset(), predicates=frozenset())


def test_a_mandate_allows_what_it_covers() -> None:
    use = request(program_id="subsidy", consent_id="", mandate_id="m-1")
    assert decide_mandate(mandate(), MandateStatus.ACTIVE, use, NOW) == Allowed(
        Basis.MANDATE, "m-1"
    )


@pytest.mark.parametrize(
    ("made", "status", "changes", "reason"),
    [
        pytest.param(mandate(), MandateStatus.SUSPENDED, {}, R.MANDATE_SUSPENDED, id="suspended"),
        pytest.param(
            mandate(),
            MandateStatus.ACTIVE,
            {"program_id": "fuel"},
            R.MANDATE_NOT_COVERING,
            id="prog",
        ),
        pytest.param(
            mandate(), MandateStatus.ACTIVE, {"purpose": "audit"}, R.MANDATE_NOT_COVERING, id="purp"
        ),
        pytest.param(
            mandate(valid_until=NOW), MandateStatus.ACTIVE, {}, R.MANDATE_EXPIRED, id="lapsed"
        ),
        pytest.param(
            mandate(valid_from=NOW + DAY, created_at=NOW),
            MandateStatus.ACTIVE,
            {},
            R.MANDATE_NOT_YET_VALID,
            id="early",
        ),
    ],
)
def test_mandate_refusals(
    made: Any, status: MandateStatus, changes: dict[str, Any], reason: R
) -> None:
    use = request(program_id="subsidy", consent_id="", mandate_id="m-1")
    with pytest.raises(ConsentDeniedError) as caught:
        decide_mandate(made, status, dataclasses.replace(use, **changes), NOW)
    assert caught.value.reason is reason


def refusal(given_state: ConsentState, use: UseRequest, now: dt.datetime) -> R | None:
    """The reason ``use`` is refused, or None when it is allowed."""
    try:
        decide_consent(given_state, use, now)
    except ConsentDeniedError as denied:
        return denied.reason
    return None


# --- properties ------------------------------------------------------------------------------

_AGENCIES = st.sampled_from(["tax", "civil_registry", "welfare"])
_ATTRIBUTES = st.sampled_from(["annual_income", "household_size", "assets", "business_license"])
_REFS = st.builds(AttributeRef, _AGENCIES, _ATTRIBUTES)
_REF_SETS = st.frozensets(_REFS, max_size=5)


@given(scope_values=_REF_SETS, scope_tests=_REF_SETS, asked=_REF_SETS, tested=_REF_SETS)
def test_never_allows_an_attribute_outside_the_scope(
    scope_values: frozenset[AttributeRef],
    scope_tests: frozenset[AttributeRef],
    asked: frozenset[AttributeRef],
    tested: frozenset[AttributeRef],
) -> None:
    if not (scope_values or scope_tests) or not (asked or tested):
        return
    agencies = frozenset(ref.agency for ref in scope_values | scope_tests)
    made = artefact(providers=Providers(agencies), scope=Scope(scope_values, scope_tests))
    use = request(attributes=asked, predicates=tested, household=False)
    refused = refusal(ConsentState(made, ConsentStatus.ACTIVE, 0), use, NOW)
    if refused is not None:
        assert refused in (R.OUT_OF_SCOPE, R.PROVIDER_NOT_COVERED)
        return
    assert asked <= scope_values
    assert tested <= scope_values | scope_tests
    assert {ref.agency for ref in asked | tested} <= agencies


@given(
    max_uses=st.integers(1, 6),
    period_days=st.integers(1, 40),
    offsets=st.lists(st.integers(0, 80 * 24), max_size=20),
)
def test_never_more_uses_than_the_frequency_within_a_period(
    max_uses: int, period_days: int, offsets: list[int]
) -> None:
    """Replaying uses in time order, no window of one period ever holds more than allowed."""
    made = artefact(frequency=Frequency(max_uses, period_days * DAY))
    allowed: list[dt.datetime] = []
    for hours in sorted(offsets):
        now = NOW + dt.timedelta(hours=hours)
        if now >= made.validity.valid_until:
            break
        refused = refusal(
            ConsentState(made, ConsentStatus.ACTIVE, len(allowed), tuple(allowed)), request(), now
        )
        assert refused in (None, R.FREQUENCY_EXCEEDED)
        if refused is None:
            allowed.append(now)
    for at in allowed:
        in_window = [t for t in allowed if at - made.frequency.period < t <= at]  # type: ignore[union-attr]
        assert len(in_window) <= max_uses
