"""Fixtures for the PKI and TLS tests: a fresh development PKI, and real gRPC servers on port 0.

Attack material (certificates a well-behaved party would never hold) is built directly with
:class:`~gateway.pki.ca.CertificateAuthority` and used with raw ``grpc`` credentials, as an
attacker would: the library's own loaders refuse it. Misconfigured adapter servers come from
the private ``adapters.server._start``, which nothing but tests may use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.client import CHANNEL_OPTIONS, ConnectorClient
from adapters.pki.material import LeafProfile, PkiLayout
from adapters.sdk import (
    Adapter,
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    Sensitivity,
)
from adapters.server import ConnectorServicer, _start, create_adapter_server
from gateway.pki.ca import CertificateAuthority, init_pki, load_ca

AGENCIES = ("tax", "bank_melli")
TIMEOUT = 10.0


class EchoAdapter(Adapter):
    """A tiny in-memory agency: every subject is found and its ``size`` is its length."""

    def __init__(self, agency_id: str) -> None:
        self._description = AgencyDescription(
            agency_id=agency_id,
            name=agency_id.title(),
            name_fa=agency_id,
            attributes=(AttributeSpec("size", AttributeType.INT64, Sensitivity.PUBLIC),),
        )

    def describe(self) -> AgencyDescription:
        return self._description

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        return FetchResult(
            found=[True] * len(query.subjects),
            values={"size": [len(s) for s in query.subjects]},
        )


def now() -> dt.datetime:
    """The current time, UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PemPair:
    """A PEM private key and certificate, as ``grpc`` credentials take them."""

    key: bytes
    cert: bytes

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> PemPair:
        """Encode ``key`` and ``cert``."""
        return cls(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            cert.public_bytes(serialization.Encoding.PEM),
        )

    @classmethod
    def read(cls, key: Path, cert: Path) -> PemPair:
        """Read a pair from files."""
        return cls(key.read_bytes(), cert.read_bytes())


def issue(
    ca: CertificateAuthority,
    profile: LeafProfile,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> PemPair:
    """Issue ``profile`` from ``ca``, valid from an hour ago for a day unless told otherwise."""
    start = not_before or now() - dt.timedelta(hours=1)
    return PemPair.of(
        *ca.issue(profile, not_before=start, not_after=not_after or now() + dt.timedelta(days=1))
    )


def foreign_ca() -> CertificateAuthority:
    """A CA nobody here trusts."""
    return CertificateAuthority.create(
        not_before=now() - dt.timedelta(hours=1),
        not_after=now() + dt.timedelta(days=30),
        common_name="Sakha development CA",  # same name as ours: only the key differs
    )


@pytest.fixture
def pki(tmp_path: Path) -> PkiLayout:
    """A fresh development PKI for :data:`AGENCIES`."""
    return init_pki(tmp_path / "pki", agencies=AGENCIES)


@pytest.fixture
def ca(pki: PkiLayout) -> CertificateAuthority:
    """The PKI's CA, to issue attack material from."""
    return load_ca(pki, at=now())


Serve = Callable[..., Awaitable[int]]
"""``await serve(adapter, tls=pki, hub_keys=...)`` -> the port of a properly built server;
``await serve(adapter, credentials=..., hub_only=...)`` builds a misconfigured one."""


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start adapter servers on 127.0.0.1 port 0; every one stopped afterwards."""
    servers: list[grpc.aio.Server] = []

    async def start(
        adapter: Adapter,
        *,
        tls: PkiLayout | None = None,
        hub_keys: Path | None = None,
        credentials: grpc.ServerCredentials | None = None,
        hub_only: bool = False,
    ) -> int:
        if credentials is None and not hub_only:
            server, port = await create_adapter_server(adapter, tls=tls, hub_keys=hub_keys)
        else:  # what create_adapter_server never builds: the attacks need it
            agency_id = adapter.describe().agency_id
            server, port = await _start(
                ConnectorServicer(adapter),
                agency_id,
                "127.0.0.1",
                0,
                credentials,
                hub_only=hub_only,
            )
        servers.append(server)
        return port

    yield start
    for server in servers:
        await server.stop(None)


Dial = Callable[..., grpc.aio.Channel]
"""``dial(port, credentials or None, options=...)`` -> a channel to 127.0.0.1:port."""


@pytest.fixture
async def dial() -> AsyncIterator[Dial]:
    """Open channels to 127.0.0.1; every one closed afterwards."""
    channels: list[grpc.aio.Channel] = []

    def open_channel(
        port: int,
        credentials: grpc.ChannelCredentials | None,
        *,
        options: Sequence[tuple[str, Any]] = (),
    ) -> grpc.aio.Channel:
        target = f"127.0.0.1:{port}"
        all_options = [*CHANNEL_OPTIONS, *options]
        if credentials is None:
            channel = grpc.aio.insecure_channel(target, options=all_options)
        else:
            channel = grpc.aio.secure_channel(target, credentials, options=all_options)
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close(None)


async def describe(channel: grpc.aio.Channel) -> AgencyDescription:
    """Call ``Describe`` over ``channel``."""
    return await ConnectorClient(channel).describe(TIMEOUT)


async def refusal(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """Call ``Describe``, expecting a refusal; return its status code."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await describe(channel)
    return caught.value.code()
