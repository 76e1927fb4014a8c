"""The client registry file: what loads, what is refused (naming file and key), round trips."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.auth.errors import RegistryError
from gateway.auth.registry import (
    ClientKey,
    ClientRegistry,
    Organisation,
    RateLimit,
    Role,
    dump_client_registry,
    load_client_registry,
)
from tests.auth.conftest import organisation


def spki(key: Any) -> str:
    """A public key as PEM SubjectPublicKeyInfo."""
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def pkcs8(key: Any, form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> str:
    """A private key as unencrypted PEM."""
    pem: bytes = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    return pem.decode()


@dataclass(frozen=True)
class Material:
    """Keys of every kind, accepted and refused, in the forms a registry file can hold."""

    ed_private: ed25519.Ed25519PrivateKey
    ed_pem: str
    ed_pem_2: str
    p256_pem: str
    ed_jwk: dict[str, Any]
    p256_jwk: dict[str, Any]
    ed_private_jwk: dict[str, Any]
    ed_private_pem: str
    ec_private_pem: str
    rsa_pem: str
    rsa_jwk: dict[str, Any]
    p384_pem: str
    secp256k1_jwk: dict[str, Any]
    ed448_pem: str
    x25519_pem: str


@pytest.fixture(scope="module")
def material() -> Material:
    """Fresh keys for the registry tests."""
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_2 = ed25519.Ed25519PrivateKey.generate()
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Material(
        ed_private=ed,
        ed_pem=spki(ed.public_key()),
        ed_pem_2=spki(ed_2.public_key()),
        p256_pem=spki(p256.public_key()),
        ed_jwk=dict(OKPAlgorithm.to_jwk(ed_2.public_key(), as_dict=True)),
        p256_jwk=dict(ECAlgorithm.to_jwk(p256.public_key(), as_dict=True)),
        ed_private_jwk=dict(OKPAlgorithm.to_jwk(ed, as_dict=True)),
        ed_private_pem=pkcs8(ed),
        ec_private_pem=pkcs8(p256, serialization.PrivateFormat.TraditionalOpenSSL),
        rsa_pem=spki(rsa_key.public_key()),
        rsa_jwk=dict(RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)),
        p384_pem=spki(ec.generate_private_key(ec.SECP384R1()).public_key()),
        secp256k1_jwk=dict(
            ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256K1()).public_key(), as_dict=True)
        ),
        ed448_pem=spki(ed448.Ed448PrivateKey.generate().public_key()),
        x25519_pem=spki(x25519.X25519PrivateKey.generate().public_key()),
    )


def document(m: Material) -> dict[str, Any]:
    """A valid registry: two organisations, keys in every accepted form."""
    return {
        "organisations": [
            {
                "id": "relief_tehran",
                "name": "Tehran relief committee",
                "name_fa": "کمیته امداد تهران",
                "roles": ["checker", "consent_manager"],
                "rate_limit": {"per_second": 20, "burst": 40},
                "programs": {"livelihood_basket": ["livelihood_support", "caseload_review"]},
                "keys": [
                    {"kid": "relief_tehran-1", "pem": m.ed_pem},
                    {"kid": "relief_tehran-2", "jwk": m.p256_jwk},
                ],
            },
            {
                "id": "audit.office",
                "name": "Audit office",
                "roles": ["auditor"],
                "enabled": False,
                "keys": [{"kid": "audit-1", "jwk": m.ed_jwk}],
            },
        ]
    }


def write(tmp_path: Path, content: dict[str, Any] | str) -> Path:
    """A registry file holding ``content`` (a document is written as YAML)."""
    path = tmp_path / "clients.yaml"
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_registry_loads_with_defaults(tmp_path: Path, material: Material) -> None:
    registry = load_client_registry(write(tmp_path, document(material)))
    relief, audit = registry.organisations
    assert relief.id == "relief_tehran"
    assert relief.name_fa == "کمیته امداد تهران"
    assert relief.roles == {Role.CHECKER, Role.CONSENT_MANAGER}
    assert relief.rate_limit == RateLimit(20.0, 40)
    assert relief.programs == {
        "livelihood_basket": frozenset({"livelihood_support", "caseload_review"})
    }
    assert [k.algorithm for k in relief.keys] == ["EdDSA", "ES256"]
    assert relief.enabled
    assert audit.name_fa is None
    assert audit.programs == {}
    assert audit.rate_limit == RateLimit()
    assert not audit.enabled
    org, key = registry.key("relief_tehran-2")
    assert (org.id, key.kid, key.algorithm) == ("relief_tehran", "relief_tehran-2", "ES256")
    assert registry.organisation("audit.office") is audit
    assert len(registry) == 2
    assert [o.id for o in registry] == ["relief_tehran", "audit.office"]


def test_unknown_kid_and_organisation_are_key_errors(tmp_path: Path, material: Material) -> None:
    registry = load_client_registry(write(tmp_path, document(material)))
    with pytest.raises(KeyError):
        registry.key("nope")
    with pytest.raises(KeyError):
        registry.organisation("nope")


Edit = Callable[[dict[str, Any], Material], None]


def first(doc: dict[str, Any]) -> dict[str, Any]:
    """The first organisation of a document."""
    org: dict[str, Any] = doc["organisations"][0]
    return org


def key0(doc: dict[str, Any]) -> dict[str, Any]:
    """The first organisation's first key entry."""
    entry: dict[str, Any] = first(doc)["keys"][0]
    return entry


