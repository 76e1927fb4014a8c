"""Fan-out to one agency in chunks: all or nothing, and a failed chunk cancels the others."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from adapters.errors import SourceFailureError
from adapters.memory import MemoryAdapter
from adapters.sdk import FetchQuery, FetchResult, Predicate
from gateway.engine.outcome import SourceStatus
from gateway.engine.planner import AgencyRequest
from gateway.fanout import PUBLIC_DETAIL, LocalAgency, fetch_from_agency
from tests.pipeline.conftest import SUBJECTS, World


class OneChunkFails(MemoryAdapter):
    """Fails the chunk holding ``poisoned`` at once; every other chunk waits forever."""

    def __init__(self, world: World, poisoned: str) -> None:
        super().__init__(world.tax.describe(), {})
        self._poisoned = poisoned
        self.waiting = 0
        self.cancelled = 0

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        if self._poisoned in query.subjects:
            await asyncio.sleep(0.01)  # let the siblings start first
            raise SourceFailureError("the tax database went away")
        self.waiting += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


async def test_a_failed_chunk_cancels_its_siblings(world: World) -> None:
    adapter = OneChunkFails(world, poisoned=SUBJECTS[4])
    answer = await asyncio.wait_for(
        fetch_from_agency(
            LocalAgency(adapter),
            AgencyRequest("tax", ("annual_income",)),
            SUBJECTS[:6],
            as_of=dt.date(2026, 6, 1),
            purpose="testing",
            timeout_s=30,
            chunk=2,
        ),
        timeout=5,
    )
    assert answer.result is None
    assert answer.outcome.status is SourceStatus.UNAVAILABLE
    assert answer.outcome.detail == PUBLIC_DETAIL[SourceStatus.UNAVAILABLE], "no agency text"
    assert adapter.waiting == 2
    assert adapter.cancelled == 2
    assert len(answer.fetch_ids) == 3
    assert answer.fetch_ids_for([4, 5]) == answer.fetch_ids[2:]


async def test_the_timeout_bounds_each_chunk(world: World) -> None:
    world.tax.gate.clear()
    answer = await fetch_from_agency(
        LocalAgency(world.tax),
        AgencyRequest("tax", ("annual_income",)),
        SUBJECTS[:2],
        as_of=dt.date(2026, 6, 1),
        purpose="testing",
        timeout_s=0.05,
        chunk=1,
    )
    assert answer.outcome.status is SourceStatus.TIMEOUT
    assert world.tax.cancelled.is_set()
