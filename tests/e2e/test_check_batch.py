"""CheckBatch end to end: order, per-item errors, limits, and agreement with Check."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable

import grpc
import pytest
from google.rpc import code_pb2
from sakha.v1 import eligibility_pb2 as pb2

from adapters.simulated.build import PopulationSummary
from gateway.demo_security import DemoSecurity
from tests.e2e.conftest import Stack, close_stack, open_stack

PROGRAM = "livelihood_basket"
PURPOSE = "caseload_review"


def heads(population: PopulationSummary, limit: int) -> list[str]:
    """National IDs of up to ``limit`` household heads from the civil registry's database."""
    path = population.data_dir / "civil_registry.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT national_id FROM persons WHERE head_of_household = 1 "
            "ORDER BY national_id LIMIT ?",
            (limit,),
        ).fetchall()
    return [r[0] for r in rows]


async def stream(requests: Iterable[pb2.CheckRequest]) -> AsyncIterator[pb2.CheckRequest]:
    """The requests as the async iterator a stream-stream call takes."""
    for item in requests:
        yield item


def batch_request(national_id: str, index: int) -> pb2.CheckRequest:
    """One CheckBatch item with a request id naming its position."""
    return pb2.CheckRequest(
        national_id=national_id, program_id=PROGRAM, purpose=PURPOSE, request_id=f"b{index}"
    )


async def test_results_come_back_in_order_and_agree_with_single_checks(stack: Stack) -> None:
    subjects = heads(stack.population, 150)
    requests = [batch_request(s, i) for i, s in enumerate(subjects)]
    results = [r async for r in stack.stub.CheckBatch(stream(requests), timeout=30)]
    assert [r.request_id for r in results] == [r.request_id for r in requests]
    assert all(r.decision != pb2.DECISION_UNSPECIFIED for r in results)
    assert {r.decision for r in results} >= {pb2.DECISION_ELIGIBLE, pb2.DECISION_INELIGIBLE}
    for index in (0, 57, 149):
        single = await stack.stub.Check(requests[index], timeout=10)
        assert single.decision == results[index].decision
        assert list(single.reason_codes) == list(results[index].reason_codes)


async def test_a_bad_item_gets_its_own_error_and_the_stream_goes_on(stack: Stack) -> None:
    good = heads(stack.population, 2)
    requests = [
        batch_request(good[0], 0),
        batch_request("0499370898", 1),  # wrong check digit
        pb2.CheckRequest(national_id=good[1], program_id="nope", purpose="x", request_id="b2"),
        batch_request(stack.population.samples.unknown, 3),
        batch_request(good[1], 4),
    ]
    results = [r async for r in stack.stub.CheckBatch(stream(requests), timeout=30)]
    assert [r.request_id for r in results] == ["b0", "b1", "b2", "b3", "b4"]
    assert results[1].error.code == code_pb2.INVALID_ARGUMENT
    assert "national_id" in results[1].error.message
    assert results[2].error.code == code_pb2.NOT_FOUND
    assert results[3].decision == pb2.DECISION_UNDETERMINED
    assert "SUBJECT_NOT_FOUND" in results[3].reason_codes
    for index in (0, 4):
        assert not results[index].HasField("error")
        assert results[index].decision != pb2.DECISION_UNSPECIFIED


async def test_an_empty_batch_is_invalid_argument(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        _ = [r async for r in stack.stub.CheckBatch(stream([]), timeout=10)]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_oversized_batch_is_invalid_argument_after_the_allowed_items(
    population: PopulationSummary, security: DemoSecurity
) -> None:
    stack = await open_stack(population, security, max_batch_items=5, batch_chunk_items=2)
    try:
        subjects = heads(population, 7)
        requests = [batch_request(s, i) for i, s in enumerate(subjects)]
        received: list[pb2.CheckResult] = []

        async def consume() -> None:
            async for result in stack.stub.CheckBatch(stream(requests), timeout=30):
                received.append(result)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await consume()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 5" in (caught.value.details() or "")
        assert len(received) <= 5
        assert [r.request_id for r in received] == [f"b{i}" for i in range(len(received))]
    finally:
        await close_stack(stack)
