"""Each simulated agency, served by the generic SQL adapter (the welfare organisation by the
HTTP/JSON one, in front of its web service), answers fetches."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from adapters.sdk import AgencyDescription, FetchQuery, FetchResult, Predicate, PredicateOperator
from adapters.simulated.build import PopulationSummary
from adapters.simulated.catalogue import WEB_SERVICES, agency_config_paths, load_simulated_agency
from adapters.simulated.model import REFERENCE_DATE


def _registered(population: PopulationSummary) -> tuple[str, ...]:
    """Everyone in the civil registry, the deceased included."""
    registry = sqlite3.connect(population.data_dir / "civil_registry.sqlite")
    try:
        rows = registry.execute("SELECT national_id FROM persons ORDER BY national_id")
        return tuple(row[0] for row in rows)
    finally:
        registry.close()


@pytest.mark.parametrize("path", agency_config_paths(), ids=lambda p: p.stem)
async def test_agency_answers_a_fetch(path: Path, population: PopulationSummary) -> None:
    start_service = WEB_SERVICES.get(path.stem)
    with contextlib.ExitStack() as stack:
        services = {}
        if start_service is not None:
            service = stack.enter_context(start_service(population.data_dir))
            services[path.stem] = service.url
        result, description = await _fetch_from(path, population, services)
    assert description.agency_id == path.stem
    assert result.found == [True, False]
    assert all(column[1] is None for column in result.values.values())
    assert any(column[0] is not None for column in result.values.values())


async def _fetch_from(
    path: Path, population: PopulationSummary, services: dict[str, str]
) -> tuple[FetchResult, AgencyDescription]:
    adapter = load_simulated_agency(path, population.data_dir, services)
    try:
        description = adapter.describe()
        everyone = _registered(population)
        found = (await adapter.fetch(FetchQuery(subjects=everyone))).found
        assert sum(found) == population.found[path.stem]
        known = everyone[found.index(True)]
        query = FetchQuery(
            subjects=(known, population.samples.unknown),
            attributes=tuple(spec.name for spec in description.attributes),
            as_of=REFERENCE_DATE,
        )
        return await adapter.fetch(query), description
    finally:
        await adapter.close()


async def test_civil_registry_answers_households_and_predicates(
    population: PopulationSummary,
) -> None:
    path = next(p for p in agency_config_paths() if p.stem == "civil_registry")
    adapter = load_simulated_agency(path, population.data_dir)
    head = population.samples.rural_head
    assert head is not None
    try:
        result = await adapter.fetch(
            FetchQuery(
                subjects=(head,),
                attributes=("household_members", "residence", "head_of_household", "age_years"),
                predicates=(Predicate("age_years", PredicateOperator.GE, 18),),
                as_of=REFERENCE_DATE,
            )
        )
    finally:
        await adapter.close()
    members = result.values["household_members"][0]
    assert isinstance(members, tuple)
    assert head in members
    assert list(members) == sorted(members)
    assert len(members) >= 2
    assert result.values["residence"] == ["rural"]
    assert result.values["head_of_household"] == [True]
    assert result.predicates == [[True]]
