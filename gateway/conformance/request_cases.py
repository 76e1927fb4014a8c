"""Requests the hub never sends, or sends at the edge: limits, empty and malformed requests,
undeclared attributes and operators, an oversized message, and deadlines.

The statuses expected are the ones ``docs/adapters.md`` documents (section Errors): a
request larger than the agency accepts is ``RESOURCE_EXHAUSTED``, so the hub can tell "split
the batch" from "fix the plan"; everything malformed or not served is ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import time

import grpc
from sakha.v1 import connector_pb2_grpc
from sakha.v1.connector_pb2 import FetchRequest as PB2FetchRequest

from adapters.sdk import OPERATORS_ALLOWED, AttributeType, Predicate, PredicateOperator
from adapters.server import MAX_MESSAGE_BYTES, SERVICE_NAME
from gateway.conformance.outcome import CaseFailedError, CaseSkippedError
from gateway.conformance.session import (
    Session,
    expect_answer,
    expect_refusal,
    filler_subjects,
    said,
)

HUB_CHUNK_SUBJECTS = 1000
"""The most subjects the hub sends in one Fetch by default (``fetch_chunk_subjects``)."""

HUB_TIMEOUT_S = 3.0
"""How long the hub waits for a Fetch by default (``agency_timeout_ms``)."""

SHORT_DEADLINE_S = 0.02
_LATE_S = 1.0  # how far past its deadline a call may end before the case says it hung

_GARBAGE = b"\x0a\xff\xff\xff\xff\x0f\x01"  # field 1, a length far beyond the bytes sent
_INVALID = (grpc.StatusCode.INVALID_ARGUMENT,)


def _limit(session: Session) -> int:
    limit = session.need_description().max_subjects
    if not limit:
        raise CaseSkippedError("Describe states no max_subjects: the hub cannot bound a Fetch")
    return limit


def _subjects(session: Session, count: int) -> list[str]:
    given = list(session.known[:count])
    return given + filler_subjects(count - len(given), avoid=session.known)


def _first_attribute(session: Session) -> str:
    return session.need_description().attributes[0].name


async def at_max_subjects(session: Session) -> str:
    """A Fetch of exactly ``max_subjects`` subjects is answered, one row each."""
    limit = _limit(session)
    query = session.query(_subjects(session, limit), [_first_attribute(session)])
    response = await expect_answer(session.fetch(query), f"a Fetch of {limit} subjects")
    if len(response.found) != limit:
        raise CaseFailedError(f"{len(response.found)} rows for {limit} subjects")
    return f"{limit} subjects answered"


async def over_max_subjects(session: Session) -> str:
    """One subject more than ``max_subjects`` is refused with RESOURCE_EXHAUSTED."""
    limit = _limit(session)
    query = session.query(_subjects(session, limit + 1), [_first_attribute(session)])
    return await expect_refusal(
        session.fetch(query),
        (grpc.StatusCode.RESOURCE_EXHAUSTED,),
        f"a Fetch of {limit + 1} subjects (max_subjects {limit})",
    )


async def no_subjects(session: Session) -> str:
    """A Fetch of no subjects is answered with no rows and one empty column per attribute."""
    names = [spec.name for spec in session.need_description().attributes]
    query = session.query([], names)
    response = await expect_answer(session.fetch(query), "a Fetch of no subjects")
    if response.found or len(response.columns) != len(names):
        raise CaseFailedError(
            f"{len(response.found)} rows and {len(response.columns)} columns "
            f"for no subjects and {len(names)} attributes"
        )
    if any(column.present for column in response.columns):
        raise CaseFailedError("a column has values for no subjects")
    return f"no rows, {len(names)} empty columns"


async def empty_message(session: Session) -> str:
    """An empty FetchRequest (no date) is refused with INVALID_ARGUMENT; in TLS mode a refusal
    of its missing token (PERMISSION_DENIED) is as good."""
    expected: tuple[grpc.StatusCode, ...] = _INVALID
    if session.connection.pki is not None:
        expected = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)
    return await expect_refusal(session.send(PB2FetchRequest()), expected, "an empty request")


async def malformed_protobuf(session: Session) -> str:
    """Bytes that are not a FetchRequest are refused with INVALID_ARGUMENT (not INTERNAL)."""
    raw = session.channel.unary_unary(f"/{SERVICE_NAME}/Fetch", None, None)
    query = session.query(session.known[:1])
    return await expect_refusal(
        raw(_GARBAGE, timeout=10.0, metadata=session.hub_metadata(query)),
        _INVALID,
        "a request that is not protobuf",
    )


async def unknown_attribute(session: Session) -> str:
    """An attribute the agency does not describe is refused with INVALID_ARGUMENT."""
    query = session.query(session.known[:1], ["conformance_no_such_attribute"])
    return await expect_refusal(session.fetch(query), _INVALID, "a Fetch of an unknown attribute")


async def undeclared_operator(session: Session) -> str:
    """A predicate with an operator the attribute does not declare is refused with
    INVALID_ARGUMENT: the agency never compares what it did not promise to."""
    for spec in session.need_description().attributes:
        undeclared = sorted(
            set(PredicateOperator) - spec.predicate_operators, key=lambda op: op.value
        )
        allowed = [op for op in undeclared if op in OPERATORS_ALLOWED[spec.type]] or undeclared
        if allowed and spec.type is not AttributeType.STRING_LIST:
            predicate = Predicate(spec.name, allowed[0], _OPERAND[spec.type])
            break
    else:
        raise CaseSkippedError("every attribute declares every operator")
    query = session.query(session.known[:1], predicates=[predicate])
    return await expect_refusal(
        session.fetch(query),
        _INVALID,
        f"a predicate {predicate.attribute} {predicate.operator.value}, which is not declared",
    )


async def oversized_message(session: Session) -> str:
    """A request over 64 MiB, the contract's message bound, is refused with
    RESOURCE_EXHAUSTED."""
    request = PB2FetchRequest(subjects=["0" * (MAX_MESSAGE_BYTES + 1024)], as_of="2026-01-01")
    unbounded = (("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1))
    async with session.connection.channel(options=unbounded) as channel:
        stub = connector_pb2_grpc.ConnectorServiceStub(channel)
        return await expect_refusal(
            session.send(request, stub=stub, timeout=30.0),
            (grpc.StatusCode.RESOURCE_EXHAUSTED,),
            "a request of 64 MiB + 1 KiB",
        )


async def short_deadline(session: Session) -> str:
    """A Fetch whose 20 ms deadline passes ends by then (answered or DEADLINE_EXCEEDED), and
    the adapter answers the next Fetch: a deadline does not wedge it."""
    query = session.query(
        _subjects(session, _chunk(session)), [s.name for s in session.need_description().attributes]
    )
    started = time.monotonic()
    try:
        await session.fetch(query, timeout=SHORT_DEADLINE_S)
        outcome = "answered within it"
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
            raise CaseFailedError(f"a Fetch with a 20 ms deadline: {said(exc)}") from exc
        outcome = "DEADLINE_EXCEEDED"
    took = time.monotonic() - started
    if took > SHORT_DEADLINE_S + _LATE_S:
        raise CaseFailedError(f"a Fetch with a 20 ms deadline ended after {took * 1000:.0f} ms")
    again = session.query(session.known, [_first_attribute(session)])
    await expect_answer(session.fetch(again), "the Fetch after a deadline")
    return f"{outcome}; the next Fetch was answered"


async def within_hub_timeout(session: Session) -> str:
    """A Fetch as large as the hub sends (1,000 subjects, or ``max_subjects`` if fewer) of
    every attribute is answered within the hub's default 3 s ``agency_timeout_ms``."""
    count = _chunk(session)
    names = [spec.name for spec in session.need_description().attributes]
    query = session.query(_subjects(session, count), names)
    started = time.monotonic()
    try:
        await session.fetch(query, timeout=HUB_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        raise CaseFailedError(f"a Fetch of {count} subjects: {said(exc)}") from exc
    took = (time.monotonic() - started) * 1000
    return f"{count} subjects × {len(names)} attributes in {took:.0f} ms"


def _chunk(session: Session) -> int:
    limit = session.need_description().max_subjects
    return min(limit, HUB_CHUNK_SUBJECTS) if limit else HUB_CHUNK_SUBJECTS


_OPERAND: dict[AttributeType, bool | int | str] = {
    AttributeType.BOOL: True,
    AttributeType.INT64: 0,
    AttributeType.STRING: "",
}
