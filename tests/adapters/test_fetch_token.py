"""Fetch tokens in-process: the format, known-answer vectors, and every refusal with its reason.

The same refusals over real gRPC (and a client holding the hub's TLS key but not its
signing key) are in tests/pki/test_fetch_tokens.py.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given
from hypothesis import strategies as st
from jwt import api_jws

from adapters.errors import AdapterConfigError, FetchTokenError
from adapters.fetch_token import (
    ISSUER,
    TOKEN_TYPE,
    FetchTokenVerifier,
    VerifiedFetch,
    bearer_token,
    predicate_text,
    request_claims,
    subject_digest,
)
from adapters.jwk_set import ALGORITHM, jwk_thumbprint, read_jwk_set
from adapters.sdk import FetchQuery, Predicate, PredicateOperator
from gateway.auth.errors import KeyFileError
from gateway.auth.tokens import private_key_pem
from gateway.config import ConfigError
from gateway.fetch_tokens import FetchTokenSigner

VECTORS = Path(__file__).parent / "vectors"
RFC8037 = Path(__file__).parent.parent / "auth" / "vectors" / "rfc8037_a4_ed25519.json"
NOW = 1_780_272_000.0  # 2026-06-01T00:00:00Z
AGENCY = "water"


def _vector(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _rfc_key() -> ed25519.Ed25519PrivateKey:
    key = jwt.PyJWK(_vector(RFC8037)["private_jwk"], algorithm=ALGORITHM).key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


HUB_KEY = _rfc_key()
QUERY = FetchQuery(
    subjects=("0012345679", "0045678911", "0078912342"),
    attributes=("tariff", "in_arrears"),
    predicates=(Predicate("water_m3_12m", PredicateOperator.LT, 240),),
    as_of=dt.date(2026, 6, 1),
    fetch_id="5f2b9c0e4a7d1e3b8c6f0a92",
    purpose="caseload_review",
)


def signer(key: ed25519.Ed25519PrivateKey = HUB_KEY, at: float = NOW, **kwargs: Any) -> Any:
    """A hub signer minting at ``at``."""
    return FetchTokenSigner(key, clock=lambda: at, **kwargs)


def verifier(at: float = NOW + 1) -> FetchTokenVerifier:
    """Agency ``water``'s verifier, trusting the hub key, judging at ``at``."""
    hub = signer()
    return FetchTokenVerifier({hub.kid: HUB_KEY.public_key()}, AGENCY, clock=lambda: at)


def token_for(query: FetchQuery = QUERY, **kwargs: Any) -> str:
    """The hub's token for ``query`` at ``water``."""
    agency = kwargs.pop("agency_id", AGENCY)
    minted: str = signer(**kwargs).mint(query, agency_id=agency, basis=["c-1"])
    return minted


def signed(
    changes: dict[str, Any], *, key: Any = HUB_KEY, alg: str = ALGORITHM, **header: Any
) -> str:
    """The hub's claims for QUERY with ``changes``, signed as told (to forge odd tokens)."""
    claims = {"iss": ISSUER, "aud": AGENCY, "iat": int(NOW), "exp": int(NOW) + 30}
    claims |= request_claims(QUERY) | changes
    headers = {"kid": signer().kid, "typ": TOKEN_TYPE} | header
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def altered(token: str, segment: int) -> str:
    """``token`` with one character in the middle of ``segment`` changed."""
    parts = token.split(".")
    middle = len(parts[segment]) // 2
    char = parts[segment][middle]
    parts[segment] = (
        parts[segment][:middle] + ("A" if char != "A" else "B") + parts[segment][middle + 1 :]
    )
    return ".".join(parts)


def other(**changes: Any) -> FetchQuery:
    """QUERY with ``changes``: a request other than the one the token was signed for."""
    return dataclasses.replace(QUERY, **changes)


ANOTHER_KEY = ed25519.Ed25519PrivateKey.generate()

