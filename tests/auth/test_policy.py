"""Authorization: deny by default, raise on denial, no policy over nobody."""

from __future__ import annotations

import logging

import pytest

from gateway.auth.errors import PermissionDeniedError, PermissionReason, RegistryError
from gateway.auth.policy import AccessPolicy, Policy, UnsafeAllowAllPolicy
from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role
from gateway.auth.tokens import Caller
from tests.auth.conftest import (
    DISABLED_ORG,
    LIVELIHOOD,
    ORG,
    OTHER_ORG,
    ClientKeys,
    organisation,
)

P = PermissionReason


def caller_of(org: Organisation) -> Caller:
    """A caller from ``org``, as verify_token would return it."""
    return Caller(org, "operator-7", "token-1", 2_000_000_000, org.keys[0].kid if org.keys else "")


@pytest.fixture
def policy(registry: ClientRegistry) -> AccessPolicy:
    """The policy over the shared test registry."""
    return AccessPolicy(registry)


@pytest.mark.parametrize(
    "purpose",
    [pytest.param("livelihood_support", id="first"), pytest.param("caseload_review", id="second")],
)
def test_listed_program_and_purpose_is_allowed(
    policy: AccessPolicy, registry: ClientRegistry, purpose: str
) -> None:
    policy.authorize_check(caller_of(registry.organisation(ORG)), LIVELIHOOD, purpose)


@pytest.mark.parametrize(
    ("org_id", "program", "purpose", "reason"),
    [
        pytest.param(
            ORG, "rural_housing_support", "housing", P.PROGRAM_NOT_ALLOWED, id="other-program"
        ),
        pytest.param(ORG, LIVELIHOOD, "marketing", P.PURPOSE_NOT_ALLOWED, id="other-purpose"),
        pytest.param(
            ORG, LIVELIHOOD.upper(), "livelihood_support", P.PROGRAM_NOT_ALLOWED, id="case-differs"
        ),
        pytest.param(ORG, "", "", P.PROGRAM_NOT_ALLOWED, id="empty-program"),
        pytest.param(
            OTHER_ORG, LIVELIHOOD, "livelihood_support", P.ROLE_MISSING, id="no-checker-role"
        ),
        pytest.param(
            DISABLED_ORG, LIVELIHOOD, "livelihood_support", P.ORGANISATION_DISABLED, id="disabled"
        ),
    ],
)
def test_check_outside_the_registry_is_denied(
    policy: AccessPolicy,
    registry: ClientRegistry,
    *,
    org_id: str,
    program: str,
    purpose: str,
    reason: PermissionReason,
) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        policy.authorize_check(caller_of(registry.organisation(org_id)), program, purpose)
    assert caught.value.reason is reason
    assert org_id in str(caught.value)


def test_checker_with_no_programs_may_check_nothing(keys: ClientKeys) -> None:
    org = organisation("empty_handed", ClientKey.from_public_key("e-1", keys.ed25519.public_key()))
    policy = AccessPolicy(ClientRegistry([org]))
    with pytest.raises(PermissionDeniedError) as caught:
        policy.authorize_check(caller_of(org), LIVELIHOOD, "livelihood_support")
    assert caught.value.reason is P.PROGRAM_NOT_ALLOWED


def test_policy_reads_its_own_registry_not_the_callers_copy(
    policy: AccessPolicy, registry: ClientRegistry
) -> None:
    real = registry.organisation(OTHER_ORG)
    forged = organisation(OTHER_ORG, *real.keys, programs={LIVELIHOOD: frozenset({"x"})})
    with pytest.raises(PermissionDeniedError) as caught:
        policy.authorize_check(caller_of(forged), LIVELIHOOD, "x")
    assert caught.value.reason is P.ROLE_MISSING
    stranger = organisation("not_registered")
    with pytest.raises(PermissionDeniedError) as caught:
        policy.require_role(caller_of(stranger), Role.CHECKER)
    assert caught.value.reason is P.ORGANISATION_UNKNOWN


@pytest.mark.parametrize(
    ("org_id", "role", "allowed"),
    [
        pytest.param(OTHER_ORG, Role.AUDITOR, True, id="auditor-audits"),
        pytest.param(ORG, Role.AUDITOR, False, id="checker-may-not-audit"),
        pytest.param(ORG, Role.CONSENT_MANAGER, False, id="checker-may-not-manage-consent"),
        pytest.param(ORG, Role.CHECKER, True, id="checker-checks"),
    ],
)
def test_require_role(
    policy: AccessPolicy, registry: ClientRegistry, org_id: str, role: Role, allowed: bool
) -> None:
    caller = caller_of(registry.organisation(org_id))
    if allowed:
        policy.require_role(caller, role)
        return
    with pytest.raises(PermissionDeniedError) as caught:
        policy.require_role(caller, role)
    assert caught.value.reason is P.ROLE_MISSING
    assert role.value in str(caught.value)


def test_policy_over_an_empty_registry_is_an_error() -> None:
    with pytest.raises(RegistryError, match="no organisations"):
        AccessPolicy(ClientRegistry([]))


def test_unsafe_allow_all_policy_warns_and_allows(
    registry: ClientRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.auth.policy"):
        policy: Policy = UnsafeAllowAllPolicy()
    assert any(
        r.levelno == logging.WARNING and "UnsafeAllowAllPolicy" in r.getMessage()
        for r in caplog.records
    )
    caller = caller_of(registry.organisation(OTHER_ORG))
    policy.authorize_check(caller, "anything", "at_all")
    policy.require_role(caller, Role.CONSENT_MANAGER)


def test_access_policy_is_a_policy(policy: AccessPolicy) -> None:
    checked: Policy = policy
    assert checked is policy
