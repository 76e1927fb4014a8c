"""Published JWS examples (RFC 8037 A.4, RFC 7515 A.3) verified by the primitives we rely on.

See ``vectors/PROVENANCE.md``. Each vector's public key also goes through our registry
loader, so the key the hub would hold is proven to be the key the RFC published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from jwt import api_jws

from gateway.auth.errors import AuthenticationError, AuthenticationReason
from gateway.auth.registry import ClientKey, load_client_registry
from gateway.auth.tokens import verify_token

VECTORS = Path(__file__).parent / "vectors"


def vector(name: str) -> dict[str, Any]:
    """One committed vector file."""
    loaded: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return loaded


def registered(tmp_path: Path, jwk: dict[str, Any]) -> ClientKey:
    """``jwk`` as the hub would hold it after loading a registry file that lists it."""
    entry = {"kid": "rfc", "jwk": jwk}
    document = {
        "organisations": [{"id": "rfc_example", "name": "RFC", "roles": [], "keys": [entry]}]
    }
    path = tmp_path / "clients.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")  # JSON is YAML
    return load_client_registry(path).key("rfc")[1]


def flipped(jws: str) -> str:
    """``jws`` with one character of its signature changed."""
    head, _, signature = jws.rpartition(".")
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_rfc8037_a4_ed25519_signature_verifies(tmp_path: Path) -> None:
    v = vector("rfc8037_a4_ed25519.json")
    key = registered(tmp_path, v["public_jwk"])
    assert key.algorithm == "EdDSA"
    decoded = api_jws.decode_complete(v["jws"], key=key.public_key, algorithms=[key.algorithm])
    assert decoded["header"] == v["protected_header"]
    assert decoded["payload"] == v["payload_text"].encode()


def test_rfc8037_a4_is_reproduced_by_signing_with_the_a1_key() -> None:
    v = vector("rfc8037_a4_ed25519.json")
    private_key = jwt.PyJWK(v["private_jwk"]).key
    jws = api_jws.encode(
        v["payload_text"].encode(), private_key, algorithm="EdDSA", headers={"typ": None}
    )
    assert jws == v["jws"]


def test_rfc7515_a3_es256_signature_verifies(tmp_path: Path) -> None:
    v = vector("rfc7515_a3_es256.json")
    key = registered(tmp_path, v["public_jwk"])
    assert key.algorithm == "ES256"
    decoded = api_jws.decode_complete(v["jws"], key=key.public_key, algorithms=[key.algorithm])
    assert decoded["header"] == v["protected_header"]
    assert json.loads(decoded["payload"]) == v["payload_claims"]


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        pytest.param("rfc8037_a4_ed25519.json", "EdDSA", id="rfc8037-a4"),
        pytest.param("rfc7515_a3_es256.json", "ES256", id="rfc7515-a3"),
    ],
)
def test_tampered_rfc_signature_is_refused(name: str, algorithm: str) -> None:
    v = vector(name)
    key = jwt.PyJWK(v["public_jwk"]).key
    with pytest.raises(jwt.InvalidSignatureError):
        api_jws.decode_complete(flipped(v["jws"]), key=key, algorithms=[algorithm])


def test_rfc_vectors_are_not_hub_tokens(tmp_path: Path) -> None:
    """A published example is no bearer token: it names no kid, so no key is even looked up."""
    v = vector("rfc7515_a3_es256.json")
    registered(tmp_path, v["public_jwk"])
    registry = load_client_registry(tmp_path / "clients.yaml")
    with pytest.raises(AuthenticationError) as caught:
        verify_token(v["jws"], registry, audience="sakha-hub", now=1300819000)
    assert caught.value.reason is AuthenticationReason.KID_MISSING