Case = Callable[[], tuple[str | None, FetchQuery]]
REFUSALS: list[Any] = [
    pytest.param(lambda: (None, QUERY), "TOKEN_MISSING", id="missing"),
    pytest.param(lambda: ("", QUERY), "TOKEN_MISSING", id="empty"),
    pytest.param(lambda: (token_for(at=NOW - 100), QUERY), "TOKEN_EXPIRED", id="expired"),
    pytest.param(
        lambda: (token_for(at=NOW + 60), QUERY), "TOKEN_NOT_YET_VALID", id="issued-in-future"
    ),
    pytest.param(
        lambda: (token_for(key=ANOTHER_KEY, kid=signer().kid), QUERY),
        "TOKEN_INVALID",
        id="forged-by-another-key-same-kid",
    ),
    pytest.param(lambda: (token_for(key=ANOTHER_KEY), QUERY), "TOKEN_INVALID", id="unknown-kid"),
    pytest.param(
        lambda: (altered(token_for(), 2), QUERY), "TOKEN_INVALID", id="signature-byte-altered"
    ),
    pytest.param(
        lambda: (altered(token_for(), 1), QUERY), "TOKEN_INVALID", id="claims-byte-altered"
    ),
    pytest.param(lambda: ("not.a.jws", QUERY), "TOKEN_INVALID", id="not-a-jws"),
    pytest.param(lambda: ("x" * 70_000, QUERY), "TOKEN_INVALID", id="too-long"),
    pytest.param(lambda: (signed({}, typ="JWT"), QUERY), "TOKEN_INVALID", id="typ-jwt"),
    pytest.param(
        lambda: (signed({}, key="a shared secret of 32 bytes or more!", alg="HS256"), QUERY),
        "TOKEN_INVALID",
        id="alg-hs256",
    ),
    pytest.param(
        lambda: (signed({"iss": "someone-else"}), QUERY), "TOKEN_INVALID", id="other-issuer"
    ),
    pytest.param(
        lambda: (signed({"exp": int(NOW) + 301}), QUERY), "TOKEN_INVALID", id="lives-too-long"
    ),
    pytest.param(lambda: (signed({"exp": "9999999999"}), QUERY), "TOKEN_INVALID", id="exp-as-text"),
    pytest.param(lambda: (signed({"basis": "c-1"}), QUERY), "TOKEN_INVALID", id="basis-not-a-list"),
    pytest.param(
        lambda: (token_for(agency_id="tax"), QUERY), "WRONG_AGENCY", id="for-another-agency"
    ),
    pytest.param(
        lambda: (token_for(), other(attributes=("tariff", "in_arrears", "water_m3_12m"))),
        "WRONG_ATTRIBUTES",
        id="attribute-added",
    ),
    pytest.param(
        lambda: (token_for(), other(attributes=("in_arrears", "tariff"))),
        "WRONG_ATTRIBUTES",
        id="attributes-reordered",
    ),
    pytest.param(
        lambda: (
            token_for(),
            other(predicates=(Predicate("water_m3_12m", PredicateOperator.LT, 241),)),
        ),
        "WRONG_ATTRIBUTES",
        id="other-predicate-operand",
    ),
    pytest.param(
        lambda: (
            token_for(),
            other(predicates=(Predicate("water_m3_12m", PredicateOperator.LE, 240),)),
        ),
        "WRONG_ATTRIBUTES",
        id="other-predicate-operator",
    ),
    pytest.param(
        lambda: (token_for(), other(predicates=())), "WRONG_ATTRIBUTES", id="predicate-dropped"
    ),
    pytest.param(
        lambda: (token_for(), other(subjects=("0012345679", "0045678911", "0024681350"))),
        "WRONG_SUBJECTS",
        id="one-subject-changed",
    ),
    pytest.param(
        lambda: (token_for(), other(subjects=(*QUERY.subjects, "0024681350"))),
        "WRONG_SUBJECTS",
        id="subject-added",
    ),
    pytest.param(
        lambda: (token_for(), other(subjects=QUERY.subjects[::-1])),
        "WRONG_SUBJECTS",
        id="subjects-reordered",
    ),
    pytest.param(
        lambda: (token_for(), other(fetch_id="0" * 24)), "WRONG_FETCH", id="other-fetch-id"
    ),
    pytest.param(
        lambda: (token_for(), other(purpose="care_support")), "WRONG_FETCH", id="other-purpose"
    ),
    pytest.param(
        lambda: (token_for(), other(as_of=dt.date(2025, 6, 1))), "WRONG_FETCH", id="other-as-of"
    ),
]


