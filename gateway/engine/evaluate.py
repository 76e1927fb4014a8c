"""Deciding one unit from the agencies' answers: facts, rules, then the decision.

The semantics protect families, so they are exact:

1. the civil registry did not answer -> UNDETERMINED (SOURCE_FAILED), every rule UNKNOWN;
2. the subject is unknown to it -> UNDETERMINED (SUBJECT_NOT_FOUND), every rule UNKNOWN;
3. the subject is deceased -> INELIGIBLE (SUBJECT_DECEASED), no rule evaluated;
4. a rule whose facts need an agency that failed (TIMEOUT, UNAVAILABLE, ERROR) is UNKNOWN
   (SOURCE_FAILED, naming the agencies); one whose facts meet an absent value with no
   ``absent:`` default is UNKNOWN (NO_RECORD, naming agency.attribute); one whose CEL fails
   at run time or yields a non-boolean is UNKNOWN (RULE_ERROR);
5. any UNKNOWN rule -> UNDETERMINED, even if another rule failed on complete data (never a
   guess either way); otherwise any FAIL -> INELIGIBLE; otherwise ELIGIBLE.

Each rule's CEL runs at most once per unit, and only with complete facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cel

from adapters.sdk import Predicate, Value
from gateway.engine.aggregate import Column, FactValue
from gateway.engine.catalogue import ALIVE, HOUSEHOLD_MEMBERS, IDENTITY_AGENCY
from gateway.engine.errors import InconsistentFactsError
from gateway.engine.outcome import (
    Decision,
    Evaluation,
    ReasonCode,
    RuleOutcome,
    RuleResult,
    SourceOutcome,
    SourceStatus,
)
from gateway.engine.planner import CellSource, FactPlan, Plan, RulePlan
from gateway.programs.model import HOUSEHOLD_SIZE, LocalizedText, Reason


@dataclass(frozen=True)
class UnitFacts:
    """Everything the agencies said about one unit (a person, or a household).

    ``values`` and ``predicates`` hold one cell per member, aligned with ``members``; None
    means the agency holds no record or no value. A column may be left out only for an
    agency whose status is NOT_FOUND (it knew none of the members). ``sources`` holds every
    agency consulted, the civil registry included.
    """

    subject: str
    members: tuple[str, ...]
    subject_found: bool
    subject_alive: bool | None
    values: Mapping[tuple[str, str], Sequence[Value | None]]
    predicates: Mapping[tuple[str, Predicate], Sequence[bool | None]]
    sources: Mapping[str, SourceOutcome]
    members_known: bool = True
    """False when the civil registry could not list the household of a living subject."""


def evaluate(plan: Plan, unit: UnitFacts) -> Evaluation:
    """Decide ``unit`` under ``plan`` (see the module docstring for the exact semantics).

    Raises:
        InconsistentFactsError: ``unit`` does not match the plan (a column is missing or
            has the wrong length, or the subject is not among the members).
    """
    size = len(unit.members)
    identity = unit.sources.get(IDENTITY_AGENCY)
    if identity is None or identity.status.failed:
        reason = _SOURCE_FAILED.render({"agencies": [IDENTITY_AGENCY]})
        return _unevaluated(plan, Decision.UNDETERMINED, ReasonCode.SOURCE_FAILED, reason, size)
    if not unit.subject_found:
        return _unevaluated(
            plan, Decision.UNDETERMINED, ReasonCode.SUBJECT_NOT_FOUND, _NOT_FOUND.text, size
        )
    if unit.subject_alive is False:
        return _unevaluated(
            plan, Decision.INELIGIBLE, ReasonCode.SUBJECT_DECEASED, _DECEASED.text, size
        )
    if unit.subject_alive is None:
        reason = _NO_RECORD.render({"attributes": [f"{IDENTITY_AGENCY}.{ALIVE}"]})
        return _unevaluated(plan, Decision.UNDETERMINED, ReasonCode.NO_RECORD, reason, size)
    if not unit.members_known:
        # Never decide a household program as a household of one on a missing list.
        reason = _NO_RECORD.render({"attributes": [f"{IDENTITY_AGENCY}.{HOUSEHOLD_MEMBERS}"]})
        return _unevaluated(plan, Decision.UNDETERMINED, ReasonCode.NO_RECORD, reason, size)
    try:
        subject_index = unit.members.index(unit.subject)
    except ValueError:
        raise InconsistentFactsError("the subject is not among the unit's members") from None

    sources = unit.sources
    failed = [
        agency
        for agency in plan.agencies
        if (source := sources.get(agency)) is None or source.status.failed
    ]
    values: dict[str, object] = {HOUSEHOLD_SIZE: size}
    gaps: dict[str, tuple[str, list[str]]] = {}
    for fact_plan in plan.facts:
        name = fact_plan.fact.name
        if failed:
            down = fact_plan.agencies.intersection(failed)
            if down:
                gaps[name] = (ReasonCode.SOURCE_FAILED, sorted(down))
                continue
        value = _fact_value(fact_plan, unit, size, subject_index)
        if isinstance(value, _Absent):
            gaps[name] = (ReasonCode.NO_RECORD, [value.where])
        else:
            values[name] = value

    context = plan.cel_context()
    context.update(values)
    results = tuple(_rule_result(rule, values, gaps, context) for rule in plan.rules)
    return _decide(results, size)


@dataclass(frozen=True)
class _Absent:
    where: str


def _fact_value(
    fact_plan: FactPlan, unit: UnitFacts, size: int, subject_index: int
) -> FactValue | _Absent:
    """The fact's value, or where a needed record was absent with no ``absent:`` default."""
    default = fact_plan.fact.absent
    gaps_matter = not fact_plan.counts_records
    skips_absent = fact_plan.skips_absent
    subject_only = fact_plan.subject_only
    values, predicates = unit.values, unit.predicates
    columns: list[Column] = []
    for source in fact_plan.sources:
        cells: Sequence[Value | None] | None
        if source.pushed_down and source.predicate is not None:
            cells = predicates.get((source.agency_id, source.predicate))
        else:
            cells = values.get(source.value_key)
        if cells is None or len(cells) != size:
            cells = _missing_column(source, unit, size, cells)
        if subject_only:
            cells = cells[subject_index : subject_index + 1]
        local = source.local
        if local is not None:
            apply, operand = local.operator.apply, local.operand
            cells = [None if v is None else apply(v, operand) for v in cells]
        if gaps_matter and None in cells:
            if default is None:
                return _Absent(str(source))
            if not skips_absent:
                cells = [default if v is None else v for v in cells]
        columns.append((source.agency_id, cells))
    return fact_plan.fold(columns)


