"""A real stack for end-to-end tests: a small population, 30 agency servers, the hub."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from sakha.v1 import eligibility_pb2_grpc

from adapters.simulated.build import PopulationSummary, build_population
from adapters.simulated.host import SimulatedAgencies, start_simulated_agencies
from gateway.config import AgencyEndpoint, HubConfig
from gateway.hub import Hub, start_hub

TEST_HOUSEHOLDS = 200


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> PopulationSummary:
    """A small deterministic population shared by every end-to-end test."""
    return build_population(tmp_path_factory.mktemp("population"), households=TEST_HOUSEHOLDS)


@dataclass
class Stack:
    """The running agencies and hub, and a stub talking to the hub."""

    population: PopulationSummary
    agencies: SimulatedAgencies
    hub: Hub
    channel: grpc.aio.Channel
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub


def hub_config(running: SimulatedAgencies, **overrides: object) -> HubConfig:
    """A hub config on port 0 pointing at the ``running`` agencies."""
    config = HubConfig(
        listen="127.0.0.1:0",
        agencies=tuple(AgencyEndpoint(a, t) for a, t in running.targets()),
        coalesce_window_ms=1.0,
        insecure=True,
    )
    return dataclasses.replace(config, **overrides)  # type: ignore[arg-type]


async def open_stack(
    population: PopulationSummary, data_dir: Path | None = None, **overrides: object
) -> Stack:
    """Start the agencies and a hub (with config ``overrides``) and connect a stub."""
    agencies = await start_simulated_agencies(data_dir or population.data_dir)
    try:
        hub = await start_hub(hub_config(agencies, **overrides))
    except BaseException:
        await agencies.stop(None)
        raise
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}")
    return Stack(
        population, agencies, hub, channel, eligibility_pb2_grpc.EligibilityServiceStub(channel)
    )


async def close_stack(stack: Stack) -> None:
    """Stop everything :func:`open_stack` started."""
    await stack.channel.close(None)
    await stack.hub.stop(1.0)
    await stack.agencies.stop(None)


@pytest_asyncio.fixture
async def stack(population: PopulationSummary) -> AsyncIterator[Stack]:
    """A fresh stack per test (agencies can be stopped without harming other tests)."""
    started = await open_stack(population)
    try:
        yield started
    finally:
        await close_stack(started)
