"""Ed25519 public keys as a JWK Set (RFC 7517, RFC 8037): publishing, reading, thumbprints.

One definition for every signing key the gateway publishes — the hub's fetch-token key
(agencies verify each Fetch with it) and the consent key (anyone verifies an exported
artefact with it) — so a set written by one side reads the same everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.errors import AdapterConfigError

ALGORITHM = "EdDSA"
"""The only JWS algorithm the published keys are for."""


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jwk_thumbprint(key: ed25519.Ed25519PublicKey) -> str:
    """The key's RFC 7638 thumbprint (SHA-256, base64url): the default ``kid``."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": b64url(_raw(key))}, separators=(",", ":")
    )
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk_set(keys: Mapping[str, ed25519.Ed25519PublicKey]) -> dict[str, Any]:
    """The JWK Set (RFC 7517 section 5) that publishes ``keys`` by kid."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(_raw(key)),
                "kid": kid,
                "alg": ALGORITHM,
                "use": "sig",
            }
            for kid, key in sorted(keys.items())
        ]
    }


def read_jwk_set(
    data: object, source: str, *, error: type[Exception] = AdapterConfigError
) -> dict[str, ed25519.Ed25519PublicKey]:
    """The public keys of a JWK Set by kid: OKP/Ed25519 keys only, each with a unique kid.

    Raises:
        error: not a JWK Set, empty, a key of another type, a private key, a missing or
            repeated kid, or ``alg``/``use`` other than EdDSA/sig; the message names
            ``source`` and the key.
    """
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise error(f"{source}: expected a JWK Set with at least one key")
    found: dict[str, ed25519.Ed25519PublicKey] = {}
    for index, entry in enumerate(keys):
        where = f"{source}: keys[{index}]"
        if not isinstance(entry, dict):
            raise error(f"{where}: not a JWK object")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise error(f"{where}: needs a kid")
        if kid in found:
            raise error(f"{where}: kid {kid!r} is listed twice; every key needs a kid of its own")
        if "d" in entry:
            raise error(f"{where}: a private key; publish only the public key")
        if (entry.get("kty"), entry.get("crv")) != ("OKP", "Ed25519"):
            raise error(f"{where}: not an Ed25519 signing key (only OKP/Ed25519 keys)")
        for name, expected in (("alg", ALGORITHM), ("use", "sig")):
            if name in entry and entry[name] != expected:
                raise error(
                    f"{where}: not an Ed25519 signing key: {name} must be {expected!r} when given"
                )
        try:
            key = jwt.PyJWK(dict(entry), algorithm=ALGORITHM).key
        except (jwt.PyJWTError, ValueError, TypeError):
            raise error(f"{where}: not a valid Ed25519 public key (x)") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise error(f"{where}: not an Ed25519 public key")
        found[kid] = key
    return found
