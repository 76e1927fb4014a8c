"""Standard gRPC tools can discover and probe the hub: health and server reflection."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.conftest import Stack

SERVICE = "sakha.v1.EligibilityService"


async def test_health_reports_serving_overall_and_for_the_service(stack: Stack) -> None:
    stub = health_pb2_grpc.HealthStub(stack.channel)
    for name in ("", SERVICE):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_and_describes_the_service(stack: Stack) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(stack.channel)

    async def ask() -> list[reflection_pb2.ServerReflectionResponse]:
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
        ]

        async def stream() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            for request in requests:
                yield request

        return [r async for r in stub.ServerReflectionInfo(stream(), timeout=5)]

    listed, described = await ask()
    names = {s.name for s in listed.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names
    assert described.file_descriptor_response.file_descriptor_proto


async def test_health_turns_not_serving_on_shutdown(stack: Stack) -> None:
    await stack.hub.health.enter_graceful_shutdown()
    stub = health_pb2_grpc.HealthStub(stack.channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
