"""The record step: every lookup becomes one audit entry, committed before its reply leaves.

The pipeline hands over a group — a coalesced group of single checks, or a CheckBatch chunk
with its refused items — and :meth:`AuditLog.record` turns each item into an
:class:`audit.Entry` (the subject as a keyed pseudonym, never the national ID), appends the
group's entries in **one** store transaction and returns their indexes, which the replies
carry as receipts. A single check refused in ``admit`` is recorded the same way, gathered with
concurrent ones, and so is every command of a group that failed or that every caller left
after agencies may have been asked (a :class:`Failed` entry). Groups arriving while an
append runs go together in the next one, each group whole, so under load the log's lock is
taken once for many. If the log cannot be written the group fails closed: no reply leaves
without its entry.

Checkpoints are signed apart from the checks, in batches (every ``checkpoint_entries``
entries or ``checkpoint_interval_s``, whichever first), so signing never slows a check.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from adapters.national_id import is_valid_national_id
from audit import (
    AgencyQuery,
    AgencyStatus,
    Basis,
    BasisKind,
    Caller,
    Decision,
    Entry,
    Failure,
    Program,
    Pseudonymizer,
    Refusal,
    Rpc,
    Signer,
    Stage,
    Subject,
    Verdict,
    looks_like_national_id,
    predicate_text,
)
from audit.store import AuditRecord, AuditStore
from consent import Allowed
from gateway import metrics
from gateway.availability import Availability
from gateway.checking import CheckOutcome
from gateway.coalescer import Coalescer, Waiting
from gateway.command import AdmittedCheck, CheckCommand
from gateway.consent_gate import utc_now
from gateway.engine.outcome import SourceStatus
from gateway.engine.planner import Plan
from gateway.errors import AuditUnavailableError
from gateway.programs.model import Program as HubProgram
from gateway.status import code_and_reason

_log = logging.getLogger(__name__)

APPEND_WINDOW_S = 0.05
"""The longest a group waits for the append in progress (it goes as soon as that ends)."""
APPEND_MAX_GROUPS = 64
"""Groups written in one append at most."""

_IDENTIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_STATUSES = {
    SourceStatus.OK: AgencyStatus.OK,
    SourceStatus.NOT_FOUND: AgencyStatus.NOT_FOUND,
    SourceStatus.TIMEOUT: AgencyStatus.TIMEOUT,
    SourceStatus.UNAVAILABLE: AgencyStatus.UNAVAILABLE,
    SourceStatus.ERROR: AgencyStatus.ERROR,
}


@dataclass(frozen=True)
class Refused:
    """A command refused before any agency was asked, with the error it was refused with."""

    command: CheckCommand
    error: Exception


@dataclass(frozen=True)
class Failed:
    """An admitted command whose group failed or was abandoned after agencies may have been
    asked about its subject: it is recorded as a failure, with the error."""

    admitted: AdmittedCheck
    error: BaseException


Recordable = CheckOutcome | Refused | Failed
"""What one audit entry records."""


def _identifier(text: str) -> str:
    """``text`` when it is a lower-case identifier, else "" (a malformed request's field)."""
    if text and text[0].isalpha() and set(text) <= _IDENTIFIER_CHARS and len(text) <= 64:
        return text
    return ""


def _request_id(text: str) -> str:
    """The request id as the log may hold it: "" when it could carry a national ID."""
    return "" if looks_like_national_id(text) or len(text) > 128 else text


def _caller(command: CheckCommand) -> Caller | None:
    caller = command.caller
    if caller is None:
        return None
    return Caller(caller.organisation.id, caller.operator)


def _subject(
    national_id: str, pseudonymizer: Pseudonymizer, members: Sequence[str] = ()
) -> Subject | None:
    if not is_valid_national_id(national_id):
        return None
    return Subject(
        pseudonymizer.pseudonym(national_id),
        pseudonymizer.key_id,
        tuple(pseudonymizer.pseudonym(member) for member in members),
    )


Asked = Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
"""Per agency, the attribute names and predicate texts a plan asks it."""


def asked_by(the_plan: Plan) -> Asked:
    """What ``the_plan`` asks each agency (computed once per group, not per check)."""
    return {
        request.agency_id: (
            tuple(request.attributes),
            tuple(
                predicate_text(p.attribute, p.operator.value, p.operand) for p in request.predicates
            ),
        )
        for request in (the_plan.identity, *the_plan.requests)
    }


def refusal_entry(item: Refused, pseudonymizer: Pseudonymizer, now: dt.datetime) -> Entry:
    """The entry of a command refused in ``admit``: nobody was asked about its subject."""
    code, reason = code_and_reason(item.error)
    return _unanswered(item.command, Refusal(Stage.ADMIT, code, reason), None, pseudonymizer, now)


def failure_entry(item: Failed, pseudonymizer: Pseudonymizer, now: dt.datetime) -> Entry:
    """The entry of an admitted command whose group failed: agencies may have been asked
    about its subject, but no answer was recorded (``CANCELLED`` when every caller left)."""
    if isinstance(item.error, asyncio.CancelledError):
        code, reason = "CANCELLED", "CALLER_GONE"
    elif isinstance(item.error, Exception):
        code, reason = code_and_reason(item.error, default="FAILED")
    else:
        code, reason = "INTERNAL", "HUB_STOPPED"
    admitted = item.admitted
    basis = _basis(admitted.basis)
    return _unanswered(admitted.command, Failure(code, reason), basis, pseudonymizer, now)


def _basis(allowed: Allowed | None) -> Basis | None:
    """The consent or mandate a check went ahead under, as the entry records it."""
    if allowed is None:
        return None
    return Basis(BasisKind(str(allowed.basis)), allowed.reference)


def _unanswered(
    command: CheckCommand,
    result: Refusal | Failure,
    basis: Basis | None,
    pseudonymizer: Pseudonymizer,
    now: dt.datetime,
) -> Entry:
    return _entry(
        command,
        now,
        purpose=_identifier(command.purpose),
        program=Program(_identifier(command.program_id), None, None),
        subject=_subject(command.subject, pseudonymizer),
        basis=basis,
        agencies=(),
        result=result,
    )


def _entry(
    command: CheckCommand,
    now: dt.datetime,
    *,
    purpose: str,
    program: Program,
    subject: Subject | None,
    basis: Basis | None,
    agencies: tuple[AgencyQuery, ...],
    result: Decision | Refusal | Failure,
) -> Entry:
    """The entry of ``command``: its own identity, and what the lookup did."""
    return Entry(
        time=now,
        request_id=_request_id(command.request_id),
        trace_id=command.trace_id,
        rpc=Rpc(command.rpc),
        caller=_caller(command),
        purpose=purpose,
        program=program,
        subject=subject,
        basis=basis,
        agencies=agencies,
        result=result,
    )


def outcome_entry(
    outcome: CheckOutcome,
    asked: Asked,
    pseudonymizer: Pseudonymizer,
    now: dt.datetime,
    queries: dict[tuple[str, str, SourceStatus, int], AgencyQuery] | None = None,
) -> Entry:
    """The entry of a decided check: every Fetch that carried its subject, and the decision.

    ``queries`` holds the agency queries already built for the group: the checks a Fetch
    carried share its record (a CheckBatch chunk's hundreds of entries name the same few
    dozen Fetch calls), instead of each building and checking its own.
    """
    command = outcome.command
    queries = {} if queries is None else queries
    agencies = []
    for source in outcome.sources:
        for fetch_id in source.fetch_ids:
            key = (source.agency_id, fetch_id, source.status, source.latency_ms)
            query = queries.get(key)
            if query is None:
                attributes, predicates = asked.get(source.agency_id, ((), ()))
                query = queries[key] = AgencyQuery(
                    agency=source.agency_id,
                    fetch_id=fetch_id,
                    attributes=attributes,
                    predicates=predicates,
                    status=_STATUSES[source.status],
                    latency_ms=max(0, source.latency_ms),
                )
            agencies.append(query)
    program: HubProgram = outcome.program
    basis = outcome.basis
    evaluation = outcome.evaluation
    return _entry(
        command,
        now,
        purpose=command.purpose,
        program=Program(program.id, program.version, program.ruleset_digest),
        subject=_subject(command.subject, pseudonymizer, outcome.members),
        basis=_basis(basis),
        agencies=tuple(agencies),
        result=Decision(Verdict(evaluation.decision.name), tuple(evaluation.reason_codes)),
    )


def _appended(started: float, result: str) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.AUDIT_APPEND_DURATION.record(elapsed_ms, {"sakha.result": result})


class AuditLog:
    """Records groups of lookups in an :class:`AuditStore` and signs its checkpoints.

    Args:
        store: the log (shared by every hub on the same database).
        pseudonymizer: turns national IDs into the audit authority's keyed pseudonyms.
        signer: the log's checkpoint key, named after the store's origin.
        plan_for: a program's plan today (which attributes each agency was asked).
        checkpoint_entries: sign a checkpoint once this many entries are new.
        checkpoint_interval_s: ... or once this long has passed with any entry new.
        clock: the current UTC time.
    """

    def __init__(
        self,
        store: AuditStore,
        pseudonymizer: Pseudonymizer,
        signer: Signer,
        plan_for: Callable[[HubProgram], Plan],
        *,
        checkpoint_entries: int,
        checkpoint_interval_s: float,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._store = store
        self._pseudonymizer = pseudonymizer
        self._signer = signer
        self._plan_for = plan_for
        self._checkpoint_entries = checkpoint_entries
        self._checkpoint_interval_s = checkpoint_interval_s
        self._clock = clock
        self._unsigned = 0
        self._due = asyncio.Event()
        self._singles: Coalescer[None, Refused, int] = Coalescer(
            self._record_singles,
            window_s=0.05,
            max_items=1000,
            max_in_flight=1,
            abandonable=False,
        )
        # One append at a time per hub: the groups that arrive while it runs go together in
        # the next, so under load the log's lock is taken once for many groups.
        self._appends: Coalescer[None, list[AuditRecord], int] = Coalescer(
            self._append_groups,
            window_s=APPEND_WINDOW_S,
            max_items=APPEND_MAX_GROUPS,
            max_in_flight=1,
            abandonable=False,
        )
        self.availability = Availability("audit log")
        """Down while appends fail; up again after the next that succeeds."""

    @property
    def unsigned(self) -> int:
        """Entries appended (by this hub) since its last checkpoint: the signing backlog."""
        return self._unsigned

    @property
    def store(self) -> AuditStore:
        """The store entries are appended to."""
        return self._store

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        """The audit authority's pseudonym key subjects are recorded under."""
        return self._pseudonymizer

    @property
    def verifier_key(self) -> str:
        """The C2SP verifier key of the log's checkpoints."""
        return self._signer.verifier().key_string

    def entries(self, items: Sequence[Recordable]) -> list[Entry]:
        """The entries that record ``items``, in order (each program's plan read once)."""
        now = self._clock()
        asked: dict[str, Asked] = {}
        queries: dict[tuple[str, str, SourceStatus, int], AgencyQuery] = {}
        entries = []
        for item in items:
            if isinstance(item, Refused):
                entries.append(refusal_entry(item, self._pseudonymizer, now))
                continue
            if isinstance(item, Failed):
                entries.append(failure_entry(item, self._pseudonymizer, now))
                continue
            program = item.program
            if program.id not in asked:
                asked[program.id] = asked_by(self._plan_for(program))
            entries.append(
                outcome_entry(item, asked[program.id], self._pseudonymizer, now, queries)
            )
        return entries

    async def record(self, items: Sequence[Recordable]) -> list[int]:
        """Append one entry per item in one transaction; their indexes, in order.

        Raises:
            AuditUnavailableError: the log could not be written (nothing of the group was).
        """
        records = [AuditRecord.of(entry) for entry in self.entries(items)]
        first = await self._appends.submit(None, records)
        return list(range(first, first + len(records)))

    async def _append_groups(
        self, key: None, groups: Sequence[list[AuditRecord]], waiting: Waiting
    ) -> list[int]:
        """Append the groups that gathered while the last append ran in one transaction
        (each group stays whole and in order); each group's first index."""
        del key, waiting  # appended whether or not their callers still wait
        records = [record for group in groups for record in group]
        started = time.perf_counter()
        try:
            first = await asyncio.to_thread(self._store.append, records)
        except sa.exc.SQLAlchemyError as exc:
            _appended(started, "failed")
            self.availability.report(up=False)
            _log.error("audit log unwritable: %s", exc)
            raise AuditUnavailableError(
                "the audit log cannot be written; no check can be answered unrecorded"
            ) from exc
        _appended(started, "ok")
        self.availability.report(up=True)
        self._unsigned += len(records)
        if self._unsigned >= self._checkpoint_entries:
            self._due.set()
        firsts = []
        for group in groups:
            firsts.append(first)
            first += len(group)
        return firsts

    async def record_refusal(self, item: Refused) -> int:
        """Record one refused single check, in one transaction with concurrent ones."""
        return await self._singles.submit(None, item)

    async def _record_singles(
        self, key: None, group: Sequence[Refused], waiting: Waiting
    ) -> list[int]:
        del key, waiting  # recorded whether or not its caller still waits
        return await self.record(group)

    async def drain(self) -> None:
        """Write every append still gathering or running (graceful shutdown)."""
        await self._singles.drain()
        await self._appends.drain()

    async def checkpoints(self) -> None:
        """Sign checkpoints until cancelled: when enough entries are new, or every interval."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self._checkpoint_interval_s)
            self._due.clear()
            await self.checkpoint()

    async def checkpoint(self) -> None:
        """Sign a checkpoint of the log as it stands, if anything is new (and log failures)."""
        self._unsigned = 0
        try:
            await asyncio.to_thread(self._store.issue_checkpoint, self._signer)
        except sa.exc.SQLAlchemyError as exc:
            _log.error("audit checkpoint not signed: %s", exc)
