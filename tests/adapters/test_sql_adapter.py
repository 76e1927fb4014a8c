"""The generic SQL adapter against a real SQLite file."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters import sql
from adapters.errors import AdapterConfigError, SourceFailureError
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

People = dict[str, dict[str, Any]]
Log = list[tuple[str, list[str]]]

AS_OF = dt.date(2025, 3, 1)
UNKNOWN = "9999999999"


def _subjects(count: int) -> tuple[str, ...]:
    return tuple(f"{i:010d}" for i in range(count))


def _selects(log: Log) -> list[str]:
    return [statement for statement, _ in log if statement.lstrip().upper().startswith("SELECT")]


async def test_description_matches_the_yaml(
    tax_adapter: SqlAdapter, tax_description: AgencyDescription
) -> None:
    assert tax_adapter.describe() == tax_description


async def test_fetch_returns_every_type(tax_adapter: SqlAdapter, tax_people: People) -> None:
    subjects = ("0000000001", "0000000007", UNKNOWN, "0000000299", "0000000300")
    result = await tax_adapter.fetch(
        FetchQuery(
            subjects=subjects,
            attributes=("annual_income", "business_license", "province", "age_years", "members"),
            as_of=AS_OF,
        )
    )
    assert result.found == [True, True, False, True, True]
    for name in ("annual_income", "business_license", "province", "members"):
        expected = [tax_people[s][name] if s in tax_people else None for s in subjects]
        assert result.values[name] == expected, name
    assert result.values["age_years"] == [
        2025 - tax_people[s]["birth_year"] if s in tax_people else None for s in subjects
    ]


async def test_bools_are_bools_not_sqlite_integers(tax_adapter: SqlAdapter) -> None:
    result = await tax_adapter.fetch(
        FetchQuery(("0000000003", "0000000004"), ("business_license",))
    )
    assert [type(v) for v in result.values["business_license"]] == [bool, bool]
    assert result.values["business_license"] == [True, False]


async def test_lists_are_sorted_tuples(tax_adapter: SqlAdapter) -> None:
    result = await tax_adapter.fetch(FetchQuery(("0000000005",), ("members",)))
    assert result.values["members"] == [("0000000003", "0000000004", "0000000005")]


async def test_as_of_is_bound(tax_adapter: SqlAdapter, tax_people: People) -> None:
    query = FetchQuery(("0000000010",), ("age_years",), as_of=dt.date(2000, 1, 1))
    result = await tax_adapter.fetch(query)
    assert result.values["age_years"] == [2000 - tax_people["0000000010"]["birth_year"]]


async def test_one_select_per_named_query_per_fetch(
    tax_adapter: SqlAdapter, statement_log: Log
) -> None:
    query = FetchQuery(
        subjects=_subjects(1000),
        attributes=("annual_income", "business_license", "province", "age_years"),
        as_of=AS_OF,
    )
    await tax_adapter.fetch(query)
    selects = _selects(statement_log)
    # subjects_sql once, `income` once (three attributes), `ages` once
    assert len(selects) == 3
    assert sum("FROM taxpayers" in s and "annual_income" in s for s in selects) == 1


async def test_duplicate_subjects_are_bound_once_and_answered_each_time(
    tax_adapter: SqlAdapter, statement_log: Log
) -> None:
    result = await tax_adapter.fetch(FetchQuery(("0000000001", "0000000001"), ("annual_income",)))
    assert result.values["annual_income"] == [1000, 1000]
    assert all(s.count("?") == 1 for s in _selects(statement_log))


async def test_large_batches_are_chunked(
    tax_adapter: SqlAdapter, statement_log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "MAX_BOUND_SUBJECTS", 400)
    subjects = _subjects(1000)
    result = await tax_adapter.fetch(FetchQuery(subjects, ("annual_income",)))
    assert len(_selects(statement_log)) == 2 * 3  # two statements, three chunks each
    assert result.found == [True] * 1000
    assert result.values["annual_income"] == [None if i % 7 == 0 else i * 1000 for i in range(1000)]


async def test_predicates_are_pushed_into_sql(
    tax_adapter: SqlAdapter, statement_log: Log, tax_people: People
) -> None:
    subjects = _subjects(50)
    predicates = (
        Predicate("annual_income", PredicateOperator.LT, 20_000),
        Predicate("business_license", PredicateOperator.EQ, True),
        Predicate("province", PredicateOperator.NE, "qom"),
    )
    result = await tax_adapter.fetch(FetchQuery(subjects, predicates=predicates))
    income_selects = [(s, cols) for s, cols in statement_log if "FROM taxpayers" in s and "q." in s]
    assert len(income_selects) == 1
    statement, returned = income_selects[0]
    assert "(q.annual_income < " in statement
    assert "(q.business_license = " in statement
    assert "(q.province <> " in statement
    # only booleans leave the database: no value column is selected
    assert not {"annual_income", "business_license", "province"} & set(returned)
    people = [tax_people[s] for s in subjects]
    assert result.predicates == [
        [None if p["annual_income"] is None else p["annual_income"] < 20_000 for p in people],
        [p["business_license"] for p in people],
        [p["province"] != "qom" for p in people],
    ]
    assert all(type(v) is bool for column in result.predicates for v in column if v is not None)


async def test_predicates_and_values_of_one_query_run_once(
    tax_adapter: SqlAdapter, statement_log: Log
) -> None:
    query = FetchQuery(
        _subjects(10),
        attributes=("province",),
        predicates=(
            Predicate("annual_income", PredicateOperator.GE, 5000),
            Predicate("annual_income", PredicateOperator.LE, 8000),
        ),
    )
    result = await tax_adapter.fetch(query)
    assert len(_selects(statement_log)) == 2
    assert result.predicates[0][5:9] == [True, True, None, True]  # 7 has no income
    assert result.predicates[1][7:10] == [None, True, False]


async def test_ordering_of_strings_is_left_to_the_sdk(tax_db: Path) -> None:
    description = AgencyDescription(
        "tax",
        "Tax",
        "",
        (
            AttributeSpec(
                "province",
                AttributeType.STRING,
                Sensitivity.PERSONAL,
                predicate_operators=frozenset({PredicateOperator.LT, PredicateOperator.EQ}),
            ),
        ),
    )
    adapter = SqlAdapter(
        description,
        url=f"sqlite:///{tax_db}",
        subjects_sql="SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects",
        queries={
            "q": "SELECT national_id AS subject, province FROM taxpayers"
            " WHERE national_id IN :subjects"
        },
        columns={"province": SqlColumn("q", "province")},
    )
    try:
        assert not adapter._pushed_down(Predicate("province", PredicateOperator.LT, "r"))
        assert adapter._pushed_down(Predicate("province", PredicateOperator.EQ, "qom"))
        result = await adapter.fetch(
            FetchQuery(_subjects(3), predicates=(Predicate("province", PredicateOperator.LT, "r"),))
        )
        assert result.predicates == [[False, True, False]]  # tehran, qom, zanjan
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    "subject",
    [
        "1' OR '1'='1",
        "0000000001' OR '1'='1",
        "0000000001'); DROP TABLE taxpayers; --",
        '0000000001" OR "1"="1',
        "%",
        "*",
    ],
    ids=["or-true", "id-or-true", "drop-table", "double-quotes", "like-wildcard", "star"],
)
async def test_injection_in_subject_ids_finds_nothing(
    tax_adapter: SqlAdapter, tax_db: Path, subject: str
) -> None:
    query = FetchQuery(("0000000001", subject), ("annual_income",))
    result = await tax_adapter.fetch(query)
    assert result.found == [True, False]
    assert result.values["annual_income"] == [1000, None]
    with sqlite3.connect(tax_db) as db:
        assert db.execute("SELECT count(*) FROM taxpayers").fetchone() == (1200,)
    db.close()


async def test_injection_in_operands_is_bound(tax_adapter: SqlAdapter) -> None:
    predicate = Predicate("province", PredicateOperator.EQ, "qom' OR '1'='1")
    result = await tax_adapter.fetch(FetchQuery(_subjects(3), predicates=(predicate,)))
    assert result.predicates == [[False, False, False]]


async def test_two_rows_for_one_subject_is_a_source_failure(tax_db: Path) -> None:
    with sqlite3.connect(tax_db) as db:
        db.execute("DROP INDEX IF EXISTS household_id")
    db.close()
    description = AgencyDescription(
        "tax", "Tax", "", (AttributeSpec("member", AttributeType.STRING, Sensitivity.PERSONAL),)
    )
    adapter = SqlAdapter(
        description,
        url=f"sqlite:///{tax_db}",
        subjects_sql="SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects",
        queries={
            "h": "SELECT national_id AS subject, member FROM household"
            " WHERE national_id IN :subjects"
        },
        columns={"member": SqlColumn("h", "member")},
    )
    try:
        with pytest.raises(SourceFailureError, match="several rows"):
            await adapter.fetch(FetchQuery(("0000000001",), ("member",)))
    finally:
        await adapter.close()


async def test_database_is_opened_read_only(tax_adapter: SqlAdapter) -> None:
    with (
        tax_adapter.engine.connect() as conn,
        pytest.raises(sa.exc.OperationalError, match="readonly"),
    ):
        conn.exec_driver_sql("DELETE FROM taxpayers")


async def test_missing_database_file_fails_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "absent.sqlite"
    description = AgencyDescription(
        "tax", "Tax", "", (AttributeSpec("x", AttributeType.INT64, Sensitivity.PUBLIC),)
    )
    adapter = SqlAdapter(
        description,
        url=f"sqlite:///{missing}",
        subjects_sql="SELECT subject FROM t WHERE subject IN :subjects",
        queries={"q": "SELECT subject, x FROM t WHERE subject IN :subjects"},
        columns={"x": SqlColumn("q", "x")},
    )
    try:
        with pytest.raises(SourceFailureError):
            await adapter.fetch(FetchQuery(("0000000001",), ("x",)))
        assert not missing.exists()
    finally:
        await adapter.close()


async def test_check_reports_a_wrong_column_at_start_up(tax_db: Path) -> None:
    description = AgencyDescription(
        "tax", "Tax", "", (AttributeSpec("x", AttributeType.INT64, Sensitivity.PUBLIC),)
    )
    adapter = SqlAdapter(
        description,
        url=f"sqlite:///{tax_db}",
        subjects_sql="SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects",
        queries={
            "q": "SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects"
        },
        columns={"x": SqlColumn("q", "no_such_column")},
    )
    try:
        with pytest.raises(AdapterConfigError) as raised:
            await adapter.check()
    finally:
        await adapter.close()
    # The key and the driver's own words, without the statement SQLAlchemy would render.
    assert str(raised.value) == (
        "queries.q: the database refused the query: no such column: q.no_such_column"
    )


async def test_check_passes_on_a_good_configuration(tax_adapter: SqlAdapter) -> None:
    await tax_adapter.check()


_GOOD_SQL = "SELECT id AS subject, v FROM t WHERE id IN :subjects"


@pytest.mark.parametrize(
    ("queries", "columns", "message"),
    [
        ({"q": _GOOD_SQL}, {"v": SqlColumn("q", "v; DROP TABLE t")}, r"attributes\.v\.column"),
        ({"q": _GOOD_SQL}, {"v": SqlColumn("q", "V")}, r"attributes\.v\.column"),
        ({"q": _GOOD_SQL}, {"v": SqlColumn("q", 'v" FROM x --')}, r"attributes\.v\.column"),
        ({"q": _GOOD_SQL}, {"v": SqlColumn("other", "v")}, r"attributes\.v\.query"),
        ({"q": _GOOD_SQL}, {}, r"attributes\.v: no query"),
        ({"q": _GOOD_SQL}, {"v": SqlColumn("q", "v"), "w": SqlColumn("q", "w")}, r"attributes\.w"),
        ({"q": "SELECT id AS subject, v FROM t"}, {"v": SqlColumn("q", "v")}, r"queries\.q"),
        (
            {"q": _GOOD_SQL + " AND v > :limit"},
            {"v": SqlColumn("q", "v")},
            r"queries\.q: binds \['limit'\]",
        ),
    ],
    ids=[
        "injection-in-column",
        "upper-case-column",
        "quote-in-column",
        "unknown-query",
        "attribute-without-column",
        "column-for-unknown-attribute",
        "query-without-subjects",
        "extra-parameter",
    ],
)
def test_bad_configuration_is_refused(
    queries: dict[str, str], columns: dict[str, SqlColumn], message: str
) -> None:
    description = AgencyDescription(
        "a", "A", "", (AttributeSpec("v", AttributeType.INT64, Sensitivity.PUBLIC),)
    )
    with pytest.raises(AdapterConfigError, match=message):
        SqlAdapter(
            description,
            url="sqlite://",
            subjects_sql="SELECT id AS subject FROM t WHERE id IN :subjects",
            queries=queries,
            columns=columns,
        )


def test_a_list_attribute_needs_its_own_query() -> None:
    description = AgencyDescription(
        "a",
        "A",
        "",
        (
            AttributeSpec("v", AttributeType.INT64, Sensitivity.PUBLIC),
            AttributeSpec("l", AttributeType.STRING_LIST, Sensitivity.PUBLIC),
        ),
    )
    with pytest.raises(AdapterConfigError, match="a query of its own"):
        SqlAdapter(
            description,
            url="sqlite://",
            subjects_sql="SELECT id AS subject FROM t WHERE id IN :subjects",
            queries={"q": _GOOD_SQL},
            columns={"v": SqlColumn("q", "v"), "l": SqlColumn("q", "v")},
        )


@pytest.mark.parametrize("operator", list(PredicateOperator), ids=lambda op: op.value)
@pytest.mark.parametrize("operand", [-(2**63), 0, 7000, 500_000, 2**63 - 1])
async def test_pushed_down_predicates_agree_with_python(
    tax_adapter: SqlAdapter, operator: PredicateOperator, operand: int
) -> None:
    subjects = (*_subjects(30), UNKNOWN)
    predicate = Predicate("annual_income", operator, operand)
    assert tax_adapter._pushed_down(predicate)
    result = await tax_adapter.fetch(
        FetchQuery(subjects, ("annual_income",), predicates=(predicate,))
    )
    assert result.predicates[0] == [
        None if v is None else operator.apply(v, operand) for v in result.values["annual_income"]
    ]


def _one_attribute_adapter(db: Path, kind: AttributeType, select: str) -> SqlAdapter:
    description = AgencyDescription(
        "tax", "Tax", "", (AttributeSpec("x", kind, Sensitivity.PUBLIC),)
    )
    return SqlAdapter(
        description,
        url=f"sqlite:///{db}",
        subjects_sql="SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects",
        queries={"q": select},
        columns={"x": SqlColumn("q", "x")},
    )


async def test_a_null_element_means_an_empty_list(tax_db: Path) -> None:
    adapter = _one_attribute_adapter(
        tax_db,
        AttributeType.STRING_LIST,
        "SELECT t.national_id AS subject, h.member AS x FROM taxpayers AS t"
        " LEFT JOIN household AS h ON h.national_id = t.national_id"
        " WHERE t.national_id IN :subjects",
    )
    try:
        result = await adapter.fetch(FetchQuery(("0000000001", "0000000500", UNKNOWN), ("x",)))
        assert result.values["x"] == [("0000000000", "0000000001", "0000000002"), (), None]
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    ("kind", "expression"),
    [
        (AttributeType.BOOL, "2"),
        (AttributeType.BOOL, "'yes'"),
        (AttributeType.INT64, "1.5"),
        (AttributeType.INT64, "'12'"),
        (AttributeType.STRING, "12"),
    ],
    ids=["two-for-bool", "text-for-bool", "real-for-int", "text-for-int", "int-for-string"],
)
async def test_values_of_the_wrong_kind_are_a_source_failure(
    tax_db: Path, kind: AttributeType, expression: str
) -> None:
    adapter = _one_attribute_adapter(
        tax_db,
        kind,
        f"SELECT national_id AS subject, {expression} AS x FROM taxpayers"  # noqa: S608
        " WHERE national_id IN :subjects",
    )
    try:
        with pytest.raises(SourceFailureError, match="non-"):
            await adapter.fetch(FetchQuery(("0000000001",), ("x",)))
    finally:
        await adapter.close()


async def test_subject_counts_between_cached_sizes(tax_adapter: SqlAdapter) -> None:
    for count in (1, 8, 9, 17, 100, 129):
        result = await tax_adapter.fetch(FetchQuery(_subjects(count), ("province",)))
        assert result.found == [True] * count
        assert result.values["province"] == [
            ("tehran", "qom", "zanjan")[i % 3] for i in range(count)
        ]
