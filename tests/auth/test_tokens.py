"""Bearer token verification: every defect refused with its reason, and the happy paths.

Each defect is a named case that builds its token from the session's keys; the tokens that
no honest library would produce (unsigned, HMAC with a public key, duplicate members) are
assembled by hand, the rest are signed with pyjwt's JWS layer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwt import api_jws
from jwt.algorithms import OKPAlgorithm
from jwt.utils import base64url_decode, base64url_encode

from gateway.auth.errors import AuthenticationError, AuthenticationReason
from gateway.auth.registry import ClientRegistry
from gateway.auth.tokens import MAX_TOKEN_CHARS, Caller, verify_token
from tests.auth.conftest import (
    AUDIENCE,
    DISABLED_KID,
    DISABLED_ORG,
    ED_KID,
    NOW,
    ORG,
    OTHER_ORG,
    P256_KID,
    ClientKeys,
    assemble,
    claims,
    segment,
    sign,
)

R = AuthenticationReason
Build = Callable[[ClientKeys], str]


def verify(token: str | bytes, registry: ClientRegistry) -> Caller:
    """verify_token with the tests' audience, clock and the default limits."""
    return verify_token(token, registry, audience=AUDIENCE, now=NOW)


def valid(k: ClientKeys, **changes: Any) -> str:
    """A token from ORG's Ed25519 key with the given claim changes."""
    return sign(claims(**changes), k.ed25519)


def flip_signature_byte(token: str) -> str:
    """``token`` with the first byte of its signature inverted."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64url_decode(signature))
    raw[0] ^= 0xFF
    return f"{head}.{payload}.{base64url_encode(bytes(raw)).decode()}"


def public_pem(k: ClientKeys) -> bytes:
    """ORG's Ed25519 public key as PEM: what an attacker can read from the registry."""
    return k.ed25519.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hs256_with(secret: bytes) -> str:
    """An HS256 token for ED_KID whose HMAC key is ``secret`` (the algorithm-confusion attack)."""
    signing_input = f"{segment({'alg': 'HS256', 'kid': ED_KID})}.{segment(claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64url_encode(mac).decode()}"


def with_raw_claims(k: ClientKeys, payload: bytes) -> str:
    """``payload`` bytes, exactly as given, signed by ORG's Ed25519 key."""
    return api_jws.encode(payload, k.ed25519, algorithm="EdDSA", headers={"kid": ED_KID})


FAKE_SIGNATURE = b"\x01" * 64

