"""The generic SQL adapter: an agency's relational database, through any SQLAlchemy URL.

The agency writes named queries; each selects a ``subject`` column (the national ID) and
value columns for the subjects bound to ``:subjects``, optionally as of the date bound to
``:as_of`` (an ISO ``YYYY-MM-DD`` string). For one fetch, each named query needed runs once
per batch of subjects, never once per subject, and ``subjects_sql`` (which subjects the
agency knows at all) runs once.

Predicates are pushed down: ``annual_income < 1000`` runs as
``SELECT q.subject, (q.annual_income < :pred_0) AS pred_0 FROM (<named query>) AS q``, so the
value never leaves the database. Every operator is pushed down for ``int64``, equality only
for ``bool`` and ``string`` (database collations do not order strings as Python does, so the
SDK orders them). Nothing from a request reaches SQL text: column names are checked at
start-up against ``[a-z_][a-z0-9_]*``, operators come from a fixed table, and subjects,
``as_of`` and operands are always bound parameters.

Values: a ``bool`` column may hold 0/1 (SQLite), an ``int64`` column integral decimals
(PostgreSQL ``numeric``); anything else of the wrong kind is a :class:`SourceFailureError`, as
is a scalar query returning two rows for one subject. A ``string_list`` attribute has a query
of its own returning one row per (subject, element), a NULL element meaning an empty list;
elements are sorted.

SQLite files are opened read-only (``mode=ro`` and ``PRAGMA query_only``); PostgreSQL
sessions are read-only too. Blocking database work runs in a worker thread over the engine's
connection pool.
"""

from __future__ import annotations

import asyncio
import decimal
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from adapters.errors import AdapterConfigError, SourceFailureError
from adapters.sdk import (
    Adapter,
    AdapterLimits,
    AgencyDescription,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    PredicateOperator,
    Value,
)

COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
"""What a column name in the configuration must look like (so it is safe in SQL text)."""

MAX_BOUND_SUBJECTS = 10_000
"""Subjects bound in one statement; larger batches run the query once per chunk.

Well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters per statement.
"""

SQLITE_MMAP_BYTES = 256 * 1024 * 1024
"""How much of a SQLite file is read through a memory map."""

_SQL_OPERATORS: Mapping[PredicateOperator, str] = {
    PredicateOperator.LT: "<",
    PredicateOperator.LE: "<=",
    PredicateOperator.GT: ">",
    PredicateOperator.GE: ">=",
    PredicateOperator.EQ: "=",
    PredicateOperator.NE: "<>",
}

# Which operators the database evaluates. Ordering of strings is left to the SDK, since
# database collations do not order strings the way Python does.
_PUSHABLE: Mapping[AttributeType, frozenset[PredicateOperator]] = {
    AttributeType.INT64: frozenset(PredicateOperator),
    AttributeType.BOOL: frozenset({PredicateOperator.EQ, PredicateOperator.NE}),
    AttributeType.STRING: frozenset({PredicateOperator.EQ, PredicateOperator.NE}),
    AttributeType.STRING_LIST: frozenset(),
}

_ALLOWED_PARAMETERS = frozenset({"subjects", "as_of"})

# SQLite has no boolean type: 0 and 1 stand for false and true (True == 1, so bools match).
_BOOLS: Mapping[object, bool] = {0: False, 1: True}


@dataclass(frozen=True)
class SqlColumn:
    """Where one attribute's values come from: a column of a named query."""

    query: str
    column: str


@dataclass(frozen=True)
class _Selection:
    """What one execution of a named query must return for a fetch."""

    query: str
    attributes: tuple[str, ...]
    predicates: tuple[tuple[int, Predicate], ...]  # (position among pushed predicates, it)