@pytest.mark.parametrize(("case", "reason"), REFUSALS)
def test_a_verifier_refuses_with_its_reason(case: Case, reason: str) -> None:
    token, query = case()
    with pytest.raises(FetchTokenError) as caught:
        verifier().verify(token, query)
    assert caught.value.reason == reason


def test_the_hubs_token_allows_exactly_its_query() -> None:
    verified = verifier().verify(token_for(), QUERY)
    assert verified == VerifiedFetch(signer().kid, ("c-1",), int(NOW) + 30)


def test_a_token_is_accepted_within_the_leeway_only() -> None:
    token = token_for()
    assert verifier(at=NOW + 30 + 4).verify(token, QUERY).expires_at == int(NOW) + 30
    with pytest.raises(FetchTokenError, match="expired"):
        verifier(at=NOW + 30 + 5).verify(token, QUERY)


def test_every_chunk_needs_its_own_token() -> None:
    first, second = other(subjects=QUERY.subjects[:2]), other(subjects=QUERY.subjects[2:])
    token = token_for(first)
    verifier().verify(token, first)
    with pytest.raises(FetchTokenError) as caught:
        verifier().verify(token, dataclasses.replace(second, fetch_id=first.fetch_id))
    assert caught.value.reason == "WRONG_SUBJECTS"


# --- the format -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "text"),
    [
        (Predicate("water_m3_12m", PredicateOperator.LT, 240), "water_m3_12m lt 240"),
        (Predicate("alive", PredicateOperator.EQ, True), "alive eq true"),
        (Predicate("tariff", PredicateOperator.NE, "rural"), 'tariff ne "rural"'),
        (Predicate("code", PredicateOperator.EQ, "1"), 'code eq "1"'),
        (Predicate("city", PredicateOperator.EQ, 'ز"ن'), 'city eq "ز\\"ن"'),
        (Predicate("debt", PredicateOperator.GE, -(2**63)), f"debt ge {-(2**63)}"),
    ],
)
def test_predicate_text(predicate: Predicate, text: str) -> None:
    assert predicate_text(predicate) == text


def _reference_digest(subjects: list[str]) -> str:
    text = json.dumps(subjects, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(text).digest()).rstrip(b"=").decode()


@given(st.lists(st.text(max_size=12), max_size=20))
def test_the_subject_digest_is_sha256_of_the_json_array(subjects: list[str]) -> None:
    assert subject_digest(tuple(subjects)) == _reference_digest(subjects)


@pytest.mark.parametrize(
    "subjects",
    [(), ("",), ("0012345679",), ('a"b',), ("a\\b",), ("a\nb", "c"), ("۱۲۳",), ("a\x7fb",)],
    ids=repr,
)
def test_the_subject_digest_fast_path_agrees_on_edge_cases(subjects: tuple[str, ...]) -> None:
    assert subject_digest(subjects) == _reference_digest(list(subjects))


def test_the_subject_digest_tells_apart_what_a_plain_join_would_not() -> None:
    assert subject_digest(("a", "b")) != subject_digest(('a","b',))
    assert subject_digest(("a\nb",)) != subject_digest(("a", "b"))


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ((("authorization", "Bearer abc"),), "abc"),
        ((("x-other", "1"), ("authorization", "Bearer abc")), "abc"),
        ((("authorization", "Basic abc"),), None),
        ((), None),
        (None, None),
    ],
)
def test_bearer_token(metadata: Any, token: str | None) -> None:
    assert bearer_token(metadata) == token


# --- known answers --------------------------------------------------------------------------


