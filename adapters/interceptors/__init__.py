"""The server interceptors both the hub and adapters use, and the one wrapper they share.

:mod:`adapters.interceptors.wrap` holds :class:`CallInterceptor`, through which every Sakha
interceptor (these, and the hub's in :mod:`gateway.interceptors`) acts on a call. They live
in the adapter SDK because the SDK imports nothing from the hub. A shared interceptor never
picks a status code: it raises, and the ``refuse`` function it was built with maps the
exception through its side's one table (:mod:`gateway.status` at the hub,
:mod:`adapters.server` at an adapter).
"""

from __future__ import annotations

from adapters.interceptors.malformed import RejectMalformedMessages
from adapters.interceptors.peer import RequirePeerIdentity
from adapters.interceptors.wrap import (
    STREAMED,
    CallInterceptor,
    CallKind,
    Context,
    Refuse,
    TimeLimitExceededError,
)

__all__ = [
    "STREAMED",
    "CallInterceptor",
    "CallKind",
    "Context",
    "Refuse",
    "RejectMalformedMessages",
    "RequirePeerIdentity",
    "TimeLimitExceededError",
]