class SqlAdapter(Adapter):
    """An agency served from a SQL database by named queries (see the module docstring)."""

    def __init__(
        self,
        description: AgencyDescription,
        *,
        url: str | sa.URL,
        subjects_sql: str,
        queries: Mapping[str, str],
        columns: Mapping[str, SqlColumn],
        limits: AdapterLimits | None = None,
    ) -> None:
        """Check the configuration and create the engine (no connection is made yet).

        Args:
            description: the agency and its attributes.
            url: a SQLAlchemy database URL.
            subjects_sql: selects ``subject`` for every subject in ``:subjects`` the agency
                knows.
            queries: named queries; each selects ``subject`` and value columns.
            columns: for every attribute of ``description``, its query and column.
            limits: overrides of the default :class:`AdapterLimits`.

        Raises:
            AdapterConfigError: a key names something that does not exist, a column name is
                unsafe, a query binds other parameters than ``:subjects`` and ``:as_of``, or
                a list attribute shares its query.
        """
        self._description = description
        if limits is not None:
            self.limits = limits
        self._types = {spec.name: spec.type for spec in description.attributes}
        self._subjects_sql = _checked_sql("subjects_sql", subjects_sql)
        self._queries = {
            name: _checked_sql(f"queries.{name}", sql) for name, sql in queries.items()
        }
        self._columns = _checked_columns(self._types, self._queries, columns)
        try:
            self._engine = _create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise AdapterConfigError(f"url: {exc}") from exc
        self._expanded = functools.lru_cache(maxsize=256)(self._expand)

    def describe(self) -> AgencyDescription:
        """Return the agency's description."""
        return self._description

    @property
    def engine(self) -> sa.Engine:
        """The database engine, for instrumentation (tracing, statement logs)."""
        return self._engine

    def _pushed_down(self, predicate: Predicate) -> bool:
        kind = self._types.get(predicate.attribute)
        return kind is not None and predicate.operator in _PUSHABLE[kind]

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        if not query.subjects:
            return FetchResult(
                found=[],
                values={name: [] for name in query.attributes},
                predicates=[[] for _ in pushed_down],
            )
        return await asyncio.to_thread(self._fetch_blocking, query, pushed_down)

    async def check(self) -> None:
        """Run every query once for no subjects, so a wrong table or column fails at start-up.

        Raises:
            AdapterConfigError: a query failed; the message names it.
        """
        await asyncio.to_thread(self._check_blocking)

    async def close(self) -> None:
        """Close the pooled connections."""
        await asyncio.to_thread(self._engine.dispose)

    def _check_blocking(self) -> None:
        probes = [("subjects_sql", self._subjects_sql)]
        for name in self._queries:
            attributes = tuple(a for a, c in self._columns.items() if c.query == name)
            probes.append((f"queries.{name}", self._statement(_Selection(name, attributes, ()))))
        with self._engine.connect() as conn:
            for key, sql in probes:
                try:
                    self._run(conn, sql, [], "2000-01-01")
                except sa.exc.SQLAlchemyError as exc:
                    # The driver's own words ("no such table: x"), not SQLAlchemy's wrapping
                    # of them with the whole rendered statement and a link.
                    said = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
                    raise AdapterConfigError(
                        f"{key}: the database refused the query: {said}"
                    ) from exc

    def _fetch_blocking(self, query: FetchQuery, pushed: Sequence[Predicate]) -> FetchResult:
        subjects = list(dict.fromkeys(query.subjects))
        as_of = query.as_of.isoformat()
        selections = self._plan(query.attributes, pushed)
        with self._engine.connect() as conn:
            known = {row[0] for row in self._run(conn, self._subjects_sql, subjects, as_of)}
            rows = {
                s.query: self._run(conn, self._statement(s), subjects, as_of, s.predicates)
                for s in selections
            }
        values: dict[str, list[Value | None]] = {}
        predicates: list[list[bool | None]] = [[] for _ in pushed]
        for selection in selections:
            self._columns_of(selection, rows[selection.query], query.subjects, values, predicates)
        return FetchResult(
            found=[s in known for s in query.subjects], values=values, predicates=predicates
        )

    def _plan(self, attributes: Iterable[str], pushed: Sequence[Predicate]) -> list[_Selection]:
        """Group the attributes and pushed predicates by the named query that answers them."""
        by_query: dict[str, tuple[list[str], list[tuple[int, Predicate]]]] = {}
        for name in attributes:
            by_query.setdefault(self._columns[name].query, ([], []))[0].append(name)
        for position, predicate in enumerate(pushed):
            query = self._columns[predicate.attribute].query
            by_query.setdefault(query, ([], []))[1].append((position, predicate))
        return [_Selection(q, tuple(a), tuple(p)) for q, (a, p) in by_query.items()]

    def _statement(self, selection: _Selection) -> str:
        quote_name = self._engine.dialect.identifier_preparer.quote
        outputs = ["q.subject"]
        outputs += [f"q.{quote_name(self._columns[a].column)}" for a in selection.attributes]
        outputs += [
            f"(q.{quote_name(self._columns[p.attribute].column)} "
            f"{_SQL_OPERATORS[p.operator]} :pred_{position}) AS pred_{position}"
            for position, p in selection.predicates
        ]
        inner = self._queries[selection.query]
        # Safe: names were checked at start-up, operators come from a table, values are bound.
        return f"SELECT {', '.join(outputs)} FROM (\n{inner}\n) AS q"  # noqa: S608

    def _run(
        self,
        conn: sa.Connection,
        sql: str,
        subjects: list[str],
        as_of: str,
        predicates: Iterable[tuple[int, Predicate]] = (),
    ) -> list[Sequence[Any]]:
        """Run ``sql`` for ``subjects``, in chunks of at most :data:`MAX_BOUND_SUBJECTS`."""
        params: dict[str, Any] = {f"pred_{i}": p.operand for i, p in predicates}
        params["as_of"] = as_of
        rows: list[Sequence[Any]] = []
        for start in range(0, max(len(subjects), 1), MAX_BOUND_SUBJECTS):
            chunk = subjects[start : start + MAX_BOUND_SUBJECTS]
            size = _bucket(len(chunk))
            chunk += chunk[-1:] * (size - len(chunk))  # repeats change nothing in an IN list
            statement = self._expanded(sql, size)
            rows += conn.exec_driver_sql(statement.sql, statement.parameters(chunk, params)).all()
        return rows

    def _expand(self, sql: str, count: int) -> _DriverStatement:
        """Render ``sql`` for ``count`` subjects in the driver's own parameter style.

        SQLAlchemy expands ``IN :subjects`` into one parameter per subject on every execution,
        which costs more than the query itself for a thousand subjects; expanding once per
        statement and size, and binding at the driver, does not.
        """
        statement = sa.text(sql).bindparams(
            # Typed, so an empty list renders as an empty set of strings, not of integers.
            sa.bindparam("subjects", expanding=True, type_=sa.String())
        )
        compiled = statement.compile(dialect=self._engine.dialect)
        markers = [f"\x00{i}" for i in range(count)]
        state = compiled.construct_expanded_state(
            {**dict.fromkeys(compiled.params), "subjects": markers}
        )
        marked = set(markers)
        names = {v: k for k, v in state.parameters.items() if isinstance(v, str) and v in marked}
        return _DriverStatement(
            sql=state.statement,
            subject_names=tuple(names[m] for m in markers),
            order=None if state.positiontup is None else tuple(state.positiontup),
        )

    def _columns_of(
        self,
        selection: _Selection,
        rows: list[Sequence[Any]],
        subjects: Sequence[str],
        values: dict[str, list[Value | None]],
        predicates: list[list[bool | None]],
    ) -> None:
        """Turn one query's rows into the columns it answers, row j for ``subjects[j]``."""
        agency = self._description.agency_id
        if selection.attributes and self._types[selection.attributes[0]] is (
            AttributeType.STRING_LIST
        ):
            lists = _group_lists(rows)
            values[selection.attributes[0]] = [lists.get(s) for s in subjects]
            return
        by_subject = {row[0]: row for row in rows}
        if len(by_subject) != len(rows):
            raise SourceFailureError(
                f"{agency}: query {selection.query!r} returned several rows for one subject"
            )
        matched = [by_subject.get(s) for s in subjects]
        for index, name in enumerate(selection.attributes, start=1):
            column = [None if r is None else r[index] for r in matched]
            values[name] = _typed(self._types[name], column, agency, name)
        first = 1 + len(selection.attributes)
        for index, (position, predicate) in enumerate(selection.predicates, start=first):
            column = [None if r is None else r[index] for r in matched]
            predicates[position] = _typed(AttributeType.BOOL, column, agency, predicate.attribute)


