"""An adapter that serves records held in memory: fixtures for tests and program cases.

It is an ordinary :class:`~adapters.sdk.Adapter`, so the SDK's public ``fetch`` validates
each query and evaluates its predicates exactly as it does for a SQL or CSV adapter. Agency
IT can use it to test what the hub would ask of them; the hub's program test runner uses it
to answer a test case's agencies without a network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from adapters.errors import SourceFailureError
from adapters.sdk import Adapter, AgencyDescription, FetchQuery, FetchResult, Predicate, Value

Record = Mapping[str, Value]
"""One subject's record: attribute name -> value (an absent name: no value held)."""


class MemoryAdapter(Adapter):
    """Serves ``records`` (subject -> record) for the agency ``description`` describes.

    A subject without a record is not found; an attribute missing from a record has no
    value. With ``failing`` set, every fetch fails as the agency's own system would
    (:class:`~adapters.errors.SourceFailureError` with that text).
    """

    def __init__(
        self,
        description: AgencyDescription,
        records: Mapping[str, Record],
        *,
        failing: str | None = None,
    ) -> None:
        self._description = description
        self._records = MappingProxyType(dict(records))
        self._failing = failing

    def describe(self) -> AgencyDescription:
        """The description given at construction."""
        return self._description

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        del pushed_down  # none: the SDK evaluates every predicate from the values
        if self._failing is not None:
            raise SourceFailureError(self._failing)
        rows = [self._records.get(subject) for subject in query.subjects]
        return FetchResult(
            found=[row is not None for row in rows],
            values={
                name: [None if row is None else row.get(name) for row in rows]
                for name in query.attributes
            },
        )
