"""Fixtures of the consent tests: people, an artefact and its template, a key, a store.

The store fixture runs once on a SQLite file and once on the machine's PostgreSQL
(127.0.0.1:5432, database ``test``), in a schema of its own dropped afterwards; the
PostgreSQL case is skipped when the server is unreachable (except in CI: tests/postgres.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.national_id import with_check_digit
from consent import (
    CollectionMethod,
    ConsentArtefact,
    ConsentSigner,
    ConsentTemplate,
    DataConsumer,
    FetchType,
    Frequency,
    Grantor,
    HouseholdCoverage,
    JwksVerifier,
    Mandate,
    Providers,
    Scope,
    UseRequest,
    Validity,
    jwk_set,
    refs,
)
from consent.database import create_store_engine, sqlite_url
from consent.migrations import upgrade
from consent.store import ConsentStore
from tests.postgres import fresh_schema, postgres_url


def national_id(first_nine: str) -> str:
    """The valid national ID that starts with ``first_nine``."""
    return with_check_digit(first_nine)


SUBJECT = national_id("001234567")
GUARDIAN = national_id("002345678")
OTHER = national_id("003456789")
NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def artefact(**changes: Any) -> ConsentArtefact:
    """A periodic consent of SUBJECT to relief_committee for program ``housing_aid``."""
    base = ConsentArtefact(
        id="c-1",
        subject=SUBJECT,
        grantor=Grantor(SUBJECT),
        consumer=DataConsumer("relief_committee", "housing_aid"),
        providers=Providers(frozenset({"tax", "civil_registry"})),
        purpose_code="eligibility",
        purpose_text="To check eligibility for housing aid",
        scope=Scope(refs("tax.annual_income"), refs("civil_registry.household_size")),
        household=HouseholdCoverage.MEMBERS_AT_CHECK_TIME,
        fetch_type=FetchType.PERIODIC,
        frequency=Frequency(4, 30 * DAY),
        validity=Validity(NOW - DAY, NOW + 90 * DAY),
        data_life=7 * DAY,
        notice_version="notice-2025-01",
        collection_method=CollectionMethod.PAPER_FORM,
        created_at=NOW - DAY,
    )
    return dataclasses.replace(base, **changes)


def one_time(**changes: Any) -> ConsentArtefact:
    """A one-time version of :func:`artefact`."""
    return artefact(fetch_type=FetchType.ONE_TIME, frequency=None, **changes)


def template(**changes: Any) -> ConsentTemplate:
    """The template of program ``housing_aid``: the artefact above fits it."""
    base = ConsentTemplate(
        program_id="housing_aid",
        purposes=frozenset({"eligibility"}),
        providers=Providers(frozenset({"tax", "civil_registry"})),
        attributes=refs("tax.annual_income", "civil_registry.household_size"),
        predicates=refs("tax.business_license"),
        max_validity=365 * DAY,
        fetch_type=FetchType.PERIODIC,
        max_frequency=Frequency(4, 30 * DAY),
        max_data_life=30 * DAY,
    )
    return dataclasses.replace(base, **changes)


def use_request(**changes: Any) -> UseRequest:
    """A use of consent c-1, by its consumer, reading what its scope allows."""
    base = UseRequest(
        subject=SUBJECT,
        organisation_id="relief_committee",
        program_id="housing_aid",
        purpose="eligibility",
        attributes=refs("tax.annual_income"),
        consent_id="c-1",
    )
    return dataclasses.replace(base, **changes)


def mandate(**changes: Any) -> Mandate:
    """A mandate covering ``subsidy`` checks for ``eligibility``."""
    base = Mandate(
        id="m-1",
        legal_reference="Targeted Subsidies Law, art. 7",
        issuing_authority="Parliament",
        programs=frozenset({"subsidy"}),
        purposes=frozenset({"eligibility"}),
        valid_from=NOW - 30 * DAY,
        valid_until=None,
        created_at=NOW - 30 * DAY,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="session")
def signer() -> ConsentSigner:
    """The gateway's consent key (fixed, so failures reproduce)."""
    return ConsentSigner(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "c1")


@pytest.fixture(scope="session")
def jwks(signer: ConsentSigner) -> dict[str, Any]:
    """The published JWK Set."""
    return jwk_set([signer.public_jwk()])


@pytest.fixture(scope="session")
def verifier(jwks: dict[str, Any]) -> JwksVerifier:
    """A verifier of the published keys."""
    return JwksVerifier(jwks)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL test database's URL, or a skip (a failure in CI)."""
    return postgres_url()


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.URL]:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path / "consent.sqlite"))
        return
    request.getfixturevalue("postgres_server")
    with fresh_schema("sakha_consent") as url:
        yield url


@pytest.fixture
def engine(empty_db: sa.URL) -> Iterator[sa.Engine]:
    """An engine on the migrated database."""
    upgrade(empty_db)
    engine = create_store_engine(empty_db)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: sa.Engine, verifier: JwksVerifier) -> ConsentStore:
    """A consent store on the migrated database."""
    return ConsentStore(engine, verifier)