def _typed(kind: AttributeType, column: list[Any], agency: str, name: str) -> list[Any]:
    """Convert database values to the SDK's types where drivers differ (SQLite bools, Decimal)."""
    try:
        if kind is AttributeType.BOOL:
            return [v if v is None else _BOOLS[v] for v in column]
        if kind is AttributeType.INT64:
            return [v if v is None or type(v) is int else _integral(v) for v in column]
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceFailureError(f"{agency}: {name!r} holds a non-{kind.value} value") from exc
    return column


def _integral(value: object) -> int:
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    raise ValueError(value)


def _group_lists(rows: Iterable[Sequence[Any]]) -> dict[str, tuple[str, ...]]:
    """One row per (subject, element), a NULL element for an empty list, as sorted tuples."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        items = groups.setdefault(row[0], [])
        if row[1] is not None:
            items.append(row[1])
    return {subject: tuple(sorted(items)) for subject, items in groups.items()}


@dataclass(frozen=True)
class _DriverStatement:
    """A statement expanded for a number of subjects, in the driver's parameter style."""

    sql: str
    subject_names: tuple[str, ...]  # the parameters ``:subjects`` expanded to, in order
    order: tuple[str, ...] | None  # parameter names by position, for positional drivers

    def parameters(
        self, subjects: Sequence[str], others: Mapping[str, Any]
    ) -> dict[str, Any] | tuple[Any, ...]:
        values = dict(zip(self.subject_names, subjects, strict=True))
        values.update(others)
        return values if self.order is None else tuple(map(values.__getitem__, self.order))


