"""OpenTelemetry metrics: checks by program and outcome, agency fetches, consent refusals and
the audit log's appends, read from an in-memory reader on the process's meter provider."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sakha.v1 import eligibility_pb2 as pb2

from tests.e2e.test_check import request, sample
from tests.e2e.test_consent import ConsentStack, _refusal, consented

__all__ = ["consented"]

_READER = InMemoryMetricReader()


@pytest.fixture(scope="module")
def reader() -> InMemoryMetricReader:
    """The reader of the process's meter provider (installed once, here)."""
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(MeterProvider(metric_readers=[_READER]))
    return _READER


Points = dict[tuple[str, frozenset[tuple[str, object]]], float]


def _points(reader: InMemoryMetricReader) -> Points:
    """Every data point's value (a sum, or a histogram's count), by name and attributes."""
    data = reader.get_metrics_data()
    points: Points = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count  # type: ignore[union-attr]
                    key = (metric.name, frozenset((point.attributes or {}).items()))
                    points[key] = float(value)
    return points


def _delta(before: Points, after: Points, name: str, attributes: Mapping[str, object]) -> float:
    key = (name, frozenset(attributes.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_checks_fetches_refusals_and_appends_are_counted(
    consented: ConsentStack, reader: InMemoryMetricReader
) -> None:
    population = consented.stack.population
    head, stranger = sample(population, "poor_head"), sample(population, "rural_head")
    consented.grant(head)
    before = _points(reader)
    reply = await consented.stack.stub.Check(request(head), timeout=10)
    code, reason, _ = await _refusal(consented.stack.stub, request(stranger))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT")
    after = _points(reader)
    outcome = pb2.Decision.Name(reply.decision).removeprefix("DECISION_")
    decided = {"sakha.program": reply.program_id, "sakha.outcome": outcome}
    assert _delta(before, after, "sakha.checks", decided) == 1
    refused = {"sakha.program": reply.program_id, "sakha.outcome": "NO_CONSENT"}
    assert _delta(before, after, "sakha.checks", refused) == 1
    assert _delta(before, after, "sakha.consent.refusals", {"sakha.reason": "NO_CONSENT"}) == 1
    answered = (pb2.SOURCE_STATUS_OK, pb2.SOURCE_STATUS_NOT_FOUND)  # the fetch itself was OK
    for source in reply.sources:
        assert source.status in answered
        fetched = {"sakha.agency": source.agency_id, "sakha.status": "OK"}
        assert _delta(before, after, "sakha.agency.fetch.duration", fetched) >= 1
    appended = {"sakha.result": "ok"}
    assert _delta(before, after, "sakha.audit.append.duration", appended) == 2
