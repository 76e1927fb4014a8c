"""Domain errors map to gRPC statuses with details; nothing unmapped leaks its text."""

from __future__ import annotations

from google.rpc import code_pb2, error_details_pb2

from gateway.errors import FieldViolation, InvalidRequestError, LimitExceededError
from gateway.programs.errors import UnknownProgramError
from gateway.status import status_for


def test_invalid_request_carries_every_field_violation() -> None:
    status = status_for(
        InvalidRequestError(
            FieldViolation("national_id", "check digit does not match", "NATIONAL_ID_CHECK_DIGIT"),
            FieldViolation("purpose", "required", "PURPOSE_MISSING"),
        )
    )
    assert status.code == code_pb2.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [(v.field, v.reason) for v in bad.field_violations] == [
        ("national_id", "NATIONAL_ID_CHECK_DIGIT"),
        ("purpose", "PURPOSE_MISSING"),
    ]


def test_limit_exceeded_is_invalid_argument_naming_the_field() -> None:
    status = status_for(LimitExceededError("requests", "at most 5"))
    assert status.code == code_pb2.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert bad.field_violations[0].field == "requests"


def test_unknown_program_is_not_found_with_the_resource_named() -> None:
    status = status_for(UnknownProgramError("ghost"))
    assert status.code == code_pb2.NOT_FOUND
    info = error_details_pb2.ResourceInfo()
    assert any(d.Unpack(info) for d in status.details)
    assert info.resource_name == "ghost"


def test_an_unmapped_error_is_internal_without_its_text() -> None:
    status = status_for(KeyError("/etc/secret/path and a national id 0499370899"))
    assert status.code == code_pb2.INTERNAL
    assert status.message == "internal error"
    assert not status.details
