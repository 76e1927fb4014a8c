"""Deciding a group of admitted checks for one program: plan, fan out, assemble, evaluate.

The same path serves single checks (a group of one, or several coalesced) and a chunk of a
CheckBatch stream: every agency is asked once per phase for the whole group. Commands in a
group may come from different callers; each outcome carries its own command.

Deadlines. A group's Fetch calls are bounded by the per-agency timeout and by the latest
deadline among its members: the group is worth asking about for as long as one of its
callers still waits. A member whose caller has gone is not waited for (its call ends at its
own deadline) and, once every member has gone, the coalescer cancels the group, which
cancels its Fetch calls in flight. Once the group deadline has passed no new Fetch starts:
the agencies not yet asked report TIMEOUT.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from adapters.sdk import Predicate, Value
from adapters.telemetry import span_under
from consent import Allowed
from gateway.coalescer import Waiting
from gateway.command import AdmittedCheck, CheckCommand
from gateway.engine.catalogue import IDENTITY_AGENCY, Catalogue
from gateway.engine.evaluate import UnitFacts, evaluate
from gateway.engine.outcome import Evaluation, SourceOutcome, SourceStatus
from gateway.engine.planner import AgencyRequest, Plan, plan
from gateway.fanout import AgencyAnswer, AgencyDirectory, fetch_from_agency
from gateway.fetch_tokens import FetchTokenSigner
from gateway.programs.model import Program, ProgramUnit

HOUSEHOLD_MEMBERS = "household_members"
ALIVE = "alive"
_DEADLINE_PASSED = "no caller was waiting any more when this agency was to be asked"


@dataclass(frozen=True)
class CheckOutcome:
    """One command's decision with everything the reply and the audit record need."""

    command: CheckCommand
    program: Program
    as_of: dt.date
    evaluation: Evaluation
    sources: tuple[SourceOutcome, ...]
    basis: Allowed | None = None
    """The consent or mandate the check went ahead under (None: consent layer off)."""
    audit_index: int | None = None
    """The index of the check's audit entry (None: audit layer off)."""
    members: tuple[str, ...] = ()
    """The other household members whose data the agencies were asked for."""

    @property
    def fetch_ids(self) -> tuple[str, ...]:
        """The ids of every Fetch call that served this check, in the order asked."""
        return tuple(dict.fromkeys(f for s in self.sources for f in s.fetch_ids))


@dataclass(frozen=True)
class AssembledUnit:
    """One subject's facts as the agencies gave them, and how each agency answered."""

    facts: UnitFacts
    sources: tuple[SourceOutcome, ...]


