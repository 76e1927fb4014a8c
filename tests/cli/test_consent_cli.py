"""``sakha consent``, ``sakha mandate``, ``sakha db upgrade`` and ``sakha check --consent``.

The commands run in-process (click's CliRunner) against a ConsentService on 127.0.0.1 port 0,
served from a thread of its own (the CLI runs its own event loop). The CLI's ``--insecure``
sends no token, so the test server puts one fixed consent manager behind every call
(:class:`UnsafeFixedCaller`); the service's authentication is tested in tests/consent_service.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ed25519
from sakha.v1 import consent_pb2_grpc, eligibility_pb2, eligibility_pb2_grpc

from adapters.interceptors.wrap import CallInterceptor, Context
from consent import ConsentSigner, JwksVerifier, jwk_set
from consent.database import sqlite_url
from consent.migrations import upgrade
from consent.store import ConsentStore
from gateway.auth.policy import AccessPolicy
from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role
from gateway.auth.tokens import Caller
from gateway.cli import main
from gateway.consent_service import ConsentServicer
from gateway.interceptors.caller import AuthenticatedContext
from gateway.status import abort_with
from tests.consent.conftest import GUARDIAN, SUBJECT
from tests.consent_service.conftest import MANAGER, PROGRAM, PURPOSE, TickingClock, templates

GRANT = (
    "--subject",
    SUBJECT,
    "--program",
    PROGRAM,
    "--purpose",
    PURPOSE,
    "--purpose-text",
    "To check eligibility for housing aid",
    "--notice-version",
    "notice-2025-01",
    "--collection-method",
    "paper_form",
)


class UnsafeFixedCaller(CallInterceptor):
    """Test only: every call is made by ``caller``, with no token checked."""

    def __init__(self, caller: Caller) -> None:
        super().__init__(abort_with)
        self._caller = caller

    async def admit(self, method: str, context: Context, request: object) -> Context:
        """The context carrying the fixed caller."""
        return AuthenticatedContext.of(context, self._caller)


class RecordingEligibility(eligibility_pb2_grpc.EligibilityServiceServicer):
    """Answers every Check, remembering the request."""

    def __init__(self) -> None:
        self.requests: list[eligibility_pb2.CheckRequest] = []

    async def Check(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.CheckRequest, context: Any
    ) -> eligibility_pb2.CheckResult:
        self.requests.append(request)
        return eligibility_pb2.CheckResult(
            request_id="r-1", decision=eligibility_pb2.DECISION_ELIGIBLE, program_id=PROGRAM
        )


class ThreadHub:
    """A ConsentService (and a recording EligibilityService) on its own loop and thread."""

    def __init__(
        self, store: ConsentStore, signer: ConsentSigner, registry: ClientRegistry
    ) -> None:
        caller = Caller(registry.organisation(MANAGER), "cli-tester", None, 0, f"{MANAGER}-1")
        self.eligibility = RecordingEligibility()  # type: ignore[abstract]  # only Check is called
        self._servicer = ConsentServicer(
            store,
            signer,
            templates=templates,
            policy=AccessPolicy(registry),
            consumers=registry,
            clock=TickingClock(),
        )
        self._interceptor = UnsafeFixedCaller(caller)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def _start(self) -> None:
        server = grpc.aio.server(interceptors=[self._interceptor])
        consent_pb2_grpc.add_ConsentServiceServicer_to_server(self._servicer, server)
        eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(self.eligibility, server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    def start(self) -> None:
        """Serve until :meth:`stop`."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        """Stop the server, the loop and the thread (once; later calls do nothing)."""
        if self._loop.is_closed():
            return
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ThreadHub]:
    """A served ConsentService on a fresh SQLite store."""
    url = sqlite_url(str(tmp_path / "consent.sqlite"))
    upgrade(url)
    signer = ConsentSigner(ed25519.Ed25519PrivateKey.generate(), "c1")
    store = ConsentStore.open(url, JwksVerifier(jwk_set([signer.public_jwk()])))
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    registry = ClientRegistry(
        [
            Organisation(
                id=MANAGER,
                name=MANAGER,
                roles=frozenset({Role.CONSENT_MANAGER, Role.CHECKER}),
                keys=(ClientKey.from_public_key(f"{MANAGER}-1", key),),
                programs={PROGRAM: frozenset({PURPOSE})},
            )
        ]
    )
    served = ThreadHub(store, signer, registry)
    served.start()
    try:
        yield served
    finally:
        served.stop()
        store.close()


def sakha(*args: str) -> Result:
    """Run ``sakha ARGS`` in-process."""
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


def at(hub: ThreadHub, *args: str) -> Result:
    """Run ``sakha ARGS`` against ``hub``; the connection options go after the command."""
    return sakha(*args, "--server", f"127.0.0.1:{hub.port}", "--insecure")


def error_line(result: Result) -> str:
    """The one ``Error:`` line of a failed command; there is no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def granted(hub: ThreadHub, *extra: str) -> str:
    """Grant a consent through the CLI; its id."""
    result = at(hub, "consent", "grant", *GRANT, *extra)
    assert result.exit_code == 0, result.output
    consent_id = result.stdout.strip()
    assert consent_id.startswith("c-")
    return consent_id


