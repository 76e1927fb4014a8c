"""The hub's request-level exceptions: one root, one line each.

Each maps to exactly one gRPC status in :mod:`gateway.status`; nothing else decides codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: where, what is wrong, and a stable reason code."""

    field: str
    description: str
    reason: str


class GatewayError(Exception):
    """Root of every error the hub reports to a caller."""


class InvalidRequestError(GatewayError):
    """The request is malformed; ``violations`` name each bad field."""

    def __init__(self, *violations: FieldViolation) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


class LimitExceededError(GatewayError):
    """The request is larger than the hub accepts (batch length, subjects)."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.violation = FieldViolation(field, description, "LIMIT_EXCEEDED")


class DeadlineTooShortError(GatewayError):
    """The caller's deadline leaves no time to ask the agencies."""


class HubUnavailableError(GatewayError):
    """The hub cannot serve right now (shutting down, agencies not yet described)."""


class DeadlineRequiredError(GatewayError):
    """The call carries no deadline."""


class AuditUnavailableError(GatewayError):
    """The audit log cannot be written: the group fails closed, no reply leaves unrecorded."""


class NoCheckpointError(GatewayError):
    """The audit log has signed no checkpoint yet (the first follows its first entries)."""
