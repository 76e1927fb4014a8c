"""Tampering with a real audit log, through raw SQL or by editing a bundle, is caught and named.

Each case is what an attacker with write access to the database (or to an exported bundle)
could do, and asserts the kind of tampering and the first index the verifier reports. The
append-only triggers are dropped first, as such an attacker would.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import Checkpoint, Frontier, Signer, canonical_bytes, leaf_hash, sign_checkpoint
from audit.bundle import BundleSource, export_bundle
from audit.merkle_store import MemoryNodes, NodeKey, tree_root
from audit.migrations import AUDIT_MIGRATIONS
from audit.note import sign_note
from audit.store import AuditRecord, AuditStore
from audit.store.tables import APPEND_ONLY
from audit.verify import (
    Caveat,
    Finding,
    Head,
    SourceEntry,
    SourceNote,
    StoreSource,
    Tamper,
    VerifyReport,
    verify_log,
)
from consent.database import create_store_engine, sqlite_url
from consent.migrations import upgrade as upgrade_consent
from tests.audit.test_entry import decided
from tests.consent import conftest as store_tests

empty_db = store_tests.empty_db
postgres_server = store_tests.postgres_server

ORIGIN = "sakha.test/audit"
SIGNER = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
VERIFIER = SIGNER.verifier()
OTHER = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
SIZE = 200
EVERY = 50
AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def entry_bytes(n: int, *, variant: str = "") -> bytes:
    """The canonical bytes of a real lookup entry unique to ``n`` (and ``variant``)."""
    entry = decided(request_id=f"req-{variant}{n}", time=AT + dt.timedelta(seconds=n))
    return canonical_bytes(entry)


def record(n: int, *, variant: str = "") -> AuditRecord:
    """The record the hub would append for lookup ``n``."""
    return AuditRecord(
        data=entry_bytes(n, variant=variant),
        at=AT + dt.timedelta(seconds=n),
        organisation_id="welfare_org",
        program_id="livelihood_basket",
        outcome="UNDETERMINED",
        subject=f"p{n % 7}",
        agencies=("civil_registry", "tax"),
    )


def grow(store: AuditStore, stop: int, *, variant: str = "") -> None:
    """Append entries up to ``stop`` in groups of 10, checkpointing every :data:`EVERY`."""
    size, _ = store.head()
    for first in range(size, stop, 10):
        store.append([record(n, variant=variant) for n in range(first, min(first + 10, stop))])
        if (first + 10) % EVERY == 0:
            store.issue_checkpoint(SIGNER)


def migrated(url: sa.URL) -> sa.Engine:
    """An engine on ``url`` with both stores migrated, as the hub's is."""
    upgrade_consent(url)
    AUDIT_MIGRATIONS.upgrade(url)
    return create_store_engine(url)


@pytest.fixture
def engine(empty_db: sa.URL) -> Iterator[sa.Engine]:
    """A migrated database holding a log of :data:`SIZE` entries, checkpointed every 50."""
    engine = migrated(empty_db)
    grow(AuditStore(engine, origin=ORIGIN), SIZE)
    yield engine
    engine.dispose()


def verify(engine: sa.Engine, **options: object) -> VerifyReport:
    """Verify the database's log with the log's key, as ``sakha audit verify --db`` would."""
    arguments: dict[str, object] = {"origin": ORIGIN} | options
    verifier = arguments.pop("verifier", VERIFIER)
    return verify_log(StoreSource(engine, origin=ORIGIN), verifier, **arguments)  # type: ignore[arg-type]


def note_at(engine: sa.Engine, size: int) -> bytes:
    """The stored signed note of the checkpoint of ``size``."""
    checkpoints = AuditStore(engine, origin=ORIGIN).checkpoints()
    return next(c.note for c in checkpoints if c.size == size)


def attack(engine: sa.Engine, *statements: tuple[str, Mapping[str, object]]) -> None:
    """Run raw SQL as an attacker would: append-only triggers off first."""
    with engine.begin() as connection:
        for table in APPEND_ONLY:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            else:
                for action in ("update", "delete"):
                    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        for sql, parameters in statements:
            connection.execute(sa.text(sql), dict(parameters))


