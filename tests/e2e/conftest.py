"""A real stack for end-to-end tests: a small population, 30 agency servers, the hub.

By default everything runs as in production: TLS to clients, a bearer token on every call,
mutual TLS to every agency (each certificate naming its agency, agencies admitting only the
hub). ``insecure=True`` stacks exist only for tests of the core that swap agencies freely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from sakha.v1 import eligibility_pb2_grpc

from adapters.simulated.build import PopulationSummary, build_population
from adapters.simulated.catalogue import agency_config_paths
from adapters.simulated.host import SimulatedAgencies, start_simulated_agencies
from gateway.config import AgencyEndpoint, HubConfig, SecurityLayers
from gateway.demo_security import DemoSecurity, prepare_demo_security, secure_hub_config
from gateway.hub import Hub, start_hub
from gateway.pki.tls import client_channel_credentials
from gateway.programs.loader import load_programs
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR

TEST_HOUSEHOLDS = 200


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> PopulationSummary:
    """A small deterministic population shared by every end-to-end test."""
    return build_population(tmp_path_factory.mktemp("population"), households=TEST_HOUSEHOLDS)


@pytest.fixture(scope="session")
def security(tmp_path_factory: pytest.TempPathFactory) -> DemoSecurity:
    """A development PKI, client keys and a client registry, as the demo makes them."""
    return prepare_demo_security(
        tmp_path_factory.mktemp("security"),
        [p.stem for p in agency_config_paths()],
        load_programs(BUILTIN_PROGRAMS_DIR),
    )


def _with_token(details: Any, token: str) -> Any:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    metadata.add("authorization", f"Bearer {token}")
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class UnaryBearer(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Adds ``authorization: Bearer <token>`` to unary calls, as a client system would."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.token), request)


class StreamBearer(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[type-arg]
    """The same for streaming calls (grpc.aio takes one interceptor per call kind)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_with_token(details, self.token), request_iterator)


@dataclass
class Stack:
    """The running agencies and hub, and a stub talking to the hub."""

    population: PopulationSummary
    agencies: SimulatedAgencies
    hub: Hub
    channel: grpc.aio.Channel
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub
    security: DemoSecurity | None


NO_CONSENT = SecurityLayers(consent=False, audit=False)
"""Every layer but consent and audit: the stacks of tests about neither (see test_consent)."""


def hub_config(
    targets: Iterable[tuple[str, str]], security: DemoSecurity | None, **overrides: object
) -> HubConfig:
    """A hub config on port 0 for agencies at ``targets`` (plaintext if no ``security``).

    A secure hub runs every layer but consent and audit unless ``layers`` (the config's
    ``security``) and ``db_url`` say otherwise."""
    endpoints = tuple(AgencyEndpoint(a, t) for a, t in targets)
    if security is None:
        config = HubConfig(listen="127.0.0.1:0", agencies=endpoints, insecure=True)
    else:
        layers = overrides.pop("layers", NO_CONSENT)
        config = secure_hub_config(
            security.pki,
            security.clients_file,
            listen="127.0.0.1:0",
            agencies=endpoints,
            security=layers,
            db_url=overrides.pop("db_url", None),
        )
    return dataclasses.replace(config, coalesce_window_ms=1.0, **overrides)  # type: ignore[arg-type]


def hub_channel(port: int, security: DemoSecurity | None, token: str | None = None) -> Any:
    """A client channel to the hub: TLS with a bearer token, or plaintext."""
    target = f"127.0.0.1:{port}"
    if security is None:
        return grpc.aio.insecure_channel(target)
    token = token if token is not None else security.profile(target).bearer_token()
    return grpc.aio.secure_channel(
        target,
        client_channel_credentials(security.pki.ca_cert),
        interceptors=[UnaryBearer(token), StreamBearer(token)],  # type: ignore[list-item]
    )


async def open_stack(
    population: PopulationSummary,
    security: DemoSecurity | None,
    data_dir: Path | None = None,
    **overrides: object,
) -> Stack:
    """Start the agencies and a hub (with config ``overrides``) and connect a stub."""
    agencies = await start_simulated_agencies(
        data_dir or population.data_dir, pki=security.pki if security else None
    )
    try:
        hub = await start_hub(hub_config(agencies.targets(), security, **overrides))
    except BaseException:
        await agencies.stop(None)
        raise
    channel = hub_channel(hub.port, security)
    return Stack(
        population,
        agencies,
        hub,
        channel,
        eligibility_pb2_grpc.EligibilityServiceStub(channel),
        security,
    )


async def close_stack(stack: Stack) -> None:
    """Stop everything :func:`open_stack` started."""
    await stack.channel.close(None)
    await stack.hub.stop(1.0)
    await stack.agencies.stop(None)


@pytest_asyncio.fixture
async def stack(population: PopulationSummary, security: DemoSecurity) -> AsyncIterator[Stack]:
    """A fresh secure stack per test (agencies can be stopped without harming others)."""
    started = await open_stack(population, security)
    try:
        yield started
    finally:
        await close_stack(started)
