"""Signing artefacts and mandates as compact JWS (RFC 7515) with EdDSA/Ed25519 (RFC 8037).

The gateway's consent key signs the immutable part of each artefact and mandate: the
protected header is ``{"alg": "EdDSA", "kid": …, "typ": "sakha-consent+jwt"}`` (or
``sakha-mandate+jwt``), the payload the JSON of :mod:`consent.payload`. Status is not
signed. The public keys are published as a JWK Set (RFC 7517), so any JOSE library can
verify an exported artefact offline; :class:`JwksVerifier` is the same check in Sakha,
built on pyjwt's JWS layer and ``cryptography`` (no cryptography of our own).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt import api_jws

from adapters.jwk_set import ALGORITHM, public_jwk_set, read_jwk_set
from consent.errors import InvalidArtefactError, SignatureDefect, SignatureError
from consent.mandate import Mandate
from consent.model import ConsentArtefact
from consent.payload import (
    artefact_from_payload,
    artefact_payload,
    canonical_json,
    decode_json,
    mandate_from_payload,
    mandate_payload,
)

CONSENT_TYPE = "sakha-consent+jwt"
"""The ``typ`` header of a signed consent artefact."""

MANDATE_TYPE = "sakha-mandate+jwt"
"""The ``typ`` header of a signed mandate."""

MAX_JWS_CHARS = 64 * 1024
"""Longest signed artefact accepted; anything longer is refused before parsing."""


def public_jwk(public_key: ed25519.Ed25519PublicKey, kid: str) -> dict[str, str]:
    """``public_key`` as a JWK (RFC 8037 §2): kty OKP, crv Ed25519, with kid, use and alg."""
    jwk: dict[str, str] = public_jwk_set({kid: public_key})["keys"][0]
    return jwk


@dataclass(frozen=True)
class ConsentSigner:
    """The gateway's consent key and its key id; signs artefacts and mandates."""

    private_key: ed25519.Ed25519PrivateKey
    kid: str

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            raise TypeError("a ConsentSigner needs an Ed25519 private key")
        if not isinstance(self.kid, str) or not self.kid:
            raise ValueError("a ConsentSigner needs a non-empty kid")

    def _sign(self, payload: Mapping[str, Any], typ: str) -> str:
        return api_jws.encode(
            canonical_json(payload),
            self.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid, "typ": typ},
        )

    def sign_artefact(self, artefact: ConsentArtefact) -> str:
        """``artefact`` as a compact JWS."""
        return self._sign(artefact_payload(artefact), CONSENT_TYPE)

    def sign_mandate(self, mandate: Mandate) -> str:
        """``mandate`` as a compact JWS."""
        return self._sign(mandate_payload(mandate), MANDATE_TYPE)

    def public_jwk(self) -> dict[str, str]:
        """The public half of the key, as a JWK."""
        return public_jwk(self.private_key.public_key(), self.kid)


def jwk_set(jwks: Iterable[Mapping[str, str]]) -> dict[str, list[dict[str, str]]]:
    """The JWK Set document ``{"keys": [...]}`` that publishes ``jwks``."""
    return {"keys": [dict(jwk) for jwk in jwks]}


def _fail(defect: SignatureDefect, message: str) -> SignatureError:
    return SignatureError(defect, message)


class JwksVerifier:
    """Verifies signed artefacts and mandates against a JWK Set of Ed25519 keys.

    Refuses, each with its own :class:`~consent.errors.SignatureDefect`: a malformed or
    oversized JWS; an ``alg`` other than EdDSA; a ``typ`` other than the one expected;
    ``crit`` or ``b64`` headers; a kid the set does not hold; a bad signature (a one-byte
    change anywhere); a payload that is not JSON. A signed payload that is JSON but no valid
    artefact is an :class:`~consent.errors.InvalidArtefactError` naming the field.
    """

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        """Load ``jwks`` (a JWK Set document); every key must be an Ed25519 signing key.

        Raises:
            ValueError: the document is not a JWK Set of Ed25519 keys with distinct kids.
        """
        self._keys: dict[str, Any] = dict(
            read_jwk_set(
                dict(jwks) if isinstance(jwks, Mapping) else jwks, "JWK Set", error=ValueError
            )
        )

    @classmethod
    def from_json(cls, text: str) -> JwksVerifier:
        """A verifier for the JWK Set written as JSON text."""
        loaded: dict[str, Any] = json.loads(text)
        return cls(loaded)

    @property
    def kids(self) -> frozenset[str]:
        """The key ids this verifier knows."""
        return frozenset(self._keys)

    def document(self) -> dict[str, Any]:
        """The JWK Set of every key this verifier accepts: what to publish."""
        return public_jwk_set(self._keys)

    def _payload(self, token: object, typ: str) -> object:
        if not isinstance(token, str) or not token or len(token) > MAX_JWS_CHARS:
            raise _fail(SignatureDefect.MALFORMED, "not a compact JWS of acceptable size")
        try:
            header = api_jws.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _fail(SignatureDefect.MALFORMED, "not a compact JWS") from None
        if header.get("alg") != ALGORITHM:
            raise _fail(
                SignatureDefect.WRONG_ALGORITHM,
                f"alg {header.get('alg')!r} is refused: artefacts are signed with EdDSA",
            )
        if header.get("typ") != typ:
            raise _fail(SignatureDefect.WRONG_TYPE, f"typ {header.get('typ')!r} is not {typ!r}")
        if "crit" in header or "b64" in header:
            raise _fail(SignatureDefect.MALFORMED, "crit and b64 headers are not supported")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise _fail(SignatureDefect.UNKNOWN_KEY, f"no published key has kid {kid!r}")
        try:
            decoded = api_jws.decode_complete(token, key=key, algorithms=[ALGORITHM])
        except jwt.InvalidSignatureError:
            raise _fail(
                SignatureDefect.BAD_SIGNATURE,
                f"the signature does not verify with key {kid!r}: the artefact was altered",
            ) from None
        except jwt.PyJWTError:
            raise _fail(SignatureDefect.MALFORMED, "the JWS segments are not base64url") from None
        payload: bytes = decoded["payload"]
        try:
            return decode_json(payload)
        except InvalidArtefactError as exc:
            raise _fail(SignatureDefect.BAD_PAYLOAD, str(exc)) from None

    def verify_artefact(self, token: str) -> ConsentArtefact:
        """The artefact ``token`` signs, once its header and signature are checked.

        Raises:
            SignatureError: the JWS does not verify; ``defect`` says why.
            InvalidArtefactError: it verifies, but what it signs is no valid artefact (a
                bad national ID, a guardian without a relation…): the signer erred.
        """
        return artefact_from_payload(self._payload(token, CONSENT_TYPE))

    def verify_mandate(self, token: str) -> Mandate:
        """The mandate ``token`` signs (see :meth:`verify_artefact`)."""
        return mandate_from_payload(self._payload(token, MANDATE_TYPE))
