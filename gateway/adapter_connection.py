"""How the command-line tools reach an adapter: plaintext, or exactly as the hub does.

``sakha adapter probe`` and ``sakha adapter conformance`` share it. In TLS mode a tool needs
the hub's PKI folder: the channel presents the hub's client certificate and checks that the
adapter's certificate names the agency, and each Fetch carries a fetch token signed with the
hub's fetch-token key for exactly that request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import grpc

from adapters.client import CHANNEL_OPTIONS
from adapters.pki.material import PkiLayout
from adapters.sdk import FetchQuery
from gateway.fetch_tokens import FetchTokenSigner
from gateway.pki.tls import agency_channel_options, hub_channel_credentials

TOOL_BASIS = ("probe",)
"""The basis a tool's fetch token names: no consent, a look at the adapter itself."""


@dataclass(frozen=True)
class AdapterConnection:
    """An adapter's address and, for mutual TLS, the hub's PKI and the agency's id."""

    target: str
    pki: PkiLayout | None = None
    agency_id: str | None = None

    def __post_init__(self) -> None:
        """A PKI needs the agency id: the certificate the adapter presents must name it."""
        if self.pki is not None and self.agency_id is None:
            raise ValueError("a TLS connection needs the agency id its certificate names")

    @property
    def mode(self) -> str:
        """``"mutual TLS"`` or ``"plaintext"``, as reports print it."""
        return "plaintext" if self.pki is None else "mutual TLS"

    def channel(
        self,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, int]] = CHANNEL_OPTIONS,
    ) -> grpc.aio.Channel:
        """A new channel to the adapter, as the hub's (or with other ``credentials``)."""
        if self.pki is None:
            return grpc.aio.insecure_channel(self.target, options=options)
        assert self.agency_id is not None  # noqa: S101 - __post_init__ requires it
        credentials = credentials or hub_channel_credentials(self.pki)
        every = [*options, *agency_channel_options(self.agency_id)]
        return grpc.aio.secure_channel(self.target, credentials, options=every)

    @cached_property
    def signer(self) -> FetchTokenSigner | None:
        """The hub's fetch-token signer in TLS mode (its key read once); None in plaintext."""
        if self.pki is None:
            return None
        return FetchTokenSigner.from_key_file(self.pki.fetch_token_key)

    def token(self, query: FetchQuery, agency_id: str) -> str | None:
        """The hub's fetch token for ``query`` at ``agency_id`` in TLS mode; None in plaintext."""
        signer = self.signer
        return None if signer is None else signer.mint(query, agency_id=agency_id, basis=TOOL_BASIS)
