"""Three hub replicas on one PostgreSQL: one audit log, one consent store, no lost entry.

Three ``sakha serve`` processes share a fresh PostgreSQL schema holding the consent store and
the audit log, and the simulated agencies. Concurrent checks go to all three; a consent
revoked through one replica is refused on another at its next check; one replica is killed
with SIGKILL mid-load. Afterwards the shared log has exactly one entry per answered check,
no gap and no duplicate, every received receipt names its own check, and ``sakha audit
verify`` passes on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from sakha.v1 import consent_pb2, consent_pb2_grpc, eligibility_pb2_grpc
from sakha.v1 import eligibility_pb2 as pb2

from adapters.simulated.build import PopulationSummary
from audit.migrations import AUDIT_MIGRATIONS
from consent.migrations import CONSENT_MIGRATIONS
from gateway.config import SecurityLayers
from gateway.demo_security import DemoSecurity
from tests.e2e.conftest import close_stack, hub_channel, open_stack
from tests.e2e.test_audit import assert_receipts_logged, registry_rows
from tests.e2e.test_check import request, sample
from tests.e2e.test_consent import EPIDEMIC, ConsentStack, _count_fetches, _refusal, hub_yaml
from tests.postgres import fresh_schema
from tests.processes import Server, start_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPLICAS = 3
WORKERS_PER_REPLICA = 6
CHECKS_PER_WORKER = 15


@pytest.fixture
def shared_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema with the consent store and the audit log migrated."""
    with fresh_schema("sakha_replicas") as url:
        text = url.render_as_string(hide_password=False)
        CONSENT_MIGRATIONS.upgrade(text)
        AUDIT_MIGRATIONS.upgrade(text)
        yield text


@pytest_asyncio.fixture
async def on_postgres(
    population: PopulationSummary,
    security: DemoSecurity,
    shared_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[ConsentStack]:
    """The agencies and an in-process hub (used to grant and register) on the shared schema."""
    stack = await open_stack(
        population,
        security,
        layers=SecurityLayers(),
        db_url=shared_schema,
        audit_db_url=shared_schema,
    )
    try:
        yield ConsentStack(stack, shared_schema, shared_schema, _count_fetches(stack, monkeypatch))
    finally:
        await close_stack(stack)


@dataclasses.dataclass
class Replica:
    """One hub process and a stub on it."""

    server: Server
    channel: Any
    stub: Any


async def _start_replicas(stack: ConsentStack, folder: Path) -> list[Replica]:
    security = stack.stack.security
    assert security is not None
    config = hub_yaml(stack, folder / "replica.yaml")
    servers = await asyncio.gather(
        *(
            start_server("serve", "--config", str(config), ready=r"port (\d+)")
            for _ in range(REPLICAS)
        )
    )
    replicas = []
    for server in servers:
        channel = hub_channel(int(server.ready.group(1)), security)
        replicas.append(
            Replica(server, channel, eligibility_pb2_grpc.EligibilityServiceStub(channel))
        )
    return replicas


def _epidemic(subject: str, request_id: str) -> pb2.CheckRequest:
    message = request(subject, EPIDEMIC, "emergency_relief")
    message.request_id = request_id
    return message


async def _load(
    replica: Replica,
    name: str,
    subjects: list[str],
    receipts: dict[str, int],
    answered: asyncio.Event | None = None,
) -> None:
    """Checks in a loop on one replica, each receipt kept under its request id; ``answered``
    is set once 20 of them are in."""

    async def one_worker(worker: int) -> None:
        for n in range(CHECKS_PER_WORKER):
            request_id = f"{name}-w{worker}-{n}"
            subject = subjects[zlib.crc32(request_id.encode()) % len(subjects)]
            reply = await replica.stub.Check(_epidemic(subject, request_id), timeout=20)
            receipts[request_id] = reply.audit_index
            if answered is not None and sum(k.startswith(name) for k in receipts) >= 20:
                answered.set()

    await asyncio.gather(*(one_worker(w) for w in range(WORKERS_PER_REPLICA)))


async def test_three_replicas_keep_one_log_and_one_consent_store(
    on_postgres: ConsentStack, tmp_path: Path
) -> None:
    on_postgres.register_epidemic_mandate()
    head = sample(on_postgres.stack.population, "poor_head")
    consent_id = on_postgres.grant(head)
    subjects = [nid for (nid,) in registry_rows(on_postgres, "SELECT national_id FROM persons")]
    replicas = await _start_replicas(on_postgres, tmp_path)
    first, second, victim = replicas
    receipts: dict[str, int] = {}
    try:
        # Phase 1: concurrent checks on all three replicas.
        await asyncio.gather(
            *(_load(r, f"r{i}", subjects, receipts) for i, r in enumerate(replicas))
        )
        answered = len(receipts)
        assert answered == REPLICAS * WORKERS_PER_REPLICA * CHECKS_PER_WORKER

        # A consent revoked through one replica is refused on another at its next check.
        cited = request(head)
        cited.consent_id = consent_id
        allowed = await second.stub.Check(cited, timeout=10)
        assert allowed.legal_basis.reference == consent_id
        consents = consent_pb2_grpc.ConsentServiceStub(first.channel)
        await consents.Revoke(
            consent_pb2.RevokeRequest(consent_id=consent_id, why="withdrawn at replica A"),
            timeout=10,
        )
        code, reason, _ = await _refusal(second.stub, cited)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "REVOKED")

        # Phase 2: load on all three; one replica is killed mid-load.
        twenty = asyncio.Event()
        doomed = asyncio.create_task(_load(victim, "killed", subjects, receipts, twenty))
        survivors = asyncio.gather(
            *(_load(r, f"again{i}", subjects, receipts) for i, r in enumerate(replicas[:2]))
        )
        await asyncio.wait_for(twenty.wait(), 60)
        await victim.server.kill()
        await survivors
        with pytest.raises(grpc.aio.AioRpcError):
            await doomed
    finally:
        for replica in replicas:
            await replica.channel.close(None)
        codes = [await replica.server.stop() for replica in replicas[:2]]
        await victim.server.kill()
    assert codes == [0, 0]

    await assert_receipts_logged(on_postgres, receipts)
