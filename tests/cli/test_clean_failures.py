"""Every CLI failure is one ``Error:`` line naming what is at fault, with a documented code.

Exit codes (``sakha --help``, docs/operations.md): 0 success, 1 failure (check-batch: some
row could not be decided), 2 usage.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.simulated.build import PopulationSummary, build_population
from adapters.simulated.host import SimulatedAgencies, start_simulated_agencies
from gateway.config import AgencyEndpoint, HubConfig
from gateway.demo_security import prepare_demo_security
from gateway.hub import start_hub
from gateway.programs.loader import load_programs
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR
from tests.processes import secure_config_lines

SAKHA = [sys.executable, "-m", "gateway.cli"]
LIVELIHOOD = ("--program", "livelihood_basket", "--purpose", "livelihood_support")


async def _sakha(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *SAKHA,
        *args,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def _error_line(err: str) -> str:
    """The one ``Error:`` line; there is no traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    return errors[0]


def _hub_yaml(path: Path, agencies: list[tuple[str, str]], *extra: str) -> Path:
    lines = ["listen: 127.0.0.1:0", *extra, "agency_timeout_ms: 2000", "agencies:"]
    lines += [f"  - {{agency_id: {a}, target: '{t}'}}" for a, t in agencies]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> PopulationSummary:
    """A small population for the simulated agencies."""
    return build_population(tmp_path_factory.mktemp("population"), households=30)


@pytest_asyncio.fixture
async def agencies(population: PopulationSummary) -> AsyncIterator[SimulatedAgencies]:
    """The simulated agencies in plaintext, stopped after the test."""
    started = await start_simulated_agencies(population.data_dir)
    try:
        yield started
    finally:
        await started.stop(None)


async def test_serve_without_a_civil_registry_names_it(
    tmp_path: Path, population: PopulationSummary
) -> None:
    started = await start_simulated_agencies(population.data_dir, only={"tax"})
    try:
        config = _hub_yaml(tmp_path / "hub.yaml", started.targets(), "insecure: true")
        code, err = await _sakha("serve", "--config", str(config))
    finally:
        await started.stop(None)
    assert code == 1
    assert _error_line(err).startswith("Error: agencies: no 'civil_registry' is configured")


async def test_serve_names_an_agency_that_is_not_listening(tmp_path: Path) -> None:
    config = _hub_yaml(tmp_path / "hub.yaml", [("civil_registry", "127.0.0.1:1")], "insecure: true")
    code, err = await _sakha("serve", "--config", str(config))
    assert code == 1
    assert "agency civil_registry at 127.0.0.1:1" in _error_line(err)


async def test_serve_names_the_wrong_agency_at_an_address(
    tmp_path: Path, agencies: SimulatedAgencies
) -> None:
    tax = agencies.agencies["tax"].target
    targets = [(a, tax if a == "welfare" else t) for a, t in agencies.targets()]
    config = _hub_yaml(tmp_path / "hub.yaml", targets, "insecure: true")
    code, err = await _sakha("serve", "--config", str(config))
    assert code == 1
    line = _error_line(err)
    assert f"agency welfare at {tax}" in line
    assert "'tax'" in line


async def test_serve_names_an_unusable_tls_file(tmp_path: Path) -> None:
    programs = load_programs(BUILTIN_PROGRAMS_DIR)
    security = prepare_demo_security(tmp_path, ["civil_registry"], programs)
    pki = security.pki
    pki.hub_client_key.chmod(0o644)  # a key others can read is refused
    config = _hub_yaml(
        tmp_path / "hub.yaml",
        [("civil_registry", "127.0.0.1:1")],
        *secure_config_lines(security),
        "security: {consent: false, audit: false}",
    )
    code, err = await _sakha("serve", "--config", str(config))
    assert code == 1
    assert str(pki.hub_client_key) in _error_line(err)


async def test_serve_names_a_bad_config_key(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("listne: 1\n", encoding="utf-8")
    code, err = await _sakha("serve", "--config", str(config))
    assert code == 1
    assert "listne" in _error_line(err)


@pytest_asyncio.fixture
async def hub_port(agencies: SimulatedAgencies) -> AsyncIterator[int]:
    """An insecure hub in this process, stopped after the test."""
    endpoints = tuple(AgencyEndpoint(a, t) for a, t in agencies.targets())
    hub = await start_hub(HubConfig(listen="127.0.0.1:0", insecure=True, agencies=endpoints))
    try:
        yield hub.port
    finally:
        await hub.stop(1.0)


async def _check_batch(port: int, tmp_path: Path, *ids: str) -> tuple[int, str]:
    subjects = tmp_path / "in.csv"
    subjects.write_text("national_id\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")
    files = ("--in", str(subjects), "--out", str(tmp_path / "out.csv"))
    return await _sakha(
        "check-batch", "--insecure", "--server", f"127.0.0.1:{port}", *LIVELIHOOD, *files
    )


async def test_check_batch_exits_0_when_every_row_is_decided(
    hub_port: int, tmp_path: Path, population: PopulationSummary
) -> None:
    code, err = await _check_batch(hub_port, tmp_path, population.samples.unknown)
    assert code == 0, err


async def test_check_batch_exits_1_when_a_row_errored(
    hub_port: int, tmp_path: Path, population: PopulationSummary
) -> None:
    code, err = await _check_batch(hub_port, tmp_path, population.samples.unknown, "123")
    assert code == 1
    assert "1 of 2 rows could not be decided" in _error_line(err)


async def test_check_batch_exits_2_on_a_usage_error(tmp_path: Path) -> None:
    code, err = await _sakha("check-batch", "--insecure", "--in", str(tmp_path / "none.csv"))
    assert code == 2
    assert "Traceback" not in err


async def test_a_bad_log_level_is_named() -> None:
    code, err = await _sakha("programs", "list", env={"SAKHA_LOG_LEVEL": "LOUD"})
    assert code == 1
    assert _error_line(err) == (
        "Error: SAKHA_LOG_LEVEL='LOUD': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
