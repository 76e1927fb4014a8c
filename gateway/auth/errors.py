"""The auth package's exceptions: one root, one line each.

Every refusal carries a stable machine ``reason`` (a :class:`enum.StrEnum`, so it is also
its own text) and a message written for the caller who has to fix it. Messages never hold
key material, and anything the caller sent is quoted shortened (``repr`` of at most 64
characters), so a hostile token cannot write arbitrary text into the hub's logs.
"""

from __future__ import annotations

import enum


class AuthenticationReason(enum.StrEnum):
    """Why a bearer token was refused (gRPC UNAUTHENTICATED)."""

    TOKEN_MISSING = "TOKEN_MISSING"  # noqa: S105 - a reason code, not a secret
    TOKEN_TOO_LARGE = "TOKEN_TOO_LARGE"  # noqa: S105 - a reason code, not a secret
    TOKEN_MALFORMED = "TOKEN_MALFORMED"  # noqa: S105 - a reason code, not a secret
    ALGORITHM_NOT_ALLOWED = "ALGORITHM_NOT_ALLOWED"
    CRITICAL_HEADER = "CRITICAL_HEADER"
    KID_MISSING = "KID_MISSING"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    ALGORITHM_KEY_MISMATCH = "ALGORITHM_KEY_MISMATCH"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    ORGANISATION_DISABLED = "ORGANISATION_DISABLED"
    CLAIM_MISSING = "CLAIM_MISSING"
    CLAIM_INVALID = "CLAIM_INVALID"
    ISSUER_MISMATCH = "ISSUER_MISMATCH"
    AUDIENCE_MISMATCH = "AUDIENCE_MISMATCH"
    LIFETIME_TOO_LONG = "LIFETIME_TOO_LONG"
    TOKEN_NOT_YET_VALID = "TOKEN_NOT_YET_VALID"  # noqa: S105 - a reason code, not a secret
    ISSUED_IN_FUTURE = "ISSUED_IN_FUTURE"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - a reason code, not a secret


class PermissionReason(enum.StrEnum):
    """Why an authenticated caller was refused (gRPC PERMISSION_DENIED)."""

    ORGANISATION_UNKNOWN = "ORGANISATION_UNKNOWN"
    ORGANISATION_DISABLED = "ORGANISATION_DISABLED"
    ROLE_MISSING = "ROLE_MISSING"
    PROGRAM_NOT_ALLOWED = "PROGRAM_NOT_ALLOWED"
    PURPOSE_NOT_ALLOWED = "PURPOSE_NOT_ALLOWED"


def quoted(value: object, limit: int = 64) -> str:
    """``repr`` of caller-supplied ``value``, cut to ``limit`` characters, safe to log."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class AuthError(Exception):
    """Root of every error the auth package raises."""


class AuthenticationError(AuthError):
    """The caller is not authenticated (UNAUTHENTICATED); ``reason`` says why."""

    def __init__(
        self, reason: AuthenticationReason, message: str, *, claim: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.claim = claim


class PermissionDeniedError(AuthError):
    """An authenticated caller asked for what it may not (PERMISSION_DENIED); see ``reason``."""

    def __init__(self, reason: PermissionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RateLimitedError(AuthError):
    """The organisation has spent its request rate; it may retry after ``retry_after_s``."""

    reason = "RATE_LIMITED"

    def __init__(self, organisation_id: str, retry_after_s: float) -> None:
        super().__init__(
            f"organisation {organisation_id!r} is over its request rate; "
            f"retry after {retry_after_s:.3f} s"
        )
        self.organisation_id = organisation_id
        self.retry_after_s = retry_after_s


class RegistryError(AuthError):
    """The client registry is invalid; raised at start-up, naming the file and the key."""


class KeyFileError(AuthError):
    """A private key file cannot be used: unreadable, encrypted, not PEM or of a refused type."""
