"""The CheckBatch stream: bounded chunks in flight, and none runs on once the stream ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from sakha.v1 import eligibility_pb2 as pb2

from gateway.checking import CheckOutcome
from gateway.command import CheckCommand
from gateway.config import HubConfig
from gateway.pipeline import Pipeline
from gateway.service import Context, EligibilityServicer
from tests.pipeline.conftest import PROGRAM, PURPOSE, SUBJECTS


class StuckPipeline:
    """Stands in for the pipeline: every chunk starts and then waits until cancelled."""

    def __init__(self) -> None:
        self.started: list[list[str]] = []
        self.cancelled = 0
        self.first = asyncio.Event()

    async def check_chunk(self, commands: Sequence[CheckCommand]) -> list[CheckOutcome | Exception]:
        self.started.append([c.request_id for c in commands])
        self.first.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


class FakeContext:
    """The little of a ServicerContext the servicer reads."""

    def time_remaining(self) -> float:
        return 30.0

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


async def test_a_stream_that_ends_leaves_no_chunk_running() -> None:
    pipeline = StuckPipeline()
    config = HubConfig(insecure=True, batch_chunk_items=1, batch_chunks_in_flight=1)
    servicer = EligibilityServicer(cast("Pipeline", pipeline), config)

    async def requests() -> AsyncIterator[pb2.CheckRequest]:
        for i, subject in enumerate(SUBJECTS):
            yield pb2.CheckRequest(
                national_id=subject, program_id=PROGRAM, purpose=PURPOSE, request_id=f"r{i}"
            )

    stream: Any = servicer.CheckBatch(requests(), cast("Context", FakeContext()))

    async def consume() -> None:
        async for _ in stream:
            raise AssertionError("no chunk ever finishes")

    consumer = asyncio.ensure_future(consume())
    await pipeline.first.wait()
    for _ in range(20):  # let the producer run as far as it can
        await asyncio.sleep(0)
    assert pipeline.started == [["r0"]], "one chunk in flight at most"
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    for _ in range(5):
        await asyncio.sleep(0)
    assert pipeline.cancelled == len(pipeline.started) == 1
