"""Malformed protobuf in, INVALID_ARGUMENT out — on every server, hub and adapters alike.

gRPC deserializes a request before any handler runs, and a ``DecodeError`` there becomes
INTERNAL: to a caller, a server bug. :class:`RejectMalformedMessages` swaps each method's
deserializer for one that returns a marker instead of raising. A unary call carrying the
marker is aborted with INVALID_ARGUMENT. In a request stream the marker is passed on as an
item, so a streaming servicer can answer that item with its own error and go on: such
servicers must test items with :func:`is_malformed`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

MALFORMED_DETAIL = "the request is not a valid protobuf message for this method"


class _Malformed:
    """Stands in for a request that could not be parsed."""


_MALFORMED = _Malformed()


def _lenient(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return _MALFORMED

    return parse


async def _refuse(context: Any) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED_DETAIL)


def is_malformed(item: object) -> bool:
    """True for a streamed request that could not be parsed."""
    return item is _MALFORMED


class RejectMalformedMessages(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # stubs
    """Turns unparseable requests into INVALID_ARGUMENT instead of INTERNAL."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """Return the handler with a lenient deserializer and a check of its result."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        parse = _lenient(handler.request_deserializer)
        serialize = handler.response_serializer
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def uu(request: Any, context: Any) -> Any:
                if request is _MALFORMED:
                    await _refuse(context)
                return await inner_uu(request, context)

            return grpc.unary_unary_rpc_method_handler(uu, parse, serialize)
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream
            if not inspect.isasyncgenfunction(inner_us):  # writes with context.write

                async def us_writer(request: Any, context: Any) -> None:
                    if request is _MALFORMED:
                        await _refuse(context)
                    await inner_us(request, context)

                return grpc.unary_stream_rpc_method_handler(us_writer, parse, serialize)

            async def us(request: Any, context: Any) -> AsyncIterator[Any]:
                if request is _MALFORMED:
                    await _refuse(context)
                async for item in inner_us(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(us, parse, serialize)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            return grpc.stream_unary_rpc_method_handler(inner_su, parse, serialize)
        return grpc.stream_stream_rpc_method_handler(handler.stream_stream, parse, serialize)
