"""docs/adapters.md keeps up with the code: the conformance cases it lists are the kit's,
and its commands parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.pki.material import PkiLayout, load_certificate, load_private_key
from gateway.cli import main
from gateway.conformance.kit import FETCH_CASES, FIRST_CASES, REQUEST_CASES, TLS_CASES
from gateway.pki.ca import init_pki
from tests.docs.guide import code, commands, parses, table

PER_ATTRIBUTE = ("type ‹attribute›", "predicates ‹attribute›")
SERVER_PKI = "/etc/sakha/pki"  # the examples' PKI folder, on a server; a new one here


def test_the_conformance_table_lists_every_case_in_the_order_they_run() -> None:
    listed = [code(row[0]) for row in table("adapters.md", "Checking it against the contract")]
    fixed = [case.name for case in (*FIRST_CASES, *FETCH_CASES)]
    after = [case.name for case in (*REQUEST_CASES, *TLS_CASES)]
    assert listed == [*fixed, *PER_ATTRIBUTE, *after]


@pytest.mark.parametrize("tag", ["adapter-conformance-commands"])
def test_the_documented_commands_parse(tag: str, tmp_path: Path) -> None:
    for words in commands("adapters.md", tag):
        parses([str(tmp_path) if word == SERVER_PKI else word for word in words])


def test_the_signing_request_commands_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    init_pki(tmp_path / "hub-pki", agencies=())
    for words in commands("adapters.md", "wiring-csr"):
        outcome = CliRunner().invoke(main, words)
        assert outcome.exit_code == 0, outcome.output
    reply = PkiLayout(tmp_path / "food_bank-reply")
    key = PkiLayout(tmp_path / "food_bank-tls").agency_key("food_bank")
    assert load_certificate(reply.agency_cert("food_bank")).public_key() == (
        load_private_key(key).public_key()
    )
    assert not reply.agency_key("food_bank").exists()
