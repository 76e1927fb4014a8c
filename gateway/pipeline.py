"""The one path every check takes: admit, coalesce, decide.

``Check`` and every item of ``CheckBatch`` go through the same two grpc-free steps, so each
layer is written once:

- :meth:`Pipeline.admit` (per command, consent per group of commands): validate,
  authorize, and decide the consent or mandate. A command that is refused never enters a
  group, so no agency hears of its subject.
- :meth:`Pipeline.decide` (per group of admitted commands of one program and purpose):
  plan, fan out, assemble, evaluate (the audit append joins here).

Single checks are coalesced into groups by :class:`~gateway.coalescer.Coalescer`; a chunk of
a CheckBatch stream is grouped by program and purpose directly. Either way a group may mix
callers, and each command keeps its own identity through to its outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from opentelemetry.trace import SpanContext

from adapters.telemetry import span_under
from consent import ConsentDeniedError, ConsentTemplate
from gateway import metrics
from gateway.audit_log import AuditLog, Failed, Recordable, Refused
from gateway.auth.errors import AuthenticationError, AuthenticationReason, PermissionDeniedError
from gateway.auth.policy import Policy
from gateway.auth.ratelimit import RateLimiter
from gateway.checking import Checker, CheckOutcome
from gateway.coalescer import Coalescer, Waiting
from gateway.command import AdmittedCheck, CheckCommand
from gateway.consent_gate import ConsentGate
from gateway.cpu_load import CpuLoad
from gateway.engine.planner import Plan
from gateway.errors import DeadlineTooShortError
from gateway.legal_basis import consent_template
from gateway.programs.loader import ProgramRegistry
from gateway.programs.model import Program
from gateway.security_log import SecurityEvent, record
from gateway.status import code_and_reason
from gateway.validation import validate

MIN_DEADLINE_S = 0.005
"""A command with less time than this left is refused: no agency could answer in time."""


@dataclass(frozen=True)
class CoalesceSettings:
    """How single checks are grouped (see :class:`~gateway.coalescer.Coalescer`)."""

    window_s: float
    max_items: int
    max_in_flight: int


class _RecordedFailure(Exception):  # noqa: N818 - a marker around the real error
    """A chunk's group failed and its failure entries are in the log already."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Decided:
    """A coalesced check's outcome, and the append that records its group (None without
    an audit log)."""

    outcome: CheckOutcome
    recorded: asyncio.Task[list[int]] | None
    position: int

    async def receipted(self) -> CheckOutcome:
        """The outcome with its entry's index, once the entry is committed.

        Raises:
            AuditUnavailableError: the group's entries could not be written (fail closed).
        """
        if self.recorded is None:
            return self.outcome
        # Shielded: a caller who leaves does not cancel the append the others wait for.
        indexes = await asyncio.shield(self.recorded)
        return dataclasses.replace(self.outcome, audit_index=indexes[self.position])


