"""A client whose TLS mode is not the hub's is told which to use, not shown a raw handshake
error; other failures get no hint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import click
import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from adapters.pki.material import PkiLayout
from gateway.cli_connection import call_hub
from gateway.client_profile import ClientProfile
from gateway.hub_connection import HubConnection, speaks_tls
from gateway.pki.ca import init_pki
from gateway.pki.tls import hub_server_credentials
from tests.loop_thread import loop_in_thread
from tests.processes import free_port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiLayout:
    """A development PKI: the hub's certificate and the CA a client trusts."""
    return init_pki(tmp_path_factory.mktemp("pki"), agencies=())


def _health(connection: HubConnection) -> object:
    async def run() -> object:
        async with connection.channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)

    return call_hub(lambda: asyncio.run(run()), connection)


@pytest.fixture
def hub(request: pytest.FixtureRequest, pki: PkiLayout) -> Iterator[str]:
    """A health-only server on 127.0.0.1, TLS when the test's parameter says so."""
    tls: bool = request.param

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        if tls:
            port = server.add_secure_port("127.0.0.1:0", hub_server_credentials(pki))
        else:
            port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    with loop_in_thread() as run:
        server, port = run(start())
        try:
            yield f"127.0.0.1:{port}"
        finally:
            run(server.stop(None))


def _profile(server: str, pki: PkiLayout) -> ClientProfile:
    return ClientProfile(
        server=server, ca_file=pki.ca_cert, organisation="demo_relief", kid="k", key_file=pki.ca_key
    )


@pytest.mark.parametrize("hub", [True], indirect=True)
def test_plaintext_to_a_tls_hub_is_told_to_drop_insecure(hub: str) -> None:
    assert speaks_tls(hub)
    with pytest.raises(click.ClickException) as raised:
        _health(HubConnection(hub, None))
    message = raised.value.message
    assert message.startswith("UNAVAILABLE: ")
    assert (
        message.splitlines()[-1]
        == f"hint: the hub at {hub} speaks TLS; drop --insecure (use a profile)"
    )


@pytest.mark.parametrize("hub", [False], indirect=True)
def test_tls_to_a_plaintext_hub_is_told_to_pass_insecure(hub: str, pki: PkiLayout) -> None:
    assert not speaks_tls(hub)
    with pytest.raises(click.ClickException) as raised:
        _health(HubConnection(hub, _profile(hub, pki)))
    assert raised.value.message.splitlines()[-1] == (
        f"hint: the hub at {hub} speaks plaintext (it runs with insecure: true); pass --insecure"
    )


@pytest.mark.parametrize("tls", [False, True])
def test_nobody_listening_gets_no_hint(tls: bool, pki: PkiLayout) -> None:
    server = f"127.0.0.1:{free_port()}"
    connection = HubConnection(server, _profile(server, pki) if tls else None)
    with pytest.raises(click.ClickException) as raised:
        _health(connection)
    assert "hint" not in raised.value.message
    assert raised.value.message.startswith("UNAVAILABLE: ")


@pytest.mark.parametrize("hub", [False, True], indirect=True, ids=["plaintext", "tls"])
def test_the_matching_mode_just_works(hub: str, pki: PkiLayout) -> None:
    tls = speaks_tls(hub)
    assert _health(HubConnection(hub, _profile(hub, pki) if tls else None)) is not None
