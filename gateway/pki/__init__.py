"""The development PKI and the transport security built on it.

:mod:`gateway.pki.ca` issues a development CA and the hub's and agencies' certificates
(``sakha pki init``); :mod:`gateway.pki.tls` turns them into gRPC credentials and admits
only the hub at an adapter.
"""

from __future__ import annotations

from gateway.pki.ca import (
    AGENCY_DNS_SUFFIX,
    HUB_SPIFFE_ID,
    CertificateAuthority,
    InvalidNameError,
    LeafProfile,
    PkiError,
    PkiLayout,
    TlsFiles,
    UnusableMaterialError,
    Usage,
    agency_dns_name,
    agency_spiffe_id,
    init_pki,
    issue_certificate,
)
from gateway.pki.tls import (
    PeerCertificate,
    PeerIdentityError,
    RequirePeerIdentity,
    UnauthenticatedPeerError,
    WrongPeerError,
    adapter_server_credentials,
    agency_channel_options,
    check_peer_identity,
    client_channel_credentials,
    hub_channel_credentials,
    hub_server_credentials,
)

__all__ = [
    "AGENCY_DNS_SUFFIX",
    "HUB_SPIFFE_ID",
    "CertificateAuthority",
    "InvalidNameError",
    "LeafProfile",
    "PeerCertificate",
    "PeerIdentityError",
    "PkiError",
    "PkiLayout",
    "RequirePeerIdentity",
    "TlsFiles",
    "UnauthenticatedPeerError",
    "UnusableMaterialError",
    "Usage",
    "WrongPeerError",
    "adapter_server_credentials",
    "agency_channel_options",
    "agency_dns_name",
    "agency_spiffe_id",
    "check_peer_identity",
    "client_channel_credentials",
    "hub_channel_credentials",
    "hub_server_credentials",
    "init_pki",
    "issue_certificate",
]
