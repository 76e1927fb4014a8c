"""Client bearer tokens: verifying a JWT against the client registry, and minting one.

A token is a compact JWS (RFC 7515) carrying JWT claims (RFC 7519), signed by a key the
caller's organisation registered. :func:`verify_token` follows RFC 8725 (JWT best current
practice) and refuses, each with its own :class:`AuthenticationReason`:

- anything over :data:`MAX_TOKEN_CHARS`, before any parsing;
- any ``alg`` but ``EdDSA`` and ``ES256`` (so ``none``, ``HS*``, ``RS*``, ``PS*``) before
  any key lookup, and an ``alg`` that is not the registered key's own algorithm (no
  algorithm confusion: the key decides the algorithm, the header only has to agree);
- ``crit`` (no extension is understood) and ``b64`` (RFC 7797) headers; a ``typ`` other
  than ``JWT``; duplicate JSON members in the header or the claims;
- a missing ``kid``, or one no organisation registered;
- a bad signature (checked by pyjwt's JWS layer with the registered key);
- a disabled organisation (only after the signature, so status is told to its owner only);
- missing ``iss``/``sub``/``aud``/``exp``/``iat``, ill-typed claims, ``iss`` other than the
  key's organisation, ``aud`` other than exactly this gateway;
- ``nbf`` or ``iat`` later than now + leeway, ``exp`` at or before now - leeway, and
  ``exp - iat`` above the maximum lifetime.

The claims are checked here rather than by ``jwt.decode``: pyjwt reads the wall clock itself
(a verifier needs an injectable ``now`` for tests and replay), and coerces NumericDates with
``int()`` (so ``"exp": "9999999999"`` or ``true`` would pass); here they must be numbers.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt import api_jws
from jwt.utils import base64url_decode

from gateway.auth.errors import AuthenticationError, KeyFileError, quoted
from gateway.auth.errors import AuthenticationReason as Reason
from gateway.auth.registry import (
    EDDSA,
    ES256,
    ClientRegistry,
    Organisation,
    PublicKey,
    key_algorithm,
)

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
"""The private key types a client may sign with."""

ALLOWED_ALGORITHMS = frozenset({EDDSA, ES256})
"""The only JWS algorithms the hub accepts (explicit allow-list, RFC 8725 §3.1)."""

MAX_TOKEN_CHARS = 8192
"""Longest token accepted; anything longer is refused before it is parsed."""

MAX_KEY_FILE_BYTES = 64 * 1024
"""Largest private key file :func:`load_private_key` reads."""

_REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat")
_MAX_TEXT_CLAIM = 256
_MAX_NUMERIC_DATE = 2**53
# An unsigned token (``alg: none``) has an empty third segment; it is refused by its alg.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")
_HOW_TO_AUTHENTICATE = "no bearer token: send the metadata 'authorization: Bearer <JWT>'"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its organisation, the operator (``sub``) and the token's facts.

    ``key_id`` names the key that signed the token, so the audit log can say which one.
    """

    organisation: Organisation
    operator: str
    token_id: str | None
    expires_at: int
    key_id: str


class _DuplicateMemberError(ValueError):
    """A JSON object repeats a member name."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateMemberError(name)
        result[name] = value
    return result


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object, refusing duplicate members and NaN/Infinity."""
    try:
        value = json.loads(data, object_pairs_hook=_unique_members, parse_constant=_refuse_constant)
    except _DuplicateMemberError as exc:
        raise AuthenticationError(
            Reason.TOKEN_MALFORMED, f"the token's {what} repeats the member {quoted(str(exc))}"
        ) from None
    except (ValueError, RecursionError):
        raise AuthenticationError(
            Reason.TOKEN_MALFORMED, f"the token's {what} is not valid JSON"
        ) from None
    if not isinstance(value, dict):
        raise AuthenticationError(
            Reason.TOKEN_MALFORMED, f"the token's {what} is not a JSON object"
        )
    return value


def _shape(token: object, max_chars: int) -> str:
    """The token as text once its size and compact-JWS shape are acceptable."""
    if token is None or (isinstance(token, str | bytes) and not token):
        raise AuthenticationError(Reason.TOKEN_MISSING, _HOW_TO_AUTHENTICATE)
    if not isinstance(token, str | bytes):
        raise AuthenticationError(Reason.TOKEN_MALFORMED, "the token is not text")
    if len(token) > max_chars:
        raise AuthenticationError(
            Reason.TOKEN_TOO_LARGE, f"the token is longer than {max_chars} characters"
        )
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationError(Reason.TOKEN_MALFORMED, "the token is not ASCII") from None
    if not token.strip():
        raise AuthenticationError(Reason.TOKEN_MISSING, _HOW_TO_AUTHENTICATE)
    if not _COMPACT_JWS.fullmatch(token):
        hint = (
            "send the token alone, without a 'Bearer' prefix or spaces"
            if " " in token.strip()
            else "expected three unpadded base64url segments, header.payload.signature"
        )
        raise AuthenticationError(Reason.TOKEN_MALFORMED, f"the token is not a compact JWS: {hint}")
    return token


