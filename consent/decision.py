"""The consent decision: may this use go ahead under this consent or mandate? Pure, no I/O.

The store loads the state (:class:`ConsentState`) and records the use; this module only
judges. A use names everything the plan will touch (:class:`UseRequest`); every agency and
attribute must be inside the consent, or the use is refused with the precise
:class:`~consent.errors.DenialReason`. Nothing is allowed by default: a use with no
attribute at all is an invalid request, not an allow.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from consent.errors import ConsentDeniedError, DenialReason
from consent.mandate import Mandate
from consent.model import (
    AttributeRef,
    ConsentArtefact,
    FetchType,
    HouseholdCoverage,
    _set,
    check_identifier,
    check_national_id,
    check_utc,
    invalid,
)
from consent.status import ConsentStatus, MandateStatus, effective_status


class Basis(enum.StrEnum):
    """What a use was allowed under."""

    CONSENT = "consent"
    MANDATE = "mandate"


@dataclass(frozen=True)
class UseRequest:
    """One use as the plan will make it.

    Attributes:
        subject: the national ID the check is about.
        organisation_id: the calling organisation.
        program_id: the program being checked.
        purpose: the purpose code the caller gives.
        attributes: the attribute values that will be fetched.
        predicates: the attributes that will only be tested at the agency.
        agencies: every agency that will be asked, with its category (None if it has none).
        household: True when the household members' data will be read too.
        consent_id: the consent cited ("" when none).
        mandate_id: the mandate cited ("" when none).
    """

    subject: str
    organisation_id: str
    program_id: str
    purpose: str
    attributes: frozenset[AttributeRef]
    predicates: frozenset[AttributeRef] = frozenset()
    agencies: Mapping[str, str | None] = field(default_factory=dict)
    household: bool = False
    consent_id: str = ""
    mandate_id: str = ""

    def __post_init__(self) -> None:
        check_national_id("subject", self.subject)
        check_identifier("organisation_id", self.organisation_id)
        check_identifier("program_id", self.program_id)
        check_identifier("purpose", self.purpose)
        _set(self, "attributes", frozenset(self.attributes))
        _set(self, "predicates", frozenset(self.predicates))
        if not self.attributes and not self.predicates:
            raise invalid("attributes", "a use touches at least one attribute or predicate")
        agencies = dict(self.agencies)
        for ref in self.attributes | self.predicates:
            agencies.setdefault(ref.agency, None)
        _set(self, "agencies", MappingProxyType(agencies))
        if self.consent_id and self.mandate_id:
            raise invalid("mandate_id", "a use cites a consent or a mandate, not both")

    def __hash__(self) -> int:
        """Hash by identity-bearing fields (``agencies`` is a mapping, unhashable itself)."""
        return hash((self.subject, self.consent_id, self.mandate_id, self.attributes))


@dataclass(frozen=True)
class ConsentState:
    """A consent as the store holds it: the artefact, its status and its recent uses.

    ``recent_uses`` holds the times of its uses within one frequency period of now (all of
    them is fine too); ``use_count`` counts every use ever.
    """

    artefact: ConsentArtefact
    status: ConsentStatus
    use_count: int
    recent_uses: tuple[dt.datetime, ...] = ()


@dataclass(frozen=True)
class Allowed:
    """A use that may go ahead, and what it is recorded under."""

    basis: Basis
    reference: str


def _names(refs: frozenset[AttributeRef] | set[str]) -> str:
    return ", ".join(sorted(str(ref) for ref in refs))


_STATUS_DENIALS = {
    ConsentStatus.REQUESTED: DenialReason.PENDING,
    ConsentStatus.PAUSED: DenialReason.PAUSED,
    ConsentStatus.REVOKED: DenialReason.REVOKED,
    ConsentStatus.REFUSED: DenialReason.REFUSED,
    ConsentStatus.SUPERSEDED: DenialReason.SUPERSEDED,
    ConsentStatus.EXPIRED: DenialReason.EXPIRED,
}


def _check_parties(artefact: ConsentArtefact, request: UseRequest) -> None:
    if request.subject != artefact.subject:
        raise ConsentDeniedError(
            DenialReason.WRONG_SUBJECT, f"consent {artefact.id!r} is another person's"
        )
    if request.organisation_id != artefact.consumer.organisation_id:
        raise ConsentDeniedError(
            DenialReason.WRONG_CONSUMER,
            f"consent {artefact.id!r} was given to another organisation, not "
            f"{request.organisation_id!r}",
        )
    if request.program_id != artefact.consumer.program_id:
        raise ConsentDeniedError(
            DenialReason.WRONG_PROGRAM,
            f"consent {artefact.id!r} is for program {artefact.consumer.program_id!r}, not "
            f"{request.program_id!r}",
        )


def _check_time(artefact: ConsentArtefact, status: ConsentStatus, now: dt.datetime) -> None:
    current = effective_status(status, artefact.validity.valid_until, now)
    if current is not ConsentStatus.ACTIVE:
        raise ConsentDeniedError(_STATUS_DENIALS[current], f"consent {artefact.id!r} is {current}")
    if now < artefact.validity.valid_from:
        raise ConsentDeniedError(
            DenialReason.NOT_YET_VALID,
            f"consent {artefact.id!r} is valid from {artefact.validity.valid_from.isoformat()}",
        )


def _check_scope(artefact: ConsentArtefact, request: UseRequest) -> None:
    if request.purpose != artefact.purpose_code:
        raise ConsentDeniedError(
            DenialReason.PURPOSE_NOT_COVERED,
            f"consent {artefact.id!r} covers purpose {artefact.purpose_code!r}, not "
            f"{request.purpose!r}",
        )
    providers = artefact.providers
    outside = {a for a, category in request.agencies.items() if not providers.covers(a, category)}
    if outside:
        raise ConsentDeniedError(
            DenialReason.PROVIDER_NOT_COVERED,
            f"consent {artefact.id!r} does not cover the agencies {_names(outside)}",
        )
    missing = (request.attributes - artefact.scope.attributes) | (
        request.predicates - artefact.scope.testable
    )
    if missing:
        raise ConsentDeniedError(
            DenialReason.OUT_OF_SCOPE,
            f"consent {artefact.id!r} does not cover {_names(missing)}",
        )
    if request.household and artefact.household is not HouseholdCoverage.MEMBERS_AT_CHECK_TIME:
        raise ConsentDeniedError(
            DenialReason.HOUSEHOLD_NOT_COVERED,
            f"consent {artefact.id!r} covers the subject only, not their household",
        )


def _check_uses(state: ConsentState, now: dt.datetime) -> None:
    artefact = state.artefact
    if artefact.fetch_type is FetchType.ONE_TIME:
        if state.use_count > 0:
            raise ConsentDeniedError(
                DenialReason.SPENT, f"one-time consent {artefact.id!r} was used already"
            )
        return
    frequency = artefact.frequency
    assert frequency is not None  # noqa: S101 - a PERIODIC artefact always has one
    since = now - frequency.period
    used = sum(1 for at in state.recent_uses if since < at <= now)
    if used >= frequency.max_uses:
        raise ConsentDeniedError(
            DenialReason.FREQUENCY_EXCEEDED,
            f"consent {artefact.id!r} allows {frequency.max_uses} uses per {frequency.period}; "
            f"{used} were made since {since.isoformat()}",
        )


def decide_consent(state: ConsentState, request: UseRequest, now: dt.datetime) -> Allowed:
    """Allow ``request`` under ``state``'s consent at ``now``, or raise why not.

    Checks, in this order: subject, organisation, program; status and validity window;
    purpose; every agency (providers); every attribute and predicate (scope); household
    coverage; spent (one-time) or frequency (periodic).

    Raises:
        ConsentDeniedError: the first check that fails, with its reason and detail.
    """
    now = check_utc("now", now)
    _check_parties(state.artefact, request)
    _check_time(state.artefact, state.status, now)
    _check_scope(state.artefact, request)
    _check_uses(state, now)
    return Allowed(Basis.CONSENT, state.artefact.id)


def decide_mandate(
    mandate: Mandate, status: MandateStatus, request: UseRequest, now: dt.datetime
) -> Allowed:
    """Allow ``request`` under ``mandate`` at ``now``, or raise why not.

    Raises:
        ConsentDeniedError: MANDATE_SUSPENDED, MANDATE_NOT_YET_VALID, MANDATE_EXPIRED or
            MANDATE_NOT_COVERING (the program or the purpose is not among those it covers).
    """
    now = check_utc("now", now)
    if status is MandateStatus.SUSPENDED:
        raise ConsentDeniedError(
            DenialReason.MANDATE_SUSPENDED, f"mandate {mandate.id!r} is suspended"
        )
    if now < mandate.valid_from:
        raise ConsentDeniedError(
            DenialReason.MANDATE_NOT_YET_VALID,
            f"mandate {mandate.id!r} applies from {mandate.valid_from.isoformat()}",
        )
    if mandate.valid_until is not None and now >= mandate.valid_until:
        raise ConsentDeniedError(
            DenialReason.MANDATE_EXPIRED,
            f"mandate {mandate.id!r} lapsed at {mandate.valid_until.isoformat()}",
        )
    if request.program_id not in mandate.programs:
        raise ConsentDeniedError(
            DenialReason.MANDATE_NOT_COVERING,
            f"mandate {mandate.id!r} does not cover program {request.program_id!r}",
        )
    if request.purpose not in mandate.purposes:
        raise ConsentDeniedError(
            DenialReason.MANDATE_NOT_COVERING,
            f"mandate {mandate.id!r} does not cover purpose {request.purpose!r}",
        )
    return Allowed(Basis.MANDATE, mandate.id)
