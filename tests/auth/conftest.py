"""Fixtures for the auth tests: client keys made at test time, a registry, token builders.

``claims(**changes)`` is a valid claim set at :data:`NOW` (a change to None removes the
claim); ``sign(...)`` signs any claims under any header with pyjwt's JWS layer;
``assemble(...)`` glues arbitrary segments for tokens no honest library would produce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt import api_jws
from jwt.utils import base64url_encode

from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role

NOW = 1_800_000_000
AUDIENCE = "sakha-hub"
ORG = "relief_tehran"
OTHER_ORG = "red_crescent_qom"
DISABLED_ORG = "closed_ngo"
ED_KID = "relief_tehran-ed25519-1"
P256_KID = "relief_tehran-p256-1"
OTHER_KID = "red_crescent_qom-1"
DISABLED_KID = "closed_ngo-1"
LIVELIHOOD = "livelihood_basket"


@dataclass(frozen=True)
class ClientKeys:
    """The private halves of every registered test key, plus keys nobody registered."""

    ed25519: Ed25519PrivateKey
    p256: ec.EllipticCurvePrivateKey
    other: Ed25519PrivateKey
    disabled: Ed25519PrivateKey
    stranger_ed25519: Ed25519PrivateKey
    stranger_p256: ec.EllipticCurvePrivateKey
    rsa: RSAPrivateKey


@pytest.fixture(scope="session")
def keys() -> ClientKeys:
    """Fresh keys for this test session (no private key is committed)."""
    return ClientKeys(
        ed25519=ed25519.Ed25519PrivateKey.generate(),
        p256=ec.generate_private_key(ec.SECP256R1()),
        other=ed25519.Ed25519PrivateKey.generate(),
        disabled=ed25519.Ed25519PrivateKey.generate(),
        stranger_ed25519=ed25519.Ed25519PrivateKey.generate(),
        stranger_p256=ec.generate_private_key(ec.SECP256R1()),
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def organisation(
    org_id: str,
    *client_keys: ClientKey,
    roles: frozenset[Role] = frozenset({Role.CHECKER}),
    programs: dict[str, frozenset[str]] | None = None,
    enabled: bool = True,
) -> Organisation:
    """An organisation with sensible test defaults."""
    return Organisation(
        id=org_id,
        name=org_id.replace("_", " ").title(),
        roles=roles,
        keys=client_keys,
        programs={} if programs is None else programs,
        enabled=enabled,
    )


@pytest.fixture(scope="session")
def registry(keys: ClientKeys) -> ClientRegistry:
    """Three organisations: one with an Ed25519 and a P-256 key, another, and a disabled one."""
    return ClientRegistry(
        [
            organisation(
                ORG,
                ClientKey.from_public_key(ED_KID, keys.ed25519.public_key()),
                ClientKey.from_public_key(P256_KID, keys.p256.public_key()),
                programs={LIVELIHOOD: frozenset({"livelihood_support", "caseload_review"})},
            ),
            organisation(
                OTHER_ORG,
                ClientKey.from_public_key(OTHER_KID, keys.other.public_key()),
                roles=frozenset({Role.AUDITOR}),
            ),
            organisation(
                DISABLED_ORG,
                ClientKey.from_public_key(DISABLED_KID, keys.disabled.public_key()),
                enabled=False,
            ),
        ]
    )


def claims(**changes: Any) -> dict[str, Any]:
    """A valid claim set issued at NOW for ten minutes; a change to None drops the claim."""
    base: dict[str, Any] = {
        "iss": ORG,
        "sub": "operator-7",
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "token-1",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(
    payload: dict[str, Any],
    key: Any,
    *,
    alg: str = "EdDSA",
    kid: str | None = ED_KID,
    extra_headers: dict[str, Any] | None = None,
) -> str:
    """``payload`` signed by pyjwt's JWS layer under ``alg`` with ``kid`` (None: no kid)."""
    headers: dict[str, Any] = {} if kid is None else {"kid": kid}
    headers.update(extra_headers or {})
    return api_jws.encode(json.dumps(payload).encode(), key, algorithm=alg, headers=headers)


def segment(value: dict[str, Any] | bytes) -> str:
    """One base64url segment: a JSON object or raw bytes."""
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64url_encode(data).decode("ascii")


def assemble(
    header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, signature: bytes
) -> str:
    """A compact JWS from arbitrary parts (signature bytes taken as they are)."""
    return f"{segment(header)}.{segment(payload)}.{segment(signature) if signature else ''}"
