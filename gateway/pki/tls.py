"""gRPC transport security at the hub: its credentials to agencies and for clients.

Between the hub and an agency, TLS is mutual:

- the adapter serves its agency's certificate, requires a client certificate from the CA and
  admits only the hub's identity (:data:`~adapters.pki.material.HUB_SPIFFE_ID`) on every
  call; :func:`adapters.server.create_adapter_server` installs all of it with ``tls=``;
- the hub trusts the CA and verifies the adapter's certificate against the agency's DNS name
  (:func:`agency_channel_options`), so only a certificate naming the agency it dials passes
  the handshake, whatever address it is reached at.

Clients reach the hub over one-way TLS (:func:`hub_server_credentials`,
:func:`client_channel_credentials`) and authenticate with tokens.

Every credential builder loads and checks its files first (key matches certificate, chain,
validity, identity) so a misconfiguration fails at start-up, not as a handshake error later.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc

from adapters.pki.material import (
    PkiLayout,
    TlsFiles,
    UnusableMaterialError,
    agency_dns_name,
    check_key_matches,
    hub_client_profile,
    load_certificate,
    load_leaf,
    load_private_key,
    load_trust_bundle,
)

TARGET_NAME_OVERRIDE = "grpc.ssl_target_name_override"
"""The channel option naming the host the server's certificate must be valid for."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hub_channel_credentials(source: PkiLayout | TlsFiles) -> grpc.ChannelCredentials:
    """TLS for the hub's channels to agencies: the CA as the only root, the hub's client cert.

    Use with :func:`agency_channel_options` on each channel.

    Raises:
        UnusableMaterialError: the files are missing, mismatched, expired, not from the CA,
            or do not name the hub.
    """
    files = source.hub_client_files() if isinstance(source, PkiLayout) else source
    ca, cert, key = load_leaf(files, hub_client_profile(), at=_now())
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def agency_channel_options(agency_id: str) -> list[tuple[str, str]]:
    """Channel options making the hub accept only a certificate that names ``agency_id``.

    The hub dials an agency at any address (an IP, a load balancer) but verifies the
    presented certificate against :func:`~adapters.pki.material.agency_dns_name`, so agency B's
    certificate at agency A's address fails the handshake.
    """
    return [(TARGET_NAME_OVERRIDE, agency_dns_name(agency_id))]


def hub_server_credentials(source: PkiLayout | TlsFiles) -> grpc.ServerCredentials:
    """One-way TLS for the hub's client-facing port (clients authenticate with tokens).

    Raises:
        UnusableMaterialError: the files are missing, mismatched or not valid now.
    """
    files = source.hub_server_files() if isinstance(source, PkiLayout) else source
    certificate = load_certificate(files.cert)
    check_key_matches(certificate, load_private_key(files.key))
    if not certificate.not_valid_before_utc <= _now() < certificate.not_valid_after_utc:
        raise UnusableMaterialError(f"{files.cert}: expired or not yet valid")
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())], require_client_auth=False
    )


def client_channel_credentials(ca_path: Path) -> grpc.ChannelCredentials:
    """TLS for a client (the CLI) calling the hub, trusting only the CA at ``ca_path``.

    Raises:
        UnusableMaterialError: ``ca_path`` holds no readable PEM certificate.
    """
    load_trust_bundle(ca_path)
    return grpc.ssl_channel_credentials(root_certificates=ca_path.read_bytes())