DEFECTS: list[Any] = [
    # -- shape, before anything is parsed
    pytest.param(lambda k: "", R.TOKEN_MISSING, id="missing"),
    pytest.param(lambda k: "   ", R.TOKEN_MISSING, id="blank"),
    pytest.param(lambda k: "not a token at all", R.TOKEN_MALFORMED, id="garbage"),
    pytest.param(lambda k: "Bearer " + valid(k), R.TOKEN_MALFORMED, id="bearer-prefix-left-on"),
    pytest.param(lambda k: "abc.def", R.TOKEN_MALFORMED, id="two-segments"),
    pytest.param(lambda k: valid(k) + ".xyz", R.TOKEN_MALFORMED, id="four-segments"),
    pytest.param(lambda k: "a.b.c.d.e", R.TOKEN_MALFORMED, id="jwe-five-segments"),
    pytest.param(lambda k: valid(k) + "==", R.TOKEN_MALFORMED, id="base64-padding"),
    pytest.param(lambda k: valid(k)[:-2] + "é", R.TOKEN_MALFORMED, id="non-ascii"),
    pytest.param(lambda k: "a" * (MAX_TOKEN_CHARS + 1), R.TOKEN_TOO_LARGE, id="oversized-garbage"),
    pytest.param(
        lambda k: valid(k, padding="x" * MAX_TOKEN_CHARS),
        R.TOKEN_TOO_LARGE,
        id="oversized-but-validly-signed",
    ),
    # -- the header
    pytest.param(
        lambda k: assemble(b"not json", claims(), FAKE_SIGNATURE),
        R.TOKEN_MALFORMED,
        id="header-not-json",
    ),
    pytest.param(
        lambda k: assemble(b'["EdDSA"]', claims(), FAKE_SIGNATURE),
        R.TOKEN_MALFORMED,
        id="header-not-an-object",
    ),
    pytest.param(
        lambda k: assemble(
            f'{{"alg":"EdDSA","kid":"{ED_KID}","alg":"none"}}'.encode(), claims(), FAKE_SIGNATURE
        ),
        R.TOKEN_MALFORMED,
        id="header-duplicate-alg",
    ),
    pytest.param(
        lambda k: assemble({"alg": "none", "kid": ED_KID}, claims(), b""),
        R.ALGORITHM_NOT_ALLOWED,
        id="alg-none-unsigned",
    ),
    pytest.param(
        lambda k: assemble({"alg": "none", "kid": ED_KID}, claims(), FAKE_SIGNATURE),
        R.ALGORITHM_NOT_ALLOWED,
        id="alg-none-with-signature",
    ),
    pytest.param(
        lambda k: assemble({"alg": "nOnE", "kid": ED_KID}, claims(), b""),
        R.ALGORITHM_NOT_ALLOWED,
        id="alg-none-mixed-case",
    ),
    pytest.param(
        lambda k: assemble({"kid": ED_KID}, claims(), FAKE_SIGNATURE),
        R.ALGORITHM_NOT_ALLOWED,
        id="alg-absent",
    ),
    pytest.param(
        lambda k: assemble({"alg": ["EdDSA"], "kid": ED_KID}, claims(), FAKE_SIGNATURE),
        R.ALGORITHM_NOT_ALLOWED,
        id="alg-a-list",
    ),
    pytest.param(
        lambda k: assemble({"alg": "eddsa", "kid": ED_KID}, claims(), FAKE_SIGNATURE),
        R.ALGORITHM_NOT_ALLOWED,
        id="alg-wrong-case",
    ),
    pytest.param(
        lambda k: hs256_with(public_pem(k)),
        R.ALGORITHM_NOT_ALLOWED,
        id="hs256-keyed-with-public-pem",
    ),
    pytest.param(
        lambda k: hs256_with(
            k.ed25519.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        ),
        R.ALGORITHM_NOT_ALLOWED,
        id="hs256-keyed-with-raw-public-key",
    ),
    pytest.param(lambda k: sign(claims(), k.rsa, alg="RS256"), R.ALGORITHM_NOT_ALLOWED, id="rs256"),
    pytest.param(lambda k: sign(claims(), k.rsa, alg="PS256"), R.ALGORITHM_NOT_ALLOWED, id="ps256"),
    pytest.param(
        lambda k: assemble({"alg": "ES384", "kid": P256_KID}, claims(), FAKE_SIGNATURE),
        R.ALGORITHM_NOT_ALLOWED,
        id="es384",
    ),
    pytest.param(
        lambda k: sign(claims(), k.stranger_p256, alg="ES256", kid=ED_KID),
        R.ALGORITHM_KEY_MISMATCH,
        id="es256-header-on-ed25519-key",
    ),
    pytest.param(
        lambda k: sign(claims(), k.stranger_ed25519, alg="EdDSA", kid=P256_KID),
        R.ALGORITHM_KEY_MISMATCH,
        id="eddsa-header-on-p256-key",
    ),
    pytest.param(
        lambda k: sign(claims(), k.ed25519, extra_headers={"crit": ["exp"], "exp": NOW}),
        R.CRITICAL_HEADER,
        id="crit-header",
    ),
    pytest.param(
        lambda k: sign(claims(), k.ed25519, extra_headers={"crit": ["b64"], "b64": True}),
        R.CRITICAL_HEADER,
        id="crit-b64-that-pyjwt-understands",
    ),
    pytest.param(
        lambda k: assemble({"alg": "EdDSA", "kid": ED_KID, "b64": False}, claims(), FAKE_SIGNATURE),
        R.CRITICAL_HEADER,
        id="b64-unencoded-payload",
    ),
    pytest.param(
        lambda k: sign(claims(), k.ed25519, extra_headers={"typ": "JWE"}),
        R.TOKEN_MALFORMED,
        id="typ-not-jwt",
    ),
    pytest.param(lambda k: sign(claims(), k.ed25519, kid=None), R.KID_MISSING, id="no-kid"),
    pytest.param(
        lambda k: assemble({"alg": "EdDSA", "kid": 7}, claims(), FAKE_SIGNATURE),
        R.TOKEN_MALFORMED,
        id="kid-not-text",
    ),
    pytest.param(
        lambda k: sign(claims(), k.stranger_ed25519, kid="someone-elses-key"),
        R.UNKNOWN_KEY,
        id="unknown-kid",
    ),
    # -- the signature
    pytest.param(lambda k: flip_signature_byte(valid(k)), R.BAD_SIGNATURE, id="eddsa-byte-flipped"),
    pytest.param(
        lambda k: flip_signature_byte(sign(claims(), k.p256, alg="ES256", kid=P256_KID)),
        R.BAD_SIGNATURE,
        id="es256-byte-flipped",
    ),
    pytest.param(
        lambda k: sign(claims(), k.stranger_ed25519), R.BAD_SIGNATURE, id="signed-by-a-stranger"
    ),
    pytest.param(
        lambda k: sign(
            claims(),
            k.stranger_ed25519,
            extra_headers={"jwk": OKPAlgorithm.to_jwk(k.stranger_ed25519.public_key(), True)},
        ),
        R.BAD_SIGNATURE,
        id="embedded-jwk-header-not-trusted",
    ),
    pytest.param(
        lambda k: valid(k).rsplit(".", 1)[0] + ".",
        R.BAD_SIGNATURE,
        id="signature-stripped",
    ),
    pytest.param(
        lambda k: valid(k)[:-42],  # 44 characters left: a whole number of bytes
        R.BAD_SIGNATURE,
        id="signature-truncated",
    ),
    pytest.param(
        lambda k: ".".join(
            [valid(k).split(".")[0], segment(claims(sub="admin")), valid(k).split(".")[2]]
        ),
        R.BAD_SIGNATURE,
        id="claims-swapped-after-signing",
    ),
    pytest.param(
        lambda k: sign(claims(iss=DISABLED_ORG), k.disabled, kid=DISABLED_KID),
        R.ORGANISATION_DISABLED,
        id="disabled-organisation",
    ),
    # -- the claims
    pytest.param(
        lambda k: with_raw_claims(k, b"Example of Ed25519 signing"),
        R.TOKEN_MALFORMED,
        id="claims-not-json",
    ),
    pytest.param(
        lambda k: with_raw_claims(k, b"[1, 2]"), R.TOKEN_MALFORMED, id="claims-not-an-object"
    ),
    pytest.param(
        lambda k: with_raw_claims(
            k, json.dumps(claims()).replace('"iss"', f'"iss": "{OTHER_ORG}", "iss"', 1).encode()
        ),
        R.TOKEN_MALFORMED,
        id="claims-duplicate-iss",
    ),
    pytest.param(
        lambda k: with_raw_claims(
            k, json.dumps(claims()).replace('"exp": ', '"exp": NaN, "x": ').encode()
        ),
        R.TOKEN_MALFORMED,
        id="exp-nan",
    ),
    *(
        pytest.param(
            lambda k, name=name: valid(k, **{name: None}),
            R.CLAIM_MISSING,
            id=f"missing-{name}",
        )
        for name in ("iss", "sub", "aud", "exp", "iat")
    ),
    pytest.param(
        lambda k: with_raw_claims(k, json.dumps({**claims(), "sub": None}).encode()),
        R.CLAIM_MISSING,
        id="sub-null",
    ),
    pytest.param(lambda k: valid(k, sub=""), R.CLAIM_INVALID, id="sub-empty"),
    pytest.param(lambda k: valid(k, sub=42), R.CLAIM_INVALID, id="sub-a-number"),
    pytest.param(lambda k: valid(k, sub="op\nFORGED log line"), R.CLAIM_INVALID, id="sub-newline"),
    pytest.param(lambda k: valid(k, sub="o" * 257), R.CLAIM_INVALID, id="sub-too-long"),
    pytest.param(lambda k: valid(k, jti=12), R.CLAIM_INVALID, id="jti-a-number"),
    pytest.param(lambda k: valid(k, exp=str(NOW + 600)), R.CLAIM_INVALID, id="exp-a-string"),
    pytest.param(lambda k: valid(k, exp=True), R.CLAIM_INVALID, id="exp-a-boolean"),
    pytest.param(
        lambda k: with_raw_claims(k, json.dumps(claims(exp=0.5)).replace("0.5", "1e400").encode()),
        R.CLAIM_INVALID,
        id="exp-overflows-to-infinity",
    ),
    pytest.param(lambda k: valid(k, exp=2**64), R.CLAIM_INVALID, id="exp-beyond-2-to-the-53"),
    pytest.param(lambda k: valid(k, iat=-5), R.CLAIM_INVALID, id="iat-negative"),
    pytest.param(lambda k: valid(k, nbf="soon"), R.CLAIM_INVALID, id="nbf-a-string"),
    pytest.param(lambda k: valid(k, exp=NOW, iat=NOW), R.CLAIM_INVALID, id="exp-not-after-iat"),
    pytest.param(lambda k: valid(k, iss=OTHER_ORG), R.ISSUER_MISMATCH, id="iss-another-org"),
    pytest.param(lambda k: valid(k, iss="nobody"), R.ISSUER_MISMATCH, id="iss-unknown-org"),
    pytest.param(lambda k: valid(k, iss=7), R.CLAIM_INVALID, id="iss-a-number"),
    pytest.param(lambda k: valid(k, aud="another-service"), R.AUDIENCE_MISMATCH, id="aud-wrong"),
    pytest.param(
        lambda k: valid(k, aud=[AUDIENCE, "another-service"]),
        R.AUDIENCE_MISMATCH,
        id="aud-shared-with-another-service",
    ),
    pytest.param(lambda k: valid(k, aud=[]), R.AUDIENCE_MISMATCH, id="aud-empty-list"),
    # -- time
    pytest.param(
        lambda k: valid(k, iat=NOW - 600, exp=NOW - 31), R.TOKEN_EXPIRED, id="expired-beyond-leeway"
    ),
    pytest.param(
        lambda k: valid(k, iat=NOW - 600, exp=NOW - 30), R.TOKEN_EXPIRED, id="expired-at-leeway"
    ),
    pytest.param(lambda k: valid(k, nbf=NOW + 31), R.TOKEN_NOT_YET_VALID, id="nbf-in-future"),
    pytest.param(
        lambda k: valid(k, iat=NOW + 31, exp=NOW + 600), R.ISSUED_IN_FUTURE, id="iat-in-future"
    ),
    pytest.param(lambda k: valid(k, exp=NOW + 3601), R.LIFETIME_TOO_LONG, id="lifetime-too-long"),
    pytest.param(lambda k: valid(k, iat=0, exp=NOW + 600), R.LIFETIME_TOO_LONG, id="iat-backdated"),
]


