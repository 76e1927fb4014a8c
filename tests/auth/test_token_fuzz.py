"""Property: whatever a caller sends as a token, verification answers or raises AuthenticationError.

Random text and bytes exercise the shape checks; random headers reach the header checks;
random claim sets *signed with a registered key* reach the claim checks, the part an
outsider cannot reach without a key but a registered client (or a stolen key) can.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jwt import api_jws

from gateway.auth.errors import AuthenticationError, AuthenticationReason
from gateway.auth.registry import ClientRegistry
from gateway.auth.tokens import MAX_TOKEN_CHARS, Caller, verify_token
from tests.auth.conftest import (
    AUDIENCE,
    ED_KID,
    NOW,
    ORG,
    P256_KID,
    ClientKeys,
    assemble,
    claims,
    sign,
)

EXAMPLES = settings(max_examples=200, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
numeric_dates = st.integers(min_value=NOW - 7200, max_value=NOW + 7200) | json_values
claim_sets = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.just(ORG) | json_values,
        "sub": st.text(max_size=300) | json_values,
        "aud": st.just(AUDIENCE) | st.just([AUDIENCE]) | json_values,
        "exp": numeric_dates,
        "iat": numeric_dates,
        "nbf": numeric_dates,
        "jti": st.text(max_size=20) | json_values,
    },
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["EdDSA", "ES256", "none", "HS256", "RS256"]) | json_values,
        "kid": st.sampled_from([ED_KID, P256_KID, "unknown"]) | json_values,
        "typ": st.just("JWT") | json_values,
        "crit": json_values,
        "b64": json_values,
    },
)


def outcome(token: Any, registry: ClientRegistry) -> Caller | AuthenticationError:
    """verify_token's answer; any exception but AuthenticationError escapes and fails the test."""
    try:
        return verify_token(token, registry, audience=AUDIENCE, now=NOW)
    except AuthenticationError as refused:
        return refused


def assert_refused(result: Caller | AuthenticationError) -> None:
    """``result`` is a refusal with a reason code and a short message."""
    assert isinstance(result, AuthenticationError)
    assert result.reason in set(AuthenticationReason)
    assert 0 < len(str(result)) < 400


@EXAMPLES
@given(token=st.text(max_size=MAX_TOKEN_CHARS + 100))
def test_any_text(token: str, registry: ClientRegistry) -> None:
    assert_refused(outcome(token, registry))


@EXAMPLES
@given(token=st.binary(max_size=2048))
def test_any_bytes(token: bytes, registry: ClientRegistry) -> None:
    assert_refused(outcome(token, registry))


@EXAMPLES
@given(
    token=st.lists(st.text(alphabet="ABCabc012-_.=", max_size=60), min_size=1, max_size=5).map(
        ".".join
    )
)
def test_base64url_looking_text(token: str, registry: ClientRegistry) -> None:
    assert_refused(outcome(token, registry))


@EXAMPLES
@given(header=headers, signature=st.binary(max_size=80))
def test_any_header(header: dict[str, Any], signature: bytes, registry: ClientRegistry) -> None:
    assert_refused(outcome(assemble(header, claims(), signature), registry))


@EXAMPLES
@given(payload=claim_sets)
def test_any_claims_signed_with_a_registered_key(
    payload: dict[str, Any], keys: ClientKeys, registry: ClientRegistry
) -> None:
    result = outcome(sign(payload, keys.ed25519), registry)
    if not isinstance(result, Caller):
        assert_refused(result)
    else:
        assert result.organisation.id == payload["iss"] == ORG
        assert result.operator == payload["sub"]


@EXAMPLES
@given(payload=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_payload_bytes_signed_with_a_registered_key(
    payload: bytes, keys: ClientKeys, registry: ClientRegistry
) -> None:
    token = api_jws.encode(payload, keys.ed25519, algorithm="EdDSA", headers={"kid": ED_KID})
    assert_refused(outcome(token, registry))
