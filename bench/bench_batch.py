"""Bulk re-assessment: every household head through one CheckBatch stream.

For each population (``--households``, repeatable), the hub (own process, default config)
decides every household head for ``livelihood_basket`` through one real gRPC stream from
this process, ``--runs`` times, while a thread samples the hub's resident memory. The
baseline makes the same Fetch calls straight to the agencies, chunked as the hub chunks a
stream (``batch_chunk_items`` heads per unit of work, ``batch_chunks_in_flight`` units at a
time, at most ``fetch_chunk_subjects`` subjects per Fetch). On the demo population the
``sakha check-batch`` command is also timed end to end, as a subprocess, on the demo's
caseload CSV.

    .venv/bin/python -m bench.bench_batch [--households 10000 --households 100000] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.simulated.build import MANIFEST_NAME, PopulationSummary
from bench import _stack
from bench._stats import (
    RESULTS_PATH,
    Profile,
    Spread,
    environment_line,
    markdown_table,
    medians,
    record_section,
)
from gateway.config import HubConfig
from gateway.demo import write_sample_caseload

PROGRAM = "livelihood_basket"
PURPOSE = "caseload_review"
PROFILE_ROUNDS = 3
"""Streams of the whole caseload profiled, for enough samples on the demo population."""
_DECISIONS = {
    eligibility_pb2.DECISION_ELIGIBLE: "ELIGIBLE",
    eligibility_pb2.DECISION_INELIGIBLE: "INELIGIBLE",
    eligibility_pb2.DECISION_UNDETERMINED: "UNDETERMINED",
}


@dataclass
class PopulationResult:
    """What was measured over one population."""

    households: int
    persons: int
    heads: int
    generated_s: float | None
    """Seconds to generate the population, None when it was reused from an earlier run."""
    hub_per_s: list[float] = field(default_factory=list)
    direct_per_s: list[float] = field(default_factory=list)
    direct_persons: int = 0
    cli_s: list[float] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    cli_decisions: Counter[str] = field(default_factory=Counter)
    rss_mib: dict[str, float] = field(default_factory=dict)
    """Hub memory: at start, after warm-up, after each run, peak."""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU ms per 1,000 subjects through the hub, by process (median over runs)."""
    direct_cpu_ms: dict[str, float] = field(default_factory=dict)
    profile: Profile | None = None


async def hub_batch(
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub,
    requests: Sequence[eligibility_pb2.CheckRequest],
    metadata: Sequence[tuple[str, str]] | None = None,
) -> Counter[str]:
    """Stream ``requests`` through CheckBatch; count the decisions (and errors) that come back.

    ``metadata`` goes with the call (a secure hub's bearer token).

    Raises:
        RuntimeError: the stream returned a different number of results.
    """
    counts: Counter[str] = Counter()
    async for result in stub.CheckBatch(iter(requests), timeout=3600, metadata=metadata):
        if result.HasField("error"):
            counts["ERROR"] += 1
        else:
            counts[_DECISIONS.get(result.decision, "UNSPECIFIED")] += 1
    if counts.total() != len(requests):
        raise RuntimeError(f"{counts.total()} results for {len(requests)} requests")
    return counts


async def direct_batch(
    direct: _stack.DirectClient, subjects: Sequence[str], config: HubConfig
) -> int:
    """The hub's Fetch calls for ``subjects``, chunked as the hub chunks a CheckBatch stream.

    Returns how many persons were asked about (heads and their household members).
    """
    the_plan = direct.plan(PROGRAM)
    slots = asyncio.Semaphore(config.batch_chunks_in_flight)
    size = config.batch_chunk_items

    async def one(chunk: Sequence[str]) -> int:
        async with slots:
            return await direct.fetch(
                the_plan, chunk, chunk=config.fetch_chunk_subjects, purpose=PURPOSE
            )

    asked = await asyncio.gather(
        *(one(subjects[i : i + size]) for i in range(0, len(subjects), size))
    )
    return sum(asked)


def cli_batch(target: str, caseload: Path, output: Path) -> tuple[float, Counter[str]]:
    """Run ``sakha check-batch`` on ``caseload``; return its wall time and decisions.

    Raises:
        RuntimeError: the command failed.
    """
    command = _stack.sakha_command(
        "check-batch",
        "--server",
        target,
        "--insecure",  # the benchmark's hub is plaintext: no profile is read or needed
        "--program",
        PROGRAM,
        "--purpose",
        PURPOSE,
        "--in",
        str(caseload),
        "--out",
        str(output),
    )
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        _stack.orphan_proof(command),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=3600,
        cwd=_stack.REPO_ROOT,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"sakha check-batch failed: {done.stderr.decode(errors='replace')}")
    with output.open(encoding="utf-8", newline="") as handle:
        decisions = Counter(row["decision"] for row in csv.DictReader(handle))
    return elapsed, decisions


