"""Validating a check request before anything touches an agency.

Every defect is collected, so the caller learns all bad fields at once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from gateway.errors import FieldViolation, InvalidRequestError
from gateway.national_id import NationalIdDefect, national_id_defect
from gateway.programs.loader import ProgramRegistry
from gateway.programs.model import Program

MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_PROGRAM_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class ValidCheck:
    """A check request that passed validation."""

    subject: str
    program: Program
    purpose: str
    request_id: str


def validate_check(
    registry: ProgramRegistry,
    *,
    national_id: str,
    program_id: str,
    purpose: str,
    request_id: str,
) -> ValidCheck:
    """Return the validated check or raise InvalidRequestError / UnknownProgramError."""
    violations: list[FieldViolation] = []
    defect = national_id_defect(national_id)
    if defect is not None:
        violations.append(FieldViolation("national_id", _NATIONAL_ID_TEXT[defect], defect.value))
    if request_id and not _REQUEST_ID.fullmatch(request_id):
        violations.append(
            FieldViolation(
                "request_id",
                f"at most {MAX_REQUEST_ID} characters of A-Z a-z 0-9 . _ : -",
                "REQUEST_ID_INVALID",
            )
        )
    if not program_id:
        violations.append(FieldViolation("program_id", "required", "PROGRAM_ID_MISSING"))
    elif not _PROGRAM_ID.fullmatch(program_id):
        violations.append(FieldViolation("program_id", "not a program id", "PROGRAM_ID_INVALID"))
    if not purpose:
        violations.append(FieldViolation("purpose", "required", "PURPOSE_MISSING"))
    elif not _PROGRAM_ID.fullmatch(purpose):
        violations.append(
            FieldViolation("purpose", "not a purpose code (a-z, 0-9, _)", "PURPOSE_INVALID")
        )
    if violations:
        raise InvalidRequestError(*violations)
    program = registry.get(program_id)
    if purpose not in program.purposes:
        raise InvalidRequestError(
            FieldViolation(
                "purpose",
                f"{purpose!r} is not an allowed purpose of {program_id} "
                f"(allowed: {', '.join(program.purposes)})",
                "PURPOSE_NOT_ALLOWED",
            )
        )
    return ValidCheck(national_id, program, purpose, request_id or uuid.uuid4().hex)


_NATIONAL_ID_TEXT = {
    NationalIdDefect.EMPTY: "required",
    NationalIdDefect.LENGTH: "must be exactly 10 digits",
    NationalIdDefect.NOT_DIGITS: "must be ASCII digits 0-9 only (no spaces, signs or "
    "Persian/Arabic digits)",
    NationalIdDefect.REPEATED_DIGIT: "a single repeated digit is never issued",
    NationalIdDefect.CHECK_DIGIT: "check digit does not match",
}
