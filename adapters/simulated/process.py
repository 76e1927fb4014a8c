"""The 30 simulated agencies in a process of their own, for the demo.

Agencies sharing the hub's process share its one event loop and its one core: under load
the hub then decides about a quarter as many checks per second as with the agencies beside
it (bench/RESULTS.md, "layout: demo"). The child prints one JSON line with the agencies'
targets once they all serve, and stops when its stdin closes (so it never outlives the
parent), on SIGINT or on SIGTERM.

Run as ``python -m adapters.simulated.process --data-dir D [--pki-dir P]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from adapters.pki.material import PkiLayout
from adapters.simulated.host import start_simulated_agencies

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


class AgencyProcessError(Exception):
    """The agencies' process did not start."""


@dataclass
class AgencyProcess:
    """A running child process serving the simulated agencies."""

    process: asyncio.subprocess.Process
    targets: list[tuple[str, str]]

    @classmethod
    async def start(cls, data_dir: Path, pki: PkiLayout | None) -> AgencyProcess:
        """Start the child and wait until every agency serves."""
        arguments = ["--data-dir", str(data_dir)]
        if pki is not None:
            arguments += ["--pki-dir", str(pki.folder)]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adapters.simulated.process",
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None  # noqa: S101 - requested just above
        try:
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_S)
            if not line:
                raise AgencyProcessError("the agencies' process exited before serving")
            targets = [(str(a), str(t)) for a, t in json.loads(line)["targets"]]
        except BaseException:
            await _stop(process)
            raise
        return cls(process, targets)

    async def stop(self) -> None:
        """Stop the child (stdin closed, then SIGTERM, then SIGKILL) and reap it."""
        await _stop(self.process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    for escalate in (None, process.terminate, process.kill):
        if process.returncode is not None:
            return
        if escalate is not None:
            escalate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            continue


async def _serve(data_dir: Path, pki_dir: Path | None) -> None:
    agencies = await start_simulated_agencies(
        data_dir, pki=PkiLayout(pki_dir) if pki_dir is not None else None
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def parent_gone() -> None:
        await reader.read()  # returns at EOF: the parent closed our stdin or died
        stop.set()

    watcher = asyncio.create_task(parent_gone())
    try:
        print(json.dumps({"targets": agencies.targets()}), flush=True)
        await stop.wait()
    finally:
        watcher.cancel()
        await agencies.stop(1.0)


def main() -> None:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--pki-dir", type=Path, default=None)
    arguments = parser.parse_args()
    asyncio.run(_serve(arguments.data_dir, arguments.pki_dir))


if __name__ == "__main__":
    main()