def test_grant_show_export_jwks_and_verify_offline(hub: ThreadHub, tmp_path: Path) -> None:
    consent_id = granted(hub, "--days", "90", "--why", "paper form 17")
    shown = at(hub, "consent", "show", consent_id)
    assert shown.exit_code == 0, shown.output
    assert consent_id in shown.stdout
    assert "ACTIVE" in shown.stdout
    assert f"{MANAGER}/cli-tester" in shown.stdout
    as_json = json.loads(at(hub, "consent", "show", consent_id, "--json").stdout)
    assert as_json["status"] == "CONSENT_STATUS_ACTIVE"
    assert as_json["artefact"]["subject"] == SUBJECT
    jws, jwks = tmp_path / "consent.jws", tmp_path / "jwks.json"
    assert at(hub, "consent", "export", consent_id, "--out", str(jws)).exit_code == 0
    assert at(hub, "consent", "jwks", "--out", str(jwks)).exit_code == 0
    assert jws.read_text(encoding="utf-8") == as_json["jws"]
    hub.stop()  # verify needs no hub
    verified = sakha("consent", "verify", str(jws), "--jwks", str(jwks))
    assert verified.exit_code == 0, verified.output
    assert "signature verified" in verified.stdout
    assert SUBJECT in verified.stdout
    as_json_offline = json.loads(
        sakha("consent", "verify", str(jws), "--jwks", str(jwks), "--json").stdout
    )
    assert as_json_offline == as_json["artefact"]


def _tampered(path: Path, tmp_path: Path) -> Path:
    header, payload, signature = path.read_text(encoding="utf-8").split(".")
    middle = len(payload) // 2
    swapped = "B" if payload[middle] == "A" else "A"
    out = tmp_path / "tampered.jws"
    out.write_text(
        f"{header}.{payload[:middle]}{swapped}{payload[middle + 1 :]}.{signature}",
        encoding="utf-8",
    )
    return out


def test_verify_refuses_a_file_tampered_by_one_byte(hub: ThreadHub, tmp_path: Path) -> None:
    consent_id = granted(hub)
    jws, jwks = tmp_path / "consent.jws", tmp_path / "jwks.json"
    at(hub, "consent", "export", consent_id, "--out", str(jws))
    at(hub, "consent", "jwks", "--out", str(jwks))
    line = error_line(
        sakha("consent", "verify", str(_tampered(jws, tmp_path)), "--jwks", str(jwks))
    )
    assert "BAD_SIGNATURE" in line
    other_keys = tmp_path / "other.json"
    other = ConsentSigner(ed25519.Ed25519PrivateKey.generate(), "c2")
    other_keys.write_text(json.dumps(jwk_set([other.public_jwk()])), encoding="utf-8")
    assert "UNKNOWN_KEY" in error_line(
        sakha("consent", "verify", str(jws), "--jwks", str(other_keys))
    )
    not_keys = tmp_path / "not.json"
    not_keys.write_text("[1, 2", encoding="utf-8")
    assert "not a JWK Set" in error_line(
        sakha("consent", "verify", str(jws), "--jwks", str(not_keys))
    )


def test_export_to_stdout_prints_the_jws(hub: ThreadHub) -> None:
    consent_id = granted(hub)
    exported = at(hub, "consent", "export", consent_id)
    assert exported.exit_code == 0
    assert exported.stdout.count(".") == 2


def test_status_changes_and_the_list(hub: ThreadHub) -> None:
    requested = granted(
        hub,
        "--requested",
        "--guardian",
        GUARDIAN,
        "--relation",
        "parent",
        "--fetch-type",
        "periodic",
        "--max-uses",
        "1",
        "--period-days",
        "30",
    )
    assert at(hub, "consent", "activate", requested).stdout.strip() == f"{requested} ACTIVE"
    assert at(hub, "consent", "pause", requested).stdout.strip() == f"{requested} PAUSED"
    assert at(hub, "consent", "resume", requested).stdout.strip() == f"{requested} ACTIVE"
    revoked = at(hub, "consent", "revoke", requested, "--why", "subject asked")
    assert revoked.stdout.strip() == f"{requested} REVOKED"
    declined = granted(hub, "--requested")
    assert at(hub, "consent", "refuse", declined).stdout.strip() == f"{declined} REFUSED"
    listed = at(hub, "consent", "list", "--subject", SUBJECT)
    assert listed.exit_code == 0
    assert requested in listed.stdout
    assert "REVOKED" in listed.stdout
    assert "REFUSED" in listed.stdout
    again = error_line(at(hub, "consent", "revoke", requested))
    assert again.startswith("Error: FAILED_PRECONDITION: ")


