"""Facts about a built population, read back from its databases: counts and sample subjects.

The samples are chosen by querying what was generated (not by trusting the generator), so the
demo can show one subject of each interesting kind and be right about it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from adapters.simulated.model import AID_AGENCY_NEEDS, BANKS, NEEDS, REFERENCE_DATE
from adapters.simulated.records import agency_stores

# Well inside the livelihood basket's limits, so the sample stays eligible as they change.
_POOR_MAX_VEHICLES = 3_000_000_000
_POOR_MAX_PROPERTIES = 1
_POOR_MAX_DEPOSITS = 1_000_000_000


@dataclass(frozen=True)
class SampleSubjects:
    """One subject of each kind the demo shows; None when the population has none."""

    poor_head: str | None
    """Head of a bottom-decile household with no car, property or savings to speak of."""
    well_off: str | None
    """Head of the household with the highest income per person."""
    severe_disability: str | None
    """A person with a severe disability (health-insured, when there is one)."""
    rural_head: str | None
    """Head of the largest rural household."""
    overlap_head: str | None
    """Head of a household two aid agencies support for the same need."""
    deceased: str | None
    unknown: str
    """A valid national ID that no agency knows."""

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(label, national ID)`` for each sample present, so ``dict(samples)`` reads well."""
        for field in dataclasses.fields(self):
            national_id = getattr(self, field.name)
            if national_id is not None:
                yield _LABELS[field.name], national_id


_LABELS = MappingProxyType(
    {
        "poor_head": "head of a poor household (likely eligible for the livelihood basket)",
        "well_off": "head of the best-off household (likely ineligible)",
        "severe_disability": "person with a severe disability",
        "rural_head": "head of a large rural household",
        "overlap_head": "head of a household two aid agencies support for the same need",
        "deceased": "deceased person",
        "unknown": "valid national ID that no agency knows",
    }
)


@dataclass(frozen=True)
class PopulationFacts:
    """What the databases of one population hold, in numbers and samples."""

    found: dict[str, int]
    """Agency id -> how many distinct persons it knows."""
    overlap_households: int
    samples: SampleSubjects