def _bucket(count: int) -> int:
    """Round a subject count up to one of a few sizes per doubling, to bound the cache."""
    if count <= 8:
        return count
    step = 1 << (count.bit_length() - 3)
    return -(-count // step) * step


def _checked_sql(key: str, sql: str) -> str:
    text = sql.strip().rstrip(";").rstrip()
    names = set(sa.text(text).compile().params)
    if "subjects" not in names:
        raise AdapterConfigError(f"{key}: must filter by ':subjects' (WHERE ... IN :subjects)")
    unknown = names - _ALLOWED_PARAMETERS
    if unknown:
        raise AdapterConfigError(
            f"{key}: binds {sorted(unknown)}; only :subjects and :as_of are bound "
            r"(write a literal colon as '\:')"
        )
    return text


def _checked_columns(
    types: Mapping[str, AttributeType],
    queries: Mapping[str, str],
    columns: Mapping[str, SqlColumn],
) -> dict[str, SqlColumn]:
    for name in columns:
        if name not in types:
            raise AdapterConfigError(f"attributes.{name}: not an attribute of the agency")
    checked: dict[str, SqlColumn] = {}
    for name in types:
        column = columns.get(name)
        if column is None:
            raise AdapterConfigError(f"attributes.{name}: no query and column")
        if column.query not in queries:
            raise AdapterConfigError(f"attributes.{name}.query: no query named {column.query!r}")
        if not COLUMN_NAME.fullmatch(column.column):
            raise AdapterConfigError(
                f"attributes.{name}.column: {column.column!r} does not match {COLUMN_NAME.pattern}"
            )
        checked[name] = column
    for name, kind in types.items():
        sharing = [a for a, c in checked.items() if c.query == checked[name].query]
        if kind is AttributeType.STRING_LIST and len(sharing) > 1:
            raise AdapterConfigError(
                f"attributes.{name}.query: a string_list attribute needs a query of its own "
                f"(one row per element), but {checked[name].query!r} also serves {sharing}"
            )
    return checked


def _create_engine(url: str | sa.URL) -> sa.Engine:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(_read_only_sqlite(parsed))
        sa.event.listen(engine, "connect", _sqlite_connected)
        return engine
    engine = sa.create_engine(parsed)
    if backend == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return engine


def _read_only_sqlite(url: sa.URL) -> sa.URL:
    """Open a SQLite file as ``file:<path>?mode=ro`` so it is never written (nor created)."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    return url.set(
        database=f"file:{quote(database)}", query={**url.query, "mode": "ro", "uri": "true"}
    )


def _sqlite_connected(dbapi_connection: Any, connection_record: object) -> None:
    del connection_record
    dbapi_connection.execute("PRAGMA query_only = ON")
    # Reads through a memory map skip a system call per page: about a third faster for
    # scattered look-ups. It is address space shared through the OS page cache, not memory
    # held per connection. WAL readers never block the writer, and vice versa.
    dbapi_connection.execute(f"PRAGMA mmap_size = {SQLITE_MMAP_BYTES}")
