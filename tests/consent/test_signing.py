"""Signed artefacts and mandates: compact JWS, EdDSA, verifiable from the JWK Set alone.

The external vector is RFC 8037 Appendix A (the Ed25519 key of A.1/A.2 and the JWS of A.4),
read from ``tests/auth/vectors/rfc8037_a4_ed25519.json`` (committed and cited there, see its
``PROVENANCE.md``), not copied.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from jwt import api_jws

from consent import (
    ConsentSigner,
    InvalidArtefactError,
    JwksVerifier,
    SignatureDefect,
    SignatureError,
    jwk_set,
    public_jwk,
)
from consent.payload import artefact_payload
from consent.signing import CONSENT_TYPE, MAX_JWS_CHARS
from tests.consent.conftest import artefact, mandate

RFC8037 = Path(__file__).parents[1] / "auth" / "vectors" / "rfc8037_a4_ed25519.json"


def rfc8037() -> dict[str, Any]:
    """The RFC 8037 Appendix A vector."""
    loaded: dict[str, Any] = json.loads(RFC8037.read_text(encoding="utf-8"))
    return loaded


def rfc_signer() -> ConsentSigner:
    """A signer holding the RFC 8037 A.1 private key."""
    key = jwt.PyJWK(rfc8037()["private_jwk"]).key
    return ConsentSigner(key, "rfc8037")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_artefact_round_trips(signer: ConsentSigner, verifier: JwksVerifier) -> None:
    made = artefact()
    assert verifier.verify_artefact(signer.sign_artefact(made)) == made


def test_a_mandate_round_trips(signer: ConsentSigner, verifier: JwksVerifier) -> None:
    made = mandate()
    assert verifier.verify_mandate(signer.sign_mandate(made)) == made


def test_the_header_names_alg_kid_and_typ(signer: ConsentSigner) -> None:
    header = api_jws.get_unverified_header(signer.sign_artefact(artefact()))
    assert header == {"alg": "EdDSA", "kid": "c1", "typ": CONSENT_TYPE}


def test_the_published_key_is_the_rfc_8037_public_key() -> None:
    vector = rfc8037()
    jwk = rfc_signer().public_jwk()
    assert {k: jwk[k] for k in ("kty", "crv", "x")} == vector["public_jwk"]
    assert (jwk["kid"], jwk["use"], jwk["alg"]) == ("rfc8037", "sig", "EdDSA")


def test_the_rfc_8037_a4_signature_verifies_with_the_key_from_our_jwk_set() -> None:
    vector = rfc8037()
    document = jwk_set([rfc_signer().public_jwk()])
    key = jwt.PyJWKSet.from_dict(document)["rfc8037"]
    decoded = api_jws.decode_complete(vector["jws"], key=key.key, algorithms=["EdDSA"])
    assert decoded["payload"] == vector["payload_text"].encode()


def test_the_rfc_8037_a4_jws_is_no_consent_artefact() -> None:
    """A.4 has no typ and no kid: the consent verifier refuses it before any key is tried."""
    verifier = JwksVerifier(jwk_set([rfc_signer().public_jwk()]))
    with pytest.raises(SignatureError) as caught:
        verifier.verify_artefact(rfc8037()["jws"])
    assert caught.value.defect is SignatureDefect.WRONG_TYPE


def test_a_plain_jose_library_verifies_our_artefact_from_the_jwks_json_alone() -> None:
    signer = rfc_signer()
    made = artefact()
    token = signer.sign_artefact(made)
    published = json.dumps(jwk_set([signer.public_jwk()]))
    # What an auditor does with only the exported token and the published JSON:
    keys = jwt.PyJWKSet.from_json(published)
    kid = api_jws.get_unverified_header(token)["kid"]
    decoded = api_jws.decode_complete(token, key=keys[kid].key, algorithms=["EdDSA"])
    assert json.loads(decoded["payload"]) == artefact_payload(made)
    assert JwksVerifier.from_json(published).verify_artefact(token) == made


def _tampered_payload(token: str) -> str:
    head, payload, signature = token.split(".")
    data = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data[data.index(b"4", data.index(b"max_uses"))] = ord("9")  # 4 uses become 9
    return f"{head}.{b64(bytes(data))}.{signature}"


def _flipped_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def _resigned(token: str, **header: Any) -> str:
    payload = api_jws.decode_complete(token, options={"verify_signature": False})["payload"]
    return api_jws.encode(payload, "k" * 32, algorithm="HS256", headers=header)


def _unsigned(token: str) -> str:
    head = b64(json.dumps({"alg": "none", "kid": "c1", "typ": CONSENT_TYPE}).encode())
    return f"{head}.{token.split('.')[1]}."


@pytest.mark.parametrize(
    ("tamper", "defect"),
    [
        pytest.param(_tampered_payload, SignatureDefect.BAD_SIGNATURE, id="payload-one-byte"),
        pytest.param(_flipped_signature, SignatureDefect.BAD_SIGNATURE, id="signature-flipped"),
        pytest.param(
            lambda t: _resigned(t, kid="c1", typ=CONSENT_TYPE),
            SignatureDefect.WRONG_ALGORITHM,
            id="hs256-confusion",
        ),
        pytest.param(_unsigned, SignatureDefect.WRONG_ALGORITHM, id="alg-none"),
        pytest.param(lambda t: "", SignatureDefect.MALFORMED, id="empty"),
        pytest.param(lambda t: t.replace(".", " ", 1), SignatureDefect.MALFORMED, id="not-jws"),
        pytest.param(lambda t: "a" * (MAX_JWS_CHARS + 1), SignatureDefect.MALFORMED, id="huge"),
    ],
)
def test_tampered_artefacts_are_refused(
    signer: ConsentSigner,
    verifier: JwksVerifier,
    tamper: Any,
    defect: SignatureDefect,
) -> None:
    with pytest.raises(SignatureError) as caught:
        verifier.verify_artefact(tamper(signer.sign_artefact(artefact())))
    assert caught.value.defect is defect


def test_an_unknown_kid_is_refused(verifier: JwksVerifier) -> None:
    stranger = ConsentSigner(rfc_signer().private_key, "not-published")
    with pytest.raises(SignatureError, match="no published key") as caught:
        verifier.verify_artefact(stranger.sign_artefact(artefact()))
    assert caught.value.defect is SignatureDefect.UNKNOWN_KEY


def test_a_published_kid_with_another_key_is_a_bad_signature(verifier: JwksVerifier) -> None:
    impostor = ConsentSigner(rfc_signer().private_key, "c1")
    with pytest.raises(SignatureError) as caught:
        verifier.verify_artefact(impostor.sign_artefact(artefact()))
    assert caught.value.defect is SignatureDefect.BAD_SIGNATURE


def test_a_mandate_is_not_an_artefact(signer: ConsentSigner, verifier: JwksVerifier) -> None:
    with pytest.raises(SignatureError) as caught:
        verifier.verify_artefact(signer.sign_mandate(mandate()))
    assert caught.value.defect is SignatureDefect.WRONG_TYPE


def test_a_signed_payload_that_is_no_artefact_is_refused(
    signer: ConsentSigner, verifier: JwksVerifier
) -> None:
    token = api_jws.encode(
        b'{"v":1,"kind":"consent"}',
        signer.private_key,
        algorithm="EdDSA",
        headers={"kid": "c1", "typ": CONSENT_TYPE},
    )
    with pytest.raises(InvalidArtefactError, match="missing"):
        verifier.verify_artefact(token)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        pytest.param({"keys": []}, "at least one key", id="empty"),
        pytest.param({}, "at least one key", id="no-keys"),
        pytest.param({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}, "kid", id="no-kid"),
        pytest.param(
            {"keys": [{"kty": "EC", "crv": "P-256", "kid": "e", "x": "A", "y": "A"}]},
            "not an Ed25519",
            id="ec-key",
        ),
        pytest.param(
            {"keys": [{**rfc8037()["private_jwk"], "kid": "p"}]}, "private", id="private-key"
        ),
        pytest.param(
            {"keys": [{**rfc8037()["public_jwk"], "kid": "a", "use": "enc"}]},
            "not an Ed25519",
            id="use-enc",
        ),
        pytest.param(
            {"keys": [{**rfc8037()["public_jwk"], "kid": "a"}] * 2}, "kid of its own", id="dup"
        ),
    ],
)
def test_bad_jwk_sets_are_refused(document: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        JwksVerifier(document)


def test_public_jwk_carries_no_private_part(signer: ConsentSigner) -> None:
    assert "d" not in public_jwk(signer.private_key.public_key(), "c1")
