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
    """A call's context that also carries the caller its token proved."""

    __slots__ = ("_context", "caller")

    def __init__(self, context: Context, caller: Caller) -> None:
        """Wrap ``context`` for ``caller``."""
        self._context = context
        self.caller = caller

    def __getattr__(self, name: str) -> Any:
        """Everything else is the real context's (abort, deadline, metadata, read, write)."""
        return getattr(self._context, name)

    @classmethod
    def of(cls, context: Context, caller: Caller) -> Context:
        """``context`` carrying ``caller``, typed as the context it stands in for."""
        return cast("Context", cls(context, caller))


def caller_of(context: Context) -> Caller | None:
    """The authenticated caller of this call; None only when authentication is switched off."""
    return context.caller if isinstance(context, AuthenticatedContext) else None