class Checker:
    """Decides groups of admitted checks; holds the plans, the catalogue and the agencies.

    Args:
        directory: the agencies, by id.
        catalogue: who serves which attribute.
        agency_timeout_s: the longest one Fetch to one agency may take.
        fetch_chunk_subjects: most subjects in one Fetch (less if the agency says so).
        today: the date decisions are made as of.
        fetch_tokens: signs each Fetch's token; None when the layer is off (and for
            in-process agencies, which need none).
    """

    def __init__(
        self,
        directory: AgencyDirectory,
        catalogue: Catalogue,
        *,
        agency_timeout_s: float,
        fetch_chunk_subjects: int,
        today: Callable[[], dt.date] = dt.date.today,
        fetch_tokens: FetchTokenSigner | None = None,
    ) -> None:
        self._directory = directory
        self._fetch_tokens = fetch_tokens
        self._catalogue = catalogue
        self._agency_timeout_s = agency_timeout_s
        self._fetch_chunk_subjects = fetch_chunk_subjects
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

    async def decide(
        self, group: Sequence[AdmittedCheck], *, waiting: Waiting | None = None
    ) -> list[CheckOutcome]:
        """Decide every check of ``group`` (one program and purpose), one outcome each.

        ``waiting(i)`` says whether the caller of ``group[i]`` still waits (None: all do
        until their deadlines). Before each lookup phase, subjects none of whose callers
        still waits are dropped, and the phase is bounded by the latest deadline of those
        who do; a dropped subject's outcome is UNDETERMINED and nobody receives it.
        """
        program = group[0].program
        purpose = group[0].command.purpose
        as_of = self._today()
        with span_under("plan", None, attributes={"sakha.program": program.id}):
            the_plan = self.plan_for(program, as_of)

        def wanted() -> dict[str, float | None]:
            now = time.monotonic()
            live: dict[str, float | None] = {}
            for index, admitted in enumerate(group):
                deadline = admitted.command.deadline
                if (waiting is not None and not waiting(index)) or (
                    deadline is not None and deadline <= now
                ):
                    continue
                subject = admitted.command.subject
                if subject not in live:
                    live[subject] = deadline
                else:
                    known = live[subject]
                    live[subject] = (
                        None if known is None or deadline is None else max(known, deadline)
                    )
            return live

        units = await self.assemble(
            the_plan,
            [a.command.subject for a in group],
            purpose=purpose,
            wanted=wanted,
            basis=[a.basis.reference for a in group if a.basis is not None],
        )
        with span_under("evaluate", None, attributes={"sakha.checks": len(group)}):
            return self._evaluated(group, units, the_plan, as_of)

    def _evaluated(
        self,
        group: Sequence[AdmittedCheck],
        units: Mapping[str, AssembledUnit],
        the_plan: Plan,
        as_of: dt.date,
    ) -> list[CheckOutcome]:
        """Each check's outcome from its unit's facts (a subject repeated is evaluated once)."""
        program = group[0].program
        evaluations: dict[str, Evaluation] = {}
        outcomes = []
        for admitted in group:
            subject = admitted.command.subject
            unit = units[subject]
            evaluation = evaluations.get(subject)
            if evaluation is None:
                evaluation = evaluations[subject] = evaluate(the_plan, unit.facts)
            outcomes.append(
                CheckOutcome(
                    admitted.command,
                    program,
                    as_of,
                    evaluation,
                    unit.sources,
                    admitted.basis,
                    members=unit.facts.members[1:],
                )
            )
        return outcomes

    async def assemble(
        self,
        the_plan: Plan,
        subjects: Sequence[str],
        *,
        purpose: str,
        wanted: Callable[[], Mapping[str, float | None]] | None = None,
        basis: Sequence[str] = (),
    ) -> dict[str, AssembledUnit]:
        """Ask the agencies what ``the_plan`` needs about ``subjects`` (valid national IDs).

        Args:
            the_plan: the program's plan on the decision date.
            subjects: the subjects (repeats are asked about once).
            purpose: the purpose the agencies are told.
            wanted: called before each lookup phase: the subjects still wanted, each with
                the ``time.monotonic()`` after which nobody waits for it (None: no bound
                besides the per-agency timeout). Without it every subject is wanted, with
                no deadline.
            basis: the consent and mandate references every fetch token names.
        """
        unique = list(dict.fromkeys(subjects))

        def still_wanted(candidates: Sequence[str]) -> tuple[list[str], float | None]:
            if wanted is None:
                return list(candidates), None
            live = wanted()
            kept = [s for s in candidates if s in live]
            bounds = [live[s] for s in kept]
            if not kept or None in bounds:
                return kept, None
            return kept, max(b for b in bounds if b is not None)

        # Other agencies hear only about subjects the civil registry knows to be alive and,
        # for household programs, whose household it can list.
        asked, deadline = still_wanted(unique)
        identity = await self._ask(
            the_plan.identity, asked, the_plan.as_of, purpose, deadline, basis=basis
        )
        household = the_plan.program.unit is ProgramUnit.HOUSEHOLD
        members = _units(identity, asked, household=household)
        heads, deadline = still_wanted(list(members))
        everyone = list(dict.fromkeys(m for head in heads for m in members[head]))
        answers: Sequence[AgencyAnswer] = ()
        if everyone:
            answers = await asyncio.gather(
                *(
                    self._ask(r, everyone, the_plan.as_of, purpose, deadline, basis=basis)
                    for r in the_plan.requests
                )
            )
        assembler = _Assembler(the_plan, identity, asked, answers, everyone)
        in_phase_two = set(heads)
        return {
            subject: assembler.unit(
                subject, members.get(subject) if subject in in_phase_two else None
            )
            for subject in unique
        }

    async def _ask(
        self,
        request: AgencyRequest,
        subjects: Sequence[str],
        as_of: dt.date,
        purpose: str,
        deadline: float | None,
        *,
        basis: Sequence[str],
    ) -> AgencyAnswer:
        agency_id = request.agency_id
        agency = self._directory.get(agency_id)
        if agency is None:
            outcome = SourceOutcome(agency_id, SourceStatus.UNAVAILABLE, 0, "agency not connected")
            return AgencyAnswer(outcome, None)
        if not subjects:
            return AgencyAnswer(SourceOutcome(agency_id, SourceStatus.OK, 0), None)
        timeout = self._agency_timeout_s
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                outcome = SourceOutcome(agency_id, SourceStatus.TIMEOUT, 0, _DEADLINE_PASSED)
                return AgencyAnswer(outcome, None)
        limit = agency.description.max_subjects or self._fetch_chunk_subjects
        return await fetch_from_agency(
            agency,
            request,
            subjects,
            as_of=as_of,
            purpose=purpose,
            timeout_s=timeout,
            chunk=min(self._fetch_chunk_subjects, limit),
            tokens=self._fetch_tokens,
            basis=basis,
        )


