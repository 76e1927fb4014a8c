"""JSON log lines carry the current trace; a bad SAKHA_LOG_FORMAT is refused."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider

from gateway.cli import main
from gateway.log_format import JsonFormatter


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("gateway.hub", logging.WARNING, __file__, 1, message, (), None)


def test_a_line_outside_any_span_has_no_trace() -> None:
    line = json.loads(JsonFormatter().format(_record("agency tax: TIMEOUT")))
    assert line["level"] == "WARNING"
    assert line["logger"] == "gateway.hub"
    assert line["message"] == "agency tax: TIMEOUT"
    assert line["time"].endswith("+00:00")
    assert "trace_id" not in line


def test_a_line_inside_a_span_names_its_trace() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("Check") as span:
        line = json.loads(JsonFormatter().format(_record("audit log unwritable")))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_an_unknown_log_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAKHA_LOG_FORMAT", "xml")
    result = CliRunner().invoke(main, ["programs", "list"])
    assert result.exit_code == 1
    assert "SAKHA_LOG_FORMAT='xml': use text or json" in result.output
