"""What a program allows a consent to say, and :func:`fits`, which refuses anything beyond it.

The lead parses a :class:`ConsentTemplate` from each program file; a consent is granted only
when it fits its program's template, so a form cannot ask for more than the program needs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from consent.errors import TemplateViolationError
from consent.model import (
    AttributeRef,
    CollectionMethod,
    ConsentArtefact,
    DataConsumer,
    FetchType,
    Frequency,
    Grantor,
    HouseholdCoverage,
    Providers,
    Scope,
    Validity,
    _set,
    check_duration,
    check_identifier,
    invalid,
)


@dataclass(frozen=True)
class ConsentTemplate:
    """The most a consent for ``program_id`` may allow.

    Attributes:
        program_id: the program the template belongs to.
        purposes: the purpose codes the program may be used for.
        providers: the agencies and categories the program may ask.
        attributes: the attributes whose values the program may read.
        predicates: further attributes the program may only test.
        max_validity: the longest validity window.
        fetch_type: PERIODIC allows ONE_TIME consents too; ONE_TIME allows only those.
        max_frequency: for PERIODIC, the most uses in any window of its period.
        max_data_life: the longest the consumer may keep a result.
        household: whether a consent may cover the subject's household.
    """

    program_id: str
    purposes: frozenset[str]
    providers: Providers
    attributes: frozenset[AttributeRef]
    predicates: frozenset[AttributeRef]
    max_validity: dt.timedelta
    fetch_type: FetchType
    max_frequency: Frequency | None
    max_data_life: dt.timedelta
    household: bool = True

    def __post_init__(self) -> None:
        check_identifier("program_id", self.program_id)
        _set(self, "purposes", frozenset(self.purposes))
        if not self.purposes:
            raise invalid("purposes", "a template allows at least one purpose")
        for purpose in self.purposes:
            check_identifier("purposes", purpose)
        _set(self, "attributes", frozenset(self.attributes))
        _set(self, "predicates", frozenset(self.predicates))
        if not self.attributes and not self.predicates:
            raise invalid("attributes", "a template allows at least one attribute or predicate")
        check_duration("max_validity", self.max_validity)
        check_duration("max_data_life", self.max_data_life)
        if self.fetch_type is FetchType.PERIODIC and self.max_frequency is None:
            raise invalid("max_frequency", "a PERIODIC template needs a frequency limit")
        if self.fetch_type is FetchType.ONE_TIME and self.max_frequency is not None:
            raise invalid("max_frequency", "a ONE_TIME template has no frequency")


def most_uses_in(frequency: Frequency, window: dt.timedelta) -> int:
    """The most uses ``frequency`` allows in any window of length ``window``.

    A window of length W meets at most ceil(W / P) consecutive periods of length P, each
    allowing ``max_uses``; so 4 per 30 days allows 4 in any week, and 1 per day 7.
    """
    return frequency.max_uses * math.ceil(window / frequency.period)


def _names(values: frozenset[AttributeRef] | frozenset[str]) -> str:
    return ", ".join(sorted(str(value) for value in values))


def _check_frequency(artefact: ConsentArtefact, template: ConsentTemplate) -> None:
    if template.fetch_type is FetchType.ONE_TIME and artefact.fetch_type is FetchType.PERIODIC:
        raise TemplateViolationError(
            "fetch_type", f"program {template.program_id!r} allows ONE_TIME consents only"
        )
    if artefact.frequency is None or template.max_frequency is None:
        return
    limit = template.max_frequency
    allowed = most_uses_in(artefact.frequency, limit.period)
    if allowed > limit.max_uses:
        raise TemplateViolationError(
            "frequency",
            f"{artefact.frequency.max_uses} per {artefact.frequency.period} allows {allowed} uses"
            f" in {limit.period}; the program allows at most {limit.max_uses}",
        )


def fits(artefact: ConsentArtefact, template: ConsentTemplate) -> None:
    """Raise :class:`TemplateViolationError` when ``artefact`` goes beyond ``template``.

    Checks, in this order: the program, the purpose, the providers, the attributes and
    predicates, the household coverage, the validity, the fetch type and frequency, and
    the data life. The error names the field and what exactly is outside.
    """
    if artefact.consumer.program_id != template.program_id:
        raise TemplateViolationError(
            "consumer.program_id",
            f"the consent is for {artefact.consumer.program_id!r}; the template for "
            f"{template.program_id!r}",
        )
    if artefact.purpose_code not in template.purposes:
        raise TemplateViolationError(
            "purpose_code",
            f"{artefact.purpose_code!r} is not a purpose of program {template.program_id!r} "
            f"(allowed: {_names(template.purposes)})",
        )
    # An agency the template does not name is outside it even when the template allows a
    # category: the artefact alone does not say which category an agency belongs to.
    outside_agencies = artefact.providers.agencies - template.providers.agencies
    outside_categories = artefact.providers.categories - template.providers.categories
    if outside_agencies or outside_categories:
        raise TemplateViolationError(
            "providers",
            f"outside the template: {_names(outside_agencies | outside_categories)}",
        )
    outside = artefact.scope.attributes - template.attributes
    if outside:
        raise TemplateViolationError(
            "scope.attributes", f"the program may not read: {_names(outside)}"
        )
    outside = artefact.scope.predicates - (template.attributes | template.predicates)
    if outside:
        raise TemplateViolationError(
            "scope.predicates", f"the program may not test: {_names(outside)}"
        )
    if artefact.household is HouseholdCoverage.MEMBERS_AT_CHECK_TIME and not template.household:
        raise TemplateViolationError(
            "household", f"program {template.program_id!r} covers the subject only"
        )
    if artefact.validity.duration > template.max_validity:
        raise TemplateViolationError(
            "validity",
            f"valid for {artefact.validity.duration}; the program allows at most "
            f"{template.max_validity}",
        )
    _check_frequency(artefact, template)
    if artefact.data_life > template.max_data_life:
        raise TemplateViolationError(
            "data_life",
            f"kept for {artefact.data_life}; the program allows at most {template.max_data_life}",
        )


def widest_artefact(
    template: ConsentTemplate,
    *,
    id: str,
    subject: str,
    grantor: Grantor,
    organisation_id: str,
    purpose_code: str,
    purpose_text: str,
    notice_version: str,
    collection_method: CollectionMethod,
    valid_from: dt.datetime,
    created_at: dt.datetime,
) -> ConsentArtefact:
    """The consent that allows everything ``template`` does, for as long as it allows.

    What a consent form for the program asks by default: every agency and attribute the
    program reads, its household, its fetch type and frequency, its longest validity and
    data life. A narrower consent is refused at check time whenever the plan needs more.
    """
    return ConsentArtefact(
        id=id,
        subject=subject,
        grantor=grantor,
        consumer=DataConsumer(organisation_id, template.program_id),
        providers=template.providers,
        purpose_code=purpose_code,
        purpose_text=purpose_text,
        scope=Scope(template.attributes, template.predicates),
        household=HouseholdCoverage.MEMBERS_AT_CHECK_TIME
        if template.household
        else HouseholdCoverage.SUBJECT_ONLY,
        fetch_type=template.fetch_type,
        frequency=template.max_frequency,
        validity=Validity(valid_from, valid_from + template.max_validity),
        data_life=template.max_data_life,
        notice_version=notice_version,
        collection_method=collection_method,
        created_at=created_at,
    )
