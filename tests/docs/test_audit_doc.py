"""``docs/audit.md`` is true: its examples are real, its commands run, its tables match the code.

The example entry is a valid v1 entry with exactly the documented fields; the example
checkpoint and verifier key are what the log signs for the guide's sample log (a fixed
test key), and the example report is what ``sakha audit verify`` prints for the guide's
tampering; the root-recomputing script agrees with the signed checkpoint; every command
line parses; the findings and caveats tables list exactly the verifier's codes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import runpy
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ed25519

from audit import Signer, Verifier, canonical_bytes, entry_from_json, open_checkpoint
from audit.bundle import export_bundle
from audit.migrations import AUDIT_MIGRATIONS
from audit.store import AuditStore
from audit.verify import Caveat, Tamper
from consent.store import sqlite_url_text
from gateway.cli import main
from tests.audit_service.conftest import ORIGIN, fill
from tests.docs.guide import code, commands, parses, table
from tests.docs.test_docs_examples import example

GUIDE = "audit.md"
TEST_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
"""The sample log's checkpoint key: fixed, so the guide's signed note is reproducible."""


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    """The guide's sample log: five entries, checkpoints at sizes 3 and 5."""
    url = sqlite_url_text(str(tmp_path / "audit.sqlite"))
    AUDIT_MIGRATIONS.upgrade(url)
    store = AuditStore.open(url, origin=ORIGIN, create=True)
    try:
        fill(store, Signer(ORIGIN, TEST_KEY))
    finally:
        store.close()
    return url


@pytest.fixture
def bundle(tmp_path: Path, log_url: str) -> Path:
    """The sample log, exported."""
    store = AuditStore.open(log_url, origin=ORIGIN)
    try:
        export_bundle(store, tmp_path / "bundle")
    finally:
        store.close()
    return tmp_path / "bundle"


def test_the_example_entry_is_a_valid_entry_with_the_documented_fields() -> None:
    document = json.loads(example(GUIDE, "audit-entry-example"))
    entry = entry_from_json(document)
    assert json.loads(canonical_bytes(entry)) == document
    listed = [
        name for row in table(GUIDE, "What is logged") for name in re.findall(r"`(\w+)`", row[0])
    ]
    assert sorted(listed) == sorted(document)


def test_the_example_checkpoint_is_what_the_sample_log_signs(bundle: Path) -> None:
    note = example(GUIDE, "audit-checkpoint-example").encode()
    assert (bundle / "checkpoints" / "5.note").read_bytes() == note
    vkey = example(GUIDE, "audit-vkey-example").strip()
    assert vkey == Signer(ORIGIN, TEST_KEY).verifier().key_string
    checkpoint = open_checkpoint(note, Verifier.parse(vkey), origin=ORIGIN)
    assert checkpoint.size == 5


def test_the_recompute_script_gives_the_signed_root(
    bundle: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = bundle.parent / "root.py"
    script.write_text(example(GUIDE, "audit-recompute-root"), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(script), str(bundle)])
    runpy.run_path(str(script), run_name="__main__")
    size, root = capsys.readouterr().out.split()
    lines = (bundle / "checkpoints" / "5.note").read_text(encoding="utf-8").splitlines()
    assert (size, root) == (lines[1], lines[2])
    assert len(base64.b64decode(root)) == 32


def test_the_example_report_is_what_verify_prints_for_a_changed_entry(bundle: Path) -> None:
    entries = bundle / "entries.jsonl"
    lines = entries.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"req-1"', b'"req-9"')
    entries.write_bytes(b"".join(lines))
    vkey = example(GUIDE, "audit-vkey-example").strip()
    result = CliRunner().invoke(main, ["audit", "verify", "--bundle", str(bundle), "--vkey", vkey])
    assert result.exit_code == 1
    printed = result.stdout.splitlines()
    documented = example(GUIDE, "audit-verify-output").splitlines()
    assert printed[: len(documented)] == documented


def test_the_reading_commands_parse() -> None:
    for words in commands(GUIDE, "audit-read-commands"):
        parses(words)


OFFLINE = {"export", "verify"}
DOCUMENTED_DB = "sqlite:////var/lib/sakha/audit.sqlite"


def test_the_export_and_verify_commands_run_on_the_sample_log(
    tmp_path: Path, log_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offline commands run as written (on the sample log's database); the two that
    ask the hub parse."""
    store = AuditStore.open(log_url, origin=ORIGIN)
    try:
        latest = store.latest_checkpoint()
    finally:
        store.close()
    assert latest is not None
    work = tmp_path / "auditor"
    work.mkdir()
    (work / "kept-2026-03-01.note").write_bytes(latest.note)
    monkeypatch.chdir(work)
    ran = []
    for words in commands(GUIDE, "audit-export-commands"):
        if words[1] not in OFFLINE:
            parses(words)
            continue
        on_sample = [log_url if word == DOCUMENTED_DB else word for word in words]
        result = CliRunner().invoke(main, on_sample)
        assert result.exit_code == 0, result.output
        ran.append(words[1])
    assert ran == ["export", "export", "verify", "verify"]
    assert os.listdir(work / "bundle-part")


def test_the_findings_table_lists_every_kind_of_tampering_once() -> None:
    kinds = [code(row[0]) for row in table(GUIDE, "What a finding means")]
    assert sorted(kinds) == sorted(Tamper)
    assert len(kinds) == len(set(kinds))


def test_the_caveats_table_lists_every_caveat_once() -> None:
    caveats = [code(row[0]) for row in table(GUIDE, "Caveats")]
    assert sorted(caveats) == sorted(Caveat)
    assert len(caveats) == len(set(caveats))
