"""Mutual TLS and fetch tokens: only the hub's certificate is admitted, and only a Fetch
carrying the hub's valid token for exactly that request is answered.

These run only when the kit connects as the hub (``--tls-dir`` with the hub's PKI folder):
it needs the CA's key to make a stranger's certificate, and the hub's fetch-token key to
make tokens the adapter should accept next to ones it must refuse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sakha.v1 import connector_pb2_grpc
from sakha.v1.connector_pb2 import DescribeRequest as PB2DescribeRequest

from adapters.pki.material import (
    TRUST_DOMAIN,
    LeafProfile,
    PkiLayout,
    UnusableMaterialError,
    Usage,
)
from adapters.sdk import FetchQuery
from gateway.adapter_connection import TOOL_BASIS
from gateway.auth.tokens import private_key_pem
from gateway.conformance.outcome import CaseSkippedError
from gateway.conformance.session import CALL_TIMEOUT_S, Metadata, Session, expect_refusal
from gateway.fetch_tokens import FetchTokenSigner
from gateway.pki.ca import load_ca

STRANGER_SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/conformance-stranger"
"""The identity of the certificate the kit makes: issued by the hub's CA, not the hub."""

_HANDSHAKE_OR_IDENTITY = (
    grpc.StatusCode.UNAVAILABLE,  # the handshake itself failed
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)
_DENIED = (grpc.StatusCode.PERMISSION_DENIED,)
_EXPIRED_AGO_S = 600


def _pki(session: Session) -> PkiLayout:
    pki = session.connection.pki
    if pki is None:
        raise CaseSkippedError("plaintext: give --tls-dir and --agency to check TLS and tokens")
    return pki


async def no_client_certificate(session: Session) -> str:
    """A caller that trusts the CA but presents no certificate is refused."""
    pki = _pki(session)
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert.read_bytes())
    async with session.connection.channel(credentials) as channel:
        stub = connector_pb2_grpc.ConnectorServiceStub(channel)
        return await expect_refusal(
            stub.Describe(PB2DescribeRequest(), timeout=CALL_TIMEOUT_S),
            _HANDSHAKE_OR_IDENTITY,
            "Describe without a client certificate",
        )


async def foreign_client_certificate(session: Session) -> str:
    """A certificate from the hub's own CA that does not name the hub is refused, for
    Describe and for a Fetch carrying a valid token: holding a token is not being the hub."""
    pki = _pki(session)
    credentials = _stranger_credentials(pki)
    query = session.query(session.known[:1], [session.need_description().attributes[0].name])
    async with session.connection.channel(credentials) as channel:
        stub = connector_pb2_grpc.ConnectorServiceStub(channel)
        described = await expect_refusal(
            stub.Describe(PB2DescribeRequest(), timeout=CALL_TIMEOUT_S),
            _HANDSHAKE_OR_IDENTITY,
            f"Describe with a certificate naming {STRANGER_SPIFFE_ID}",
        )
        await expect_refusal(
            session.fetch(query, stub=stub),
            _HANDSHAKE_OR_IDENTITY,
            f"a Fetch with a valid token and a certificate naming {STRANGER_SPIFFE_ID}",
        )
    return described


def _stranger_credentials(pki: PkiLayout) -> grpc.ChannelCredentials:
    now = dt.datetime.now(dt.UTC)
    try:
        ca = load_ca(pki, at=now)
    except UnusableMaterialError as exc:
        raise CaseSkippedError(f"the PKI folder's CA cannot issue ({exc})") from exc
    profile = LeafProfile("conformance stranger", Usage.CLIENT, uris=(STRANGER_SPIFFE_ID,))
    key, certificate = ca.issue(
        profile, not_before=now - dt.timedelta(minutes=5), not_after=now + dt.timedelta(hours=1)
    )
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.read_bytes(),
        private_key=private_key_pem(key),
        certificate_chain=certificate.public_bytes(serialization.Encoding.PEM),
    )


def _hub_signer(session: Session) -> FetchTokenSigner:
    signer = session.connection.signer
    if signer is None:
        raise CaseSkippedError("plaintext: give --tls-dir and --agency to check TLS and tokens")
    return signer


def _fetch_query(session: Session) -> FetchQuery:
    _pki(session)
    return session.query(session.known[:1], [session.need_description().attributes[0].name])


def _bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


async def token_missing(session: Session) -> str:
    """A Fetch from the hub's certificate without a fetch token is refused."""
    query = _fetch_query(session)
    return await expect_refusal(
        session.fetch(query, metadata=()), _DENIED, "a Fetch without a token"
    )


async def token_forged(session: Session) -> str:
    """A token with the hub's key id signed by another key is refused."""
    query = _fetch_query(session)
    forger = FetchTokenSigner(ed25519.Ed25519PrivateKey.generate(), kid=_hub_signer(session).kid)
    token = forger.mint(query, agency_id=session.agency_id, basis=TOOL_BASIS)
    return await expect_refusal(
        session.fetch(query, metadata=_bearer(token)), _DENIED, "a Fetch with a forged token"
    )


async def token_for_other_subjects(session: Session) -> str:
    """The hub's token for other subjects does not allow this Fetch."""
    query = _fetch_query(session)
    other = dataclasses.replace(query, subjects=(session.unknown,))
    token = _hub_signer(session).mint(other, agency_id=session.agency_id, basis=TOOL_BASIS)
    return await expect_refusal(
        session.fetch(query, metadata=_bearer(token)),
        _DENIED,
        "a Fetch whose token names other subjects",
    )


async def token_expired(session: Session) -> str:
    """The hub's token for exactly this Fetch, expired ten minutes ago, is refused."""
    query = _fetch_query(session)
    ago = time.time() - _EXPIRED_AGO_S
    stale = _hub_signer(session).at(lambda: ago)
    token = stale.mint(query, agency_id=session.agency_id, basis=TOOL_BASIS)
    return await expect_refusal(
        session.fetch(query, metadata=_bearer(token)), _DENIED, "a Fetch with an expired token"
    )
