"""Malformed input into every RPC of the hub and of an agency: no crash, no hang, no INTERNAL.

A bounded number of hypothesis cases per RPC runs in CI: arbitrary bytes as the serialized
request, and well-formed requests with hostile field values (unicode look-alikes, control
characters, huge strings, unknown enum numbers). After each run the hub still serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sakha.v1 import eligibility_pb2 as pb2

from tests.e2e.conftest import Stack
from tests.e2e.test_check import request, sample

HUB_METHODS = (
    "/sakha.v1.EligibilityService/Check",
    "/sakha.v1.EligibilityService/ListPrograms",
    "/sakha.v1.EligibilityService/DescribeProgram",
)
AGENCY_METHODS = ("/sakha.v1.ConnectorService/Describe", "/sakha.v1.ConnectorService/Fetch")
# A malformed request may be refused in any of these ways; never INTERNAL or UNKNOWN.
ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

hostile_text = st.one_of(
    st.text(max_size=64),
    st.text(alphabet="0123456789۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩０１２３ \t\n+-\u200c\u202e", max_size=16),
    st.just("0" * 100_000),
)


async def _raw_call(channel: grpc.aio.Channel, method: str, payload: bytes) -> grpc.StatusCode:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        await call(payload, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def _still_serves(stack: Stack) -> None:
    result = await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)
    assert result.decision != pb2.DECISION_UNSPECIFIED


@FUZZ
@given(method=st.sampled_from(HUB_METHODS), payload=st.binary(max_size=2048))
async def test_random_bytes_into_the_hub(stack: Stack, method: str, payload: bytes) -> None:
    assert await _raw_call(stack.channel, method, payload) in ACCEPTABLE


@FUZZ
@given(
    national_id=hostile_text,
    program_id=st.one_of(hostile_text, st.just("livelihood_basket")),
    purpose=st.one_of(hostile_text, st.just("livelihood_support")),
    request_id=hostile_text,
)
async def test_hostile_fields_into_check(
    stack: Stack, national_id: str, program_id: str, purpose: str, request_id: str
) -> None:
    message = pb2.CheckRequest(
        national_id=national_id, program_id=program_id, purpose=purpose, request_id=request_id
    )
    code = await _raw_call(stack.channel, HUB_METHODS[0], message.SerializeToString())
    assert code in ACCEPTABLE
    if code is grpc.StatusCode.OK:  # only a well-formed, valid national ID can be decided
        assert national_id.isascii()
        assert national_id.isdigit()


@FUZZ
@given(items=st.lists(st.binary(max_size=256), min_size=1, max_size=20))
async def test_random_bytes_into_check_batch(stack: Stack, items: list[bytes]) -> None:
    call = stack.channel.stream_stream(
        "/sakha.v1.EligibilityService/CheckBatch",
        request_serializer=None,
        response_deserializer=None,
    )

    async def stream() -> AsyncIterator[bytes]:
        for item in items:
            yield item

    # Every item, parseable or not, gets its own answer and the stream completes.
    replies = [reply async for reply in call(stream(), timeout=10)]
    assert len(replies) == len(items)
    for reply in replies:
        result = pb2.CheckResult.FromString(reply)
        assert result.error.code != grpc.StatusCode.INTERNAL.value[0]


@FUZZ
@given(method=st.sampled_from(AGENCY_METHODS), payload=st.binary(max_size=2048))
async def test_random_bytes_into_an_agency(stack: Stack, method: str, payload: bytes) -> None:
    agency = stack.hub.channels[0]  # the hub's own mutual-TLS channel to an agency
    assert await _raw_call(agency, method, payload) in ACCEPTABLE


@pytest.fixture(autouse=True)
async def _serves_afterwards(stack: Stack) -> AsyncIterator[None]:
    yield
    await _still_serves(stack)
