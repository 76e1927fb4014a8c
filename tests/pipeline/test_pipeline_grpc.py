"""Over real gRPC: both RPCs go through admit and decide, and a caller's deadline stops work."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

import grpc
from sakha.v1 import eligibility_pb2 as pb2
from sakha.v1 import eligibility_pb2_grpc

from gateway.checking import CheckOutcome
from gateway.coalescer import Waiting
from gateway.command import AdmittedCheck, CheckCommand
from gateway.config import AgencyEndpoint, HubConfig
from gateway.hub import start_hub
from gateway.pipeline import Pipeline
from gateway.service import EligibilityServicer
from tests.pipeline.conftest import PROGRAM, PURPOSE, SUBJECTS, World


class SpyPipeline(Pipeline):
    """Records every admit and decide; agencies may be asked only while a decide runs."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.admitted: list[CheckCommand] = []
        self.decided: list[list[str]] = []
        self.deciding = 0

    def screen(self, command: CheckCommand) -> AdmittedCheck:
        self.admitted.append(command)
        return super().screen(command)

    async def decide(
        self, group: Sequence[AdmittedCheck], *, waiting: Waiting | None = None
    ) -> list[CheckOutcome]:
        self.decided.append([a.command.subject for a in group])
        self.deciding += 1
        try:
            return await super().decide(group, waiting=waiting)
        finally:
            self.deciding -= 1

    def assert_deciding(self) -> None:
        assert self.deciding > 0, "an agency was asked outside decide"


def _request(subject: str, request_id: str = "") -> pb2.CheckRequest:
    return pb2.CheckRequest(
        national_id=subject, program_id=PROGRAM, purpose=PURPOSE, request_id=request_id
    )


async def _check_until(
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub, subject: str, *, timeout_s: float
) -> tuple[grpc.StatusCode, pb2.CheckResult | None]:
    try:
        return grpc.StatusCode.OK, await stub.Check(_request(subject), timeout=timeout_s)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), None


async def test_check_and_check_batch_reach_agencies_only_through_admit_and_decide(
    world: World,
) -> None:
    spy = world.pipeline(kind=SpyPipeline, window_s=0.001, anonymous_allowed=True)
    assert isinstance(spy, SpyPipeline)
    for agency in world.agencies:
        agency.on_fetch = spy.assert_deciding
    server = grpc.aio.server()
    eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(
        EligibilityServicer(spy, HubConfig(insecure=True)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            single = await stub.Check(_request(SUBJECTS[0], "one"), timeout=10)
            assert single.request_id == "one"
            assert [c.subject for c in spy.admitted] == [SUBJECTS[0]]
            assert spy.decided == [[SUBJECTS[0]]]

            async def requests() -> AsyncIterator[pb2.CheckRequest]:
                for i, subject in enumerate(SUBJECTS[1:4]):
                    yield _request(subject, f"b{i}")

            batch = [r async for r in stub.CheckBatch(requests(), timeout=10)]
    finally:
        await server.stop(None)
    assert [r.request_id for r in batch] == ["b0", "b1", "b2"]
    assert [c.subject for c in spy.admitted] == list(SUBJECTS[:4])
    assert [c.rpc for c in spy.admitted] == ["Check", "CheckBatch", "CheckBatch", "CheckBatch"]
    assert spy.decided == [[SUBJECTS[0]], list(SUBJECTS[1:4])]
    heard = world.civil_registry.subjects_heard() | world.tax.subjects_heard()
    assert heard == set(SUBJECTS[:4])


async def test_a_caller_deadline_of_300_ms_ends_the_call_and_cancels_the_agency(
    world: World,
) -> None:
    """The civil registry answers after 3 s; the caller waits 300 ms; the hub's agency
    timeout is 3 s too: the caller's deadline, not the timeout, bounds the work."""
    from adapters.server import create_adapter_server  # noqa: PLC0415 - one test needs it

    world.civil_registry.delay_s = 3.0
    servers = [await create_adapter_server(agency) for agency in world.agencies]
    config = HubConfig(
        listen="127.0.0.1:0",
        agencies=tuple(
            AgencyEndpoint(agency.describe().agency_id, f"127.0.0.1:{port}")
            for agency, (_, port) in zip(world.agencies, servers, strict=True)
        ),
        programs_dir=world.programs_dir,
        agency_timeout_ms=3000,
        insecure=True,
    )
    hub = await start_hub(config)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            started = time.monotonic()
            code, result = await _check_until(stub, SUBJECTS[0], timeout_s=0.3)
            elapsed = time.monotonic() - started
        assert elapsed < 0.5
        if result is None:  # the caller's clock ran out first
            assert code is grpc.StatusCode.DEADLINE_EXCEEDED
        else:  # the hub's bound on the Fetch (the same deadline) fired first
            assert result.decision == pb2.DECISION_UNDETERMINED
            assert result.sources[0].status == pb2.SOURCE_STATUS_TIMEOUT
        await world.civil_registry.cancelled.wait()  # the agency's handler saw it
        assert not world.tax.queries
    finally:
        await hub.stop(1.0)
        for server, _ in servers:
            await server.stop(None)
