"""Every refusal of ConsentService: who may call, and each bad input with its status and reason.

A refused grant leaves no row behind.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import duration_pb2
from sakha.v1 import consent_pb2 as pb2

from tests.consent.conftest import GUARDIAN, OTHER, SUBJECT
from tests.consent_service.conftest import (
    CHECKER,
    DISABLED,
    MANDATE_PROGRAM,
    NO_PROGRAMS,
    Hub,
    consent_rows,
    grant_request,
    reasons,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
_PERIOD_30_DAYS = duration_pb2.Duration(seconds=30 * 86400)

MANAGER_ONLY_CALLS: list[tuple[str, Any]] = [
    ("Grant", grant_request()),
    ("Revoke", pb2.RevokeRequest(consent_id="c-1")),
    ("Pause", pb2.PauseRequest(consent_id="c-1")),
    ("Resume", pb2.ResumeRequest(consent_id="c-1")),
    ("Activate", pb2.ActivateRequest(consent_id="c-1")),
    ("Refuse", pb2.RefuseRequest(consent_id="c-1")),
    ("Get", pb2.GetConsentRequest(consent_id="c-1")),
    ("ListForSubject", pb2.ListForSubjectRequest(subject=SUBJECT)),
    ("RegisterMandate", pb2.RegisterMandateRequest()),
    ("SuspendMandate", pb2.SuspendMandateRequest(mandate_id="m-1")),
    ("ResumeMandate", pb2.ResumeMandateRequest(mandate_id="m-1")),
    ("GetMandate", pb2.GetMandateRequest(mandate_id="m-1")),
    ("ListMandates", pb2.ListMandatesRequest()),
]


@pytest.mark.parametrize(
    ("rpc", "request_"), MANAGER_ONLY_CALLS, ids=[c[0] for c in MANAGER_ONLY_CALLS]
)
async def test_an_organisation_without_the_consent_manager_role_is_refused(
    hub: Hub, rpc: str, request_: Any
) -> None:
    error = await hub.refused(rpc, request_, org=CHECKER)
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert reasons(error) == {"ROLE_MISSING"}


@pytest.mark.parametrize(
    ("rpc", "request_"),
    [*MANAGER_ONLY_CALLS, ("GetKeys", pb2.GetKeysRequest())],
    ids=[*(c[0] for c in MANAGER_ONLY_CALLS), "GetKeys"],
)
async def test_a_call_without_a_token_is_unauthenticated(hub: Hub, rpc: str, request_: Any) -> None:
    error = await hub.refused(rpc, request_, org=None)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert reasons(error) == {"TOKEN_MISSING"}


BAD_GRANTS: dict[str, tuple[dict[str, Any], grpc.StatusCode, str, str]] = {
    # name: (changes to the grant, code, reason, text the message must hold)
    "unknown program": (
        {"program_id": "no_such"},
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_PROGRAM",
        "no_such",
    ),
    "no program": ({"program_id": ""}, INVALID, "REQUIRED", "program_id"),
    "mandate program": (
        {"program_id": MANDATE_PROGRAM},
        grpc.StatusCode.FAILED_PRECONDITION,
        "MANDATE_PROGRAM",
        "mandate",
    ),
    "purpose the program does not allow": (
        {"purpose_code": "marketing"},
        INVALID,
        "OUTSIDE_TEMPLATE",
        "purpose_code",
    ),
    "attribute beyond the template": (
        {"attributes": ["tax.bank_balance"]},
        INVALID,
        "OUTSIDE_TEMPLATE",
        "scope.attributes",
    ),
    "provider beyond the template": (
        {"provider_agencies": ["tax", "civil_registry", "police"]},
        INVALID,
        "OUTSIDE_TEMPLATE",
        "providers",
    ),
    "validity beyond the template": (
        {"validity_days": 400},
        INVALID,
        "OUTSIDE_TEMPLATE",
        "validity",
    ),
    "data life beyond the template": (
        {"data_life_days": 31},
        INVALID,
        "OUTSIDE_TEMPLATE",
        "data_life",
    ),
    "frequency beyond the template": (
        {"frequency": pb2.Frequency(max_uses=5, period=_PERIOD_30_DAYS)},
        INVALID,
        "OUTSIDE_TEMPLATE",
        "frequency",
    ),
    "invalid subject national ID": (
        {"subject": "0012345678"},
        INVALID,
        "INVALID_ARTEFACT",
        "subject: not a valid national ID",
    ),
    "invalid grantor national ID": (
        {"grantor": pb2.Grantor(national_id="123", relation=pb2.GUARDIAN_RELATION_PARENT)},
        INVALID,
        "INVALID_ARTEFACT",
        "grantor.national_id",
    ),
    "guardian without relation": (
        {"grantor": pb2.Grantor(national_id=GUARDIAN)},
        INVALID,
        "INVALID_ARTEFACT",
        "grantor.relation",
    ),
    "relation when the subject consents": (
        {"grantor": pb2.Grantor(national_id=SUBJECT, relation=pb2.GUARDIAN_RELATION_PARENT)},
        INVALID,
        "INVALID_ARTEFACT",
        "grantor.relation",
    ),
    "unknown guardian relation": (
        {"grantor": pb2.Grantor(national_id=GUARDIAN, relation=9)},  # type: ignore[arg-type]
        INVALID,
        "UNKNOWN_ENUM_VALUE",
        "grantor.relation",
    ),
    "negative validity days": ({"validity_days": -1}, INVALID, "OUT_OF_RANGE", "validity_days"),
    "negative data life days": ({"data_life_days": -5}, INVALID, "OUT_OF_RANGE", "data_life_days"),
    "absurd validity days": (
        {"validity_days": 2**31 - 1},
        INVALID,
        "OUT_OF_RANGE",
        "validity_days",
    ),
    "unknown household value": ({"household": 7}, INVALID, "UNKNOWN_ENUM_VALUE", "household"),
    "unknown fetch type": ({"fetch_type": 3}, INVALID, "UNKNOWN_ENUM_VALUE", "fetch_type"),
    "unknown collection method": (
        {"collection_method": 42},
        INVALID,
        "UNKNOWN_ENUM_VALUE",
        "collection_method",
    ),
    "no collection method": (
        {"collection_method": pb2.COLLECTION_METHOD_UNSPECIFIED},
        INVALID,
        "REQUIRED",
        "collection_method",
    ),
    "initial status REVOKED": (
        {"initial_status": pb2.CONSENT_STATUS_REVOKED},
        INVALID,
        "NOT_ALLOWED",
        "initial_status",
    ),
    "no purpose text": ({"purpose_text": ""}, INVALID, "INVALID_ARTEFACT", "purpose_text"),
    "no notice version": ({"notice_version": " "}, INVALID, "INVALID_ARTEFACT", "notice_version"),
    "attribute not written agency.attribute": (
        {"attributes": ["income"]},
        INVALID,
        "INVALID_ARTEFACT",
        "attribute",
    ),
    "one-time consent with a frequency": (
        {
            "fetch_type": pb2.FETCH_TYPE_ONE_TIME,
            "frequency": pb2.Frequency(max_uses=1, period=_PERIOD_30_DAYS),
        },
        INVALID,
        "INVALID_ARTEFACT",
        "frequency",
    ),
    "negative frequency period": (
        {"frequency": pb2.Frequency(max_uses=1, period=duration_pb2.Duration(seconds=-60))},
        INVALID,
        "INVALID_ARTEFACT",
        "frequency.period",
    ),
    "zero uses": (
        {"frequency": pb2.Frequency(max_uses=0, period=_PERIOD_30_DAYS)},
        INVALID,
        "INVALID_ARTEFACT",
        "frequency.max_uses",
    ),
    "consumer not in the registry": (
        {"consumer_organisation_id": "stranger"},
        INVALID,
        "UNKNOWN_CONSUMER",
        "stranger",
    ),
    "disabled consumer": (
        {"consumer_organisation_id": DISABLED},
        INVALID,
        "CONSUMER_DISABLED",
        DISABLED,
    ),
    "consumer not allowed the program": (
        {"consumer_organisation_id": NO_PROGRAMS},
        INVALID,
        "CONSUMER_NOT_ALLOWED",
        "consumer_organisation_id",
    ),
    "supersedes an unknown consent": (
        {"supersedes": "c-nothing"},
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_CONSENT",
        "c-nothing",
    ),
    "supersedes and starts requested": (
        {"supersedes": "c-x", "initial_status": pb2.CONSENT_STATUS_REQUESTED},
        INVALID,
        "NOT_ALLOWED",
        "initial_status",
    ),
    "expired on arrival": (
        {"valid_from": {"seconds": 0}, "validity_days": 1},
        INVALID,
        "INVALID_ARTEFACT",
        "validity",
    ),
}


@pytest.mark.parametrize("case", BAD_GRANTS.values(), ids=BAD_GRANTS)
async def test_a_bad_grant_is_refused_and_leaves_nothing(
    hub: Hub, engine: sa.Engine, case: tuple[dict[str, Any], grpc.StatusCode, str, str]
) -> None:
    changes, code, reason, text = case
    error = await hub.refused("Grant", grant_request(**changes))
    assert (error.code(), reasons(error)) == (code, {reason}), error.details()
    assert text in (error.details() or "")
    assert consent_rows(engine) == 0


async def test_a_superseding_grant_for_another_subject_leaves_the_old_one_live(
    hub: Hub, engine: sa.Engine
) -> None:
    old = await hub.grant()
    error = await hub.refused("Grant", grant_request(subject=OTHER, supersedes=old.id))
    assert (error.code(), reasons(error)) == (INVALID, {"INVALID_ARTEFACT"})
    assert "supersedes" in (error.details() or "")
    assert consent_rows(engine) == 1
    still = await hub.call("Get", pb2.GetConsentRequest(consent_id=old.id))
    assert still.status == pb2.CONSENT_STATUS_ACTIVE


async def test_revoking_an_unknown_consent_is_not_found(hub: Hub) -> None:
    error = await hub.refused("Revoke", pb2.RevokeRequest(consent_id="c-nothing"))
    assert (error.code(), reasons(error)) == (grpc.StatusCode.NOT_FOUND, {"UNKNOWN_CONSENT"})


async def test_revoking_twice_is_a_failed_precondition(hub: Hub) -> None:
    granted = await hub.grant()
    await hub.call("Revoke", pb2.RevokeRequest(consent_id=granted.id))
    error = await hub.refused("Revoke", pb2.RevokeRequest(consent_id=granted.id))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reasons(error) == {"ILLEGAL_TRANSITION"}
    assert "REVOKED" in (error.details() or "")


@pytest.mark.parametrize("rpc", ["Resume", "Activate", "Refuse"])
async def test_an_active_consent_cannot_be_resumed_activated_or_refused(hub: Hub, rpc: str) -> None:
    granted = await hub.grant()
    request = getattr(pb2, f"{rpc}Request")(consent_id=granted.id)
    error = await hub.refused(rpc, request)
    assert (error.code(), reasons(error)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        {"ILLEGAL_TRANSITION"},
    )


@pytest.mark.parametrize(
    ("rpc", "request_"),
    [
        ("Revoke", pb2.RevokeRequest()),
        ("Get", pb2.GetConsentRequest()),
        ("SuspendMandate", pb2.SuspendMandateRequest()),
        ("GetMandate", pb2.GetMandateRequest()),
    ],
)
async def test_a_missing_id_is_named(hub: Hub, rpc: str, request_: Any) -> None:
    error = await hub.refused(rpc, request_)
    assert (error.code(), reasons(error)) == (INVALID, {"REQUIRED"})
    assert "_id" in (error.details() or "")


async def test_listing_an_invalid_national_id_is_refused(hub: Hub) -> None:
    error = await hub.refused("ListForSubject", pb2.ListForSubjectRequest(subject="12"))
    assert (error.code(), reasons(error)) == (INVALID, {"INVALID_ARTEFACT"})
    assert "subject" in (error.details() or "")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"programs": []}, "programs"),
        ({"purposes": ["Not An Identifier"]}, "purposes"),
        ({"legal_reference": ""}, "legal_reference"),
        ({"valid_from": {"seconds": 100}, "valid_until": {"seconds": 50}}, "valid_until"),
        ({"mandate_id": "has spaces"}, "id"),
    ],
    ids=["no programs", "bad purpose", "no legal reference", "ends before it starts", "bad id"],
)
async def test_a_bad_mandate_is_refused_with_its_field(
    hub: Hub, changes: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {
        "legal_reference": "Targeted Subsidies Law, art. 7",
        "issuing_authority": "Parliament",
        "programs": ["subsidy"],
        "purposes": ["eligibility"],
    }
    error = await hub.refused("RegisterMandate", pb2.RegisterMandateRequest(**{**base, **changes}))
    assert (error.code(), reasons(error)) == (INVALID, {"INVALID_ARTEFACT"})
    assert field in (error.details() or "")
    assert list((await hub.call("ListMandates", pb2.ListMandatesRequest())).mandates) == []


async def test_suspending_an_unknown_or_suspended_mandate_is_refused(hub: Hub) -> None:
    error = await hub.refused("SuspendMandate", pb2.SuspendMandateRequest(mandate_id="m-x"))
    assert (error.code(), reasons(error)) == (grpc.StatusCode.NOT_FOUND, {"UNKNOWN_MANDATE"})
    registered = await hub.call(
        "RegisterMandate",
        pb2.RegisterMandateRequest(
            legal_reference="Law 1",
            issuing_authority="Parliament",
            programs=["subsidy"],
            purposes=["eligibility"],
        ),
    )
    await hub.call("SuspendMandate", pb2.SuspendMandateRequest(mandate_id=registered.id))
    error = await hub.refused("SuspendMandate", pb2.SuspendMandateRequest(mandate_id=registered.id))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reasons(error) == {"ILLEGAL_TRANSITION"}
