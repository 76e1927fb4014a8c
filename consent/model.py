"""The consent artefact and its parts, after India's Account Aggregator consent artefact.

Field names follow the ISO/IEC TS 27560 consent-record vocabulary where it has one (subject,
grantor, purpose, notice version, collection method) and the Account Aggregator artefact
where it is more precise (data consumer, providers, fetch type, frequency, data life). Every
class is a frozen dataclass that checks its invariants on construction and raises
:class:`~consent.errors.InvalidArtefactError` naming the field; an artefact that exists is
well-formed. Status is not part of the artefact: see :mod:`consent.status`.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from dataclasses import dataclass, field

from adapters.national_id import national_id_defect
from consent.errors import InvalidArtefactError

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
"""Agency, attribute, category, organisation and program ids: lower-case identifiers."""

ARTEFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
"""Consent and mandate ids: up to 64 URL-safe characters."""

MAX_TEXT = 1000
"""Longest free text (purpose text, legal reference) an artefact may carry."""

_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")


class FetchType(enum.StrEnum):
    """How often the consent may be used: once, or up to a frequency per period."""

    ONE_TIME = "ONE_TIME"
    PERIODIC = "PERIODIC"


class HouseholdCoverage(enum.StrEnum):
    """Whose data the consent covers besides the subject.

    ``members_at_check_time`` covers the household members the civil registry lists when the
    check runs (a baby born later is covered, a member who left is not); ``subject_only``
    covers the subject alone, so a household rule cannot be evaluated under it.
    """

    MEMBERS_AT_CHECK_TIME = "members_at_check_time"
    SUBJECT_ONLY = "subject_only"


class CollectionMethod(enum.StrEnum):
    """How the consent was collected (ISO/IEC TS 27560 "consent collection method")."""

    PAPER_FORM = "PAPER_FORM"
    IN_PERSON = "IN_PERSON"
    SMS_CODE = "SMS_CODE"
    WEB = "WEB"
    MOBILE_APP = "MOBILE_APP"
    PHONE_CALL = "PHONE_CALL"


class GuardianRelation(enum.StrEnum):
    """Why a grantor other than the subject may consent for them."""

    PARENT = "PARENT"
    LEGAL_GUARDIAN = "LEGAL_GUARDIAN"
    COURT_APPOINTED = "COURT_APPOINTED"


def invalid(field_name: str, message: str) -> InvalidArtefactError:
    """An :class:`InvalidArtefactError` reading ``<field>: <message>``."""
    return InvalidArtefactError(f"{field_name}: {message}")


def check_identifier(field_name: str, value: object) -> str:
    """``value`` if it is a lower-case identifier, else an error naming ``field_name``."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise invalid(field_name, f"{value!r} is not an identifier ([a-z][a-z0-9_]*)")
    return value


def check_artefact_id(field_name: str, value: object) -> str:
    """``value`` if it is a valid consent or mandate id."""
    if not isinstance(value, str) or not ARTEFACT_ID.fullmatch(value):
        raise invalid(field_name, f"{value!r} is not an id (1-64 of A-Z a-z 0-9 . _ : -)")
    return value


