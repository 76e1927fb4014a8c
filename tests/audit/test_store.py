"""The audit store on SQLite and PostgreSQL: appends, proofs, checkpoints, queries, tampering."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric import ed25519

from audit import (
    Signer,
    Verifier,
    check_consistent,
    leaf_hash,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from audit.merkle_store import MemoryNodes, tree_root
from audit.migrations import AUDIT_MIGRATIONS
from audit.store import AuditRecord, AuditStore, AuditStoreError, EntryFilter
from audit.store.tables import metadata
from consent.database import create_store_engine
from consent.errors import SchemaError
from consent.migrations import upgrade as upgrade_consent
from tests.consent import conftest as store_tests

empty_db = store_tests.empty_db
postgres_server = store_tests.postgres_server

ORIGIN = "sakha.test/audit"
AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def record(n: int, **changes: object) -> AuditRecord:
    """A record whose data is unique to ``n``."""
    fields: dict[str, object] = {
        "data": b'{"n":%d}' % n,
        "at": AT + dt.timedelta(seconds=n),
        "organisation_id": "relief" if n % 2 else "welfare_org",
        "program_id": "livelihood_basket",
        "outcome": "ELIGIBLE" if n % 3 else "NO_CONSENT",
        "subject": f"p{n % 5}",
        "agencies": () if n % 3 == 0 else ("civil_registry", "tax"),
        "members": ("p0", "p9") if n % 5 == 4 else (),
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def engine(empty_db: sa.URL) -> Iterator[sa.Engine]:
    """An engine on a database with both stores migrated, as the hub's is."""
    upgrade_consent(empty_db)
    AUDIT_MIGRATIONS.upgrade(empty_db)
    engine = create_store_engine(empty_db)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> AuditStore:
    """The audit store on the migrated database."""
    return AuditStore(engine, origin=ORIGIN)


@pytest.fixture
def signer() -> Signer:
    """The log's checkpoint key, named after its origin."""
    return Signer(ORIGIN, ed25519.Ed25519PrivateKey.generate())


def test_the_models_and_the_migrations_agree(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name in metadata.tables,
            },
        )
        assert compare_metadata(context, metadata) == []


_ROWS_0002: dict[str, list[tuple[object, ...]]] = {
    "audit_entry_agencies": [("civil_registry", 0), ("tax", 0)],
    "audit_entry_members": [("p9", 0)],
    "audit_nodes": [(0, 0, b"\x01" * 32)],
}


def test_migrating_from_0002_keeps_every_row_and_clusters_the_sqlite_tables(
    empty_db: sa.URL,
) -> None:
    upgrade_consent(empty_db)
    AUDIT_MIGRATIONS.upgrade(empty_db, "0002")
    engine = create_store_engine(empty_db)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO audit_entries (idx, leaf_hash, data, at, organisation_id, "
                    "program_id, outcome, subject) VALUES (0, :hash, :data, :at, 'relief', "
                    "'livelihood_basket', 'ELIGIBLE', 'p0')"
                ),
                {"hash": b"\x01" * 32, "data": b"{}", "at": AT},
            )
            for table, rows in _ROWS_0002.items():
                holes = ", ".join(f":c{i}" for i in range(len(rows[0])))
                connection.execute(
                    sa.text(f"INSERT INTO {table} VALUES ({holes})"),  # noqa: S608 - test names
                    [{f"c{i}": v for i, v in enumerate(row)} for row in rows],
                )
        AUDIT_MIGRATIONS.upgrade(engine)
        with engine.connect() as connection:
            for table, rows in _ROWS_0002.items():
                found = connection.execute(sa.text(f"SELECT * FROM {table}")).all()  # noqa: S608
                assert sorted(tuple(r) for r in found) == rows
                if engine.dialect.name == "sqlite":
                    with pytest.raises(sa.exc.OperationalError, match="rowid"):
                        connection.execute(sa.text(f"SELECT rowid FROM {table}"))  # noqa: S608
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
            c.execute(sa.text("DELETE FROM audit_entry_agencies"))
    finally:
        engine.dispose()


def test_an_unmigrated_database_is_refused_naming_the_command(empty_db: sa.URL) -> None:
    engine = create_store_engine(empty_db)
    try:
        with pytest.raises(SchemaError, match="sakha db upgrade --db-url"):
            AuditStore(engine, origin=ORIGIN)
    finally:
        engine.dispose()


