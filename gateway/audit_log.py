"""The record step: every lookup becomes one audit entry, committed before its reply leaves.

The pipeline hands over a group — a coalesced group of single checks, or a CheckBatch chunk
with its refused items — and :meth:`AuditLog.record` turns each item into an
:class:`audit.Entry` (the subject as a keyed pseudonym, never the national ID), appends the
group's entries in **one** store transaction and returns their indexes, which the replies
carry as receipts. A single check refused in ``admit`` is recorded the same way, gathered with
concurrent ones. If the log cannot be written the group fails closed: no reply leaves
without its entry.

Checkpoints are signed apart from the checks, in batches (every ``checkpoint_entries``
entries or ``checkpoint_interval_s``, whichever first), so signing never slows a check.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from google.rpc import code_pb2, error_details_pb2

from adapters.national_id import is_valid_national_id
from audit import (
    AgencyQuery,
    AgencyStatus,
    Basis,
    BasisKind,
    Caller,
    Decision,
    Entry,
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
from gateway.checking import CheckOutcome
from gateway.coalescer import Coalescer, Waiting
from gateway.command import CheckCommand
from gateway.consent_gate import utc_now
from gateway.engine.outcome import SourceStatus
from gateway.engine.planner import Plan
from gateway.errors import AuditUnavailableError
from gateway.programs.model import Program as HubProgram
from gateway.status import status_for

_log = logging.getLogger(__name__)

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


Recordable = CheckOutcome | Refused
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


def _reason(exc: Exception) -> tuple[str, str]:
    """The gRPC code name and the stable reason a refusal is reported with."""
    status = status_for(exc)
    reason = ""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason = info.reason
            break
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad) and bad.field_violations:
            reason = bad.field_violations[0].reason
    return code_pb2.Code.Name(status.code), reason or "REFUSED"


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
    command = item.command
    code, reason = _reason(item.error)
    return Entry(
        time=now,
        request_id=_request_id(command.request_id),
        trace_id=command.trace_id,
        rpc=Rpc(command.rpc),
        caller=_caller(command),
        purpose=_identifier(command.purpose),
        program=Program(_identifier(command.program_id), None, None),
        subject=_subject(command.subject, pseudonymizer),
        basis=None,
        agencies=(),
        result=Refusal(Stage.ADMIT, code, reason),
    )


def outcome_entry(
    outcome: CheckOutcome, asked: Asked, pseudonymizer: Pseudonymizer, now: dt.datetime
) -> Entry:
    """The entry of a decided check: every Fetch that carried its subject, and the decision."""
    command = outcome.command
    agencies = []
    for source in outcome.sources:
        attributes, predicates = asked.get(source.agency_id, ((), ()))
        for fetch_id in source.fetch_ids:
            agencies.append(
                AgencyQuery(
                    agency=source.agency_id,
                    fetch_id=fetch_id,
                    attributes=attributes,
                    predicates=predicates,
                    status=_STATUSES[source.status],
                    latency_ms=max(0, source.latency_ms),
                )
            )
    program: HubProgram = outcome.program
    basis = outcome.basis
    evaluation = outcome.evaluation
    return Entry(
        time=now,
        request_id=_request_id(command.request_id),
        trace_id=command.trace_id,
        rpc=Rpc(command.rpc),
        caller=_caller(command),
        purpose=command.purpose,
        program=Program(program.id, program.version, program.ruleset_digest),
        subject=_subject(command.subject, pseudonymizer, outcome.members),
        basis=None if basis is None else Basis(BasisKind(str(basis.basis)), basis.reference),
        agencies=tuple(agencies),
        result=Decision(Verdict(evaluation.decision.name), tuple(evaluation.reason_codes)),
    )


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
            self._record_singles, window_s=0.05, max_items=1000, max_in_flight=1
        )
        self._writable = True
        self.on_writable: Callable[[bool], None] = lambda writable: None
        """Called when the log stops (False) or starts again (True) accepting appends."""

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
        entries = []
        for item in items:
            if isinstance(item, Refused):
                entries.append(refusal_entry(item, self._pseudonymizer, now))
                continue
            program = item.program
            if program.id not in asked:
                asked[program.id] = asked_by(self._plan_for(program))
            entries.append(outcome_entry(item, asked[program.id], self._pseudonymizer, now))
        return entries

    async def record(self, items: Sequence[Recordable]) -> list[int]:
        """Append one entry per item in one transaction; their indexes, in order.

        Raises:
            AuditUnavailableError: the log could not be written (nothing of the group was).
        """
        records = [AuditRecord.of(entry) for entry in self.entries(items)]
        try:
            first = await asyncio.to_thread(self._store.append, records)
        except sa.exc.SQLAlchemyError as exc:
            self._set_writable(False)
            _log.error("audit log unwritable: %s", exc)
            raise AuditUnavailableError(
                "the audit log cannot be written; no check can be answered unrecorded"
            ) from exc
        self._set_writable(True)
        self._unsigned += len(records)
        if self._unsigned >= self._checkpoint_entries:
            self._due.set()
        return list(range(first, first + len(records)))

    async def record_refusal(self, item: Refused) -> int:
        """Record one refused single check, in one transaction with concurrent ones."""
        return await self._singles.submit(None, item)

    async def _record_singles(
        self, key: None, group: Sequence[Refused], waiting: Waiting
    ) -> list[int]:
        del key, waiting  # recorded whether or not its caller still waits
        return await self.record(group)

    def _set_writable(self, writable: bool) -> None:
        if writable != self._writable:
            self._writable = writable
            self.on_writable(writable)

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
