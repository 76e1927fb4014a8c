"""Fixtures for the simulated-agency tests: one small built population, shared by the session.

200 households (about 650 persons) build in a fraction of a second and still hold every kind
of household, poor and rich, rural and urban, supported and not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.simulated.build import PopulationSummary, build_population

SEED = 1404
HOUSEHOLDS = 200

Query = Callable[..., list[tuple[Any, ...]]]
"""``query(agency_id, sql, *params)``: every row of ``sql`` in that agency's database."""


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> PopulationSummary:
    """The session's population: 200 households, seed 1404."""
    return build_population(tmp_path_factory.mktemp("population"), households=HOUSEHOLDS, seed=SEED)


@pytest.fixture(scope="session")
def query(population: PopulationSummary) -> Iterator[Query]:
    """Run read-only SQL against one agency's database of the session's population."""
    connections: dict[str, sqlite3.Connection] = {}

    def run(agency_id: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
        if agency_id not in connections:
            path = Path(population.data_dir) / f"{agency_id}.sqlite"
            connections[agency_id] = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return connections[agency_id].execute(sql, params).fetchall()

    yield run
    for connection in connections.values():
        connection.close()
