"""Building, reusing and replacing a population on disk; the summary and its samples."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.national_id import is_valid_national_id
from adapters.simulated import build as build_module
from adapters.simulated.build import (
    MANIFEST_NAME,
    PopulationSummary,
    build_population,
    content_digest,
    ensure_population,
)
from adapters.simulated.model import AID_AGENCY_NEEDS, NEEDS, REFERENCE_DATE
from adapters.simulated.records import agency_stores

Query = Callable[..., list[tuple[Any, ...]]]


def _files(data_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()}


def test_one_wal_database_per_agency_and_a_manifest(population: PopulationSummary) -> None:
    data_dir = population.data_dir
    # Readers of a WAL database leave its -wal and -shm files; they are SQLite's, not ours.
    names = sorted(
        p.name
        for p in data_dir.iterdir()
        if not p.name.startswith(".") and not p.name.endswith(("-wal", "-shm"))
    )
    assert names == sorted([MANIFEST_NAME, *(store.filename for store in agency_stores())])
    assert len(agency_stores()) == 30
    for store in agency_stores():
        connection = sqlite3.connect(data_dir / store.filename)
        try:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            connection.close()
    manifest = json.loads((data_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["identity"]["seed"] == population.seed
    assert manifest["identity"]["households"] == population.households
    assert manifest["summary"]["digest"] == population.digest


def test_same_seed_same_databases_other_seed_others(
    population: PopulationSummary, tmp_path: Path
) -> None:
    size, seed = population.households, population.seed
    again = build_population(tmp_path / "again", households=size, seed=seed)
    other = build_population(tmp_path / "other", households=size, seed=seed + 1)
    assert again.digest == population.digest == content_digest(again.data_dir)
    assert again.samples == population.samples
    assert other.digest != population.digest


def test_ensure_reuses_a_matching_build(tmp_path: Path) -> None:
    built = ensure_population(tmp_path, households=20, seed=1)
    before = _files(tmp_path)
    reused = ensure_population(tmp_path, households=20, seed=1)
    assert reused == built
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    ("change", "households", "seed"),
    [
        pytest.param("nothing", 21, 1, id="other-household-count"),
        pytest.param("nothing", 20, 2, id="other-seed"),
        pytest.param("delete-database", 20, 1, id="missing-database"),
        pytest.param("corrupt-manifest", 20, 1, id="unreadable-manifest"),
    ],
)
def test_ensure_rebuilds(tmp_path: Path, change: str, households: int, seed: int) -> None:
    built = ensure_population(tmp_path, households=20, seed=1)
    if change == "delete-database":
        (tmp_path / "tax.sqlite").unlink()
    elif change == "corrupt-manifest":
        (tmp_path / MANIFEST_NAME).write_text("{", encoding="utf-8")
    rebuilt = ensure_population(tmp_path, households=households, seed=seed)
    assert (tmp_path / "tax.sqlite").is_file()
    assert rebuilt.households == households
    assert rebuilt.seed == seed
    assert (rebuilt.digest == built.digest) == (households == 20 and seed == 1)


def test_a_failed_build_leaves_the_previous_population(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = ensure_population(tmp_path, households=20, seed=1)

    def fail(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(build_module, "read_facts", fail)
    with pytest.raises(RuntimeError, match="power cut"):
        build_population(tmp_path, households=30, seed=1)
    assert not list(tmp_path.glob(".building-*"))
    monkeypatch.undo()
    assert ensure_population(tmp_path, households=20, seed=1) == built


def test_a_build_cut_while_installing_reads_as_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_population(tmp_path, households=20, seed=1)
    moved: list[Path] = []
    real_replace = Path.replace

    def replace_then_fail(self: Path, target: Path) -> Path:
        if len(moved) == 5:
            raise OSError("disk full")
        moved.append(self)
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace_then_fail)
    with pytest.raises(OSError, match="disk full"):
        build_population(tmp_path, households=30, seed=1)
    monkeypatch.undo()
    assert not (tmp_path / MANIFEST_NAME).exists()
    assert ensure_population(tmp_path, households=20, seed=1).households == 20
    assert (tmp_path / MANIFEST_NAME).exists()


def test_abandoned_staging_is_cleared(tmp_path: Path) -> None:
    leftover = tmp_path / ".building-crashed"
    leftover.mkdir()
    (leftover / "tax.sqlite").write_bytes(b"half")
    build_population(tmp_path, households=5, seed=1)
    assert not leftover.exists()


def test_summary_counts_match_the_databases(population: PopulationSummary, query: Query) -> None:
    living = query("civil_registry", "SELECT COUNT(*) FROM persons WHERE alive = 1")[0][0]
    dead = query("civil_registry", "SELECT COUNT(*) FROM persons WHERE alive = 0")[0][0]
    households = query("civil_registry", "SELECT COUNT(DISTINCT household_id) FROM persons")
    assert (population.persons, population.deceased) == (living, dead)
    assert households[0][0] == population.households
    assert population.found["civil_registry"] == living + dead
    assert population.found["subsidy_org"] == population.found["electricity"] == living
    assert set(population.found) == {store.agency_id for store in agency_stores()}
    assert all(count > 0 for count in population.found.values())


def test_summary_round_trips_through_json(population: PopulationSummary) -> None:
    data = json.loads(json.dumps(population.to_json()))
    assert PopulationSummary.from_json(population.data_dir, data) == population


def test_samples_are_what_they_claim(population: PopulationSummary, query: Query) -> None:
    samples = population.samples
    assert None not in {national_id for _, national_id in samples}
    assert len(dict(samples)) == 7

    def person(national_id: str | None) -> tuple[object, ...]:
        (row,) = query(
            "civil_registry",
            "SELECT household_id, head_of_household, alive, residence FROM persons"
            " WHERE national_id = ?",
            national_id,
        )
        return tuple(row)

    def decile(national_id: str | None) -> int:
        (row,) = query(
            "subsidy_org",
            "SELECT h.income_decile FROM households AS h JOIN beneficiaries AS b"
            " ON b.household_id = h.household_id WHERE b.national_id = ?",
            national_id,
        )
        return int(row[0])

    assert person(samples.poor_head)[1:3] == (1, 1)
    assert decile(samples.poor_head) == 1
    poor_household = person(samples.poor_head)[0]
    year_ago = (REFERENCE_DATE - dt.timedelta(days=365)).isoformat()
    for (member,) in query(
        "civil_registry", "SELECT national_id FROM persons WHERE household_id = ?", poor_household
    ):
        trips = "SELECT 1 FROM trips WHERE national_id = ? AND exit_date > ?"
        assert not query("border_travel", trips, member, year_ago)
        assert not query(
            "land_registry",
            "SELECT 1 FROM deeds WHERE value > 30e9 AND owner_national_id = ?",
            member,
        )
    assert person(samples.well_off)[1] == 1
    assert decile(samples.well_off) == 10
    assert person(samples.rural_head)[1::2] == (1, "rural")
    severity = query(
        "welfare",
        "SELECT disability_severity FROM clients WHERE national_id = ?",
        samples.severe_disability,
    )
    assert severity[0][0] >= 3
    assert person(samples.deceased)[2] == 0
    assert is_valid_national_id(samples.unknown)
    assert not query(
        "civil_registry", "SELECT 1 FROM persons WHERE national_id = ?", samples.unknown
    )


def test_overlap_sample_is_supported_twice_for_one_need(
    population: PopulationSummary, query: Query
) -> None:
    head = population.samples.overlap_head
    assert population.overlap_households > 0
    twice = []
    for need in NEEDS:
        supporters = []
        for agency_id, needs in AID_AGENCY_NEEDS.items():
            if need in needs:
                (store,) = (s for s in agency_stores() if s.agency_id == agency_id)
                table = store.tables[0].name
                sql = f"SELECT 1 FROM {table} WHERE national_id = ? AND supports_{need} = 1"  # noqa: S608
                if query(agency_id, sql, head):
                    supporters.append(agency_id)
        twice.append(len(supporters) >= 2)
    assert any(twice)