def set_data(index: int, data: bytes) -> tuple[str, Mapping[str, object]]:
    return "UPDATE audit_entries SET data = :data WHERE idx = :idx", {"data": data, "idx": index}


def set_leaf(index: int, leaf: bytes) -> tuple[str, Mapping[str, object]]:
    return "UPDATE audit_entries SET leaf_hash = :h WHERE idx = :idx", {"h": leaf, "idx": index}


def rebuild_tree(datas: Sequence[bytes]) -> list[tuple[str, Mapping[str, object]]]:
    """Statements replacing every leaf hash, node and the head by those of ``datas``."""
    frontier = Frontier()
    nodes = frontier.extend(leaf_hash(d) for d in datas)
    statements: list[tuple[str, Mapping[str, object]]] = [("DELETE FROM audit_nodes", {})]
    statements += [
        (
            "INSERT INTO audit_nodes (level, position, hash) VALUES (:l, :p, :h)",
            {"l": level, "p": position, "h": value},
        )
        for (level, position), value in nodes.items()
    ]
    statements += [set_leaf(i, leaf_hash(d)) for i, d in enumerate(datas)]
    statements.append(
        ("UPDATE audit_log SET size = :s, root = :r", {"s": len(datas), "r": frontier.root()})
    )
    return statements


def truncate(size: int) -> list[tuple[str, Mapping[str, object]]]:
    """Statements cutting the log back to ``size`` entries, tidily: nodes, head, checkpoints."""
    reference = MemoryNodes()
    reference.append(leaf_hash(entry_bytes(n)) for n in range(size))
    return [
        ("DELETE FROM audit_entry_agencies WHERE idx >= :s", {"s": size}),
        ("DELETE FROM audit_entries WHERE idx >= :s", {"s": size}),
        ("DELETE FROM audit_checkpoints WHERE size > :s", {"s": size}),
        ("DELETE FROM audit_nodes WHERE (position + 1) * power(2, level) > :s", {"s": size}),
        (
            "UPDATE audit_log SET size = :s, root = :r",
            {"s": size, "r": tree_root(reference, size)},
        ),
    ]


def kinds(report: VerifyReport) -> set[Tamper]:
    return {f.kind for f in report.findings}


def first(report: VerifyReport) -> Finding:
    finding = report.first
    assert finding is not None, report.describe()
    return finding


# --- the clean log --------------------------------------------------------------------------


def test_the_untouched_log_verifies_but_says_truncation_is_undetectable(
    engine: sa.Engine,
) -> None:
    report = verify(engine)
    assert report.ok, report.describe()
    assert report.checkpoints == SIZE // EVERY
    assert report.caveats == (Caveat.TRUNCATION_UNDETECTABLE,)
    assert verify(engine, trusted=note_at(engine, 100)).caveats == ()


# --- entries --------------------------------------------------------------------------------


def test_a_modified_entry_is_named_by_its_stored_leaf(engine: sa.Engine) -> None:
    attack(engine, set_data(77, entry_bytes(77, variant="forged-")))
    report = verify(engine)
    assert first(report).kind is Tamper.ENTRY_MODIFIED
    assert report.first_bad_index == 77
    assert {Tamper.CHECKPOINT_ROOT_MISMATCH, Tamper.HEAD_MISMATCH} <= kinds(report)


def test_a_modified_entry_with_every_hash_recomputed_fails_at_the_signed_root(
    engine: sa.Engine,
) -> None:
    datas = [entry_bytes(n) for n in range(SIZE)]
    datas[77] = entry_bytes(77, variant="forged-")
    attack(engine, set_data(77, datas[77]), *rebuild_tree(datas))
    report = verify(engine)
    finding = first(report)
    assert finding.kind is Tamper.CHECKPOINT_ROOT_MISMATCH
    assert (finding.index, finding.stop) == (50, 100)  # the last good root, the first bad one
    assert finding.where == "checkpoint 100"
    assert kinds(report) == {Tamper.CHECKPOINT_ROOT_MISMATCH}
    assert report.latest is not None
    assert report.latest.size == 50


