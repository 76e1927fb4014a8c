"""Malformed protobuf in, INVALID_ARGUMENT out, on every server, hub and adapters alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.interceptors.wrap import CallInterceptor, Context
from adapters.malformed import MalformedMessageError, is_malformed, lenient


class RejectMalformedMessages(CallInterceptor):
    """Refuses unparseable unary requests with :class:`MalformedMessageError`, not INTERNAL.

    Streamed requests that cannot be parsed reach the servicer as markers
    (:func:`adapters.malformed.is_malformed`), so one bad item does not end the stream.
    """

    async def admit(self, method: str, context: Context, request: object) -> Context:
        """Refuse a unary request that could not be parsed."""
        if is_malformed(request):
            raise MalformedMessageError
        return context

    def request_deserializer(
        self, deserialize: Callable[[bytes], Any] | None
    ) -> Callable[[bytes], Any] | None:
        """The method's deserializer, returning a marker instead of raising."""
        return lenient(deserialize)
