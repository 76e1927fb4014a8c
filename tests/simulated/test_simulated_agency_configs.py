"""The 30 agency configs match docs/agencies.md, and their SQL runs against a population."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from adapters.simulated.build import PopulationSummary
from adapters.simulated.catalogue import AGENCY_CONFIG_DIR, WEB_SERVICES, agency_config_paths
from adapters.simulated.model import REFERENCE_DATE, age_on

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "agencies.md"
CONFIGS = agency_config_paths()
SQL_CONFIGS = [path for path in CONFIGS if path.stem not in WEB_SERVICES]


@dataclass(frozen=True)
class Documented:
    """One attribute as docs/agencies.md lists it."""

    type: str
    unit: str
    sensitivity: str
    predicates: frozenset[str]


@dataclass(frozen=True)
class DocumentedAgency:
    """One agency as docs/agencies.md lists it."""

    name: str
    name_fa: str
    attributes: dict[str, Documented]


def _documented_agencies() -> dict[str, DocumentedAgency]:
    """Parse the catalogue table: a row with agency ids starts agencies, rows below add to them."""
    agencies: dict[str, DocumentedAgency] = {}
    current: list[str] = []
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 7 or cells[0] in ("agency_id", "---"):
            continue
        ids, names, attributes, kind, unit, sensitivity, operators = cells
        if ids:
            current = ids.split(", ")
            # "English / Persian" pairs, comma-separated (English names may hold commas).
            pairs = re.split(r"(?<=[\u0600-\u06ff]), ", names)
            for agency_id, name in zip(current, pairs, strict=True):
                english, persian = name.split(" / ")
                agencies[agency_id] = DocumentedAgency(english, persian, {})
        documented = Documented(kind, unit, sensitivity, frozenset(operators.split()))
        for attribute in re.sub(r"\s*\(.*?\)", "", attributes).split(", "):
            for agency_id in current:
                agencies[agency_id].attributes[attribute.strip("`")] = documented
    return agencies


def _config(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_catalogue_parses_into_thirty_agencies() -> None:
    agencies = _documented_agencies()
    assert len(agencies) == 30
    assert agencies["bank_refah"].name_fa == "بانک رفاه کارگران"
    assert set(agencies["welfare"].attributes) == {
        "disability_severity",
        "supports_financial",
        "supports_medical",
        "supports_social_work",
        "supports_emotional",
    }
    assert agencies["civil_registry"].attributes["household_members"].type == "string_list"


def test_one_config_per_documented_agency() -> None:
    assert AGENCY_CONFIG_DIR.is_dir()
    assert [p.stem for p in CONFIGS] == sorted(_documented_agencies())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_matches_the_catalogue(path: Path) -> None:
    config = _config(path)
    documented = _documented_agencies()[path.stem]
    assert config["agency_id"] == path.stem
    assert (config["name"], config["name_fa"]) == (documented.name, documented.name_fa)
    if path.stem in WEB_SERVICES:
        assert config["http"]["url"] == f"{{{path.stem}_service}}/api/v1/clients/lookup"
    else:
        assert config["url"] == f"sqlite:///{{data_dir}}/{path.stem}.sqlite"
    assert set(config["attributes"]) == set(documented.attributes)
    for name, spec in config["attributes"].items():
        expected = documented.attributes[name]
        assert spec["type"] == expected.type, name
        assert spec.get("unit", "") == expected.unit, name
        assert spec["sensitivity"] == expected.sensitivity, name
        assert frozenset(spec.get("predicates", [])) == expected.predicates, name
        assert spec["query"] in config["queries"] if "queries" in config else spec["field"]
        assert spec.get("description"), name


@pytest.fixture(scope="module")
def everyone(population: PopulationSummary) -> list[str]:
    """Every national ID in the civil registry, plus one that nobody holds."""
    connection = sqlite3.connect(population.data_dir / "civil_registry.sqlite")
    try:
        ids = [row[0] for row in connection.execute("SELECT national_id FROM persons")]
    finally:
        connection.close()
    return [*ids, population.samples.unknown]


def _run(
    population: PopulationSummary,
    config: dict[str, Any],
    sql: str,
    subjects: list[str],
    as_of: dt.date,
) -> list[sa.Row[Any]]:
    engine = sa.create_engine(config["url"].format(data_dir=population.data_dir))
    statement = sa.text(sql).bindparams(sa.bindparam("subjects", expanding=True))
    parameters: dict[str, Any] = {"subjects": subjects}
    if ":as_of" in sql:
        parameters["as_of"] = as_of.isoformat()
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement, parameters))
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", SQL_CONFIGS, ids=lambda p: p.stem)
def test_config_sql_runs_against_the_population(
    path: Path, population: PopulationSummary, everyone: list[str]
) -> None:
    config = _config(path)
    found = _run(population, config, config["subjects_sql"], everyone, REFERENCE_DATE)
    subjects = {row.subject for row in found}
    assert len(subjects) == population.found[path.stem]
    assert population.samples.unknown not in subjects
    python_types = {"bool": (int,), "int64": (int,), "string": (str,), "string_list": (str,)}
    for query_name, sql in config["queries"].items():
        rows = _run(population, config, sql, everyone, REFERENCE_DATE)
        assert rows, query_name
        assert {row.subject for row in rows} <= subjects
        for name, spec in config["attributes"].items():
            if spec["query"] != query_name:
                continue
            values = [row._mapping[spec.get("column", name)] for row in rows]
            assert all(v is None or isinstance(v, python_types[spec["type"]]) for v in values)
            if spec["type"] == "bool":
                assert set(values) <= {0, 1, None}, name


def test_ages_are_whole_years_on_the_as_of_date(
    population: PopulationSummary, everyone: list[str]
) -> None:
    config = _config(AGENCY_CONFIG_DIR / "civil_registry.yaml")
    connection = sqlite3.connect(population.data_dir / "civil_registry.sqlite")
    try:
        registry = {
            row[0]: (dt.date.fromisoformat(row[1]), row[2] and dt.date.fromisoformat(row[2]))
            for row in connection.execute("SELECT national_id, birth_date, death_date FROM persons")
        }
    finally:
        connection.close()
    for as_of in (REFERENCE_DATE, dt.date(2028, 2, 29), dt.date(2031, 1, 1)):
        rows = _run(population, config, config["queries"]["person"], everyone, as_of)
        for row in rows:
            born, died = registry[row.subject]
            assert row.age_years == age_on(born, min(as_of, died or as_of))


@pytest.mark.parametrize(
    ("born", "as_of", "age"),
    [
        pytest.param("2000-02-29", "2023-02-28", 22, id="leap-birthday-not-yet"),
        pytest.param("2000-02-29", "2023-03-01", 23, id="leap-birthday-passed"),
        pytest.param("2000-02-29", "2024-02-29", 24, id="leap-birthday-on-the-day"),
        pytest.param("1990-11-21", "2026-11-20", 35, id="day-before-birthday"),
        pytest.param("1990-11-21", "2026-11-21", 36, id="on-birthday"),
        pytest.param("1990-12-31", "2027-01-01", 36, id="new-year"),
    ],
)
def test_age_sql_counts_birthdays(born: str, as_of: str, age: int, tmp_path: Path) -> None:
    database = tmp_path / "civil_registry.sqlite"
    connection = sqlite3.connect(database)
    connection.execute(
        "CREATE TABLE persons (national_id, household_id, head_of_household, sex, birth_date,"
        " death_date, alive, marital_status, province, residence)"
    )
    connection.execute(
        "INSERT INTO persons VALUES (?, 'H', 1, 'F', ?, NULL, 1, 'single', 'Qom', 'urban')",
        ("0000000001", born),
    )
    connection.commit()
    connection.close()
    config = _config(AGENCY_CONFIG_DIR / "civil_registry.yaml")
    engine = sa.create_engine(f"sqlite:///{database}")
    statement = sa.text(config["queries"]["person"]).bindparams(
        sa.bindparam("subjects", expanding=True)
    )
    try:
        with engine.connect() as c:
            (row,) = c.execute(statement, {"subjects": ["0000000001"], "as_of": as_of})
    finally:
        engine.dispose()
    assert row.age_years == age


def test_trips_count_only_the_last_twelve_months(
    population: PopulationSummary, everyone: list[str]
) -> None:
    config = _config(AGENCY_CONFIG_DIR / "border_travel.yaml")
    sql = config["queries"]["trips"]
    now = _run(population, config, sql, everyone, REFERENCE_DATE)
    later = _run(population, config, sql, everyone, REFERENCE_DATE + dt.timedelta(days=800))
    assert sum(row.foreign_trips_12m for row in now) > 0
    assert sum(row.foreign_trips_12m for row in later) == 0
    assert len(now) == len(later) == population.found["border_travel"]
