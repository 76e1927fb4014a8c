"""The audit log's store: append groups of entries, read them back, prove and checkpoint them.

Synchronous SQLAlchemy 2 over an engine from :func:`consent.database.create_store_engine`;
asyncio callers (the hub) run its methods with ``asyncio.to_thread``.

**One sequence, one writer.** Every append locks the log's head row (``SELECT … FOR UPDATE`` on
PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), reads the size and the O(log n) frontier of the
tree, and writes the group's entries, the tree nodes they complete and the new head in one
transaction: indexes are dense and unique, whichever hub appends, and a group is either wholly
in the log or not at all (group commit). Checkpoints are issued under the same lock, of the
head as it stands, so two checkpoints of one log can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.errors import AuditError
from audit.merkle import EMPTY_ROOT, leaf_hash
from audit.merkle_store import Frontier, NodeKey, consistency_proof, inclusion_proof, tree_root
from audit.migrations import AUDIT_MIGRATIONS
from audit.note import Signer
from audit.store.record import AuditRecord
from audit.store.tables import (
    audit_checkpoints,
    audit_entries,
    audit_entry_agencies,
    audit_entry_members,
    audit_log,
    audit_nodes,
)
from consent.database import EngineStore, create_store_engine, reading


class AuditStoreError(AuditError):
    """The log cannot do what was asked (an index beyond it, another log's database)."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as issued: its size, root and the signed note's text."""

    size: int
    root: bytes
    note: bytes
    issued_at: dt.datetime


@dataclass(frozen=True)
class EntryFilter:
    """What :meth:`AuditStore.query` selects; None matches anything."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    organisation_id: str | None = None
    program_id: str | None = None
    agency_id: str | None = None
    outcome: str | None = None
    subjects: tuple[str, ...] | None = None
    """Pseudonyms of one person under each audit key in use: the entries whose subject or
    household member they are."""


class Pager:
    """Walks a query page by page: each page starts after the last index of the one before.

    Args:
        limit: the most entries in all (None: no limit).
        page_size: the most entries in one page.
    """

    def __init__(self, limit: int | None, page_size: int) -> None:
        self.after = -1
        self._left = limit
        self._page_size = page_size

    @property
    def size(self) -> int:
        """How many entries to ask for next; 0 when the walk is over."""
        return self._page_size if self._left is None else min(self._page_size, self._left)

    def advance(self, page: Sequence[tuple[int, bytes]]) -> None:
        """Note the page just read; a short page ends the walk."""
        if len(page) < self.size:
            self._left = 0
            return
        self.after = page[-1][0]
        if self._left is not None:
            self._left -= len(page)


@dataclass(frozen=True)
class _Append:
    """What one append writes: the records, their leaf hashes, the first index, the tree
    nodes they complete and the new head (size, root)."""

    records: Sequence[AuditRecord]
    leaves: Sequence[bytes]
    first: int
    nodes: Mapping[NodeKey, bytes]
    head: tuple[int, bytes]


class _Nodes:
    """The tree's stored nodes, read through one connection (a :class:`NodeReader`)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        # One primary-key search per node. A row-value IN, ``(level, position) IN (VALUES
        # …)``, is a full scan on SQLite: every append then read the whole tree.
        level, position = audit_nodes.c.level, audit_nodes.c.position
        rows = self._connection.execute(
            sa.select(level, position, audit_nodes.c.hash).where(
                sa.or_(*(sa.and_(level == at, position == index) for at, index in keys))
            )
        )
        return {(row.level, row.position): bytes(row.hash) for row in rows}


class AuditStore(EngineStore):
    """One log (``origin``) in one database; a database holds exactly one log.

    Args:
        engine: from :func:`~consent.database.create_store_engine`, migrated to head.
        origin: the log's name, the first line of its checkpoints (e.g. ``sakha.example/audit``).
        check_schema: refuse (``SchemaError``) a database that is not at the head revision.
        create: start the log, empty, if the database holds none yet (the hub does; an
            auditor's export or verify opens with False and never writes).

    Raises:
        AuditStoreError: the database holds another log, or (``create`` False) none.
    """

    def __init__(
        self, engine: sa.Engine, *, origin: str, check_schema: bool = True, create: bool = True
    ) -> None:
        if check_schema:
            AUDIT_MIGRATIONS.require_schema(engine)
        super().__init__(engine)
        self.origin = origin
        if create:
            self._ensure_head()
        elif log_origin(engine) != origin:
            raise AuditStoreError(_not_this_log(log_origin(engine), origin))

    @classmethod
    def open(
        cls, url: str | sa.URL, *, origin: str | None = None, create: bool = False
    ) -> AuditStore:
        """A store on the (migrated) database at ``url``; ``origin`` None: the log it holds.

        Raises:
            AuditStoreError: the database holds another log, or none.
            SchemaError: the database is not migrated to this code's revision.
            ValueError: (``create`` False) no SQLite file at the URL's path.
        """
        engine = create_store_engine(url, existing=not create)
        try:
            AUDIT_MIGRATIONS.require_schema(engine)
            found = origin or log_origin(engine)
            if found is None:
                raise AuditStoreError(_not_this_log(None, origin))
            return cls(engine, origin=found, check_schema=False, create=create)
        except BaseException:
            engine.dispose()
            raise

    def _ensure_head(self) -> None:
        """Start the log, empty, unless it exists; refuse a database holding another log.

        Any number of hubs may race here: PostgreSQL serialises them on a table lock (SQLite
        on its write lock), so exactly one head row is ever created.
        """
        with self._write() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"))
            origins = connection.execute(sa.select(audit_log.c.origin)).scalars().all()
            if not origins:
                connection.execute(
                    sa.insert(audit_log).values(origin=self.origin, size=0, root=EMPTY_ROOT)
                )
            elif list(origins) != [self.origin]:
                raise AuditStoreError(_not_this_log(", ".join(origins), self.origin))

    def _locked_head(self, connection: sa.Connection) -> tuple[int, bytes]:
        """The log's size and root, locked for this transaction."""
        row = connection.execute(
            sa.select(audit_log.c.size, audit_log.c.root)
            .where(audit_log.c.origin == self.origin)
            .with_for_update()
        ).one()
        return int(row.size), bytes(row.root)

    def append(self, records: Sequence[AuditRecord]) -> int:
        """Append ``records`` as consecutive entries in one transaction; the first's index.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the log could not be written; nothing was.
        """
        if not records:
            raise AuditStoreError("an append needs at least one entry")
        leaves = [leaf_hash(r.data) for r in records]  # before the lock: nothing waits on it
        with self._write() as connection:
            size, _ = self._locked_head(connection)
            frontier = Frontier.load(_Nodes(connection), size)
            nodes = frontier.extend(leaves)
            rows = _Append(records, leaves, size, nodes, (frontier.size, frontier.root()))
            if connection.dialect.name == "postgresql":
                self._write_pipelined(connection, rows)
            else:
                self._write_rows(connection, rows)
        return size

    def _write_rows(self, connection: sa.Connection, rows: _Append) -> None:
        """The append's rows, statement by statement (SQLite: no round trips to save)."""
        connection.execute(
            sa.insert(audit_entries),
            [
                {
                    "idx": rows.first + offset,
                    "leaf_hash": leaf,
                    "data": record.data,
                    "at": record.at,
                    "organisation_id": record.organisation_id,
                    "program_id": record.program_id,
                    "outcome": record.outcome,
                    "subject": record.subject,
                }
                for offset, (record, leaf) in enumerate(zip(rows.records, rows.leaves, strict=True))
            ],
        )
        _insert_rows(connection, audit_entry_agencies, _agency_rows(rows.records, rows.first))
        _insert_rows(connection, audit_entry_members, _member_rows(rows.records, rows.first))
        _insert_rows(
            connection,
            audit_nodes,
            [(level, position, node) for (level, position), node in rows.nodes.items()],
        )
        connection.execute(
            sa.update(audit_log)
            .where(audit_log.c.origin == self.origin)
            .values(size=rows.head[0], root=rows.head[1])
        )

    def _write_pipelined(self, connection: sa.Connection, rows: _Append) -> None:
        """The append's rows on PostgreSQL: one statement per table, each taking its
        columns as arrays, all sent in one pipeline, so the head row's lock waits for one
        round trip here rather than one per statement (it is the log's one writer lock,
        which every replica queues on)."""
        agencies = _agency_rows(rows.records, rows.first)
        members = _member_rows(rows.records, rows.first)
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO audit_entries (idx, leaf_hash, data, at, organisation_id,"
                " program_id, outcome, subject) SELECT * FROM unnest(%s::bigint[],"
                " %s::bytea[], %s::bytea[], %s::timestamptz[], %s::text[], %s::text[],"
                " %s::text[], %s::text[])",
                (
                    list(range(rows.first, rows.first + len(rows.records))),
                    list(rows.leaves),
                    [r.data for r in rows.records],
                    [r.at.astimezone(dt.UTC) for r in rows.records],
                    [r.organisation_id for r in rows.records],
                    [r.program_id for r in rows.records],
                    [r.outcome for r in rows.records],
                    [r.subject for r in rows.records],
                ),
            ),
            (
                "INSERT INTO audit_entry_agencies (agency_id, idx)"
                " SELECT * FROM unnest(%s::text[], %s::bigint[])",
                ([a for a, _ in agencies], [i for _, i in agencies]),
            ),
            (
                "INSERT INTO audit_entry_members (pseudonym, idx)"
                " SELECT * FROM unnest(%s::text[], %s::bigint[])",
                ([m for m, _ in members], [i for _, i in members]),
            ),
            (
                "INSERT INTO audit_nodes (level, position, hash)"
                " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])",
                (
                    [level for level, _ in rows.nodes],
                    [position for _, position in rows.nodes],
                    list(rows.nodes.values()),
                ),
            ),
            (
                "UPDATE audit_log SET size = %s, root = %s WHERE origin = %s",
                (rows.head[0], rows.head[1], self.origin),
            ),
        ]
        driver = connection.connection.driver_connection
        try:
            with driver.pipeline(), driver.cursor() as cursor:  # type: ignore[union-attr]
                for statement, parameters in statements:
                    cursor.execute(statement, parameters)
        except connection.dialect.loaded_dbapi.Error as exc:
            # As SQLAlchemy would raise it: callers fail closed on SQLAlchemyError.
            raise sa.exc.DBAPIError("audit append", None, exc) from exc

    def head(self) -> tuple[int, bytes]:
        """The log's size and root as committed."""
        with self._read() as connection:
            row = connection.execute(
                sa.select(audit_log.c.size, audit_log.c.root).where(
                    audit_log.c.origin == self.origin
                )
            ).first()
        return (0, EMPTY_ROOT) if row is None else (int(row.size), bytes(row.root))

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, data)`` of the entries in ``[start, stop)``, in order, read in pages."""
        page = 1000
        while stop is None or start < stop:
            end = start + page if stop is None else min(start + page, stop)
            with self._read() as connection:
                rows = connection.execute(
                    sa.select(audit_entries.c.idx, audit_entries.c.data)
                    .where(audit_entries.c.idx >= start, audit_entries.c.idx < end)
                    .order_by(audit_entries.c.idx)
                ).all()
            yield from ((int(r.idx), bytes(r.data)) for r in rows)
            if len(rows) < end - start:
                return
            start = end

    def query(self, where: EntryFilter, *, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, data)`` of the entries ``where`` selects, oldest first, read in pages."""
        pager = Pager(limit, _QUERY_PAGE)
        while pager.size:
            page = self.query_page(where, after=pager.after, limit=pager.size)
            yield from page
            pager.advance(page)

    def query_page(
        self, where: EntryFilter, *, after: int = -1, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        """Up to ``limit`` entries ``where`` selects with an index above ``after``, in order.

        One read transaction; page on with the last index returned (the log only grows, so
        pages never skip or repeat an entry).
        """
        table = audit_entries
        conditions: list[sa.ColumnElement[bool]] = [table.c.idx > after]
        if where.since is not None:
            conditions.append(table.c.at >= where.since)
        if where.until is not None:
            conditions.append(table.c.at < where.until)
        for column, value in (
            (table.c.organisation_id, where.organisation_id),
            (table.c.program_id, where.program_id),
            (table.c.outcome, where.outcome),
        ):
            if value is not None:
                conditions.append(column == value)
        if where.subjects is not None:
            conditions.append(
                sa.or_(
                    table.c.subject.in_(where.subjects),
                    table.c.idx.in_(
                        sa.select(audit_entry_members.c.idx).where(
                            audit_entry_members.c.pseudonym.in_(where.subjects)
                        )
                    ),
                )
            )
        if where.agency_id is not None:
            conditions.append(
                table.c.idx.in_(
                    sa.select(audit_entry_agencies.c.idx).where(
                        audit_entry_agencies.c.agency_id == where.agency_id
                    )
                )
            )
        statement = (
            sa.select(table.c.idx, table.c.data)
            .where(*conditions)
            .order_by(table.c.idx)
            .limit(limit)
        )
        with self._read() as connection:
            rows = connection.execute(statement).all()
        return [(int(r.idx), bytes(r.data)) for r in rows]

    def root_at(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` entries."""
        with self._read() as connection:
            self._within(connection, size)
            return tree_root(_Nodes(connection), size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        with self._read() as connection:
            self._within(connection, size)
            return inclusion_proof(_Nodes(connection), index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof from the tree of ``size1`` entries to ``size2``."""
        with self._read() as connection:
            self._within(connection, size2)
            return consistency_proof(_Nodes(connection), size1, size2)

    def _within(self, connection: sa.Connection, size: int) -> None:
        row = connection.execute(
            sa.select(audit_log.c.size).where(audit_log.c.origin == self.origin)
        ).first()
        current = 0 if row is None else int(row.size)
        if not 0 <= size <= current:
            raise AuditStoreError(f"the log holds {current} entries, not {size}")

    def issue_checkpoint(
        self, signer: Signer, *, now: dt.datetime | None = None
    ) -> StoredCheckpoint | None:
        """Sign and store a checkpoint of the log as it stands; None when nothing is new.

        Issued under the append lock, so it is of a committed head and consistent with every
        checkpoint before it.
        """
        issued_at = now or dt.datetime.now(dt.UTC)
        with self._write() as connection:
            size, root = self._locked_head(connection)
            latest = connection.execute(
                sa.select(sa.func.max(audit_checkpoints.c.size))
            ).scalar_one_or_none()
            if size == 0 or (latest is not None and int(latest) >= size):
                return None
            note = sign_checkpoint(Checkpoint(self.origin, size, root), signer)
            connection.execute(
                sa.insert(audit_checkpoints).values(
                    size=size, root=root, note=note.decode("utf-8"), issued_at=issued_at
                )
            )
        return StoredCheckpoint(size, root, note, issued_at)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint issued, oldest first."""
        with self._read() as connection:
            rows = connection.execute(
                sa.select(audit_checkpoints).order_by(audit_checkpoints.c.size)
            ).all()
        return [_stored(row) for row in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint, or None before the first."""
        with self._read() as connection:
            row = connection.execute(
                sa.select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)
            ).first()
        return None if row is None else _stored(row)


_QUERY_PAGE = 1000
"""Entries one query page reads (a streamed query holds one page in memory at a time)."""

_ROWS_PER_INSERT = 500
"""Rows of one multi-row INSERT (within both backends' limits on bound parameters)."""


def _agency_rows(records: Sequence[AuditRecord], size: int) -> list[tuple[str, int]]:
    """``(agency_id, index)`` of every agency each record asked, once per record."""
    return [
        (agency, size + offset)
        for offset, record in enumerate(records)
        for agency in dict.fromkeys(record.agencies)
    ]


def _member_rows(records: Sequence[AuditRecord], size: int) -> list[tuple[str, int]]:
    """``(pseudonym, index)`` of every other household member each record read."""
    return [
        (member, size + offset)
        for offset, record in enumerate(records)
        for member in dict.fromkeys(record.members)
        if member != record.subject
    ]


def _insert_rows(connection: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in ``table``'s column order) as multi-row INSERTs (SQLite).

    For the small index and node rows (text, integers, bytes: no type conversion), many per
    entry: row by row, SQLAlchemy's parameter handling took more time than SQLite did. The
    entries themselves, with a datetime column, go through SQLAlchemy.
    """
    if not rows:
        return
    columns = ", ".join(column.name for column in table.columns)
    row_marks = "(" + ", ".join("?" for _ in table.columns) + ")"
    for first in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[first : first + _ROWS_PER_INSERT]
        values = ", ".join(row_marks for _ in chunk)
        statement = f"INSERT INTO {table.name} ({columns}) VALUES {values}"  # noqa: S608 - our names
        connection.exec_driver_sql(statement, tuple(v for row in chunk for v in row))


def log_origin(engine: sa.Engine) -> str | None:
    """The origin of the log the (migrated) database holds; None before its first hub."""
    with reading(engine) as connection:
        origins = connection.execute(sa.select(audit_log.c.origin)).scalars().all()
    if len(origins) > 1:
        raise AuditStoreError(f"the database holds several logs ({', '.join(origins)})")
    return origins[0] if origins else None


def _not_this_log(found: str | None, wanted: str | None) -> str:
    if found is None:
        return "the database holds no audit log yet (no hub has written to it)"
    return f"the database holds the log {found!r}, not {wanted!r}"


def _stored(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(int(row.size), bytes(row.root), row.note.encode("utf-8"), row.issued_at)
