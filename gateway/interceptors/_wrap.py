"""Wrapping a gRPC method handler so an interceptor can act with the call's context.

``grpc.aio`` server interceptors see only the method name and metadata; checks that must
abort the call or read the deadline need the ``ServicerContext``, which only the handler's
behaviour receives. :func:`wrap_handler` builds a handler whose behaviour first runs
``before(context)`` and then the original behaviour, for all four call kinds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
Before = Callable[[Context], Awaitable[None]]


def wrap_handler(handler: Any, before: Before) -> Any:
    """A handler that awaits ``before(context)`` ahead of ``handler``'s behaviour.

    ``handler`` is a ``grpc.RpcMethodHandler`` whose behaviours are coroutines or async
    generators (grpc-stubs types them as synchronous, hence ``Any``).
    """
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        async def uu(request: Any, context: Context) -> Any:
            await before(context)
            return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            uu, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream

        async def us(request: Any, context: Context) -> AsyncIterator[Any]:
            await before(context)
            async for item in unary_stream(request, context):
                yield item

        return grpc.unary_stream_rpc_method_handler(
            us, handler.request_deserializer, handler.response_serializer
        )
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        async def su(requests: Any, context: Context) -> Any:
            await before(context)
            return await stream_unary(requests, context)

        return grpc.stream_unary_rpc_method_handler(
            su, handler.request_deserializer, handler.response_serializer
        )
    stream_stream = handler.stream_stream
    assert stream_stream is not None  # noqa: S101 - grpc guarantees one of the four

    async def ss(requests: Any, context: Context) -> AsyncIterator[Any]:
        await before(context)
        async for item in stream_stream(requests, context):
            yield item

    return grpc.stream_stream_rpc_method_handler(
        ss, handler.request_deserializer, handler.response_serializer
    )
