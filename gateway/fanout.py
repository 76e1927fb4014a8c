"""Asking agencies: one batched Fetch per agency, concurrently, each bounded in time.

A failure of one agency never fails the others: it becomes that agency's
:class:`SourceOutcome` (timeout, unavailable, error) and the evaluator turns every rule
that needed it into UNKNOWN. Within one agency, a request larger than its chunk size is
sent as several Fetch calls; the first that fails cancels its siblings, since the answer is
unusable without every part.

The hub reaches an agency through an :class:`AgencyConnection`: over gRPC
(:class:`RemoteAgency`) in production, or in-process (:class:`LocalAgency`, any SDK
:class:`~adapters.sdk.Adapter`) for program test cases and fast tests. Both are asked the
same way and their failures are classified alike.

Every Fetch to a remote agency carries a token the hub signs for that call alone
(:class:`~gateway.fetch_tokens.FetchTokenSigner`): its own subjects and fetch id, the
attributes and predicates asked, the purpose and the consent or mandate references.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from opentelemetry.trace import SpanKind, StatusCode

from adapters.client import ConnectorClient
from adapters.errors import AdapterError, SourceFailureError
from adapters.sdk import Adapter, AgencyDescription, FetchQuery, FetchResult, Value
from adapters.telemetry import span_under
from gateway import metrics
from gateway.engine.outcome import SourceOutcome, SourceStatus
from gateway.engine.planner import AgencyRequest
from gateway.fetch_tokens import FetchTokenSigner

_log = logging.getLogger(__name__)

_STATUS_BY_CODE = {
    grpc.StatusCode.DEADLINE_EXCEEDED: SourceStatus.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: SourceStatus.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: SourceStatus.UNAVAILABLE,
}


class AgencyConnection(Protocol):
    """How the hub asks one agency: its self-description and a bounded Fetch."""

    @property
    def description(self) -> AgencyDescription:
        """The agency's self-description (read once, when it was connected)."""
        ...

    async def fetch(self, query: FetchQuery, timeout_s: float, token: str | None) -> FetchResult:
        """Answer ``query`` within ``timeout_s`` seconds; ``token`` is its fetch token.

        Raises:
            grpc.aio.AioRpcError, AdapterError, TimeoutError: the agency did not answer.
        """
        ...


@dataclass
class RemoteAgency:
    """An agency reached over gRPC, with a bound on concurrent calls to it."""

    description: AgencyDescription
    client: ConnectorClient
    slots: asyncio.Semaphore

    async def fetch(self, query: FetchQuery, timeout_s: float, token: str | None) -> FetchResult:
        """Call the agency's Fetch with ``timeout_s`` as the gRPC deadline and ``token``."""
        async with self.slots:
            return await self.client.fetch(query, self.description, timeout_s, token=token)


class LocalAgency:
    """An agency answered in-process by an SDK adapter (no network, same validation)."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter
        self.description = adapter.describe()

    async def fetch(self, query: FetchQuery, timeout_s: float, token: str | None) -> FetchResult:
        """Ask the adapter through the SDK's public ``fetch`` (in-process: no token needed)."""
        del timeout_s, token  # the caller bounds the call with asyncio.timeout
        return await self._adapter.fetch(query)


class AgencyDirectory:
    """The agencies the hub can ask, by agency id."""

    def __init__(self, agencies: Mapping[str, AgencyConnection]) -> None:
        self._agencies = dict(agencies)

    @classmethod
    def local(cls, adapters: Iterable[Adapter]) -> AgencyDirectory:
        """A directory of in-process agencies, one per adapter."""
        connections = [LocalAgency(adapter) for adapter in adapters]
        return cls({c.description.agency_id: c for c in connections})

    def descriptions(self) -> list[AgencyDescription]:
        """Every agency's self-description, sorted by agency id."""
        return [self._agencies[k].description for k in sorted(self._agencies)]

    def get(self, agency_id: str) -> AgencyConnection | None:
        """The agency with this id, or None when the hub does not know it."""
        return self._agencies.get(agency_id)


