"""Authentication: a JWT bearer token in the ``authorization`` metadata, or no call.

The verified caller is put in :data:`CURRENT_CALLER` for the servicer (authorization needs
the request's program and purpose, which only the servicer sees).

A verified token is remembered (by its SHA-256, never the text) until it expires: a client
reuses its token for many calls, and verifying the signature on each one cost ~90 µs of the
event loop per call, enough to break up coalescing under load. The registry is fixed for the
life of the hub, so a remembered verdict cannot go stale before ``exp``.
"""

from __future__ import annotations

import contextvars
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from gateway.auth.errors import AuthenticationError
from gateway.auth.registry import ClientRegistry
from gateway.auth.tokens import Caller, verify_token
from gateway.interceptors._wrap import Context, wrap_handler
from gateway.interceptors.exempt import is_open
from gateway.security_log import SecurityEvent, record
from gateway.status import abort_with

CURRENT_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "sakha_caller", default=None
)
"""The authenticated caller of the call being served (None outside a call)."""

_BEARER = "bearer "
VERIFIED_CACHE_SIZE = 10_000
"""Verified tokens remembered at once; the oldest is forgotten first."""


class AuthenticationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic only in stubs
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

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """Wrap the handler so the token is checked before the method runs."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_open(method):
            return handler
        token = _bearer_token(handler_call_details.invocation_metadata)

        async def authenticate(context: Context) -> None:
            try:
                caller = self.authenticate(token or "")
            except AuthenticationError as exc:
                record(SecurityEvent("unauthenticated", exc.reason, method, context.peer()))
                await abort_with(context, exc)
                raise
            CURRENT_CALLER.set(caller)

        return wrap_handler(handler, authenticate)


def _bearer_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            if value[: len(_BEARER)].lower() == _BEARER:
                return value[len(_BEARER) :].strip()
            return ""
    return None
