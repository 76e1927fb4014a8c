"""A hub killed with SIGKILL under load loses no entry of a reply a client received.

A hub process serves concurrent ``Check`` calls and ``CheckBatch`` streams on the demo's
databases; it is killed mid-flight (no shutdown, no final checkpoint). Every reply that
reached a client names an audit index; after a restart on the same database, the entry at
each of those indexes is that very lookup, the indexes are dense, and the log verifies.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from sakha.v1 import eligibility_pb2 as pb2
from sakha.v1 import eligibility_pb2_grpc

from tests.e2e.conftest import hub_channel
from tests.e2e.test_audit import assert_receipts_logged, consented, registry_rows
from tests.e2e.test_check import request
from tests.e2e.test_consent import EPIDEMIC, ConsentStack, hub_yaml
from tests.processes import serving, start_server

__all__ = ["consented"]

WORKERS = 12
"""Concurrent single checks in flight."""
BATCHES = 2
"""Concurrent CheckBatch streams."""
KILL_AFTER = 300
"""Replies received before the hub is killed."""


class Receipts:
    """The replies clients received: request id -> audit index."""

    def __init__(self) -> None:
        self.by_request: dict[str, int] = {}
        self.enough = asyncio.Event()

    def add(self, request_id: str, index: int) -> None:
        self.by_request[request_id] = index
        if len(self.by_request) >= KILL_AFTER:
            self.enough.set()


def _epidemic(subject: str, request_id: str) -> pb2.CheckRequest:
    message = request(subject, EPIDEMIC, "emergency_relief")
    message.request_id = request_id
    return message


async def _checks(stub: Any, worker: int, subjects: list[str], receipts: Receipts) -> None:
    check = stub.Check
    for n in range(10_000):
        request_id = f"w{worker}-{n}"
        subject = subjects[(worker * 7919 + n) % len(subjects)]
        reply = await check(_epidemic(subject, request_id), timeout=10)
        assert reply.HasField("audit_index")
        receipts.add(request_id, reply.audit_index)


async def _batches(stub: Any, stream_no: int, subjects: list[str], receipts: Receipts) -> None:
    for round_no in range(10_000):

        async def items(base: str = f"b{stream_no}-{round_no}") -> AsyncIterator[pb2.CheckRequest]:
            for k, subject in enumerate(subjects[:40]):
                yield _epidemic(subject, f"{base}-{k}")

        async for reply in stub.CheckBatch(items(), timeout=30):
            assert reply.HasField("audit_index")
            receipts.add(reply.request_id, reply.audit_index)


@pytest.mark.slow
async def test_a_hub_killed_under_load_loses_no_received_replys_entry(
    consented: ConsentStack, tmp_path: Path
) -> None:
    consented.register_epidemic_mandate()
    subjects = [nid for (nid,) in registry_rows(consented, "SELECT national_id FROM persons")]
    security = consented.stack.security
    assert security is not None
    config = hub_yaml(consented, tmp_path / "hub.yaml")
    hub = await start_server("serve", "--config", str(config), ready=r"port (\d+)")
    receipts = Receipts()
    channel = hub_channel(int(hub.ready.group(1)), security)
    try:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        load = [
            *(asyncio.create_task(_checks(stub, w, subjects, receipts)) for w in range(WORKERS)),
            *(asyncio.create_task(_batches(stub, b, subjects, receipts)) for b in range(BATCHES)),
        ]
        await asyncio.wait_for(receipts.enough.wait(), 60)
        await hub.kill()
        failures = await asyncio.gather(*load, return_exceptions=True)
    finally:
        await channel.close(None)
        await hub.kill()
    assert hub.proc.returncode == -signal.SIGKILL
    # Every stream ended with the hub: a gRPC error, not a wrong assertion.
    assert all(isinstance(f, grpc.aio.AioRpcError) for f in failures), failures
    received = dict(receipts.by_request)
    assert len(received) >= KILL_AFTER

    # Restart on the same database; it starts, signs a checkpoint of the whole log, stops.
    async with serving("serve", "--config", str(config), ready=r"port (\d+)"):
        pass
    await assert_receipts_logged(consented, received)
