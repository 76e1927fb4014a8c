"""What a decision is made of: per-source outcomes, per-rule results and the decision."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.programs.model import LocalizedText


class Decision(enum.Enum):
    """The answer to "is this unit eligible?"; UNDETERMINED is never a guess either way."""

    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    UNDETERMINED = "undetermined"


class RuleOutcome(enum.Enum):
    """One rule's outcome; UNKNOWN when the data it needs is missing or it could not run."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


class SourceStatus(enum.Enum):
    """How an agency answered. NOT_FOUND is an answer ("no record"); the last three are not."""

    OK = "ok"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    ERROR = "error"

    @property
    def failed(self) -> bool:
        """Whether the agency gave no usable answer (its data is missing, not absent)."""
        # A tuple, not a set: membership by identity, without hashing the member (cheap).
        return self in _FAILED


_FAILED = (SourceStatus.TIMEOUT, SourceStatus.UNAVAILABLE, SourceStatus.ERROR)


class ReasonCode:
    """Decision-level reason codes the engine itself emits (program codes may not reuse them)."""

    SUBJECT_NOT_FOUND = "SUBJECT_NOT_FOUND"
    SUBJECT_DECEASED = "SUBJECT_DECEASED"
    SOURCE_FAILED = "SOURCE_FAILED"
    NO_RECORD = "NO_RECORD"
    RULE_ERROR = "RULE_ERROR"

    ALL = frozenset({SUBJECT_NOT_FOUND, SUBJECT_DECEASED, SOURCE_FAILED, NO_RECORD, RULE_ERROR})


@dataclass(frozen=True)
class SourceOutcome:
    """How one agency answered for one unit (or one batch).

    ``fetch_ids`` name the Fetch calls that asked the agency about the unit (none when it
    was not asked: not connected, or the caller's deadline had passed).
    """

    agency_id: str
    status: SourceStatus
    latency_ms: int
    detail: str = ""
    fetch_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome with its reason code and text."""

    rule_id: str
    outcome: RuleOutcome
    reason_code: str
    reason: LocalizedText


@dataclass(frozen=True)
class Evaluation:
    """The decision for one unit.

    ``reason_codes`` explain the decision: the engine's codes (in :class:`ReasonCode`) when
    UNDETERMINED or when the subject is deceased, the failing rules' codes when INELIGIBLE,
    every rule's pass code when ELIGIBLE.
    """

    decision: Decision
    rules: tuple[RuleResult, ...]
    reason_codes: tuple[str, ...]
    household_size: int