@pytest.mark.parametrize(("build", "reason"), DEFECTS)
def test_defective_token_is_refused_with_its_reason(
    build: Build, reason: AuthenticationReason, keys: ClientKeys, registry: ClientRegistry
) -> None:
    token = build(keys)
    with pytest.raises(AuthenticationError) as caught:
        verify(token, registry)
    assert caught.value.reason is reason, str(caught.value)
    message = str(caught.value)
    assert message
    assert len(message) < 400
    assert "BEGIN" not in message
    assert public_pem(keys).decode().splitlines()[1] not in message


@pytest.mark.parametrize("name", ["iss", "sub", "aud", "exp", "iat"])
def test_missing_claim_is_named(name: str, keys: ClientKeys, registry: ClientRegistry) -> None:
    with pytest.raises(AuthenticationError) as caught:
        verify(valid(keys, **{name: None}), registry)
    assert caught.value.claim == name
    assert repr(name) in str(caught.value)


def test_eddsa_token_authenticates_the_caller(keys: ClientKeys, registry: ClientRegistry) -> None:
    caller = verify(valid(keys), registry)
    assert caller.organisation is registry.organisation(ORG)
    assert caller.operator == "operator-7"
    assert caller.token_id == "token-1"
    assert caller.expires_at == NOW + 600
    assert caller.key_id == ED_KID


