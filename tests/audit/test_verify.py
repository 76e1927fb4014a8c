"""The offline verifier on clean logs: what it confirms, its caveats, progress and scale."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence

import pytest
import sqlalchemy as sa

from audit import Checkpoint, canonical_bytes, leaf_hash, sign_checkpoint
from audit.merkle_store import MemoryNodes, NodeKey, tree_root
from audit.store import AuditStore
from audit.verify import (
    Caveat,
    Finding,
    Head,
    SourceEntry,
    SourceNote,
    StoreSource,
    Tamper,
    VerifyError,
    VerifyReport,
    verify_log,
)
from tests.audit import test_tamper as logs
from tests.audit.test_entry import decided

empty_db = logs.empty_db
postgres_server = logs.postgres_server
engine = logs.engine
ORIGIN, SIGNER, VERIFIER = logs.ORIGIN, logs.SIGNER, logs.VERIFIER


class ListSource:
    """A whole log given as ``(index, data)`` pairs and notes, nothing stored beside them."""

    start = 0
    complete = True

    def __init__(self, items: Sequence[tuple[int, bytes]], notes: Sequence[bytes]) -> None:
        self.items = items
        self.notes = notes

    def prefix(self) -> Mapping[NodeKey, bytes]:
        return {}

    def head(self) -> Head:
        return Head(len(self.items), None)

    def entries(self) -> Iterator[SourceEntry]:
        return (SourceEntry(index, data) for index, data in self.items)

    def checkpoint_notes(self) -> Sequence[SourceNote]:
        return [SourceNote(f"note {i}", note) for i, note in enumerate(self.notes)]

    def consistency_proofs(self) -> Mapping[tuple[int, int], Sequence[bytes]]:
        return {}

    def problems(self) -> Sequence[Finding]:
        return ()


def synthetic(size: int, every: int) -> ListSource:
    """``size`` synthetic entries signed every ``every`` and at the end (MemoryNodes roots)."""
    datas = [b"entry %d" % n for n in range(size)]
    nodes = MemoryNodes()
    nodes.append(leaf_hash(d) for d in datas)
    sizes = sorted({*range(every, size + 1, every), size})
    notes = [sign_checkpoint(Checkpoint(ORIGIN, s, tree_root(nodes, s)), SIGNER) for s in sizes]
    return ListSource(list(enumerate(datas)), notes)


def check(source: ListSource, **options: object) -> VerifyReport:
    return verify_log(source, VERIFIER, origin=ORIGIN, parse_entries=False, **options)  # type: ignore[arg-type]


def test_a_clean_store_log_verifies_and_names_its_newest_checkpoint(engine: sa.Engine) -> None:
    report = logs.verify(engine, trusted=logs.note_at(engine, 150))
    assert report.ok, report.describe()
    assert (report.start, report.end, report.checkpoints) == (0, 200, 4)
    assert report.latest is not None
    assert report.latest.size == 200
    assert report.caveats == ()
    assert report.first is None
    assert report.describe().startswith(f"{ORIGIN}: OK")


def test_entries_after_the_newest_checkpoint_are_a_caveat_not_a_failure(engine: sa.Engine) -> None:
    AuditStore(engine, origin=ORIGIN).append([logs.record(n) for n in range(200, 205)])
    report = logs.verify(engine)
    assert report.ok
    assert report.end == 205
    assert report.caveats == (Caveat.TRUNCATION_UNDETECTABLE, Caveat.UNSIGNED_TAIL)


def test_an_empty_log_verifies_with_nothing_signed() -> None:
    report = verify_log(ListSource([], []), VERIFIER, origin=ORIGIN)
    assert report.ok
    assert (report.end, report.checkpoints, report.latest) == (0, 0, None)


def test_progress_is_reported_every_ten_thousand_entries_and_at_the_end() -> None:
    calls: list[tuple[int, int]] = []
    assert check(
        synthetic(25_000, 5_000), progress=lambda done, total: calls.append((done, total))
    ).ok
    assert calls == [(10_000, 25_000), (20_000, 25_000), (25_000, 25_000)]


def test_a_hundred_thousand_entries_verify_in_one_pass() -> None:
    source = synthetic(100_000, 1_000)
    began = time.monotonic()
    report = check(source)
    assert report.ok
    assert report.checkpoints == 100
    assert time.monotonic() - began < 60  # one pass; typically about a second


@pytest.mark.parametrize(
    ("indexes", "kind", "index"),
    [
        pytest.param([0, 1, 1, 2], Tamper.DUPLICATE_INDEX, 1, id="duplicate"),
        pytest.param([0, 1, 2, 0], Tamper.ENTRIES_REORDERED, 0, id="backwards"),
        pytest.param([0, 1, 3, 4], Tamper.ENTRY_MISSING, 2, id="gap"),
    ],
)
def test_indexes_must_be_dense_and_in_order(indexes: list[int], kind: Tamper, index: int) -> None:
    source = ListSource([(i, b"entry %d" % i) for i in indexes], [])
    report = check(source)
    assert report.first is not None
    assert (report.first.kind, report.first_bad_index) == (kind, index)


def test_entries_must_be_canonical_entries() -> None:
    good = canonical_bytes(decided())
    source = ListSource([(0, good), (1, b'{"n": 1}'), (2, good)], [])
    report = verify_log(source, VERIFIER, origin=ORIGIN)
    assert [(f.kind, f.index) for f in report.findings] == [(Tamper.NOT_CANONICAL, 1)]


def test_an_exact_index_outranks_the_checkpoint_range_that_hides_it() -> None:
    report = VerifyReport(
        origin=ORIGIN,
        start=0,
        end=100,
        checkpoints=0,
        latest=None,
        findings=(
            Finding(Tamper.CHECKPOINT_ROOT_MISMATCH, "range", index=50, stop=100),
            Finding(Tamper.ENTRY_MODIFIED, "exact", index=77),
        ),
        caveats=(),
    )
    assert report.first_bad_index == 77
    assert "first bad index: 77 (ENTRY_MODIFIED)" in report.describe()


def test_a_trusted_checkpoint_that_does_not_open_stops_verification() -> None:
    with pytest.raises(VerifyError, match="WRONG_KEY"):
        verify_log(
            synthetic(10, 5),
            logs.OTHER.verifier(),
            origin=ORIGIN,
            trusted=synthetic(10, 5).notes[0],
        )


def test_the_store_source_reads_every_entry_with_its_stored_leaf(engine: sa.Engine) -> None:
    entries = list(StoreSource(engine, origin=ORIGIN).entries())
    assert [e.index for e in entries] == list(range(200))
    assert all(e.leaf == leaf_hash(e.data) for e in entries)