def _header(token: str) -> dict[str, Any]:
    """The token's protected header, checked before any key is looked up."""
    try:
        raw = base64url_decode(token.split(".", 1)[0])
    except (binascii.Error, ValueError):
        raise AuthenticationError(
            Reason.TOKEN_MALFORMED, "the token's header is not base64url"
        ) from None
    header = _json_object(raw, "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise AuthenticationError(
            Reason.ALGORITHM_NOT_ALLOWED,
            f"alg {quoted(alg)} is not accepted: sign with EdDSA (Ed25519) or ES256 (P-256)",
        )
    for name in ("crit", "b64"):
        if name in header:
            raise AuthenticationError(
                Reason.CRITICAL_HEADER,
                f"the header parameter {name!r} is not supported: remove it",
            )
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise AuthenticationError(Reason.TOKEN_MALFORMED, f"typ {quoted(typ)} is not 'JWT'")
    kid = header.get("kid")
    if kid is None:
        raise AuthenticationError(
            Reason.KID_MISSING,
            "the header has no kid: name the key your organisation registered",
        )
    if not isinstance(kid, str) or not kid:
        raise AuthenticationError(Reason.TOKEN_MALFORMED, "the header's kid is not text")
    return header


def _verified_claims(token: str, public_key: PublicKey, algorithm: str, kid: str) -> dict[str, Any]:
    """The claims, once pyjwt's JWS layer has checked the signature with the registered key."""
    try:
        decoded = api_jws.decode_complete(token, key=public_key, algorithms=[algorithm])
    except jwt.InvalidSignatureError:
        raise AuthenticationError(
            Reason.BAD_SIGNATURE,
            f"the signature does not verify with the public key registered as {quoted(kid)}: "
            "sign with its private key and send the token unaltered",
        ) from None
    except jwt.InvalidAlgorithmError:
        raise AuthenticationError(
            Reason.ALGORITHM_KEY_MISMATCH, f"key {quoted(kid)} verifies {algorithm} only"
        ) from None
    except jwt.PyJWTError:
        raise AuthenticationError(
            Reason.TOKEN_MALFORMED, "the token's segments are not canonical base64url"
        ) from None
    payload: bytes = decoded["payload"]
    return _json_object(payload, "claims")


def _text_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims[name]
    if (
        not isinstance(value, str)
        or len(value) > _MAX_TEXT_CLAIM
        or not _PRINTABLE.fullmatch(value)
    ):
        raise AuthenticationError(
            Reason.CLAIM_INVALID,
            f"claim {name!r} must be non-empty text of at most {_MAX_TEXT_CLAIM} printable "
            "characters",
            claim=name,
        )
    return value


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= _MAX_NUMERIC_DATE
    ):
        raise AuthenticationError(
            Reason.CLAIM_INVALID,
            f"claim {name!r} must be a NumericDate: seconds since 1970-01-01T00:00:00Z",
            claim=name,
        )
    return value


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims["aud"]
    if aud in (audience, [audience]):
        return
    raise AuthenticationError(
        Reason.AUDIENCE_MISMATCH,
        f"aud must be exactly {audience!r} (a token for other services too is refused)",
        claim="aud",
    )


def _check_times(claims: Mapping[str, Any], now: float, leeway_s: int, max_lifetime_s: int) -> int:
    """Check exp, iat and nbf against ``now``; return exp."""
    exp = _numeric_date(claims, "exp")
    iat = _numeric_date(claims, "iat")
    nbf = _numeric_date(claims, "nbf") if "nbf" in claims else None
    if exp <= iat:
        raise AuthenticationError(Reason.CLAIM_INVALID, "exp must be later than iat", claim="exp")
    if exp - iat > max_lifetime_s:
        raise AuthenticationError(
            Reason.LIFETIME_TOO_LONG,
            f"the token lives {exp - iat:.0f} s (exp - iat); at most {max_lifetime_s} s",
            claim="exp",
        )
    if nbf is not None and nbf > now + leeway_s:
        raise AuthenticationError(
            Reason.TOKEN_NOT_YET_VALID,
            f"the token is not valid before {nbf:.0f} (now {now:.0f}, leeway {leeway_s} s)",
            claim="nbf",
        )
    if iat > now + leeway_s:
        raise AuthenticationError(
            Reason.ISSUED_IN_FUTURE,
            f"iat {iat:.0f} is in the future (now {now:.0f}, leeway {leeway_s} s): "
            "check the signer's clock",
            claim="iat",
        )
    if exp <= now - leeway_s:
        raise AuthenticationError(
            Reason.TOKEN_EXPIRED,
            f"the token expired at {exp:.0f} (now {now:.0f}, leeway {leeway_s} s): mint a new one",
            claim="exp",
        )
    return int(exp)


