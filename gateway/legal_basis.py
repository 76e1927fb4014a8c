"""From a program's plan to what its legal basis must cover: consent templates and uses.

A consent for a program may cover at most what the program's plan reads, within the limits
its file declares (:class:`~gateway.programs.model.ConsentLimits`); a check is a use that
names **every** agency and attribute its plan touches, the civil registry's identity lookup
included. Both are derived from the same plan, so a consent granted from the template is
exactly wide enough for the checks it allows.
"""

from __future__ import annotations

from collections.abc import Sequence

from consent import AttributeRef, ConsentTemplate, Providers, UseRequest
from gateway.command import CheckCommand
from gateway.engine.planner import AgencyRequest, Plan
from gateway.programs.errors import ProgramError
from gateway.programs.model import LegalBasisKind, Program, ProgramUnit


class NoConsentTemplateError(ProgramError):
    """The program rests on a mandate: no consent is granted for it."""


def _requests(the_plan: Plan) -> Sequence[AgencyRequest]:
    return (the_plan.identity, *the_plan.requests)


def _read(the_plan: Plan) -> frozenset[AttributeRef]:
    return frozenset(
        AttributeRef(r.agency_id, attribute)
        for r in _requests(the_plan)
        for attribute in r.attributes
    )


def _tested(the_plan: Plan) -> frozenset[AttributeRef]:
    return frozenset(
        AttributeRef(r.agency_id, p.attribute) for r in _requests(the_plan) for p in r.predicates
    )


def consent_template(the_plan: Plan) -> ConsentTemplate:
    """The widest consent ``the_plan``'s program may be granted.

    Raises:
        NoConsentTemplateError: the program rests on a mandate.
    """
    program = the_plan.program
    limits = program.legal_basis.consent
    if limits is None:
        raise NoConsentTemplateError(
            f"program {program.id!r} rests on mandate {program.legal_basis.mandate_id!r}: "
            "checks need no consent, and none is granted for it"
        )
    return ConsentTemplate(
        program_id=program.id,
        purposes=frozenset(program.purposes),
        providers=Providers(agencies=frozenset(r.agency_id for r in _requests(the_plan))),
        attributes=_read(the_plan),
        predicates=_tested(the_plan),
        max_validity=limits.max_validity,
        fetch_type=limits.fetch_type,
        max_frequency=limits.max_frequency,
        max_data_life=limits.max_data_life,
        household=program.unit is ProgramUnit.HOUSEHOLD,
    )


def use_requests(the_plan: Plan, commands: Sequence[CheckCommand]) -> list[UseRequest]:
    """The uses ``commands`` (of ``the_plan``'s program) make: what their basis must cover.

    A mandate program cites its mandate (a consent the caller cites is not needed and not
    used); a consent program cites the caller's ``consent_id`` or, when it gives none, lets
    the store find the subject's live consent for this organisation and program.
    """
    program: Program = the_plan.program
    basis = program.legal_basis
    mandate = basis.mandate_id if basis.kind is LegalBasisKind.MANDATE else ""
    attributes, predicates = _read(the_plan), _tested(the_plan)
    agencies = {r.agency_id: None for r in _requests(the_plan)}
    household = program.unit is ProgramUnit.HOUSEHOLD
    return [
        UseRequest(
            subject=command.subject,
            organisation_id=command.organisation_id,
            program_id=program.id,
            purpose=command.purpose,
            attributes=attributes,
            predicates=predicates,
            agencies=agencies,
            household=household,
            consent_id="" if mandate else command.consent_id,
            mandate_id=mandate,
        )
        for command in commands
    ]
