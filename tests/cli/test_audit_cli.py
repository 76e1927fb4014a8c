"""``sakha audit checkpoint | vkey | query | report | proof``.

The commands run in-process (click's CliRunner) against an AuditService on 127.0.0.1 port 0,
served from a thread of its own (the CLI runs its own event loop), on a SQLite log filled as
in tests/audit_service. The CLI's ``--insecure`` sends no token, so the test server puts one
fixed auditor behind every call (the ConsentService CLI tests' :class:`UnsafeFixedCaller`);
the service's authentication is tested in tests/audit_service.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric import ed25519
from sakha.v1 import audit_pb2_grpc

from audit import Signer, Verifier, canonical_bytes, leaf_hash, open_checkpoint, verify_inclusion
from audit.migrations import AUDIT_MIGRATIONS
from audit.store import AuditStore
from consent.database import sqlite_url, sqlite_url_text
from consent.migrations import upgrade as upgrade_consent
from gateway.auth.tokens import Caller
from tests.audit_service.conftest import (
    AUDITOR,
    ENTRIES,
    ORIGIN,
    PEOPLE,
    fill,
    registry_of,
    servicer,
)
from tests.cli.test_consent_cli import UnsafeFixedCaller, error_line, sakha
from tests.consent.conftest import OTHER, SUBJECT
from tests.consent_service.conftest import CHECKER


class ThreadHub:
    """An AuditService, every call made by one auditor, on its own loop and thread."""

    def __init__(self, store: AuditStore, signer: Signer) -> None:
        keys = {org: ed25519.Ed25519PrivateKey.generate() for org in (AUDITOR, CHECKER)}
        registry = registry_of(keys)
        caller = Caller(registry.organisation(AUDITOR), "cli-auditor", None, 0, f"{AUDITOR}-1")
        self._servicer = servicer(store, signer, registry)
        self._interceptor = UnsafeFixedCaller(caller)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def _start(self) -> None:
        server = grpc.aio.server(interceptors=[self._interceptor])
        audit_pb2_grpc.add_AuditServiceServicer_to_server(self._servicer, server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    def start(self) -> None:
        """Serve until :meth:`stop`."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def signer() -> Signer:
    """The log's checkpoint key."""
    return Signer(ORIGIN, ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def hub(tmp_path: Path, signer: Signer) -> Iterator[ThreadHub]:
    """A served AuditService on a filled SQLite log."""
    url = sqlite_url(str(tmp_path / "audit.sqlite"))
    upgrade_consent(url)
    AUDIT_MIGRATIONS.upgrade(url)
    store = AuditStore.open(url, origin=ORIGIN, create=True)
    fill(store, signer)
    served = ThreadHub(store, signer)
    served.start()
    try:
        yield served
    finally:
        served.stop()
        store.close()


def at(hub: ThreadHub, *args: str) -> Result:
    """Run ``sakha audit ARGS`` against ``hub``; a failure shows its output."""
    return sakha("audit", *args, "--server", f"127.0.0.1:{hub.port}", "--insecure")


def ok(result: Result) -> str:
    """The standard output of a command that succeeded."""
    assert result.exit_code == 0, result.output
    return result.stdout


def test_checkpoint_prints_the_latest_signed_note(hub: ThreadHub, signer: Signer) -> None:
    note = ok(at(hub, "checkpoint"))
    opened = open_checkpoint(
        note.encode(), Verifier.parse(ok(at(hub, "vkey")).strip()), origin=ORIGIN
    )
    assert opened.size == len(ENTRIES)
    as_json = json.loads(ok(at(hub, "checkpoint", "--json")))
    assert as_json["note"] == note
    assert int(as_json["size"]) == len(ENTRIES)
    assert ok(at(hub, "vkey")).strip() == signer.verifier().key_string


def test_checkpoint_keeps_the_note_in_a_file(hub: ThreadHub, tmp_path: Path) -> None:
    kept = tmp_path / "kept.note"
    note = ok(at(hub, "checkpoint", "--out", str(kept)))
    assert kept.read_text(encoding="utf-8") == note
    unwritable = error_line(at(hub, "checkpoint", "--out", str(tmp_path / "no" / "kept.note")))
    assert "kept.note" in unwritable


def test_export_finds_the_databases_log_and_verify_passes_on_it(
    hub: ThreadHub, tmp_path: Path
) -> None:
    del hub  # its log is the database below
    url = sqlite_url_text(str(tmp_path / "audit.sqlite"))
    out = ok(sakha("audit", "export", "--db", url, "--out", str(tmp_path / "bundle")))
    assert out == f"exported {len(ENTRIES)} entries of {ORIGIN} to {tmp_path / 'bundle'}\n"
    vkey = Signer(ORIGIN, ed25519.Ed25519PrivateKey.generate()).verifier().key_string
    forged = sakha("audit", "verify", "--db", url, "--vkey", vkey)
    assert forged.exit_code == 1
    assert "WRONG_KEY" in forged.stdout


def test_offline_commands_name_what_is_wrong_with_the_database(
    hub: ThreadHub, tmp_path: Path
) -> None:
    del hub
    missing = sqlite_url_text(str(tmp_path / "missing.sqlite"))
    empty_file = tmp_path / "empty.sqlite"
    empty_file.touch()
    empty = sqlite_url_text(str(empty_file))
    filled = sqlite_url_text(str(tmp_path / "audit.sqlite"))
    out = str(tmp_path / "bundle")
    vkey = Signer("other.example/log", ed25519.Ed25519PrivateKey.generate()).verifier().key_string
    cases = {
        ("export", "--db", missing, "--out", out): "no SQLite database at",
        ("verify", "--db", missing, "--vkey", vkey): "no SQLite database at",
        ("export", "--db", empty, "--out", out): "sakha db upgrade",
        ("verify", "--db", empty, "--vkey", vkey): "sakha db upgrade",
        ("export", "--db", filled, "--origin", "other/log", "--out", out): (
            f"holds the log '{ORIGIN}', not 'other/log'"
        ),
        ("verify", "--db", filled, "--vkey", vkey): f"holds the log '{ORIGIN}'",
    }
    for args, message in cases.items():
        line = error_line(sakha("audit", *args))
        assert message in line, (args, line)
    assert not (tmp_path / "missing.sqlite").exists()  # nothing was created
    assert not (tmp_path / "bundle").exists()


def test_query_as_json_lines_is_the_canonical_entries(hub: ThreadHub) -> None:
    lines = ok(at(hub, "query", "--json")).splitlines()
    assert [line.encode() for line in lines] == [canonical_bytes(entry) for entry in ENTRIES]
    relief = ok(at(hub, "query", "--json", "--org", "relief", "--limit", "1")).splitlines()
    assert [line.encode() for line in relief] == [canonical_bytes(ENTRIES[1])]
    after = ok(at(hub, "query", "--json", "--since", "2026-03-01T09:03:00Z")).splitlines()
    assert len(after) == 2


def test_query_as_a_table(hub: ThreadHub) -> None:
    table = ok(at(hub, "query", "--subject", SUBJECT))
    assert "welfare_org/operator-17" in table
    assert "consent c-1" in table
    assert "ELIGIBLE" in table
    assert "failed AGENCY_UNAVAILABLE" in table
    assert "NO_CONSENT" not in table  # OTHER's refusal
    assert all(person not in table for person in PEOPLE)


def test_report_in_english_and_persian(hub: ThreadHub) -> None:
    english = ok(at(hub, "report", "--subject", SUBJECT))
    assert "Who looked at this person's data: 2 lookups" in english
    assert "#0" in english
    assert "under consent c-1" in english
    assert "#1" not in english
    persian = ok(at(hub, "report", "--subject", OTHER, "--lang", "fa"))
    assert "2 بررسی" in persian
    assert "رد شد: NO_CONSENT" in persian
    assert all(person not in english + persian for person in PEOPLE)


def test_proof_prints_a_proof_that_verifies(hub: ThreadHub) -> None:
    root = base64.b64decode(json.loads(ok(at(hub, "checkpoint", "--json")))["root_hash"])
    shown = json.loads(ok(at(hub, "proof", "--index", "2", "--json")))
    assert int(shown["tree_size"]) == len(ENTRIES)
    leaf = base64.b64decode(shown["leaf_hash"])
    assert leaf == leaf_hash(canonical_bytes(ENTRIES[2]))
    path = [base64.b64decode(node) for node in shown["hashes"]]
    verify_inclusion(leaf, 2, len(ENTRIES), path, root)
    text = ok(at(hub, "proof", "--index", "2", "--size", "3"))
    assert text.startswith("index 2 in tree size 3\n")
    assert f"leaf hash {leaf.hex()}" in text


def test_refusals_are_one_error_line(hub: ThreadHub) -> None:
    bad = SUBJECT[:9] + str((int(SUBJECT[9]) + 1) % 10)
    line = error_line(at(hub, "report", "--subject", bad))
    assert line.startswith("Error: INVALID_ARGUMENT: ")
    assert line.count("national_id") == 1  # said once
    assert line.endswith("(NATIONAL_ID_CHECK_DIGIT)")
    assert bad not in line
    beyond = error_line(at(hub, "proof", "--index", "9"))
    assert beyond.endswith("index: must be below the tree size 5 (OUT_OF_RANGE)")


OPTION_ERRORS = {
    "report without subject": ("report",),
    "unknown language": ("report", "--subject", SUBJECT, "--lang", "de"),
    "time without offset": ("query", "--since", "2026-03-01T09:00"),
    "negative limit": ("query", "--limit", "-1"),
    "proof without index": ("proof",),
}


@pytest.mark.parametrize("args", OPTION_ERRORS.values(), ids=OPTION_ERRORS)
def test_option_errors_are_usage_errors(args: tuple[str, ...]) -> None:
    result = sakha("audit", *args, "--server", "127.0.0.1:1", "--insecure")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_audit_commands_need_a_profile_or_insecure(tmp_path: Path) -> None:
    result = sakha("audit", "checkpoint", "--profile", str(tmp_path / "none.yaml"))
    assert "no client profile" in error_line(result)
