"""Agencies that are slow or answer garbage: that source fails, the hub never guesses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest
import pytest_asyncio
from sakha.v1 import connector_pb2, connector_pb2_grpc, eligibility_pb2_grpc
from sakha.v1 import eligibility_pb2 as pb2

from adapters import codec
from adapters.pki._credentials import adapter_credentials
from adapters.sdk import (
    Adapter,
    AdapterLimits,
    AgencyDescription,
    FetchQuery,
    FetchResult,
    Predicate,
)
from adapters.server import _start, create_adapter_server
from adapters.simulated.build import PopulationSummary
from adapters.simulated.host import SimulatedAgencies, start_simulated_agencies
from gateway.config import AgencyEndpoint
from gateway.demo_security import DemoSecurity
from gateway.hub import start_hub
from tests.e2e.conftest import hub_channel, hub_config
from tests.e2e.test_check import request, sample


class SlowAdapter(Adapter):
    """Answers like ``inner`` but only after ``delay_s``."""

    def __init__(self, inner: Adapter, delay_s: float) -> None:
        self._inner = inner
        self._delay_s = delay_s

    def describe(self) -> AgencyDescription:
        return self._inner.describe()

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        await asyncio.sleep(self._delay_s)
        return await self._inner.fetch(query)


class SmallBatchAdapter(Adapter):
    """Answers like ``inner`` but accepts only a few subjects per fetch."""

    limits = AdapterLimits(max_subjects=3)

    def __init__(self, inner: Adapter) -> None:
        self._inner = inner

    def describe(self) -> AgencyDescription:
        return self._inner.describe()

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        return await self._inner.fetch(query)


class GarbageConnector(connector_pb2_grpc.ConnectorServiceServicer):
    """Describes itself correctly, then answers every Fetch with one row too few."""

    def __init__(self, description: AgencyDescription) -> None:
        self._description = description

    async def Describe(  # noqa: N802 - gRPC method name
        self, request: connector_pb2.DescribeRequest, context: Any
    ) -> connector_pb2.DescribeResponse:
        return codec.encode_description(self._description)

    async def Fetch(  # noqa: N802 - gRPC method name
        self, request: connector_pb2.FetchRequest, context: Any
    ) -> connector_pb2.FetchResponse:
        return connector_pb2.FetchResponse(found=[True] * (len(request.subjects) - 1))


@pytest_asyncio.fixture
async def agencies(
    population: PopulationSummary, security: DemoSecurity
) -> AsyncIterator[SimulatedAgencies]:
    """The simulated agencies over mutual TLS, stopped after the test."""
    started = await start_simulated_agencies(population.data_dir, pki=security.pki)
    try:
        yield started
    finally:
        await started.stop(None)


def as_tax(security: DemoSecurity) -> dict[str, Any]:
    """Server arguments that make a stand-in serve the tax agency's certificate."""
    return {"tls": security.pki}


async def _check_with_replaced_tax(
    population: PopulationSummary,
    agencies: SimulatedAgencies,
    security: DemoSecurity,
    server: grpc.aio.Server,
    port: int,
    **overrides: object,
) -> pb2.CheckResult:
    endpoints = tuple(
        AgencyEndpoint(a, f"127.0.0.1:{port}" if a == "tax" else t) for a, t in agencies.targets()
    )
    try:
        hub = await start_hub(
            hub_config(agencies.targets(), security, agencies=endpoints, **overrides)
        )
        try:
            async with hub_channel(hub.port, security) as channel:
                stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
                result: pb2.CheckResult = await stub.Check(
                    request(sample(population, "poor_head")), timeout=10
                )
                return result
        finally:
            await hub.stop(1.0)
    finally:
        await server.stop(None)


async def test_a_slow_agency_times_out_and_the_decision_is_undetermined(
    population: PopulationSummary, agencies: SimulatedAgencies, security: DemoSecurity
) -> None:
    slow = SlowAdapter(agencies.agencies["tax"].adapter, delay_s=5.0)
    server, port = await create_adapter_server(slow, **as_tax(security))
    result = await _check_with_replaced_tax(
        population, agencies, security, server, port, agency_timeout_ms=300
    )
    assert result.decision == pb2.DECISION_UNDETERMINED
    tax = next(s for s in result.sources if s.agency_id == "tax")
    assert tax.status == pb2.SOURCE_STATUS_TIMEOUT
    assert tax.latency_ms < 2000
    others = [s for s in result.sources if s.agency_id != "tax"]
    assert all(s.status in (pb2.SOURCE_STATUS_OK, pb2.SOURCE_STATUS_NOT_FOUND) for s in others)


async def test_an_agency_answering_garbage_counts_as_an_error(
    population: PopulationSummary, agencies: SimulatedAgencies, security: DemoSecurity
) -> None:
    server, port = await _start(  # not an Adapter: served as create_adapter_server would
        GarbageConnector(agencies.agencies["tax"].adapter.describe()),
        "tax",
        "127.0.0.1",
        0,
        adapter_credentials(security.pki, "tax"),
        hub_only=True,
    )
    result = await _check_with_replaced_tax(population, agencies, security, server, port)
    assert result.decision == pb2.DECISION_UNDETERMINED
    assert "SOURCE_FAILED" in result.reason_codes
    tax = next(s for s in result.sources if s.agency_id == "tax")
    assert tax.status == pb2.SOURCE_STATUS_ERROR


async def test_the_hub_splits_batches_for_an_agency_with_a_small_limit(
    population: PopulationSummary, agencies: SimulatedAgencies, security: DemoSecurity
) -> None:
    server, port = await create_adapter_server(
        SmallBatchAdapter(agencies.agencies["tax"].adapter), **as_tax(security)
    )
    result = await _check_with_replaced_tax(population, agencies, security, server, port)
    assert result.household_size > 3, "the sample household must outgrow the agency's limit"
    tax = next(s for s in result.sources if s.agency_id == "tax")
    assert tax.status in (pb2.SOURCE_STATUS_OK, pb2.SOURCE_STATUS_NOT_FOUND)
    assert result.decision == pb2.DECISION_ELIGIBLE


async def test_the_hub_caps_a_call_whatever_deadline_the_caller_set(
    population: PopulationSummary, agencies: SimulatedAgencies, security: DemoSecurity
) -> None:
    slow = SlowAdapter(agencies.agencies["tax"].adapter, delay_s=5.0)
    server, port = await create_adapter_server(slow, **as_tax(security))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _check_with_replaced_tax(
            population, agencies, security, server, port, max_deadline_ms=300
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "longest allowed deadline" in (caught.value.details() or "")