class _Databases:
    """Read connections to a population's databases, opened on first use."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._open: dict[str, sqlite3.Connection] = {}

    def __call__(self, agency_id: str) -> sqlite3.Connection:
        if agency_id not in self._open:
            path = self._data_dir / f"{agency_id}.sqlite"
            self._open[agency_id] = sqlite3.connect(read_only_uri(path), uri=True)
        return self._open[agency_id]

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()


@contextlib.contextmanager
def _databases(data_dir: Path) -> Iterator[_Databases]:
    databases = _Databases(data_dir)
    try:
        yield databases
    finally:
        databases.close()


def read_only_uri(path: Path) -> str:
    """An SQLite URI that opens ``path`` read-only (any character in the path is escaped)."""
    return f"{path.resolve().as_uri()}?mode=ro"


def read_facts(data_dir: Path, outsider: str) -> PopulationFacts:
    """Count and sample the population in ``data_dir``; ``outsider`` is a never-issued ID.

    Raises:
        RuntimeError: ``outsider`` is known to the civil registry.
    """
    with _databases(data_dir) as db:
        found = {
            store.agency_id: int(
                db(store.agency_id).execute(store.count_subjects_sql).fetchone()[0]
            )
            for store in agency_stores()
        }
        known = db("civil_registry").execute(
            "SELECT 1 FROM persons WHERE national_id = ?", (outsider,)
        )
        if known.fetchone() is not None:
            raise RuntimeError("the outsider national ID belongs to the population")
        heads = _heads(db)
        by_need = {need: persons & heads for need, persons in _overlaps(db).items()}
        overlap = set().union(*by_need.values())
        # Financial overlap first: the waste the agencies most want to find.
        overlap_head = next((min(by_need[n]) for n in NEEDS if by_need[n]), None)
        samples = SampleSubjects(
            poor_head=_poor_head(db, heads),
            well_off=_richest_head(db, heads),
            severe_disability=_severely_disabled(db),
            rural_head=_first(
                db("civil_registry"),
                "SELECT p.national_id FROM persons AS p"
                " JOIN persons AS m ON m.household_id = p.household_id"
                " WHERE p.head_of_household = 1 AND p.residence = 'rural'"
                " GROUP BY p.national_id ORDER BY COUNT(*) DESC, p.national_id LIMIT 1",
            ),
            overlap_head=overlap_head,
            deceased=_first(
                db("civil_registry"),
                "SELECT national_id FROM persons WHERE alive = 0 ORDER BY national_id LIMIT 1",
            ),
            unknown=outsider,
        )
    return PopulationFacts(found=found, overlap_households=len(overlap), samples=samples)


def _first(connection: sqlite3.Connection, sql: str) -> str | None:
    row = connection.execute(sql).fetchone()
    return None if row is None else str(row[0])


def _heads(db: _Databases) -> set[str]:
    rows = db("civil_registry").execute(
        "SELECT national_id FROM persons WHERE head_of_household = 1 AND alive = 1"
    )
    return {str(national_id) for (national_id,) in rows}


def _overlaps(db: _Databases) -> dict[str, set[str]]:
    """Need -> persons whom two or more agencies support for that need.

    Aid agencies list every member of a household they support, so a head on two agencies'
    lists for one need stands for a household supported twice.
    """
    overlaps: dict[str, set[str]] = {}
    for need in NEEDS:
        seen: set[str] = set()
        overlaps[need] = set()
        for agency_id, needs in AID_AGENCY_NEEDS.items():
            if need not in needs:
                continue
            table = _single_table(agency_id)
            rows = db(agency_id).execute(
                f"SELECT national_id FROM {table} WHERE supports_{need} = 1"  # noqa: S608 - our own names
            )
            supported = {str(national_id) for (national_id,) in rows}
            overlaps[need] |= seen & supported
            seen |= supported
    return overlaps


def _single_table(agency_id: str) -> str:
    (store,) = (s for s in agency_stores() if s.agency_id == agency_id)
    (table,) = store.tables
    return table.name


def _severely_disabled(db: _Databases) -> str | None:
    """The most severely disabled person, preferring one with health insurance in force."""
    rows = db("welfare").execute(
        "SELECT national_id FROM clients WHERE disability_severity >= 3"
        " ORDER BY disability_severity DESC, national_id"
    )
    severe = [str(national_id) for (national_id,) in rows]
    insured = db("health_insurance").execute
    for national_id in severe:
        if insured(
            "SELECT 1 FROM policies WHERE national_id = ? AND insured = 1", (national_id,)
        ).fetchone():
            return national_id
    return severe[0] if severe else None


def _richest_head(db: _Databases, heads: set[str]) -> str | None:
    """The head of the household with the highest income per person."""
    rows = db("subsidy_org").execute(
        "SELECT b.national_id FROM households AS h"
        " JOIN beneficiaries AS b ON b.household_id = h.household_id"
        " ORDER BY h.income_per_person DESC, h.household_id"
    )
    return next((str(national_id) for (national_id,) in rows if national_id in heads), None)


def _poor_head(db: _Databases, heads: set[str]) -> str | None:
    """The first bottom-decile head whose household owns little and has not travelled."""
    candidates = db("subsidy_org").execute(
        "SELECT b.national_id, b.household_id FROM households AS h"
        " JOIN beneficiaries AS b ON b.household_id = h.household_id"
        " WHERE h.income_decile = 1 AND h.cash_subsidy = 1 ORDER BY b.national_id"
    )
    for national_id, household_id in candidates:
        if national_id not in heads:
            continue
        members = [
            str(m)
            for (m,) in db("civil_registry").execute(
                "SELECT national_id FROM persons WHERE household_id = ?", (household_id,)
            )
        ]
        if _owns_little(db, members):
            return str(national_id)
    return None


def _owns_little(db: _Databases, members: Sequence[str]) -> bool:
    marks = ", ".join("?" * len(members))
    year_ago = (REFERENCE_DATE - dt.timedelta(days=365)).isoformat()

    def total(agency_id: str, sql: str, *extra: str) -> int:
        row = db(agency_id).execute(sql.format(marks=marks), (*members, *extra)).fetchone()
        return int(row[0] or 0)

    vehicles = total(
        "vehicle_registry", "SELECT SUM(value) FROM vehicles WHERE owner_national_id IN ({marks})"
    )
    properties = total(
        "land_registry", "SELECT COUNT(*) FROM deeds WHERE owner_national_id IN ({marks})"
    )
    trips = total(
        "border_travel",
        "SELECT COUNT(*) FROM trips WHERE national_id IN ({marks}) AND exit_date > ?",
        year_ago,
    )
    deposits = sum(
        total(bank, "SELECT SUM(deposit_balance) FROM customers WHERE national_id IN ({marks})")
        for bank in BANKS
    )
    return (
        vehicles <= _POOR_MAX_VEHICLES
        and properties <= _POOR_MAX_PROPERTIES
        and trips == 0
        and deposits <= _POOR_MAX_DEPOSITS
    )