def test_rewriting_the_signed_roots_too_breaks_their_signatures(engine: sa.Engine) -> None:
    datas = [entry_bytes(n) for n in range(SIZE)]
    datas[77] = entry_bytes(77, variant="forged-")
    reference = MemoryNodes()
    reference.append(leaf_hash(d) for d in datas)
    rewrites = []
    for size in (100, 150, 200):
        old, new = note_at(engine, size), tree_root(reference, size)
        good = base64.b64encode(Checkpoint.parse(old.decode().split("\n\n")[0] + "\n").root_hash)
        note = old.replace(good, base64.b64encode(new))
        rewrites.append(
            (
                "UPDATE audit_checkpoints SET note = :n WHERE size = :s",
                {"n": note.decode(), "s": size},
            )
        )
    attack(engine, set_data(77, datas[77]), *rebuild_tree(datas), *rewrites)
    report = verify(engine)
    bad = [f for f in report.findings if f.kind is Tamper.CHECKPOINT_SIGNATURE_INVALID]
    assert [f.where for f in bad] == ["checkpoint 100", "checkpoint 150", "checkpoint 200"]
    assert not report.ok
    assert Caveat.UNSIGNED_TAIL in report.caveats  # only checkpoint 50 still holds


def test_a_deleted_middle_entry_is_a_gap(engine: sa.Engine) -> None:
    attack(
        engine,
        ("DELETE FROM audit_entry_agencies WHERE idx = 120", {}),
        ("DELETE FROM audit_entries WHERE idx = 120", {}),
    )
    finding = first(verify(engine))
    assert finding.kind is Tamper.ENTRY_MISSING
    assert (finding.index, finding.stop) == (120, 121)


def test_two_swapped_entries_are_named_as_reordered(engine: sa.Engine) -> None:
    attack(engine, set_data(30, entry_bytes(31)), set_data(31, entry_bytes(30)))
    finding = first(verify(engine))
    assert finding.kind is Tamper.ENTRIES_REORDERED
    assert finding.index == 30
    assert "30 and 31" in finding.message


def test_swapped_entries_with_their_leaf_hashes_fail_at_the_first_signed_root(
    engine: sa.Engine,
) -> None:
    attack(
        engine,
        set_data(30, entry_bytes(31)),
        set_data(31, entry_bytes(30)),
        set_leaf(30, leaf_hash(entry_bytes(31))),
        set_leaf(31, leaf_hash(entry_bytes(30))),
    )
    finding = first(verify(engine))
    assert finding.kind is Tamper.CHECKPOINT_ROOT_MISMATCH
    assert (finding.index, finding.stop) == (0, 50)


def test_an_entry_that_is_not_canonical_is_named(engine: sa.Engine) -> None:
    spaced = entry_bytes(12).replace(b'":', b'": ', 1)
    attack(engine, set_data(12, spaced), set_leaf(12, leaf_hash(spaced)))
    report = verify(engine)
    assert first(report).kind is Tamper.NOT_CANONICAL
    assert report.first_bad_index == 12


# --- truncation and old copies -------------------------------------------------------------


def test_a_tidy_truncation_is_caught_only_against_a_trusted_checkpoint(engine: sa.Engine) -> None:
    trusted = note_at(engine, 200)
    attack(engine, *truncate(150))
    blind = verify(engine)
    assert blind.ok, blind.describe()
    assert Caveat.TRUNCATION_UNDETECTABLE in blind.caveats
    finding = first(verify(engine, trusted=trusted))
    assert finding.kind is Tamper.TRUNCATED
    assert (finding.index, finding.stop) == (150, 200)
    assert finding.evidence == (trusted,)


def test_a_careless_truncation_is_caught_by_the_head_and_the_checkpoints(engine: sa.Engine) -> None:
    attack(
        engine,
        ("DELETE FROM audit_entry_agencies WHERE idx >= 150", {}),
        ("DELETE FROM audit_entries WHERE idx >= 150", {}),
    )
    report = verify(engine)
    assert first(report).kind is Tamper.ENTRY_MISSING
    assert report.first_bad_index == 150
    assert {f.where for f in report.findings} >= {"checkpoint 200"}


