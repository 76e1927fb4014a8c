"""gRPC transport security: credentials for the hub and adapters, and who may call an adapter.

Between the hub and an agency, TLS is mutual:

- the adapter serves its agency's certificate and *requires* a client certificate from the
  CA (:func:`adapter_server_credentials`); the TLS stack checks the chain, the validity
  window and the clientAuth usage, nothing about *who* the client is;
- :class:`RequirePeerIdentity`, a ``grpc.aio`` server interceptor, then admits only the
  hub's identity (:data:`~gateway.pki.ca.HUB_SPIFFE_ID`) on every call, health and reflection
  included (they share the port, and an unauthenticated probe cannot finish the handshake
  anyway);
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
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.pki.ca import (
    HUB_SPIFFE_ID,
    LeafProfile,
    PkiError,
    PkiLayout,
    TlsFiles,
    UnusableMaterialError,
    agency_dns_name,
    agency_profile,
    check_key_matches,
    hub_client_profile,
    load_certificate,
    load_private_key,
    load_trust_bundle,
    verify_leaf,
)

_LOG = logging.getLogger(__name__)

_READ_CACHE_SIZE = 64
"""Client certificates an interceptor remembers (one hub, a few during a rotation)."""

TARGET_NAME_OVERRIDE = "grpc.ssl_target_name_override"
"""The channel option naming the host the server's certificate must be valid for."""

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    _Context = grpc.aio.ServicerContext[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
else:  # grpc's runtime classes are not generic
    _ServerInterceptor = grpc.aio.ServerInterceptor
    _Context = grpc.aio.ServicerContext
    _Handler = grpc.RpcMethodHandler


Admit = Callable[[_Context], Awaitable[None]]


class PeerIdentityError(PkiError):
    """A caller is not the peer an endpoint admits."""


class UnauthenticatedPeerError(PeerIdentityError):
    """The call carries no usable, currently valid TLS client certificate."""


class WrongPeerError(PeerIdentityError):
    """The caller's certificate is valid but names someone other than the admitted peer."""


# --- credentials ------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_leaf(files: TlsFiles, profile: LeafProfile) -> tuple[bytes, bytes, bytes]:
    """Check ``files`` hold a valid certificate for ``profile``; return (CA, cert, key) PEM."""
    certificate = load_certificate(files.cert)
    check_key_matches(certificate, load_private_key(files.key))
    verify_leaf(load_trust_bundle(files.ca_cert), certificate, profile, at=_now())
    return files.ca_cert.read_bytes(), files.cert.read_bytes(), files.key.read_bytes()


def adapter_server_credentials(
    source: PkiLayout | TlsFiles, agency_id: str
) -> grpc.ServerCredentials:
    """TLS for agency ``agency_id``'s adapter: its own certificate, client certificates required.

    Pair it with :class:`RequirePeerIdentity`: these credentials admit any client certificate
    of the CA; the interceptor admits only the hub's.

    Args:
        source: a whole development PKI, or the agency's own files.
        agency_id: the agency served; its certificate must name exactly this agency.

    Raises:
        UnusableMaterialError: the files are missing, mismatched, expired, not from the CA,
            or name another agency.
    """
    files = source.agency_files(agency_id) if isinstance(source, PkiLayout) else source
    ca, cert, key = _load_leaf(files, agency_profile(agency_id))
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )


