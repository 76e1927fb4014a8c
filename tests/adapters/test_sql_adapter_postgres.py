"""The generic SQL adapter against PostgreSQL (127.0.0.1:5432, database ``test``, trust auth).

Each test gets a schema of its own, dropped afterwards. Skipped when the server is unreachable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.errors import SourceFailureError
from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    FetchQuery,
    Predicate,
    PredicateOperator,
    Sensitivity,
)
from adapters.sql import SqlAdapter, SqlColumn
from tests.postgres import postgres_url as reachable_postgres_url

pytestmark = pytest.mark.postgres

_ALL = frozenset(PredicateOperator)
_EQUALITY = frozenset({PredicateOperator.EQ, PredicateOperator.NE})


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """The URL of the test database, or a skip (a failure in CI)."""
    return reachable_postgres_url()


@pytest.fixture
def schema_url(postgres_url: str, tax_people: dict[str, dict[str, Any]]) -> Iterator[sa.URL]:
    """A fresh schema holding the tax population, dropped after the test; the URL to it."""
    name = f"sakha_adapters_{uuid.uuid4().hex[:12]}"
    url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        conn.exec_driver_sql(
            "CREATE TABLE taxpayers (national_id text PRIMARY KEY, annual_income bigint,"
            " business_license boolean NOT NULL, province text, birth_year integer NOT NULL,"
            " assets numeric(20, 0))"
        )
        conn.exec_driver_sql("CREATE TABLE household (national_id text, member text)")
        conn.execute(
            sa.text(
                "INSERT INTO taxpayers VALUES (:id, :income, :licence, :province, :born, :assets)"
            ),
            [
                {
                    "id": s,
                    "income": p["annual_income"],
                    "licence": p["business_license"],
                    "province": p["province"],
                    "born": p["birth_year"],
                    "assets": (p["annual_income"] or 0) * 10,
                }
                for s, p in tax_people.items()
            ],
        )
        conn.execute(
            sa.text("INSERT INTO household VALUES (:id, :member)"),
            [{"id": s, "member": m} for s, p in tax_people.items() for m in p["members"] or ()],
        )
    try:
        yield url
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        engine.dispose()


@pytest.fixture
async def pg_adapter(schema_url: sa.URL) -> AsyncIterator[SqlAdapter]:
    """The SQL adapter over the schema, closed after the test."""
    description = AgencyDescription(
        "tax",
        "Tax",
        "",
        (
            AttributeSpec(
                "annual_income",
                AttributeType.INT64,
                Sensitivity.FINANCIAL,
                "IRR",
                predicate_operators=_ALL,
            ),
            AttributeSpec(
                "business_license",
                AttributeType.BOOL,
                Sensitivity.FINANCIAL,
                predicate_operators=_EQUALITY,
            ),
            AttributeSpec(
                "province",
                AttributeType.STRING,
                Sensitivity.PERSONAL,
                predicate_operators=_EQUALITY,
            ),
            AttributeSpec(
                "age_years",
                AttributeType.INT64,
                Sensitivity.PERSONAL,
                "years",
                predicate_operators=_ALL,
            ),
            AttributeSpec("assets", AttributeType.INT64, Sensitivity.FINANCIAL, "IRR"),
            AttributeSpec("members", AttributeType.STRING_LIST, Sensitivity.PERSONAL),
        ),
    )
    adapter = SqlAdapter(
        description,
        url=schema_url,
        subjects_sql="SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects",
        queries={
            "income": "SELECT national_id AS subject, annual_income, business_license, province,"
            # a literal % must survive the driver's %-style parameters
            " assets FROM taxpayers WHERE national_id IN :subjects AND province LIKE '%'",
            "ages": "SELECT national_id AS subject,"
            " extract(year FROM CAST(:as_of AS date))::int - birth_year AS age"
            " FROM taxpayers WHERE national_id IN :subjects",
            "households": "SELECT national_id AS subject, member FROM household"
            " WHERE national_id IN :subjects",
        },
        columns={
            "annual_income": SqlColumn("income", "annual_income"),
            "business_license": SqlColumn("income", "business_license"),
            "province": SqlColumn("income", "province"),
            "assets": SqlColumn("income", "assets"),
            "age_years": SqlColumn("ages", "age"),
            "members": SqlColumn("households", "member"),
        },
    )
    yield adapter
    await adapter.close()


async def test_fetch_returns_every_type(
    pg_adapter: SqlAdapter, tax_people: dict[str, dict[str, Any]]
) -> None:
    subjects = ("0000000001", "0000000007", "9999999999", "0000000299", "0000000300")
    result = await pg_adapter.fetch(
        FetchQuery(
            subjects,
            ("annual_income", "business_license", "province", "age_years", "assets", "members"),
            as_of=dt.date(2025, 3, 1),
        )
    )
    assert result.found == [True, True, False, True, True]
    for name in ("annual_income", "business_license", "province", "members"):
        assert result.values[name] == [
            tax_people[s][name] if s in tax_people else None for s in subjects
        ]
    assert result.values["age_years"] == [
        2025 - tax_people[s]["birth_year"] if s in tax_people else None for s in subjects
    ]
    # numeric comes back as Decimal and is converted
    assert result.values["assets"] == [10_000, 0, None, 2_990_000, 3_000_000]


async def test_predicates_are_pushed_down_and_batched(pg_adapter: SqlAdapter) -> None:
    statements: list[str] = []

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(pg_adapter.engine, "before_cursor_execute", before)
    subjects = tuple(f"{i:010d}" for i in range(1000))
    result = await pg_adapter.fetch(
        FetchQuery(
            subjects,
            ("province",),
            predicates=(
                Predicate("annual_income", PredicateOperator.LT, 20_000),
                Predicate("business_license", PredicateOperator.EQ, True),
            ),
        )
    )
    sa.event.remove(pg_adapter.engine, "before_cursor_execute", before)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert "(q.annual_income < " in selects[1]
    assert result.predicates[0][:8] == [None, True, True, True, True, True, True, None]
    assert result.predicates[1][:4] == [True, False, False, True]


async def test_injection_in_subject_ids_finds_nothing(pg_adapter: SqlAdapter) -> None:
    result = await pg_adapter.fetch(FetchQuery(("1' OR '1'='1", "0000000002"), ("annual_income",)))
    assert result.found == [False, True]
    assert result.values["annual_income"] == [None, 2000]


async def test_sessions_are_read_only(pg_adapter: SqlAdapter) -> None:
    with (
        pg_adapter.engine.connect() as conn,
        pytest.raises(sa.exc.InternalError, match="read-only"),
    ):
        conn.exec_driver_sql("DELETE FROM taxpayers")


async def test_check_passes(pg_adapter: SqlAdapter) -> None:
    await pg_adapter.check()


async def test_a_failing_query_is_a_source_failure(postgres_url: str) -> None:
    adapter = SqlAdapter(
        AgencyDescription(
            "a", "A", "", (AttributeSpec("x", AttributeType.INT64, Sensitivity.PUBLIC),)
        ),
        url=postgres_url,
        subjects_sql="SELECT s AS subject FROM no_such_table WHERE s IN :subjects",
        queries={"q": "SELECT s AS subject, x FROM no_such_table WHERE s IN :subjects"},
        columns={"x": SqlColumn("q", "x")},
    )
    try:
        with pytest.raises(SourceFailureError, match="ProgrammingError"):
            await adapter.fetch(FetchQuery(("0000000001",), ("x",)))
    finally:
        await adapter.close()