@pytest.fixture
def sqlite_log(tmp_path: Path) -> Iterator[tuple[sa.Engine, Path]]:
    """A SQLite log of 150 entries, and the path of a copy taken then."""
    engine = migrated(sqlite_url(str(tmp_path / "log.sqlite")))
    grow(AuditStore(engine, origin=ORIGIN), 150)
    copy = tmp_path / "copy.sqlite"
    with (
        closing(sqlite3.connect(tmp_path / "log.sqlite")) as live,
        closing(sqlite3.connect(copy)) as target,
    ):
        live.backup(target)
    yield engine, copy
    engine.dispose()


def restore(engine: sa.Engine, copy: Path) -> sa.Engine:
    """Put the old copy back in place of the live file; an engine on it."""
    live = Path(str(engine.url.database))
    engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, live)
    return create_store_engine(engine.url)


def test_an_old_copy_restored_is_caught_only_against_a_trusted_checkpoint(
    sqlite_log: tuple[sa.Engine, Path],
) -> None:
    engine, copy = sqlite_log
    grow(AuditStore(engine, origin=ORIGIN), 200)
    trusted = note_at(engine, 200)
    engine = restore(engine, copy)
    try:
        assert verify(engine).ok
        finding = first(verify(engine, trusted=trusted))
        assert (finding.kind, finding.index) == (Tamper.TRUNCATED, 150)
    finally:
        engine.dispose()


def test_an_old_copy_restored_and_grown_again_is_equivocation(
    sqlite_log: tuple[sa.Engine, Path],
) -> None:
    engine, copy = sqlite_log
    grow(AuditStore(engine, origin=ORIGIN), 200)
    trusted = note_at(engine, 200)
    engine = restore(engine, copy)
    try:
        grow(AuditStore(engine, origin=ORIGIN), 200, variant="after-restore-")
        report = verify(engine, trusted=trusted)
        assert kinds(report) == {Tamper.EQUIVOCATION}
        assert report.findings[0].evidence == (trusted, note_at(engine, 200))
    finally:
        engine.dispose()


# --- checkpoints -----------------------------------------------------------------------------


def test_a_forked_checkpoint_signed_by_the_log_key_is_equivocation(engine: sa.Engine) -> None:
    forked = sign_checkpoint(Checkpoint(ORIGIN, 120, bytes(32)), SIGNER)
    attack(
        engine,
        (
            "INSERT INTO audit_checkpoints (size, root, note, issued_at) VALUES (120, :r, :n, :t)",
            {"r": bytes(32), "n": forked.decode(), "t": AT},
        ),
    )
    report = verify(engine)
    assert kinds(report) == {Tamper.EQUIVOCATION}
    assert report.findings[0].evidence == (forked, note_at(engine, 150))


def test_a_trusted_checkpoint_contradicting_the_log_is_equivocation(engine: sa.Engine) -> None:
    other = sign_checkpoint(Checkpoint(ORIGIN, 100, bytes(32)), SIGNER)
    report = verify(engine, trusted=other)
    assert kinds(report) == {Tamper.EQUIVOCATION}
    assert report.findings[0].evidence == (other, note_at(engine, 100))


def test_a_trusted_checkpoint_between_the_log_checkpoints_must_match_its_entries(
    engine: sa.Engine,
) -> None:
    trusted = sign_checkpoint(Checkpoint(ORIGIN, 120, bytes(32)), SIGNER)
    finding = first(verify(engine, trusted=trusted))
    assert finding.kind is Tamper.FORKED
    assert finding.stop == 120


def test_a_wrong_key_confirms_nothing(engine: sa.Engine) -> None:
    report = verify(engine, verifier=OTHER.verifier())
    assert kinds(report) == {Tamper.WRONG_KEY}
    assert len(report.findings) == SIZE // EVERY
    assert report.checkpoints == 0


def test_a_checkpoint_replaced_by_one_under_another_key_is_named(engine: sa.Engine) -> None:
    root = AuditStore(engine, origin=ORIGIN).root_at(100)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 100, root), OTHER)
    attack(
        engine, ("UPDATE audit_checkpoints SET note = :n WHERE size = 100", {"n": forged.decode()})
    )
    report = verify(engine)
    assert [(f.kind, f.where) for f in report.findings] == [(Tamper.WRONG_KEY, "checkpoint 100")]