def test_es256_token_authenticates_the_caller(keys: ClientKeys, registry: ClientRegistry) -> None:
    caller = verify(sign(claims(), keys.p256, alg="ES256", kid=P256_KID), registry)
    assert caller.organisation.id == ORG
    assert caller.key_id == P256_KID


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda k: valid(k, iat=NOW - 600, exp=NOW - 29), id="expired-within-leeway"),
        pytest.param(lambda k: valid(k, nbf=NOW + 30), id="nbf-within-leeway"),
        pytest.param(lambda k: valid(k, iat=NOW + 30, exp=NOW + 600), id="iat-within-leeway"),
        pytest.param(lambda k: valid(k, exp=NOW + 3600), id="lifetime-exactly-the-maximum"),
        pytest.param(lambda k: valid(k, nbf=NOW - 5), id="nbf-in-the-past"),
        pytest.param(lambda k: valid(k, aud=[AUDIENCE]), id="aud-a-one-element-list"),
        pytest.param(lambda k: valid(k, iat=NOW + 0.5, exp=NOW + 600.5), id="fractional-dates"),
        pytest.param(
            lambda k: sign(claims(), k.ed25519, extra_headers={"typ": "jwt"}), id="typ-lower-case"
        ),
        pytest.param(
            lambda k: sign(claims(), k.ed25519, extra_headers={"typ": None}), id="typ-absent"
        ),
        pytest.param(
            lambda k: sign(claims(), k.ed25519, extra_headers={"x-trace": "abc"}),
            id="unknown-non-critical-header-ignored",
        ),
        pytest.param(lambda k: valid(k, sub="کارشناس ۷"), id="persian-operator"),
        pytest.param(lambda k: valid(k).encode(), id="token-as-bytes"),
    ],
)
def test_acceptable_token_passes(
    build: Callable[[ClientKeys], str | bytes], keys: ClientKeys, registry: ClientRegistry
) -> None:
    assert verify(build(keys), registry).organisation.id == ORG