def set_key(doc: dict[str, Any], entry: dict[str, Any]) -> None:
    """Replace the first organisation's first key entry."""
    first(doc)["keys"][0] = entry


DEFECTS: list[Any] = [
    # -- refused key material
    pytest.param(
        lambda doc, m: key0(doc).update(pem=m.rsa_pem),
        r"organisations\[0\]\.keys\[0\]\.pem: RSA keys are not accepted",
        id="rsa-pem",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "jwk": m.rsa_jwk}),
        r"organisations\[0\]\.keys\[0\]\.jwk: RSA keys are not accepted",
        id="rsa-jwk",
    ),
    pytest.param(
        lambda doc, m: set_key(
            doc, {"kid": "k", "jwk": {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}}
        ),
        r"organisations\[0\]\.keys\[0\]\.jwk: HMAC secrets",
        id="hmac-secret-as-jwk",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "secret": "hunter2"}),
        r"organisations\[0\]\.keys\[0\]: HMAC secrets are not accepted",
        id="hmac-secret-field",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(pem=m.ed_private_pem),
        r"organisations\[0\]\.keys\[0\]\.pem: this is a private key",
        id="ed25519-private-pem-pasted",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(pem=m.ec_private_pem),
        r"organisations\[0\]\.keys\[0\]\.pem: this is a private key",
        id="ec-private-pem-pasted",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "jwk": m.ed_private_jwk}),
        r"organisations\[0\]\.keys\[0\]\.jwk: this is a private key",
        id="private-jwk-pasted",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(pem=m.p384_pem),
        r"\.pem: EC secp384r1 keys are not accepted",
        id="p384",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "jwk": m.secp256k1_jwk}),
        r"\.jwk: kty 'EC' crv 'secp256k1' is not accepted",
        id="secp256k1-jwk",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(pem=m.ed448_pem),
        r"\.pem: Ed448 keys are not accepted",
        id="ed448",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(pem=m.x25519_pem),
        r"\.pem: X25519 keys are not accepted",
        id="x25519",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(
            pem="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        ),
        r"\.pem: not a PEM public key",
        id="pem-garbage",
    ),
    pytest.param(
        lambda doc, m: set_key(
            doc, {"kid": "k", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}
        ),
        r"\.jwk: not a valid OKP/Ed25519 public key",
        id="jwk-short-x",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "jwk": {**m.ed_jwk, "alg": "HS256"}}),
        r"\.jwk\.alg: must be 'EdDSA'",
        id="jwk-alg-disagrees",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "jwk": {**m.ed_jwk, "kid": "other"}}),
        r"\.jwk\.kid: must be 'k'",
        id="jwk-kid-disagrees",
    ),
    pytest.param(
        lambda doc, m: set_key(doc, {"kid": "k", "jwk": {**m.ed_jwk, "use": "enc"}}),
        r"\.jwk\.use: must be 'sig'",
        id="jwk-for-encryption",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(jwk=m.ed_jwk),
        r"organisations\[0\]\.keys\[0\]: give exactly one of 'jwk' or 'pem'",
        id="both-jwk-and-pem",
    ),
    pytest.param(
        lambda doc, m: key0(doc).pop("pem"),
        r"organisations\[0\]\.keys\[0\]: give exactly one",
        id="neither-jwk-nor-pem",
    ),
    # -- identity and uniqueness
    pytest.param(
        lambda doc, m: doc["organisations"][1]["keys"][0].update(kid="relief_tehran-1"),
        r"organisations\[1\]\.keys\[0\]\.kid: 'relief_tehran-1' is already used",
        id="duplicate-kid-across-organisations",
    ),
    pytest.param(
        lambda doc, m: first(doc)["keys"][1].update(kid="relief_tehran-1"),
        r"organisations\[0\]\.keys\[1\]\.kid: 'relief_tehran-1' is already used",
        id="duplicate-kid-in-one-organisation",
    ),
    pytest.param(
        lambda doc, m: doc["organisations"][1]["keys"].__setitem__(
            0, {"kid": "audit-1", "pem": m.ed_pem}
        ),
        r"organisations: kid 'audit-1' holds the same public key as kid 'relief_tehran-1'",
        id="one-key-pair-under-two-kids",
    ),
    pytest.param(
        lambda doc, m: doc["organisations"][1].update(id="relief_tehran"),
        r"organisations\[1\]\.id: 'relief_tehran' is already organisations\[0\]",
        id="duplicate-organisation-id",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(id="Relief Tehran"),
        r"organisations\[0\]\.id: String should match pattern .*'Relief Tehran'",
        id="organisation-id-not-a-name",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(kid="has space"),
        r"organisations\[0\]\.keys\[0\]\.kid: String should match pattern .*'has space'",
        id="kid-with-space",
    ),
    # -- roles, programs, limits
    pytest.param(
        lambda doc, m: first(doc).update(roles=["checker", "admin"]),
        r"organisations\[0\]\.roles\[1\]: Input should be 'checker'.*, got 'admin'",
        id="unknown-role",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(roles=[["checker"]]),
        r"organisations\[0\]\.roles\[0\]: Input should be 'checker'",
        id="role-a-list",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(roles=["checker", "checker"]),
        r"organisations\[0\]\.roles\[1\]: role 'checker' is listed twice",
        id="role-twice",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(roles="checker"),
        r"organisations\[0\]\.roles: Input should be a valid array",
        id="roles-not-a-list",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(programs={"livelihood_basket": []}),
        r"organisations\[0\]\.programs\.livelihood_basket: list at least one purpose",
        id="program-without-purposes",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(programs={"livelihood_basket": ["a", "a"]}),
        r"programs\.livelihood_basket: a purpose is listed twice",
        id="purpose-twice",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(programs={"Livelihood Basket": ["a"]}),
        r"organisations\[0\]\.programs\.Livelihood Basket: String should match pattern",
        id="program-id-not-a-name",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(programs=["livelihood_basket"]),
        r"organisations\[0\]\.programs: expected a mapping",
        id="programs-a-list",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(rate_limit={"per_second": 0, "burst": 5}),
        r"organisations\[0\]\.rate_limit\.per_second: Input should be greater than 0",
        id="rate-zero",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(rate_limit={"per_second": 5, "burst": 0}),
        r"organisations\[0\]\.rate_limit\.burst: Input should be greater than or equal to 1",
        id="burst-zero",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(rate_limit={"per_second": 5, "burst": 2.5}),
        r"organisations\[0\]\.rate_limit\.burst: Input should be a valid integer, got 2\.5",
        id="burst-fractional",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(rate_limit={"per_second": "fast", "burst": 5}),
        r"organisations\[0\]\.rate_limit\.per_second: Input should be a valid number, got 'fast'",
        id="rate-not-a-number",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(rate_limit={"per_second": 5}),
        r"organisations\[0\]\.rate_limit\.burst: required key is missing",
        id="rate-limit-without-burst",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(enabled="no"),
        r"organisations\[0\]\.enabled: Input should be a valid boolean, got 'no'",
        id="enabled-text",
    ),
    # -- the file's shape
    pytest.param(
        lambda doc, m: first(doc).update(rolse=["checker"]),
        r"organisations\[0\]\.rolse: unknown key",
        id="unknown-key-in-organisation",
    ),
    pytest.param(
        lambda doc, m: key0(doc).update(kyd="x"),
        r"organisations\[0\]\.keys\[0\]\.kyd: unknown key",
        id="unknown-key-in-key-entry",
    ),
    pytest.param(
        lambda doc, m: doc.update(clients=[]),
        r"clients\.yaml: clients: unknown key",
        id="unknown-top-level-key",
    ),
    pytest.param(
        lambda doc, m: first(doc).pop("name"),
        r"organisations\[0\]\.name: required key is missing",
        id="organisation-without-name",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(name="  "),
        r"organisations\[0\]\.name: String should match pattern",
        id="organisation-blank-name",
    ),
    pytest.param(
        lambda doc, m: first(doc).update(keys=[]),
        r"organisations\[0\]\.keys: Tuple should have at least 1 item",
        id="organisation-without-keys",
    ),
    pytest.param(
        lambda doc, m: doc.update(organisations=[]),
        r"organisations: Tuple should have at least 1 item",
        id="no-organisations",
    ),
    pytest.param(
        lambda doc, m: doc["organisations"].__setitem__(0, "relief_tehran"),
        r"organisations\[0\]: expected a mapping, got 'relief_tehran'",
        id="organisation-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("edit", "message"), DEFECTS)
def test_defect_is_refused_naming_file_and_key(
    edit: Edit, message: str, tmp_path: Path, material: Material
) -> None:
    doc = copy.deepcopy(document(material))
    edit(doc, material)
    path = write(tmp_path, doc)
    with pytest.raises(RegistryError, match=message) as caught:
        load_client_registry(path)
    assert str(caught.value).startswith(f"{path}: ")
    private_body = material.ed_private_pem.splitlines()[1]
    assert private_body not in str(caught.value)
    assert material.ed_private_jwk["d"] not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("organisations: [\n", r"not valid YAML", id="bad-yaml"),
        pytest.param(
            "organisations:\n  - id: a\n    roles: [checker]\n    roles: [auditor]\n",
            r"not valid YAML: .*duplicate key 'roles'",
            id="duplicate-yaml-key",
        ),
        pytest.param("- organisations\n", "expected a mapping, got a list", id="top-not-a-mapping"),
        pytest.param("", r"expected a mapping, got None", id="empty-file"),
        pytest.param("!!python/object:os.system {}\n", r"not valid YAML", id="python-tag"),
    ],
)
def test_unreadable_document_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegistryError, match=message) as caught:
        load_client_registry(path)
    assert str(caught.value).startswith(str(path))


