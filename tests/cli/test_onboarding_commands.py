"""The commands a new agency's connection takes: ``sakha pki issue-agency`` gives it a
certificate and a folder holding nothing else of the hub's, and ``sakha programs test``
tests a program using it, from its adapter file or its running adapter."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from adapters.memory import MemoryAdapter
from adapters.pki.material import PkiLayout, load_certificate
from adapters.server import create_adapter_server
from gateway.cli import main
from gateway.pki.ca import init_pki
from tests.conformance.adapters_under_test import AGENCY_ID, DESCRIPTION
from tests.loop_thread import loop_in_thread

PROGRAM = {
    "id": "food_parcels",
    "version": "2026.1",
    "title": {"en": "Food parcels", "fa": "بسته غذایی"},
    "description": {"en": "Parcels for the registered.", "fa": "بسته برای ثبت‌نام‌شدگان."},
    "need_category": "financial",
    "unit": "person",
    "legal_basis": {
        "kind": "consent",
        "consent": {"max_validity_days": 30, "fetch_type": "ONE_TIME", "max_data_life_days": 1},
    },
    "purposes": ["food_support"],
    "facts": {
        "registered": {"aggregate": "any", "attributes": ["food_bank.registered"], "absent": False}
    },
    "rules": [
        {
            "id": "registered",
            "expr": "registered",
            "pass": {"code": "REGISTERED", "en": "Registered.", "fa": "ثبت‌نام شده."},
            "fail": {"code": "NOT_REGISTERED", "en": "Not registered.", "fa": "ثبت‌نام نشده."},
        }
    ],
    "tests": [
        {
            "name": "a registered person is eligible",
            "as_of": "2026-06-01",
            "members": [{"food_bank.registered": True}],
            "expect": {"decision": "eligible"},
        }
    ],
}


@pytest.fixture
def programs_dir(tmp_path: Path) -> Path:
    """A folder with one program reading the food bank."""
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "food_parcels.yaml").write_text(yaml.safe_dump(PROGRAM, allow_unicode=True), "utf-8")
    return folder


@pytest.fixture
def food_bank_yaml(tmp_path: Path) -> Path:
    """The food bank's adapter file (its CSV export does not exist: describing needs none)."""
    path = tmp_path / "food_bank.yaml"
    config = {
        "agency_id": AGENCY_ID,
        "name": "Provincial Food Bank",
        "csv": "{exports}/food_bank.csv",
        "attributes": {"registered": {"type": "bool", "sensitivity": "personal"}},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _programs_test(programs_dir: Path, *options: str) -> tuple[int, str]:
    outcome = CliRunner().invoke(
        main, ["programs", "test", "--programs-dir", str(programs_dir), *options]
    )
    return outcome.exit_code, outcome.output


def test_a_program_of_an_unknown_agency_fails_without_it(programs_dir: Path) -> None:
    code, out = _programs_test(programs_dir)
    assert code == 1
    assert "no agency 'food_bank' is connected (a new agency: add it with --agencies" in out


def test_programs_test_takes_the_agency_from_its_adapter_file(
    programs_dir: Path, food_bank_yaml: Path
) -> None:
    code, out = _programs_test(programs_dir, "--agencies", str(food_bank_yaml))
    assert code == 0, out
    assert out.splitlines()[-1] == "1 test cases of 1 program: 1 passed, 0 failed"


@pytest.fixture
def running_food_bank() -> Iterator[str]:
    """The food bank's adapter, serving plaintext on a loop of its own."""
    with loop_in_thread() as run:
        server, port = run(create_adapter_server(MemoryAdapter(DESCRIPTION, {})))
        try:
            yield f"127.0.0.1:{port}"
        finally:
            run(server.stop(None))


def test_programs_test_asks_a_running_adapter(programs_dir: Path, running_food_bank: str) -> None:
    code, out = _programs_test(programs_dir, "--describe-from", running_food_bank)
    assert code == 0, out
    named = f"{AGENCY_ID}={running_food_bank}"
    assert _programs_test(programs_dir, "--describe-from", named)[0] == 0
    code, out = _programs_test(programs_dir, "--describe-from", f"water={running_food_bank}")
    assert code == 1
    assert "is 'food_bank', not 'water'" in out


def test_describe_from_nothing_listening_says_so(programs_dir: Path) -> None:
    code, out = _programs_test(programs_dir, "--describe-from", "127.0.0.1:1")
    assert code == 1
    assert "the adapter at 127.0.0.1:1 did not describe itself: UNAVAILABLE" in out


def test_issue_agency_certifies_and_exports_only_what_the_agency_needs(tmp_path: Path) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=("civil_registry",))
    bundle = tmp_path / "food_bank-tls"
    outcome = CliRunner().invoke(
        main, ["pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--out", str(bundle)]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "spiffe://sakha/agency/food_bank (DNS food-bank.agency.sakha)" in outcome.output
    assert f"--tls-dir {bundle}" in outcome.output
    files = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    assert files == [
        "agencies/food_bank.key",
        "agencies/food_bank.pem",
        "ca.pem",
        "fetch-token-keys.json",
    ]
    exported = PkiLayout(bundle)
    assert stat.S_IMODE(exported.agency_key(AGENCY_ID).stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert exported.agency_cert(AGENCY_ID).read_bytes() == hub.agency_cert(AGENCY_ID).read_bytes()
    assert load_certificate(exported.ca_cert) == load_certificate(hub.ca_cert)
    again = CliRunner().invoke(
        main, ["pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--out", str(bundle)]
    )
    assert again.exit_code == 0  # kept: still valid
    assert exported.agency_cert(AGENCY_ID).read_bytes() == hub.agency_cert(AGENCY_ID).read_bytes()


@pytest.mark.parametrize(
    ("agency_id", "message"),
    [("Food-Bank", "must be 1-63 of [a-z0-9_]"), ("food_bank_", "not end with _")],
)
def test_issue_agency_refuses_a_bad_id(tmp_path: Path, agency_id: str, message: str) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=())
    outcome = CliRunner().invoke(
        main,
        ["pki", "issue-agency", agency_id, "--pki", str(hub.folder), "--out", str(tmp_path / "b")],
    )
    assert outcome.exit_code == 1
    assert message in outcome.output
    assert not (tmp_path / "b").exists()


def test_issue_agency_refuses_the_hubs_own_folder_as_the_bundle(tmp_path: Path) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=())
    outcome = CliRunner().invoke(
        main, ["pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--out", str(hub.folder)]
    )
    assert outcome.exit_code == 1
    assert "must not be the hub's PKI folder" in outcome.output
