"""Every ConsentService RPC's happy path, over real gRPC with JWT callers."""

from __future__ import annotations

import json

import grpc
from google.protobuf import duration_pb2
from sakha.v1 import consent_pb2 as pb2

from consent import ConsentStatus, JwksVerifier
from tests.consent.conftest import DAY, GUARDIAN, SUBJECT, template
from tests.consent_service.conftest import CHECKER, MANAGER, OPERATOR, PROGRAM, Hub

ACTOR = f"{MANAGER}/{OPERATOR}"


def _statuses(consent: pb2.Consent) -> list[tuple[int, int]]:
    return [(event.from_status, event.to_status) for event in consent.history]


async def test_a_grant_takes_the_template_defaults_and_is_signed(hub: Hub) -> None:
    granted = await hub.grant(why="paper form 17")
    limits = template()
    artefact = granted.artefact
    assert granted.id.startswith("c-")
    assert granted.id == artefact.id
    assert granted.status == pb2.CONSENT_STATUS_ACTIVE
    assert granted.use_count == 0
    assert not granted.HasField("last_used_at")
    assert artefact.consumer.organisation_id == MANAGER
    assert artefact.grantor.national_id == SUBJECT
    assert artefact.grantor.relation == pb2.GUARDIAN_RELATION_UNSPECIFIED
    assert set(artefact.provider_agencies) == limits.providers.agencies
    assert set(artefact.attributes) == {str(a) for a in limits.attributes}
    assert set(artefact.predicates) == {str(p) for p in limits.predicates}
    assert artefact.household == pb2.HOUSEHOLD_COVERAGE_MEMBERS_AT_CHECK_TIME
    assert artefact.fetch_type == pb2.FETCH_TYPE_PERIODIC
    assert artefact.frequency.max_uses == 4
    assert artefact.frequency.period.ToTimedelta() == 30 * DAY
    assert artefact.valid_until.ToDatetime() - artefact.valid_from.ToDatetime() == 365 * DAY
    assert artefact.data_life.ToTimedelta() == 30 * DAY
    assert [(e.actor, e.why) for e in granted.history] == [(ACTOR, "paper form 17")]
    assert _statuses(granted) == [(pb2.CONSENT_STATUS_UNSPECIFIED, pb2.CONSENT_STATUS_ACTIVE)]
    assert await hub.call("Get", pb2.GetConsentRequest(consent_id=granted.id)) == granted


async def test_get_keys_verifies_the_jws_for_any_authenticated_caller(hub: Hub) -> None:
    granted = await hub.grant()
    keys = await hub.call("GetKeys", pb2.GetKeysRequest(), org=CHECKER)
    verified = JwksVerifier(json.loads(keys.jwks_json)).verify_artefact(granted.jws)
    assert verified.id == granted.id
    assert verified.subject == SUBJECT


async def test_a_guardian_grant_with_chosen_scope_starts_requested_and_is_activated(
    hub: Hub,
) -> None:
    requested = await hub.grant(
        grantor=pb2.Grantor(national_id=GUARDIAN, relation=pb2.GUARDIAN_RELATION_PARENT),
        attributes=["tax.annual_income"],
        household=pb2.HOUSEHOLD_COVERAGE_SUBJECT_ONLY,
        fetch_type=pb2.FETCH_TYPE_ONE_TIME,
        validity_days=30,
        data_life_days=7,
        initial_status=pb2.CONSENT_STATUS_REQUESTED,
    )
    assert requested.status == pb2.CONSENT_STATUS_REQUESTED
    assert requested.artefact.grantor.relation == pb2.GUARDIAN_RELATION_PARENT
    assert list(requested.artefact.attributes) == ["tax.annual_income"]
    assert not requested.artefact.HasField("frequency")
    activated = await hub.call("Activate", pb2.ActivateRequest(consent_id=requested.id))
    assert activated.status == pb2.CONSENT_STATUS_ACTIVE
    assert _statuses(activated)[-1] == (pb2.CONSENT_STATUS_REQUESTED, pb2.CONSENT_STATUS_ACTIVE)


async def test_a_requested_consent_can_be_refused(hub: Hub) -> None:
    requested = await hub.grant(initial_status=pb2.CONSENT_STATUS_REQUESTED)
    refused = await hub.call("Refuse", pb2.RefuseRequest(consent_id=requested.id, why="no"))
    assert refused.status == pb2.CONSENT_STATUS_REFUSED
    assert refused.history[-1].why == "no"


