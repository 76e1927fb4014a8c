"""Fixtures for the adapter tests: a sample tax agency, its SQLite database, real servers.

The tax agency's population (see ``tax_people``): subject ``i`` (0 <= i < 1200, national ID
``f"{i:010d}"``) has income ``i * 1000`` (none when ``i % 7 == 0``), a business licence when
``i % 3 == 0``, a province cycling through tehran, qom and zanjan, and was born in
``1950 + i % 50``. Subjects below 300 live in households of three (``members``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from adapters.client import ConnectorClient
from adapters.config import load_adapter_config
from adapters.sdk import (
    Adapter,
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    PredicateOperator,
    Sensitivity,
)
from adapters.server import create_adapter_server
from adapters.sql import SqlAdapter

POPULATION = 1200
PROVINCES = ("tehran", "qom", "zanjan")
ALL_OPERATORS = frozenset(PredicateOperator)
EQUALITY = frozenset({PredicateOperator.EQ, PredicateOperator.NE})

TAX_YAML = """\
agency_id: tax
name: Iranian National Tax Administration
name_fa: سازمان امور مالیاتی کشور
url: "sqlite:///{data_dir}/tax.sqlite"
subjects_sql: "SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects"
queries:
  income: >-
    SELECT national_id AS subject, annual_income, business_license, province
    FROM taxpayers WHERE national_id IN :subjects
  ages: >-
    SELECT national_id AS subject,
    CAST(strftime('%Y', :as_of) AS INTEGER) - CAST(strftime('%Y', birth_date) AS INTEGER)
    AS age FROM taxpayers WHERE national_id IN :subjects
  households: "SELECT national_id AS subject, member FROM household WHERE national_id IN :subjects;"
attributes:
  annual_income:
    query: income
    type: int64
    unit: IRR
    sensitivity: financial
    description: Declared annual income
    predicates: [lt, le, gt, ge, eq, ne]
  business_license:
    query: income
    type: bool
    sensitivity: financial
    predicates: [eq, ne]
  province:
    query: income
    type: string
    sensitivity: personal
    predicates: [eq, ne]
  age_years:
    query: ages
    column: age
    type: int64
    unit: years
    sensitivity: personal
    predicates: [lt, le, gt, ge, eq, ne]
  members:
    query: households
    column: member
    type: string_list
    sensitivity: personal
"""


@pytest.fixture
def tax_people() -> dict[str, dict[str, Any]]:
    """What the tax agency holds, by national ID (None: no value)."""
    people: dict[str, dict[str, Any]] = {}
    for i in range(POPULATION):
        household = range(i - i % 3, i - i % 3 + 3)
        people[f"{i:010d}"] = {
            "annual_income": None if i % 7 == 0 else i * 1000,
            "business_license": i % 3 == 0,
            "province": PROVINCES[i % 3],
            "birth_year": 1950 + i % 50,
            "members": tuple(f"{j:010d}" for j in household) if i < 300 else None,
        }
    return people


@pytest.fixture
def tax_description() -> AgencyDescription:
    """The sample tax agency, serving one attribute of every type."""
    return AgencyDescription(
        agency_id="tax",
        name="Iranian National Tax Administration",
        name_fa="سازمان امور مالیاتی کشور",
        attributes=(
            AttributeSpec(
                "annual_income",
                AttributeType.INT64,
                Sensitivity.FINANCIAL,
                unit="IRR",
                description="Declared annual income",
                predicate_operators=ALL_OPERATORS,
            ),
            AttributeSpec(
                "business_license",
                AttributeType.BOOL,
                Sensitivity.FINANCIAL,
                predicate_operators=EQUALITY,
            ),
            AttributeSpec(
                "province", AttributeType.STRING, Sensitivity.PERSONAL, predicate_operators=EQUALITY
            ),
            AttributeSpec(
                "age_years",
                AttributeType.INT64,
                Sensitivity.PERSONAL,
                unit="years",
                predicate_operators=ALL_OPERATORS,
            ),
            AttributeSpec("members", AttributeType.STRING_LIST, Sensitivity.PERSONAL),
        ),
    )


@pytest.fixture
def tax_db(tmp_path: Path, tax_people: dict[str, dict[str, Any]]) -> Path:
    """A SQLite file (WAL mode) holding ``tax_people``."""
    path = tmp_path / "data" / "tax.sqlite"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    with db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(
            "CREATE TABLE taxpayers (national_id TEXT PRIMARY KEY, annual_income INTEGER,"
            " business_license INTEGER NOT NULL, province TEXT, birth_date TEXT NOT NULL)"
        )
        db.execute("CREATE TABLE household (national_id TEXT NOT NULL, member TEXT NOT NULL)")
        db.execute("CREATE INDEX household_id ON household (national_id)")
        db.executemany(
            "INSERT INTO taxpayers VALUES (?, ?, ?, ?, ?)",
            [
                (
                    subject,
                    p["annual_income"],
                    int(p["business_license"]),
                    p["province"],
                    f"{p['birth_year']}-06-01",
                )
                for subject, p in tax_people.items()
            ],
        )
        db.executemany(
            "INSERT INTO household VALUES (?, ?)",
            [(s, m) for s, p in tax_people.items() for m in p["members"] or ()],
        )
    db.close()
    return path


@pytest.fixture
def tax_yaml(tmp_path: Path) -> Path:
    """The tax agency's configuration file (``{data_dir}`` is the database's folder)."""
    path = tmp_path / "tax.yaml"
    path.write_text(TAX_YAML, encoding="utf-8")
    return path


@pytest.fixture
async def tax_adapter(tax_yaml: Path, tax_db: Path) -> AsyncIterator[SqlAdapter]:
    """The SQL adapter over the sample database, loaded from ``tax_yaml``; closed afterwards."""
    adapter = load_adapter_config(tax_yaml, variables={"data_dir": str(tax_db.parent)})
    assert isinstance(adapter, SqlAdapter)
    yield adapter
    await adapter.close()


@pytest.fixture
def statement_log(tax_adapter: SqlAdapter) -> Iterator[list[tuple[str, list[str]]]]:
    """(statement, names of the columns it returned) for each statement the tax adapter runs."""
    log: list[tuple[str, list[str]]] = []

    def after(conn: object, cursor: Any, statement: str, *args: object) -> None:
        log.append((statement, [column[0] for column in cursor.description or ()]))

    sa.event.listen(tax_adapter.engine, "after_cursor_execute", after)
    yield log
    sa.event.remove(tax_adapter.engine, "after_cursor_execute", after)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Adapter], Awaitable[tuple[ConnectorClient, str]]]]:
    """Start real adapter servers on 127.0.0.1 port 0; every one is stopped afterwards."""
    servers: list[grpc.aio.Server] = []
    clients: list[ConnectorClient] = []

    async def start(adapter: Adapter) -> tuple[ConnectorClient, str]:
        server, port = await create_adapter_server(adapter, "127.0.0.1", 0)
        servers.append(server)
        target = f"127.0.0.1:{port}"
        client = ConnectorClient(target)
        clients.append(client)
        return client, target

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop(None)
