"""The adapter server and client, over real gRPC on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from sakha.v1 import connector_pb2 as pb2
from sakha.v1 import connector_pb2_grpc

from adapters.client import ConnectorClient
from adapters.errors import (
    AdapterConfigError,
    MalformedResponseError,
    QueryLimitError,
    SourceFailureError,
    UnknownAttributeError,
)
from adapters.sdk import (
    Adapter,
    AdapterLimits,
    AgencyDescription,
    FetchQuery,
    FetchResult,
    Predicate,
    PredicateOperator,
)
from adapters.server import ERROR_DOMAIN, SERVICE_NAME, create_adapter_server
from adapters.sql import SqlAdapter

Serve = Callable[[Adapter], Awaitable[tuple[ConnectorClient, str]]]
TIMEOUT = 10.0


class FailingAdapter(Adapter):
    """Fails every fetch with a given exception, bypassing the SDK's wrapping."""

    def __init__(self, description: AgencyDescription, error: Exception) -> None:
        self._description = description
        self._error = error

    def describe(self) -> AgencyDescription:
        return self._description

    async def fetch(self, query: FetchQuery) -> FetchResult:
        raise self._error

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        raise AssertionError("not called")


class StalledAdapter(Adapter):
    """Never answers: waits on an event nobody sets (until the call is cancelled)."""

    def __init__(self, description: AgencyDescription) -> None:
        self._description = description
        self.entered = asyncio.Event()

    def describe(self) -> AgencyDescription:
        return self._description

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture
async def channel() -> AsyncIterator[Callable[[str], grpc.aio.Channel]]:
    """Open insecure channels to targets; all closed afterwards."""
    opened: list[grpc.aio.Channel] = []

    def open_channel(target: str) -> grpc.aio.Channel:
        opened.append(grpc.aio.insecure_channel(target))
        return opened[-1]

    yield open_channel
    for each in opened:
        await each.close(None)


def _status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # stubs predate grpc.aio
    assert status is not None, "the error carries no google.rpc.Status details"
    assert isinstance(status, status_pb2.Status)
    return status


def _detail(status: status_pb2.Status, kind: type[Any]) -> Any:
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            return message
    raise AssertionError(f"no {kind.__name__} in the status details")


async def test_describe_carries_the_adapter_limits(serve: Serve, tax_adapter: SqlAdapter) -> None:
    client, _ = await serve(tax_adapter)
    described = await client.describe(TIMEOUT)
    assert described == dataclasses.replace(
        tax_adapter.describe(), max_subjects=tax_adapter.limits.max_subjects
    )
    assert described.max_subjects > 0


async def test_fetch_matches_the_adapter(serve: Serve, tax_adapter: SqlAdapter) -> None:
    client, _ = await serve(tax_adapter)
    description = await client.describe(TIMEOUT)
    query = FetchQuery(
        subjects=tuple(f"{i:010d}" for i in range(0, 2000, 2)),
        attributes=("annual_income", "business_license", "province", "members"),
        predicates=(
            Predicate("annual_income", PredicateOperator.LT, 100_000),
            Predicate("age_years", PredicateOperator.GE, 60),
        ),
        as_of=dt.date(2025, 3, 1),
    )
    remote = await client.fetch(query, description, TIMEOUT)
    assert remote == await tax_adapter.fetch(query)
    assert remote.found[:3] == [True, True, True]
    assert remote.found[-1] is False  # 1998 is beyond the population


async def test_empty_fetch(serve: Serve, tax_adapter: SqlAdapter) -> None:
    client, _ = await serve(tax_adapter)
    query = FetchQuery((), ("annual_income",))
    result = await client.fetch(query, tax_adapter.describe(), TIMEOUT)
    assert result == FetchResult(found=[], values={"annual_income": []}, predicates=[])


async def test_malformed_request_is_invalid_argument_with_the_field(
    serve: Serve, tax_adapter: SqlAdapter, channel: Callable[[str], grpc.aio.Channel]
) -> None:
    _, target = await serve(tax_adapter)
    stub = connector_pb2_grpc.ConnectorServiceStub(channel(target))
    request = pb2.FetchRequest(subjects=["0000000001"], attributes=["province"], as_of="1404-13-01")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Fetch(request, timeout=TIMEOUT)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = _status(caught.value)
    violation = _detail(status, error_details_pb2.BadRequest).field_violations[0]
    assert violation.field == "as_of"
    info = _detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, info.metadata["agency_id"]) == (
        "MALFORMED_REQUEST",
        ERROR_DOMAIN,
        "tax",
    )