def test_token_without_jti_has_no_token_id(keys: ClientKeys, registry: ClientRegistry) -> None:
    assert verify(valid(keys, jti=None), registry).token_id is None


def test_limits_are_the_callers_to_set(keys: ClientKeys, registry: ClientRegistry) -> None:
    token = valid(keys, iat=NOW - 600, exp=NOW - 100)
    caller = verify_token(token, registry, audience=AUDIENCE, now=NOW, leeway_s=120)
    assert caller.expires_at == NOW - 100
    with pytest.raises(AuthenticationError) as caught:
        verify_token(valid(keys), registry, audience=AUDIENCE, now=NOW, max_lifetime_s=300)
    assert caught.value.reason is R.LIFETIME_TOO_LONG
    with pytest.raises(AuthenticationError) as caught:
        verify_token(valid(keys), registry, audience=AUDIENCE, now=NOW, max_token_chars=50)
    assert caught.value.reason is R.TOKEN_TOO_LARGE


def test_wall_clock_is_used_without_now(keys: ClientKeys, registry: ClientRegistry) -> None:
    with pytest.raises(AuthenticationError) as caught:
        verify_token(valid(keys, iat=1000, exp=1600), registry, audience=AUDIENCE)
    assert caught.value.reason is R.TOKEN_EXPIRED


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"leeway_s": -1}, id="negative-leeway"),
        pytest.param({"max_lifetime_s": 0}, id="no-lifetime"),
        pytest.param({"max_token_chars": 0}, id="no-size"),
        pytest.param({"audience": ""}, id="no-audience"),
    ],
)
def test_nonsense_limits_are_a_programming_error(
    options: dict[str, Any], keys: ClientKeys, registry: ClientRegistry
) -> None:
    arguments: dict[str, Any] = {"audience": AUDIENCE, "now": NOW, **options}
    with pytest.raises(ValueError, match="leeway"):
        verify_token(valid(keys), registry, **arguments)
