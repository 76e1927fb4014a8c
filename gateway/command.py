"""The check command: one check's identity, built once at the edge and carried to its reply.

Who asked (the caller), what (subject, program, purpose), why and under what (the consent
or mandate reference), until when (the deadline) and under which trace: nothing about a
check is read from ambient state after the servicer has decoded it. Coalescing may decide
commands of different callers in one group; each keeps its own command through to its
outcome, its audit entry and its reply.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from opentelemetry.trace import SpanContext

from consent import Allowed
from gateway.auth.tokens import Caller
from gateway.programs.model import Program

_TRACEPARENT = re.compile(r"[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NO_TRACE = "0" * 32


@dataclass(frozen=True)
class CheckCommand:
    """One check as the caller asked it, before validation.

    Attributes:
        subject: the subject's national ID, as sent (validated by ``admit``).
        program_id: the program asked for.
        purpose: the purpose code the caller gives.
        request_id: the caller's id for this check, or one the hub generated.
        caller: the authenticated caller; None only when authentication is switched off.
        consent_id: the consent artefact the caller cites ("" when none).
        deadline: ``time.monotonic()`` at which the caller stops waiting; None: no bound
            (only in-process callers, never a gRPC call).
        trace_id: the W3C trace id (32 hex digits) this check belongs to.
        rpc: the method that carried it (``Check`` or ``CheckBatch``).
        span: the span of the call that carried it, parent of the spans of its stages
            (None when the command was not made by the servicer).
    """

    subject: str
    program_id: str
    purpose: str
    request_id: str
    caller: Caller | None
    consent_id: str = ""
    deadline: float | None = None
    trace_id: str = _NO_TRACE
    rpc: str = "Check"
    span: SpanContext | None = None

    @property
    def organisation_id(self) -> str:
        """The calling organisation's id ("" when authentication is switched off)."""
        return self.caller.organisation.id if self.caller is not None else ""

    def remaining_s(self, now: float | None = None) -> float | None:
        """Seconds until the deadline (negative once it passed); None without one."""
        if self.deadline is None:
            return None
        return self.deadline - (time.monotonic() if now is None else now)


@dataclass(frozen=True)
class AdmittedCheck:
    """A command that passed ``admit``: valid, authorized, its program resolved.

    ``basis`` is the consent or mandate the check was allowed under; None when the consent
    layer is switched off.
    """

    command: CheckCommand
    program: Program
    basis: Allowed | None = None

    @property
    def group_key(self) -> tuple[str, str]:
        """Commands with the same key may be decided together: (program id, purpose)."""
        return (self.program.id, self.command.purpose)


def deadline_after(remaining_s: float | None) -> float | None:
    """The monotonic deadline ``remaining_s`` seconds from now (None stays None)."""
    return None if remaining_s is None else time.monotonic() + remaining_s


def new_request_id() -> str:
    """A request id for a check whose caller gave none (128 random bits, hex)."""
    return secrets.token_hex(16)


def trace_id_from(traceparent: str | None) -> str:
    """The trace id of a W3C ``traceparent`` header, or a new one if absent or invalid."""
    if traceparent:
        match = _TRACEPARENT.fullmatch(traceparent.strip().lower())
        if match is not None and match["trace"] != _NO_TRACE:
            return match["trace"]
    return secrets.token_hex(16)
