"""docs/adapters.md, "Connecting a new agency to a hub, step by step", run as written.

Every command of the section's blocks runs as a real ``sakha`` process, in the order the
guide gives, in a folder of its own: the food bank (SQLite) and the housing cooperative
(HTTP/JSON) are written from the guide's files, conformance-checked in plaintext, given
certificates from the hub's CA, served over mutual TLS, conformance-checked as the hub,
their program tested with ``sakha programs test``, and the hub started from the guide's
``hub.yaml``; then a consent is granted and the subject is checked live. Only what the guide
leaves to other documents is made here: the civil registry (an agency already connected),
the cooperative's own web service, and the relief agency's client key and profile. Ports
are the guide's, each mapped to a free one.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import Mapping
from contextlib import AsyncExitStack, closing
from pathlib import Path

import pytest

from adapters.config import describe_adapter_config
from adapters.memory import MemoryAdapter, Record
from adapters.pki.material import PkiLayout
from adapters.server import create_adapter_server
from adapters.simulated.catalogue import AGENCY_CONFIG_DIR
from adapters.simulated.json_service import JsonService, Reply, Request
from gateway.auth.registry import ClientKey, Organisation, Role, dump_client_registry
from gateway.auth.tokens import generate_client_key, private_key_pem
from gateway.client_profile import ClientProfile, save_profile
from tests.docs.guide import commands
from tests.docs.test_docs_examples import example
from tests.processes import SAKHA, Server, free_port, start_server

GUIDE = "adapters.md"
SUBJECT, OTHER = "0012345679", "0045678911"
GUIDE_PORTS = ("127.0.0.1:50061", "127.0.0.1:50071", "127.0.0.1:50072", "127.0.0.1:50051")
GUIDE_COOP_API = "http://127.0.0.1:8081"
COOP_MEMBERS = {SUBJECT: {"nid": SUBJECT, "arrears_rials": 0}}
RELIEF = "relief_tabriz"


def coop_service(request: Request) -> Reply:
    """The cooperative's own lookup service, as the guide describes it."""
    body = request.body if isinstance(request.body, dict) else {}
    asked = body.get("national_ids", [])
    return Reply.json({"members": [COOP_MEMBERS[i] for i in asked if i in COOP_MEMBERS]})


class Guide:
    """The guide's blocks with its addresses mapped to this run's."""

    def __init__(self, addresses: Mapping[str, str]) -> None:
        self._addresses = addresses

    def text(self, tag: str) -> str:
        """A block's text, localised."""
        text = example(GUIDE, tag)
        for guide, here in self._addresses.items():
            text = text.replace(guide, here)
        return text

    def commands(self, tag: str) -> list[list[str]]:
        """A block's ``sakha`` command lines, localised."""
        return [[self._localised(word) for word in line] for line in commands(GUIDE, tag)]

    def _localised(self, word: str) -> str:
        for guide, here in self._addresses.items():
            word = word.replace(guide, here)
        return word