def test_a_wrong_origin_is_named(engine: sa.Engine) -> None:
    report = verify(engine, origin="elsewhere.example/audit")
    assert kinds(report) == {Tamper.WRONG_ORIGIN}


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("not a note at all", id="garbage"),
        pytest.param("sakha.test/audit\n100\n", id="no-signature"),
        pytest.param(sign_note("not\na checkpoint\n", [SIGNER]).decode(), id="not-a-checkpoint"),
        pytest.param(sign_note("sakha.test/audit\n0100\nAAAA\n", [SIGNER]).decode(), id="bad-size"),
    ],
)
def test_malformed_notes_are_named(engine: sa.Engine, note: str) -> None:
    attack(engine, ("UPDATE audit_checkpoints SET note = :n WHERE size = 100", {"n": note}))
    report = verify(engine)
    assert [(f.kind, f.where) for f in report.findings] == [
        (Tamper.MALFORMED_NOTE, "checkpoint 100")
    ]


# --- bundles ---------------------------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle of a clean SQLite log of :data:`SIZE` entries."""
    engine = migrated(sqlite_url(str(tmp_path / "log.sqlite")))
    store = AuditStore(engine, origin=ORIGIN)
    grow(store, SIZE)
    export_bundle(store, tmp_path / "bundle")
    engine.dispose()
    return tmp_path / "bundle"


def verify_bundle(path: Path, **options: object) -> VerifyReport:
    return verify_log(BundleSource(path), VERIFIER, origin=ORIGIN, **options)  # type: ignore[arg-type]


def edit_lines(path: Path, change: Callable[[list[bytes]], object]) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    change(lines)
    path.write_bytes(b"".join(lines))


def test_a_bundle_with_an_entry_line_added_names_the_file_and_the_index(bundle: Path) -> None:
    edit_lines(
        bundle / "entries.jsonl",
        lambda lines: lines.insert(90, entry_bytes(1, variant="x") + b"\n"),
    )
    report = verify_bundle(bundle)
    mismatched = [f.where for f in report.findings if f.kind is Tamper.BUNDLE_FILE_MISMATCH]
    assert mismatched == ["entries.jsonl"]
    assert (first(report).kind, report.first_bad_index) == (Tamper.ENTRY_ADDED, 90)


def test_a_bundle_with_an_entry_line_missing_names_the_file_and_the_index(bundle: Path) -> None:
    edit_lines(bundle / "entries.jsonl", lambda lines: lines.pop(90))
    report = verify_bundle(bundle)
    assert Tamper.BUNDLE_FILE_MISMATCH in kinds(report)
    assert (first(report).kind, report.first_bad_index) == (Tamper.ENTRY_MISSING, 90)


def test_a_bundle_with_a_changed_line_names_the_file_and_the_index(bundle: Path) -> None:
    def change(lines: list[bytes]) -> None:
        lines[33] = entry_bytes(33, variant="forged-") + b"\n"

    edit_lines(bundle / "entries.jsonl", change)
    report = verify_bundle(bundle)
    mismatched = [f.where for f in report.findings if f.kind is Tamper.BUNDLE_FILE_MISMATCH]
    assert mismatched == ["entries.jsonl"]
    assert (first(report).kind, report.first_bad_index) == (Tamper.ENTRY_MODIFIED, 33)


def test_a_bundle_with_a_file_added_or_removed_names_it(bundle: Path) -> None:
    (bundle / "checkpoints" / "50.note").unlink()
    (bundle / "notes.txt").write_text("nothing to see\n")
    report = verify_bundle(bundle)
    mismatched = [f.message for f in report.findings if f.kind is Tamper.BUNDLE_FILE_MISMATCH]
    assert mismatched == [
        "checkpoints/50.note is listed in the manifest but missing",
        "notes.txt is not in the manifest",
    ]


def test_a_bundle_with_a_bad_consistency_proof_is_named(bundle: Path) -> None:
    proof = bundle / "consistency" / "100-150.txt"
    text = proof.read_text()
    proof.write_text(("1" if text[0] == "0" else "0") + text[1:])
    report = verify_bundle(bundle)
    assert Tamper.CONSISTENCY_PROOF_INVALID in kinds(report)


