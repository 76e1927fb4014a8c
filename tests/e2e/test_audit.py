"""The audit log, end to end: every lookup of the secure stack (consent and audit on) is one
entry, replies carry their entry's index, no national ID reaches the log's database, and a log
that cannot be written fails every check closed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sakha.v1 import eligibility_pb2 as pb2

from audit import Decision, Entry, Failure, Refusal, entry_from_canonical
from audit.store import AuditStore, EntryFilter
from gateway.cli import main
from tests.e2e.test_check import request, sample
from tests.e2e.test_consent import ConsentStack, _refusal, consented

__all__ = ["consented"]  # the fixture, shared with test_consent


def _entries(stack: ConsentStack) -> list[tuple[int, Entry]]:
    audit = stack.stack.hub.audit
    assert audit is not None
    return [(index, entry_from_canonical(data)) for index, data in audit.store.entries()]


async def test_every_lookup_is_one_entry_and_replies_carry_its_index(
    consented: ConsentStack,
) -> None:
    population = consented.stack.population
    head, other = sample(population, "poor_head"), sample(population, "rural_head")
    consented.grant(head)
    stub = consented.stack.stub
    allowed = await stub.Check(request(head), timeout=10)
    code, reason, _ = await _refusal(stub, request(other))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT")

    async def stream() -> AsyncIterator[pb2.CheckRequest]:
        for index, subject in enumerate([head, other]):
            message = request(subject)
            message.request_id = f"item-{index}"
            yield message

    batch = [r async for r in stub.CheckBatch(stream(), timeout=30)]
    entries = _entries(consented)
    assert [index for index, _ in entries] == [0, 1, 2, 3]
    assert allowed.HasField("audit_index")
    by_index = dict(entries)
    decided = by_index[allowed.audit_index]
    assert isinstance(decided.result, Decision)
    assert decided.basis is not None
    assert decided.basis.ref == allowed.legal_basis.reference
    assert {q.agency for q in decided.agencies} >= {"civil_registry", "tax"}
    refusals = [e for _, e in entries if isinstance(e.result, Refusal)]
    assert [r.result.reason for r in refusals if isinstance(r.result, Refusal)] == [
        "NO_CONSENT",
        "NO_CONSENT",
    ]
    assert all(not r.agencies for r in refusals)
    [item] = [r for r in batch if not r.HasField("error")]
    assert isinstance(by_index[item.audit_index].result, Decision)


def registry_rows(stack: ConsentStack, query: str) -> list[tuple[str, ...]]:
    data_dir = stack.stack.population.data_dir
    with closing(
        sqlite3.connect(f"file:{data_dir / 'civil_registry.sqlite'}?mode=ro", uri=True)
    ) as registry:
        return [tuple(row) for row in registry.execute(query)]


async def test_a_household_lookup_is_found_by_every_members_pseudonym(
    consented: ConsentStack,
) -> None:
    [(household,)] = registry_rows(
        consented,
        "SELECT household_id FROM persons WHERE alive = 1 GROUP BY household_id"
        " HAVING count(*) >= 3 AND min(alive) = 1 ORDER BY household_id LIMIT 1",
    )
    people = [
        (nid, is_head)
        for nid, is_head, their_household in registry_rows(
            consented, "SELECT national_id, head_of_household, household_id FROM persons"
        )
        if their_household == household
    ]
    [head] = [nid for nid, is_head in people if is_head]
    members = sorted(nid for nid, _ in people if nid != head)
    consented.grant(head)
    reply = await consented.stack.stub.Check(request(head), timeout=10)
    assert reply.household_size == len(people)
    audit = consented.stack.hub.audit
    assert audit is not None
    [(index, entry)] = _entries(consented)
    assert index == reply.audit_index
    assert entry.subject is not None
    pseudonym = audit.pseudonymizer.pseudonym
    assert sorted(entry.subject.members) == sorted(pseudonym(m) for m in members)
    for member in members:
        found = [i for i, _ in audit.store.query(EntryFilter(subjects=(pseudonym(member),)))]
        assert found == [index]


async def test_a_group_that_fails_after_admission_is_recorded_as_failed(
    consented: ConsentStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consent_id = consented.grant(head)

    async def broken(group: object, *, waiting: object = None) -> list[object]:
        raise RuntimeError("the evaluator broke after the agencies answered")

    monkeypatch.setattr(consented.stack.hub.pipeline, "decide", broken)
    with pytest.raises(grpc.aio.AioRpcError) as single:
        await consented.stack.stub.Check(request(head), timeout=10)
    assert single.value.code() == grpc.StatusCode.INTERNAL

    async def stream() -> AsyncIterator[pb2.CheckRequest]:
        yield request(head)

    [item] = [r async for r in consented.stack.stub.CheckBatch(stream(), timeout=10)]
    assert item.HasField("error")
    entries = [entry for _, entry in _entries(consented)]
    assert [type(e.result) for e in entries] == [Failure, Failure]
    assert all(e.result.code == "INTERNAL" for e in entries if isinstance(e.result, Failure))
    assert all(e.result.reason == "FAILED" for e in entries if isinstance(e.result, Failure))
    assert [e.basis.ref for e in entries if e.basis is not None] == [consent_id, consent_id]


async def test_a_group_abandoned_by_every_caller_is_recorded_as_cancelled(
    consented: ConsentStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consented.grant(head)
    pipeline = consented.stack.hub.pipeline
    real = pipeline.decide

    async def slow(group: Any, *, waiting: Any = None) -> Any:
        outcomes = await real(group, waiting=waiting)  # the agencies are asked...
        await asyncio.sleep(30)  # ...and the caller gives up before the group is done
        return outcomes

    monkeypatch.setattr(pipeline, "decide", slow)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await consented.stack.stub.Check(request(head), timeout=1)
    assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(100):
        entries = [entry for _, entry in _entries(consented)]
        if entries:
            break
        await asyncio.sleep(0.05)
    [entry] = entries
    assert isinstance(entry.result, Failure)
    assert (entry.result.code, entry.result.reason) == ("CANCELLED", "CALLER_GONE")


async def test_no_national_id_reaches_the_audit_database(
    consented: ConsentStack, tmp_path: Path
) -> None:
    population = consented.stack.population
    subjects = [sample(population, n) for n in ("poor_head", "well_off", "severe_disability")]
    for subject in subjects[:2]:
        consented.grant(subject)
    await asyncio.gather(
        *(consented.stack.stub.Check(request(s), timeout=10) for s in subjects[:2]),
        _refusal(consented.stack.stub, request(subjects[2])),
    )
    assert len(_entries(consented)) == 3
    everyone = [nid for (nid,) in registry_rows(consented, "SELECT national_id FROM persons")]
    files = await asyncio.to_thread(lambda: list(tmp_path.glob("audit.sqlite*")))
    logged = b"".join([await asyncio.to_thread(path.read_bytes) for path in files])
    assert everyone
    leaked = [nid for nid in everyone if nid.encode() in logged]
    assert leaked == []


async def test_an_unwritable_log_fails_checks_closed_and_health_says_so(
    consented: ConsentStack, tmp_path: Path
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consented.grant(head)
    await consented.stack.stub.Check(request(head), timeout=10)
    with closing(sqlite3.connect(str(tmp_path / "audit.sqlite"))) as database:
        database.execute("DROP TABLE audit_entry_agencies")  # the log can no longer be written
        database.commit()
    code, reason, _ = await _refusal(consented.stack.stub, request(head))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "AUDIT_UNAVAILABLE")
    health = health_pb2_grpc.HealthStub(consented.stack.channel)
    await asyncio.sleep(0.1)
    status = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert len(_entries(consented)) == 1  # the failed group left nothing behind


async def test_the_log_exports_and_verifies_offline_and_a_changed_byte_is_caught(
    consented: ConsentStack, tmp_path: Path
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consented.grant(head)
    for _ in range(3):
        await consented.stack.stub.Check(request(head), timeout=10)
    audit = consented.stack.hub.audit
    assert audit is not None
    await audit.checkpoint()
    runner = CliRunner()
    vkey = audit.verifier_key
    bundle = tmp_path / "bundle"
    exported = await asyncio.to_thread(
        runner.invoke,
        main,
        ["audit", "export", "--db-url", consented.audit_db_url, "--out", str(bundle)],
    )
    assert exported.exit_code == 0, exported.output
    for source in (["--bundle", str(bundle)], ["--db-url", consented.audit_db_url]):
        verified = await asyncio.to_thread(
            runner.invoke, main, ["audit", "verify", *source, "--vkey", vkey]
        )
        assert verified.exit_code == 0, verified.output
    lines = (bundle / "entries.jsonl").read_bytes()
    (bundle / "entries.jsonl").write_bytes(lines.replace(b'"rpc":"Check"', b'"rpc":"Chuck"', 1))
    tampered = await asyncio.to_thread(
        runner.invoke, main, ["audit", "verify", "--bundle", str(bundle), "--vkey", vkey]
    )
    assert tampered.exit_code == 1, tampered.output


async def assert_receipts_logged(stack: ConsentStack, receipts: Mapping[str, int]) -> None:
    """The log of ``stack`` after its hubs stopped: dense, every receipt (request id ->
    index) naming its own check's entry, each such check logged once, its last checkpoint
    covering the whole log, and ``sakha audit verify`` passing on the database."""
    store = AuditStore.open(stack.audit_db_url)
    try:
        size, _ = store.head()
        logged = {index: entry_from_canonical(data) for index, data in store.entries()}
        latest = store.latest_checkpoint()
    finally:
        store.close()
    assert sorted(logged) == list(range(size))  # no gap, no duplicate index
    for request_id, index in receipts.items():
        assert logged[index].request_id == request_id
    per_request = Counter(entry.request_id for entry in logged.values())
    assert all(per_request[request_id] == 1 for request_id in receipts)
    assert latest is not None
    assert latest.size == size
    audit = stack.stack.hub.audit
    assert audit is not None
    verified = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["audit", "verify", "--db", stack.audit_db_url, "--vkey", audit.verifier_key],
    )
    assert verified.exit_code == 0, verified.output
