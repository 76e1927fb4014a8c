"""A ConsentService on 127.0.0.1 port 0 behind the hub's interceptor chain, on a real store.

Callers prove themselves with JWTs signed by keys made at test time, verified by the hub's
:class:`~gateway.interceptors.authn.AuthenticationInterceptor` against a client registry of
four organisations: a consent manager (that also checks ``housing_aid``), a checker without
the consent_manager role, a disabled organisation and one granted no program. The store runs
on a SQLite file and on the machine's PostgreSQL (skipped when unreachable, as in
tests/consent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sakha.v1 import consent_pb2 as pb2
from sakha.v1 import consent_pb2_grpc

from consent import ConsentSigner, ConsentTemplate, JwksVerifier, jwk_set
from consent.store import ConsentStore
from consent.store.tables import consents
from gateway.auth.policy import AccessPolicy
from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role
from gateway.auth.tokens import issue_token
from gateway.consent_service import ConsentServicer
from gateway.interceptors import hub_interceptors
from gateway.interceptors.authn import AuthenticationInterceptor
from gateway.legal_basis import NoConsentTemplateError
from gateway.programs.errors import UnknownProgramError
from tests.consent import conftest as store_tests
from tests.consent.conftest import NOW, SUBJECT, template

# The store tests' database fixtures: a SQLite file, then a fresh PostgreSQL schema.
empty_db = store_tests.empty_db
engine = store_tests.engine
postgres_server = store_tests.postgres_server

AUDIENCE = "sakha-hub"
MANAGER = "relief_committee"
CHECKER = "checkers"
DISABLED = "closed_ngo"
NO_PROGRAMS = "no_programs"
PROGRAM = "housing_aid"
MANDATE_PROGRAM = "subsidy"
PURPOSE = "eligibility"
OPERATOR = "operator-7"


def templates(program_id: str) -> ConsentTemplate:
    """The lead's template lookup, in small: one consent program and one mandate program."""
    if program_id == PROGRAM:
        return template()
    if program_id == MANDATE_PROGRAM:
        raise NoConsentTemplateError(f"program {program_id!r} rests on a mandate")
    raise UnknownProgramError(program_id)


@pytest.fixture(scope="session")
def client_keys() -> dict[str, ed25519.Ed25519PrivateKey]:
    """One private key per organisation, made for this session."""
    return {
        org: ed25519.Ed25519PrivateKey.generate()
        for org in (MANAGER, CHECKER, DISABLED, NO_PROGRAMS)
    }


@pytest.fixture(scope="session")
def registry(client_keys: dict[str, ed25519.Ed25519PrivateKey]) -> ClientRegistry:
    """The four organisations; all but NO_PROGRAMS may check housing_aid for eligibility."""

    def org(
        org_id: str, roles: set[Role], *, programs: bool = True, enabled: bool = True
    ) -> Organisation:
        return Organisation(
            id=org_id,
            name=org_id,
            roles=frozenset(roles),
            keys=(ClientKey.from_public_key(f"{org_id}-1", client_keys[org_id].public_key()),),
            programs={PROGRAM: frozenset({PURPOSE})} if programs else {},
            enabled=enabled,
        )

    return ClientRegistry(
        [
            org(MANAGER, {Role.CONSENT_MANAGER, Role.CHECKER}),
            org(CHECKER, {Role.CHECKER}),
            org(DISABLED, {Role.CHECKER}, enabled=False),
            org(NO_PROGRAMS, {Role.CHECKER}, programs=False),
        ]
    )


@pytest.fixture(scope="session")
def consent_signer() -> ConsentSigner:
    """The gateway's consent key."""
    return ConsentSigner(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "c1")


@pytest.fixture
def consent_store(engine: sa.Engine, consent_signer: ConsentSigner) -> ConsentStore:
    """A store on the migrated database (SQLite, then PostgreSQL), trusting the signer."""
    return ConsentStore(engine, JwksVerifier(jwk_set([consent_signer.public_jwk()])))


