"""The adapter SDK's exceptions: one root, one line each."""

from __future__ import annotations


class AdapterError(Exception):
    """Root of every error an adapter reports."""


class AdapterConfigError(AdapterError):
    """An adapter's configuration is invalid; raised at start-up, never at query time."""


class UnknownAttributeError(AdapterError):
    """A query named an attribute or predicate the adapter does not serve."""


class QueryLimitError(AdapterError):
    """A query exceeded the adapter's limits (subjects, attributes, predicates)."""


class SourceFailureError(AdapterError):
    """The agency's own system failed while answering (database down, bad data)."""


class MalformedRequestError(AdapterError):
    """A request to an adapter is not well-formed; ``field`` is the offending field's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class MalformedResponseError(AdapterError):
    """An adapter's response is not well-formed; none of it may be used."""
