"""What every long-running ``sakha`` command does alike: telemetry, and stopping on a signal."""

from __future__ import annotations

import asyncio

import click


def telemetry(service_name: str) -> None:
    """Install the OpenTelemetry exporters the ``OTEL_*`` variables ask for (none by default)."""
    from adapters.telemetry import TelemetryConfigError, configure_telemetry  # noqa: PLC0415

    try:
        configure_telemetry(service_name)
    except TelemetryConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def stop_on_signal() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, installed before a server says it is ready, so a
    signal sent the moment it does still stops it gracefully."""
    import signal  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
