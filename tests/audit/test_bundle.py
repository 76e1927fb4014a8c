"""Export bundles: the layout, self-contained verification, ranges, and refusals."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit import Checkpoint
from audit.bundle import BundleError, BundleSource, export_bundle, prefix_keys
from audit.store import AuditStore
from audit.verify import Caveat, Tamper
from consent.database import sqlite_url
from tests.audit import test_tamper as logs

ORIGIN = logs.ORIGIN


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    """A SQLite log of 200 entries checkpointed every 50."""
    engine = logs.migrated(sqlite_url(str(tmp_path / "log.sqlite")))
    store = AuditStore(engine, origin=ORIGIN)
    logs.grow(store, logs.SIZE)
    yield store
    engine.dispose()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's Merkle Tree Hash in a few lines, as an auditor would write it."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def test_the_bundle_layout_and_its_manifest(store: AuditStore, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    manifest = export_bundle(store, out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "checkpoints/100.note",
        "checkpoints/150.note",
        "checkpoints/200.note",
        "checkpoints/50.note",
        "consistency/100-150.txt",
        "consistency/150-200.txt",
        "consistency/50-100.txt",
        "entries.jsonl",
        "leaves.txt",
        "manifest.json",
    ]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["start"] == 0
    assert manifest["stop"] == manifest["entries"] == 200
    assert manifest["checkpoints"] == [50, 100, 150, 200]
    files = manifest["files"]
    assert isinstance(files, dict)
    assert (
        files["entries.jsonl"] == hashlib.sha256((out / "entries.jsonl").read_bytes()).hexdigest()
    )
    lines = (out / "entries.jsonl").read_bytes().splitlines()
    assert lines == [data for _, data in store.entries(0, 200)]


def test_an_auditor_recomputes_the_signed_root_from_the_lines_alone(
    store: AuditStore, tmp_path: Path
) -> None:
    export_bundle(store, tmp_path / "b")
    leaves = [
        hashlib.sha256(b"\x00" + line).digest()
        for line in (tmp_path / "b" / "entries.jsonl").read_bytes().splitlines()
    ]
    note = (tmp_path / "b" / "checkpoints" / "200.note").read_text()
    root_line = note.split("\n")[2]
    assert merkle_root(leaves) == base64.b64decode(root_line)


def test_a_clean_bundle_verifies(store: AuditStore, tmp_path: Path) -> None:
    export_bundle(store, tmp_path / "b")
    report = logs.verify_bundle(tmp_path / "b", trusted=store.checkpoints()[-1].note)
    assert report.ok, report.describe()
    assert (report.start, report.end, report.checkpoints) == (0, 200, 4)
    assert report.caveats == ()
    assert BundleSource(tmp_path / "b").origin == ORIGIN


def test_a_range_bundle_verifies_without_the_entries_before_it(
    store: AuditStore, tmp_path: Path
) -> None:
    manifest = export_bundle(store, tmp_path / "b", start=60, stop=130)
    assert (manifest["start"], manifest["stop"], manifest["requested_stop"]) == (60, 150, 130)
    assert manifest["checkpoints"] == [50, 100, 150]
    assert len((tmp_path / "b" / "prefix.txt").read_text().splitlines()) == len(prefix_keys(60))
    report = logs.verify_bundle(tmp_path / "b")
    assert report.ok, report.describe()
    assert (report.start, report.end, report.checkpoints) == (60, 150, 3)
    assert report.latest == Checkpoint.parse(
        store.checkpoints()[2].note.decode().split("\n\n")[0] + "\n"
    )
    beyond = logs.verify_bundle(tmp_path / "b", trusted=store.checkpoints()[-1].note)
    assert beyond.caveats == (Caveat.TRUSTED_OUTSIDE_RANGE,)


def test_a_forged_prefix_hash_fails_at_the_first_signed_root(
    store: AuditStore, tmp_path: Path
) -> None:
    export_bundle(store, tmp_path / "b", start=60, stop=150)
    prefix = tmp_path / "b" / "prefix.txt"
    level, index, _ = prefix.read_text().splitlines()[0].split(" ")
    prefix.write_text(
        "\n".join([f"{level} {index} {'ab' * 32}", *prefix.read_text().splitlines()[1:]]) + "\n"
    )
    report = logs.verify_bundle(tmp_path / "b")
    kinds = {f.kind for f in report.findings}
    assert {Tamper.BUNDLE_FILE_MISMATCH, Tamper.CHECKPOINT_ROOT_MISMATCH} <= kinds


def test_prefix_keys_cover_the_range_with_perfect_subtrees() -> None:
    assert prefix_keys(0) == []
    assert prefix_keys(6) == [(2, 0), (1, 2)]
    assert prefix_keys(13) == [(3, 0), (2, 2), (0, 12)]


def test_exports_that_cannot_be_verified_are_refused(store: AuditStore, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no checkpoint covers index 200"):
        export_bundle(store, tmp_path / "a", stop=201)
    with pytest.raises(BundleError, match="empty"):
        export_bundle(store, tmp_path / "b", start=200)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        export_bundle(store, tmp_path / "c")


def test_a_log_without_checkpoints_cannot_be_exported(tmp_path: Path) -> None:
    engine = logs.migrated(sqlite_url(str(tmp_path / "log.sqlite")))
    try:
        store = AuditStore(engine, origin=ORIGIN)
        store.append([logs.record(0)])
        with pytest.raises(BundleError, match="no checkpoint yet"):
            export_bundle(store, tmp_path / "b")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(None, id="missing"),
        pytest.param("{", id="not-json"),
        pytest.param('{"format": "other"}', id="other-format"),
        pytest.param('{"format": "sakha-audit-bundle/1", "origin": "o"}', id="fields-missing"),
    ],
)
def test_a_folder_without_a_valid_manifest_is_not_a_bundle(
    tmp_path: Path, manifest: str | None
) -> None:
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(BundleError):
        BundleSource(tmp_path)


def test_an_unreadable_proof_file_is_a_malformed_bundle(store: AuditStore, tmp_path: Path) -> None:
    export_bundle(store, tmp_path / "b")
    (tmp_path / "b" / "consistency" / "50-100.txt").write_text("not hex\n")
    report = logs.verify_bundle(tmp_path / "b")
    assert Tamper.MALFORMED_BUNDLE in {f.kind for f in report.findings}