async def measure_population(args: argparse.Namespace, households: int) -> PopulationResult:
    """Every figure for one population."""
    data_dir = _stack.population_dir(households, args.data_root)
    print(f"population of {households:,} households in {data_dir}…", flush=True)
    built = not (data_dir / MANIFEST_NAME).exists()
    summary, generated_s = _stack.prepare_population(households, data_dir)
    heads = _stack.household_heads(data_dir)
    result = PopulationResult(
        households, summary.persons, len(heads), generated_s if built else None
    )
    requests = [_stack.check_request(h, PROGRAM, PURPOSE, f"r{i}") for i, h in enumerate(heads)]
    config = HubConfig(insecure=True)
    with (
        _stack.running_agencies(data_dir) as agencies,
        _stack.running_hub(agencies) as stack,
        _stack.RssSampler(stack.hub_pid) as memory,
    ):
        meter = _stack.CpuMeter(
            {"hub": stack.hub_pid, "agencies": stack.agencies_pid, "client": os.getpid()}
        )
        result.rss_mib["start"] = _stack.rss_mib(stack.hub_pid)
        async with grpc.aio.insecure_channel(
            stack.hub_target, options=_stack.CLIENT_OPTIONS
        ) as channel:
            stub = _stack.hub_stub(channel)
            await hub_batch(stub, requests[:5000])
            result.rss_mib["after warm-up"] = _stack.rss_mib(stack.hub_pid)
            cpu: list[dict[str, float]] = []
            for run in range(args.runs):
                meter.start()
                started = time.perf_counter()
                result.decisions = await hub_batch(stub, requests)
                result.hub_per_s.append(len(heads) / (time.perf_counter() - started))
                cpu.append(meter.per_call(len(heads) // 1000))
                result.rss_mib[f"after run {run + 1}"] = _stack.rss_mib(stack.hub_pid)
                print(
                    f"  hub CheckBatch run {run + 1}: {result.hub_per_s[-1]:,.0f} subjects/s, "
                    f"hub RSS {result.rss_mib[f'after run {run + 1}']:.0f} MiB",
                    flush=True,
                )
            result.cpu_ms = medians(cpu)
            if args.profile and households == args.households[0]:
                result.profile = await _profile(args, stack, stub, requests, result)
        await _direct(stack, heads=heads, config=config, result=result, meter=meter, runs=args.runs)
        if households == args.cli_households:
            _cli(stack, summary, data_dir, result, args.runs)
        result.rss_mib["end"] = _stack.rss_mib(stack.hub_pid)
        result.rss_mib["peak"] = memory.peak
    return result


async def _direct(
    stack: _stack.Stack,
    *,
    heads: Sequence[str],
    config: HubConfig,
    result: PopulationResult,
    meter: _stack.CpuMeter,
    runs: int,
) -> None:
    direct = await _stack.DirectClient.connect(stack.agency_targets)
    try:
        await direct_batch(direct, heads[:5000], config)
        cpu: list[dict[str, float]] = []
        for run in range(runs):
            meter.start()
            started = time.perf_counter()
            result.direct_persons = await direct_batch(direct, heads, config)
            result.direct_per_s.append(len(heads) / (time.perf_counter() - started))
            cpu.append(meter.per_call(len(heads) // 1000))
            print(
                f"  direct fetches run {run + 1}: {result.direct_per_s[-1]:,.0f} subjects/s",
                flush=True,
            )
        result.direct_cpu_ms = medians(cpu)
    finally:
        await direct.close()


def _cli(
    stack: _stack.Stack,
    summary: PopulationSummary,
    data_dir: Path,
    result: PopulationResult,
    runs: int,
) -> None:
    caseload = data_dir / "caseload.csv"
    heads = write_sample_caseload(summary, caseload)
    output = data_dir / "bench-check-batch-results.csv"
    for run in range(runs):
        # In this (main) thread: the CLI's parent-death signal follows the spawning thread.
        elapsed, result.cli_decisions = cli_batch(stack.hub_target, caseload, output)
        result.cli_s.append(elapsed)
        print(f"  sakha check-batch run {run + 1}: {heads:,} subjects in {elapsed:.2f} s")


async def _profile(
    args: argparse.Namespace,
    stack: _stack.Stack,
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub,
    requests: Sequence[eligibility_pb2.CheckRequest],
    result: PopulationResult,
) -> Profile:
    output = args.data_root / "profiles" / f"batch-{result.households}-hub.txt"
    seconds = PROFILE_ROUNDS * 2 * len(requests) / max(result.hub_per_s) + 5
    with _stack.profiled(stack.hub_pid, output, seconds=seconds):
        for _ in range(PROFILE_ROUNDS):
            await hub_batch(stub, requests)
    profile = Profile.from_collapsed(output.read_text(encoding="utf-8"))
    print(f"\nhub profile, {PROFILE_ROUNDS} CheckBatch streams of {len(requests):,} ({output}):\n")
    print(profile.markdown() + "\n", flush=True)
    return profile


def report(args: argparse.Namespace, results: Sequence[PopulationResult]) -> str:
    """The Markdown section for RESULTS.md."""
    config = HubConfig(insecure=True)
    lines = [
        "## Bulk re-assessment (`bench_batch`)",
        "",
        f"{environment_line()}. Every household head for `{PROGRAM}` (purpose `{PURPOSE}`), "
        f"one CheckBatch stream per run, {args.runs} runs: median (lowest–highest). Hub and "
        "agencies in child processes (one each), the client in the parent; hub config at its "
        f"defaults (batch_chunk_items {config.batch_chunk_items}, batch_chunks_in_flight "
        f"{config.batch_chunks_in_flight}, fetch_chunk_subjects {config.fetch_chunk_subjects}). "
        "The baseline sends the same Fetch calls straight to the agencies, chunked the same "
        "way. A subject is a household head; its whole household is looked up.",
        "",
    ]
    headers = (
        "population",
        "subjects (heads)",
        "hub subjects/s",
        "hub persons/s",
        "direct subjects/s",
        "hub ÷ direct",
        "CPU ms per 1,000 subjects hub · agencies · client",
        "direct CPU hub · agencies · client",
        "decisions",
    )
    rows = []
    for r in results:
        hub = Spread.of(r.hub_per_s)
        direct = Spread.of(r.direct_per_s)
        rows.append(
            (
                f"{r.households:,} households, {r.persons:,} persons"
                + ("" if r.generated_s is None else f" (generated in {r.generated_s:.0f} s)"),
                f"{r.heads:,}",
                hub.show(0),
                f"{hub.median * r.direct_persons / r.heads:,.0f}",
                direct.show(0),
                f"{hub.ratio(direct):.2f}",
                _cpu(r.cpu_ms),
                _cpu(r.direct_cpu_ms),
                ", ".join(f"{k.lower()} {v:,}" for k, v in sorted(r.decisions.items())),
            )
        )
    lines += [markdown_table(headers, rows), "", "Hub resident memory (VmRSS, MiB):", ""]
    names = list(results[0].rss_mib)
    lines.append(
        markdown_table(
            ("population", *names),
            (
                (f"{r.households:,} households", *(f"{r.rss_mib.get(n, 0):.0f}" for n in names))
                for r in results
            ),
        )
    )
    for r in results:
        if r.cli_s:
            cli = Spread.of(r.cli_s)
            lines += [
                "",
                f"`sakha check-batch` end to end (subprocess: interpreter start, CSV in, "
                f"stream, CSV out with the progress bar) on the demo caseload of {r.heads:,} "
                f"heads: **{cli.show(2)} s**, i.e. {r.heads / cli.median:,.0f} subjects/s "
                f"({', '.join(f'{k.lower()} {v:,}' for k, v in sorted(r.cli_decisions.items()))}).",
            ]
    for r in results:
        if r.profile is not None:
            lines += [
                "",
                f"### Where the hub's time goes (py-spy, {PROFILE_ROUNDS} CheckBatch streams "
                f"of {r.heads:,} heads)",
                "",
                r.profile.markdown(),
            ]
    return "\n".join(lines)


def _cpu(cpu_ms: dict[str, float]) -> str:
    return " · ".join(f"{cpu_ms[k]:,.0f}" for k in ("hub", "agencies", "client") if k in cpu_ms)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_batch", description=__doc__)
    parser.add_argument(
        "--households",
        type=int,
        action="append",
        help=f"population size, repeatable (default {_stack.DEMO_HOUSEHOLDS})",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure")
    parser.add_argument("--data-root", type=Path, default=_stack.DEFAULT_ROOT)
    parser.add_argument(
        "--cli-households",
        type=int,
        default=_stack.DEMO_HOUSEHOLDS,
        help="time `sakha check-batch` on this population (0: never)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the hub (first size)")
    parser.add_argument("--record", action="store_true", help="write the section of RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="RESULTS.md to write")
    args = parser.parse_args(argv)
    args.households = args.households or [_stack.DEMO_HOUSEHOLDS]
    return args


async def run(args: argparse.Namespace) -> list[PopulationResult]:
    """Measure every population in turn."""
    return [await measure_population(args, households) for households in args.households]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print its figures and optionally record them."""
    args = parse_args(argv)
    results = _stack.run_benchmark(run(args))
    text = report(args, results)
    print("\n" + text)
    if args.record:
        record_section("bench_batch", text, args.results)


if __name__ == "__main__":
    main()