def consent_rows(engine: sa.Engine) -> int:
    """How many consents the database holds."""
    with engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(consents)).scalar_one()
        )


class TickingClock:
    """NOW, one second later at every reading: grants made in a row are ordered in time."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> dt.datetime:
        self.readings += 1
        return NOW + dt.timedelta(seconds=self.readings)


def bearer_metadata(
    keys: dict[str, ed25519.Ed25519PrivateKey], org: str | None
) -> tuple[tuple[str, str], ...]:
    """The call metadata carrying a bearer token of ``org``'s operator; nothing for None."""
    if org is None:
        return ()
    token = issue_token(
        organisation_id=org,
        operator=OPERATOR,
        private_key=keys[org],
        kid=f"{org}-1",
        audience=AUDIENCE,
        ttl_s=300,
    )
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Hub:
    """A running ConsentService and a way to call it as any organisation."""

    stub: consent_pb2_grpc.ConsentServiceAsyncStub
    keys: dict[str, ed25519.Ed25519PrivateKey]

    def metadata(self, org: str | None) -> tuple[tuple[str, str], ...]:
        """The bearer token of ``org``'s operator; nothing for None."""
        return bearer_metadata(self.keys, org)

    async def call(self, rpc: str, request: Any, org: str | None = MANAGER) -> Any:
        """Call ``rpc`` with a deadline, as ``org``."""
        method = getattr(self.stub, rpc)
        return await method(request, timeout=10, metadata=self.metadata(org))

    async def refused(
        self, rpc: str, request: Any, org: str | None = MANAGER
    ) -> grpc.aio.AioRpcError:
        """The error ``rpc`` fails with (the test fails if it succeeds)."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.call(rpc, request, org)
        return caught.value

    async def grant(self, **fields: Any) -> pb2.Consent:
        """Grant a consent from :func:`grant_request` with ``fields`` changed."""
        result: pb2.Consent = await self.call("Grant", grant_request(**fields))
        return result


def grant_request(**fields: Any) -> pb2.GrantRequest:
    """The smallest complete grant: SUBJECT consents on paper to housing_aid's defaults."""
    base: dict[str, Any] = {
        "subject": SUBJECT,
        "program_id": PROGRAM,
        "purpose_code": PURPOSE,
        "purpose_text": "To check eligibility for housing aid",
        "notice_version": "notice-2025-01",
        "collection_method": pb2.COLLECTION_METHOD_PAPER_FORM,
    }
    base.update(fields)
    return pb2.GrantRequest(**base)


def reasons(error: grpc.aio.AioRpcError) -> set[str]:
    """The ErrorInfo reasons and BadRequest violation reasons of a refusal."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: set[str] = set()
    for detail in status.details if status is not None else []:
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(info):
            found.add(info.reason)
        elif detail.Unpack(bad):
            found |= {v.reason for v in bad.field_violations}
    return found


@pytest_asyncio.fixture
async def hub(
    consent_store: ConsentStore,
    consent_signer: ConsentSigner,
    registry: ClientRegistry,
    client_keys: dict[str, ed25519.Ed25519PrivateKey],
) -> AsyncIterator[Hub]:
    """The servicer behind the hub's chain (malformed guard, JWT authentication, deadline)."""
    authentication = AuthenticationInterceptor(
        registry, audience=AUDIENCE, leeway_s=30, max_lifetime_s=3600
    )
    server = grpc.aio.server(
        interceptors=hub_interceptors(
            max_unary_s=30, max_stream_s=30, authentication=authentication, limiter=None
        )
    )
    servicer = ConsentServicer(
        consent_store,
        consent_signer,
        templates=templates,
        policy=AccessPolicy(registry),
        consumers=registry,
        clock=TickingClock(),
    )
    consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Hub(consent_pb2_grpc.ConsentServiceStub(channel), client_keys)
    finally:
        await server.stop(None)
