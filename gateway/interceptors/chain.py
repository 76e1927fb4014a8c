"""The hub's interceptor chain, composed here and nowhere else."""

from __future__ import annotations

from adapters.interceptors import RejectMalformedMessages
from adapters.interceptors.wrap import ServerInterceptor
from gateway.auth.ratelimit import RateLimiter
from gateway.interceptors.authn import AuthenticationInterceptor
from gateway.interceptors.deadline import RequireDeadlineInterceptor
from gateway.interceptors.ratelimit import RateLimitInterceptor
from gateway.status import abort_with


def hub_interceptors(
    *,
    max_unary_s: float,
    max_stream_s: float,
    authentication: AuthenticationInterceptor | None,
    limiter: RateLimiter | None,
) -> tuple[ServerInterceptor, ...]:
    """The hub's server interceptors, outermost first, in this fixed order.

    1. malformed-input guard: an unparseable request is INVALID_ARGUMENT, not INTERNAL;
    2. authentication (``authentication``; None switches it off, development only): hands
       the verified caller inward (:func:`~gateway.interceptors.caller_of`);
    3. deadline: required on every call, capped at ``max_unary_s`` / ``max_stream_s``;
    4. rate limit (``limiter``, only with authentication: it charges the caller's
       organisation, so it needs the caller).

    Health and reflection pass 2-4 untouched (:mod:`gateway.interceptors.exempt`). Every
    refusal maps through :mod:`gateway.status`.
    """
    chain: list[ServerInterceptor] = [RejectMalformedMessages(abort_with)]
    if authentication is not None:
        chain.append(authentication)
    chain.append(RequireDeadlineInterceptor(max_unary_s=max_unary_s, max_stream_s=max_stream_s))
    if authentication is not None and limiter is not None:
        chain.append(RateLimitInterceptor(limiter))
    return tuple(chain)
