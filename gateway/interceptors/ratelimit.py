"""Per-organisation rate limits: a token bucket per caller organisation.

A call costs one token; CheckBatch streams additionally pay per request as they go (see the
servicer), waiting for tokens rather than failing, so a long re-assessment slows down
instead of breaking. An empty bucket refuses a call with RESOURCE_EXHAUSTED and RetryInfo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from gateway.auth.errors import RateLimitedError
from gateway.auth.ratelimit import RateLimiter
from gateway.interceptors._wrap import Context, wrap_handler
from gateway.interceptors.authn import CURRENT_CALLER
from gateway.interceptors.exempt import is_open
from gateway.security_log import SecurityEvent, record
from gateway.status import abort_with


class RateLimitInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic only in stubs
    """Takes one token from the caller organisation's bucket per call."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """Wrap the handler so the bucket is charged before the method runs."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_open(method):
            return handler

        async def charge(context: Context) -> None:
            caller = CURRENT_CALLER.get()
            if caller is None:  # authentication is off (insecure development mode)
                return
            organisation = caller.organisation
            limit = organisation.rate_limit
            try:
                self._limiter.acquire(organisation.id, limit.per_second, limit.burst)
            except RateLimitedError as exc:
                record(
                    SecurityEvent(
                        "rate_limited",
                        "RATE_LIMITED",
                        method,
                        context.peer(),
                        organisation.id,
                        caller.operator,
                    )
                )
                await abort_with(context, exc)
                raise

        return wrap_handler(handler, charge)
