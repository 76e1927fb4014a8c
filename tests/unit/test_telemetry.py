"""Telemetry configuration: exporters from the OTEL_* variables, nothing by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.telemetry import TelemetryConfigError, configure_telemetry, trace_metadata
from gateway.cli import main


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"},
    ],
    ids=["unset", "none", "disabled"],
)
def test_nothing_is_installed_unless_an_exporter_is_asked_for(env: dict[str, str]) -> None:
    assert configure_telemetry("sakha-test", env) is False


@pytest.mark.parametrize("variable", ["OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"])
def test_an_unknown_exporter_is_refused_naming_the_variable(variable: str) -> None:
    with pytest.raises(TelemetryConfigError, match=f"{variable}='zipkin': expected one of"):
        configure_telemetry("sakha-test", {variable: "zipkin"})


def test_without_a_span_no_trace_context_is_sent() -> None:
    assert trace_metadata() == ()


CONSOLE = """
from adapters.telemetry import configure_telemetry, tracer
from opentelemetry import trace
assert configure_telemetry("sakha-probe", {"OTEL_TRACES_EXPORTER": "console"})
with tracer().start_as_current_span("probe-span"):
    pass
trace.get_tracer_provider().shutdown()
"""


def test_the_console_exporter_writes_spans_to_stderr() -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, the script above
        [sys.executable, "-c", CONSOLE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"name": "probe-span"' in done.stderr
    assert '"service.name": "sakha-probe"' in done.stderr


def test_serve_with_an_unknown_exporter_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("insecure: true\n", encoding="utf-8")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "OTEL_TRACES_EXPORTER='jaeger'" in result.output
