"""Who a TLS client is: the facts of its certificate and the check that it is the hub.

:func:`check_peer_identity` is pure (it reads gRPC's auth context, a mapping); the interceptor
that applies it to every call is :class:`adapters.interceptors.RequirePeerIdentity`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.pki.material import PkiError


class PeerIdentityError(PkiError):
    """A caller is not the peer an endpoint admits."""


class UnauthenticatedPeerError(PeerIdentityError):
    """The call carries no usable, currently valid TLS client certificate."""


class WrongPeerError(PeerIdentityError):
    """The caller's certificate is valid but names someone other than the admitted peer."""


@dataclass(frozen=True)
class PeerCertificate:
    """What admitting a caller needs from its client certificate."""

    subject: str
    uris: tuple[str, ...]
    client_auth: bool
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def from_pem(cls, pem: bytes) -> PeerCertificate:
        """Read the facts from a PEM certificate (absent extensions read as empty).

        Raises:
            UnauthenticatedPeerError: the certificate cannot be read.
        """
        try:
            certificate = x509.load_pem_x509_certificate(pem)
            extensions = certificate.extensions
            subject = certificate.subject.rfc4514_string()
        except ValueError as exc:
            raise UnauthenticatedPeerError("the client certificate cannot be read") from exc
        try:
            san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
        except x509.ExtensionNotFound:
            uris = ()
        try:
            usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            client_auth = ExtendedKeyUsageOID.CLIENT_AUTH in usages
        except x509.ExtensionNotFound:
            client_auth = False
        return cls(
            subject,
            uris,
            client_auth,
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
        )


def check_peer_identity(
    auth_context: Mapping[str, Iterable[bytes]],
    expected_uri: str,
    *,
    at: dt.datetime,
    read: Callable[[bytes], PeerCertificate] = PeerCertificate.from_pem,
) -> PeerCertificate:
    """Return the caller's certificate if it is a valid client certificate for ``expected_uri``.

    ``auth_context`` is gRPC's (``context.auth_context()``). Its ``x509_pem_cert`` is set
    only after the TLS stack verified the chain, which an adapter server with ``tls``
    (:func:`adapters.server.create_adapter_server`) always demands. The validity window is
    checked again here, per call, because a connection can outlive its certificate.

    Args:
        auth_context: the call's auth properties.
        expected_uri: the only identity admitted.
        at: the time the certificate must be valid at.
        read: turns the PEM into :class:`PeerCertificate` (a cache may stand in).

    Raises:
        UnauthenticatedPeerError: not TLS, no client certificate, or not valid at ``at``.
        WrongPeerError: the certificate's URI SANs are not exactly ``[expected_uri]``, or it
            is not a clientAuth certificate.
    """
    if list(auth_context.get("transport_security_type", ())) != [b"ssl"]:
        raise UnauthenticatedPeerError("the call is not over TLS")
    pems = list(auth_context.get("x509_pem_cert", ()))
    if len(pems) != 1:
        raise UnauthenticatedPeerError("the caller presented no client certificate")
    peer = read(pems[0])
    if not peer.not_before <= at < peer.not_after:
        raise UnauthenticatedPeerError("the client certificate has expired or is not yet valid")
    if peer.uris != (expected_uri,):
        raise WrongPeerError(f"the client is {list(peer.uris) or peer.subject}")
    if not peer.client_auth:
        raise WrongPeerError("the certificate is not for client authentication")
    return peer
