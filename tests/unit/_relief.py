"""One registered client organisation, ``relief``, and a token it signed, for unit tests."""

from __future__ import annotations

from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role
from gateway.auth.tokens import generate_client_key, issue_token

AUDIENCE = "sakha-hub"


def relief_registry_and_token(now: float | None = None) -> tuple[ClientRegistry, str]:
    """A registry holding ``relief`` (checker, key ``relief-1``) and a 600 s token of it."""
    private_key, _ = generate_client_key("ed25519")
    registry = ClientRegistry(
        [
            Organisation(
                id="relief",
                name="Relief",
                roles=frozenset({Role.CHECKER}),
                keys=(ClientKey.from_public_key("relief-1", private_key.public_key()),),
            )
        ]
    )
    token = issue_token(
        organisation_id="relief",
        operator="op",
        private_key=private_key,
        kid="relief-1",
        audience=AUDIENCE,
        ttl_s=600,
        now=now,
    )
    return registry, token
