"""What the AuditService refuses: callers without the auditor role, and every bad input."""

from __future__ import annotations

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf import message
from sakha.v1 import audit_pb2 as pb2

from audit import NoteError, Signer
from audit.store import AuditStore
from gateway.audit_codec import timestamp
from gateway.audit_service import AuditServicer
from gateway.auth.policy import AccessPolicy
from tests.audit_service.conftest import KEY, T0, AuditHub, registry_of, violations
from tests.consent.conftest import SUBJECT
from tests.consent_service.conftest import CHECKER, reasons
from tests.e2e.test_security import error_reason

EVERY_RPC = {
    "Query": pb2.QueryRequest(),
    "GetCheckpoint": pb2.GetCheckpointRequest(),
    "GetInclusionProof": pb2.GetInclusionProofRequest(index=0),
    "GetConsistencyProof": pb2.GetConsistencyProofRequest(first_size=1, second_size=2),
    "SubjectReport": pb2.SubjectReportRequest(national_id=SUBJECT),
    "GetVerifierKey": pb2.GetVerifierKeyRequest(),
}


@pytest.mark.parametrize(("rpc", "request_"), EVERY_RPC.items(), ids=EVERY_RPC)
async def test_a_caller_without_the_auditor_role_is_refused(
    hub: AuditHub, rpc: str, request_: message.Message
) -> None:
    error = await hub.refused(rpc, request_, org=CHECKER)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reasons(error) == {"ROLE_MISSING"}


@pytest.mark.parametrize(("rpc", "request_"), EVERY_RPC.items(), ids=EVERY_RPC)
async def test_a_call_without_a_token_is_unauthenticated(
    hub: AuditHub, rpc: str, request_: message.Message
) -> None:
    error = await hub.refused(rpc, request_, org=None)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


BAD_ID = SUBJECT[:9] + str((int(SUBJECT[9]) + 1) % 10)
"""SUBJECT with a wrong check digit."""

BAD_INPUTS = {
    "query: invalid subject": (
        "Query",
        pb2.QueryRequest(subject_national_id=BAD_ID),
        ("subject_national_id", "NATIONAL_ID_CHECK_DIGIT"),
    ),
    "query: inverted time range": (
        "Query",
        pb2.QueryRequest(since=timestamp(T0), until=timestamp(T0.replace(hour=8))),
        ("until", "INVERTED_RANGE"),
    ),
    "query: negative limit": ("Query", pb2.QueryRequest(limit=-1), ("limit", "OUT_OF_RANGE")),
    "query: malformed organisation": (
        "Query",
        pb2.QueryRequest(organisation_id="Relief Org"),
        ("organisation_id", "MALFORMED"),
    ),
    "query: malformed program": (
        "Query",
        pb2.QueryRequest(program_id="housing-aid"),
        ("program_id", "MALFORMED"),
    ),
    "query: malformed agency": (
        "Query",
        pb2.QueryRequest(agency_id="tax;"),
        ("agency_id", "MALFORMED"),
    ),
    "query: malformed outcome": (
        "Query",
        pb2.QueryRequest(outcome="eligible"),
        ("outcome", "MALFORMED"),
    ),
    "checkpoint: no such size": (
        "GetCheckpoint",
        pb2.GetCheckpointRequest(size=4),
        ("size", "NO_CHECKPOINT"),
    ),
    "inclusion: index at the size": (
        "GetInclusionProof",
        pb2.GetInclusionProofRequest(index=3, tree_size=3),
        ("index", "OUT_OF_RANGE"),
    ),
    "inclusion: index beyond the latest checkpoint": (
        "GetInclusionProof",
        pb2.GetInclusionProofRequest(index=5),
        ("index", "OUT_OF_RANGE"),
    ),
    "inclusion: size beyond the log": (
        "GetInclusionProof",
        pb2.GetInclusionProofRequest(index=0, tree_size=6),
        ("tree_size", "BEYOND_LOG"),
    ),
    "consistency: from size 0": (
        "GetConsistencyProof",
        pb2.GetConsistencyProofRequest(first_size=0, second_size=5),
        ("first_size", "OUT_OF_RANGE"),
    ),
    "consistency: inverted sizes": (
        "GetConsistencyProof",
        pb2.GetConsistencyProofRequest(first_size=4, second_size=3),
        ("second_size", "INVERTED_RANGE"),
    ),
    "consistency: size beyond the log": (
        "GetConsistencyProof",
        pb2.GetConsistencyProofRequest(first_size=3, second_size=6),
        ("second_size", "BEYOND_LOG"),
    ),
    "report: no national ID": (
        "SubjectReport",
        pb2.SubjectReportRequest(),
        ("national_id", "NATIONAL_ID_EMPTY"),
    ),
    "report: invalid national ID": (
        "SubjectReport",
        pb2.SubjectReportRequest(national_id=BAD_ID),
        ("national_id", "NATIONAL_ID_CHECK_DIGIT"),
    ),
    "report: unknown language": (
        "SubjectReport",
        pb2.SubjectReportRequest(national_id=SUBJECT, lang=7),  # type: ignore[arg-type]
        ("lang", "UNKNOWN_ENUM_VALUE"),
    ),
}


@pytest.mark.parametrize(("rpc", "request_", "violation"), BAD_INPUTS.values(), ids=BAD_INPUTS)
async def test_bad_input_is_invalid_argument_naming_the_field(
    hub: AuditHub, rpc: str, request_: message.Message, violation: tuple[str, str]
) -> None:
    error = await hub.refused(rpc, request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error) == {violation}
    assert BAD_ID not in (error.details() or "")
    assert SUBJECT not in (error.details() or "")


LATEST_CHECKPOINT = {
    "GetCheckpoint": pb2.GetCheckpointRequest(),
    "GetInclusionProof": pb2.GetInclusionProofRequest(index=0),
}


@pytest.mark.parametrize(("rpc", "request_"), LATEST_CHECKPOINT.items(), ids=LATEST_CHECKPOINT)
async def test_the_latest_checkpoint_before_the_first_is_unavailable(
    empty_hub: AuditHub, rpc: str, request_: message.Message
) -> None:
    error = await empty_hub.refused(rpc, request_)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "NO_CHECKPOINT_YET"
    assert "no checkpoint yet" in (error.details() or "")


async def test_an_empty_log_answers_queries_with_nothing(empty_hub: AuditHub) -> None:
    assert await empty_hub.call("Query", pb2.QueryRequest()) == []


def test_a_servicer_needs_a_pseudonym_key_and_a_verifier_key(
    audit_store: AuditStore, signer: Signer, client_keys: dict[str, ed25519.Ed25519PrivateKey]
) -> None:
    policy = AccessPolicy(registry_of(client_keys))
    vkey = signer.verifier().key_string
    with pytest.raises(ValueError, match="at least one pseudonym key"):
        AuditServicer(audit_store, pseudonymizers=(), verifier_key=vkey, policy=policy)
    with pytest.raises(NoteError):
        AuditServicer(audit_store, pseudonymizers=(KEY,), verifier_key="nope", policy=policy)