def test_groups_get_consecutive_indexes_and_the_root_of_every_size(store: AuditStore) -> None:
    reference = MemoryNodes()
    first = store.append([record(n) for n in range(7)])
    second = store.append([record(n) for n in range(7, 20)])
    assert (first, second) == (0, 7)
    reference.append([leaf_hash(record(n).data) for n in range(20)])
    size, root = store.head()
    assert size == 20
    assert root == store.root_at(20) == tree_root(reference, 20)
    assert [store.root_at(s) for s in range(21)] == [tree_root(reference, s) for s in range(21)]
    assert [data for _, data in store.entries()] == [record(n).data for n in range(20)]
    assert [i for i, _ in store.entries(5, 9)] == [5, 6, 7, 8]


def test_reading_tree_nodes_searches_the_primary_key_not_the_whole_tree(
    store: AuditStore, engine: sa.Engine
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the query plan checked is SQLite's")
    store.append([record(n) for n in range(37)])
    reads: list[tuple[str, Any]] = []

    def seen(_c: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM audit_nodes" in statement:
            reads.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        store.append([record(37)])
        store.inclusion_proof(5, 38)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert reads
    with engine.connect() as connection:
        for statement, parameters in reads:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = " ".join(str(row[-1]) for row in plan)
            assert "SCAN audit_nodes" not in details, details


def test_proofs_from_stored_nodes_verify(store: AuditStore) -> None:
    store.append([record(n) for n in range(13)])
    store.append([record(n) for n in range(13, 38)])
    for size in (1, 2, 13, 31, 38):
        root = store.root_at(size)
        for index in range(size):
            proof = store.inclusion_proof(index, size)
            verify_inclusion(leaf_hash(record(index).data), index, size, proof, root)
    for size1, size2 in [(1, 38), (13, 38), (16, 32), (7, 13), (37, 38)]:
        proof = store.consistency_proof(size1, size2)
        verify_consistency(size1, size2, proof, store.root_at(size1), store.root_at(size2))
    with pytest.raises(AuditStoreError, match="holds 38 entries, not 39"):
        store.inclusion_proof(0, 39)


def test_checkpoints_are_signed_notes_of_the_committed_head(
    store: AuditStore, signer: Signer
) -> None:
    assert store.issue_checkpoint(signer) is None  # nothing to sign yet
    store.append([record(n) for n in range(5)])
    first = store.issue_checkpoint(signer)
    assert first is not None
    assert store.issue_checkpoint(signer) is None  # nothing new
    store.append([record(n) for n in range(5, 12)])
    second = store.issue_checkpoint(signer)
    assert second is not None
    verifier = Verifier.parse(signer.verifier().key_string)
    opened = [open_checkpoint(c.note, verifier, origin=ORIGIN) for c in (first, second)]
    assert [(c.size, c.root_hash) for c in opened] == [(5, store.root_at(5)), (12, store.head()[1])]
    check_consistent(opened[0], opened[1], proof=store.consistency_proof(5, 12))
    assert [c.size for c in store.checkpoints()] == [5, 12]
    latest = store.latest_checkpoint()
    assert latest is not None
    assert latest.note == second.note


def test_queries_filter_by_every_column(store: AuditStore) -> None:
    store.append([record(n) for n in range(30)])

    def found(where: EntryFilter) -> list[int]:
        return [index for index, _ in store.query(where)]

    assert found(EntryFilter()) == list(range(30))
    assert found(EntryFilter(organisation_id="relief")) == [n for n in range(30) if n % 2]
    assert found(EntryFilter(outcome="NO_CONSENT")) == [n for n in range(30) if n % 3 == 0]
    assert found(EntryFilter(agency_id="tax")) == [n for n in range(30) if n % 3]
    assert found(EntryFilter(subjects=("p1", "p2"))) == [n for n in range(30) if n % 5 in (1, 2)]
    assert found(EntryFilter(subjects=("p9",))) == [n for n in range(30) if n % 5 == 4]
    assert found(EntryFilter(subjects=("p0",))) == [n for n in range(30) if n % 5 in (0, 4)]
    since, until = AT + dt.timedelta(seconds=10), AT + dt.timedelta(seconds=13)
    assert found(EntryFilter(since=since, until=until)) == [10, 11, 12]
    assert found(EntryFilter(program_id="other")) == []
    assert [i for i, _ in store.query(EntryFilter(), limit=3)] == [0, 1, 2]


def test_queries_read_page_by_page_and_return_the_same(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append([record(n) for n in range(30)])
    where = EntryFilter(organisation_id="relief")
    whole = list(store.query(where))
    monkeypatch.setattr("audit.store.store._QUERY_PAGE", 4)
    assert list(store.query(where)) == whole
    assert list(store.query(where, limit=9)) == whole[:9]
    assert list(store.query(where, limit=8)) == whole[:8]
    assert [i for i, _ in store.query_page(where, after=whole[3][0], limit=2)] == [
        whole[4][0],
        whole[5][0],
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET data = x'00' WHERE idx = 1",
        "DELETE FROM audit_entries WHERE idx = 2",
        "UPDATE audit_nodes SET hash = x'00' WHERE level = 0",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_entry_agencies",
        "DELETE FROM audit_entry_members",
        "UPDATE audit_entry_members SET pseudonym = 'p1'",
    ],
    ids=[
        "rewrite-entry",
        "delete-entry",
        "rewrite-node",
        "delete-checkpoints",
        "drop-agencies",
        "drop-members",
        "rename-member",
    ],
)
def test_the_log_tables_refuse_updates_and_deletes(
    store: AuditStore, engine: sa.Engine, signer: Signer, statement: str
) -> None:
    store.append([record(n) for n in range(5)])
    store.issue_checkpoint(signer)
    if engine.dialect.name == "postgresql":
        statement = statement.replace("x'00'", "'\\x00'::bytea")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql(statement)
    assert len(list(store.entries())) == 5


def test_concurrent_appenders_make_one_dense_sequence(engine: sa.Engine, empty_db: sa.URL) -> None:
    stores = [AuditStore(create_store_engine(empty_db), origin=ORIGIN) for _ in range(4)]
    firsts: list[int] = []
    lock = threading.Lock()

    def appender(worker: int) -> None:
        for batch in range(5):
            base = 1000 * worker + 10 * batch
            first = stores[worker].append([record(base + k) for k in range(3)])
            with lock:
                firsts.append(first)

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = AuditStore(engine, origin=ORIGIN)
    size, root = store.head()
    assert size == 60
    assert sorted(firsts) == list(range(0, 60, 3))
    reference = MemoryNodes()
    reference.append([leaf_hash(data) for _, data in store.entries()])
    assert root == tree_root(reference, 60)
    for other in stores:
        other.close()


def test_a_database_holds_one_log(engine: sa.Engine, empty_db: sa.URL) -> None:
    with pytest.raises(AuditStoreError, match="holds no audit log yet"):
        AuditStore(engine, origin=ORIGIN, create=False)
    with pytest.raises(AuditStoreError, match="holds no audit log yet"):
        AuditStore.open(empty_db)
    store = AuditStore(engine, origin=ORIGIN)
    store.append([record(0)])
    with pytest.raises(AuditStoreError, match=f"holds the log '{ORIGIN}', not 'other/log'"):
        AuditStore(engine, origin="other/log")
    with pytest.raises(AuditStoreError, match="not 'other/log'"):
        AuditStore(engine, origin="other/log", create=False)
    found = AuditStore.open(empty_db)
    try:
        assert found.origin == ORIGIN
        assert found.head() == store.head()
    finally:
        found.close()


def test_racing_hubs_of_two_logs_start_only_one(engine: sa.Engine, empty_db: sa.URL) -> None:
    del engine  # the migrated database at empty_db
    engines = [create_store_engine(empty_db) for _ in range(6)]
    outcomes: list[str] = []

    def start(n: int) -> None:
        try:
            AuditStore(engines[n], origin=f"log-{n % 2}/audit")
            outcomes.append(f"log-{n % 2}")
        except AuditStoreError:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(n,)) for n in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    started = {o for o in outcomes if o != "refused"}
    assert len(started) == 1
    assert outcomes.count("refused") == 3


def test_a_failed_append_writes_nothing_and_raises_sqlalchemys_error(
    store: AuditStore, engine: sa.Engine
) -> None:
    store.append([record(n) for n in range(3)])
    before = store.head()
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE audit_entry_members")
    with pytest.raises(sa.exc.SQLAlchemyError):
        store.append([record(n) for n in range(3, 8)])  # record 4 has household members
    assert store.head() == before
    assert [i for i, _ in store.entries()] == [0, 1, 2]


def test_an_empty_append_is_refused(store: AuditStore) -> None:
    with pytest.raises(AuditStoreError):
        store.append([])
    assert store.head()[0] == 0