def test_supersedes_replaces_the_old_consent(hub: ThreadHub) -> None:
    old = granted(hub)
    new = granted(hub, "--supersedes", old, "--days", "30")
    shown = json.loads(at(hub, "consent", "show", old, "--json").stdout)
    assert shown["status"] == "CONSENT_STATUS_SUPERSEDED"
    assert (
        json.loads(at(hub, "consent", "show", new, "--json").stdout)["artefact"]["supersedes"]
        == old
    )


def test_a_grant_the_hub_refuses_is_one_line_naming_the_field(hub: ThreadHub) -> None:
    line = error_line(at(hub, "consent", "grant", *GRANT, "--days", "400"))
    assert line.startswith("Error: INVALID_ARGUMENT: validity:")
    assert line.endswith("(OUTSIDE_TEMPLATE)")
    assert line.count("validity:") == 1
    unknown = error_line(at(hub, "consent", "show", "c-nothing"))
    assert unknown.startswith("Error: NOT_FOUND: ")


def test_mandates_are_registered_suspended_resumed_shown_and_listed(hub: ThreadHub) -> None:
    registered = at(
        hub,
        "mandate",
        "register",
        "--legal-reference",
        "Targeted Subsidies Law, art. 7",
        "--issuing-authority",
        "Parliament",
        "--program",
        "subsidy",
        "--purpose",
        "eligibility",
        "--valid-from",
        "2025-01-01T00:00:00Z",
    )
    assert registered.exit_code == 0, registered.output
    mandate_id = registered.stdout.strip()
    assert mandate_id.startswith("m-")
    assert at(hub, "mandate", "suspend", mandate_id).stdout.strip() == f"{mandate_id} SUSPENDED"
    assert at(hub, "mandate", "resume", mandate_id).stdout.strip() == f"{mandate_id} ACTIVE"
    shown = at(hub, "mandate", "show", mandate_id)
    assert "Targeted Subsidies Law" in shown.stdout
    assert "SUSPENDED → ACTIVE" in shown.stdout
    listed = json.loads(at(hub, "mandate", "list", "--json").stdout)
    assert [m["id"] for m in listed["mandates"]] == [mandate_id]
    assert "m-nothing" in error_line(at(hub, "mandate", "suspend", "m-nothing"))


def test_check_sends_the_consent_it_is_given(hub: ThreadHub) -> None:
    result = at(
        hub,
        "check",
        "--program",
        PROGRAM,
        "--subject",
        SUBJECT,
        "--purpose",
        PURPOSE,
        "--consent",
        "c-42",
    )
    assert result.exit_code == 0, result.output
    assert "c-42" in result.stdout
    assert [r.consent_id for r in hub.eligibility.requests] == ["c-42"]


OPTION_ERRORS = {
    "guardian without relation": ("consent", "grant", *GRANT, "--guardian", GUARDIAN),
    "relation without guardian": ("consent", "grant", *GRANT, "--relation", "parent"),
    "uses without period": ("consent", "grant", *GRANT, "--max-uses", "2"),
    "negative days": ("consent", "grant", *GRANT, "--days", "-1"),
    "zero data life": ("consent", "grant", *GRANT, "--data-life-days", "0"),
    "unknown collection method": (
        "consent",
        "grant",
        *GRANT[:-1],
        "carrier_pigeon",
    ),
    "time without offset": ("consent", "grant", *GRANT, "--valid-from", "2025-03-01T09:00"),
    "no subject": ("consent", "grant", *GRANT[2:]),
    "verify without jwks": ("consent", "verify", "nothing.jws"),
    "mandate without program": (
        "mandate",
        "register",
        "--legal-reference",
        "L",
        "--issuing-authority",
        "P",
        "--purpose",
        "eligibility",
    ),
}


@pytest.mark.parametrize("args", OPTION_ERRORS.values(), ids=OPTION_ERRORS)
def test_option_errors_are_usage_errors(args: tuple[str, ...]) -> None:
    result = sakha(*args, "--server", "127.0.0.1:1", "--insecure")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_consent_commands_need_a_profile_or_insecure(tmp_path: Path) -> None:
    result = sakha("consent", "show", "c-1", "--profile", str(tmp_path / "none.yaml"))
    assert "no client profile" in error_line(result)


def test_db_upgrade_migrates_and_names_the_revision(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'fresh.sqlite'}"
    result = sakha("db", "upgrade", "--db-url", url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("consent database at revision ")
    assert sakha("db", "upgrade", "--db-url", url).stdout == result.stdout


def test_db_upgrade_of_a_bad_url_is_one_line() -> None:
    line = error_line(sakha("db", "upgrade", "--db-url", "nope://x"))
    assert line.startswith("Error: consent database:")
