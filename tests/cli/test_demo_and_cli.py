"""The README's first command, for real: `sakha demo` in a subprocess, then the commands it
prints, pasted into another "terminal" (a subprocess in another directory), then Ctrl-C."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shlex
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.processes import free_port

SAKHA = [sys.executable, "-m", "gateway.cli"]
STARTUP_TIMEOUT_S = 120


async def _read_until(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> str:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError("demo exited early:\n" + "".join(seen))
        seen.append(line)
        if re.search(pattern, line):
            return line


def _env(config_home: Path | None) -> dict[str, str] | None:
    """The environment with XDG_CONFIG_HOME moved, so the demo's profile stays in the test."""
    if config_home is None:
        return None
    return {**os.environ, "XDG_CONFIG_HOME": str(config_home)}


async def _run(command: list[str], cwd: Path, config_home: Path | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=_env(config_home),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode()


def _sections(lines: list[str]) -> dict[str, list[list[str]]]:
    """The printed commands, by the comment above them: allowed, refused, revoke, audit."""
    sections: dict[str, list[list[str]]] = {"allowed": [], "refused": [], "revoke": [], "audit": []}
    current = "allowed"
    for line in lines:
        comment = re.match(r"\s+# (allowed|refused|revoke|audit)", line)
        if comment:
            current = comment.group(1)
        elif re.match(r"\s+\S*sakha\S* (check|consent|audit)", line):
            sections[current].append(shlex.split(line.split("#")[0]))
    return sections


async def _audit_as_the_demo_says(commands: list[list[str]], cwd: Path, config_home: Path) -> None:
    """Run the auditor's commands the demo printed: every lookup so far is in a log that
    exports and verifies, and the sample subject's report lists their lookups."""
    keep, report, export, verify = commands
    await asyncio.sleep(1.5)  # the hub signs a checkpoint within a second of new entries
    code, out = await _run(keep, cwd, config_home)
    assert code == 0, out
    assert out.startswith("sakha.local/audit\n")
    code, out = await _run(report, cwd, config_home)
    assert code == 0, out
    assert "demo_relief" in out
    assert "REVOKED" in out  # the check refused after the demo's revocation is reported too
    code, out = await _run(export, cwd, config_home)
    assert code == 0, out
    code, out = await _run(verify, cwd, config_home)
    assert code == 0, out
    assert ": OK — " in out


@pytest.mark.slow
async def test_demo_prints_working_commands_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config_home = tmp_path / "config"
    demo = await asyncio.create_subprocess_exec(
        *SAKHA,
        "demo",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--households",
        "150",
        env=_env(config_home),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert demo.stdout is not None
    seen: list[str] = []
    try:
        banner = await asyncio.wait_for(
            _read_until(demo.stdout, r"listening on 127\.0\.0\.1:\d+", seen), STARTUP_TIMEOUT_S
        )
        port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
        await asyncio.wait_for(_read_until(demo.stdout, r"audit verify", seen), 10)
        sections = _sections(seen)
        checks = [c for c in sections["allowed"] if c[1] == "check"]
        batches = [c for c in sections["allowed"] if c[1] == "check-batch"]
        assert len(checks) >= 3
        assert len(batches) == 1

        for command in checks:
            code, out = await _run(command, elsewhere, config_home)
            assert code == 0, out
            assert re.search(r"ELIGIBLE|INELIGIBLE|UNDETERMINED|DECISION_", out), out
            if "aid_overlap_check" not in command and "epidemic_cash_relief" not in command:
                assert "consent demo-consent-" in out, out  # the check names its consent
        [refused] = sections["refused"]
        code, out = await _run(refused, elsewhere, config_home)
        assert code == 1
        assert "PERMISSION_DENIED" in out
        assert "NO_CONSENT" in out
        show, revoke, after = sections["revoke"]
        code, out = await _run(show, elsewhere, config_home)
        assert code == 0, out
        assert "ACTIVE" in out
        code, out = await _run(revoke, elsewhere, config_home)
        assert code == 0, out
        code, out = await _run(after, elsewhere, config_home)
        assert code == 1
        assert "REVOKED" in out
        code, out = await _run(
            [*batches[0][:-1], str(elsewhere / "out.csv")], elsewhere, config_home
        )
        assert code == 0, out
        with (elsewhere / "out.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 150
        assert {r["decision"] for r in rows} <= {"ELIGIBLE", "INELIGIBLE", "UNDETERMINED"}

        code, out = await _run(
            [
                *SAKHA,
                "check",
                "--server",
                f"127.0.0.1:{port}",
                "--program",
                "livelihood_basket",
                "--purpose",
                "livelihood_support",
                "--subject",
                "0499370898",
            ],
            elsewhere,
            config_home,
        )
        assert code == 1
        assert "INVALID_ARGUMENT" in out
        assert "NATIONAL_ID_CHECK_DIGIT" in out
        # The demo is secure: TLS and a token from the profile it wrote; plaintext fails.
        assert (config_home / "sakha" / "profile.yaml").exists()
        code, out = await _run([*checks[0], "--insecure"], elsewhere, config_home)
        assert code == 1
        assert "UNAVAILABLE" in out
        await _audit_as_the_demo_says(sections["audit"], elsewhere, config_home)
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(demo.communicate(), timeout=30)
    assert demo.returncode == 0, "".join(seen) + rest.decode()
    assert "stopped" in rest.decode()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the hub port is still open"


async def test_programs_list_and_test_commands(tmp_path: Path) -> None:
    code, out = await _run([*SAKHA, "programs", "list"], tmp_path)
    assert code == 0, out
    # Piped, not a terminal: one line per program, nothing wrapped inside a cell.
    [row] = [line for line in out.splitlines() if "livelihood_basket" in line]
    assert "Monthly livelihood basket" in row
    assert "livelihood_support, caseload_review" in row
    code, out = await _run([*SAKHA, "programs", "list", "--lang", "fa"], tmp_path)
    assert "سبد" in out
    code, out = await _run([*SAKHA, "programs", "test"], tmp_path)
    assert code == 0, out
    assert "FAIL" not in out
    assert "WARNING" not in out, "an expected simulated failure is not a warning here"
    cases = out.count("ok ")
    assert cases >= 20
    assert out.splitlines()[-1] == f"{cases} test cases of 5 programs: {cases} passed, 0 failed"
    code, out = await _run([*SAKHA, "programs", "show", "disability_care_grant"], tmp_path)
    assert code == 0
    assert "id: disability_care_grant" in out


async def test_check_against_an_unreachable_hub_says_so(tmp_path: Path) -> None:
    port = free_port()
    code, out = await _run(
        [
            *SAKHA,
            "check",
            "--server",
            f"127.0.0.1:{port}",
            "--program",
            "p",
            "--purpose",
            "x",
            "--subject",
            "0499370899",
            "--timeout",
            "2",
            "--insecure",
        ],
        tmp_path,
    )
    assert code == 1
    assert "UNAVAILABLE" in out