# --- properties: no flipped bit ever verifies -------------------------------------------------


class MemorySource:
    """A whole log in memory, with or without its stored leaf hashes."""

    start = 0
    complete = True

    def __init__(self, datas: Sequence[bytes], notes: Sequence[bytes], *, leaves: bool) -> None:
        self.datas = list(datas)
        self.notes = list(notes)
        self.leaves = [leaf_hash(d) for d in datas] if leaves else None

    def prefix(self) -> Mapping[NodeKey, bytes]:
        return {}

    def head(self) -> Head:
        return Head(len(self.datas), None)

    def entries(self) -> Iterator[SourceEntry]:
        for index, data in enumerate(self.datas):
            yield SourceEntry(index, data, None if self.leaves is None else self.leaves[index])

    def checkpoint_notes(self) -> Sequence[SourceNote]:
        return [SourceNote(f"note {i}", n) for i, n in enumerate(self.notes)]

    def consistency_proofs(self) -> Mapping[tuple[int, int], Sequence[bytes]]:
        return {}

    def problems(self) -> Sequence[Finding]:
        return ()


def memory_log(size: int, cuts: Sequence[int], *, leaves: bool) -> MemorySource:
    """A log of ``size`` synthetic entries, signed at ``cuts`` and at ``size``."""
    datas = [b'{"n":%d}' % n for n in range(size)]
    reference = MemoryNodes()
    reference.append(leaf_hash(d) for d in datas)
    sizes = sorted({*(c for c in cuts if 0 < c <= size), size})
    notes = [sign_checkpoint(Checkpoint(ORIGIN, s, tree_root(reference, s)), SIGNER) for s in sizes]
    return MemorySource(datas, notes, leaves=leaves)


def flip(data: bytes, bit: int) -> bytes:
    position = bit % (8 * len(data))
    changed = bytearray(data)
    changed[position // 8] ^= 1 << (position % 8)
    return bytes(changed)


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 300),
    cuts=st.lists(st.integers(1, 300), max_size=5),
    leaves=st.booleans(),
    target=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 2**20),
)
def test_a_flipped_bit_in_any_entry_never_verifies(
    size: int, cuts: list[int], leaves: bool, target: float, bit: int
) -> None:
    source = memory_log(size, cuts, leaves=leaves)
    assert verify_log(source, VERIFIER, origin=ORIGIN, parse_entries=False).ok
    index = int(target * size)
    source.datas[index] = flip(source.datas[index], bit)
    report = verify_log(source, VERIFIER, origin=ORIGIN, parse_entries=False)
    assert not report.ok
    if leaves:
        assert report.first_bad_index == index


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 100),
    cuts=st.lists(st.integers(1, 100), max_size=3),
    target=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 2**20),
)
def test_a_flipped_bit_in_any_note_never_verifies(
    size: int, cuts: list[int], target: float, bit: int
) -> None:
    source = memory_log(size, cuts, leaves=False)
    which = int(target * len(source.notes))
    source.notes[which] = flip(source.notes[which], bit)
    assert not verify_log(source, VERIFIER, origin=ORIGIN, parse_entries=False).ok


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32))
def test_a_flipped_bit_in_any_bundle_file_never_verifies(bundle: Path, seed: int) -> None:
    chooser = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "bundle"
        shutil.copytree(bundle, copy)
        files = sorted(p for p in copy.rglob("*") if p.is_file() and p.name != "manifest.json")
        target = chooser.choice(files)
        target.write_bytes(flip(target.read_bytes(), chooser.getrandbits(24)))
        report = verify_bundle(copy, parse_entries=False)
        assert not report.ok
        assert target.relative_to(copy).as_posix() in {f.where for f in report.findings}


def test_the_property_fixtures_are_clean() -> None:
    source = memory_log(37, [5, 16], leaves=True)
    report = verify_log(source, VERIFIER, origin=ORIGIN, parse_entries=False)
    assert report.ok
    assert report.checkpoints == 3
