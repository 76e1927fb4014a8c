"""Running ``sakha`` commands as real processes in tests."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.demo_security import DemoSecurity

SAKHA = [sys.executable, "-m", "gateway.cli"]
"""The ``sakha`` command of this interpreter."""


@asynccontextmanager
async def serving(*args: str, ready: str) -> AsyncIterator[re.Match[str]]:
    """Run ``sakha *args`` until it prints a line matching ``ready``; SIGTERM it after."""
    proc = await asyncio.create_subprocess_exec(
        *SAKHA, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            if not line:
                raise AssertionError("exited early:\n" + "".join(seen))
            seen.append(line)
            if match := re.search(ready, line):
                break
        yield match
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, "".join(seen)


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
