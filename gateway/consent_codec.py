"""ConsentService pb2 messages to and from the consent package's domain objects.

Decoding fills what a grant request leaves empty from the program's consent template and
refuses what no domain object could mean (an unknown enum number, negative days) with an
:class:`~gateway.errors.InvalidRequestError` naming the field; everything else is checked by
the domain classes themselves, whose :class:`~consent.errors.InvalidArtefactError` names the
field too.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import TypeVar

from google.protobuf import duration_pb2, timestamp_pb2
from sakha.v1 import consent_pb2 as pb2

from consent import (
    AttributeRef,
    CollectionMethod,
    ConsentArtefact,
    ConsentStatus,
    ConsentTemplate,
    DataConsumer,
    FetchType,
    Frequency,
    Grantor,
    GuardianRelation,
    HistoryEvent,
    HouseholdCoverage,
    Mandate,
    MandateStatus,
    Providers,
    Scope,
    Validity,
)
from consent.model import check_national_id
from consent.store import ConsentRecord, MandateRecord
from gateway.errors import FieldViolation, InvalidRequestError

MAX_DAYS = 100 * 366
"""Longest validity or data life a request may name; templates allow far less."""

_E = TypeVar("_E", bound=enum.Enum)
_V = TypeVar("_V", bound=int)


def _by_name(domain: type[_E], wire: Mapping[str, _V], prefix: str) -> dict[_E, _V]:
    """Pair each domain member with the wire value named ``<prefix><NAME>``."""
    return {member: wire[f"{prefix}{member.name}"] for member in domain}


PB2_CONSENT_STATUS = _by_name(ConsentStatus, dict(pb2.ConsentStatus.items()), "CONSENT_STATUS_")
PB2_MANDATE_STATUS = _by_name(MandateStatus, dict(pb2.MandateStatus.items()), "MANDATE_STATUS_")
PB2_GUARDIAN_RELATION = _by_name(
    GuardianRelation, dict(pb2.GuardianRelation.items()), "GUARDIAN_RELATION_"
)
PB2_HOUSEHOLD = _by_name(
    HouseholdCoverage, dict(pb2.HouseholdCoverage.items()), "HOUSEHOLD_COVERAGE_"
)
PB2_FETCH_TYPE = _by_name(FetchType, dict(pb2.FetchType.items()), "FETCH_TYPE_")
PB2_COLLECTION_METHOD = _by_name(
    CollectionMethod, dict(pb2.CollectionMethod.items()), "COLLECTION_METHOD_"
)


def _invalid(field: str, description: str, reason: str) -> InvalidRequestError:
    return InvalidRequestError(FieldViolation(field, description, reason))


def _enum(field: str, value: int, table: Mapping[_E, int]) -> _E | None:
    """The domain member sent as ``value``; None for UNSPECIFIED (0)."""
    if value == 0:
        return None
    for member, number in table.items():
        if number == value:
            return member
    raise _invalid(field, f"{value} is not a known value", "UNKNOWN_ENUM_VALUE")


def required(field: str, value: str) -> str:
    """``value`` unless it is empty."""
    if not value:
        raise _invalid(field, "is required", "REQUIRED")
    return value


def _days(field: str, value: int, default: dt.timedelta) -> dt.timedelta:
    if value < 0 or value > MAX_DAYS:
        raise _invalid(field, f"must be 0 (the template's) to {MAX_DAYS} days", "OUT_OF_RANGE")
    return dt.timedelta(days=value) if value else default


def _time(field: str, value: timestamp_pb2.Timestamp) -> dt.datetime:
    try:
        return value.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise _invalid(field, "is not a representable time", "OUT_OF_RANGE") from None


def _duration(field: str, value: duration_pb2.Duration) -> dt.timedelta:
    try:
        return value.ToTimedelta()
    except (ValueError, OverflowError):
        raise _invalid(field, "is not a representable duration", "OUT_OF_RANGE") from None


def _timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _duration_pb(value: dt.timedelta) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return duration


def _grantor(request: pb2.GrantRequest) -> Grantor:
    relation: GuardianRelation | None = _enum(
        "grantor.relation", request.grantor.relation, PB2_GUARDIAN_RELATION
    )
    return Grantor(request.grantor.national_id or request.subject, relation)


def _providers(request: pb2.GrantRequest, template: ConsentTemplate) -> Providers:
    if not request.provider_agencies and not request.provider_categories:
        return template.providers
    return Providers(frozenset(request.provider_agencies), frozenset(request.provider_categories))


def _scope(request: pb2.GrantRequest, template: ConsentTemplate) -> Scope:
    if not request.attributes and not request.predicates:
        return Scope(template.attributes, template.predicates)
    return Scope(
        frozenset(AttributeRef.parse(text) for text in request.attributes),
        frozenset(AttributeRef.parse(text) for text in request.predicates),
    )


def _frequency(
    request: pb2.GrantRequest, fetch_type: FetchType, template: ConsentTemplate
) -> Frequency | None:
    if request.HasField("frequency"):
        period = _duration("frequency.period", request.frequency.period)
        return Frequency(request.frequency.max_uses, period)
    return template.max_frequency if fetch_type is FetchType.PERIODIC else None


def _validity(request: pb2.GrantRequest, template: ConsentTemplate, now: dt.datetime) -> Validity:
    start = _time("valid_from", request.valid_from) if request.HasField("valid_from") else now
    length = _days("validity_days", request.validity_days, template.max_validity)
    try:
        end = start + length
    except OverflowError:
        raise _invalid("validity_days", "ends after the year 9999", "OUT_OF_RANGE") from None
    return Validity(start, end)


def grant_artefact(
    request: pb2.GrantRequest,
    *,
    consent_id: str,
    organisation_id: str,
    template: ConsentTemplate,
    now: dt.datetime,
) -> ConsentArtefact:
    """The artefact ``request`` asks for, with the template's values where it names none.

    Raises:
        InvalidRequestError: an unknown enum value, days out of range, no collection method.
        InvalidArtefactError: the artefact breaks an invariant (the field is named).
    """
    check_national_id("subject", request.subject)  # before the grantor, which defaults to it
    household = _enum("household", request.household, PB2_HOUSEHOLD) or (
        HouseholdCoverage.MEMBERS_AT_CHECK_TIME
        if template.household
        else HouseholdCoverage.SUBJECT_ONLY
    )
    fetch_type = _enum("fetch_type", request.fetch_type, PB2_FETCH_TYPE) or template.fetch_type
    method: CollectionMethod | None = _enum(
        "collection_method", request.collection_method, PB2_COLLECTION_METHOD
    )
    if method is None:
        raise _invalid("collection_method", "is required", "REQUIRED")
    return ConsentArtefact(
        id=consent_id,
        subject=request.subject,
        grantor=_grantor(request),
        consumer=DataConsumer(organisation_id, request.program_id),
        providers=_providers(request, template),
        purpose_code=request.purpose_code,
        purpose_text=request.purpose_text,
        scope=_scope(request, template),
        household=household,
        fetch_type=fetch_type,
        frequency=_frequency(request, fetch_type, template),
        validity=_validity(request, template, now),
        data_life=_days("data_life_days", request.data_life_days, template.max_data_life),
        notice_version=request.notice_version,
        collection_method=method,
        created_at=now,
        supersedes=request.supersedes or None,
    )


def initial_status(request: pb2.GrantRequest) -> ConsentStatus:
    """ACTIVE (the default) or REQUESTED; a superseding consent is always ACTIVE."""
    status = _enum("initial_status", request.initial_status, PB2_CONSENT_STATUS)
    if status not in (None, ConsentStatus.ACTIVE, ConsentStatus.REQUESTED):
        raise _invalid(
            "initial_status", f"a consent starts ACTIVE or REQUESTED, not {status}", "NOT_ALLOWED"
        )
    if status is ConsentStatus.REQUESTED and request.supersedes:
        raise _invalid(
            "initial_status", "a consent that supersedes another starts ACTIVE", "NOT_ALLOWED"
        )
    return status or ConsentStatus.ACTIVE


def mandate(request: pb2.RegisterMandateRequest, *, mandate_id: str, now: dt.datetime) -> Mandate:
    """The mandate ``request`` registers (valid from now unless it says otherwise).

    Raises:
        InvalidRequestError: a time that cannot be represented.
        InvalidArtefactError: the mandate breaks an invariant (the field is named).
    """
    return Mandate(
        id=mandate_id,
        legal_reference=request.legal_reference,
        issuing_authority=request.issuing_authority,
        programs=frozenset(request.programs),
        purposes=frozenset(request.purposes),
        valid_from=_time("valid_from", request.valid_from)
        if request.HasField("valid_from")
        else now,
        valid_until=_time("valid_until", request.valid_until)
        if request.HasField("valid_until")
        else None,
        created_at=now,
    )


def _sorted(values: frozenset[str] | frozenset[AttributeRef]) -> list[str]:
    return sorted(str(value) for value in values)


def artefact_message(artefact: ConsentArtefact) -> pb2.ConsentArtefact:
    """The signed part of a consent as its wire message."""
    message = pb2.ConsentArtefact(
        id=artefact.id,
        subject=artefact.subject,
        grantor=pb2.Grantor(
            national_id=artefact.grantor.national_id,
            relation=PB2_GUARDIAN_RELATION[artefact.grantor.relation]
            if artefact.grantor.relation is not None
            else pb2.GUARDIAN_RELATION_UNSPECIFIED,
        ),
        consumer=pb2.DataConsumer(
            organisation_id=artefact.consumer.organisation_id,
            program_id=artefact.consumer.program_id,
        ),
        provider_agencies=_sorted(artefact.providers.agencies),
        provider_categories=_sorted(artefact.providers.categories),
        purpose_code=artefact.purpose_code,
        purpose_text=artefact.purpose_text,
        attributes=_sorted(artefact.scope.attributes),
        predicates=_sorted(artefact.scope.predicates),
        household=PB2_HOUSEHOLD[artefact.household],
        fetch_type=PB2_FETCH_TYPE[artefact.fetch_type],
        valid_from=_timestamp(artefact.validity.valid_from),
        valid_until=_timestamp(artefact.validity.valid_until),
        data_life=_duration_pb(artefact.data_life),
        notice_version=artefact.notice_version,
        collection_method=PB2_COLLECTION_METHOD[artefact.collection_method],
        created_at=_timestamp(artefact.created_at),
        supersedes=artefact.supersedes or "",
    )
    if artefact.frequency is not None:
        message.frequency.CopyFrom(
            pb2.Frequency(
                max_uses=artefact.frequency.max_uses,
                period=_duration_pb(artefact.frequency.period),
            )
        )
    return message


def consent_message(
    record: ConsentRecord, history: Sequence[HistoryEvent[ConsentStatus]]
) -> pb2.Consent:
    """A stored consent, its status as read and its history, as a wire message."""
    message = pb2.Consent(
        id=record.artefact.id,
        jws=record.jws,
        status=PB2_CONSENT_STATUS[record.status],
        use_count=record.use_count,
        status_changed_at=_timestamp(record.status_changed_at),
        artefact=artefact_message(record.artefact),
        history=[
            pb2.ConsentEvent(
                actor=event.actor,
                at=_timestamp(event.at),
                why=event.why,
                from_status=pb2.CONSENT_STATUS_UNSPECIFIED
                if event.from_status is None
                else PB2_CONSENT_STATUS[event.from_status],
                to_status=PB2_CONSENT_STATUS[event.to_status],
            )
            for event in history
        ],
    )
    if record.last_used_at is not None:
        message.last_used_at.CopyFrom(_timestamp(record.last_used_at))
    return message


def mandate_message(
    record: MandateRecord, history: Sequence[HistoryEvent[MandateStatus]]
) -> pb2.Mandate:
    """A stored mandate, its status and its history, as a wire message."""
    found = record.mandate
    message = pb2.Mandate(
        id=found.id,
        jws=record.jws,
        status=PB2_MANDATE_STATUS[record.status],
        legal_reference=found.legal_reference,
        issuing_authority=found.issuing_authority,
        programs=sorted(found.programs),
        purposes=sorted(found.purposes),
        valid_from=_timestamp(found.valid_from),
        created_at=_timestamp(found.created_at),
        status_changed_at=_timestamp(record.status_changed_at),
        history=[
            pb2.MandateEvent(
                actor=event.actor,
                at=_timestamp(event.at),
                why=event.why,
                from_status=pb2.MANDATE_STATUS_UNSPECIFIED
                if event.from_status is None
                else PB2_MANDATE_STATUS[event.from_status],
                to_status=PB2_MANDATE_STATUS[event.to_status],
            )
            for event in history
        ],
    )
    if found.valid_until is not None:
        message.valid_until.CopyFrom(_timestamp(found.valid_until))
    return message
