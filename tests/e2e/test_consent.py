"""Consent at the hub, end to end: the secure stack with the consent layer on.

Every agency's adapter counts the subjects it is asked about, so "refused" is checked where
it matters: a refused subject reaches no agency. A second hub runs as its own process on
the same consent database, as a replica would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sakha.v1 import eligibility_pb2 as pb2
from sakha.v1 import eligibility_pb2_grpc

from adapters.sdk import FetchQuery, FetchResult
from adapters.simulated.build import PopulationSummary
from consent import (
    DataConsumer,
    FetchType,
    Mandate,
    Scope,
    Validity,
)
from gateway.config import SecurityLayers
from gateway.demo_consent import fresh_demo_databases, grant_widest
from gateway.demo_security import DEMO_ORGANISATION, DemoSecurity
from tests.e2e.conftest import Stack, close_stack, hub_channel, open_stack
from tests.e2e.test_check import request, sample
from tests.e2e.test_security import error_reason
from tests.processes import secure_config_lines, serving

LIVELIHOOD = "livelihood_basket"
PURPOSE = "livelihood_support"
EPIDEMIC = "epidemic_cash_relief"
EPIDEMIC_MANDATE = "epidemic-relief-decree-1399"


class FetchLog:
    """The subjects each agency was asked about, counted at the adapters themselves."""

    def __init__(self) -> None:
        self.subjects: Counter[str] = Counter()
        self.calls = 0

    def heard(self) -> set[str]:
        """Every subject any agency was asked about."""
        return set(self.subjects)


@dataclasses.dataclass
class ConsentStack:
    """A secure stack with consent on, its database and the agencies' fetch log."""

    stack: Stack
    db_url: str
    audit_db_url: str
    fetches: FetchLog

    def grant(self, subject: str, program: str = LIVELIHOOD, **changes: Any) -> str:
        """Store a consent of ``subject`` to the demo organisation (the template's widest)."""
        layer = self.stack.hub.consent
        assert layer is not None
        return grant_widest(
            layer.store,
            layer.signer,
            self.stack.hub.pipeline.consent_template(program),
            consent_id=f"c-{secrets.token_hex(6)}",
            subject=subject,
            organisation_id=DEMO_ORGANISATION,
            purpose=self.stack.hub.registry.get(program).purposes[0],
            now=dt.datetime.now(dt.UTC).replace(microsecond=0),
            **changes,
        )

    def register_epidemic_mandate(self) -> None:
        """Register the mandate ``epidemic_cash_relief`` cites."""
        layer = self.stack.hub.consent
        assert layer is not None
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        mandate = Mandate(
            id=EPIDEMIC_MANDATE,
            legal_reference="Emergency decree (test)",
            issuing_authority="Council of Ministers (test)",
            programs=frozenset({EPIDEMIC}),
            purposes=frozenset({"emergency_relief", "caseload_review"}),
            valid_from=now - dt.timedelta(days=1),
            valid_until=None,
            created_at=now,
        )
        layer.store.register_mandate(layer.signer.sign_mandate(mandate), actor="test/registrar")

    @property
    def store(self) -> Any:
        """The hub's consent store."""
        layer = self.stack.hub.consent
        assert layer is not None
        return layer.store


