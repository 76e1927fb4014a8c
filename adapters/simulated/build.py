"""Build the simulated agencies' SQLite databases from the synthetic population.

One SQLite file per agency, ``{data_dir}/{agency_id}.sqlite`` in WAL mode, plus a manifest
(``population.json``) naming the parameters, the generator and a digest of the content.
Households stream from the generator block by block into all 30 databases at once, each
database in a single transaction with its indexes created after loading.

A build happens in a staging folder inside ``data_dir``; the files are then moved into
place one by one, with the old manifest deleted first and the new one written last, so an
interrupted build never leaves a folder that reads as a complete population.
:func:`ensure_population` reuses a complete build with the same parameters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.simulated import (
    _care,
    _demography,
    _wealth,
    _work,
    geography,
    model,
    population,
    records,
    samples,
)
from adapters.simulated.population import generate_households, outsider_national_id
from adapters.simulated.records import AgencyStore, agency_stores
from adapters.simulated.samples import SampleSubjects, read_facts, read_only_uri

SCHEMA_VERSION = 1
"""Version of the databases' layout; a population built with another version is rebuilt."""

DEFAULT_HOUSEHOLDS = 10_000
DEFAULT_SEED = 20261121
MANIFEST_NAME = "population.json"

_STAGING_PREFIX = ".building-"
_LOCK_NAME = ".population.lock"
_GENERATOR_MODULES = (
    model,
    geography,
    _demography,
    _work,
    _care,
    _wealth,
    population,
    records,
    samples,
)


@dataclass(frozen=True)
class PopulationSummary:
    """What a built population holds: its parameters, counts and sample subjects."""

    data_dir: Path
    seed: int
    households: int
    persons: int
    """Living persons, all of them in a household."""
    deceased: int
    """Deceased persons, known to the civil registry only."""
    found: Mapping[str, int]
    """Agency id -> how many distinct persons the agency knows."""
    overlap_households: int
    """Households that two or more aid agencies support for the same need."""
    digest: str
    """SHA-256 over every agency's tables (see :func:`content_digest`)."""
    samples: SampleSubjects

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (without ``data_dir``, which may move)."""
        data = dataclasses.asdict(self)
        del data["data_dir"]
        data["found"] = dict(self.found)
        return data

    @classmethod
    def from_json(cls, data_dir: Path, data: Mapping[str, Any]) -> PopulationSummary:
        """Rebuild a summary written by :meth:`to_json`."""
        fields = dict(data)
        fields["samples"] = SampleSubjects(**fields["samples"])
        return cls(data_dir=data_dir, **fields)


def build_population(
    data_dir: Path, *, households: int = DEFAULT_HOUSEHOLDS, seed: int = DEFAULT_SEED
) -> PopulationSummary:
    """Generate the population and (re)write every agency's database in ``data_dir``.

    Raises:
        ValueError: ``households`` is not positive.
    """
    if households < 1:
        raise ValueError("a population needs at least one household")
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        return _build(data_dir, households, seed)


def ensure_population(
    data_dir: Path, *, households: int = DEFAULT_HOUSEHOLDS, seed: int = DEFAULT_SEED
) -> PopulationSummary:
    """Reuse the population in ``data_dir`` when it is complete and matches; else build it.

    A build matches when its manifest names the same seed, household count, schema version
    and generator source, and every agency's database is present.

    Raises:
        ValueError: ``households`` is not positive.
    """
    if households < 1:
        raise ValueError("a population needs at least one household")
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        manifest = _read_manifest(data_dir)
        if (
            manifest is not None
            and manifest.get("identity") == _identity(households, seed)
            and all((data_dir / store.filename).is_file() for store in agency_stores())
        ):
            return PopulationSummary.from_json(data_dir, manifest["summary"])
        return _build(data_dir, households, seed)


def content_digest(data_dir: Path) -> str:
    """SHA-256 over every row of every agency's tables, in agency, table and row order."""
    digest = hashlib.sha256()
    for store in agency_stores():
        connection = sqlite3.connect(read_only_uri(data_dir / store.filename), uri=True)
        try:
            for table in sorted(t.name for t in store.tables):
                digest.update(f"{store.agency_id}.{table}\n".encode())
                cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")  # noqa: S608 - our own names
                while rows := cursor.fetchmany(50_000):
                    digest.update(repr(rows).encode())
        finally:
            connection.close()
    return digest.hexdigest()


