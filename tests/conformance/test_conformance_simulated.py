"""Every simulated agency passes the conformance kit as the hub connects (mutual TLS, fetch
tokens), and the command line reports it, with JUnit XML for CI."""

from __future__ import annotations

import asyncio
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.pki.material import PkiLayout
from adapters.sdk import Adapter, FetchQuery
from adapters.simulated.build import PopulationSummary, build_population
from adapters.simulated.catalogue import agency_config_paths
from adapters.simulated.host import SimulatedAgencies, start_simulated_agencies
from gateway.adapter_connection import AdapterConnection
from gateway.cli import main
from gateway.conformance import Verdict, run_conformance
from gateway.pki.ca import init_pki
from tests.loop_thread import loop_in_thread

AGENCIES = tuple(sorted(path.stem for path in agency_config_paths()))


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> PopulationSummary:
    """A population large enough that every agency holds someone in it."""
    return build_population(tmp_path_factory.mktemp("population"), households=1000)


@pytest.fixture(scope="module")
def everyone(population: PopulationSummary) -> tuple[str, ...]:
    """Every person the civil registry knows, the deceased included."""
    with sqlite3.connect(population.data_dir / "civil_registry.sqlite") as db:
        return tuple(row[0] for row in db.execute("SELECT national_id FROM persons"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiLayout:
    """The hub's PKI with every simulated agency's certificate."""
    return init_pki(tmp_path_factory.mktemp("pki"), agencies=AGENCIES)


@pytest.fixture(scope="module")
def agencies(
    population: PopulationSummary, pki: PkiLayout, everyone: tuple[str, ...]
) -> Iterator[tuple[SimulatedAgencies, dict[str, tuple[str, ...]]]]:
    """All 30 simulated agencies, over mutual TLS, on a loop of their own, and up to 40
    subjects each holds (asked of its adapter directly)."""
    with loop_in_thread() as run:
        started: SimulatedAgencies = run(start_simulated_agencies(population.data_dir, pki=pki))
        try:
            held = {a: run(_held(r.adapter, everyone)) for a, r in started.agencies.items()}
            yield started, held
        finally:
            run(started.stop(None))


async def _held(adapter: Adapter, everyone: tuple[str, ...]) -> tuple[str, ...]:
    found = (await adapter.fetch(FetchQuery(subjects=everyone))).found
    return tuple(s for s, held in zip(everyone, found, strict=True) if held)[:40]


@pytest.mark.parametrize("agency_id", AGENCIES)
def test_every_simulated_agency_passes_as_the_hub_connects(
    agency_id: str,
    agencies: tuple[SimulatedAgencies, dict[str, tuple[str, ...]]],
    pki: PkiLayout,
    population: PopulationSummary,
) -> None:
    running, held = agencies
    connection = AdapterConnection(dict(running.targets())[agency_id], pki, agency_id)
    subjects = held[agency_id]
    report = asyncio.run(run_conformance(connection, subjects, unknown=population.samples.unknown))
    failed = [(r.name, r.detail) for r in report.results if r.verdict is Verdict.FAILED]
    assert not failed
    skipped = {r.name for r in report.results if r.verdict is Verdict.SKIPPED}
    assert not {name for name in skipped if name.startswith(("tls.", "token."))}
    assert report.count(Verdict.PASSED) >= 20


def test_the_command_prints_one_line_per_case_and_writes_junit(
    agencies: tuple[SimulatedAgencies, dict[str, tuple[str, ...]]],
    pki: PkiLayout,
    population: PopulationSummary,
    tmp_path: Path,
) -> None:
    target = dict(agencies[0].targets())["tax"]
    subject = population.samples.well_off
    assert subject is not None
    junit = tmp_path / "conformance.xml"
    outcome = CliRunner().invoke(
        main,
        [
            "adapter", "conformance", "--target", target, "--subject", subject,
            "--tls-dir", str(pki.folder), "--agency", "tax", "--junit", str(junit),
        ],
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    assert lines[0] == f"conformance of tax at {target} (mutual TLS)"
    assert any(line.split()[:2] == ["PASS", "token.forged"] for line in lines)
    assert lines[-1].endswith("0 failed, 0 skipped")
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own file
    assert suite is not None
    assert suite.get("failures") == "0"
    names = [case.get("name") for case in suite.iter("testcase")]
    assert len(names) == len(lines) - 2
    assert "type annual_income" in names


def test_a_failing_adapter_exits_1_and_junit_names_the_case(
    agencies: tuple[SimulatedAgencies, dict[str, tuple[str, ...]]],
    population: PopulationSummary,
    tmp_path: Path,
) -> None:
    target = dict(agencies[0].targets())["tax"]  # mutual TLS: a plaintext caller is refused
    junit = tmp_path / "conformance.xml"
    subject = population.samples.well_off
    assert subject is not None
    outcome = CliRunner().invoke(
        main,
        ["adapter", "conformance", "--target", target, "--subject", subject, "--junit", str(junit)],
    )
    assert outcome.exit_code == 1
    assert "FAIL  health" in outcome.output
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own file
    assert suite is not None
    failures = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failures == ["health", "describe"]


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--subject", "12345", "NATIONAL_ID_LENGTH"),
        ("--subject", "1234567890", "NATIONAL_ID_CHECK_DIGIT"),
        ("--unknown-subject", "۱۲۳۴۵۶۷۸۹۱", "NATIONAL_ID_NOT_ASCII_DIGITS"),
    ],
)
def test_a_bad_national_id_is_refused_before_connecting(
    option: str, value: str, reason: str
) -> None:
    args = ["adapter", "conformance", "--target", "127.0.0.1:1", "--subject", "1234567891"]
    if option == "--subject":
        args[-1] = value
    else:
        args += [option, value]
    outcome = CliRunner().invoke(main, args)
    assert outcome.exit_code == 2
    assert reason in outcome.output
    assert option in outcome.output