async def test_pause_resume_and_revoke_are_recorded_in_order(hub: Hub) -> None:
    granted = await hub.grant()
    ref = {"consent_id": granted.id}
    paused = await hub.call("Pause", pb2.PauseRequest(**ref))
    assert paused.status == pb2.CONSENT_STATUS_PAUSED
    resumed = await hub.call("Resume", pb2.ResumeRequest(**ref))
    assert resumed.status == pb2.CONSENT_STATUS_ACTIVE
    revoked = await hub.call("Revoke", pb2.RevokeRequest(why="subject asked", **ref))
    assert revoked.status == pb2.CONSENT_STATUS_REVOKED
    assert [e.why for e in revoked.history] == [
        "consent granted",
        "consent paused",
        "consent resumed",
        "subject asked",
    ]
    assert {e.actor for e in revoked.history} == {ACTOR}


async def test_a_narrower_grant_supersedes_the_old_artefact(hub: Hub) -> None:
    old = await hub.grant()
    new = await hub.grant(supersedes=old.id, validity_days=90, why="shorter")
    assert new.status == pb2.CONSENT_STATUS_ACTIVE
    assert new.artefact.supersedes == old.id
    before = await hub.call("Get", pb2.GetConsentRequest(consent_id=old.id))
    assert before.status == pb2.CONSENT_STATUS_SUPERSEDED
    assert before.artefact == old.artefact  # the old artefact is not edited
    listed = await hub.call("ListForSubject", pb2.ListForSubjectRequest(subject=SUBJECT))
    assert [c.id for c in listed.consents] == [old.id, new.id]


async def test_a_grant_may_name_another_registered_consumer(hub: Hub) -> None:
    granted = await hub.grant(
        consumer_organisation_id=CHECKER,
        frequency=pb2.Frequency(max_uses=1, period=duration_pb2.Duration(seconds=30 * 86400)),
    )
    assert granted.artefact.consumer.organisation_id == CHECKER
    assert granted.artefact.consumer.program_id == PROGRAM
    assert granted.artefact.frequency.max_uses == 1


async def test_list_for_subject_without_consents_is_empty(hub: Hub) -> None:
    listed = await hub.call("ListForSubject", pb2.ListForSubjectRequest(subject=GUARDIAN))
    assert list(listed.consents) == []


def _mandate_request(**fields: object) -> pb2.RegisterMandateRequest:
    base: dict[str, object] = {
        "legal_reference": "Targeted Subsidies Law, art. 7",
        "issuing_authority": "Parliament",
        "programs": ["subsidy"],
        "purposes": ["eligibility"],
    }
    base.update(fields)
    return pb2.RegisterMandateRequest(**base)  # type: ignore[arg-type]


async def test_a_mandate_is_registered_suspended_resumed_listed_and_verifiable(
    hub: Hub,
) -> None:
    registered = await hub.call("RegisterMandate", _mandate_request())
    assert registered.id.startswith("m-")
    assert registered.status == pb2.MANDATE_STATUS_ACTIVE
    assert not registered.HasField("valid_until")
    ref = {"mandate_id": registered.id}
    suspended = await hub.call("SuspendMandate", pb2.SuspendMandateRequest(why="court", **ref))
    assert suspended.status == pb2.MANDATE_STATUS_SUSPENDED
    resumed = await hub.call("ResumeMandate", pb2.ResumeMandateRequest(**ref))
    assert resumed.status == pb2.MANDATE_STATUS_ACTIVE
    assert [(e.actor, e.why) for e in resumed.history] == [
        (ACTOR, "mandate registered"),
        (ACTOR, "court"),
        (ACTOR, "mandate resumed"),
    ]
    assert await hub.call("GetMandate", pb2.GetMandateRequest(**ref)) == resumed
    second = await hub.call("RegisterMandate", _mandate_request(programs=["fuel", "subsidy"]))
    listed = await hub.call("ListMandates", pb2.ListMandatesRequest())
    assert [m.id for m in listed.mandates] == [registered.id, second.id]
    keys = await hub.call("GetKeys", pb2.GetKeysRequest())
    mandate = JwksVerifier(json.loads(keys.jwks_json)).verify_mandate(second.jws)
    assert mandate.programs == frozenset({"fuel", "subsidy"})


async def test_a_mandate_may_be_registered_under_the_id_its_programs_cite(hub: Hub) -> None:
    request = _mandate_request()
    request.mandate_id = "epidemic-relief-decree-1399"
    registered = await hub.call("RegisterMandate", request)
    assert registered.id == "epidemic-relief-decree-1399"
    error = await hub.refused("RegisterMandate", request)
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    listed = await hub.call("ListMandates", pb2.ListMandatesRequest())
    assert [m.id for m in listed.mandates] == [registered.id]


def test_statuses_on_the_wire_cover_the_domain() -> None:
    from gateway.consent_codec import PB2_CONSENT_STATUS  # noqa: PLC0415

    assert set(PB2_CONSENT_STATUS) == set(ConsentStatus)