def test_missing_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"missing\.yaml: cannot read"):
        load_client_registry(tmp_path / "missing.yaml")


def test_non_utf8_file_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    path.write_bytes(b"organisations: [\xff]\n")
    with pytest.raises(RegistryError, match="cannot read"):
        load_client_registry(path)


def test_dump_reads_back_as_the_same_registry(tmp_path: Path, material: Material) -> None:
    loaded = load_client_registry(write(tmp_path, document(material)))
    text = dump_client_registry(loaded.organisations)
    assert "-----BEGIN PUBLIC KEY-----" in text
    assert "PRIVATE" not in text
    assert "کمیته امداد تهران" in text
    again = load_client_registry(write(tmp_path, text))
    assert again.organisations == loaded.organisations
    for before, after in zip(loaded.organisations, again.organisations, strict=True):
        assert [k.public_pem() for k in before.keys] == [k.public_pem() for k in after.keys]


def test_registry_built_in_code_refuses_duplicates(material: Material) -> None:
    key = ClientKey.from_public_key(
        "k1",
        serialization.load_pem_public_key(material.ed_pem.encode()),  # type: ignore[arg-type]
    )
    same_material = ClientKey("k2", key.algorithm, key.public_key)
    with pytest.raises(RegistryError, match="listed twice"):
        ClientRegistry([organisation("a", key), organisation("a", same_material)])
    with pytest.raises(RegistryError, match="kid 'k1' is used twice"):
        ClientRegistry([organisation("a", key), organisation("b", key)])
    with pytest.raises(RegistryError, match="same public key"):
        ClientRegistry([organisation("a", key), organisation("b", same_material)])