def check_text(field_name: str, value: object) -> str:
    """``value`` if it is non-empty printable text of at most :data:`MAX_TEXT` characters."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_TEXT
        or not _PRINTABLE.fullmatch(value)
    ):
        raise invalid(field_name, f"must be printable text of 1 to {MAX_TEXT} characters")
    return value


def check_national_id(field_name: str, value: object) -> str:
    """``value`` if it is a valid national ID (check digit included)."""
    defect = national_id_defect(value) if isinstance(value, str) else None
    if not isinstance(value, str) or defect is not None:
        code = defect.value if defect is not None else "NATIONAL_ID_NOT_TEXT"
        raise invalid(field_name, f"not a valid national ID ({code})")
    return value


def check_utc(field_name: str, value: object) -> dt.datetime:
    """``value`` as a UTC datetime; a naive one or one at another offset is refused."""
    if not isinstance(value, dt.datetime) or value.utcoffset() != dt.timedelta(0):
        raise invalid(field_name, "must be a timezone-aware UTC datetime")
    return value.astimezone(dt.UTC)


def check_duration(field_name: str, value: object) -> dt.timedelta:
    """``value`` if it is a positive whole number of seconds."""
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0) or value.microseconds:
        raise invalid(field_name, "must be a positive whole number of seconds")
    return value


def _set(instance: object, name: str, value: object) -> None:
    object.__setattr__(instance, name, value)


@dataclass(frozen=True, order=True)
class AttributeRef:
    """One attribute of one agency, written ``agency.attribute``."""

    agency: str
    attribute: str

    def __post_init__(self) -> None:
        check_identifier("agency", self.agency)
        check_identifier("attribute", self.attribute)

    @classmethod
    def parse(cls, text: str) -> AttributeRef:
        """``"tax.annual_income"`` as a reference; anything else is an InvalidArtefactError."""
        if not isinstance(text, str):
            raise invalid("attribute", f"{text!r} is not written agency.attribute")
        return _parsed_ref(text)

    def __str__(self) -> str:
        return f"{self.agency}.{self.attribute}"


@functools.lru_cache(maxsize=4096)
def _parsed_ref(text: str) -> AttributeRef:
    """:meth:`AttributeRef.parse` of a string, remembered: every consent to a program names
    the same references (a third of the cost of reading an artefact)."""
    agency, dot, attribute = text.partition(".")
    if not dot:
        raise invalid("attribute", f"{text!r} is not written agency.attribute")
    return AttributeRef(agency, attribute)


def refs(*texts: str) -> frozenset[AttributeRef]:
    """``refs("tax.annual_income", …)``: attribute references from their text."""
    return frozenset(AttributeRef.parse(text) for text in texts)


@dataclass(frozen=True)
class Frequency:
    """At most ``max_uses`` uses in any window of ``period`` (AA "Frequency")."""

    max_uses: int
    period: dt.timedelta

    def __post_init__(self) -> None:
        if isinstance(self.max_uses, bool) or not isinstance(self.max_uses, int):
            raise invalid("frequency.max_uses", "must be an integer")
        if self.max_uses < 1:
            raise invalid("frequency.max_uses", "must be at least 1")
        check_duration("frequency.period", self.period)


@dataclass(frozen=True)
class Grantor:
    """Who gave the consent: the subject, or a guardian with the relation recorded."""

    national_id: str
    relation: GuardianRelation | None = None

    def __post_init__(self) -> None:
        check_national_id("grantor.national_id", self.national_id)
        if self.relation is not None and not isinstance(self.relation, GuardianRelation):
            raise invalid("grantor.relation", f"{self.relation!r} is not a guardian relation")


@dataclass(frozen=True)
class DataConsumer:
    """Who may use the consent: an organisation, for one program (AA "DataConsumer")."""

    organisation_id: str
    program_id: str

    def __post_init__(self) -> None:
        check_identifier("consumer.organisation_id", self.organisation_id)
        check_identifier("consumer.program_id", self.program_id)


@dataclass(frozen=True)
class Providers:
    """Which agencies may be asked: named agencies and/or whole agency categories."""

    agencies: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _set(self, "agencies", frozenset(self.agencies))
        _set(self, "categories", frozenset(self.categories))
        for agency in self.agencies:
            check_identifier("providers.agencies", agency)
        for category in self.categories:
            check_identifier("providers.categories", category)
        if not self.agencies and not self.categories:
            raise invalid("providers", "name at least one agency or agency category")

    def covers(self, agency: str, category: str | None) -> bool:
        """True when ``agency`` (of ``category``, if known) may be asked."""
        return agency in self.agencies or (category is not None and category in self.categories)


@dataclass(frozen=True)
class Scope:
    """What may be read: attribute values, and attributes that may only be tested.

    ``attributes`` may be fetched as values; ``predicates`` may only be evaluated at the
    agency (the hub learns true/false, never the value). An attribute in ``attributes``
    may also be tested.
    """

    attributes: frozenset[AttributeRef] = frozenset()
    predicates: frozenset[AttributeRef] = frozenset()

    def __post_init__(self) -> None:
        _set(self, "attributes", frozenset(self.attributes))
        _set(self, "predicates", frozenset(self.predicates))
        for ref in self.attributes | self.predicates:
            if not isinstance(ref, AttributeRef):
                raise invalid("scope", f"{ref!r} is not an AttributeRef")
        if not self.attributes and not self.predicates:
            raise invalid("scope", "name at least one attribute or predicate")

    @property
    def testable(self) -> frozenset[AttributeRef]:
        """Every attribute a predicate may be evaluated on."""
        return self.attributes | self.predicates

    @property
    def agencies(self) -> frozenset[str]:
        """The agencies the scope names."""
        return frozenset(ref.agency for ref in self.testable)


@dataclass(frozen=True)
class Validity:
    """The window ``[valid_from, valid_until)`` in which a consent may be used, in UTC."""

    valid_from: dt.datetime
    valid_until: dt.datetime

    def __post_init__(self) -> None:
        _set(self, "valid_from", check_utc("validity.valid_from", self.valid_from))
        _set(self, "valid_until", check_utc("validity.valid_until", self.valid_until))
        if self.valid_until <= self.valid_from:
            raise invalid("validity", "valid_until must be later than valid_from")

    @property
    def duration(self) -> dt.timedelta:
        """How long the window is."""
        return self.valid_until - self.valid_from


@dataclass(frozen=True)
class ConsentArtefact:
    """The immutable, signed part of a consent.

    Attributes:
        id: the artefact's id.
        subject: the national ID of the person the data is about.
        grantor: who consented: the subject (relation None) or a guardian (relation set).
        consumer: the organisation and program that may use it.
        providers: the agencies (or categories) that may be asked.
        purpose_code: the purpose, as the program names it.
        purpose_text: the purpose as the subject was told it.
        scope: the attributes and predicates that may be read.
        household: whether the subject's household members are covered.
        fetch_type: ONE_TIME (spent by its first use) or PERIODIC.
        frequency: for PERIODIC, the most uses in any window; None for ONE_TIME.
        validity: when it may be used.
        data_life: how long the consumer may keep what a use returned.
        notice_version: the version of the notice the subject was shown.
        collection_method: how the consent was collected.
        created_at: when the artefact was made.
        supersedes: the id of the artefact this one replaces, or None.
    """

    id: str
    subject: str
    grantor: Grantor
    consumer: DataConsumer
    providers: Providers
    purpose_code: str
    purpose_text: str
    scope: Scope
    household: HouseholdCoverage
    fetch_type: FetchType
    frequency: Frequency | None
    validity: Validity
    data_life: dt.timedelta
    notice_version: str
    collection_method: CollectionMethod
    created_at: dt.datetime
    supersedes: str | None = field(default=None)

    def __post_init__(self) -> None:
        check_artefact_id("id", self.id)
        check_national_id("subject", self.subject)
        if not isinstance(self.grantor, Grantor):
            raise invalid("grantor", "must be a Grantor")
        if self.grantor.national_id == self.subject:
            if self.grantor.relation is not None:
                raise invalid("grantor.relation", "the subject consenting has no relation")
        elif self.grantor.relation is None:
            raise invalid(
                "grantor.relation",
                "a grantor other than the subject is a guardian: record the relation",
            )
        check_identifier("purpose_code", self.purpose_code)
        check_text("purpose_text", self.purpose_text)
        check_text("notice_version", self.notice_version)
        for name, kind in (
            ("consumer", DataConsumer),
            ("providers", Providers),
            ("scope", Scope),
            ("validity", Validity),
            ("household", HouseholdCoverage),
            ("fetch_type", FetchType),
            ("collection_method", CollectionMethod),
        ):
            if not isinstance(getattr(self, name), kind):
                raise invalid(name, f"must be a {kind.__name__}")
        if self.fetch_type is FetchType.PERIODIC and not isinstance(self.frequency, Frequency):
            raise invalid("frequency", "a PERIODIC consent needs a frequency")
        if self.fetch_type is FetchType.ONE_TIME and self.frequency is not None:
            raise invalid("frequency", "a ONE_TIME consent has no frequency")
        check_duration("data_life", self.data_life)
        _set(self, "created_at", check_utc("created_at", self.created_at))
        if self.supersedes is not None:
            check_artefact_id("supersedes", self.supersedes)
            if self.supersedes == self.id:
                raise invalid("supersedes", "an artefact cannot supersede itself")
        if not self.providers.categories:
            outside = sorted(self.scope.agencies - self.providers.agencies)
            if outside:
                raise invalid(
                    "scope", f"names agencies the providers do not list: {', '.join(outside)}"
                )

    @property
    def guardian(self) -> bool:
        """True when a guardian consented for the subject."""
        return self.grantor.relation is not None
