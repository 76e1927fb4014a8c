"""Authentication: a JWT bearer token in the ``authorization`` metadata, or no call.

The verified caller is handed to the inner behaviour with the context
(:func:`gateway.interceptors.caller_of` reads it): authorization needs the request's program
and purpose, which only the servicer sees.

A verified token is remembered (by its SHA-256, never the text) until it expires: a client
reuses its token for many calls, and verifying the signature on each one cost ~90 µs of the
event loop per call, enough to break up coalescing under load. The registry is fixed for the
life of the hub, so a remembered verdict cannot go stale before ``exp``.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from adapters.interceptors.wrap import CallInterceptor, Context
from gateway.auth.errors import AuthenticationError
from gateway.auth.registry import ClientRegistry
from gateway.auth.tokens import Caller, verify_token
from gateway.interceptors.caller import AuthenticatedContext
from gateway.interceptors.exempt import is_open
from gateway.security_log import SecurityEvent, record
from gateway.status import abort_with

_BEARER = "bearer "
VERIFIED_CACHE_SIZE = 10_000
"""Verified tokens remembered at once; the oldest is forgotten first."""


class AuthenticationInterceptor(CallInterceptor):
    """Verifies the bearer token of every call except health and reflection."""

    def __init__(
        self,
        registry: ClientRegistry,
        *,
        audience: str,
        leeway_s: int,
        max_lifetime_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(abort_with, exempt=is_open)
        self._registry = registry
        self._audience = audience
        self._leeway_s = leeway_s
        self._max_lifetime_s = max_lifetime_s
        self._clock = clock
        self._verified: OrderedDict[bytes, Caller] = OrderedDict()

    def authenticate(self, token: str) -> Caller:
        """The caller ``token`` proves, from the cache or by verifying it.

        Raises:
            AuthenticationError: the token is missing, malformed, forged or expired.
        """
        now = self._clock()
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._verified.get(key)
        if cached is not None and now <= cached.expires_at + self._leeway_s:
            return cached
        caller = verify_token(
            token,
            self._registry,
            audience=self._audience,
            now=now,
            leeway_s=self._leeway_s,
            max_lifetime_s=self._max_lifetime_s,
        )
        self._verified[key] = caller
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return caller

    async def admit(self, method: str, context: Context, request: object) -> Context:
        """The context carrying the caller the token proves; refuse without one."""
        started = time.time_ns()
        token = _bearer_token(context.invocation_metadata())
        try:
            caller = self.authenticate(token or "")
        except AuthenticationError as exc:
            record(SecurityEvent("unauthenticated", exc.reason, method, context.peer()))
            raise
        return AuthenticatedContext.of(context, caller, (started, time.time_ns()))


def _bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            if value[: len(_BEARER)].lower() == _BEARER:
                return value[len(_BEARER) :].strip()
            return ""
    return None
