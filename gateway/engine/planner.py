"""Planning a program's lookups: which agency is asked for what, and how facts are built.

``plan(program, catalogue, as_of)`` is pure and deterministic, so callers cache it per
(program, as_of). It asks only for what the rules need: a fact no rule (or reason text)
references is never fetched. A predicate fact is sent to the agency as a predicate (only a
boolean leaves it) when the agency evaluates that operator on that attribute; otherwise the
value is fetched and the evaluator compares it here. Everything the evaluator can work out
once per plan is worked out here, so evaluating a unit stays cheap.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import cel

from adapters.sdk import Predicate
from gateway.engine.aggregate import Folder, absent_is_neutral, folder
from gateway.engine.catalogue import ALIVE, HOUSEHOLD_MEMBERS, IDENTITY_AGENCY, Catalogue
from gateway.engine.outcome import RuleOutcome, RuleResult
from gateway.programs.model import (
    PARAMS,
    Aggregate,
    Fact,
    FactScope,
    Program,
    ProgramUnit,
    Reason,
    Rule,
)


@dataclass(frozen=True)
class AgencyRequest:
    """What one agency is asked, about every subject of a phase."""

    agency_id: str
    attributes: tuple[str, ...] = ()
    """Plain attribute names, as the agency serves them (sorted)."""
    predicates: tuple[Predicate, ...] = ()
    """Predicates the agency evaluates itself, operands resolved (sorted)."""


@dataclass(frozen=True)
class CellSource:
    """Where one column of a fact's cells comes from.

    With no ``predicate`` the column is the value of ``agency_id.attribute``. With one, the
    column is the predicate's answer: from the agency when ``pushed_down``, otherwise
    computed by the evaluator from the fetched value.
    """

    agency_id: str
    attribute: str
    predicate: Predicate | None = None
    pushed_down: bool = False
    value_key: tuple[str, str] = field(init=False, repr=False, compare=False)
    """The column's key in ``UnitFacts.values`` (when the value is fetched)."""
    local: Predicate | None = field(init=False, repr=False, compare=False)
    """The predicate the evaluator applies to the fetched value (not pushed down), if any."""

    def __post_init__(self) -> None:
        if self.pushed_down and self.predicate is None:
            raise ValueError("only a predicate can be pushed down")
        object.__setattr__(self, "value_key", (self.agency_id, self.attribute))
        object.__setattr__(self, "local", None if self.pushed_down else self.predicate)

    def __str__(self) -> str:
        return f"{self.agency_id}.{self.attribute}"


@dataclass(frozen=True)
class FactPlan:
    """A fact the rules need, with the sources of its cells and how to fold them."""

    fact: Fact
    sources: tuple[CellSource, ...]
    agencies: frozenset[str]
    fold: Folder = field(repr=False, compare=False)
    subject_only: bool
    """Only the subject's cell counts (``scope: subject``)."""
    counts_records: bool
    """Absent cells are data (``count``), never a gap."""
    skips_absent: bool
    """Absent cells may stay None: the ``absent`` value is the fold's neutral element."""


@dataclass(frozen=True)
class RulePlan:
    """A rule with the facts it needs and its results prebuilt where they never vary."""

    rule: Rule
    facts: tuple[str, ...]
    on_pass: RuleResult | None
    """The PASS result, or None when its text interpolates facts (rendered per unit)."""
    on_fail: RuleResult | None
    """The FAIL result, or None when its text interpolates facts (rendered per unit)."""


