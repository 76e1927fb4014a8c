"""Only the hub may call an adapter: its TLS client certificate must name the hub."""

from __future__ import annotations

import datetime as dt
import logging

from adapters.interceptors.wrap import CallInterceptor, Context, Refuse
from adapters.pki.material import HUB_SPIFFE_ID
from adapters.pki.peer import PeerCertificate, PeerIdentityError, check_peer_identity

_LOG = logging.getLogger(__name__)

_READ_CACHE_SIZE = 64
"""Client certificates an interceptor remembers (one hub, a few during a rotation)."""


class RequirePeerIdentity(CallInterceptor):
    """Admit a call only from the TLS client whose certificate names ``expected_uri``.

    Every method is guarded, health and reflection included (they share the port, and an
    unauthenticated probe cannot finish the handshake anyway). Refusals raise
    :class:`~adapters.pki.peer.UnauthenticatedPeerError` (no valid client certificate) or
    :class:`~adapters.pki.peer.WrongPeerError` (a valid one naming anyone else); each is
    logged with the caller's address and presented identity, which the caller is not told.
    """

    def __init__(self, refuse: Refuse, expected_uri: str = HUB_SPIFFE_ID) -> None:
        """Admit only ``expected_uri`` (the hub, by default); refuse others with ``refuse``.

        Raises:
            ValueError: ``expected_uri`` is not a SPIFFE id (an empty policy is an error).
        """
        if not expected_uri.startswith("spiffe://") or expected_uri == "spiffe://":
            raise ValueError(f"expected a SPIFFE id, got {expected_uri!r}")
        super().__init__(refuse)
        self.expected_uri = expected_uri
        self._read_cache: dict[bytes, PeerCertificate] = {}

    async def admit(self, method: str, context: Context, request: object) -> Context:
        """Check the caller's certificate, per call (a connection can outlive it)."""
        try:
            check_peer_identity(
                context.auth_context(),
                self.expected_uri,
                at=dt.datetime.now(dt.UTC),
                read=self._read,
            )
        except PeerIdentityError as exc:
            _LOG.warning("refused %s from %s: %s", method, context.peer(), exc)
            raise
        return context

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
