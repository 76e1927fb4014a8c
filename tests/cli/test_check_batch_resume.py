"""``sakha check-batch --resume``: an interrupted run goes on where it stopped, re-checking no
subject whose row was written, and refuses to resume someone else's output."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.simulated.build import PopulationSummary
from adapters.simulated.host import SimulatedAgencies
from gateway.config import AgencyEndpoint, HubConfig
from gateway.hub import Hub, start_hub
from tests.cli.test_clean_failures import (
    LIVELIHOOD,
    SAKHA,
    _error_line,
    _sakha,
    agencies,
    population,
)

__all__ = ["agencies", "population"]

ROWS = 3000


@dataclasses.dataclass
class CountingHub:
    """An in-process hub that counts the CheckBatch items it decides (slowly, to be
    interrupted midway)."""

    hub: Hub
    decided: int = 0

    def command(self) -> list[str]:
        """``check-batch`` against this hub, livelihood_basket, without the files."""
        return ["check-batch", "--insecure", "--server", f"127.0.0.1:{self.hub.port}", *LIVELIHOOD]


@pytest_asyncio.fixture
async def counting(
    agencies: SimulatedAgencies, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[CountingHub]:
    endpoints = tuple(AgencyEndpoint(a, t) for a, t in agencies.targets())
    hub = await start_hub(
        HubConfig(listen="127.0.0.1:0", insecure=True, agencies=endpoints, batch_chunk_items=50)
    )
    counting = CountingHub(hub)
    real = hub.pipeline.check_chunk

    async def counted(commands: Sequence[Any]) -> Any:
        counting.decided += len(commands)
        await asyncio.sleep(0.02)
        return await real(commands)

    monkeypatch.setattr(hub.pipeline, "check_chunk", counted)
    try:
        yield counting
    finally:
        await hub.stop(1.0)


def _caseload(tmp_path: Path, population: PopulationSummary) -> tuple[Path, list[str]]:
    heads = [s for s in dict(population.samples).values() if s]
    ids = [heads[n % len(heads)] for n in range(ROWS)]
    path = tmp_path / "in.csv"
    path.write_text(
        "national_id,request_id\n" + "".join(f"{nid},row-{n}\n" for n, nid in enumerate(ids)),
        encoding="utf-8",
    )
    return path, ids


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


async def test_an_interrupted_run_resumes_without_rechecking_a_written_row(
    counting: CountingHub, tmp_path: Path, population: PopulationSummary
) -> None:
    source, ids = _caseload(tmp_path, population)
    out = tmp_path / "out.csv"
    args = counting.command()
    files = ["--in", str(source), "--out", str(out)]
    first = await asyncio.create_subprocess_exec(
        *SAKHA, *args, *files, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    for _ in range(600):
        await asyncio.sleep(0.05)
        if out.exists() and out.read_bytes().count(b"\n") > 400:
            break
    first.send_signal(signal.SIGINT)
    await asyncio.wait_for(first.communicate(), 60)
    assert first.returncode != 0  # it was interrupted
    with out.open("ab") as handle:
        handle.write(b"row-x,00123")  # a row cut off mid-write, as a kill could leave
    kept = out.read_bytes().count(b"\n") - 1  # complete rows after the header
    assert 0 < kept < ROWS
    counting.decided = 0

    code, err = await _sakha(*args, *files, "--resume")
    assert code == 0, err
    assert counting.decided == ROWS - kept  # no written row was checked again
    rows = _rows(out)
    assert [r["national_id"] for r in rows] == ids
    assert [r["request_id"] for r in rows] == [f"row-{n}" for n in range(ROWS)]
    assert f"{kept} kept from before" in err


async def test_resume_refuses_another_inputs_output_and_starts_afresh_without_one(
    counting: CountingHub, tmp_path: Path, population: PopulationSummary
) -> None:
    source, ids = _caseload(tmp_path, population)
    out = tmp_path / "out.csv"
    args = counting.command()
    code, err = await _sakha(*args, "--in", str(source), "--out", str(out), "--resume")
    assert code == 0, err  # nothing to resume: a full run
    assert counting.decided == ROWS
    other = tmp_path / "other.csv"
    other.write_text("national_id\n" + "".join(f"{n}\n" for n in reversed(ids)), encoding="utf-8")
    code, err = await _sakha(*args, "--in", str(other), "--out", str(out), "--resume")
    assert code == 1
    assert "resume with the input of the interrupted run" in _error_line(err)
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("a,b\n1,2\n", encoding="utf-8")
    code, err = await _sakha(*args, "--in", str(source), "--out", str(stranger), "--resume")
    assert code == 1
    assert "is not a check-batch result file" in _error_line(err)
