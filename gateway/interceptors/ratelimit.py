"""Per-organisation rate limits: a token bucket per caller organisation.

A call costs one token; CheckBatch streams additionally pay per request as they go (see
``Pipeline.check_chunk``), waiting for tokens rather than failing, so a long re-assessment
slows down instead of breaking. An empty bucket refuses a call with RESOURCE_EXHAUSTED and
RetryInfo.
"""

from __future__ import annotations

from adapters.interceptors.wrap import CallInterceptor, Context
from gateway.auth.errors import AuthenticationError, AuthenticationReason, RateLimitedError
from gateway.auth.ratelimit import RateLimiter
from gateway.interceptors.caller import caller_of
from gateway.interceptors.exempt import is_open
from gateway.security_log import SecurityEvent, record
from gateway.status import abort_with


class RateLimitInterceptor(CallInterceptor):
    """Takes one token from the caller organisation's bucket per call.

    Runs inside :class:`~gateway.interceptors.authn.AuthenticationInterceptor`; a call that
    reaches it without a caller is refused (fail closed), never let through unmetered.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__(abort_with, exempt=is_open)
        self._limiter = limiter

    async def admit(self, method: str, context: Context, request: object) -> Context:
        """Charge the caller's organisation one token, or refuse the call."""
        caller = caller_of(context)
        if caller is None:
            raise AuthenticationError(AuthenticationReason.TOKEN_MISSING, "no authenticated caller")
        organisation = caller.organisation
        limit = organisation.rate_limit
        try:
            self._limiter.acquire(organisation.id, limit.per_second, limit.burst)
        except RateLimitedError:
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
            raise
        return context
