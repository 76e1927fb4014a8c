"""Deciding a group of subjects for one program: plan, fan out, assemble, evaluate.

The same path serves a single check (a group of one, or several coalesced) and a chunk of a
CheckBatch stream: every agency is asked once per phase for the whole group.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.sdk import Predicate, Value
from gateway.config import HubConfig
from gateway.engine.catalogue import Catalogue
from gateway.engine.evaluate import UnitFacts, evaluate
from gateway.engine.outcome import Evaluation, SourceOutcome, SourceStatus
from gateway.engine.planner import AgencyRequest, Plan, plan
from gateway.fanout import AgencyAnswer, AgencyDirectory, fetch_from_agency
from gateway.programs.model import Program, ProgramUnit

HOUSEHOLD_MEMBERS = "household_members"
ALIVE = "alive"


@dataclass(frozen=True)
class CheckOutcome:
    """One subject's decision with everything the reply and the audit record need."""

    subject: str
    program: Program
    as_of: dt.date
    evaluation: Evaluation
    sources: tuple[SourceOutcome, ...]


class Checker:
    """Decides groups of subjects; holds the plans, the catalogue and the agencies."""

    def __init__(
        self,
        directory: AgencyDirectory,
        catalogue: Catalogue,
        config: HubConfig,
        *,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._directory = directory
        self._catalogue = catalogue
        self._config = config
        self._today = today
        self._plans: dict[tuple[str, str, dt.date], Plan] = {}

    def today(self) -> dt.date:
        """The date decisions are made as of."""
        return self._today()

    def plan_for(self, program: Program, as_of: dt.date) -> Plan:
        """The plan of ``program`` on ``as_of`` (cached: plans are pure)."""
        key = (program.id, program.ruleset_digest, as_of)
        cached = self._plans.get(key)
        if cached is None:
            cached = self._plans[key] = plan(program, self._catalogue, as_of)
        return cached

    async def check_many(
        self,
        program: Program,
        subjects: Sequence[str],
        *,
        purpose: str,
        request_id: str,
        timeout_s: float | None = None,
    ) -> list[CheckOutcome]:
        """Decide every subject in ``subjects`` (valid national IDs) for ``program``."""
        as_of = self._today()
        the_plan = self.plan_for(program, as_of)
        timeout = self._config.agency_timeout_ms / 1000
        if timeout_s is not None:
            timeout = max(0.001, min(timeout, timeout_s))
        unique = list(dict.fromkeys(subjects))

        async def ask(request: AgencyRequest, who: Sequence[str]) -> AgencyAnswer:
            return await self._ask(
                request, who, as_of=as_of, request_id=request_id, purpose=purpose, timeout_s=timeout
            )

        # Other agencies hear only about subjects the civil registry knows to be alive and,
        # for household programs, whose household it can list.
        identity = await ask(the_plan.identity, unique)
        household = program.unit is ProgramUnit.HOUSEHOLD
        members = _units(identity, unique, household=household)
        everyone = list(dict.fromkeys(m for unit in members.values() for m in unit))
        answers: Sequence[AgencyAnswer] = ()
        if everyone:
            answers = await asyncio.gather(*(ask(r, everyone) for r in the_plan.requests))
        assembler = _Assembler(the_plan, identity, unique, answers, everyone)
        decided: dict[str, CheckOutcome] = {}
        for subject in unique:
            unit, sources = assembler.unit(subject, members.get(subject))
            decided[subject] = CheckOutcome(
                subject, program, as_of, evaluate(the_plan, unit), sources
            )
        return [decided[s] for s in subjects]

    async def _ask(
        self,
        request: AgencyRequest,
        subjects: Sequence[str],
        *,
        as_of: dt.date,
        request_id: str,
        purpose: str,
        timeout_s: float,
    ) -> AgencyAnswer:
        agency = self._directory.get(request.agency_id)
        if agency is None:
            outcome = SourceOutcome(
                request.agency_id, SourceStatus.UNAVAILABLE, 0, "agency not connected"
            )
            return AgencyAnswer(outcome, None)
        if not subjects:
            return AgencyAnswer(SourceOutcome(request.agency_id, SourceStatus.OK, 0), None)
        return await fetch_from_agency(
            agency,
            request,
            subjects,
            as_of=as_of,
            request_id=request_id,
            purpose=purpose,
            timeout_s=timeout_s,
            chunk=min(
                self._config.fetch_chunk_subjects,
                agency.description.max_subjects or self._config.fetch_chunk_subjects,
            ),
        )


def _units(
    identity: AgencyAnswer, subjects: Sequence[str], *, household: bool
) -> dict[str, tuple[str, ...]]:
    """The members (subject first) of each subject that can be decided.

    Left out: subjects the civil registry does not know, does not record as alive, or, for
    household programs, whose household it cannot list; the evaluator decides those from
    the identity answer alone, and no other agency hears of them.
    """
    result = identity.result
    if result is None:
        return {}
    alive = result.values.get(ALIVE)
    listed = result.values.get(HOUSEHOLD_MEMBERS)
    units: dict[str, tuple[str, ...]] = {}
    for row, subject in enumerate(subjects):
        if not result.found[row] or alive is None or alive[row] is not True:
            continue
        if not household:
            units[subject] = (subject,)
            continue
        household_members = listed[row] if listed is not None else None
        if isinstance(household_members, tuple) and subject in household_members:
            units[subject] = (subject, *(m for m in household_members if m != subject))
    return units


class _Assembler:
    """Slices the agencies' columnar answers into one :class:`UnitFacts` per subject."""

    def __init__(
        self,
        the_plan: Plan,
        identity: AgencyAnswer,
        subjects: Sequence[str],
        answers: Sequence[AgencyAnswer],
        everyone: Sequence[str],
    ) -> None:
        self._identity = identity
        self._identity_row = {s: i for i, s in enumerate(subjects)}
        self._row = {m: i for i, m in enumerate(everyone)}
        # No answers at all when nobody in the group was alive and known: nothing was asked.
        self._answers = list(zip(the_plan.requests, answers, strict=True)) if answers else []

    def unit(
        self, subject: str, members: tuple[str, ...] | None
    ) -> tuple[UnitFacts, tuple[SourceOutcome, ...]]:
        """The unit's facts and sources; ``members`` is None when it was not asked about."""
        identity = self._identity.result
        found = alive = None
        if identity is not None:
            row = self._identity_row[subject]
            found = identity.found[row]
            alive_value = identity.values[ALIVE][row] if ALIVE in identity.values else None
            alive = alive_value if isinstance(alive_value, bool) else None
        values: dict[tuple[str, str], list[Value | None]] = {}
        predicates: dict[tuple[str, Predicate], list[bool | None]] = {}
        sources = [_per_unit(self._identity.outcome, found is not False)]
        rows = [self._row.get(m) for m in members or (subject,)]
        for request, answer in self._answers if members is not None else ():
            result = answer.result
            if result is None:
                sources.append(answer.outcome)
                continue
            present = [r is not None and result.found[r] for r in rows]
            for name in request.attributes:
                column = result.values[name]
                values[(request.agency_id, name)] = [
                    column[r] if ok and r is not None else None
                    for r, ok in zip(rows, present, strict=True)
                ]
            for k, predicate in enumerate(request.predicates):
                column_p = result.predicates[k]
                predicates[(request.agency_id, predicate)] = [
                    column_p[r] if ok and r is not None else None
                    for r, ok in zip(rows, present, strict=True)
                ]
            sources.append(_per_unit(answer.outcome, any(present)))
        unit = UnitFacts(
            subject=subject,
            members=members or (subject,),
            members_known=members is not None or alive is not True,
            subject_found=bool(found),
            subject_alive=alive,
            values=values,
            predicates=predicates,
            sources={s.agency_id: s for s in sources},
        )
        return unit, tuple(sources)


def _per_unit(outcome: SourceOutcome, any_found: bool) -> SourceOutcome:
    """An OK agency that knew none of the unit's members reports NOT_FOUND for that unit."""
    if outcome.status is SourceStatus.OK and not any_found:
        return SourceOutcome(outcome.agency_id, SourceStatus.NOT_FOUND, outcome.latency_ms)
    return outcome
