"""One conformance run's connection to the adapter, and what earlier cases learnt from it.

Every Fetch the kit sends goes through :meth:`Session.fetch`, which in TLS mode attaches the
hub's fetch token for exactly that request (cases about tokens pass their own metadata).
Refusals and answers are judged by :func:`expect_refusal` and :func:`expect_answer`, which
name the gRPC status and its ``ErrorInfo`` reason.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sakha.v1 import connector_pb2_grpc
from sakha.v1.connector_pb2 import DescribeResponse as PB2DescribeResponse
from sakha.v1.connector_pb2 import FetchRequest as PB2FetchRequest
from sakha.v1.connector_pb2 import FetchResponse as PB2FetchResponse

from adapters import codec
from adapters.national_id import with_check_digit
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult, Predicate
from gateway.adapter_connection import AdapterConnection
from gateway.conformance.outcome import CaseFailedError

CALL_TIMEOUT_S = 10.0
"""The deadline of every call the kit makes, except where a case is about deadlines."""

PURPOSE = "conformance"
"""The ``purpose`` of every Fetch the kit sends, so an agency's log can tell them apart."""

_FILLER_START = 900_000_000

Metadata = tuple[tuple[str, str], ...]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Case:
    """One conformance case: a stable name, what it checks, and how."""

    name: str
    about: str
    run: Callable[[Session], Awaitable[str]]
    """Returns the detail of a pass; raises :class:`CaseFailedError` or
    :class:`~gateway.conformance.outcome.CaseSkippedError`."""

    @classmethod
    def of(cls, name: str, run: Callable[[Session], Awaitable[str]]) -> Case:
        """The case ``name`` that ``run`` checks, described by its docstring."""
        return cls(name, " ".join((run.__doc__ or name).split()), run)


def filler_subjects(count: int, avoid: Collection[str] = ()) -> list[str]:
    """``count`` valid national IDs (check digit right, never one repeated digit), the same
    ones every run, none of them in ``avoid``."""
    subjects: list[str] = []
    body = _FILLER_START
    while len(subjects) < count:
        subject = with_check_digit(f"{body:09d}")
        body += 1
        if len(set(subject)) > 1 and subject not in avoid:
            subjects.append(subject)
    return subjects


@dataclass
class Session:
    """The channel to the adapter as the hub's, the subjects to use, and what was learnt."""

    connection: AdapterConnection
    channel: grpc.aio.Channel
    known: tuple[str, ...]
    """Subjects the agency is said to hold (``--subject``)."""
    unknown: str
    """A valid national ID the agency does not hold."""
    described: PB2DescribeResponse | None = None
    description: AgencyDescription | None = None
    """The decoded Describe; None when it could not be decoded."""
    known_response: PB2FetchResponse | None = None
    """The raw answer to every attribute of :attr:`known`."""
    known_result: FetchResult | None = None
    """That answer decoded; None when it did not fit the query."""

    @property
    def stub(self) -> connector_pb2_grpc.ConnectorServiceAsyncStub:
        """The ConnectorService on the session's channel."""
        return connector_pb2_grpc.ConnectorServiceStub(self.channel)

    @property
    def agency_id(self) -> str:
        """The agency id the adapter describes itself with."""
        return self.need_description().agency_id

    def need_description(self) -> AgencyDescription:
        """The decoded Describe (cases that need it run only once it decoded)."""
        assert self.description is not None  # noqa: S101 - the kit runs such cases only then
        return self.description

    def query(
        self,
        subjects: Sequence[str],
        attributes: Sequence[str] = (),
        predicates: Sequence[Predicate] = (),
    ) -> FetchQuery:
        """A query as the hub would send it: today's date, a new fetch id, the kit's purpose."""
        return FetchQuery(
            subjects=tuple(subjects),
            attributes=tuple(attributes),
            predicates=tuple(predicates),
            as_of=dt.datetime.now(dt.UTC).date(),
            fetch_id=f"conformance-{uuid.uuid4()}",
            purpose=PURPOSE,
        )

    def hub_metadata(self, query: FetchQuery) -> Metadata:
        """The metadata the hub sends with ``query``: its fetch token in TLS mode."""
        token = self.connection.token(query, self.agency_id)
        return () if token is None else (("authorization", f"Bearer {token}"),)

    async def fetch(
        self,
        query: FetchQuery,
        *,
        metadata: Metadata | None = None,
        timeout: float = CALL_TIMEOUT_S,  # noqa: ASYNC109 - sent as the gRPC deadline
        stub: connector_pb2_grpc.ConnectorServiceAsyncStub | None = None,
    ) -> PB2FetchResponse:
        """Send ``query`` (with the hub's metadata unless ``metadata`` is given)."""
        return await self.send(
            codec.encode_query(query),
            metadata=self.hub_metadata(query) if metadata is None else metadata,
            timeout=timeout,
            stub=stub,
        )

    async def send(
        self,
        request: PB2FetchRequest,
        *,
        metadata: Metadata = (),
        timeout: float = CALL_TIMEOUT_S,  # noqa: ASYNC109 - sent as the gRPC deadline
        stub: connector_pb2_grpc.ConnectorServiceAsyncStub | None = None,
    ) -> PB2FetchResponse:
        """Send a request as built, valid or not."""
        return await (stub or self.stub).Fetch(request, timeout=timeout, metadata=metadata)


def said(exc: grpc.aio.AioRpcError) -> str:
    """A refusal as a report shows it: ``CODE REASON: details``."""
    reason = _reason(exc)
    head = exc.code().name if not reason else f"{exc.code().name} {reason}"
    return f"{head}: {exc.details() or 'no details'}"


def _reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]  # aio errors carry the same
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


async def expect_answer(call: Awaitable[_T], what: str) -> _T:
    """The answer to ``call``; a refusal fails the case, naming ``what`` was refused."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise CaseFailedError(f"{what} was refused: {said(exc)}") from exc


async def expect_refusal(
    call: Awaitable[object], expected: Collection[grpc.StatusCode], what: str
) -> str:
    """How ``call`` was refused, when with one of the ``expected`` codes; an answer or any
    other code fails the case."""
    names = " or ".join(code.name for code in expected)
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() in expected:
            return f"refused: {said(exc)}"
        raise CaseFailedError(f"{what}: {said(exc)}, expected {names}") from exc
    raise CaseFailedError(f"{what} was answered, expected {names}")
