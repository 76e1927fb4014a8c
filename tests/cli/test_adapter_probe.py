"""`sakha adapter probe`: health, Describe as a table and one sample Fetch, in plaintext and
as the hub connects (mutual TLS and a fetch token); a step that fails is named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.pki.material import PkiLayout
from adapters.simulated.build import PopulationSummary, build_population
from adapters.simulated.host import SimulatedAgencies, start_simulated_agencies
from gateway.cli import main
from gateway.pki.ca import init_pki
from tests.loop_thread import loop_in_thread


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> PopulationSummary:
    """A small population for the simulated tax administration."""
    return build_population(tmp_path_factory.mktemp("population"), households=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiLayout:
    """The hub's PKI, with the tax administration's certificate."""
    return init_pki(tmp_path_factory.mktemp("pki"), agencies=("tax",))


@pytest.fixture(params=["plaintext", "mtls"])
def tax(
    request: pytest.FixtureRequest, population: PopulationSummary, pki: PkiLayout
) -> Iterator[tuple[str, list[str]]]:
    """The tax adapter serving, and the probe options that reach it."""
    tls = request.param == "mtls"
    with loop_in_thread() as run:
        agencies: SimulatedAgencies = run(
            start_simulated_agencies(population.data_dir, only={"tax"}, pki=pki if tls else None)
        )
        try:
            [(_, target)] = agencies.targets()
            options = ["--tls-dir", str(pki.folder), "--agency", "tax"] if tls else []
            yield target, options
        finally:
            run(agencies.stop(None))


def _probe(*args: str) -> tuple[int, str]:
    outcome = CliRunner().invoke(main, ["adapter", "probe", *args])
    return outcome.exit_code, outcome.output


def test_probe_shows_health_description_and_a_sample(
    tax: tuple[str, list[str]], population: PopulationSummary
) -> None:
    target, options = tax
    subject = population.samples.well_off  # a taxpayer
    assert subject is not None
    code, out = _probe("--target", target, "--subject", subject, *options)
    assert code == 0, out
    assert f"adapter at {target}: health SERVING" in out
    assert "tax — Iranian National Tax Administration" in out
    assert "annual_income" in out
    assert "int64" in out
    assert "financial" in out
    assert "sample Fetch" in out
    assert subject in out
    [found] = [line for line in out.splitlines() if line.strip().startswith("found")]
    assert "yes" in found


def test_a_probe_without_the_hub_certificate_is_refused_and_says_so(
    tax: tuple[str, list[str]], population: PopulationSummary
) -> None:
    target, options = tax
    if not options:
        pytest.skip("a plaintext adapter admits anyone")
    subject = population.samples.poor_head
    assert subject is not None
    code, out = _probe("--target", target, "--subject", subject)  # plaintext to an mTLS port
    assert code == 1
    assert "health unreachable (UNAVAILABLE" in out
    assert "Describe failed: UNAVAILABLE" in out
    assert out.splitlines()[-1] == f"Error: the adapter at {target} did not answer every step"


def test_nobody_listening_is_named(tmp_path: Path) -> None:
    del tmp_path
    code, out = _probe("--target", "127.0.0.1:9", "--subject", "0000119997")
    assert code == 1
    assert "health unreachable" in out


def test_tls_dir_needs_the_agency_id(tmp_path: Path) -> None:
    code, out = _probe("--target", "127.0.0.1:9", "--subject", "1", "--tls-dir", str(tmp_path))
    assert code == 2
    assert "--tls-dir needs --agency" in out
