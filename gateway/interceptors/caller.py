"""The authenticated caller, handed to the servicer as a value: :func:`caller_of`.

The authentication interceptor gives the inner behaviour an :class:`AuthenticatedContext`:
the call's own ``ServicerContext`` (every attribute is the real context's) plus the verified
:class:`~gateway.auth.tokens.Caller`. Nothing reads the caller from ambient state.
"""

from __future__ import annotations

from typing import Any, cast

from adapters.interceptors.wrap import Context
from gateway.auth.tokens import Caller


class AuthenticatedContext:
    """A call's context that also carries the caller its token proved, and when the proof
    began and ended (``time.time_ns()``, for the call's trace)."""

    __slots__ = ("_context", "authenticated_ns", "caller")

    def __init__(
        self, context: Context, caller: Caller, authenticated_ns: tuple[int, int] | None = None
    ) -> None:
        """Wrap ``context`` for ``caller``."""
        self._context = context
        self.caller = caller
        self.authenticated_ns = authenticated_ns

    def __getattr__(self, name: str) -> Any:
        """Everything else is the real context's (abort, deadline, metadata, read, write)."""
        return getattr(self._context, name)

    @classmethod
    def of(
        cls, context: Context, caller: Caller, authenticated_ns: tuple[int, int] | None = None
    ) -> Context:
        """``context`` carrying ``caller``, typed as the context it stands in for."""
        return cast("Context", cls(context, caller, authenticated_ns))


def caller_of(context: Context) -> Caller | None:
    """The authenticated caller of this call; None only when authentication is switched off."""
    return context.caller if isinstance(context, AuthenticatedContext) else None


def authentication_time(context: Context) -> tuple[int, int] | None:
    """When this call's token check began and ended (``time.time_ns()``); None if unknown."""
    return context.authenticated_ns if isinstance(context, AuthenticatedContext) else None
