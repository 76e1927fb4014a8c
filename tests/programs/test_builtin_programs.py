"""The programs Sakha ships: they load, their in-file cases pass, the agencies can serve them."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.simulated.catalogue import agency_config_paths, load_simulated_agency
from gateway.engine.catalogue import Catalogue
from gateway.engine.outcome import Decision
from gateway.programs.loader import ProgramRegistry, load_programs
from gateway.programs.model import LegalBasisKind, NeedCategory, ProgramUnit
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR
from gateway.programs.testing import run_program_tests, simulated_catalogue

SHIPPED = {
    "livelihood_basket": (ProgramUnit.HOUSEHOLD, NeedCategory.FINANCIAL, LegalBasisKind.CONSENT),
    "epidemic_cash_relief": (ProgramUnit.HOUSEHOLD, NeedCategory.FINANCIAL, LegalBasisKind.MANDATE),
    "rural_housing_support": (
        ProgramUnit.HOUSEHOLD,
        NeedCategory.FINANCIAL,
        LegalBasisKind.CONSENT,
    ),
    "disability_care_grant": (ProgramUnit.PERSON, NeedCategory.MEDICAL, LegalBasisKind.CONSENT),
    "aid_overlap_check": (ProgramUnit.HOUSEHOLD, NeedCategory.SOCIAL_WORK, LegalBasisKind.MANDATE),
}

each_program = pytest.mark.parametrize("program_id", sorted(SHIPPED))


@pytest.fixture(scope="module")
def registry() -> ProgramRegistry:
    """The shipped programs, loaded as the hub loads them."""
    return load_programs(BUILTIN_PROGRAMS_DIR)


@pytest.fixture(scope="module")
def simulated_agencies(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """The catalogue of the 30 simulated agencies, from their adapter configs."""
    data_dir = tmp_path_factory.mktemp("data")
    return Catalogue.from_descriptions(
        load_simulated_agency(path, data_dir).describe() for path in agency_config_paths()
    )


def test_the_five_programs_ship(registry: ProgramRegistry) -> None:
    assert {p.id for p in registry.all()} == set(SHIPPED)
    assert {p.stem for p in Path(BUILTIN_PROGRAMS_DIR).glob("*.yaml")} == set(SHIPPED)


@each_program
def test_a_shipped_program_has_its_metadata_in_both_languages(
    registry: ProgramRegistry, program_id: str
) -> None:
    program = registry.get(program_id)
    unit, need, basis = SHIPPED[program_id]
    assert (program.unit, program.need_category, program.legal_basis.kind) == (unit, need, basis)
    texts = [program.title, program.description]
    texts += [r.on_pass.text for r in program.rules] + [r.on_fail.text for r in program.rules]
    assert all(t.en.strip() and t.fa.strip() for t in texts)
    assert "caseload_review" in program.purposes


@each_program
def test_a_shipped_program_tests_a_source_failure_and_a_boundary(
    registry: ProgramRegistry, program_id: str
) -> None:
    cases = registry.get(program_id).tests
    assert len(cases) >= 4
    undetermined = Decision.UNDETERMINED.value
    assert any(c.unavailable and c.expect.decision == undetermined for c in cases)
    assert any("boundary" in c.name for c in cases)


@each_program
def test_a_shipped_programs_cases_pass_on_the_documented_catalogue(
    registry: ProgramRegistry, program_id: str, documented_catalogue: Catalogue
) -> None:
    program = registry.get(program_id)
    documented_catalogue.validate(program)
    results = run_program_tests(program, documented_catalogue)
    assert [f"{r.name}: {r.message}" for r in results if not r.passed] == []


@each_program
def test_a_shipped_programs_cases_pass_on_the_simulated_agencies(
    registry: ProgramRegistry, program_id: str, simulated_agencies: Catalogue
) -> None:
    program = registry.get(program_id)
    simulated_agencies.validate(program)
    results = run_program_tests(program, simulated_agencies)
    assert [f"{r.name}: {r.message}" for r in results if not r.passed] == []


def test_the_simulated_catalogue_helper_reads_the_same_agencies(
    simulated_agencies: Catalogue,
) -> None:
    assert simulated_catalogue().agency_ids == simulated_agencies.agency_ids
    assert len(simulated_agencies.agency_ids) == 30
