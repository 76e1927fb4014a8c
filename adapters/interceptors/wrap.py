"""The one way a Sakha interceptor acts on a call: :class:`CallInterceptor`.

``grpc.aio`` server interceptors see only the method name and metadata; checks that must
refuse the call, read its deadline or hand something to the servicer need the
``ServicerContext``, which only the handler's behaviour receives. A :class:`CallInterceptor`
therefore wraps the method's handler, and this module is the only place that knows the
shapes a behaviour can take:

- the four call kinds (:class:`CallKind`): unary or streamed request, one response or many;
- for a response stream, an (async or sync) generator, or a coroutine that writes with
  ``context.write`` (the wrapper keeps that style: grpc tells them apart by inspection);
- for one response, a coroutine or a plain function.

Before the behaviour runs, :meth:`CallInterceptor.admit` either returns the context the
behaviour gets (the same one, or a wrapper carrying what the interceptor learnt, such as the
authenticated caller) or raises. A raised exception is a refusal: it is handed to the
interceptor's ``refuse`` function, which aborts the call through its side's one status table
(:func:`gateway.status.abort_with` at the hub, :func:`adapters.server.refuse` at an adapter).
No interceptor aborts with a code of its own.

An interceptor may also bound how long the behaviour runs (:meth:`CallInterceptor.time_limit_s`);
past it the call is refused with :class:`TimeLimitExceededError`.

Wrapped handlers are remembered per method, so a call pays for the checks, not the wrapping.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import grpc

if TYPE_CHECKING:
    ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:  # grpc's runtime classes are not generic
    ServerInterceptor = grpc.aio.ServerInterceptor
    Context = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler

Refuse = Callable[[Context, Exception], Awaitable[None]]
"""Aborts a call with the status its side's table gives an exception (it raises)."""

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]

STREAMED: Final = object()
"""What :meth:`CallInterceptor.admit` gets as the request of a client-streaming call."""


class TimeLimitExceededError(Exception):
    """The call ran past the longest this server lets a call of its kind run."""


class CallKind(enum.Enum):
    """The four shapes of a gRPC method: is the request streamed, is the response."""

    UNARY_UNARY = (False, False)
    UNARY_STREAM = (False, True)
    STREAM_UNARY = (True, False)
    STREAM_STREAM = (True, True)

    @property
    def streams_requests(self) -> bool:
        """The client sends a stream of requests."""
        return self.value[0]

    @property
    def streams(self) -> bool:
        """Either side streams (such calls may run longer than a unary one)."""
        return self.value[0] or self.value[1]


_FACTORIES: Final = {
    CallKind.UNARY_UNARY: grpc.unary_unary_rpc_method_handler,
    CallKind.UNARY_STREAM: grpc.unary_stream_rpc_method_handler,
    CallKind.STREAM_UNARY: grpc.stream_unary_rpc_method_handler,
    CallKind.STREAM_STREAM: grpc.stream_stream_rpc_method_handler,
}


def _guard_every_method(method: str) -> bool:
    del method
    return False


