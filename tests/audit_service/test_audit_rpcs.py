"""Every AuditService RPC, as an auditor, over real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sakha.v1 import audit_pb2 as pb2
from sakha.v1 import eligibility_pb2

from audit import (
    Signer,
    Verifier,
    canonical_bytes,
    check_consistent,
    leaf_hash,
    open_checkpoint,
    verify_inclusion,
)
from gateway.audit_codec import timestamp
from tests.audit_service.conftest import (
    ENTRIES,
    MEMBER,
    ORIGIN,
    T0,
    AuditHub,
    has_no_national_id,
)
from tests.consent.conftest import OTHER, SUBJECT, national_id


def _indexes(entries: list[Any]) -> list[int]:
    return [entry.index for entry in entries]


async def test_query_streams_every_entry_with_its_leaf_data_verbatim(hub: AuditHub) -> None:
    entries = await hub.call("Query", pb2.QueryRequest())
    assert _indexes(entries) == [0, 1, 2, 3, 4]
    assert [e.canonical_json.encode() for e in entries] == [canonical_bytes(e) for e in ENTRIES]
    assert has_no_national_id(entries)


async def test_streams_read_the_log_a_page_at_a_time(
    hub: AuditHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.audit_service._PAGE", 2)
    assert _indexes(await hub.call("Query", pb2.QueryRequest())) == [0, 1, 2, 3, 4]
    assert _indexes(await hub.call("Query", pb2.QueryRequest(limit=3))) == [0, 1, 2]
    report = await hub.call("SubjectReport", pb2.SubjectReportRequest(national_id=SUBJECT))
    assert len(report) == 2


async def test_query_decodes_the_entry_for_display(hub: AuditHub) -> None:
    first, refused, failed, _, anonymous = await hub.call("Query", pb2.QueryRequest())
    assert first.time.ToDatetime(tzinfo=dt.UTC) == T0
    assert (first.request_id, first.trace_id) == ("req-0", ENTRIES[0].trace_id)
    assert first.rpc == pb2.AUDIT_RPC_CHECK
    assert (first.caller.organisation_id, first.caller.operator) == ("welfare_org", "operator-17")
    assert first.purpose == "livelihood_support"
    assert (first.program.id, first.program.version, first.program.digest) == (
        "livelihood_basket",
        "2026.1",
        "sha256:ab12",
    )
    assert first.subject.key_id == "k2025"
    assert (first.basis.kind, first.basis.ref) == (pb2.BASIS_KIND_CONSENT, "c-1")
    assert [a.agency_id for a in first.agencies] == ["civil_registry", "tax"]
    assert first.agencies[0].attributes == ["household_size"]
    assert first.agencies[0].predicates == ["income_decile le 4"]
    assert first.agencies[0].status == pb2.AGENCY_STATUS_OK
    assert first.agencies[0].latency_ms == 12
    assert first.WhichOneof("result") == "decision"
    assert first.decision.decision == eligibility_pb2.DECISION_ELIGIBLE
    assert first.decision.reason_codes == ["INCOME_OK"]
    assert refused.rpc == pb2.AUDIT_RPC_CHECK_BATCH
    assert (refused.refusal.stage, refused.refusal.code, refused.refusal.reason) == (
        "admit",
        "PERMISSION_DENIED",
        "NO_CONSENT",
    )
    assert not refused.HasField("basis")
    assert (failed.failure.code, failed.failure.reason) == ("UNAVAILABLE", "AGENCY_UNAVAILABLE")
    assert failed.agencies[0].status == pb2.AGENCY_STATUS_TIMEOUT
    assert failed.basis.kind == pb2.BASIS_KIND_MANDATE
    assert not anonymous.HasField("caller")
    assert not anonymous.HasField("subject")


FILTERS = {
    "organisation": (pb2.QueryRequest(organisation_id="relief"), [1, 2]),
    "program": (pb2.QueryRequest(program_id="housing_aid"), [1, 2]),
    "agency": (pb2.QueryRequest(agency_id="civil_registry"), [0, 3]),
    "decision": (pb2.QueryRequest(outcome="INELIGIBLE"), [3]),
    "refusal reason": (pb2.QueryRequest(outcome="NO_CONSENT"), [1]),
    "since": (pb2.QueryRequest(since=timestamp(T0 + dt.timedelta(minutes=3))), [3, 4]),
    "until": (pb2.QueryRequest(until=timestamp(T0 + dt.timedelta(minutes=2))), [0, 1]),
    "empty range": (pb2.QueryRequest(since=timestamp(T0), until=timestamp(T0)), []),
    "subject under either key": (pb2.QueryRequest(subject_national_id=SUBJECT), [0, 2]),
    "another subject": (pb2.QueryRequest(subject_national_id=OTHER), [1, 3]),
    "limit": (pb2.QueryRequest(limit=2), [0, 1]),
    "combined": (pb2.QueryRequest(organisation_id="relief", subject_national_id=SUBJECT), [2]),
}


@pytest.mark.parametrize(("request_", "expected"), FILTERS.values(), ids=FILTERS)
async def test_query_filters(
    hub: AuditHub, request_: pb2.QueryRequest, expected: list[int]
) -> None:
    entries = await hub.call("Query", request_)
    assert _indexes(entries) == expected
    assert has_no_national_id(entries)


async def test_the_latest_checkpoint_and_one_of_a_size_are_the_signed_notes(
    hub: AuditHub, signer: Signer
) -> None:
    verifier = Verifier.parse(signer.verifier().key_string)
    latest = await hub.call("GetCheckpoint", pb2.GetCheckpointRequest())
    earlier = await hub.call("GetCheckpoint", pb2.GetCheckpointRequest(size=3))
    for message, size in ((latest, 5), (earlier, 3)):
        opened = open_checkpoint(message.note.encode(), verifier, origin=ORIGIN)
        assert (message.size, opened.size) == (size, size)
        assert message.root_hash == opened.root_hash
        assert message.issued_at.ToDatetime(tzinfo=dt.UTC) == T0 + dt.timedelta(hours=1)


async def test_inclusion_proofs_verify_against_the_checkpoints(hub: AuditHub) -> None:
    latest = await hub.call("GetCheckpoint", pb2.GetCheckpointRequest())
    earlier = await hub.call("GetCheckpoint", pb2.GetCheckpointRequest(size=3))
    for index, entry in enumerate(ENTRIES):
        proof = await hub.call("GetInclusionProof", pb2.GetInclusionProofRequest(index=index))
        assert (proof.index, proof.tree_size) == (index, 5)
        assert proof.leaf_hash == leaf_hash(canonical_bytes(entry))
        verify_inclusion(proof.leaf_hash, index, 5, list(proof.hashes), latest.root_hash)
    proof = await hub.call("GetInclusionProof", pb2.GetInclusionProofRequest(index=1, tree_size=3))
    verify_inclusion(proof.leaf_hash, 1, 3, list(proof.hashes), earlier.root_hash)


async def test_consistency_proof_links_the_two_checkpoints(hub: AuditHub, signer: Signer) -> None:
    verifier = Verifier.parse(signer.verifier().key_string)
    notes = [
        (await hub.call("GetCheckpoint", pb2.GetCheckpointRequest(size=size))).note.encode()
        for size in (3, 5)
    ]
    first, second = (open_checkpoint(note, verifier, origin=ORIGIN) for note in notes)
    proof = await hub.call(
        "GetConsistencyProof", pb2.GetConsistencyProofRequest(first_size=3, second_size=5)
    )
    assert (proof.first_size, proof.second_size) == (3, 5)
    check_consistent(first, second, proof=list(proof.hashes))


async def test_the_verifier_key_and_origin(hub: AuditHub, signer: Signer) -> None:
    key = await hub.call("GetVerifierKey", pb2.GetVerifierKeyRequest())
    assert (key.vkey, key.origin) == (signer.verifier().key_string, ORIGIN)


async def test_a_subject_report_finds_exactly_that_subjects_entries(hub: AuditHub) -> None:
    lines = await hub.call("SubjectReport", pb2.SubjectReportRequest(national_id=SUBJECT))
    assert _indexes(lines) == [0, 2]
    first, failed = lines
    assert (first.organisation_id, first.operator) == ("welfare_org", "operator-17")
    assert (first.purpose, first.program_id) == ("livelihood_support", "livelihood_basket")
    assert (first.basis.kind, first.basis.ref) == (pb2.BASIS_KIND_CONSENT, "c-1")
    assert list(first.agencies) == ["civil_registry", "tax"]
    assert (first.outcome, failed.outcome) == ("ELIGIBLE", "AGENCY_UNAVAILABLE")
    assert not first.as_household_member
    assert first.text == (
        "2026-03-01 09:00 UTC: welfare_org (operator operator-17) looked up this person's "
        "data for livelihood_support (program livelihood_basket) under consent c-1; "
        "agencies asked: civil_registry, tax; decision: ELIGIBLE."
    )
    assert "mandate m-7" in failed.text
    assert "failed: AGENCY_UNAVAILABLE" in failed.text
    others = await hub.call("SubjectReport", pb2.SubjectReportRequest(national_id=OTHER))
    assert _indexes(others) == [1, 3]
    assert "refused: NO_CONSENT" in others[0].text
    assert "no agency was asked" in others[0].text
    assert has_no_national_id(lines + others)


async def test_a_subject_report_in_persian(hub: AuditHub) -> None:
    request = pb2.SubjectReportRequest(national_id=SUBJECT, lang=pb2.REPORT_LANGUAGE_FA)
    first, failed = await hub.call("SubjectReport", request)
    assert first.text.startswith("2026-03-01 09:00 UTC: welfare_org (کاربر operator-17)")
    assert "رضایت c-1" in first.text
    assert "نتیجه: ELIGIBLE" in first.text
    assert "مجوز قانونی m-7" in failed.text


async def test_a_person_never_looked_up_has_an_empty_report(hub: AuditHub) -> None:
    request = pb2.SubjectReportRequest(national_id=national_id("005678912"))
    assert await hub.call("SubjectReport", request) == []


async def test_a_household_members_report_finds_the_household_lookup(hub: AuditHub) -> None:
    lines = await hub.call("SubjectReport", pb2.SubjectReportRequest(national_id=MEMBER))
    assert _indexes(lines) == [3]
    assert lines[0].as_household_member
