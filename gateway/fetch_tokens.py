"""The hub's side of fetch tokens: one signed token per Fetch, with the hub's own key.

The format (header, claims, the predicate text and the subject digest) is defined once, in
:mod:`adapters.fetch_token`, which agencies' adapters verify with; this module signs. The
key is the hub's fetch-token key (Ed25519), never a client's and not its TLS key: holding
``hub-client.key`` alone then reads nothing from an agency.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.fetch_token import ISSUER, MAX_LIFETIME_S, TOKEN_TYPE, request_claims
from adapters.jwk_set import ALGORITHM, jwk_thumbprint, public_jwk_set
from adapters.sdk import FetchQuery
from gateway.auth.tokens import load_private_key
from gateway.config import ConfigError

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
        key = load_private_key(path)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ConfigError(f"{path}: the fetch-token key must be Ed25519")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
        return cls(key, kid=kid, ttl_s=ttl_s)

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
            "basis": sorted(set(basis)),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=self._headers)

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set agencies verify this signer's tokens with."""
        return public_jwk_set({self.kid: self._key.public_key()})

    def jwks_text(self) -> str:
        """:meth:`jwks` as the text of a JWK Set file."""
        return json.dumps(self.jwks(), indent=2) + "\n"