async def test_unknown_attribute_is_invalid_argument(serve: Serve, tax_adapter: SqlAdapter) -> None:
    client, _ = await serve(tax_adapter)
    query = FetchQuery(("0000000001",), ("shoe_size",))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.fetch(query, tax_adapter.describe(), TIMEOUT)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "shoe_size" in (caught.value.details() or "")
    assert _detail(_status(caught.value), error_details_pb2.ErrorInfo).reason == (
        "UNKNOWN_ATTRIBUTE"
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            UnknownAttributeError("tax does not evaluate province lt"),
            (
                grpc.StatusCode.INVALID_ARGUMENT,
                "UNKNOWN_ATTRIBUTE",
                "tax does not evaluate province lt",
            ),
        ),
        (
            QueryLimitError("6000 subjects > 5000"),
            (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "QUERY_LIMIT",
                "6000 subjects > 5000",
            ),
        ),
        (
            SourceFailureError("tax: OperationalError at /srv/secret.sqlite"),
            (
                grpc.StatusCode.UNAVAILABLE,
                "SOURCE_FAILURE",
                "the agency's system failed",
            ),
        ),
        (
            RuntimeError("password=secret"),
            (
                grpc.StatusCode.INTERNAL,
                "INTERNAL",
                "internal error",
            ),
        ),
        (
            AdapterConfigError("/etc/secret.yaml: bad"),
            (
                grpc.StatusCode.INTERNAL,
                "INTERNAL",
                "internal error",
            ),
        ),
    ],
    ids=["unknown-attribute", "query-limit", "source-failure", "unexpected", "unmapped-ours"],
)
async def test_errors_map_to_statuses(
    serve: Serve,
    tax_description: AgencyDescription,
    error: Exception,
    expected: tuple[grpc.StatusCode, str, str],
) -> None:
    code, reason, details = expected
    client, _ = await serve(FailingAdapter(tax_description, error))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.fetch(FetchQuery(("0000000001",), ("province",)), tax_description, TIMEOUT)
    assert caught.value.code() is code
    assert caught.value.details() == details
    status = _status(caught.value)
    assert status.message == details
    assert _detail(status, error_details_pb2.ErrorInfo).reason == reason
    assert "secret" not in str(status)


async def test_limits_are_resource_exhausted(serve: Serve, tax_adapter: SqlAdapter) -> None:
    tax_adapter.limits = AdapterLimits(max_subjects=2)
    client, _ = await serve(tax_adapter)
    query = FetchQuery(("1", "2", "3"), ("province",))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.fetch(query, tax_adapter.describe(), TIMEOUT)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details() == "3 subjects > 2"


async def test_deadline_exceeded_propagates_unchanged(
    serve: Serve, tax_description: AgencyDescription
) -> None:
    adapter = StalledAdapter(tax_description)
    client, _ = await serve(adapter)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.fetch(FetchQuery(("0000000001",), ("province",)), tax_description, 0.3)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert adapter.entered.is_set()


async def test_unavailable_propagates_unchanged(tax_adapter: SqlAdapter) -> None:
    server, port = await create_adapter_server(tax_adapter)
    await server.stop(None)
    async with ConnectorClient(f"127.0.0.1:{port}") as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.describe(TIMEOUT)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_health_is_serving(
    serve: Serve, tax_adapter: SqlAdapter, channel: Callable[[str], grpc.aio.Channel]
) -> None:
    _, target = await serve(tax_adapter)
    stub = health_pb2_grpc.HealthStub(channel(target))
    for service in ("", SERVICE_NAME):
        request = health_pb2.HealthCheckRequest(service=service)
        response = await stub.Check(request, timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_service(
    serve: Serve, tax_adapter: SqlAdapter, channel: Callable[[str], grpc.aio.Channel]
) -> None:
    _, target = await serve(tax_adapter)
    stub = reflection_pb2_grpc.ServerReflectionStub(channel(target))
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT
    )
    responses = [response async for response in call]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


class GarbageServicer(connector_pb2_grpc.ConnectorServiceServicer):
    """An adapter that answers with a fixed, possibly malformed, response."""

    def __init__(self, describe: pb2.DescribeResponse, fetch: pb2.FetchResponse) -> None:
        self._describe = describe
        self._fetch = fetch

    async def Describe(  # noqa: N802 - gRPC method name
        self, request: pb2.DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb2.DescribeResponse:
        return self._describe

    async def Fetch(  # noqa: N802 - gRPC method name
        self, request: pb2.FetchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb2.FetchResponse:
        return self._fetch


@pytest.fixture
async def garbage_target() -> AsyncIterator[Callable[[GarbageServicer], Awaitable[str]]]:
    """Serve garbage servicers on port 0; every server is stopped afterwards."""
    servers: list[grpc.aio.Server] = []

    async def start(servicer: GarbageServicer) -> str:
        server = grpc.aio.server()
        connector_pb2_grpc.add_ConnectorServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(None)


async def test_client_refuses_a_malformed_fetch_response(
    garbage_target: Callable[[GarbageServicer], Awaitable[str]],
    tax_description: AgencyDescription,
) -> None:
    too_short = pb2.FetchResponse(
        found=[True], columns=[pb2.Column(present=[True], strings=pb2.StringColumn(values=["a"]))]
    )
    target = await garbage_target(GarbageServicer(pb2.DescribeResponse(), too_short))
    async with ConnectorClient(target) as client:
        query = FetchQuery(("0000000001", "0000000002"), ("province",))
        with pytest.raises(MalformedResponseError, match="1 rows for 2 subjects"):
            await client.fetch(query, tax_description, TIMEOUT)


async def test_client_refuses_a_malformed_description(
    garbage_target: Callable[[GarbageServicer], Awaitable[str]],
) -> None:
    bad = pb2.DescribeResponse(
        agency_id="tax", attributes=[pb2.AttributeInfo(name="x", type=pb2.ATTRIBUTE_TYPE_BOOL)]
    )
    target = await garbage_target(GarbageServicer(bad, pb2.FetchResponse()))
    async with ConnectorClient(target) as client:
        with pytest.raises(MalformedResponseError, match="sensitivity"):
            await client.describe(TIMEOUT)


async def test_client_uses_a_given_channel_and_leaves_it_open(
    serve: Serve, tax_adapter: SqlAdapter, channel: Callable[[str], grpc.aio.Channel]
) -> None:
    _, target = await serve(tax_adapter)
    shared = channel(target)
    async with ConnectorClient(shared) as client:
        await client.describe(TIMEOUT)
    async with ConnectorClient(shared) as again:  # still usable: the client did not close it
        assert (await again.describe(TIMEOUT)).agency_id == "tax"
