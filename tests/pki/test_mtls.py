"""Mutual TLS between the hub and adapters, and one-way TLS to the hub, over real gRPC.

Every refusal is checked against a baseline: the same server answers the hub.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from adapters.pki.material import (
    HUB_SPIFFE_ID,
    LeafProfile,
    PkiLayout,
    UnusableMaterialError,
    Usage,
    agency_profile,
    agency_spiffe_id,
    hub_client_profile,
)
from adapters.server import create_adapter_server
from gateway.pki.ca import CertificateAuthority, load_ca
from gateway.pki.tls import (
    agency_channel_options,
    client_channel_credentials,
    hub_channel_credentials,
    hub_server_credentials,
)
from tests.pki.conftest import (
    TIMEOUT,
    Dial,
    EchoAdapter,
    PemPair,
    Serve,
    describe,
    foreign_ca,
    issue,
    now,
    refusal,
)


async def _serve_tax(pki: PkiLayout, serve: Serve) -> int:
    """Agency ``tax`` as it should run: its certificate, client certs required, hub only."""
    return await serve(EchoAdapter("tax"), tls=pki)


def _as_client(pki: PkiLayout, pair: PemPair | None) -> grpc.ChannelCredentials:
    """Credentials trusting the PKI's CA and presenting ``pair`` (or no certificate)."""
    if pair is None:
        return grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
    return grpc.ssl_channel_credentials(pki.ca_cert.read_bytes(), pair.key, pair.cert)


# --- the hub dialling an agency -----------------------------------------------------------


@pytest.mark.parametrize("agency_id", ["tax", "bank_melli"])
async def test_hub_calls_an_agency_over_mutual_tls(
    pki: PkiLayout, serve: Serve, dial: Dial, agency_id: str
) -> None:
    port = await serve(EchoAdapter(agency_id), tls=pki)
    channel = dial(port, hub_channel_credentials(pki), options=agency_channel_options(agency_id))
    assert (await describe(channel)).agency_id == agency_id


async def test_another_agencys_certificate_at_the_address_fails_the_handshake(
    pki: PkiLayout, serve: Serve, dial: Dial
) -> None:
    # bank_melli's (valid, same-CA) certificate served where the hub expects tax
    files = pki.agency_files("bank_melli")
    melli = grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.ca_cert.read_bytes(),
        require_client_auth=True,
    )
    port = await serve(EchoAdapter("tax"), credentials=melli)
    hub = hub_channel_credentials(pki)
    assert await refusal(dial(port, hub, options=agency_channel_options("tax"))) is (
        grpc.StatusCode.UNAVAILABLE
    )
    # baseline: the hub dialling it as bank_melli gets through (and learns it says "tax")
    channel = dial(port, hub, options=agency_channel_options("bank_melli"))
    assert (await describe(channel)).agency_id == "tax"


@pytest.mark.parametrize(
    "attack",
    [
        "foreign_ca_names_the_agency",
        "expired_certificate",
        "not_yet_valid_certificate",
        "client_certificate_as_server",
        "hub_server_certificate",
    ],
)
async def test_hub_refuses_an_adapter_certificate(
    pki: PkiLayout, ca: CertificateAuthority, serve: Serve, dial: Dial, attack: str
) -> None:
    tax = agency_profile("tax")
    pairs = {
        "foreign_ca_names_the_agency": lambda: issue(foreign_ca(), tax),
        "expired_certificate": lambda: issue(
            ca, tax, not_before=now() - dt.timedelta(days=2), not_after=now() - dt.timedelta(days=1)
        ),
        "not_yet_valid_certificate": lambda: issue(
            ca, tax, not_before=now() + dt.timedelta(hours=1)
        ),
        "client_certificate_as_server": lambda: issue(
            ca, LeafProfile("x", Usage.CLIENT, dns_names=tax.dns_names, uris=tax.uris)
        ),
        "hub_server_certificate": lambda: PemPair.read(pki.hub_key, pki.hub_cert),
    }
    pair = pairs[attack]()
    credentials = grpc.ssl_server_credentials([(pair.key, pair.cert)])
    port = await serve(EchoAdapter("tax"), credentials=credentials)
    channel = dial(port, hub_channel_credentials(pki), options=agency_channel_options("tax"))
    assert await refusal(channel) is grpc.StatusCode.UNAVAILABLE