def test_the_rfc8037_key_has_the_published_thumbprint() -> None:
    # RFC 8037 A.3: the thumbprint of the A.2 public key
    assert jwk_thumbprint(HUB_KEY.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_jwk_set_reads_the_rfc8037_key_and_verifies_its_a4_signature() -> None:
    rfc = _vector(RFC8037)
    keys = read_jwk_set({"keys": [{**rfc["public_jwk"], "kid": "rfc"}]}, "rfc")
    decoded = api_jws.decode_complete(rfc["jws"], key=keys["rfc"], algorithms=[ALGORITHM])
    assert decoded["payload"] == rfc["payload_text"].encode()


def test_the_fetch_token_vector_is_reproduced_and_verifies() -> None:
    vector = _vector(VECTORS / "fetch_token_rfc8037_a1.json")
    q = vector["query"]
    query = FetchQuery(
        subjects=tuple(q["subjects"]),
        attributes=tuple(q["attributes"]),
        predicates=tuple(
            Predicate(p["attribute"], PredicateOperator(p["operator"]), p["operand"])
            for p in q["predicates"]
        ),
        as_of=dt.date.fromisoformat(q["as_of"]),
        fetch_id=q["fetch_id"],
        purpose=q["purpose"],
    )
    hub = signer(at=vector["issued_at"], ttl_s=vector["ttl_s"])
    assert hub.kid == vector["kid"]
    token = hub.mint(query, agency_id=vector["agency_id"], basis=vector["basis_given"])
    assert token == vector["token"]
    assert jwt.get_unverified_header(token) == vector["protected_header"]
    subjects_json = b'["0012345679","0045678911"]'
    digest = base64.urlsafe_b64encode(hashlib.sha256(subjects_json).digest()).rstrip(b"=")
    assert vector["claims"]["sub"] == digest.decode()
    keys = read_jwk_set(hub.jwks(), "hub")
    check = FetchTokenVerifier(keys, vector["agency_id"], clock=lambda: vector["issued_at"])
    assert check.verify(token, query).basis == tuple(vector["claims"]["basis"])
    claims = api_jws.decode_complete(token, key=keys[hub.kid], algorithms=[ALGORITHM])
    assert json.loads(claims["payload"]) == vector["claims"]


# --- keys -----------------------------------------------------------------------------------


def _public_jwk(**changes: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = signer().jwks()["keys"][0]
    return {k: v for k, v in (jwk | changes).items() if v is not None}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({"keys": []}, "at least one key", id="empty"),
        pytest.param([], "at least one key", id="not-a-set"),
        pytest.param({"keys": ["x"]}, "not a JWK object", id="not-an-object"),
        pytest.param({"keys": [_public_jwk(kid=None)]}, "needs a kid", id="no-kid"),
        pytest.param({"keys": [_public_jwk()] * 2}, "listed twice", id="kid-twice"),
        pytest.param(
            {"keys": [_public_jwk(d="nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")]},
            "private key",
            id="private-key",
        ),
        pytest.param({"keys": [_public_jwk(crv="X25519")]}, "OKP/Ed25519", id="x25519"),
        pytest.param({"keys": [_public_jwk(kty="EC")]}, "OKP/Ed25519", id="ec"),
        pytest.param({"keys": [_public_jwk(alg="ES256")]}, "alg must be", id="other-alg"),
        pytest.param({"keys": [_public_jwk(use="enc")]}, "use must be", id="encryption-key"),
        pytest.param({"keys": [_public_jwk(x="AAAA")]}, "not a valid", id="short-x"),
    ],
)
def test_a_bad_jwk_set_is_refused(document: object, message: str) -> None:
    with pytest.raises(AdapterConfigError, match=message):
        read_jwk_set(document, "hub.jwks")


def test_the_jwk_set_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "fetch-token-keys.json"
    path.write_text(signer().jwks_text(), encoding="utf-8")
    assert FetchTokenVerifier.load(path, AGENCY).kids == (signer().kid,)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(AdapterConfigError, match="not a readable JWK Set"):
        FetchTokenVerifier.load(path, AGENCY)


def test_an_empty_verifier_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs keys"):
        FetchTokenVerifier({}, AGENCY)


@pytest.mark.parametrize("ttl_s", [0, 301])
def test_a_signer_refuses_a_lifetime_out_of_bounds(ttl_s: int) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        FetchTokenSigner(HUB_KEY, ttl_s=ttl_s)


def test_a_signer_key_file_must_hold_an_ed25519_key(tmp_path: Path) -> None:
    path = tmp_path / "fetch-token.key"
    path.write_bytes(private_key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ConfigError, match="Ed25519"):
        FetchTokenSigner.from_key_file(path)
    with pytest.raises(KeyFileError):
        FetchTokenSigner.from_key_file(tmp_path / "missing.key")
    path.write_bytes(private_key_pem(HUB_KEY))
    path.chmod(0o600)
    assert FetchTokenSigner.from_key_file(path, kid="hub-2026").kid == "hub-2026"
