"""Deadlines: every call must carry one, and none may outlast the hub's own bound.

A check without a deadline could hold agency capacity forever, so it is refused
(INVALID_ARGUMENT, reason DEADLINE_REQUIRED). A caller's deadline is honoured only up to
``max_unary_s`` for unary calls and ``max_stream_s`` for streams: past that the hub ends the
call with DEADLINE_EXCEEDED, whatever the caller asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from gateway.errors import DeadlineRequiredError
from gateway.interceptors._wrap import Context
from gateway.interceptors.exempt import is_open
from gateway.status import abort_with

_CAPPED = "the call ran past the hub's longest allowed deadline"


class RequireDeadlineInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # stubs
    """Refuses calls without a deadline and caps how long any call may run."""

    def __init__(self, *, max_unary_s: float, max_stream_s: float) -> None:
        self._max_unary_s = max_unary_s
        self._max_stream_s = max_stream_s

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """Wrap the handler with the deadline check and the cap."""
        handler = await continuation(handler_call_details)
        if handler is None or is_open(handler_call_details.method):
            return handler
        parse, serialize = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary is not None:
            inner = handler.unary_unary
            cap = self._max_unary_s

            async def unary(request: Any, context: Context) -> Any:
                await _require(context)
                try:
                    async with asyncio.timeout(cap):
                        return await inner(request, context)
                except TimeoutError:
                    await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, _CAPPED)

            return grpc.unary_unary_rpc_method_handler(unary, parse, serialize)
        if handler.stream_stream is not None:
            inner_stream = handler.stream_stream
            cap = self._max_stream_s

            async def stream(requests: Any, context: Context) -> AsyncIterator[Any]:
                await _require(context)
                try:
                    async with asyncio.timeout(cap):
                        async for item in inner_stream(requests, context):
                            yield item
                except TimeoutError:
                    await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, _CAPPED)

            return grpc.stream_stream_rpc_method_handler(stream, parse, serialize)
        return handler  # the hub serves no other call kinds outside health and reflection


async def _require(context: Context) -> None:
    if context.time_remaining() is None:
        exc = DeadlineRequiredError("set a deadline (grpc timeout) on every call")
        await abort_with(context, exc)
        raise exc