def _build(data_dir: Path, households: int, seed: int) -> PopulationSummary:
    _remove_abandoned_staging(data_dir)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=data_dir))
    try:
        persons, deceased = _write_databases(staging, households, seed)
        facts = read_facts(staging, outsider_national_id(seed, households))
        summary = PopulationSummary(
            data_dir=data_dir,
            seed=seed,
            households=households,
            persons=persons,
            deceased=deceased,
            found=facts.found,
            overlap_households=facts.overlap_households,
            digest=content_digest(staging),
            samples=facts.samples,
        )
        manifest = {"identity": _identity(households, seed), "summary": summary.to_json()}
        _install(staging, data_dir, json.dumps(manifest, indent=2, sort_keys=True))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _write_databases(staging: Path, households: int, seed: int) -> tuple[int, int]:
    """Fill one database per agency; return the numbers of living and deceased persons."""
    stores = agency_stores()
    connections: dict[str, sqlite3.Connection] = {}
    persons = deceased = 0
    try:
        for store in stores:
            connections[store.agency_id] = _open_for_loading(staging, store)
        for block in generate_households(seed, households):
            persons += sum(household.size for household in block)
            deceased += sum(len(household.deceased) for household in block)
            for store in stores:
                connection = connections[store.agency_id]
                for table, rows in zip(store.tables, store.rows(block), strict=True):
                    connection.executemany(table.insert_sql(), rows)
        for store in stores:
            _finish(connections[store.agency_id], store)
    finally:
        for connection in connections.values():
            connection.close()
    return persons, deceased


def _open_for_loading(staging: Path, store: AgencyStore) -> sqlite3.Connection:
    connection = sqlite3.connect(staging / store.filename, isolation_level=None)
    # No journal and no syncs while loading: a failed build is thrown away, never repaired.
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -4096")
    connection.execute("BEGIN")
    for table in store.tables:
        connection.execute(table.create_sql())
    return connection


def _finish(connection: sqlite3.Connection, store: AgencyStore) -> None:
    for table in store.tables:
        for statement in table.index_sql():
            connection.execute(statement)
    for statement in store.finish_sql:
        connection.execute(statement)
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.execute("PRAGMA journal_mode = WAL")


def _install(staging: Path, data_dir: Path, manifest: str) -> None:
    """Move the staged databases into ``data_dir``, the manifest last."""
    (data_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for store in agency_stores():
        target = data_dir / store.filename
        # A stale WAL next to a new database would be replayed into it.
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        staged = staging / store.filename
        _fsync(staged)
        staged.replace(target)
    staged_manifest = staging / MANIFEST_NAME
    staged_manifest.write_text(manifest, encoding="utf-8")
    _fsync(staged_manifest)
    staged_manifest.replace(data_dir / MANIFEST_NAME)
    _fsync(data_dir)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_manifest(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _identity(households: int, seed: int) -> dict[str, Any]:
    """What a build depends on: a manifest with another identity is out of date."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": _generator_fingerprint(),
        "households": households,
        "seed": seed,
    }


def _generator_fingerprint() -> str:
    """SHA-256 of the generator's source, so a changed generator invalidates old builds."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for module in _GENERATOR_MODULES:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise builds of one data directory across processes."""
    with (data_dir / _LOCK_NAME).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_abandoned_staging(data_dir: Path) -> None:
    """Delete staging folders of builds that crashed (under the lock, no build is running)."""
    for folder in data_dir.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)
