"""Demo start-up: population generation, then ``sakha demo`` until SERVING and a first Check.

Four figures, each over ``--runs`` runs (median, lowest–highest):

1. generating the population alone (``ensure_population`` into an empty folder, in this
   process);
2. ``sakha demo`` cold: a subprocess over an empty folder, so it generates first; timed
   from the spawn until ``grpc.health.v1`` says SERVING, until a first Check returns a
   decision, and from SIGINT until the process has exited;
3. ``sakha demo`` warm: the same over a folder that already holds the population;
4. the warm start by phase (interpreter and imports, population reuse check, 30 agencies
   up, hub connected and SERVING, first Check), from a child that does what ``sakha demo``
   does and notes the time after each step.

The client polls every 5 ms, so figures are within ~5 ms. The wrapper that makes a
subprocess die with this one (:func:`bench._stack.orphan_proof`) adds ~15 ms to 2 and 3.

    .venv/bin/python -m bench.bench_startup [--households 10000] [--runs 5] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from adapters.simulated.build import ensure_population
from bench import _stack
from bench._stats import RESULTS_PATH, Spread, environment_line, markdown_table, record_section

PROGRAM = "livelihood_basket"
PURPOSE = "livelihood_support"


@dataclass
class Timings:
    """Seconds per run of each figure, by name."""

    runs: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        """Note one run's ``seconds`` for figure ``name``."""
        self.runs.setdefault(name, []).append(seconds)


async def first_check(target: str, subject: str) -> float:
    """Send Checks until one returns a decision; return ``time.monotonic()`` then.

    Raises:
        TimeoutError: no decision within 60 s.
    """
    deadline = time.monotonic() + 60
    async with grpc.aio.insecure_channel(target, options=_stack.CLIENT_OPTIONS) as channel:
        stub = _stack.hub_stub(channel)
        while time.monotonic() < deadline:
            try:
                await stub.Check(_stack.check_request(subject, PROGRAM, PURPOSE), timeout=10)
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.005)
                continue
            return time.monotonic()
    raise TimeoutError("no successful Check within 60 s")


@contextlib.contextmanager
def demo_process(
    data_dir: Path, households: int, port: int, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """``sakha demo`` as a subprocess; yields it and ``time.monotonic()`` just before spawn."""
    command = _stack.sakha_command(
        "demo",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--households",
        str(households),
    )
    with log.open("wb") as output:
        spawned = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            _stack.orphan_proof(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=_stack.REPO_ROOT,
        )
        try:
            yield process, spawned
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            _stack.stop_process(process)


async def time_demo(
    data_dir: Path, households: int, subject: str, timings: Timings, *, kind: str, log: Path
) -> None:
    """One ``sakha demo`` start: to SERVING, to a first Check, and from SIGINT to exit.

    Raises:
        RuntimeError: the demo did not come up (its output is in ``log``).
    """
    port = _stack.free_port()
    target = f"127.0.0.1:{port}"
    with demo_process(data_dir, households, port, log) as (process, spawned):
        try:
            serving = await _stack.wait_serving(target, timeout_s=600)
            checked = await first_check(target, subject)
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            raise RuntimeError(f"the demo did not come up: see {log}") from exc
        timings.add(f"demo {kind}: spawn → SERVING", serving - spawned)
        timings.add(f"demo {kind}: spawn → first Check", checked - spawned)
        asked = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(60)
        timings.add(f"demo {kind}: SIGINT → exited", time.monotonic() - asked)


async def time_phases(data_dir: Path, households: int, subject: str, timings: Timings) -> None:
    """One warm start in a child, timed after each step, then a first Check."""
    with _stack.child("both", "--data-dir", str(data_dir), "--households", str(households)) as both:
        checked = await first_check(f"127.0.0.1:{both.ready['port']}", subject)
        stamps = both.ready["stamps"]
    steps = [
        ("interpreter start and imports", both.spawned, stamps["main"]),
        ("population reuse check", stamps["main"], stamps["population"]),
        ("30 agencies up", stamps["population"], stamps["agencies"]),
        ("hub connected and SERVING", stamps["agencies"], stamps["hub"]),
        ("first Check", stamps["hub"], checked),
        ("total", both.spawned, checked),
    ]
    for name, start, end in steps:
        timings.add(f"phase: {name}", end - start)


async def run(args: argparse.Namespace) -> Timings:
    """Every figure, ``args.runs`` times."""
    timings = Timings()
    reused = _stack.population_dir(args.households, args.data_root)
    summary, _ = _stack.prepare_population(args.households, reused)
    subject = summary.samples.poor_head or summary.samples.unknown
    scratch = Path(tempfile.mkdtemp(prefix="startup-", dir=args.data_root))
    try:
        for run_index in range(args.runs):
            print(f"run {run_index + 1}/{args.runs}…", flush=True)
            fresh = scratch / f"generate-{run_index}"
            started = time.perf_counter()
            ensure_population(fresh, households=args.households)
            timings.add("population generation (cold, in-process)", time.perf_counter() - started)
            shutil.rmtree(fresh)
            cold = scratch / f"demo-{run_index}"
            for kind in ("cold", "warm"):
                log = args.data_root / f"demo-{kind}.log"
                await time_demo(cold, args.households, subject, timings, kind=kind, log=log)
            shutil.rmtree(cold)
            await time_phases(reused, args.households, subject, timings)
            _print(timings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return timings


def _print(timings: Timings) -> None:
    for name, values in timings.runs.items():
        print(f"  {name:<48} {values[-1] * 1000:8.0f} ms")


def report(args: argparse.Namespace, timings: Timings) -> str:
    """The Markdown section for RESULTS.md."""
    rows = [
        (name, Spread.of(v * 1000 for v in values).show(0)) for name, values in timings.runs.items()
    ]
    return "\n".join(
        [
            "## Demo start-up (`bench_startup`)",
            "",
            f"{environment_line()}. {args.households:,} households; {args.runs} runs: median "
            "(lowest–highest), in ms. `sakha demo` runs as a subprocess; SERVING is polled "
            "with grpc.health.v1 every 5 ms; the first Check asks livelihood_basket about a "
            "sample household head. Cold = empty data folder (the demo generates first); warm "
            "= the population is reused (its files are then in the page cache).",
            "",
            markdown_table(("step", "ms"), rows),
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_startup", description=__doc__)
    parser.add_argument("--households", type=int, default=_stack.DEMO_HOUSEHOLDS)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure")
    parser.add_argument("--data-root", type=Path, default=_stack.DEFAULT_ROOT)
    parser.add_argument("--record", action="store_true", help="write the section of RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="RESULTS.md to write")
    args = parser.parse_args(argv)
    args.data_root.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print its figures and optionally record them."""
    args = parse_args(argv)
    timings = _stack.run_benchmark(run(args))
    text = report(args, timings)
    print("\n" + text)
    if args.record:
        record_section("bench_startup", text, args.results)


if __name__ == "__main__":
    main()