async def test_hub_without_the_name_override_refuses_agencies(
    pki: PkiLayout, serve: Serve, dial: Dial
) -> None:
    port = await _serve_tax(pki, serve)  # the certificate names tax.agency.sakha, not the IP
    assert await refusal(dial(port, hub_channel_credentials(pki))) is grpc.StatusCode.UNAVAILABLE


# --- who may call an adapter --------------------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        # the TLS stack refuses these during the handshake
        ("no_client_certificate", grpc.StatusCode.UNAVAILABLE),
        ("another_agencys_server_certificate", grpc.StatusCode.UNAVAILABLE),
        ("hub_server_certificate", grpc.StatusCode.UNAVAILABLE),
        ("foreign_ca_names_the_hub", grpc.StatusCode.UNAVAILABLE),
        ("expired_hub_certificate", grpc.StatusCode.UNAVAILABLE),
        # valid chain, clientAuth, but not the hub: only the interceptor stops these
        ("client_certificate_of_another_agency", grpc.StatusCode.PERMISSION_DENIED),
        ("hub_id_as_a_dns_name", grpc.StatusCode.PERMISSION_DENIED),
        ("hub_id_plus_another_identity", grpc.StatusCode.PERMISSION_DENIED),
    ],
)
async def test_adapter_refuses_a_caller_that_is_not_the_hub(
    pki: PkiLayout, serve: Serve, dial: Dial, attack: str, expected: grpc.StatusCode
) -> None:
    ca = load_ca(pki, at=now())
    hub = hub_client_profile()
    other = agency_spiffe_id("bank_melli")
    pairs: dict[str, Callable[[], PemPair | None]] = {
        "no_client_certificate": lambda: None,
        "another_agencys_server_certificate": lambda: PemPair.read(
            pki.agency_key("bank_melli"), pki.agency_cert("bank_melli")
        ),
        "hub_server_certificate": lambda: PemPair.read(pki.hub_key, pki.hub_cert),
        "foreign_ca_names_the_hub": lambda: issue(foreign_ca(), hub),
        "expired_hub_certificate": lambda: issue(
            ca, hub, not_before=now() - dt.timedelta(days=2), not_after=now() - dt.timedelta(days=1)
        ),
        "client_certificate_of_another_agency": lambda: issue(
            ca, LeafProfile("bank_melli", Usage.CLIENT, uris=(other,))
        ),
        "hub_id_as_a_dns_name": lambda: issue(
            ca, LeafProfile("hub", Usage.CLIENT, dns_names=("hub.sakha",))
        ),
        "hub_id_plus_another_identity": lambda: issue(
            ca, LeafProfile("hub", Usage.CLIENT, uris=(HUB_SPIFFE_ID, other))
        ),
    }
    port = await _serve_tax(pki, serve)
    options = agency_channel_options("tax")
    attacker = dial(port, _as_client(pki, pairs[attack]()), options=options)
    assert await refusal(attacker) is expected
    # the server is unharmed: the hub still gets an answer
    hub_channel = dial(port, hub_channel_credentials(pki), options=options)
    assert (await describe(hub_channel)).agency_id == "tax"


async def test_plaintext_client_against_the_tls_port_fails_and_the_server_survives(
    pki: PkiLayout, serve: Serve, dial: Dial
) -> None:
    port = await _serve_tax(pki, serve)
    assert await refusal(dial(port, None)) is grpc.StatusCode.UNAVAILABLE
    hub_channel = dial(port, hub_channel_credentials(pki), options=agency_channel_options("tax"))
    assert (await describe(hub_channel)).agency_id == "tax"