def verify_token(
    token: str | bytes,
    registry: ClientRegistry,
    *,
    audience: str,
    now: float | None = None,
    leeway_s: int = 30,
    max_lifetime_s: int = 3600,
    max_token_chars: int = MAX_TOKEN_CHARS,
) -> Caller:
    """Authenticate a bearer token against ``registry``.

    Args:
        token: the compact JWS, without any ``Bearer`` prefix.
        registry: the client organisations and their keys.
        audience: this gateway's name; ``aud`` must equal it.
        now: the time to judge ``exp``/``nbf``/``iat`` by (seconds since the epoch);
            None for the wall clock.
        leeway_s: clock skew tolerated on each time check.
        max_lifetime_s: longest ``exp - iat`` accepted.
        max_token_chars: longest token parsed.

    Returns:
        The caller: its organisation, operator (``sub``), ``jti`` and expiry.

    Raises:
        AuthenticationError: for any defect; ``reason`` says which. Nothing else is raised
            for any ``token`` value.
    """
    if leeway_s < 0 or max_lifetime_s <= 0 or max_token_chars <= 0 or not audience:
        raise ValueError(
            "verify_token needs leeway_s >= 0, max_lifetime_s > 0, max_token_chars > 0 "
            "and an audience"
        )
    text = _shape(token, max_token_chars)
    header = _header(text)
    kid: str = header["kid"]
    try:
        organisation, key = registry.key(kid)
    except KeyError:
        raise AuthenticationError(
            Reason.UNKNOWN_KEY,
            f"no key is registered as kid {quoted(kid)}: use your organisation's registered kid",
        ) from None
    if header["alg"] != key.algorithm:
        raise AuthenticationError(
            Reason.ALGORITHM_KEY_MISMATCH,
            f"key {quoted(kid)} is a {key.algorithm} key; the header says {quoted(header['alg'])}",
        )
    claims = _verified_claims(text, key.public_key, key.algorithm, kid)
    if not organisation.enabled:
        raise AuthenticationError(
            Reason.ORGANISATION_DISABLED,
            f"organisation {organisation.id!r} is disabled: ask the gateway's operators",
        )
    for name in _REQUIRED_CLAIMS:
        if claims.get(name) is None:
            raise AuthenticationError(
                Reason.CLAIM_MISSING, f"the claim {name!r} is required", claim=name
            )
    if _text_claim(claims, "iss") != organisation.id:
        raise AuthenticationError(
            Reason.ISSUER_MISMATCH,
            f"iss must be {organisation.id!r}, the organisation that registered key {kid!r}",
            claim="iss",
        )
    operator = _text_claim(claims, "sub")
    token_id = _text_claim(claims, "jti") if claims.get("jti") is not None else None
    _check_audience(claims, audience)
    expires_at = _check_times(claims, time.time() if now is None else now, leeway_s, max_lifetime_s)
    return Caller(organisation, operator, token_id, expires_at, kid)


# --- minting (the CLI's `sakha token issue`, the demo and the tests) ---------------------------


def issue_token(
    *,
    organisation_id: str,
    operator: str,
    private_key: PrivateKey,
    kid: str,
    audience: str,
    ttl_s: int = 600,
    now: float | None = None,
    jti: str | None = None,
) -> str:
    """A signed token for ``operator`` of ``organisation_id``, valid ``ttl_s`` seconds.

    The algorithm follows from the key (EdDSA for Ed25519, ES256 for P-256). A random
    ``jti`` is set when none is given, so each token can be told apart in the audit log.
    """
    algorithm = key_algorithm(private_key)
    if algorithm is None or not isinstance(
        private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    ):
        raise ValueError("sign with an Ed25519 or EC P-256 private key")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    if not (organisation_id and operator and kid and audience):
        raise ValueError("organisation_id, operator, kid and audience are required")
    issued_at = int(time.time() if now is None else now)
    claims = {
        "iss": organisation_id,
        "sub": operator,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + ttl_s,
        "jti": uuid.uuid4().hex if jti is None else jti,
    }
    return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid})


def load_private_key(path: Path) -> PrivateKey:
    """Read an unencrypted PEM private key (Ed25519 or P-256) for signing tokens.

    Raises:
        KeyFileError: the file is unreadable, too large, encrypted, not a PEM private key,
            or of another type. The message never quotes the file's contents.
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path}: larger than {MAX_KEY_FILE_BYTES} bytes; not a key file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(
            f"{path}: the key is encrypted; development keys are unencrypted PEM "
            "(production signers keep keys in their own key store)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path}: not a PEM private key (PKCS#8 PEM expected)") from None
    if key_algorithm(key) is None or not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    ):
        raise KeyFileError(f"{path}: only Ed25519 and EC P-256 keys can sign tokens")
    return key


def generate_client_key(
    kind: Literal["ed25519", "p256"] = "ed25519",
) -> tuple[PrivateKey, str]:
    """A new key pair for a client: the private key and the public key as PEM (for the registry)."""
    private_key: PrivateKey
    if kind == "ed25519":
        private_key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "p256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key kind {kind!r}: ed25519 or p256")
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_key, public_pem


def private_key_pem(private_key: PrivateKey) -> bytes:
    """``private_key`` as unencrypted PKCS#8 PEM, for a development key file (mode 0600)."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
