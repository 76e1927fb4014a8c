"""The hub's OpenTelemetry metrics: checks, agency fetches, consent refusals, the audit log.

Instruments come from the global meter provider (:func:`adapters.telemetry.configure_telemetry`
installs one when ``OTEL_METRICS_EXPORTER`` asks); without one they are the API's no-ops.
Attributes are low-cardinality codes only (program, decision or reason, agency, status):
never a subject, a request id or a consent id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from adapters.telemetry import TRACER_NAME

_meter = metrics.get_meter(TRACER_NAME)

CHECKS = _meter.create_counter(
    "sakha.checks", unit="{check}", description="Checks answered, by program and outcome"
)
"""Attributes: ``sakha.program``, ``sakha.outcome`` (a decision, or the refusal's reason)."""
FETCH_DURATION = _meter.create_histogram(
    "sakha.agency.fetch.duration", unit="ms", description="One agency's answer to one group"
)
"""Attributes: ``sakha.agency``, ``sakha.status`` (OK, NOT_FOUND, TIMEOUT, UNAVAILABLE, ERROR)."""
AGENCY_FAILURES = _meter.create_counter(
    "sakha.agency.failures", unit="{fetch}", description="Agency fetches that timed out or failed"
)
"""Attributes: ``sakha.agency``, ``sakha.status``."""
CONSENT_REFUSALS = _meter.create_counter(
    "sakha.consent.refusals", unit="{check}", description="Checks refused for their legal basis"
)
"""Attribute: ``sakha.reason`` (NO_CONSENT, REVOKED, EXPIRED…)."""
AUDIT_APPEND_DURATION = _meter.create_histogram(
    "sakha.audit.append.duration", unit="ms", description="One group's durable audit append"
)
"""Attribute: ``sakha.result`` (``ok`` or ``failed``)."""


def observe_audit_backlog(unsigned: Callable[[], int]) -> None:
    """Report ``unsigned()`` (entries not yet under a signed checkpoint) as a gauge."""

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        del options
        return [Observation(unsigned())]

    _meter.create_observable_gauge(
        "sakha.audit.unsigned",
        callbacks=[observe],
        unit="{entry}",
        description="Audit entries appended since the last signed checkpoint",
    )
