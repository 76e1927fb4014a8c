"""Running ``sakha`` commands as real processes in tests."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.demo_security import DemoSecurity

SAKHA = [sys.executable, "-m", "gateway.cli"]
"""The ``sakha`` command of this interpreter."""


def free_port() -> int:
    """A local port nobody listens on (once this returns; free for a server to take)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A ``sakha`` server process that said it was ready; its output is read to the end
    in the background (a full pipe would block it) and kept."""

    proc: asyncio.subprocess.Process
    ready: re.Match[str]
    output: list[str]
    reader: asyncio.Task[None]

    async def stop(self) -> int:
        """SIGTERM it, wait for it to exit; its exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), 30)
        await self.reader
        return self.proc.returncode or 0

    async def kill(self) -> None:
        """SIGKILL it: no shutdown, no flush."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 30)
        await self.reader


async def start_server(*args: str, ready: str) -> Server:
    """Run ``sakha *args`` until it prints a line matching ``ready``."""
    proc = await asyncio.create_subprocess_exec(
        *SAKHA, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout = proc.stdout
    assert stdout is not None
    seen: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(stdout.readline(), 60)).decode()
            if not line:
                raise AssertionError("exited early:\n" + "".join(seen))
            seen.append(line)
            if match := re.search(ready, line):
                break
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise

    async def read_rest() -> None:
        while line := await stdout.readline():
            seen.append(line.decode())

    return Server(proc, match, seen, asyncio.create_task(read_rest()))


@asynccontextmanager
async def serving(*args: str, ready: str) -> AsyncIterator[re.Match[str]]:
    """Run ``sakha *args`` until it prints a line matching ``ready``; SIGTERM it after."""
    server = await start_server(*args, ready=ready)
    try:
        yield server.ready
    finally:
        code = await server.stop()
    assert code == 0, "".join(server.output)


def secure_config_lines(security: DemoSecurity) -> list[str]:
    """The hub.yaml lines naming every key and certificate of the demo's ``security``."""
    pki = security.pki
    return [
        f"tls_cert_file: {pki.hub_cert}",
        f"tls_key_file: {pki.hub_key}",
        f"clients_file: {security.clients_file}",
        f"agency_ca_file: {pki.ca_cert}",
        f"agency_client_cert_file: {pki.hub_client_cert}",
        f"agency_client_key_file: {pki.hub_client_key}",
        f"fetch_token_key_file: {pki.fetch_token_key}",
        f"consent_key_file: {pki.consent_key}",
        f"audit_key_file: {pki.audit_key}",
        f"checkpoint_key_file: {pki.checkpoint_key}",
    ]
