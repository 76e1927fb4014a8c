"""The hub's side of fetch tokens: one signed token per Fetch, with the hub's own key.

The format (header, claims, the predicate text and the subject digest) is defined once, in
:mod:`adapters.fetch_token`, which agencies' adapters verify with; this module signs. The
key is the hub's fetch-token key (Ed25519), never a client's and not its TLS key: holding
``hub-client.key`` alone then reads nothing from an agency.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.fetch_token import ISSUER, MAX_LIFETIME_S, TOKEN_TYPE, request_claims
from adapters.jwk_set import ALGORITHM, jwk_thumbprint, public_jwk_set
from adapters.sdk import FetchQuery
from gateway.signing_key import load_hub_signing_key

DEFAULT_TTL_S = 30
"""A fetch token's default life: enough for one Fetch, nothing more."""


class FetchTokenSigner:
    """Signs fetch tokens with the hub's fetch-token key.

    Args:
        private_key: the hub's fetch-token key.
        kid: its key id, as the agencies' JWK Set names it (default: its RFC 7638 thumbprint).
        ttl_s: each token's life, 1 to :data:`~adapters.fetch_token.MAX_LIFETIME_S` seconds.
        clock: seconds since the epoch (tests mint at a fixed time).
    """

    def __init__(
        self,
        private_key: ed25519.Ed25519PrivateKey,
        *,
        kid: str | None = None,
        ttl_s: int = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < ttl_s <= MAX_LIFETIME_S:
            raise ValueError(f"ttl_s must be 1 to {MAX_LIFETIME_S} seconds")
        self._key = private_key
        self.kid = kid or jwk_thumbprint(private_key.public_key())
        self._ttl_s = ttl_s
        self._clock = clock
        self._headers = {"kid": self.kid, "typ": TOKEN_TYPE}

    @classmethod
    def from_key_file(
        cls, path: Path, *, kid: str | None = None, ttl_s: int = DEFAULT_TTL_S
    ) -> FetchTokenSigner:
        """A signer with the Ed25519 key in ``path`` (unencrypted PKCS#8 PEM).

        Raises:
            KeyFileError: the file is unreadable or not a PEM private key.
            ConfigError: the key is not Ed25519, or others than its owner may read it (the
                key alone lets its holder read every agency).
        """
        return cls(load_hub_signing_key(path, role="fetch-token"), kid=kid, ttl_s=ttl_s)

    def mint(self, query: FetchQuery, *, agency_id: str, basis: Sequence[str] = ()) -> str:
        """The token allowing exactly ``query`` at ``agency_id``, under ``basis`` (consent ids,
        mandate ids: sorted and deduplicated here)."""
        issued_at = int(self._clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": agency_id,
            "iat": issued_at,
            "exp": issued_at + self._ttl_s,
            **request_claims(query),
            "basis": basis_claim(basis),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=self._headers)

    def at(self, clock: Callable[[], float]) -> FetchTokenSigner:
        """The same key, kid and life, minting at the times ``clock`` gives."""
        return FetchTokenSigner(self._key, kid=self.kid, ttl_s=self._ttl_s, clock=clock)

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set agencies verify this signer's tokens with."""
        return public_jwk_set({self.kid: self._key.public_key()})

    def jwks_text(self) -> str:
        """:meth:`jwks` as the text of a JWK Set file."""
        return json.dumps(self.jwks(), indent=2) + "\n"


MAX_LISTED_BASIS = 16
"""Most consent and mandate references a token lists by name; beyond, it names their digest."""


def basis_claim(basis: Sequence[str]) -> list[str]:
    """The token's ``basis``: the references sorted and deduplicated, or, when there are more
    than :data:`MAX_LISTED_BASIS` (a batch under one consent per subject), the single
    reference ``sha256:<hex>`` of their sorted lines, which keeps a token small enough for
    gRPC metadata while still binding it to them (the audit log lists each one)."""
    references = sorted(set(basis))
    if len(references) <= MAX_LISTED_BASIS:
        return references
    lines = "".join(f"{reference}\n" for reference in references)
    return [f"sha256:{hashlib.sha256(lines.encode()).hexdigest()}"]