def test_client_key_refuses_private_keys_and_wrong_algorithms(material: Material) -> None:
    public = material.ed_private.public_key()
    with pytest.raises(ValueError, match="public keys"):
        ClientKey.from_public_key("k", material.ed_private)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="public keys"):
        ClientKey("k", "EdDSA", material.ed_private)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot verify ES256"):
        ClientKey("k", "ES256", public)
    rsa_public = serialization.load_pem_public_key(material.rsa_pem.encode())
    with pytest.raises(ValueError, match="public keys"):
        ClientKey.from_public_key("k", rsa_public)  # type: ignore[arg-type]


def test_organisation_programs_cannot_be_changed_afterwards(material: Material) -> None:
    programs = {"livelihood_basket": frozenset({"livelihood_support"})}
    org: Organisation = organisation("a", programs=programs)
    programs["rural_housing_support"] = frozenset({"housing"})
    assert not org.may_check("rural_housing_support", "housing")
    assert org.may_check("livelihood_basket", "livelihood_support")
    with pytest.raises(TypeError):
        org.programs["x"] = frozenset()  # type: ignore[index]
    assert hash(org) == hash(organisation("a", programs=programs))


@pytest.mark.parametrize(
    ("per_second", "burst"),
    [
        pytest.param(0.0, 1, id="zero-rate"),
        pytest.param(float("nan"), 1, id="nan-rate"),
        pytest.param(float("inf"), 1, id="infinite-rate"),
        pytest.param(1.0, 0, id="zero-burst"),
        pytest.param(1.0, 10**9, id="huge-burst"),
    ],
)
def test_rate_limit_bounds(per_second: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must be in"):
        RateLimit(per_second, burst)
