"""Asking agencies: one batched Fetch per agency, concurrently, each bounded in time.

A failure of one agency never fails the others: it becomes that agency's
:class:`SourceOutcome` (timeout, unavailable, error) and the evaluator turns every rule
that needed it into UNKNOWN.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import grpc

from adapters.client import ConnectorClient
from adapters.errors import AdapterError
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult, Value
from gateway.engine.outcome import SourceOutcome, SourceStatus
from gateway.engine.planner import AgencyRequest

_log = logging.getLogger(__name__)

_STATUS_BY_CODE = {
    grpc.StatusCode.DEADLINE_EXCEEDED: SourceStatus.TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: SourceStatus.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: SourceStatus.UNAVAILABLE,
}


@dataclass(frozen=True)
class AgencyAnswer:
    """What one agency said about a list of subjects (``result`` is None if it failed)."""

    outcome: SourceOutcome
    result: FetchResult | None


@dataclass
class Agency:
    """A connected agency: its client, its self-description and its concurrency bound."""

    description: AgencyDescription
    client: ConnectorClient
    slots: asyncio.Semaphore


class AgencyDirectory:
    """The agencies the hub can ask, by agency id."""

    def __init__(self, agencies: Mapping[str, Agency]) -> None:
        self._agencies = dict(agencies)

    def descriptions(self) -> list[AgencyDescription]:
        """Every agency's self-description, sorted by agency id."""
        return [self._agencies[k].description for k in sorted(self._agencies)]

    def get(self, agency_id: str) -> Agency | None:
        """The agency with this id, or None when the hub does not know it."""
        return self._agencies.get(agency_id)


async def fetch_from_agency(
    agency: Agency,
    request: AgencyRequest,
    subjects: Sequence[str],
    *,
    as_of: dt.date,
    request_id: str,
    purpose: str,
    timeout_s: float,
    chunk: int,
) -> AgencyAnswer:
    """Ask one agency ``request`` about ``subjects``, in chunks of at most ``chunk``."""
    agency_id = agency.description.agency_id
    started = time.perf_counter()
    query = FetchQuery(
        subjects=(),
        attributes=request.attributes,
        predicates=request.predicates,
        as_of=as_of,
        request_id=request_id,
        purpose=purpose,
    )
    try:
        parts = await asyncio.gather(
            *(
                _fetch_chunk(
                    agency, replace(query, subjects=tuple(subjects[i : i + chunk])), timeout_s
                )
                for i in range(0, len(subjects), chunk)
            )
        )
    except grpc.aio.AioRpcError as exc:
        status = _STATUS_BY_CODE.get(exc.code(), SourceStatus.ERROR)
        return _failed(agency_id, status, f"{exc.code().name}: {exc.details()}", started)
    except TimeoutError:
        return _failed(agency_id, SourceStatus.TIMEOUT, "no answer in time", started)
    except AdapterError as exc:
        return _failed(agency_id, SourceStatus.ERROR, str(exc), started)
    result = parts[0] if len(parts) == 1 else _concat(parts, request)
    latency = _elapsed_ms(started)
    return AgencyAnswer(SourceOutcome(agency_id, SourceStatus.OK, latency), result)


async def _fetch_chunk(agency: Agency, query: FetchQuery, timeout_s: float) -> FetchResult:
    async with asyncio.timeout(timeout_s):
        async with agency.slots:
            return await agency.client.fetch(query, agency.description, timeout_s)


def _concat(parts: Sequence[FetchResult], request: AgencyRequest) -> FetchResult:
    found = [f for part in parts for f in part.found]
    values: dict[str, list[Value | None]] = {
        name: [v for part in parts for v in part.values[name]] for name in request.attributes
    }
    predicates = [
        [v for part in parts for v in part.predicates[k]] for k in range(len(request.predicates))
    ]
    return FetchResult(found=found, values=values, predicates=predicates)


def _failed(agency_id: str, status: SourceStatus, detail: str, started: float) -> AgencyAnswer:
    _log.warning("agency %s: %s (%s)", agency_id, status.name, detail)
    return AgencyAnswer(SourceOutcome(agency_id, status, _elapsed_ms(started), detail), None)


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
