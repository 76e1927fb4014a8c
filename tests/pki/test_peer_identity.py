"""The adapter's check of who is calling, on gRPC auth contexts built by hand.

The real-server tests (``test_mtls.py``) show what gRPC puts in the auth context; these pin
down each decision, including the ones a handshake cannot produce (a certificate that
expires while its connection stays open).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from adapters.interceptors import Context, RequirePeerIdentity
from adapters.pki.material import (
    HUB_SPIFFE_ID,
    LeafProfile,
    Usage,
    agency_spiffe_id,
    hub_client_profile,
)
from adapters.pki.peer import (
    PeerCertificate,
    UnauthenticatedPeerError,
    WrongPeerError,
    check_peer_identity,
)
from gateway.pki.ca import CertificateAuthority
from tests.pki.conftest import issue, now

AuthContext = dict[str, list[bytes]]


def _tls(cert: bytes, *extra: bytes) -> AuthContext:
    """An auth context as gRPC builds it for a TLS call with a verified client certificate."""
    return {
        "transport_security_type": [b"ssl"],
        "x509_pem_cert": [cert, *extra],
        "security_level": [b"TSI_PRIVACY_AND_INTEGRITY"],
    }


def _hub(ca: CertificateAuthority) -> bytes:
    return issue(ca, hub_client_profile()).cert


def test_the_hub_is_admitted(ca: CertificateAuthority) -> None:
    peer = check_peer_identity(_tls(_hub(ca)), HUB_SPIFFE_ID, at=now())
    assert peer.uris == (HUB_SPIFFE_ID,)
    assert peer.client_auth


def test_a_remembered_certificate_is_still_checked_for_time_on_every_call(
    ca: CertificateAuthority,
) -> None:
    pem = _hub(ca)
    remembered = PeerCertificate.from_pem(pem)
    reads: list[bytes] = []

    def read(data: bytes) -> PeerCertificate:
        reads.append(data)
        return remembered

    check_peer_identity(_tls(pem), HUB_SPIFFE_ID, at=now(), read=read)
    later = remembered.not_after + dt.timedelta(seconds=1)
    with pytest.raises(UnauthenticatedPeerError):
        check_peer_identity(_tls(pem), HUB_SPIFFE_ID, at=later, read=read)
    assert reads == [pem, pem]


UNAUTHENTICATED: dict[str, Callable[[CertificateAuthority], AuthContext]] = {
    "empty_context_of_a_plaintext_call": lambda ca: {},
    "insecure_transport": lambda ca: {"transport_security_type": [b"insecure"]},
    "local_transport_with_a_certificate": lambda ca: {
        "transport_security_type": [b"local"],
        "x509_pem_cert": [_hub(ca)],
    },
    "tls_without_a_client_certificate": lambda ca: {"transport_security_type": [b"ssl"]},
    "two_certificates": lambda ca: _tls(_hub(ca), _hub(ca)),
    "unreadable_certificate": lambda ca: _tls(b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
    "certificate_expired_since_the_handshake": lambda ca: _tls(
        issue(ca, hub_client_profile(), not_after=now() - dt.timedelta(seconds=1)).cert
    ),
    "certificate_not_yet_valid": lambda ca: _tls(
        issue(ca, hub_client_profile(), not_before=now() + dt.timedelta(minutes=1)).cert
    ),
}


@pytest.mark.parametrize("case", UNAUTHENTICATED)
def test_unauthenticated(ca: CertificateAuthority, case: str) -> None:
    with pytest.raises(UnauthenticatedPeerError):
        check_peer_identity(UNAUTHENTICATED[case](ca), HUB_SPIFFE_ID, at=now())


WRONG_PEER: dict[str, LeafProfile] = {
    "another_agency": LeafProfile("x", Usage.CLIENT, uris=(agency_spiffe_id("tax"),)),
    "hub_id_plus_another": LeafProfile(
        "x", Usage.CLIENT, uris=(HUB_SPIFFE_ID, agency_spiffe_id("tax"))
    ),
    "hub_id_twice": LeafProfile("x", Usage.CLIENT, uris=(HUB_SPIFFE_ID, HUB_SPIFFE_ID)),
    "hub_id_with_a_suffix": LeafProfile("x", Usage.CLIENT, uris=(f"{HUB_SPIFFE_ID}/x",)),
    "hub_id_in_capitals": LeafProfile("x", Usage.CLIENT, uris=(HUB_SPIFFE_ID.upper(),)),
    "hub_id_as_a_dns_name_only": LeafProfile(
        "spiffe://sakha/hub", Usage.CLIENT, dns_names=("hub",)
    ),
    "hub_id_on_a_server_certificate": LeafProfile("x", Usage.SERVER, uris=(HUB_SPIFFE_ID,)),
}


@pytest.mark.parametrize("case", WRONG_PEER)
def test_wrong_peer(ca: CertificateAuthority, case: str) -> None:
    context = _tls(issue(ca, WRONG_PEER[case]).cert)
    with pytest.raises(WrongPeerError):
        check_peer_identity(context, HUB_SPIFFE_ID, at=now())


def test_a_certificate_without_extensions_is_the_wrong_peer(ca: CertificateAuthority) -> None:
    bare = (
        x509.CertificateBuilder()
        .subject_name(ca.certificate.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - dt.timedelta(hours=1))
        .not_valid_after(now() + dt.timedelta(hours=1))
        .sign(ca.key, hashes.SHA256())
    )
    with pytest.raises(WrongPeerError):
        check_peer_identity(
            _tls(bare.public_bytes(serialization.Encoding.PEM)), HUB_SPIFFE_ID, at=now()
        )


@pytest.mark.parametrize("expected", ["", "spiffe://", "https://sakha/hub", "hub"])
def test_an_interceptor_without_a_spiffe_id_is_refused(expected: str) -> None:
    with pytest.raises(ValueError, match="SPIFFE"):
        RequirePeerIdentity(_refuse, expected)


async def _refuse(context: Context, exc: Exception) -> None:
    raise AssertionError("never called")