def _unasked(subject: str) -> AssembledUnit:
    """The unit of a subject the civil registry was never asked about: UNDETERMINED."""
    sources = (SourceOutcome(IDENTITY_AGENCY, SourceStatus.TIMEOUT, 0, _DEADLINE_PASSED),)
    facts = UnitFacts(
        subject=subject,
        members=(subject,),
        subject_found=False,
        subject_alive=None,
        values={},
        predicates={},
        sources={IDENTITY_AGENCY: sources[0]},
    )
    return AssembledUnit(facts, sources)


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
    """Slices the agencies' columnar answers into one :class:`AssembledUnit` per subject."""

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
        # Units served by the same Fetch calls share one outcome object per agency (most
        # groups fit one Fetch per agency): building one per unit was a tenth of the work.
        self._outcomes: dict[tuple[int, tuple[str, ...], bool], SourceOutcome] = {}

    def unit(self, subject: str, members: tuple[str, ...] | None) -> AssembledUnit:
        """The unit's facts and sources; ``members`` is None when it was not asked about."""
        identity_row = self._identity_row.get(subject)
        if identity_row is None:  # nobody waited for it any more when phase 1 began
            return _unasked(subject)
        identity = self._identity.result
        found = alive = None
        if identity is not None:
            found = identity.found[identity_row]
            alive_value = identity.values[ALIVE][identity_row] if ALIVE in identity.values else None
            alive = alive_value if isinstance(alive_value, bool) else None
        values: dict[tuple[str, str], list[Value | None]] = {}
        predicates: dict[tuple[str, Predicate], list[bool | None]] = {}
        sources = [self._outcome(self._identity, (identity_row,), found is not False)]
        rows = [self._row.get(m) for m in members or (subject,)]
        asked = [r for r in rows if r is not None]
        for request, answer in self._answers if members is not None else ():
            result = answer.result
            if result is None:
                sources.append(self._outcome(answer, asked, True))
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
            sources.append(self._outcome(answer, asked, any(present)))
        facts = UnitFacts(
            subject=subject,
            members=members or (subject,),
            members_known=members is not None or alive is not True,
            subject_found=bool(found),
            subject_alive=alive,
            values=values,
            predicates=predicates,
            sources={s.agency_id: s for s in sources},
        )
        return AssembledUnit(facts, tuple(sources))

    def _outcome(self, answer: AgencyAnswer, rows: Sequence[int], any_found: bool) -> SourceOutcome:
        """The agency's outcome for one unit, naming the Fetch calls that carried its rows.

        An OK agency that knew none of the unit's members reports NOT_FOUND for that unit.
        """
        fetch_ids = answer.fetch_ids_for(rows)
        status = answer.outcome.status
        not_found = status is SourceStatus.OK and not any_found
        key = (id(answer), fetch_ids, not_found)
        outcome = self._outcomes.get(key)
        if outcome is None:
            asked = answer.outcome
            outcome = self._outcomes[key] = SourceOutcome(
                asked.agency_id,
                SourceStatus.NOT_FOUND if not_found else status,
                asked.latency_ms,
                asked.detail,
                fetch_ids,
            )
        return outcome
