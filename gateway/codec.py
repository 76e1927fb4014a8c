"""Encoders from the hub's domain objects to EligibilityService pb2 messages.

The one place wire types meet the engine: programs, plans and decisions stay domain objects
everywhere else.
"""

from __future__ import annotations

from opentelemetry.trace import SpanContext
from sakha.v1 import eligibility_pb2 as pb2

from gateway.auth.tokens import Caller
from gateway.checking import CheckOutcome
from gateway.command import CheckCommand, new_request_id
from gateway.engine.outcome import Decision, RuleOutcome, SourceStatus
from gateway.engine.planner import Plan
from gateway.programs.model import LocalizedText, NeedCategory, Program, ProgramUnit

PB2_DECISION = {
    Decision.ELIGIBLE: pb2.DECISION_ELIGIBLE,
    Decision.INELIGIBLE: pb2.DECISION_INELIGIBLE,
    Decision.UNDETERMINED: pb2.DECISION_UNDETERMINED,
}
PB2_RULE_OUTCOME = {
    RuleOutcome.PASS: pb2.RULE_OUTCOME_PASS,
    RuleOutcome.FAIL: pb2.RULE_OUTCOME_FAIL,
    RuleOutcome.UNKNOWN: pb2.RULE_OUTCOME_UNKNOWN,
}
PB2_SOURCE_STATUS = {
    SourceStatus.OK: pb2.SOURCE_STATUS_OK,
    SourceStatus.NOT_FOUND: pb2.SOURCE_STATUS_NOT_FOUND,
    SourceStatus.TIMEOUT: pb2.SOURCE_STATUS_TIMEOUT,
    SourceStatus.UNAVAILABLE: pb2.SOURCE_STATUS_UNAVAILABLE,
    SourceStatus.ERROR: pb2.SOURCE_STATUS_ERROR,
}
PB2_NEED_CATEGORY = {
    NeedCategory.FINANCIAL: pb2.NEED_CATEGORY_FINANCIAL,
    NeedCategory.MEDICAL: pb2.NEED_CATEGORY_MEDICAL,
    NeedCategory.SOCIAL_WORK: pb2.NEED_CATEGORY_SOCIAL_WORK,
    NeedCategory.EMOTIONAL: pb2.NEED_CATEGORY_EMOTIONAL,
}
PB2_UNIT = {
    ProgramUnit.PERSON: pb2.PROGRAM_UNIT_PERSON,
    ProgramUnit.HOUSEHOLD: pb2.PROGRAM_UNIT_HOUSEHOLD,
}


def localized(text: LocalizedText) -> pb2.LocalizedText:
    """A LocalizedText message."""
    return pb2.LocalizedText(en=text.en, fa=text.fa)


def check_command(
    request: pb2.CheckRequest,
    *,
    caller: Caller | None,
    deadline: float | None,
    trace_id: str,
    rpc: str,
    span: SpanContext | None = None,
) -> CheckCommand:
    """The command for one decoded request (a request id is generated if it has none)."""
    return CheckCommand(
        subject=request.national_id,
        program_id=request.program_id,
        purpose=request.purpose,
        request_id=request.request_id or new_request_id(),
        caller=caller,
        consent_id=request.consent_id,
        deadline=deadline,
        trace_id=trace_id,
        rpc=rpc,
        span=span,
    )


def check_result(outcome: CheckOutcome) -> pb2.CheckResult:
    """The reply for one decided check."""
    evaluation = outcome.evaluation
    return pb2.CheckResult(
        request_id=outcome.command.request_id,
        decision=PB2_DECISION[evaluation.decision],
        program_id=outcome.program.id,
        program_version=outcome.program.version,
        ruleset_digest=outcome.program.ruleset_digest,
        rules=[
            pb2.RuleResult(
                rule_id=r.rule_id,
                outcome=PB2_RULE_OUTCOME[r.outcome],
                reason_code=r.reason_code,
                reason=localized(r.reason),
            )
            for r in evaluation.rules
        ],
        sources=[
            pb2.SourceReport(
                agency_id=s.agency_id,
                status=PB2_SOURCE_STATUS[s.status],
                latency_ms=s.latency_ms,
                detail=s.detail,
            )
            for s in outcome.sources
        ],
        reason_codes=evaluation.reason_codes,
        household_size=evaluation.household_size,
        as_of=outcome.as_of.isoformat(),
        legal_basis=None
        if outcome.basis is None
        else pb2.LegalBasisUsed(kind=str(outcome.basis.basis), reference=outcome.basis.reference),
        audit_index=outcome.audit_index,
    )


def program_summary(program: Program) -> pb2.ProgramSummary:
    """A program's identity and kind."""
    return pb2.ProgramSummary(
        program_id=program.id,
        version=program.version,
        title=localized(program.title),
        need_category=PB2_NEED_CATEGORY[program.need_category],
        unit=PB2_UNIT[program.unit],
    )


def program_description(plan: Plan) -> pb2.ProgramDescription:
    """A program in full, with the parameters in force and the attributes its plan reads."""
    program = plan.program
    units = {p.name: p.unit for p in program.parameters}
    effective = {
        p.name: max(v.effective_from for v in p.values if v.effective_from <= plan.as_of)
        for p in program.parameters
    }
    attributes = [f"{plan.identity.agency_id}.{a}" for a in plan.identity.attributes]
    for request in plan.requests:
        attributes += [f"{request.agency_id}.{a}" for a in request.attributes]
        attributes += [f"{request.agency_id}.{p.attribute}" for p in request.predicates]
    return pb2.ProgramDescription(
        summary=program_summary(program),
        description=localized(program.description),
        legal_basis=program.legal_basis.summary(),
        purposes=program.purposes,
        rules=[
            pb2.RuleDescription(
                rule_id=r.id, expression=r.expression, description=localized(r.description)
            )
            for r in program.rules
        ],
        parameters=[
            pb2.ParameterValue(
                name=name,
                value=value,
                unit=units[name],
                effective_from=effective[name].isoformat(),
            )
            for name, value in sorted(plan.parameters.items())
        ],
        attributes=sorted(set(attributes)),
        ruleset_digest=program.ruleset_digest,
    )