def _settled(tasks: set[asyncio.Task[list[int]]]) -> Callable[[asyncio.Task[list[int]]], None]:
    """A done-callback that forgets a finished append (its error, if any, reached every
    caller still waiting; with none left, it was logged by the audit log already)."""

    def forget(task: asyncio.Task[list[int]]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: asyncio would otherwise warn when no caller waits

    return forget


class Pipeline:
    """Admits and decides checks for the servicer, which only decodes and encodes.

    Args:
        programs: the programs served.
        checker: decides groups (plan, fan out, assemble, evaluate).
        policy: which organisation may run which program for which purpose.
        limiter: the per-organisation rate limits (CheckBatch items are charged here).
        coalescing: how single checks are grouped.
        anonymous_allowed: commands without a caller are admitted (authentication is
            switched off); otherwise such a command is refused, failing closed.
        consent: decides each command's consent or mandate; None when the consent layer
            is switched off (every check admitted without one).
        audit: records every lookup, decided or refused, before its reply leaves; None when
            the audit layer is switched off.
    """

    def __init__(
        self,
        programs: ProgramRegistry,
        checker: Checker,
        *,
        policy: Policy,
        limiter: RateLimiter,
        coalescing: CoalesceSettings,
        anonymous_allowed: bool = False,
        consent: ConsentGate | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._programs = programs
        self._consent = consent
        self._audit = audit
        self._checker = checker
        self._policy = policy
        self._limiter = limiter
        self._anonymous_allowed = anonymous_allowed
        self._recording: set[asyncio.Task[list[int]]] = set()
        self._coalescer: Coalescer[tuple[str, str], AdmittedCheck, _Decided] = Coalescer(
            self._decide_group,
            window_s=coalescing.window_s,
            max_items=coalescing.max_items,
            max_in_flight=coalescing.max_in_flight,
            saturated=CpuLoad().saturated,
        )

    @property
    def programs(self) -> ProgramRegistry:
        """The programs served."""
        return self._programs

    def plan(self, program: Program) -> Plan:
        """``program``'s plan on today's date (what DescribeProgram shows)."""
        return self._checker.plan_for(program, self._checker.today())

    def consent_template(self, program_id: str) -> ConsentTemplate:
        """The widest consent ``program_id`` may be granted, from today's plan.

        Raises:
            UnknownProgramError: no such program is served.
            NoConsentTemplateError: the program rests on a mandate.
        """
        return consent_template(self.plan(self._programs.get(program_id)))

    async def admit(self, commands: Sequence[CheckCommand]) -> list[AdmittedCheck | Exception]:
        """Admit each of ``commands`` or give the error that refuses it, in order.

        Each command is validated and authorized on its own (:meth:`screen`); those that
        pass have their consent or mandate decided together, in one store transaction.

        Raises:
            ConsentStoreUnavailableError: the consent store cannot be reached (every
                command fails: none may go on without its legal basis).
        """
        with span_under("admit", commands[0].span if commands else None) as span:
            results: list[AdmittedCheck | Exception] = []
            for command in commands:
                try:
                    results.append(self.screen(command))
                except Exception as exc:  # this command's own error; the status table maps it
                    results.append(exc)
            if self._consent is not None:
                await self._decide_consents(results)
            span.set_attribute("sakha.refused", sum(isinstance(r, Exception) for r in results))
            return results

    async def _decide_consents(self, results: list[AdmittedCheck | Exception]) -> None:
        """Replace each screened command of ``results`` by its consent's verdict."""
        assert self._consent is not None  # noqa: S101 - only called with the consent layer
        screened = [(i, r) for i, r in enumerate(results) if isinstance(r, AdmittedCheck)]
        if not screened:
            return
        with span_under("consent", None, attributes={"sakha.checks": len(screened)}):
            if len(results) == 1:  # a single check: decided with concurrent ones
                decided = [await self._consent.authorize_one(screened[0][1])]
            else:
                decided = await self._consent.authorize([r for _, r in screened])
        for (index, _), outcome in zip(screened, decided, strict=True):
            results[index] = outcome
            if isinstance(outcome, ConsentDeniedError):
                metrics.CONSENT_REFUSALS.add(1, {"sakha.reason": str(outcome.reason)})

    def screen(self, command: CheckCommand) -> AdmittedCheck:
        """Validate and authorize ``command`` (everything ``admit`` does but the consent).

        Raises:
            InvalidRequestError, UnknownProgramError: the command is malformed.
            AuthenticationError: no caller, and authentication is not switched off.
            PermissionDeniedError: the caller may not run this program for this purpose.
            DeadlineTooShortError: the caller's deadline leaves no time to ask the agencies.
        """
        program = validate(self._programs, command)
        caller = command.caller
        if caller is None:
            if not self._anonymous_allowed:
                raise AuthenticationError(
                    AuthenticationReason.TOKEN_MISSING, "no authenticated caller"
                )
        else:
            try:
                self._policy.authorize_check(caller, program.id, command.purpose)
            except PermissionDeniedError as exc:
                record(
                    SecurityEvent(
                        "permission_denied",
                        exc.reason,
                        command.rpc,
                        "",
                        caller.organisation.id,
                        caller.operator,
                        f"{program.id}/{command.purpose}",
                    )
                )
                raise
        remaining = command.remaining_s()
        if remaining is not None and remaining < MIN_DEADLINE_S:
            raise DeadlineTooShortError("the deadline leaves no time to ask the agencies")
        return AdmittedCheck(command, program)

    async def decide(
        self, group: Sequence[AdmittedCheck], *, waiting: Waiting | None = None
    ) -> list[CheckOutcome]:
        """Decide a group of admitted commands of one program and purpose, in order.

        ``waiting(i)`` says whether the caller of ``group[i]`` still waits; the subjects of
        callers who left (or whose deadline passed) are not asked about in later phases.
        """
        # One span per call (a CheckBatch chunk's commands share theirs), first come first.
        calls = {(c.trace_id, c.span_id): c for a in group if (c := a.command.span) is not None}
        spans = list(calls.values())
        attributes: dict[str, str | int] = {
            "sakha.program": group[0].program.id,
            "sakha.checks": len(group),
        }
        with span_under(
            "decide", spans[0] if spans else None, links=spans[1:], attributes=attributes
        ):
            return await self._checker.decide(group, waiting=waiting)

    async def check(self, command: CheckCommand) -> CheckOutcome:
        """Admit one command, let it share a group with concurrent ones, and decide it."""
        [admitted] = await self.admit([command])
        if isinstance(admitted, Exception):
            if self._audit is not None:
                await self._audit.record_refusal(Refused(command, admitted))
            self._count([command], [admitted])
            raise admitted
        decided = await self._coalescer.submit(admitted.group_key, admitted)
        outcome = await decided.receipted()
        self._count([command], [outcome])
        return outcome

    async def check_chunk(self, commands: Sequence[CheckCommand]) -> list[CheckOutcome | Exception]:
        """Admit and decide a chunk of a CheckBatch stream; one outcome or error per command.

        The chunk is charged to the caller's rate limit first (waiting, not failing), so a
        long re-assessment slows down rather than breaks.
        """
        await self._pace(commands)
        results: list[CheckOutcome | Exception | None] = [None] * len(commands)
        groups: dict[tuple[str, str], list[tuple[int, AdmittedCheck]]] = {}
        for index, admitted in enumerate(await self.admit(commands)):
            if isinstance(admitted, Exception):
                results[index] = admitted
                continue
            groups.setdefault(admitted.group_key, []).append((index, admitted))
        decided = await asyncio.gather(
            *(self._decided_or_recorded([a for _, a in items]) for items in groups.values()),
            return_exceptions=True,
        )
        for items, outcomes in zip(groups.values(), decided, strict=True):
            if isinstance(outcomes, BaseException):
                if not isinstance(outcomes, Exception):
                    raise outcomes
                for index, _ in items:
                    results[index] = outcomes if self._audit is None else _RecordedFailure(outcomes)
                continue
            for (index, _), outcome in zip(items, outcomes, strict=True):
                results[index] = outcome
        unfilled = [i for i, r in enumerate(results) if r is None]
        if unfilled:  # never shift results onto the wrong items
            raise RuntimeError(f"chunk items {unfilled} were neither admitted nor refused")
        done = cast("list[CheckOutcome | Exception]", results)
        if self._audit is not None:
            done = await self._recorded(commands, done)
        self._count(commands, done)
        return done

    def _count(
        self, commands: Sequence[CheckCommand], results: Sequence[CheckOutcome | Exception]
    ) -> None:
        """Count each answered check by program (a served one, else "") and outcome."""
        for command, result in zip(commands, results, strict=True):
            program = command.program_id if command.program_id in self._programs else ""
            if isinstance(result, CheckOutcome):
                outcome = result.evaluation.decision.name
            else:
                outcome = code_and_reason(result)[1]
            metrics.CHECKS.add(1, {"sakha.program": program, "sakha.outcome": outcome})

    async def _recorded(
        self, commands: Sequence[CheckCommand], results: list[CheckOutcome | Exception]
    ) -> list[CheckOutcome | Exception]:
        """``results`` with every lookup recorded: one append for the chunk, fail closed."""
        assert self._audit is not None  # noqa: S101 - only called with an audit log
        unrecorded = [(i, r) for i, r in enumerate(results) if not isinstance(r, _RecordedFailure)]
        items: list[Recordable] = [
            result if isinstance(result, CheckOutcome) else Refused(commands[i], result)
            for i, result in unrecorded
        ]
        done = [r.error if isinstance(r, _RecordedFailure) else r for r in results]
        if items:
            indexes = await self._record(items, commands[0].span)
            for (i, result), index in zip(unrecorded, indexes, strict=True):
                if isinstance(result, CheckOutcome):
                    done[i] = dataclasses.replace(result, audit_index=index)
        return done  # a refusal's or failure's entry is recorded; its error stays the reply

    async def _decided_or_recorded(
        self, group: Sequence[AdmittedCheck], waiting: Waiting | None = None
    ) -> list[CheckOutcome]:
        """Decide ``group``; if that fails or is cancelled after agencies may have been
        asked, record one failure entry per command (the append is shielded from the
        cancellation) before the error goes on."""
        try:
            return await self.decide(group, waiting=waiting)
        except BaseException as exc:
            if self._audit is not None:
                failed = [Failed(admitted, exc) for admitted in group]
                parent = group[0].command.span
                await asyncio.shield(self._record(failed, parent))
            raise

    async def _record(self, items: Sequence[Recordable], parent: SpanContext | None) -> list[int]:
        """Append ``items`` to the audit log, in a span under ``parent``."""
        assert self._audit is not None  # noqa: S101 - only called with an audit log
        with span_under("audit.append", parent, attributes={"sakha.entries": len(items)}):
            return await self._audit.record(items)

    async def _pace(self, commands: Sequence[CheckCommand]) -> None:
        organisations = {
            c.caller.organisation.id: c.caller.organisation for c in commands if c.caller
        }
        costs = Counter(c.organisation_id for c in commands if c.caller is not None)
        for organisation_id, cost in costs.items():
            limit = organisations[organisation_id].rate_limit
            step = max(1, int(limit.burst))  # never ask for more than a full bucket holds
            for start in range(0, cost, step):
                await self._limiter.wait(
                    organisation_id, limit.per_second, limit.burst, min(step, cost - start)
                )

    async def _decide_group(
        self, key: tuple[str, str], group: Sequence[AdmittedCheck], waiting: Waiting
    ) -> Sequence[_Decided]:
        """Decide a coalesced group; its entries are appended after the group's slot is
        free again (the next group's agencies are asked meanwhile), each reply waiting for
        its own entry."""
        del key  # every command of the group carries it
        outcomes = await self._decided_or_recorded(group, waiting)
        if self._audit is None:
            return [_Decided(o, None, i) for i, o in enumerate(outcomes)]
        recorded = asyncio.get_running_loop().create_task(
            self._record(outcomes, group[0].command.span)
        )
        self._recording.add(recorded)
        recorded.add_done_callback(_settled(self._recording))
        return [_Decided(o, recorded, i) for i, o in enumerate(outcomes)]

    async def drain(self) -> None:
        """Decide every coalesced check still waiting and record it (graceful shutdown)."""
        await self._coalescer.drain()
        await asyncio.gather(*self._recording, return_exceptions=True)