def hub_channel_credentials(source: PkiLayout | TlsFiles) -> grpc.ChannelCredentials:
    """TLS for the hub's channels to agencies: the CA as the only root, the hub's client cert.

    Use with :func:`agency_channel_options` on each channel.

    Raises:
        UnusableMaterialError: the files are missing, mismatched, expired, not from the CA,
            or do not name the hub.
    """
    files = source.hub_client_files() if isinstance(source, PkiLayout) else source
    ca, cert, key = _load_leaf(files, hub_client_profile())
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def agency_channel_options(agency_id: str) -> list[tuple[str, str]]:
    """Channel options making the hub accept only a certificate that names ``agency_id``.

    The hub dials an agency at any address (an IP, a load balancer) but verifies the
    presented certificate against :func:`~gateway.pki.ca.agency_dns_name`, so agency B's
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


# --- who may call an adapter ------------------------------------------------------------


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
    only after the TLS stack verified the chain, which servers built with
    :func:`adapter_server_credentials` always demand. The validity window is checked again
    here, per call, because a connection can outlive the certificate it was opened with.

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


class RequirePeerIdentity(_ServerInterceptor):
    """Admit a call only from the TLS client whose certificate names ``expected_uri``.

    Every method is guarded (an unknown method still answers UNIMPLEMENTED, running
    nothing). Refusals: UNAUTHENTICATED without a valid client certificate,
    PERMISSION_DENIED for a valid certificate naming anyone else; each is logged with the
    caller's address and presented identity, which the caller is not told.
    """

    def __init__(self, expected_uri: str = HUB_SPIFFE_ID) -> None:
        """Admit only ``expected_uri`` (the hub, by default).

        Raises:
            ValueError: ``expected_uri`` is not a SPIFFE id (an empty policy is an error).
        """
        if not expected_uri.startswith("spiffe://") or expected_uri == "spiffe://":
            raise ValueError(f"expected a SPIFFE id, got {expected_uri!r}")
        self.expected_uri = expected_uri
        self._read_cache: dict[bytes, PeerCertificate] = {}
        self._guarded: dict[str, tuple[_Handler, _Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        """Wrap the method's handler so it checks the caller before doing anything."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # UNIMPLEMENTED: nothing runs
        method = handler_call_details.method
        known = self._guarded.get(method)
        if known is not None and known[0] is handler:
            return known[1]

        async def admit(context: _Context) -> None:
            await self._admit(method, context)

        guarded = _guarded(handler, admit)
        self._guarded[method] = (handler, guarded)  # one entry per registered method
        return guarded

    async def _admit(self, method: str, context: _Context) -> None:
        try:
            check_peer_identity(
                context.auth_context(), self.expected_uri, at=_now(), read=self._read
            )
        except UnauthenticatedPeerError as exc:
            _LOG.warning("refused %s from %s: %s", method, context.peer(), exc)
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "a valid client certificate is required"
            )
        except WrongPeerError as exc:
            _LOG.warning("refused %s from %s: %s", method, context.peer(), exc)
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"only {self.expected_uri} may call"
            )

    def _read(self, pem: bytes) -> PeerCertificate:
        """:meth:`PeerCertificate.from_pem`, remembered: parsing costs more than the call.

        Keyed by the exact PEM bytes, bounded by :data:`_READ_CACHE_SIZE`; only readable
        certificates are remembered, and the time and identity are checked on every call.
        """
        peer = self._read_cache.get(pem)
        if peer is None:
            peer = PeerCertificate.from_pem(pem)
            if len(self._read_cache) >= _READ_CACHE_SIZE:
                self._read_cache.clear()
            self._read_cache[pem] = peer
        return peer


def _guarded(handler: _Handler, admit: Admit) -> _Handler:
    """``handler`` with ``admit`` awaited before its behaviour runs, whatever its kind."""
    wrap: Callable[..., _Handler]
    if handler.unary_unary is not None:
        wrap, behaviour = grpc.unary_unary_rpc_method_handler, _single(handler.unary_unary, admit)
    elif handler.stream_unary is not None:
        wrap, behaviour = grpc.stream_unary_rpc_method_handler, _single(handler.stream_unary, admit)
    elif handler.unary_stream is not None:
        wrap, behaviour = grpc.unary_stream_rpc_method_handler, _stream(handler.unary_stream, admit)
    elif handler.stream_stream is not None:
        wrap, behaviour = (
            grpc.stream_stream_rpc_method_handler,
            _stream(handler.stream_stream, admit),
        )
    else:
        raise PkiError("a method handler without a behaviour cannot be guarded")
    return wrap(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _single(inner: Callable[..., Any], admit: Admit) -> Callable[[Any, _Context], Awaitable[Any]]:
    """Guard a behaviour with one response (sync or async)."""

    async def guarded(request: Any, context: _Context) -> Any:
        await admit(context)
        result = inner(request, context)
        return await result if inspect.isawaitable(result) else result

    return guarded


def _stream(inner: Callable[..., Any], admit: Admit) -> Callable[[Any, _Context], Any]:
    """Guard a response-streaming behaviour, keeping its style.

    A coroutine that writes with ``context.write`` stays a coroutine; a (sync or async)
    generator becomes an async generator.
    """
    if inspect.iscoroutinefunction(inner):

        async def writer(request: Any, context: _Context) -> None:
            await admit(context)
            await inner(request, context)

        return writer

    async def generator(request: Any, context: _Context) -> AsyncIterator[Any]:
        await admit(context)
        responses = inner(request, context)
        if isinstance(responses, AsyncIterable):
            async for response in responses:
                yield response
        else:
            for response in responses:
                yield response

    return generator
