"""Minting tokens for development: key generation, key files, issue_token round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.auth.errors import AuthenticationError, AuthenticationReason, KeyFileError
from gateway.auth.registry import ClientKey, ClientRegistry
from gateway.auth.tokens import (
    MAX_KEY_FILE_BYTES,
    generate_client_key,
    issue_token,
    load_private_key,
    private_key_pem,
    verify_token,
)
from tests.auth.conftest import AUDIENCE, NOW, ClientKeys, organisation


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [pytest.param("ed25519", "EdDSA", id="ed25519"), pytest.param("p256", "ES256", id="p256")],
)
def test_generated_key_issues_tokens_its_registry_accepts(
    kind: Any, algorithm: str, tmp_path: Path
) -> None:
    private_key, public_pem = generate_client_key(kind)
    public_key = serialization.load_pem_public_key(public_pem.encode())
    client_key = ClientKey.from_public_key("k-1", public_key)  # type: ignore[arg-type]
    assert client_key.algorithm == algorithm
    registry = ClientRegistry([organisation("demo_ngo", client_key)])
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(private_key_pem(private_key))
    token = issue_token(
        organisation_id="demo_ngo",
        operator="caseworker-1",
        private_key=load_private_key(key_file),
        kid="k-1",
        audience=AUDIENCE,
        ttl_s=300,
        now=NOW,
        jti="fixed",
    )
    assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": "k-1", "typ": "JWT"}
    caller = verify_token(token, registry, audience=AUDIENCE, now=NOW + 10)
    assert (caller.organisation.id, caller.operator, caller.token_id) == (
        "demo_ngo",
        "caseworker-1",
        "fixed",
    )
    assert caller.expires_at == NOW + 300


def test_issued_tokens_get_distinct_ids_and_the_default_lifetime(
    keys: ClientKeys, registry: ClientRegistry
) -> None:
    def mint() -> str:
        return issue_token(
            organisation_id="relief_tehran",
            operator="op",
            private_key=keys.ed25519,
            kid="relief_tehran-ed25519-1",
            audience=AUDIENCE,
            now=NOW,
        )

    first, second = (verify_token(mint(), registry, audience=AUDIENCE, now=NOW) for _ in range(2))
    assert first.token_id
    assert second.token_id
    assert first.token_id != second.token_id
    assert first.expires_at == NOW + 600


def test_issue_token_without_now_is_valid_now(keys: ClientKeys, registry: ClientRegistry) -> None:
    token = issue_token(
        organisation_id="relief_tehran",
        operator="op",
        private_key=keys.p256,
        kid="relief_tehran-p256-1",
        audience=AUDIENCE,
    )
    assert verify_token(token, registry, audience=AUDIENCE).operator == "op"


def test_a_token_minted_beyond_the_maximum_lifetime_is_refused(
    keys: ClientKeys, registry: ClientRegistry
) -> None:
    token = issue_token(
        organisation_id="relief_tehran",
        operator="op",
        private_key=keys.ed25519,
        kid="relief_tehran-ed25519-1",
        audience=AUDIENCE,
        ttl_s=86_400,
        now=NOW,
    )
    with pytest.raises(AuthenticationError) as caught:
        verify_token(token, registry, audience=AUDIENCE, now=NOW)
    assert caught.value.reason is AuthenticationReason.LIFETIME_TOO_LONG


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"private_key": "rsa"}, "Ed25519 or EC P-256", id="rsa-key"),
        pytest.param(
            {"private_key": ec.generate_private_key(ec.SECP384R1())},
            "Ed25519 or EC P-256",
            id="p384-key",
        ),
        pytest.param({"private_key": "public"}, "Ed25519 or EC P-256", id="public-key"),
        pytest.param({"ttl_s": 0}, "ttl_s", id="no-lifetime"),
        pytest.param({"operator": ""}, "required", id="no-operator"),
        pytest.param({"kid": ""}, "required", id="no-kid"),
    ],
)
def test_issue_token_refuses_nonsense(
    changes: dict[str, Any], message: str, keys: ClientKeys
) -> None:
    arguments: dict[str, Any] = {
        "organisation_id": "relief_tehran",
        "operator": "op",
        "private_key": keys.ed25519,
        "kid": "k",
        "audience": AUDIENCE,
        **changes,
    }
    if arguments["private_key"] == "rsa":
        arguments["private_key"] = keys.rsa
    if arguments["private_key"] == "public":
        arguments["private_key"] = keys.ed25519.public_key()
    with pytest.raises(ValueError, match=message):
        issue_token(**arguments)


def test_generate_client_key_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="ed25519 or p256"):
        generate_client_key("rsa")  # type: ignore[arg-type]


def key_file(tmp_path: Path, data: bytes) -> Path:
    """A file holding ``data``."""
    path = tmp_path / "key.pem"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda k: k.ed25519.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"passphrase"),
            ),
            "encrypted",
            id="encrypted",
        ),
        pytest.param(lambda k: b"just some text\n", "not a PEM private key", id="not-pem"),
        pytest.param(
            lambda k: k.ed25519.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "not a PEM private key",
            id="public-key-file",
        ),
        pytest.param(lambda k: private_key_pem(k.rsa), "only Ed25519 and EC P-256", id="rsa"),
        pytest.param(lambda k: b"x" * (MAX_KEY_FILE_BYTES + 1), "larger than", id="oversized-file"),
    ],
)
def test_unusable_key_file_is_refused_without_quoting_it(
    make: Any, message: str, keys: ClientKeys, tmp_path: Path
) -> None:
    data: bytes = make(keys)
    path = key_file(tmp_path, data)
    with pytest.raises(KeyFileError, match=message) as caught:
        load_private_key(path)
    assert str(caught.value).startswith(str(path))
    assert data[:40].decode(errors="replace") not in str(caught.value)


def test_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "absent.pem")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="ed25519"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="p256"),
    ],
)
def test_key_file_round_trip(make: Any, tmp_path: Path) -> None:
    private_key = make()
    loaded = load_private_key(key_file(tmp_path, private_key_pem(private_key)))
    assert private_key_pem(loaded) == private_key_pem(private_key)