@dataclass(frozen=True)
class Plan:
    """How to decide ``program`` on ``as_of``: the two lookup phases and the fact recipes.

    Phase 1 (``identity``) asks the civil registry about the subject alone; phase 2
    (``requests``, one per agency, sorted by agency id) asks about every member of the unit.
    """

    program: Program
    as_of: dt.date
    parameters: Mapping[str, int]
    identity: AgencyRequest
    requests: tuple[AgencyRequest, ...]
    facts: tuple[FactPlan, ...]
    rules: tuple[RulePlan, ...]
    catalogue: Catalogue = field(repr=False, compare=False)
    """The catalogue the plan was made against."""
    agencies: tuple[str, ...] = field(init=False)
    """Every agency asked in phase 2, sorted."""
    _contexts: threading.local = field(
        default_factory=threading.local, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "agencies", tuple(r.agency_id for r in self.requests))

    def cel_context(self) -> cel.Context:
        """A CEL context holding ``params``, reused by the calling thread for every unit.

        The evaluator overwrites the facts in it for each unit and runs a rule only when all
        the names the rule uses were set for that unit, so nothing leaks between units; one
        context per thread keeps concurrent evaluations apart. Building it converts the
        parameters once per plan and thread instead of once per unit.
        """
        context: cel.Context | None = getattr(self._contexts, "context", None)
        if context is None:
            context = cel.Context(variables={PARAMS: dict(self.parameters)})
            self._contexts.context = context
        return context


def plan(program: Program, catalogue: Catalogue, as_of: dt.date) -> Plan:
    """Plan ``program`` for decisions as of ``as_of``.

    Raises:
        ParameterNotInForceError: a parameter has no value in force on ``as_of``.
        CatalogueError: the catalogue cannot serve the program (see ``Catalogue.validate``).
    """
    catalogue.validate(program)
    parameters = program.parameters_at(as_of)
    needed = {name for rule in program.rules for name in rule.facts}
    facts = tuple(
        _plan_fact(fact, catalogue, parameters) for fact in program.facts if fact.name in needed
    )
    identity = (ALIVE, HOUSEHOLD_MEMBERS) if program.unit is ProgramUnit.HOUSEHOLD else (ALIVE,)
    return Plan(
        program=program,
        as_of=as_of,
        parameters=MappingProxyType(parameters),
        identity=AgencyRequest(IDENTITY_AGENCY, identity),
        requests=_requests(facts),
        facts=facts,
        rules=tuple(
            RulePlan(
                rule,
                rule.facts,
                _fixed(rule, rule.on_pass, RuleOutcome.PASS),
                _fixed(rule, rule.on_fail, RuleOutcome.FAIL),
            )
            for rule in program.rules
        ),
        catalogue=catalogue,
    )


def _plan_fact(fact: Fact, catalogue: Catalogue, parameters: Mapping[str, int]) -> FactPlan:
    sources: list[CellSource] = []
    predicate = fact.predicate
    for ref in fact.refs:
        for served in catalogue.resolve(ref):
            attribute = served.spec.name
            if predicate is None:
                sources.append(CellSource(served.agency_id, attribute))
                continue
            sources.append(
                CellSource(
                    served.agency_id,
                    attribute,
                    Predicate(attribute, predicate.operator, predicate.resolve(parameters)),
                    pushed_down=served.pushes_down(predicate.operator),
                )
            )
    return FactPlan(
        fact,
        tuple(sources),
        frozenset(s.agency_id for s in sources),
        fold=folder(fact.aggregate),
        subject_only=fact.scope is FactScope.SUBJECT,
        counts_records=fact.aggregate is Aggregate.COUNT,
        skips_absent=absent_is_neutral(fact.aggregate, fact.absent),
    )


def _requests(facts: tuple[FactPlan, ...]) -> tuple[AgencyRequest, ...]:
    attributes: dict[str, set[str]] = {}
    predicates: dict[str, set[Predicate]] = {}
    for fact in facts:
        for source in fact.sources:
            if source.pushed_down and source.predicate is not None:
                predicates.setdefault(source.agency_id, set()).add(source.predicate)
                attributes.setdefault(source.agency_id, set())
            else:
                attributes.setdefault(source.agency_id, set()).add(source.attribute)
    return tuple(
        AgencyRequest(
            agency,
            tuple(sorted(attributes[agency])),
            tuple(sorted(predicates.get(agency, ()), key=_predicate_order)),
        )
        for agency in sorted(attributes)
    )


def _predicate_order(predicate: Predicate) -> tuple[str, str, str, str]:
    operand = predicate.operand
    return (predicate.attribute, predicate.operator.value, type(operand).__name__, str(operand))


def _fixed(rule: Rule, reason: Reason, outcome: RuleOutcome) -> RuleResult | None:
    if reason.fields:
        return None
    return RuleResult(rule.id, outcome, reason.code, reason.text)
