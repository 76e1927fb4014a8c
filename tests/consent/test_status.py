"""The consent lifecycle: exactly the transitions the design lists, EXPIRED from the clock."""

from __future__ import annotations

import itertools

import pytest

from consent import ConsentStatus, IllegalTransitionError, effective_status
from consent.status import CONSENT_TRANSITIONS, MANDATE_TRANSITIONS, MandateStatus, check_transition
from tests.consent.conftest import DAY, NOW

S = ConsentStatus
ALLOWED = {
    (S.REQUESTED, S.ACTIVE),
    (S.REQUESTED, S.REFUSED),
    (S.ACTIVE, S.PAUSED),
    (S.ACTIVE, S.REVOKED),
    (S.ACTIVE, S.SUPERSEDED),
    (S.PAUSED, S.ACTIVE),
    (S.PAUSED, S.REVOKED),
    (S.PAUSED, S.SUPERSEDED),
}


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(ConsentStatus, ConsentStatus))
)
def test_only_the_listed_transitions_are_allowed(current: S, target: S) -> None:
    if (current, target) in ALLOWED:
        check_transition(CONSENT_TRANSITIONS, "consent", current, target)
        return
    with pytest.raises(IllegalTransitionError, match=f"consent is {current}: it cannot become"):
        check_transition(CONSENT_TRANSITIONS, "consent", current, target)


def test_nothing_becomes_expired_by_hand() -> None:
    assert all(S.EXPIRED not in targets for targets in CONSENT_TRANSITIONS.values())


def test_a_mandate_is_suspended_and_resumed() -> None:
    check_transition(MANDATE_TRANSITIONS, "m", MandateStatus.ACTIVE, MandateStatus.SUSPENDED)
    check_transition(MANDATE_TRANSITIONS, "m", MandateStatus.SUSPENDED, MandateStatus.ACTIVE)
    with pytest.raises(IllegalTransitionError):
        check_transition(MANDATE_TRANSITIONS, "m", MandateStatus.ACTIVE, MandateStatus.ACTIVE)


@pytest.mark.parametrize(
    ("stored", "expired"),
    [
        (S.REQUESTED, S.EXPIRED),
        (S.ACTIVE, S.EXPIRED),
        (S.PAUSED, S.EXPIRED),
        (S.REVOKED, S.REVOKED),
        (S.REFUSED, S.REFUSED),
        (S.SUPERSEDED, S.SUPERSEDED),
    ],
)
def test_a_live_consent_expires_at_the_end_of_its_window(stored: S, expired: S) -> None:
    assert effective_status(stored, NOW + DAY, NOW) is stored
    assert effective_status(stored, NOW, NOW) is expired