def _count_fetches(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> FetchLog:
    log = FetchLog()
    for running in stack.agencies.agencies.values():
        original = running.adapter.fetch

        async def counted(query: FetchQuery, _original: Any = original) -> FetchResult:
            log.calls += 1
            log.subjects.update(query.subjects)
            result: FetchResult = await _original(query)
            return result

        monkeypatch.setattr(running.adapter, "fetch", counted)
    return log


@pytest_asyncio.fixture
async def consented(
    population: PopulationSummary,
    security: DemoSecurity,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[ConsentStack]:
    """A secure stack with every layer on, consent and audit included, on fresh SQLite
    databases as the demo's (``consent.sqlite`` and ``audit.sqlite`` in ``tmp_path``)."""
    db_url, audit_db_url = fresh_demo_databases(tmp_path)
    stack = await open_stack(
        population, security, layers=SecurityLayers(), db_url=db_url, audit_db_url=audit_db_url
    )
    try:
        yield ConsentStack(stack, db_url, audit_db_url, _count_fetches(stack, monkeypatch))
    finally:
        await close_stack(stack)


async def _refusal(stub: Any, message: pb2.CheckRequest) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Check(message, timeout=10)
    return caught.value.code(), error_reason(caught.value), caught.value.details() or ""


def _cite(message: pb2.CheckRequest, consent_id: str) -> pb2.CheckRequest:
    cited = pb2.CheckRequest()
    cited.CopyFrom(message)
    cited.consent_id = consent_id
    return cited


# --- refused before any agency hears of the subject --------------------------------------


async def test_a_check_without_consent_is_refused_and_no_agency_is_asked(
    consented: ConsentStack,
) -> None:
    head = sample(consented.stack.population, "poor_head")
    code, reason, details = await _refusal(consented.stack.stub, request(head))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT")
    assert DEMO_ORGANISATION in details
    code, reason, _ = await _refusal(consented.stack.stub, _cite(request(head), "c-nowhere"))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT")
    assert consented.fetches.calls == 0


async def test_a_consented_check_is_decided_and_names_its_consent(
    consented: ConsentStack,
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consent_id = consented.grant(head)
    found = await consented.stack.stub.Check(request(head), timeout=10)
    cited = await consented.stack.stub.Check(_cite(request(head), consent_id), timeout=10)
    for result in (found, cited):
        assert result.decision != pb2.DECISION_UNSPECIFIED
        assert (result.legal_basis.kind, result.legal_basis.reference) == ("consent", consent_id)
    assert head in consented.fetches.heard()
    record = consented.store.get(consent_id)
    assert record.use_count == 2


async def test_in_a_batch_only_consented_subjects_reach_the_agencies(
    consented: ConsentStack,
) -> None:
    population = consented.stack.population
    allowed = [sample(population, "poor_head"), sample(population, "well_off")]
    refused = [sample(population, "rural_head"), sample(population, "overlap_head")]
    for subject in allowed:
        consented.grant(subject)

    async def stream() -> AsyncIterator[pb2.CheckRequest]:
        for index, subject in enumerate([allowed[0], refused[0], allowed[1], refused[1]]):
            message = request(subject)
            message.request_id = f"item-{index}"
            yield message

    results = [r async for r in consented.stack.stub.CheckBatch(stream(), timeout=30)]
    by_id = {r.request_id: r for r in results}
    assert len(by_id) == 4
    for item in ("item-0", "item-2"):
        assert not by_id[item].HasField("error")
        assert by_id[item].legal_basis.kind == "consent"
    for item in ("item-1", "item-3"):
        assert by_id[item].error.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
        assert "NO_CONSENT" in str(by_id[item].error)
    heads_heard = consented.fetches.heard() & set(allowed + refused)
    assert heads_heard == set(allowed)


# --- the lifecycle takes effect on the very next check -------------------------------------


async def test_pause_resume_and_revoke_take_effect_at_the_next_check(
    consented: ConsentStack,
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consent_id = consented.grant(head)
    stub = consented.stack.stub
    await stub.Check(request(head), timeout=10)
    consented.store.pause(consent_id, actor="test/subject", why="travelling")
    asked = consented.fetches.calls
    assert (await _refusal(stub, request(head)))[1] == "PAUSED"
    consented.store.resume(consent_id, actor="test/subject", why="back")
    await stub.Check(request(head), timeout=10)
    consented.store.revoke(consent_id, actor="test/subject", why="withdrawn")
    asked_before_revoked = consented.fetches.calls
    code, reason, details = await _refusal(stub, _cite(request(head), consent_id))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "REVOKED")
    assert consent_id in details
    assert consented.fetches.calls == asked_before_revoked > asked


async def test_an_expired_consent_is_refused_once_its_window_closes(
    consented: ConsentStack,
) -> None:
    head = sample(consented.stack.population, "poor_head")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    template = consented.stack.hub.pipeline.consent_template(LIVELIHOOD)
    start = now - template.max_validity + dt.timedelta(seconds=2)
    consent_id = consented.grant(
        head, validity=Validity(start, start + template.max_validity), created_at=start
    )
    await consented.stack.stub.Check(request(head), timeout=10)
    await asyncio.sleep(2.5)
    _, reason, details = await _refusal(consented.stack.stub, request(head))
    assert reason == "EXPIRED"
    assert consent_id in details


async def test_a_one_time_consent_is_spent_exactly_once_under_concurrent_checks(
    consented: ConsentStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consent_id = consented.grant(head, fetch_type=FetchType.ONE_TIME, frequency=None)
    message = _cite(request(head), consent_id)
    transactions = []
    decide = consented.store.authorize_group

    def counted(requests: Any, **kwargs: Any) -> Any:
        transactions.append(len(requests))
        return decide(requests, **kwargs)

    monkeypatch.setattr(consented.store, "authorize_group", counted)
    outcomes = await asyncio.gather(
        *(consented.stack.stub.Check(message, timeout=10) for _ in range(24)),
        return_exceptions=True,
    )
    allowed = [o for o in outcomes if isinstance(o, pb2.CheckResult)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(allowed) == 1
    assert len(refused) == 23
    assert {error_reason(e) for e in refused} == {"SPENT"}
    assert consented.store.get(consent_id).use_count == 1
    # Concurrent single checks share consent transactions, as they share agency batches.
    assert sum(transactions) == 24
    assert len(transactions) < 24


# --- what the consent covers ---------------------------------------------------------------


async def test_a_consent_of_another_subject_or_organisation_is_refused(
    consented: ConsentStack,
) -> None:
    population = consented.stack.population
    head, other = sample(population, "poor_head"), sample(population, "well_off")
    others = consented.grant(other)
    foreign = consented.grant(head, consumer=DataConsumer("other_relief", LIVELIHOOD))
    stub = consented.stack.stub
    assert (await _refusal(stub, _cite(request(head), others)))[1] == "WRONG_SUBJECT"
    assert (await _refusal(stub, _cite(request(head), foreign)))[1] == "WRONG_CONSUMER"
    assert (await _refusal(stub, request(head)))[1] == "NO_CONSENT"
    assert consented.fetches.calls == 0


async def test_a_consent_narrower_than_the_plan_is_refused_naming_what_is_missing(
    consented: ConsentStack,
) -> None:
    head = sample(consented.stack.population, "poor_head")
    template = consented.stack.hub.pipeline.consent_template(LIVELIHOOD)
    dropped = sorted(template.attributes)[-1]
    consent_id = consented.grant(
        head, scope=Scope(template.attributes - {dropped}, template.predicates)
    )
    code, reason, details = await _refusal(consented.stack.stub, _cite(request(head), consent_id))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
    assert str(dropped) in details
    assert consented.fetches.calls == 0


async def test_a_mandate_program_needs_its_mandate_registered_and_not_suspended(
    consented: ConsentStack,
) -> None:
    subject = sample(consented.stack.population, "poor_head")
    stub = consented.stack.stub
    message = request(subject, EPIDEMIC, "emergency_relief")
    assert (await _refusal(stub, message))[1] == "NO_MANDATE"
    consented.register_epidemic_mandate()
    result = await stub.Check(message, timeout=10)
    assert (result.legal_basis.kind, result.legal_basis.reference) == ("mandate", EPIDEMIC_MANDATE)
    consented.store.suspend_mandate(EPIDEMIC_MANDATE, actor="test/court", why="appeal")
    assert (await _refusal(stub, message))[1] == "MANDATE_SUSPENDED"
    consented.store.resume_mandate(EPIDEMIC_MANDATE, actor="test/court", why="upheld")
    await stub.Check(message, timeout=10)


async def test_an_unreadable_consent_store_fails_closed_until_it_is_back(
    consented: ConsentStack, tmp_path: Path
) -> None:
    head = sample(consented.stack.population, "poor_head")
    consented.grant(head)
    consented.store.close()  # its pages are all in the main file now
    database = tmp_path / "consent.sqlite"
    saved = await asyncio.to_thread(database.read_bytes)
    await asyncio.to_thread(_overwrite_with_garbage, database)
    code, reason, _ = await _refusal(consented.stack.stub, request(head))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CONSENT_STORE_UNAVAILABLE")
    assert consented.fetches.calls == 0
    health = health_pb2_grpc.HealthStub(consented.stack.channel)
    assert await _health(health) == health_pb2.HealthCheckResponse.NOT_SERVING

    consented.store.close()  # drop the connections to the garbage
    await asyncio.to_thread(database.write_bytes, saved)
    await consented.stack.stub.Check(request(head), timeout=10)
    assert await _health(health) == health_pb2.HealthCheckResponse.SERVING


async def _health(stub: Any) -> int:
    """The hub's overall health once its report has settled."""
    await asyncio.sleep(0.1)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return int(answer.status)


def _overwrite_with_garbage(database: Path) -> None:
    for leftover in database.parent.glob(database.name + "-*"):
        leftover.unlink()
    database.write_bytes(b"this is not a database" * 100)


# --- a second hub process on the same store ------------------------------------------------


def hub_yaml(consented: ConsentStack, path: Path) -> Path:
    security = consented.stack.security
    assert security is not None
    lines = [
        "listen: 127.0.0.1:0",
        *secure_config_lines(security),
        f"db_url: '{consented.db_url}'",
        f"audit_db_url: '{consented.audit_db_url}'",
        "coalesce_window_ms: 1.0",
        "agencies:",
    ]
    targets = consented.stack.agencies.targets()
    lines += [f"  - {{agency_id: {a}, target: '{t}'}}" for a, t in targets]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def replica_config(consented: ConsentStack, tmp_path: Path) -> Path:
    """A hub config for a second hub on the same agencies and consent database."""
    return hub_yaml(consented, tmp_path / "replica.yaml")


async def test_a_second_hub_process_sees_a_revocation_and_spends_nothing_twice(
    consented: ConsentStack, replica_config: Path
) -> None:
    security = consented.stack.security
    assert security is not None
    head = sample(consented.stack.population, "poor_head")
    revoked = consented.grant(head)
    once = consented.grant(head, fetch_type=FetchType.ONE_TIME, frequency=None)
    async with serving("serve", "--config", str(replica_config), ready=r"port (\d+)") as match:
        channel = hub_channel(int(match.group(1)), security)
        try:
            replica = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            result = await replica.Check(_cite(request(head), revoked), timeout=10)
            assert result.legal_basis.reference == revoked
            consented.store.revoke(revoked, actor="test/subject", why="withdrawn on hub A")
            assert (await _refusal(replica, _cite(request(head), revoked)))[1] == "REVOKED"
            both = await asyncio.gather(
                *(
                    stub.Check(_cite(request(head), once), timeout=10)
                    for stub in [consented.stack.stub, replica] * 6
                ),
                return_exceptions=True,
            )
        finally:
            await channel.close(None)
    assert sum(isinstance(o, pb2.CheckResult) for o in both) == 1
    assert consented.store.get(once).use_count == 1
