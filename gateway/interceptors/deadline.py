"""Every call must carry a deadline: a check without one could hold agency capacity forever."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from gateway.errors import DeadlineRequiredError
from gateway.interceptors._wrap import Context, wrap_handler
from gateway.interceptors.exempt import is_open
from gateway.status import abort_with


class RequireDeadlineInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic only in stubs
    """Refuses calls that carry no deadline (INVALID_ARGUMENT, reason DEADLINE_REQUIRED)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """Wrap the handler so the deadline is checked before the method runs."""
        handler = await continuation(handler_call_details)
        if handler is None or is_open(handler_call_details.method):
            return handler

        async def require(context: Context) -> None:
            if context.time_remaining() is None:
                exc = DeadlineRequiredError("set a deadline (grpc timeout) on every call")
                await abort_with(context, exc)
                raise exc

        return wrap_handler(handler, require)