def _missing_column(
    source: CellSource, unit: UnitFacts, size: int, cells: Sequence[Value | None] | None
) -> Sequence[Value | None]:
    """A NOT_FOUND agency may leave its columns out (all absent); anything else is a bug."""
    if cells is None:
        if unit.sources[source.agency_id].status is SourceStatus.NOT_FOUND:
            return [None] * size
        raise InconsistentFactsError(f"no column for {source} although {source.agency_id} answered")
    raise InconsistentFactsError(f"{source} has {len(cells)} cells for {size} members")


def _rule_result(
    rule_plan: RulePlan,
    values: Mapping[str, object],
    gaps: Mapping[str, tuple[str, list[str]]],
    context: cel.Context,
) -> RuleResult:
    """One rule's result: UNKNOWN on a gap in its facts, else what its CEL says."""
    rule = rule_plan.rule
    if gaps:
        missing = [gaps[name] for name in rule_plan.facts if name in gaps]
        if missing:
            return _unknown_for_gaps(rule.id, missing)
    try:
        verdict = rule.compiled.execute(context)
    except _CEL_RUNTIME_ERRORS as exc:
        return _rule_error(rule.id, type(exc).__name__)
    if verdict is True:
        return rule_plan.on_pass or _rendered(rule.id, RuleOutcome.PASS, rule.on_pass, values)
    if verdict is False:
        return rule_plan.on_fail or _rendered(rule.id, RuleOutcome.FAIL, rule.on_fail, values)
    return _rule_error(rule.id, f"yielded {type(verdict).__name__}, not a boolean")


