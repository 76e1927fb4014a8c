"""Fetch tokens: the hub's signed permission for one Fetch, defined once for both ends.

Every ``Fetch`` the hub sends carries, in the metadata ``authorization: Bearer <token>``, a
JWT (RFC 7519) the hub signs for that call alone with its own fetch-token key (Ed25519,
``alg`` EdDSA, RFC 8037), never a client's. An adapter verifies it with the hub's public
keys (a JWK Set, :meth:`FetchTokenVerifier.load`) before its query runs, so a caller that
holds the hub's TLS client key but not its signing key reads nothing.

The protected header is ``{"alg": "EdDSA", "kid": ..., "typ": "sakha-fetch+jwt"}``. The
claims:

- ``iss``: :data:`ISSUER` (the hub's SPIFFE id); ``aud``: the agency id;
- ``iat``, ``exp``: integer seconds; ``exp - iat`` at most :data:`MAX_LIFETIME_S`;
- ``jti``: the request's ``fetch_id``;
- ``attributes``: the request's attribute names, in request order;
- ``predicates``: each predicate as :func:`predicate_text`, in request order;
- ``purpose``, ``as_of`` (``YYYY-MM-DD``): as in the request;
- ``basis``: the consent and mandate references the fetch is made under (sorted strings;
  when a fetch is made under more than 16, as a batch with one consent per subject is, the
  single string ``sha256:<hex>`` of their sorted lines, each ended by a newline);
- ``sub``: :func:`subject_digest` of the request's subjects, in request order.

The request-bound claims are :func:`request_claims` of the query, on both sides: the hub
signs what it sends, the adapter recomputes them from what it decoded and compares.

Nothing here imports the hub: the hub's signer (``gateway.fetch_tokens``) imports this.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt import api_jws

from adapters.errors import (
    AdapterConfigError,
    FetchTokenExpiredError,
    FetchTokenInvalidError,
    FetchTokenMissingError,
    FetchTokenNotYetValidError,
    WrongAgencyError,
    WrongAttributesError,
    WrongFetchError,
    WrongSubjectsError,
)
from adapters.jwk_set import ALGORITHM, b64url, read_jwk_set
from adapters.pki.material import HUB_SPIFFE_ID
from adapters.sdk import FetchQuery, Predicate

TOKEN_TYPE = "sakha-fetch+jwt"  # noqa: S105 - a JOSE media type, not a secret
"""The ``typ`` header of every fetch token (RFC 8725 3.11: explicit typing)."""

ISSUER = HUB_SPIFFE_ID
"""The ``iss`` of every fetch token: the hub."""

MAX_LIFETIME_S = 300
"""Longest ``exp - iat`` an adapter accepts (the hub's default is 30 s)."""

LEEWAY_S = 5
"""Clock skew an adapter tolerates on ``exp`` and ``iat``."""

MAX_TOKEN_CHARS = 64 * 1024
"""Longest token an adapter parses (64 attributes and predicates fit with room to spare)."""

_BEARER = "Bearer "
_UNSAFE_IN_JSON_STRING = bytes(range(0x20)) + b'"\\'


def predicate_text(predicate: Predicate) -> str:
    """A predicate as one text, ``attribute op operand``: ``water_m3_12m lt 240``.

    ``op`` is the operator's wire name (``lt``, ``le``, ``gt``, ``ge``, ``eq``, ``ne``); the
    operand is ``true``/``false``, a decimal integer or a JSON string, so ``1``, ``true`` and
    ``"1"`` differ.
    """
    operand = json.dumps(predicate.operand, ensure_ascii=False)
    return f"{predicate.attribute} {predicate.operator.value} {operand}"


def subject_digest(subjects: Sequence[str]) -> str:
    """base64url (unpadded) of SHA-256 over the subjects as a JSON array, in request order.

    The array is written without whitespace, strings with the minimal escapes of RFC 8785
    (``"``, ``\\`` and control characters only) in UTF-8: ``["0012345679","0045678911"]``.
    Subjects that need no escape (national IDs) take a fast path giving the same bytes.
    """
    if not subjects:
        text = b"[]"
    else:
        joined = '","'.join(subjects)
        plain = joined.isascii() and not _needs_escape("".join(subjects))
        if plain:
            text = b'["' + joined.encode("ascii") + b'"]'
        else:
            text = json.dumps(list(subjects), ensure_ascii=False, separators=(",", ":")).encode()
    return b64url(hashlib.sha256(text).digest())


def _needs_escape(ascii_text: str) -> bool:
    raw = ascii_text.encode("ascii")
    return len(raw.translate(None, _UNSAFE_IN_JSON_STRING)) != len(raw)


def request_claims(query: FetchQuery) -> dict[str, Any]:
    """The claims that bind a token to ``query``: what the hub signs, what an adapter compares."""
    return {
        "jti": query.fetch_id,
        "attributes": list(query.attributes),
        "predicates": [predicate_text(p) for p in query.predicates],
        "purpose": query.purpose,
        "as_of": query.as_of.isoformat(),
        "sub": subject_digest(query.subjects),
    }


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the call's ``authorization: Bearer <token>`` metadata, or None."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value.startswith(_BEARER):
            return value[len(_BEARER) :]
    return None


# --- keys -----------------------------------------------------------------------------------


# --- verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedFetch:
    """What a valid token says beyond the request itself."""

    kid: str
    """The hub key that signed it."""
    basis: tuple[str, ...]
    """The consent and mandate references the hub made the fetch under."""
    expires_at: int
    """Its ``exp``."""


class FetchTokenVerifier:
    """Checks that a Fetch carries a valid hub token for exactly that request, at this agency.

    Args:
        keys: the hub's public keys by kid (several during a rotation); at least one.
        agency_id: this agency: the only ``aud`` accepted.
        leeway_s: clock skew tolerated on ``exp`` and ``iat``.
        clock: seconds since the epoch (tests replay a fixed time).

    Raises:
        ValueError: no keys, no agency id or a negative leeway (an empty policy is an error).
    """

    def __init__(
        self,
        keys: Mapping[str, ed25519.Ed25519PublicKey],
        agency_id: str,
        *,
        leeway_s: float = LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys or not agency_id or leeway_s < 0:
            raise ValueError("a FetchTokenVerifier needs keys, an agency id and leeway_s >= 0")
        self._keys = dict(keys)
        self.agency_id = agency_id
        self._leeway_s = leeway_s
        self._clock = clock

    @classmethod
    def load(cls, path: Path, agency_id: str) -> FetchTokenVerifier:
        """A verifier for ``agency_id`` from the hub's JWK Set file at ``path``.

        Raises:
            AdapterConfigError: the file is unreadable or not a valid JWK Set of Ed25519 keys.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AdapterConfigError(f"{path}: not a readable JWK Set of the hub ({exc})") from None
        return cls(read_jwk_set(data, str(path)), agency_id)

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids accepted, sorted."""
        return tuple(sorted(self._keys))

    def verify(self, token: str | None, query: FetchQuery) -> VerifiedFetch:
        """Check ``token`` allows ``query`` here and now; never runs anything else.

        Raises:
            FetchTokenError: one subclass per defect (its ``reason`` is the status reason):
                missing, invalid (malformed, unknown kid, wrong alg or typ, bad signature,
                another issuer, ill-typed times, too long a life), not yet valid, expired,
                for another agency, other attributes or predicates, other subjects, or
                another fetch (fetch id, purpose, as-of date).
        """
        if not token:
            raise FetchTokenMissingError("no fetch token: expected 'authorization: Bearer <JWT>'")
        claims, kid = self._signed_claims(token)
        expires_at = self._check_times(claims)
        if claims.get("aud") != self.agency_id:
            raise WrongAgencyError(f"the token is not for agency {self.agency_id!r}")
        expected = request_claims(query)
        for name, error, what in (
            ("attributes", WrongAttributesError, "other attributes"),
            ("predicates", WrongAttributesError, "other predicates"),
            ("jti", WrongFetchError, "another fetch id"),
            ("purpose", WrongFetchError, "another purpose"),
            ("as_of", WrongFetchError, "another as-of date"),
            ("sub", WrongSubjectsError, "other subjects"),
        ):
            if claims.get(name) != expected[name]:
                raise error(f"the token was signed for {what} than this request's")
        basis = claims.get("basis", [])
        if not isinstance(basis, list) or not all(isinstance(b, str) for b in basis):
            raise FetchTokenInvalidError("the token's basis is not a list of references")
        return VerifiedFetch(kid, tuple(basis), expires_at)

    def _signed_claims(self, token: str) -> tuple[dict[str, Any], str]:
        if len(token) > MAX_TOKEN_CHARS:
            raise FetchTokenInvalidError(f"the token is longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise FetchTokenInvalidError("the token is not a compact JWS") from None
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise FetchTokenInvalidError(f"the token is not an {ALGORITHM} {TOKEN_TYPE}")
        if "crit" in header:
            raise FetchTokenInvalidError("the token has critical header parameters")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise FetchTokenInvalidError("the token's kid names no key of the hub known here")
        try:
            decoded = api_jws.decode_complete(token, key=key, algorithms=[ALGORITHM])
            claims = json.loads(decoded["payload"])
        except jwt.InvalidSignatureError:
            raise FetchTokenInvalidError("the token's signature does not verify") from None
        except (jwt.PyJWTError, ValueError):
            raise FetchTokenInvalidError("the token's claims are not readable") from None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            raise FetchTokenInvalidError("the token was not issued by the hub")
        return claims, str(kid)

    def _check_times(self, claims: Mapping[str, Any]) -> int:
        issued, expires = claims.get("iat"), claims.get("exp")
        if (
            not (_is_date(issued) and _is_date(expires))
            or not 0 < expires - issued <= MAX_LIFETIME_S
        ):
            raise FetchTokenInvalidError(
                f"the token needs iat and exp in seconds, at most {MAX_LIFETIME_S} s apart"
            )
        now = self._clock()
        if issued > now + self._leeway_s:
            raise FetchTokenNotYetValidError("the token's iat is in the future: check the clocks")
        if expires <= now - self._leeway_s:
            raise FetchTokenExpiredError("the token has expired")
        return int(expires)


def _is_date(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
