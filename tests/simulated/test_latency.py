"""Injected latency: a simulated agency answers after its wait, the others at once."""

from __future__ import annotations

import time

import pytest

from adapters.client import ConnectorClient
from adapters.sdk import FetchQuery
from adapters.simulated.build import PopulationSummary
from adapters.simulated.host import start_simulated_agencies
from adapters.simulated.latency import Latency


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20", Latency(20)), ("20±5", Latency(20, 5)), ("20+-5", Latency(20, 5)), ("0", Latency(0))],
)
def test_latencies_parse(text: str, expected: Latency) -> None:
    assert Latency.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [("fast", "expected MS or MS±JITTER"), ("5±9", "at most the mean"), ("-1", "≥ 0")],
)
def test_bad_latencies_are_refused_with_the_figure(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Latency.parse(text)


async def _fetch_seconds(client: ConnectorClient, subject: str) -> float:
    description = await client.describe(timeout=5)
    query = FetchQuery(subjects=(subject,), attributes=(description.attributes[0].name,))
    started = time.perf_counter()
    result = await client.fetch(query, description, 5)
    assert len(result.found) == 1
    return time.perf_counter() - started


async def test_the_named_agency_waits_and_the_others_do_not(population: PopulationSummary) -> None:
    agencies = await start_simulated_agencies(
        population.data_dir,
        only={"tax", "civil_registry"},
        latency={"tax": Latency(150, 20), "*": Latency(0)},
    )
    clients = {a: ConnectorClient(t) for a, t in agencies.targets()}
    try:
        subject = population.samples.poor_head
        assert subject is not None
        slow = [await _fetch_seconds(clients["tax"], subject) for _ in range(3)]
        fast = [await _fetch_seconds(clients["civil_registry"], subject) for _ in range(3)]
    finally:
        for client in clients.values():
            await client.close()
        await agencies.stop(None)
    assert min(slow) >= 0.130  # a sleep never ends early
    assert max(fast) < min(slow)
