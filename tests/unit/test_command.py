"""The check command built at the edge: request ids, trace ids and deadlines."""

from __future__ import annotations

import time

import pytest
from sakha.v1 import eligibility_pb2 as pb2

from gateway import codec
from gateway.command import deadline_after, trace_id_from

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"00-{TRACE}-00f067aa0ba902b7-01", id="w3c-example"),
        pytest.param(f" 00-{TRACE.upper()}-00F067AA0BA902B7-00 ", id="case-and-space"),
    ],
)
def test_a_valid_traceparent_gives_its_trace_id(header: str) -> None:
    assert trace_id_from(header) == TRACE


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param(f"00-{'0' * 32}-00f067aa0ba902b7-01", id="all-zero-trace"),
        pytest.param(f"00-{TRACE}-00f067aa0ba902b7", id="no-flags"),
        pytest.param(f"00-{TRACE[:-1]}g-00f067aa0ba902b7-01", id="not-hex"),
    ],
)
def test_a_missing_or_invalid_traceparent_starts_a_new_trace(header: str | None) -> None:
    first, second = trace_id_from(header), trace_id_from(header)
    assert len(first) == 32
    assert int(first, 16) != 0
    assert first != second


def test_the_command_keeps_the_request_and_generates_a_missing_request_id() -> None:
    request = pb2.CheckRequest(
        national_id="0499370899", program_id="p", purpose="q", consent_id="c-1"
    )
    command = codec.check_command(
        request, caller=None, deadline=deadline_after(2.0), trace_id=TRACE, rpc="Check"
    )
    assert (command.subject, command.program_id, command.purpose) == ("0499370899", "p", "q")
    assert command.consent_id == "c-1"
    assert len(command.request_id) == 32
    assert command.trace_id == TRACE
    remaining = command.remaining_s()
    assert remaining is not None
    assert 1.5 < remaining <= 2.0
    later = command.remaining_s(now=time.monotonic() + 3)
    assert later is not None
    assert -1.5 < later < 0
    named = codec.check_command(
        pb2.CheckRequest(request_id="mine"), caller=None, deadline=None, trace_id=TRACE, rpc="x"
    )
    assert named.request_id == "mine"
    assert named.remaining_s() is None
