"""The hub's interceptor chain on every call style, over a real grpc.aio server on port 0.

A tiny generic service offers one method of each style (unary-unary, unary-stream as an
async generator and as a coroutine writing with ``context.write``, stream-unary,
stream-stream); each answers with the organisation :func:`caller_of` gives it, so these tests
show the caller reaching the behaviour, the deadline being required and capped, and
malformed input refused, whatever the shape of the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from adapters.interceptors import Context
from gateway.auth.ratelimit import RateLimiter
from gateway.interceptors import caller_of, hub_interceptors
from gateway.interceptors.authn import AuthenticationInterceptor
from tests.unit._relief import relief_registry_and_token

SERVICE = "sakha.test.Probe"


def _echo(data: bytes) -> bytes:
    if data == b"\xff":  # what a real message's parser would refuse
        from google.protobuf.message import DecodeError  # noqa: PLC0415

        raise DecodeError("not a message")
    return data


def _who(context: Context) -> bytes:
    caller = caller_of(context)
    return b"anonymous" if caller is None else caller.organisation.id.encode()


async def _wait_if_asked(request: bytes) -> None:
    if request == b"slow":  # an event nobody sets: only the hub's cap ends the wait
        await asyncio.Event().wait()


async def unary_unary(request: bytes, context: Context) -> bytes:
    await _wait_if_asked(request)
    return _who(context)


async def unary_stream(request: bytes, context: Context) -> AsyncIterator[bytes]:
    await _wait_if_asked(request)
    yield _who(context)


async def unary_stream_writer(request: bytes, context: Context) -> None:
    await _wait_if_asked(request)
    await context.write(_who(context))


async def stream_unary(requests: AsyncIterator[bytes], context: Context) -> bytes:
    async for request in requests:
        await _wait_if_asked(request)
    return _who(context)


async def stream_stream(requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[bytes]:
    async for request in requests:
        await _wait_if_asked(request)
        yield _who(context)


_HANDLERS = {
    "UnaryUnary": grpc.unary_unary_rpc_method_handler(unary_unary, _echo, bytes),
    "UnaryStream": grpc.unary_stream_rpc_method_handler(unary_stream, _echo, bytes),
    "UnaryStreamWriter": grpc.unary_stream_rpc_method_handler(unary_stream_writer, _echo, bytes),
    "StreamUnary": grpc.stream_unary_rpc_method_handler(stream_unary, _echo, bytes),
    "StreamStream": grpc.stream_stream_rpc_method_handler(stream_stream, _echo, bytes),
}
METHODS = list(_HANDLERS)
STREAMING = {"UnaryStream", "UnaryStreamWriter", "StreamUnary", "StreamStream"}

Call = Callable[..., Awaitable[list[bytes]]]
_RAW = (None, None)  # request serializer, response deserializer: bytes travel as they are


async def _serve(interceptors: tuple[Any, ...]) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, _HANDLERS),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def call(request: pytest.FixtureRequest) -> AsyncIterator[Call]:
    """``await call(method, payload, deadline_s=..., signed=...)`` -> the responses."""
    authenticated = getattr(request, "param", True)
    registry, token = relief_registry_and_token()
    authentication = (
        AuthenticationInterceptor(registry, audience="sakha-hub", leeway_s=30, max_lifetime_s=3600)
        if authenticated
        else None
    )
    chain = hub_interceptors(
        max_unary_s=0.3, max_stream_s=0.6, authentication=authentication, limiter=RateLimiter()
    )
    server, port = await _serve(chain)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")

    async def invoke(
        method: str, payload: bytes = b"hi", *, deadline_s: float | None = 10.0, signed: bool = True
    ) -> list[bytes]:
        path = f"/{SERVICE}/{method}"
        metadata = (("authorization", f"Bearer {token}"),) if signed else ()
        kwargs: dict[str, Any] = {"timeout": deadline_s, "metadata": metadata}
        if method.startswith("UnaryUnary"):
            return [await channel.unary_unary(path, *_RAW)(payload, **kwargs)]
        if method.startswith("UnaryStream"):
            return [r async for r in channel.unary_stream(path, *_RAW)(payload, **kwargs)]
        if method == "StreamUnary":
            return [await channel.stream_unary(path, *_RAW)(iter([payload]), **kwargs)]
        return [r async for r in channel.stream_stream(path, *_RAW)(iter([payload]), **kwargs)]

    yield invoke
    await channel.close(None)
    await server.stop(None)


async def _refusal(pending: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pending
    return caught.value


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    raise AssertionError("no ErrorInfo")


@pytest.mark.parametrize("method", METHODS)
async def test_the_authenticated_caller_reaches_the_behaviour(call: Call, method: str) -> None:
    assert await call(method) == [b"relief"]


@pytest.mark.parametrize("call", [False], indirect=True)
@pytest.mark.parametrize("method", METHODS)
async def test_without_authentication_there_is_no_caller(call: Call, method: str) -> None:
    assert await call(method, signed=False) == [b"anonymous"]


@pytest.mark.parametrize("method", METHODS)
async def test_a_call_without_a_token_is_unauthenticated(call: Call, method: str) -> None:
    error = await _refusal(call(method, signed=False))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("method", METHODS)
async def test_a_call_without_a_deadline_is_refused(call: Call, method: str) -> None:
    error = await _refusal(call(method, deadline_s=None))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _reason(error) == "DEADLINE_REQUIRED"


@pytest.mark.parametrize("method", METHODS)
async def test_the_hub_caps_every_call_style(call: Call, method: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = await _refusal(call(method, b"slow", deadline_s=30))
    took = loop.time() - started
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert _reason(error) == "DEADLINE_CAPPED"
    cap = 0.6 if method in STREAMING else 0.3
    assert cap <= took < 10, took


@pytest.mark.parametrize("method", ["UnaryUnary", "UnaryStream", "UnaryStreamWriter"])
async def test_a_malformed_unary_request_is_invalid_not_internal(call: Call, method: str) -> None:
    error = await _refusal(call(method, b"\xff"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _reason(error) == "MALFORMED_MESSAGE"
