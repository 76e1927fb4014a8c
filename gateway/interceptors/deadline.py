"""Deadlines: every call must carry one, and none may outlast the hub's own bound.

A call without a deadline could hold agency capacity forever, so it is refused
(INVALID_ARGUMENT, reason DEADLINE_REQUIRED), whatever its kind. A caller's deadline is
honoured only up to ``max_unary_s`` for unary calls and ``max_stream_s`` for calls that
stream either way: past that the hub ends the call with DEADLINE_EXCEEDED
(:class:`~adapters.interceptors.TimeLimitExceededError`), whatever the caller asked for.
"""

from __future__ import annotations

from adapters.interceptors.wrap import CallInterceptor, CallKind, Context
from gateway.errors import DeadlineRequiredError
from gateway.interceptors.exempt import is_open
from gateway.status import abort_with


class RequireDeadlineInterceptor(CallInterceptor):
    """Refuses calls without a deadline and caps how long any call may run."""

    def __init__(self, *, max_unary_s: float, max_stream_s: float) -> None:
        super().__init__(abort_with, exempt=is_open)
        self._max_unary_s = max_unary_s
        self._max_stream_s = max_stream_s

    async def admit(self, method: str, context: Context, request: object) -> Context:
        """Refuse a call that carries no deadline."""
        if context.time_remaining() is None:
            raise DeadlineRequiredError("set a deadline (grpc timeout) on every call")
        return context

    def time_limit_s(self, kind: CallKind) -> float:
        """The hub's cap for ``kind``: the stream cap when either side streams."""
        return self._max_stream_s if kind.streams else self._max_unary_s
