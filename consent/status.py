"""Consent and mandate status, the transitions allowed between them, and history events.

Status lives outside the signed artefact. EXPIRED is never stored: it is read from the clock
(:func:`effective_status`), so no job has to run for a consent to stop working.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from consent.errors import IllegalTransitionError
from consent.model import check_text, check_utc

S = TypeVar("S", bound=enum.StrEnum)


class ConsentStatus(enum.StrEnum):
    """Where a consent is in its life."""

    REQUESTED = "REQUESTED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    REFUSED = "REFUSED"
    SUPERSEDED = "SUPERSEDED"


class MandateStatus(enum.StrEnum):
    """Whether a mandate may be cited."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


CONSENT_TRANSITIONS: Mapping[ConsentStatus, frozenset[ConsentStatus]] = {
    ConsentStatus.REQUESTED: frozenset({ConsentStatus.ACTIVE, ConsentStatus.REFUSED}),
    ConsentStatus.ACTIVE: frozenset(
        {ConsentStatus.PAUSED, ConsentStatus.REVOKED, ConsentStatus.SUPERSEDED}
    ),
    ConsentStatus.PAUSED: frozenset(
        {ConsentStatus.ACTIVE, ConsentStatus.REVOKED, ConsentStatus.SUPERSEDED}
    ),
    ConsentStatus.REVOKED: frozenset(),
    ConsentStatus.EXPIRED: frozenset(),
    ConsentStatus.REFUSED: frozenset(),
    ConsentStatus.SUPERSEDED: frozenset(),
}
"""The changes a person or operator may make; EXPIRED comes from time alone."""

MANDATE_TRANSITIONS: Mapping[MandateStatus, frozenset[MandateStatus]] = {
    MandateStatus.ACTIVE: frozenset({MandateStatus.SUSPENDED}),
    MandateStatus.SUSPENDED: frozenset({MandateStatus.ACTIVE}),
}
"""A mandate is suspended and resumed; it is never deleted."""


def check_transition(allowed: Mapping[S, frozenset[S]], what: str, current: S, target: S) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current`` may become ``target``."""
    if target not in allowed[current]:
        can = ", ".join(sorted(allowed[current])) or "nothing (it is final)"
        raise IllegalTransitionError(
            f"{what} is {current}: it cannot become {target} (it can become {can})"
        )


def effective_status(
    stored: ConsentStatus, valid_until: dt.datetime, now: dt.datetime
) -> ConsentStatus:
    """The status as of ``now``: a live consent past its window reads EXPIRED."""
    live = stored in (ConsentStatus.REQUESTED, ConsentStatus.ACTIVE, ConsentStatus.PAUSED)
    return ConsentStatus.EXPIRED if live and now >= valid_until else stored


@dataclass(frozen=True)
class HistoryEvent(Generic[S]):
    """One status change: who made it, when, why, from what (None at creation) to what."""

    actor: str
    at: dt.datetime
    why: str
    from_status: S | None
    to_status: S

    def __post_init__(self) -> None:
        check_text("actor", self.actor)
        check_text("why", self.why)
        object.__setattr__(self, "at", check_utc("at", self.at))
