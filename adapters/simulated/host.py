"""Hosting the 30 simulated agencies as real gRPC servers in one process.

Each agency is its own ``ConnectorService`` on its own port, backed by its own SQLite file
(the welfare organisation's through its own web service, :mod:`adapters.simulated.catalogue`),
exactly as a real agency's adapter would be; hosting them in one process only saves the
2-core demo machine the cost of 30 interpreters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from adapters.pki.material import PkiLayout
from adapters.sdk import Adapter
from adapters.server import create_adapter_server
from adapters.simulated.catalogue import WEB_SERVICES, agency_config_paths, load_simulated_agency
from adapters.simulated.json_service import JsonService
from adapters.simulated.latency import DelayedAdapter, Latency


@dataclass
class RunningAgency:
    """One simulated agency's server."""

    agency_id: str
    adapter: Adapter
    server: grpc.aio.Server
    port: int
    host: str
    service: JsonService | None = None
    """The agency's own web service, for an agency whose adapter is HTTP/JSON."""

    @property
    def target(self) -> str:
        """The ``host:port`` the hub dials."""
        return f"{self.host}:{self.port}"


@dataclass
class SimulatedAgencies:
    """The running simulated agencies, by agency id."""

    agencies: dict[str, RunningAgency] = field(default_factory=dict)

    def targets(self) -> list[tuple[str, str]]:
        """``(agency_id, host:port)`` for every running agency, sorted by id."""
        return [(a, self.agencies[a].target) for a in sorted(self.agencies)]

    async def stop_agency(self, agency_id: str, grace_s: float | None = None) -> None:
        """Stop one agency (its port then refuses connections)."""
        running = self.agencies.pop(agency_id)
        await running.server.stop(grace_s)
        await running.adapter.close()
        if running.service is not None:
            await asyncio.to_thread(running.service.close)

    async def stop(self, grace_s: float | None = 1.0) -> None:
        """Stop every agency."""
        await asyncio.gather(*(self.stop_agency(a, grace_s) for a in list(self.agencies)))


async def start_simulated_agencies(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    only: set[str] | None = None,
    pki: PkiLayout | None = None,
    hub_keys: Path | None = None,
    latency: Mapping[str, Latency] | None = None,
) -> SimulatedAgencies:
    """Start every simulated agency (or those in ``only``) over the population in data_dir.

    With ``pki`` each agency serves its own certificate over mutual TLS and admits only the
    hub's client certificate; without it, plaintext (tests and benchmarks of the core only).
    ``hub_keys`` (the hub's fetch-token JWK Set) makes a plaintext agency check every
    Fetch's token too (what fetch tokens cost, measured apart from TLS). ``latency`` makes
    the agencies it names (``"*"``: every other one) wait before each answer.
    """
    latency = latency or {}
    started = SimulatedAgencies()
    try:
        for path in agency_config_paths():
            if only is not None and path.stem not in only:
                continue
            start_service = WEB_SERVICES.get(path.stem)
            service = None if start_service is None else start_service(data_dir)
            try:
                services = {} if service is None else {path.stem: service.url}
                adapter = load_simulated_agency(path, data_dir, services)
                agency_id = adapter.describe().agency_id
                delay = latency.get(agency_id, latency.get("*"))
                if delay is not None:
                    adapter = DelayedAdapter(adapter, delay, seed=len(started.agencies))
                server, port = await create_adapter_server(
                    adapter, host, 0, tls=pki, hub_keys=hub_keys
                )
            except BaseException:
                if service is not None:
                    service.close()
                raise
            started.agencies[agency_id] = RunningAgency(
                agency_id, adapter, server, port, host, service
            )
    except BaseException:
        await started.stop(None)
        raise
    return started
