"""An AuditService on 127.0.0.1 port 0 behind the hub's interceptor chain, on a real log.

The log holds five entries about three people, written under two pseudonym keys (an old and
a current one), with checkpoints at sizes 3 and 5. Callers prove themselves with JWTs signed
by keys made at test time, verified by the hub's
:class:`~gateway.interceptors.authn.AuthenticationInterceptor` against a registry of an
auditor organisation and a checker without the auditor role. The store runs on a SQLite file
and on the machine's PostgreSQL (skipped when unreachable, as in tests/audit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sakha.v1 import audit_pb2_grpc

from audit import (
    AgencyQuery,
    AgencyStatus,
    Basis,
    BasisKind,
    Caller,
    Decision,
    Entry,
    Failure,
    Program,
    Pseudonymizer,
    Refusal,
    Rpc,
    Signer,
    Stage,
    Subject,
    Verdict,
)
from audit.store import AuditRecord, AuditStore
from gateway.audit_service import AuditServicer
from gateway.auth.policy import AccessPolicy
from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role
from gateway.interceptors import hub_interceptors
from gateway.interceptors.authn import AuthenticationInterceptor
from tests.audit import test_store as store_tests
from tests.consent.conftest import OTHER, SUBJECT, national_id
from tests.consent_service.conftest import AUDIENCE, CHECKER, bearer_metadata

# The audit store tests' database fixtures: a SQLite file, then a fresh PostgreSQL schema.
empty_db = store_tests.empty_db
engine = store_tests.engine
postgres_server = store_tests.postgres_server

ORIGIN = store_tests.ORIGIN
AUDITOR = "audit_office"
MEMBER = national_id("004567891")
"""A household member of OTHER, never a subject of their own."""
OLD_KEY = Pseudonymizer(bytes(range(32)), "k2024")
KEY = Pseudonymizer(bytes(range(32, 64)), "k2025")
T0 = dt.datetime(2026, 3, 1, 9, 0, 0, 250000, tzinfo=dt.UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
STREAMS = frozenset({"Query", "SubjectReport"})


def _subject(person: str, key: Pseudonymizer, *members: str) -> Subject:
    return Subject(key.pseudonym(person), key.key_id, tuple(key.pseudonym(m) for m in members))


def _agency(agency: str, status: AgencyStatus = AgencyStatus.OK) -> AgencyQuery:
    return AgencyQuery(
        agency=agency,
        fetch_id=f"f-{agency}",
        attributes=("household_size",),
        predicates=("income_decile le 4",),
        status=status,
        latency_ms=12,
    )


def _entry(minutes: int, **fields: Any) -> Entry:
    base: dict[str, Any] = {
        "time": T0 + dt.timedelta(minutes=minutes),
        "request_id": f"req-{minutes}",
        "trace_id": TRACE,
        "rpc": Rpc.CHECK,
        "caller": Caller(org="welfare_org", operator="operator-17"),
        "purpose": "livelihood_support",
        "program": Program(id="livelihood_basket", version="2026.1", digest="sha256:ab12"),
        "subject": None,
        "basis": None,
        "agencies": (),
        "result": Decision(Verdict.ELIGIBLE, ("INCOME_OK",)),
    }
    base.update(fields)
    return Entry(**base)


ENTRIES = (
    # 0: SUBJECT, current key, decided under a consent after asking two agencies.
    _entry(
        0,
        subject=_subject(SUBJECT, KEY),
        basis=Basis(BasisKind.CONSENT, "c-1"),
        agencies=(_agency("civil_registry"), _agency("tax")),
    ),
    # 1: OTHER, refused in admit for want of a consent.
    _entry(
        1,
        rpc=Rpc.CHECK_BATCH,
        caller=Caller(org="relief", operator="operator-3"),
        program=Program(id="housing_aid", version=None, digest=None),
        subject=_subject(OTHER, KEY),
        result=Refusal(Stage.ADMIT, "PERMISSION_DENIED", "NO_CONSENT"),
    ),
    # 2: SUBJECT under the old key: a failure after the tax agency timed out.
    _entry(
        2,
        caller=Caller(org="relief", operator="operator-3"),
        program=Program(id="housing_aid", version="1", digest="sha256:cd34"),
        subject=_subject(SUBJECT, OLD_KEY),
        basis=Basis(BasisKind.MANDATE, "m-7"),
        agencies=(_agency("tax", AgencyStatus.TIMEOUT),),
        result=Failure("UNAVAILABLE", "AGENCY_UNAVAILABLE"),
    ),
    # 3: OTHER's household, MEMBER read as a member.
    _entry(
        3,
        subject=_subject(OTHER, KEY, MEMBER),
        basis=Basis(BasisKind.CONSENT, "c-2"),
        agencies=(_agency("civil_registry"),),
        result=Decision(Verdict.INELIGIBLE, ("INCOME_TOO_HIGH",)),
    ),
    # 4: no usable subject, no authenticated caller.
    _entry(
        4,
        caller=None,
        purpose="",
        program=Program(id="", version=None, digest=None),
        result=Refusal(Stage.ADMIT, "INVALID_ARGUMENT", "NATIONAL_ID_CHECK_DIGIT"),
    ),
)
PEOPLE = (SUBJECT, OTHER, MEMBER)


def fill(store: AuditStore, signer: Signer) -> None:
    """Append :data:`ENTRIES` with a checkpoint after the third and after the fifth."""
    for group in (ENTRIES[:3], ENTRIES[3:]):
        store.append([AuditRecord.of(entry) for entry in group])
        store.issue_checkpoint(signer, now=T0 + dt.timedelta(hours=1))


@pytest.fixture(scope="session")
def signer() -> Signer:
    """The log's checkpoint key, named after its origin."""
    return Signer(ORIGIN, ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def client_keys() -> dict[str, ed25519.Ed25519PrivateKey]:
    """One private key per organisation, made for this session."""
    return {org: ed25519.Ed25519PrivateKey.generate() for org in (AUDITOR, CHECKER)}


def registry_of(keys: dict[str, ed25519.Ed25519PrivateKey]) -> ClientRegistry:
    """An auditor organisation and a checker without the auditor role."""
    return ClientRegistry(
        [
            Organisation(
                id=org,
                name=org,
                roles=frozenset(roles),
                keys=(ClientKey.from_public_key(f"{org}-1", keys[org].public_key()),),
                programs={},
            )
            for org, roles in ((AUDITOR, {Role.AUDITOR}), (CHECKER, {Role.CHECKER}))
        ]
    )


def servicer(store: AuditStore, signer: Signer, registry: ClientRegistry) -> AuditServicer:
    """The servicer as the hub builds it, holding both pseudonym keys."""
    return AuditServicer(
        store,
        pseudonymizers=(KEY, OLD_KEY),
        verifier_key=signer.verifier().key_string,
        policy=AccessPolicy(registry),
    )


@pytest.fixture
def audit_store(engine: sa.Engine) -> AuditStore:
    """An empty log on the migrated database (SQLite, then PostgreSQL)."""
    return AuditStore(engine, origin=ORIGIN)


@dataclass
class AuditHub:
    """A running AuditService and a way to call it as any organisation."""

    stub: audit_pb2_grpc.AuditServiceAsyncStub
    keys: dict[str, ed25519.Ed25519PrivateKey]

    def metadata(self, org: str | None) -> tuple[tuple[str, str], ...]:
        """The bearer token of ``org``'s operator; nothing for None."""
        return bearer_metadata(self.keys, org)

    async def call(self, rpc: str, request: Any, org: str | None = AUDITOR) -> Any:
        """Call ``rpc`` with a deadline, as ``org``; a stream is read to its end as a list."""
        method = getattr(self.stub, rpc)
        call = method(request, timeout=10, metadata=self.metadata(org))
        if rpc in STREAMS:
            return [message async for message in call]
        return await call

    async def refused(
        self, rpc: str, request: Any, org: str | None = AUDITOR
    ) -> grpc.aio.AioRpcError:
        """The error ``rpc`` fails with (the test fails if it succeeds)."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.call(rpc, request, org)
        return caught.value


def violations(error: grpc.aio.AioRpcError) -> set[tuple[str, str]]:
    """The (field, reason) pairs of a refusal's BadRequest."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: set[tuple[str, str]] = set()
    for detail in status.details if status is not None else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found |= {(v.field, v.reason) for v in bad.field_violations}
    return found


def has_no_national_id(messages: Sequence[Any]) -> bool:
    """True when no serialised message holds any national ID of :data:`PEOPLE`."""
    blob = b"".join(message.SerializeToString() for message in messages)
    return all(person.encode() not in blob for person in PEOPLE)


@asynccontextmanager
async def serving(
    store: AuditStore, signer: Signer, keys: dict[str, ed25519.Ed25519PrivateKey]
) -> AsyncIterator[AuditHub]:
    """The servicer behind the hub's chain (malformed guard, JWT authentication, deadline)."""
    registry = registry_of(keys)
    authentication = AuthenticationInterceptor(
        registry, audience=AUDIENCE, leeway_s=30, max_lifetime_s=3600
    )
    server = grpc.aio.server(
        interceptors=hub_interceptors(
            max_unary_s=30, max_stream_s=30, authentication=authentication, limiter=None
        )
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(servicer(store, signer, registry), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield AuditHub(audit_pb2_grpc.AuditServiceStub(channel), keys)
    finally:
        await server.stop(None)


@pytest_asyncio.fixture
async def hub(
    audit_store: AuditStore, signer: Signer, client_keys: dict[str, ed25519.Ed25519PrivateKey]
) -> AsyncIterator[AuditHub]:
    """The service on the filled log."""
    fill(audit_store, signer)
    async with serving(audit_store, signer, client_keys) as served:
        yield served


@pytest_asyncio.fixture
async def empty_hub(
    audit_store: AuditStore, signer: Signer, client_keys: dict[str, ed25519.Ed25519PrivateKey]
) -> AsyncIterator[AuditHub]:
    """The service on a log with no entry and no checkpoint."""
    async with serving(audit_store, signer, client_keys) as served:
        yield served