def _unknown_for_gaps(rule_id: str, missing: list[tuple[str, list[str]]]) -> RuleResult:
    """SOURCE_FAILED when an agency failed (it outranks a missing record), else NO_RECORD."""
    down = sorted({a for code, names in missing if code == ReasonCode.SOURCE_FAILED for a in names})
    if down:
        reason = _SOURCE_FAILED.render({"agencies": down})
        return RuleResult(rule_id, RuleOutcome.UNKNOWN, ReasonCode.SOURCE_FAILED, reason)
    where = sorted({w for _, names in missing for w in names})
    reason = _NO_RECORD.render({"attributes": where})
    return RuleResult(rule_id, RuleOutcome.UNKNOWN, ReasonCode.NO_RECORD, reason)


def _rule_error(rule_id: str, error: str) -> RuleResult:
    reason = _RULE_ERROR.render({"error": error})
    return RuleResult(rule_id, RuleOutcome.UNKNOWN, ReasonCode.RULE_ERROR, reason)


def _rendered(
    rule_id: str, outcome: RuleOutcome, reason: Reason, values: Mapping[str, object]
) -> RuleResult:
    return RuleResult(rule_id, outcome, reason.code, reason.render(values))


def _decide(results: tuple[RuleResult, ...], size: int) -> Evaluation:
    """UNDETERMINED on any UNKNOWN, else INELIGIBLE on any FAIL, else ELIGIBLE."""
    unknown: set[str] = set()
    failing: list[str] = []
    for result in results:
        if result.outcome is RuleOutcome.UNKNOWN:
            unknown.add(result.reason_code)
        elif result.outcome is RuleOutcome.FAIL:
            failing.append(result.reason_code)
    if unknown:
        codes = tuple(code for code in _UNKNOWN_PRECEDENCE if code in unknown)
        return Evaluation(Decision.UNDETERMINED, results, codes, size)
    if failing:
        return Evaluation(Decision.INELIGIBLE, results, tuple(dict.fromkeys(failing)), size)
    passing = tuple(dict.fromkeys([r.reason_code for r in results]))
    return Evaluation(Decision.ELIGIBLE, results, passing, size)


def _unevaluated(
    plan: Plan, decision: Decision, code: str, reason: LocalizedText, size: int
) -> Evaluation:
    """Every rule UNKNOWN for one unit-level reason (the registry failed, no such subject...)."""
    results = tuple(RuleResult(r.rule.id, RuleOutcome.UNKNOWN, code, reason) for r in plan.rules)
    return Evaluation(decision, results, (code,), size)


# What a compiled CEL program raises at run time (division by zero, overflow, a type with no
# overload, a missing map key...): the rule is then UNKNOWN, never a pass or a fail.
_CEL_RUNTIME_ERRORS = (ArithmeticError, TypeError, ValueError, KeyError, IndexError, RuntimeError)

_UNKNOWN_PRECEDENCE = (ReasonCode.SOURCE_FAILED, ReasonCode.NO_RECORD, ReasonCode.RULE_ERROR)

_SOURCE_FAILED = Reason(
    ReasonCode.SOURCE_FAILED,
    LocalizedText(
        "No answer from {agencies}; this cannot be decided until they answer.",
        "پاسخی از {agencies} دریافت نشد؛ تا پاسخ آن‌ها این مورد قابل تصمیم‌گیری نیست.",
    ),
)
_NO_RECORD = Reason(
    ReasonCode.NO_RECORD,
    LocalizedText(
        "No record of {attributes} for a member of the unit; this cannot be decided.",
        "برای یکی از اعضا سابقه‌ای از {attributes} وجود ندارد؛ این مورد قابل تصمیم‌گیری نیست.",
    ),
)
_RULE_ERROR = Reason(
    ReasonCode.RULE_ERROR,
    LocalizedText(
        "The rule could not be evaluated ({error}).",
        "این قاعده قابل ارزیابی نبود ({error}).",
    ),
)
_NOT_FOUND = Reason(
    ReasonCode.SUBJECT_NOT_FOUND,
    LocalizedText(
        "The civil registry has no record of this person.",
        "سازمان ثبت احوال سابقه‌ای از این شخص ندارد.",
    ),
)
_DECEASED = Reason(
    ReasonCode.SUBJECT_DECEASED,
    LocalizedText(
        "The civil registry records this person as deceased.",
        "در سازمان ثبت احوال، این شخص فوت‌شده ثبت شده است.",
    ),
)
