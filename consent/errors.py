"""The consent package's exceptions: one root, :class:`ConsentError`, and one class per failure.

A refusal to use a consent or a mandate is a :class:`ConsentDeniedError` whose ``reason`` is
machine-readable (the hub maps it to the wire) and whose ``detail`` is for humans.
"""

from __future__ import annotations

import enum


class ConsentError(Exception):
    """Root of every error the consent package raises."""


class InvalidArtefactError(ConsentError):
    """A consent artefact, mandate, template or use request breaks an invariant."""


class TemplateViolationError(ConsentError):
    """A consent asks for more than its program's template allows."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        """The artefact field that goes beyond the template (``scope``, ``validity``…)."""


class SignatureDefect(enum.StrEnum):
    """Why a signed artefact or mandate was refused (stable codes)."""

    MALFORMED = "MALFORMED"
    WRONG_ALGORITHM = "WRONG_ALGORITHM"
    WRONG_TYPE = "WRONG_TYPE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    BAD_PAYLOAD = "BAD_PAYLOAD"


class SignatureError(ConsentError):
    """A signed artefact or mandate does not verify; ``defect`` says why."""

    def __init__(self, defect: SignatureDefect, message: str) -> None:
        super().__init__(message)
        self.defect = defect
        """The stable code of what is wrong."""


class IllegalTransitionError(ConsentError):
    """A status change the lifecycle does not allow (revoking a revoked consent…)."""


class UnknownConsentError(ConsentError):
    """No consent is stored under the id given."""


class UnknownMandateError(ConsentError):
    """No mandate is stored under the id given."""


class DuplicateError(ConsentError):
    """A consent or mandate with this id is stored already, or the old one was superseded."""


class SchemaError(ConsentError):
    """The consent database is not at the migration head this code expects."""


class DenialReason(enum.StrEnum):
    """Why a use of a consent or mandate was refused (stable codes for the wire and the audit)."""

    NO_CONSENT = "NO_CONSENT"
    WRONG_SUBJECT = "WRONG_SUBJECT"
    WRONG_CONSUMER = "WRONG_CONSUMER"
    WRONG_PROGRAM = "WRONG_PROGRAM"
    PURPOSE_NOT_COVERED = "PURPOSE_NOT_COVERED"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    PENDING = "PENDING"
    PAUSED = "PAUSED"
    REVOKED = "REVOKED"
    REFUSED = "REFUSED"
    SUPERSEDED = "SUPERSEDED"
    SPENT = "SPENT"
    FREQUENCY_EXCEEDED = "FREQUENCY_EXCEEDED"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    PROVIDER_NOT_COVERED = "PROVIDER_NOT_COVERED"
    HOUSEHOLD_NOT_COVERED = "HOUSEHOLD_NOT_COVERED"
    NO_MANDATE = "NO_MANDATE"
    MANDATE_SUSPENDED = "MANDATE_SUSPENDED"
    MANDATE_NOT_COVERING = "MANDATE_NOT_COVERING"
    MANDATE_NOT_YET_VALID = "MANDATE_NOT_YET_VALID"
    MANDATE_EXPIRED = "MANDATE_EXPIRED"


class ConsentDeniedError(ConsentError):
    """A use that no consent or mandate allows; ``reason`` is the code, ``detail`` the text."""

    def __init__(self, reason: DenialReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        """The machine-readable reason."""
        self.detail = detail
        """What exactly is missing or wrong, for the operator."""
