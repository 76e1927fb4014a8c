"""OpenTelemetry for the hub and the adapters: providers from the ``OTEL_*`` variables, and
W3C trace context carried in gRPC metadata.

Nothing is exported unless an exporter is asked for: with ``OTEL_TRACES_EXPORTER`` and
``OTEL_METRICS_EXPORTER`` unset (or ``none``), or ``OTEL_SDK_DISABLED=true``, no provider is
installed and every span and instrument is the API's no-op, which costs next to nothing.

- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``none`` (the default here),
  ``console`` (to standard error), or ``otlp`` (gRPC, to ``OTEL_EXPORTER_OTLP_ENDPOINT``;
  needs the ``opentelemetry-exporter-otlp-proto-grpc`` package).
- ``OTEL_SERVICE_NAME``: the service in every span's resource (default: the process's role,
  ``sakha-hub`` or ``sakha-adapter-<agency>``).

A Fetch carries its span's context as the ``traceparent`` (and ``tracestate``) metadata of
the call, so an adapter's own span joins the hub's trace.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

TRACER_NAME = "sakha"
"""The instrumentation scope of every Sakha span and instrument."""

_EXPORTERS = ("none", "console", "otlp")


class TelemetryConfigError(ValueError):
    """An ``OTEL_*`` variable asks for something this installation cannot do."""


def configure_telemetry(service_name: str, env: Mapping[str, str] | None = None) -> bool:
    """Install trace and metric providers as the ``OTEL_*`` variables of ``env`` ask.

    Returns whether anything is exported. Called once per process, before serving.

    Raises:
        TelemetryConfigError: an unknown exporter, or ``otlp`` without its package.
    """
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    traces = _exporter_name(env, "OTEL_TRACES_EXPORTER")
    metrics = _exporter_name(env, "OTEL_METRICS_EXPORTER")
    if traces == metrics == "none":
        return False
    from opentelemetry import metrics as metrics_api  # noqa: PLC0415 - only when exporting
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service_name})
    if traces != "none":
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(_span_exporter(traces)))
        trace.set_tracer_provider(provider)
    if metrics != "none":
        reader = PeriodicExportingMetricReader(_metric_exporter(metrics))
        metrics_api.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    return True


def _exporter_name(env: Mapping[str, str], variable: str) -> str:
    value = env.get(variable, "none").strip().lower() or "none"
    if value not in _EXPORTERS:
        raise TelemetryConfigError(f"{variable}={value!r}: expected one of {', '.join(_EXPORTERS)}")
    return value


def _span_exporter(name: str):  # type: ignore[no-untyped-def]  # SDK exporter classes vary
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        return ConsoleSpanExporter(out=sys.stderr)
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as exc:
        raise TelemetryConfigError(_NO_OTLP.format(variable="OTEL_TRACES_EXPORTER")) from exc
    return OTLPSpanExporter()


def _metric_exporter(name: str):  # type: ignore[no-untyped-def]
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter  # noqa: PLC0415

        return ConsoleMetricExporter(out=sys.stderr)
    try:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter,
        )
    except ImportError as exc:
        raise TelemetryConfigError(_NO_OTLP.format(variable="OTEL_METRICS_EXPORTER")) from exc
    return OTLPMetricExporter()


_NO_OTLP = (
    "{variable}=otlp needs the OTLP exporter: pip install opentelemetry-exporter-otlp-proto-grpc"
)


def tracer() -> trace.Tracer:
    """Sakha's tracer (the API's no-op until a provider is installed)."""
    return trace.get_tracer(TRACER_NAME)


def context_from_metadata(metadata: Iterable[Any] | None) -> Context:
    """The trace context a call's metadata (``(key, value)`` pairs) carries: its
    ``traceparent`` and ``tracestate``."""
    carrier = {k: v for k, v in metadata or () if isinstance(v, str)}
    return propagate.extract(carrier)


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """The current span's context as gRPC metadata for an outgoing call."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


def trace_id_of(span: trace.Span) -> str | None:
    """``span``'s W3C trace id (32 hex digits), or None for a span that is not real."""
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def span_under(
    name: str,
    parent: trace.SpanContext | None,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    links: Sequence[trace.SpanContext] = (),
    attributes: Mapping[str, str | int] | None = None,
) -> AbstractContextManager[trace.Span]:
    """A span made current for the block, child of ``parent`` (the current span if None),
    linked to ``links`` (the other checks a coalesced group serves)."""
    context = None if parent is None else trace.set_span_in_context(trace.NonRecordingSpan(parent))
    return tracer().start_as_current_span(
        name,
        context=context,
        kind=kind,
        links=[trace.Link(link) for link in links if link.is_valid],
        attributes=attributes,
    )