async def _outcomes(channel: grpc.aio.Channel) -> dict[str, grpc.StatusCode]:
    """Call one method of each handler style; map each to OK or its refusal code."""
    health = health_pb2_grpc.HealthStub(channel)
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = health_pb2.HealthCheckRequest()
    listing = reflection_pb2.ServerReflectionRequest(list_services="")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "Check (unary)": lambda: health.Check(request, timeout=TIMEOUT),
        "Watch (coroutine writing a stream)": lambda: anext(
            aiter(health.Watch(request, timeout=TIMEOUT))
        ),
        "ServerReflectionInfo (async generator)": lambda: anext(
            aiter(reflection.ServerReflectionInfo(iter([listing]), timeout=TIMEOUT))
        ),
    }
    outcomes = {}
    for name, call in calls.items():
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            outcomes[name] = exc.code()
        else:
            outcomes[name] = grpc.StatusCode.OK
    return outcomes


async def test_health_and_reflection_are_guarded_too(
    pki: PkiLayout, ca: CertificateAuthority, serve: Serve, dial: Dial
) -> None:
    port = await _serve_tax(pki, serve)
    options = agency_channel_options("tax")
    intruder = issue(ca, LeafProfile("x", Usage.CLIENT, uris=(agency_spiffe_id("bank_melli"),)))
    hub_outcomes = await _outcomes(dial(port, hub_channel_credentials(pki), options=options))
    assert set(hub_outcomes.values()) == {grpc.StatusCode.OK}, hub_outcomes
    intruder_outcomes = await _outcomes(dial(port, _as_client(pki, intruder), options=options))
    assert set(intruder_outcomes.values()) == {grpc.StatusCode.PERMISSION_DENIED}, intruder_outcomes


@pytest.mark.parametrize("misconfiguration", ["insecure_port", "tls_without_client_certificates"])
async def test_the_interceptor_fails_closed_when_the_port_does_not_verify_clients(
    pki: PkiLayout, serve: Serve, dial: Dial, misconfiguration: str
) -> None:
    if misconfiguration == "insecure_port":
        port = await serve(EchoAdapter("tax"), hub_only=True)
        channel = dial(port, None)
    else:  # one-way TLS: the hub's client certificate is never even asked for
        files = pki.agency_files("tax")
        credentials = grpc.ssl_server_credentials(
            [(files.key.read_bytes(), files.cert.read_bytes())]
        )
        port = await serve(EchoAdapter("tax"), credentials=credentials, hub_only=True)
        channel = dial(port, hub_channel_credentials(pki), options=agency_channel_options("tax"))
    assert await refusal(channel) is grpc.StatusCode.UNAUTHENTICATED


# --- clients dialling the hub -------------------------------------------------------------


async def test_client_reaches_the_hub_over_tls_and_only_with_the_right_ca(
    pki: PkiLayout, serve: Serve, dial: Dial
) -> None:
    # any server will do as "the hub": the adapter server has health checks
    port = await serve(EchoAdapter("tax"), credentials=hub_server_credentials(pki))
    health = health_pb2_grpc.HealthStub(dial(port, client_channel_credentials(pki.ca_cert)))
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    stranger_root = foreign_ca().certificate.public_bytes(serialization.Encoding.PEM)
    stranger = grpc.ssl_channel_credentials(root_certificates=stranger_root)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health_pb2_grpc.HealthStub(dial(port, stranger)).Check(
            health_pb2.HealthCheckRequest(), timeout=TIMEOUT
        )
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health_pb2_grpc.HealthStub(dial(port, None)).Check(
            health_pb2.HealthCheckRequest(), timeout=TIMEOUT
        )
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_an_adapter_refuses_to_start_with_another_agencys_files(pki: PkiLayout) -> None:
    with pytest.raises(UnusableMaterialError):
        await create_adapter_server(
            EchoAdapter("tax"), tls=pki.agency_files("bank_melli"), hub_keys=pki.fetch_token_jwks
        )
