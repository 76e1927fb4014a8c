"""What one conformance case found, and the report of a whole run."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    """A case's outcome."""

    PASSED = "pass"
    FAILED = "fail"
    SKIPPED = "skip"


class CaseFailedError(Exception):
    """The adapter broke the contract; the message says how, never a subject's data."""


class CaseSkippedError(Exception):
    """The case could not be exercised (plaintext mode, no values among the subjects given)."""


@dataclass(frozen=True)
class CaseResult:
    """One case: its stable name, its verdict, why, and how long it took."""

    name: str
    verdict: Verdict
    detail: str
    seconds: float


@dataclass(frozen=True)
class ConformanceReport:
    """Every case of one run against one adapter, in the order they ran."""

    target: str
    mode: str
    agency_id: str
    """The id the adapter's Describe gave; empty when it gave none."""
    results: tuple[CaseResult, ...]

    def count(self, verdict: Verdict) -> int:
        """How many cases ended with ``verdict``."""
        return sum(1 for r in self.results if r.verdict is verdict)

    @property
    def ok(self) -> bool:
        """No case failed (skipped cases do not fail a run)."""
        return self.count(Verdict.FAILED) == 0

    def failed(self) -> tuple[str, ...]:
        """The names of the failed cases."""
        return tuple(r.name for r in self.results if r.verdict is Verdict.FAILED)
