"""Validating a check command before anything touches an agency.

Every defect is collected, so the caller learns all bad fields at once.
"""

from __future__ import annotations

import re

from adapters.national_id import NationalIdDefect, national_id_defect
from audit import looks_like_national_id
from gateway.command import CheckCommand
from gateway.errors import FieldViolation, InvalidRequestError
from gateway.programs.loader import ProgramRegistry
from gateway.programs.model import Program

MAX_REFERENCE = 128
"""Longest request id or consent id."""
_REFERENCE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_PROGRAM_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")


def validate(registry: ProgramRegistry, command: CheckCommand) -> Program:
    """Return the command's program, or raise InvalidRequestError / UnknownProgramError."""
    violations: list[FieldViolation] = []
    defect = national_id_defect(command.subject)
    if defect is not None:
        violations.append(FieldViolation("national_id", _NATIONAL_ID_TEXT[defect], defect.value))
    if not _REFERENCE.fullmatch(command.request_id):
        violations.append(_reference_violation("request_id"))
    if command.consent_id and not _REFERENCE.fullmatch(command.consent_id):
        violations.append(_reference_violation("consent_id"))
    elif looks_like_national_id(command.consent_id):
        violations.append(
            FieldViolation(
                "consent_id",
                "holds ten digits in a row, which reads as a national ID; consent ids never "
                "hold one (the audit log records them)",
                "CONSENT_ID_INVALID",
            )
        )
    program_id, purpose = command.program_id, command.purpose
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
    return program


def _reference_violation(field: str) -> FieldViolation:
    return FieldViolation(
        field,
        f"at most {MAX_REFERENCE} characters of A-Z a-z 0-9 . _ : -",
        f"{field.upper()}_INVALID",
    )


_NATIONAL_ID_TEXT = {
    NationalIdDefect.EMPTY: "required",
    NationalIdDefect.LENGTH: "must be exactly 10 digits",
    NationalIdDefect.NOT_DIGITS: "must be ASCII digits 0-9 only (no spaces, signs or "
    "Persian/Arabic digits)",
    NationalIdDefect.REPEATED_DIGIT: "a single repeated digit is never issued",
    NationalIdDefect.CHECK_DIGIT: "check digit does not match",
}