class CallInterceptor(ServerInterceptor, abc.ABC):
    """A server interceptor that admits (or refuses) each call before its behaviour runs."""

    def __init__(
        self, refuse: Refuse, *, exempt: Callable[[str], bool] = _guard_every_method
    ) -> None:
        """Refuse calls with ``refuse``; leave methods for which ``exempt`` is true alone."""
        self.refuse = refuse
        self._exempt = exempt
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    @abc.abstractmethod
    async def admit(self, method: str, context: Context, request: object) -> Context:
        """The context the behaviour runs with; raise to refuse the call.

        Args:
            method: the full method name, ``/package.Service/Method``.
            context: the call's context (an outer interceptor's wrapper, perhaps).
            request: the request of a unary-request call, :data:`STREAMED` otherwise.
        """

    def time_limit_s(self, kind: CallKind) -> float | None:
        """The longest a call of ``kind`` may run once admitted (None: no bound of ours)."""
        del kind
        return None

    def request_deserializer(
        self, deserialize: Callable[[bytes], Any] | None
    ) -> Callable[[bytes], Any] | None:
        """The deserializer the wrapped handler uses (by default the method's own)."""
        return deserialize

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        """The method's handler, wrapped so every call passes :meth:`admit` first."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or self._exempt(method):
            return handler  # an unknown method answers UNIMPLEMENTED, running nothing
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = _wrap(handler, self, method)
        self._wrapped[method] = (handler, wrapped)  # one entry per registered method
        return wrapped


def _kind(handler: Handler) -> tuple[CallKind, Callable[..., Any]]:
    for kind, behaviour in (
        (CallKind.UNARY_UNARY, handler.unary_unary),
        (CallKind.UNARY_STREAM, handler.unary_stream),
        (CallKind.STREAM_UNARY, handler.stream_unary),
        (CallKind.STREAM_STREAM, handler.stream_stream),
    ):
        if behaviour is not None:
            return kind, behaviour
    raise TypeError("a method handler without a behaviour cannot be wrapped")


class _Unbounded:
    """Stands in for ``asyncio.timeout`` when an interceptor sets no time limit."""

    async def __aenter__(self) -> _Unbounded:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def expired(self) -> bool:
        return False


_UNBOUNDED: Final = _Unbounded()


async def _bounded(
    responses: Any, deadline: float | None, over_time: Callable[[], Awaitable[None]]
) -> AsyncIterator[Any]:
    """``responses`` (a sync or async iterable), each item produced before ``deadline``.

    The limit bounds the behaviour's own work, item by item, never the time grpc takes to
    send an item to a slow client: a timeout across ``yield`` would fire inside grpc's send
    code and end the call CANCELLED instead of refused.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(responses, AsyncIterable):
        for response in responses:
            if deadline is not None and loop.time() > deadline:
                await over_time()
            yield response
        return
    iterator = aiter(responses)
    try:
        while True:
            timeout = _UNBOUNDED if deadline is None else asyncio.timeout_at(deadline)
            try:
                async with timeout:
                    response = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not timeout.expired():
                    raise
                await over_time()
            yield response
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


def _wrap(handler: Handler, interceptor: CallInterceptor, method: str) -> Handler:
    """``handler`` with ``interceptor`` admitting each call, whatever the call's shape."""
    kind, inner = _kind(handler)
    limit = interceptor.time_limit_s(kind)
    refuse = interceptor.refuse

    async def admit(context: Context, request: object) -> Context:
        try:
            return await interceptor.admit(method, context, request)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # every failure to admit is a refusal, never a pass
            await refuse(context, exc)
            raise  # refuse aborts; this only keeps a broken refuse from admitting

    def bound() -> Any:
        return _UNBOUNDED if limit is None else asyncio.timeout(limit)

    async def over_time(context: Context) -> None:
        await refuse(
            context,
            TimeLimitExceededError(f"the call ran past the longest allowed deadline ({limit:g} s)"),
        )

    def unary_request(request: Any) -> object:
        return STREAMED if kind.streams_requests else request

    # One response, or a stream written with context.write: a coroutine either way.
    async def coroutine(request: Any, context: Context) -> Any:
        inner_context = await admit(context, unary_request(request))
        timeout = bound()
        try:
            async with timeout:
                result = inner(request, inner_context)
                return await result if inspect.isawaitable(result) else result
        except TimeoutError:
            if not timeout.expired():
                raise
            await over_time(context)

    async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
        inner_context = await admit(context, unary_request(request))
        deadline = None if limit is None else asyncio.get_running_loop().time() + limit
        responses = inner(request, inner_context)
        async for response in _bounded(responses, deadline, lambda: over_time(context)):
            yield response

    yields = kind.value[1] and not inspect.iscoroutinefunction(inner)
    return _FACTORIES[kind](
        generator if yields else coroutine,
        request_deserializer=interceptor.request_deserializer(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )
