"""Structured logs: one JSON object per line, carrying the trace of the check logged about.

``SAKHA_LOG_FORMAT=json`` switches the CLI's log lines (``sakha serve``, ``sakha adapter
serve``, ``sakha demo``) to this; the default stays one readable line per record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from opentelemetry import trace


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "trace_id", "span_id", "exception"}``.

    ``trace_id`` and ``span_id`` are the current span's (W3C hex), present only while a
    real span is current, so an operator can go from a log line to its trace and, through
    the audit entry's ``trace_id``, to the lookup.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, str] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
