"""The demo's agencies in their own process: they serve over mutual TLS, then stop cleanly."""

from __future__ import annotations

import socket

from sakha.v1 import eligibility_pb2_grpc

from adapters.simulated.build import PopulationSummary
from adapters.simulated.catalogue import agency_config_paths
from adapters.simulated.process import AgencyProcess
from gateway.demo_security import DemoSecurity
from gateway.hub import start_hub
from tests.e2e.conftest import hub_channel, hub_config
from tests.e2e.test_check import request, sample


async def test_agencies_in_a_child_process_serve_the_hub_and_stop(
    population: PopulationSummary, security: DemoSecurity
) -> None:
    agencies = await AgencyProcess.start(population.data_dir, security.pki)
    try:
        assert len(agencies.targets) == len(agency_config_paths())
        hub = await start_hub(hub_config(agencies.targets, security))
        try:
            async with hub_channel(hub.port, security) as channel:
                stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
                result = await stub.Check(request(sample(population, "poor_head")), timeout=10)
            assert result.decision
        finally:
            await hub.stop(1.0)
    finally:
        await agencies.stop()
    assert agencies.process.returncode == 0
    port = int(agencies.targets[0][1].rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
