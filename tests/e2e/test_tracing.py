"""OpenTelemetry: one trace per check, a span per stage and per agency, joined by the adapters.

The spans are caught by an in-memory exporter on the process's tracer provider (installed
once; it forwards only while a test here listens). The hub and the simulated agencies run
in this process but talk over real gRPC, so an agency's span joins the hub's trace only
through the ``traceparent`` metadata of its Fetch call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sakha.v1 import eligibility_pb2 as pb2

from audit import entry_from_canonical
from tests.e2e.test_check import request, sample
from tests.e2e.test_consent import ConsentStack, consented

__all__ = ["consented"]


class _Listening(SimpleSpanProcessor):
    """Forwards ended spans to its exporter only while ``on``."""

    on = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            super().on_end(span)


_EXPORTER = InMemorySpanExporter()
_PROCESSOR = _Listening(_EXPORTER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans ended during the test."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if _PROCESSOR not in provider._active_span_processor._span_processors:
        provider.add_span_processor(_PROCESSOR)
    _EXPORTER.clear()
    _PROCESSOR.on = True
    try:
        yield _EXPORTER
    finally:
        _PROCESSOR.on = False
        _EXPORTER.clear()


def _in_trace(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def _named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    [parent] = [
        s for s in spans if s.context is not None and s.context.span_id == span.parent.span_id
    ]
    return parent


async def test_a_check_is_one_trace_with_a_span_per_stage_and_per_agency(
    consented: ConsentStack, spans: InMemorySpanExporter
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consented.grant(head)
    reply = await consented.stack.stub.Check(request(head), timeout=10)
    finished = spans.get_finished_spans()
    [check] = _named(finished, "Check")
    assert check.kind is SpanKind.SERVER
    assert check.context is not None
    trace_spans = _in_trace(finished, check.context.trace_id)
    names = {s.name for s in trace_spans}
    stages = {"authenticate", "admit", "consent", "decide", "plan", "evaluate", "audit.append"}
    assert {"Check"} | stages <= names
    [authenticate] = _named(trace_spans, "authenticate")
    assert _parent_of(authenticate, trace_spans) is check
    assert check.start_time is not None
    assert authenticate.start_time is not None
    assert check.start_time <= authenticate.start_time
    fetches = [s for s in trace_spans if s.name.startswith("fetch ")]
    contacted = {source.agency_id for source in reply.sources}
    assert sorted(s.name.removeprefix("fetch ") for s in fetches) == sorted(contacted)
    assert all(s.kind is SpanKind.CLIENT for s in fetches)
    [decide] = _named(trace_spans, "decide")
    assert all(_parent_of(s, trace_spans) is decide for s in fetches)
    assert _parent_of(decide, trace_spans) is check
    # Each agency's own span joined the trace through the Fetch call's metadata.
    served = [s for s in trace_spans if s.name == "Fetch" and s.kind is SpanKind.SERVER]
    assert {s.attributes["sakha.agency"] for s in served if s.attributes} == contacted
    assert all(_parent_of(s, trace_spans).name.startswith("fetch ") for s in served)
    # The audit entry names the trace.
    audit = consented.stack.hub.audit
    assert audit is not None
    [(index, data)] = list(audit.store.entries())
    assert index == reply.audit_index
    assert entry_from_canonical(data).trace_id == format(check.context.trace_id, "032x")


async def test_a_callers_trace_context_is_joined(
    consented: ConsentStack, spans: InMemorySpanExporter
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consented.grant(head)
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = (("traceparent", f"00-{caller_trace}-00f067aa0ba902b7-01"),)
    await consented.stack.stub.Check(request(head), timeout=10, metadata=metadata)
    [check] = _named(spans.get_finished_spans(), "Check")
    assert check.context is not None
    assert format(check.context.trace_id, "032x") == caller_trace
    assert check.parent is not None
    assert format(check.parent.span_id, "016x") == "00f067aa0ba902b7"


async def test_a_batch_is_one_trace_its_chunks_decided_under_it(
    consented: ConsentStack, spans: InMemorySpanExporter
) -> None:
    population = consented.stack.population
    heads = [sample(population, n) for n in ("poor_head", "rural_head")]
    for head in heads:
        consented.grant(head)

    async def stream() -> AsyncIterator[pb2.CheckRequest]:
        for n, head in enumerate(heads):
            message = request(head)
            message.request_id = f"item-{n}"
            yield message

    replies = [r async for r in consented.stack.stub.CheckBatch(stream(), timeout=30)]
    assert len(replies) == 2
    finished = spans.get_finished_spans()
    [batch] = _named(finished, "CheckBatch")
    assert batch.context is not None
    trace_spans = _in_trace(finished, batch.context.trace_id)
    [decide] = _named(trace_spans, "decide")
    assert _parent_of(decide, trace_spans) is batch
    assert decide.attributes is not None
    assert decide.attributes["sakha.checks"] == 2
    assert _named(trace_spans, "audit.append")
