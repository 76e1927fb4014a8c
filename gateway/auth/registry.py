"""The registry of client organisations: who may call the hub, with which keys, for what.

Loaded once, at start-up, from one YAML file, and strict on purpose: unknown keys, duplicate
YAML keys, a refused key type (RSA, HMAC secrets, curves other than Ed25519 and P-256), a
private key pasted where a public one belongs, a kid or a public key used twice and unknown
roles all stop the start with a :class:`RegistryError` naming the file and the key::

    organisations:
      - id: relief_tehran                  # lower-case letters, digits, '_', '-', '.'; = iss
        name: Tehran relief committee
        name_fa: کمیته امداد تهران          # optional
        roles: [checker]                   # checker | auditor | consent_manager
        enabled: true                      # optional, default true
        rate_limit: {per_second: 100, burst: 200}     # optional, this is the default
        programs:                          # program id -> purposes it may be checked for
          livelihood_basket: [livelihood_support]
        keys:                              # at least one; kids are unique across the file
          - kid: relief_tehran-2026-01
            pem: |
              -----BEGIN PUBLIC KEY-----
              ...
              -----END PUBLIC KEY-----
          - kid: relief_tehran-2026-02
            jwk: {kty: OKP, crv: Ed25519, x: <base64url of the 32-byte public key>}

Deny by default: an organisation with no ``programs`` may check nothing. Whether each listed
program exists is for the composition root to cross-check against the loaded programs.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, NoReturn

import jwt
import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import Field, JsonValue, model_validator

from adapters.typed_config import ConfigModel, load_yaml, located, read_text, validate
from gateway.auth.errors import RegistryError

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
"""The public key types a client may register."""

EDDSA = "EdDSA"
ES256 = "ES256"

_ORGANISATION_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MAX_PER_SECOND = 1_000_000.0
_MAX_BURST = 10_000_000


class Role(enum.StrEnum):
    """What an organisation may do besides authenticating."""

    CHECKER = "checker"
    AUDITOR = "auditor"
    CONSENT_MANAGER = "consent_manager"


def key_algorithm(key: object) -> str | None:
    """The JWS algorithm for an Ed25519 or P-256 key (public or private); None for others."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return EDDSA
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return ES256
    return None


@dataclass(frozen=True)
class RateLimit:
    """An organisation's token bucket: sustained ``per_second`` and at most ``burst`` at once."""

    per_second: float = 100.0
    burst: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.per_second <= _MAX_PER_SECOND:
            raise ValueError(f"per_second must be in (0, {_MAX_PER_SECOND:g}]")
        if not (1 <= self.burst <= _MAX_BURST):
            raise ValueError(f"burst must be in [1, {_MAX_BURST}]")


