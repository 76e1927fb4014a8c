"""A request that is not valid protobuf: the marker that stands in for it, and its error.

gRPC deserializes a request before any handler runs, and a ``DecodeError`` there becomes
INTERNAL: to a caller, a server bug. :func:`lenient` turns a method's deserializer into one
that returns a marker instead of raising; the guard
(:class:`adapters.interceptors.RejectMalformedMessages`) refuses a unary call carrying it
with :class:`MalformedMessageError`. In a request stream the marker is passed on as an item,
so a streaming servicer can answer that item with its own error and go on: such servicers
must test items with :func:`is_malformed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

MALFORMED_DETAIL = "the request is not a valid protobuf message for this method"


class MalformedMessageError(Exception):
    """A request could not be parsed as the method's protobuf message."""

    def __init__(self) -> None:
        super().__init__(MALFORMED_DETAIL)


class _Malformed:
    """Stands in for a request that could not be parsed."""


_MALFORMED = _Malformed()


def lenient(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserialize``, returning the marker for bytes it cannot parse instead of raising."""
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return _MALFORMED

    return parse


def is_malformed(item: object) -> bool:
    """True for a request that could not be parsed."""
    return item is _MALFORMED