@dataclass(frozen=True)
class AgencyAnswer:
    """What one agency said about a list of subjects (``result`` is None if it failed).

    ``fetch_ids`` are the ids of the Fetch calls made, in order; call ``k`` carried the
    subjects at rows ``k * chunk`` to ``(k + 1) * chunk - 1``.
    """

    outcome: SourceOutcome
    result: FetchResult | None
    fetch_ids: tuple[str, ...] = ()
    chunk: int = 1

    def fetch_ids_for(self, rows: Sequence[int]) -> tuple[str, ...]:
        """The ids of the Fetch calls that carried ``rows`` (in call order)."""
        ids = self.fetch_ids
        if len(ids) <= 1 or not rows:
            return ids if rows else ()
        first, last = min(rows) // self.chunk, max(rows) // self.chunk
        if first == last:  # a household's rows are adjacent: nearly always one call
            return ids[first : first + 1]
        return tuple(ids[k] for k in sorted({row // self.chunk for row in rows}))


def new_fetch_id() -> str:
    """A fresh id for one Fetch call (96 random bits, hex)."""
    return secrets.token_hex(12)


async def fetch_from_agency(
    agency: AgencyConnection,
    request: AgencyRequest,
    subjects: Sequence[str],
    *,
    as_of: dt.date,
    purpose: str,
    timeout_s: float,
    chunk: int,
    tokens: FetchTokenSigner | None = None,
    basis: Sequence[str] = (),
) -> AgencyAnswer:
    """Ask one agency ``request`` about ``subjects``, in Fetch calls of at most ``chunk``.

    With ``tokens`` each call carries its own fetch token, naming ``basis`` (the consent and
    mandate references the fetch is made under).
    """
    agency_id = agency.description.agency_id
    started = time.perf_counter()
    queries = [
        FetchQuery(
            subjects=tuple(subjects[i : i + chunk]),
            attributes=request.attributes,
            predicates=request.predicates,
            as_of=as_of,
            fetch_id=new_fetch_id(),
            purpose=purpose,
        )
        for i in range(0, len(subjects), chunk)
    ]
    fetch_ids = tuple(q.fetch_id for q in queries)
    signed = [
        (q, None if tokens is None else tokens.mint(q, agency_id=agency_id, basis=basis))
        for q in queries
    ]
    attributes: dict[str, str | int] = {"sakha.agency": agency_id, "sakha.subjects": len(subjects)}
    fetching = span_under(f"fetch {agency_id}", None, kind=SpanKind.CLIENT, attributes=attributes)
    with fetching as span:
        try:
            parts = await _all_or_nothing(agency, signed, timeout_s)
        except (grpc.aio.AioRpcError, AdapterError, TimeoutError) as exc:
            status, cause = _classify(exc)
            _log.warning(
                "agency %s: %s (%s) fetch ids %s", agency_id, status.name, cause, fetch_ids
            )
            span.set_status(StatusCode.ERROR, status.name)
            outcome = SourceOutcome(agency_id, status, _elapsed_ms(started), PUBLIC_DETAIL[status])
            _measure(outcome)
            return AgencyAnswer(outcome, None, fetch_ids, chunk)
    result = parts[0] if len(parts) == 1 else _concat(parts, request)
    outcome = SourceOutcome(agency_id, SourceStatus.OK, _elapsed_ms(started))
    _measure(outcome)
    return AgencyAnswer(outcome, result, fetch_ids, chunk)


def _measure(outcome: SourceOutcome) -> None:
    attributes = {"sakha.agency": outcome.agency_id, "sakha.status": outcome.status.name}
    metrics.FETCH_DURATION.record(outcome.latency_ms, attributes)
    if outcome.status is not SourceStatus.OK:
        metrics.AGENCY_FAILURES.add(1, attributes)


async def _all_or_nothing(
    agency: AgencyConnection,
    queries: Sequence[tuple[FetchQuery, str | None]],
    timeout_s: float,
) -> list[FetchResult]:
    """Every (query, token)'s result, in order; the first failure cancels the rest and is
    raised."""

    async def one(query: FetchQuery, token: str | None) -> FetchResult:
        async with asyncio.timeout(timeout_s):
            return await agency.fetch(query, timeout_s, token)

    if len(queries) == 1:
        return [await one(*queries[0])]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(q, t)) for q, t in queries]
    except* (grpc.aio.AioRpcError, AdapterError, TimeoutError) as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


PUBLIC_DETAIL = {
    SourceStatus.TIMEOUT: "the agency did not answer in time",
    SourceStatus.UNAVAILABLE: "the agency could not be reached or its system failed",
    SourceStatus.ERROR: "the agency's answer could not be used",
}
"""What a reply says of a failed agency. The cause (addresses, the agency's own error text)
stays in the hub's log, under the fetch ids, for operators: a relief agency's system learns
that a source failed and how, never the internals of another agency."""


def _classify(exc: Exception) -> tuple[SourceStatus, str]:
    """A failed Fetch's status and its cause (for the log), from gRPC or a local adapter."""
    if isinstance(exc, grpc.aio.AioRpcError):
        status = _STATUS_BY_CODE.get(exc.code(), SourceStatus.ERROR)
        return status, f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return SourceStatus.TIMEOUT, "no answer in time"
    if isinstance(exc, SourceFailureError):
        return SourceStatus.UNAVAILABLE, str(exc)
    return SourceStatus.ERROR, str(exc)


def _concat(parts: Sequence[FetchResult], request: AgencyRequest) -> FetchResult:
    found = [f for part in parts for f in part.found]
    values: dict[str, list[Value | None]] = {
        name: [v for part in parts for v in part.values[name]] for name in request.attributes
    }
    predicates = [
        [v for part in parts for v in part.predicates[k]] for k in range(len(request.predicates))
    ]
    return FetchResult(found=found, values=values, predicates=predicates)


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