@dataclass(frozen=True)
class ClientKey:
    """One registered public key: its kid, the parsed key and the one algorithm it verifies."""

    kid: str
    algorithm: str
    public_key: PublicKey = field(compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        expected = key_algorithm(self.public_key)
        if expected is None or not isinstance(
            self.public_key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
        ):
            raise ValueError("only Ed25519 and EC P-256 public keys are accepted")
        if self.algorithm != expected:
            raise ValueError(f"a {expected} key cannot verify {self.algorithm}")

    @classmethod
    def from_public_key(cls, kid: str, public_key: PublicKey) -> ClientKey:
        """A key whose algorithm follows from its type (EdDSA for Ed25519, ES256 for P-256)."""
        algorithm = key_algorithm(public_key)
        if algorithm is None:
            raise ValueError("only Ed25519 and EC P-256 public keys are accepted")
        return cls(kid, algorithm, public_key)

    def public_pem(self) -> str:
        """The key as a PEM SubjectPublicKeyInfo."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


@dataclass(frozen=True)
class Organisation:
    """A client organisation: identity, roles, keys, what it may check and its rate limit."""

    id: str
    name: str
    roles: frozenset[Role]
    keys: tuple[ClientKey, ...]
    programs: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    name_fa: str | None = None
    rate_limit: RateLimit = RateLimit()
    enabled: bool = True

    def __post_init__(self) -> None:
        # A read-only view, so a caller's dict cannot change what the organisation may do.
        programs = {p: frozenset(purposes) for p, purposes in self.programs.items()}
        object.__setattr__(self, "programs", MappingProxyType(programs))

    def has_role(self, role: Role) -> bool:
        """Whether the organisation holds ``role``."""
        return role in self.roles

    def may_check(self, program_id: str, purpose: str) -> bool:
        """Whether ``program_id`` is listed for this organisation with ``purpose``."""
        return purpose in self.programs.get(program_id, frozenset())


class ClientRegistry:
    """The organisations and an index of their keys by kid; immutable once built.

    Raises:
        RegistryError: two organisations share an id, or two keys a kid or a public key.
    """

    def __init__(self, organisations: Iterable[Organisation]) -> None:
        self._organisations = tuple(organisations)
        by_id: dict[str, Organisation] = {}
        by_kid: dict[str, tuple[Organisation, ClientKey]] = {}
        material: dict[bytes, str] = {}
        for org in self._organisations:
            if org.id in by_id:
                raise RegistryError(f"organisation {org.id!r} is listed twice")
            by_id[org.id] = org
            for key in org.keys:
                if key.kid in by_kid:
                    raise RegistryError(f"kid {key.kid!r} is used twice")
                by_kid[key.kid] = (org, key)
                raw = key.public_key.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                if raw in material:
                    raise RegistryError(
                        f"kid {key.kid!r} holds the same public key as kid {material[raw]!r}; "
                        "one key pair must belong to one organisation under one kid"
                    )
                material[raw] = key.kid
        self._by_id = MappingProxyType(by_id)
        self._by_kid = MappingProxyType(by_kid)

    @property
    def organisations(self) -> tuple[Organisation, ...]:
        """Every organisation, in file order."""
        return self._organisations

    def key(self, kid: str) -> tuple[Organisation, ClientKey]:
        """The organisation owning ``kid`` and the key; KeyError when no key has that kid."""
        return self._by_kid[kid]

    def organisation(self, organisation_id: str) -> Organisation:
        """The organisation with that id; KeyError when there is none."""
        return self._by_id[organisation_id]

    def __len__(self) -> int:
        return len(self._organisations)

    def __iter__(self) -> Iterator[Organisation]:
        return iter(self._organisations)


# --- reading the file -------------------------------------------------------------------------

_Text = Annotated[str, Field(pattern=r"\S")]
_Identifier = Annotated[str, Field(pattern=rf"^{_IDENTIFIER.pattern}$")]


class _RateLimitFile(ConfigModel):
    per_second: Annotated[float, Field(gt=0, le=_MAX_PER_SECOND, allow_inf_nan=False)]
    """Requests per second the organisation may sustain."""
    burst: Annotated[int, Field(ge=1, le=_MAX_BURST)]
    """Requests it may send at once."""


class _KeyFile(ConfigModel):
    kid: Annotated[str, Field(pattern=rf"^{_KID.pattern}$")]
    """The key id tokens name in their header; unique across the file."""
    jwk: dict[str, JsonValue] | None = None
    """The public key as a JWK (OKP/Ed25519 or EC/P-256); exactly one of ``jwk``, ``pem``."""
    pem: _Text | None = None
    """The public key as a PEM SubjectPublicKeyInfo."""

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("secret" in data or "k" in data):
            raise ValueError(
                "HMAC secrets are not accepted: register an Ed25519 or P-256 public key"
            )
        return data


class _OrganisationFile(ConfigModel):
    id: Annotated[str, Field(pattern=rf"^{_ORGANISATION_ID.pattern}$")]
    """Lower-case letters, digits, ``_``, ``-``, ``.``; the tokens' ``iss``."""
    name: _Text
    """The organisation's name."""
    name_fa: _Text | None = None
    """Its Persian name."""
    roles: tuple[Role, ...]
    """What it may do: ``checker``, ``auditor``, ``consent_manager``."""
    enabled: bool = True
    """A disabled organisation is refused."""
    rate_limit: _RateLimitFile | None = None
    """Its token bucket; default ``{per_second: 100, burst: 200}``."""
    programs: dict[_Identifier, tuple[_Identifier, ...]] = Field(default_factory=dict)
    """Program id to the purposes it may be checked for; none listed, nothing allowed."""
    keys: Annotated[tuple[_KeyFile, ...], Field(min_length=1)]
    """Its public keys, at least one."""


class RegistryFile(ConfigModel):
    """A client registry file: the organisations that may call the hub."""

    organisations: Annotated[tuple[_OrganisationFile, ...], Field(min_length=1)]
    """Every client organisation."""


def load_client_registry(path: Path) -> ClientRegistry:
    """Read the client registry at ``path``.

    Raises:
        RegistryError: the file is unreadable, not YAML, or has any defect; the message
            names the file and the key.
    """
    source = str(path)
    document = load_yaml(read_text(path, error=RegistryError), source=source, error=RegistryError)
    parsed = validate(document, RegistryFile, source=source, error=RegistryError)
    reader = _Reader(source)
    organisations = [
        reader.organisation(entry, f"organisations[{i}]")
        for i, entry in enumerate(parsed.organisations)
    ]
    seen_ids: dict[str, int] = {}
    seen_kids: dict[str, int] = {}
    for i, org in enumerate(organisations):
        if org.id in seen_ids:
            reader.fail(
                f"organisations[{i}].id", f"{org.id!r} is already organisations[{seen_ids[org.id]}]"
            )
        seen_ids[org.id] = i
        for j, key in enumerate(org.keys):
            if key.kid in seen_kids:
                reader.fail(
                    f"organisations[{i}].keys[{j}].kid",
                    f"{key.kid!r} is already used by organisations[{seen_kids[key.kid]}]",
                )
            seen_kids[key.kid] = i
    try:
        return ClientRegistry(organisations)
    except RegistryError as exc:
        reader.fail("organisations", str(exc))


class _Reader:
    """Turns a parsed registry file into organisations: the checks a type cannot express."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> NoReturn:
        raise RegistryError(located(self.source, where, message))

    def organisation(self, entry: _OrganisationFile, where: str) -> Organisation:
        roles: set[Role] = set()
        for i, role in enumerate(entry.roles):
            if role in roles:
                self.fail(f"{where}.roles[{i}]", f"role {role.value!r} is listed twice")
            roles.add(role)
        for program_id, purposes in entry.programs.items():
            if not purposes:
                self.fail(
                    f"{where}.programs.{program_id}",
                    "list at least one purpose, or remove the program",
                )
            if len(set(purposes)) != len(purposes):
                self.fail(f"{where}.programs.{program_id}", "a purpose is listed twice")
        limit = entry.rate_limit
        return Organisation(
            id=entry.id,
            name=entry.name,
            name_fa=entry.name_fa,
            roles=frozenset(roles),
            keys=tuple(self.key(k, f"{where}.keys[{i}]") for i, k in enumerate(entry.keys)),
            programs={p: frozenset(purposes) for p, purposes in entry.programs.items()},
            rate_limit=RateLimit() if limit is None else RateLimit(limit.per_second, limit.burst),
            enabled=entry.enabled,
        )

    def key(self, entry: _KeyFile, where: str) -> ClientKey:
        if (entry.jwk is None) == (entry.pem is None):
            self.fail(where, "give exactly one of 'jwk' or 'pem'")
        if entry.jwk is not None:
            public_key = self.jwk(entry.jwk, f"{where}.jwk", entry.kid)
        else:
            assert entry.pem is not None  # noqa: S101 - exactly one is set, checked above
            public_key = self.pem(entry.pem, f"{where}.pem")
        return ClientKey.from_public_key(entry.kid, public_key)

    def jwk(self, value: Mapping[str, object], where: str, kid: str) -> PublicKey:
        if "d" in value or "p" in value:
            self.fail(where, _PRIVATE_KEY_PASTED)
        kty, crv = value.get("kty"), value.get("crv")
        if kty == "oct":
            self.fail(where, "HMAC secrets (kty oct) are not accepted: register a public key")
        if kty == "RSA":
            self.fail(where, "RSA keys are not accepted: register an Ed25519 or P-256 key")
        if (kty, crv) == ("OKP", "Ed25519"):
            algorithm = EDDSA
        elif (kty, crv) == ("EC", "P-256"):
            algorithm = ES256
        else:
            self.fail(where, f"kty {kty!r} crv {crv!r} is not accepted: only OKP/Ed25519, EC/P-256")
        for name, expected in (("alg", algorithm), ("use", "sig"), ("kid", kid)):
            if name in value and value[name] != expected:
                self.fail(f"{where}.{name}", f"must be {expected!r} when given")
        try:
            key: object = jwt.PyJWK(dict(value), algorithm=algorithm).key
        except (jwt.PyJWTError, ValueError, TypeError):
            # pyjwt's messages may echo the whole JWK; say what is wrong without it.
            self.fail(where, f"not a valid {kty}/{crv} public key (check x and y)")
        if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
            self.fail(where, _PRIVATE_KEY_PASTED)
        return key

    def pem(self, text: str, where: str) -> PublicKey:
        if "PRIVATE KEY" in text:
            self.fail(where, _PRIVATE_KEY_PASTED)
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
            self.fail(where, "not a PEM public key (-----BEGIN PUBLIC KEY-----)")
        algorithm = key_algorithm(key)
        if algorithm is None or not isinstance(
            key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
        ):
            self.fail(where, f"{_key_kind(key)} keys are not accepted: only Ed25519 and P-256")
        return key


_PRIVATE_KEY_PASTED = (
    "this is a private key: register only the public half, and treat this key as "
    "compromised (it has been in a configuration file) — generate a new pair"
)


def _key_kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey") or "this"


# --- writing a registry (the demo generates its own) --------------------------------------------


class _RegistryDumper(yaml.SafeDumper):
    """Writes multi-line strings (PEM keys) as literal blocks, so the file stays readable."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RegistryDumper.add_representer(str, _represent_text)


def dump_client_registry(organisations: Iterable[Organisation]) -> str:
    """The registry file (YAML, PEM public keys) that :func:`load_client_registry` reads back."""
    entries: list[dict[str, object]] = []
    for org in organisations:
        entry: dict[str, object] = {"id": org.id, "name": org.name}
        if org.name_fa is not None:
            entry["name_fa"] = org.name_fa
        entry["roles"] = sorted(role.value for role in org.roles)
        entry["enabled"] = org.enabled
        entry["rate_limit"] = {
            "per_second": org.rate_limit.per_second,
            "burst": org.rate_limit.burst,
        }
        entry["programs"] = {p: sorted(org.programs[p]) for p in sorted(org.programs)}
        entry["keys"] = [{"kid": key.kid, "pem": key.public_pem()} for key in org.keys]
        entries.append(entry)
    body = yaml.dump(
        {"organisations": entries},
        Dumper=_RegistryDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return "# Sakha client registry: public keys only.\n" + body