async def run(words: list[str], env: Mapping[str, str] | None = None) -> str:
    """Run ``sakha <words>`` to its end; its output, after asserting it exited 0."""
    proc = await asyncio.create_subprocess_exec(
        *SAKHA,
        *words,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 0, f"sakha {' '.join(words)}:\n{text}"
    return text


async def run_block(guide: Guide, tag: str, stack: AsyncExitStack) -> list[str]:
    """Run a block: servers are started (and stopped with ``stack``), the rest run to the end."""
    outputs = []
    for words in guide.commands(tag):
        if words[:1] == ["serve"] or words[:2] == ["adapter", "serve"]:
            ready = r"hub listening on port" if words[0] == "serve" else r"serving on"
            server = await start_server(*words, ready=ready)
            stack.push_async_callback(_stopped, server)
            outputs.append("".join(server.output))
        else:
            outputs.append(await run(words, {"SAKHA_PROFILE": "relief.yaml"}))
    return outputs


async def _stopped(server: Server) -> None:
    await server.stop()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of its own to run the guide's commands in."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _civil_registry() -> MemoryAdapter:
    """The civil registry the hub already has: it knows the guide's two people, alive."""
    description = describe_adapter_config(AGENCY_CONFIG_DIR / "civil_registry.yaml")
    person: Record = {"alive": True, "head_of_household": True}
    records: dict[str, Record] = {
        subject: {**person, "household_members": (subject,)} for subject in (SUBJECT, OTHER)
    }
    return MemoryAdapter(description, records)


def _relief_agency(folder: Path) -> None:
    """The relief agency's client registry entry, key and profile (security.md's steps)."""
    private_key, _ = generate_client_key("ed25519")
    (folder / "relief.key").write_bytes(private_key_pem(private_key))
    (folder / "relief.key").chmod(0o600)
    organisation = Organisation(
        id=RELIEF,
        name="Tabriz relief office",
        roles=frozenset({Role.CHECKER, Role.CONSENT_MANAGER}),
        keys=(ClientKey.from_public_key(f"{RELIEF}-1", private_key.public_key()),),
        programs={"winter_food_aid": frozenset({"food_support"})},
    )
    (folder / "clients.yaml").write_text(dump_client_registry([organisation]), encoding="utf-8")


def _profile(folder: Path, hub: str) -> None:
    save_profile(
        ClientProfile(
            server=hub,
            ca_file=folder / "hub-pki" / "ca.pem",
            organisation=RELIEF,
            kid=f"{RELIEF}-1",
            key_file=folder / "relief.key",
            operator="caseworker-7",
        ),
        folder / "relief.yaml",
    )


@pytest.mark.skipif(sys.platform != "linux", reason="real processes on local ports")
async def test_the_guide_connects_two_new_agencies_and_a_check_runs_live(workdir: Path) -> None:
    ports = [free_port() for _ in GUIDE_PORTS]
    with JsonService(coop_service) as coop:
        addresses = {g: f"127.0.0.1:{p}" for g, p in zip(GUIDE_PORTS, ports, strict=True)}
        hub_port = {"port 50051": f"port {ports[-1]}"}
        guide = Guide({**addresses, **hub_port, GUIDE_COOP_API: coop.url})
        # 1. Agency IT: the files, then serve in plaintext and check.
        with closing(sqlite3.connect(workdir / "food_bank.sqlite")) as db:
            db.executescript(guide.text("wiring-food-bank-schema"))
        (workdir / "food_bank.yaml").write_text(guide.text("wiring-food-bank"), "utf-8")
        (workdir / "housing_coop.yaml").write_text(guide.text("wiring-housing-coop"), "utf-8")
        async with AsyncExitStack() as plaintext:
            checked = await run_block(guide, "wiring-agency-check", plaintext)
        assert checked[1].splitlines()[-1].endswith(" 0 failed, 6 skipped")  # plaintext
        assert checked[3].splitlines()[-1].endswith(" 0 failed, 6 skipped")
        # 2. Hub operator: its PKI (made once), a certificate and a folder for each agency.
        await run_block(guide, "wiring-hub-pki", AsyncExitStack())
        issued = await run_block(guide, "wiring-hub-certificates", AsyncExitStack())
        assert "spiffe://sakha/agency/food_bank (DNS food-bank.agency.sakha)" in issued[0]
        assert sorted(p.name for p in (workdir / "food_bank-tls").rglob("*.pem")) == [
            "ca.pem",
            "food_bank.pem",
        ]
        pki = PkiLayout(workdir / "hub-pki")
        async with AsyncExitStack() as serving:
            registry, _ = await create_adapter_server(_civil_registry(), port=ports[0], tls=pki)
            serving.push_async_callback(registry.stop, None)
            # 3. Agency IT: serve over mutual TLS with the folder received.
            await run_block(guide, "wiring-agency-serve", serving)
            # 4. Hub operator: conformance as the hub, the program's tests, the hub itself.
            (workdir / "programs").mkdir()
            program = guide.text("wiring-program")
            (workdir / "programs" / "winter_food_aid.yaml").write_text(program, "utf-8")
            hub_checks = await run_block(guide, "wiring-hub-check", serving)
            assert hub_checks[0].splitlines()[-1].endswith("0 failed, 0 skipped")
            assert hub_checks[1].splitlines()[-1].endswith("0 failed, 0 skipped")
            assert hub_checks[2].splitlines()[-1] == "2 test cases of 1 program: 2 passed, 0 failed"
            (workdir / "hub.yaml").write_text(guide.text("wiring-hub-config"), "utf-8")
            _relief_agency(workdir)
            started = await run_block(guide, "wiring-hub-start", serving)
            printed = [
                line
                for line in started[1].splitlines()
                if line.startswith(("connected ", "hub listening"))
            ]
            assert printed == guide.text("wiring-hub-output").splitlines()
            # 5. The relief agency: a consent, then a live check.
            _profile(workdir, addresses["127.0.0.1:50051"])
            granted, decided = await run_block(guide, "wiring-check", serving)
    assert granted.strip()
    assert "ELIGIBLE" in decided.upper(), decided
    assert "FOOD_BANK_REGISTERED" in decided or "Registered with the food bank" in decided
    assert len(coop.requests) >= 3  # the plaintext check, the hub's check, the live check


def test_the_guides_hub_config_is_complete_and_secure(tmp_path: Path) -> None:
    from gateway.config import load_hub_config  # noqa: PLC0415

    path = tmp_path / "hub.yaml"
    path.write_text(example(GUIDE, "wiring-hub-config"), encoding="utf-8")
    config = load_hub_config(path)
    layers = config.layers
    assert all(vars(layers).values()), layers  # every security layer on
    assert config.agencies[0].agency_id == "civil_registry"
