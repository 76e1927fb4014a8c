"""Single checks: one at a time and 64 in flight, against the direct-fetch baseline.

For each program (livelihood_basket: household; disability_care_grant: person) and each
coalescing window, a closed-loop client in this process keeps 1 or ``--concurrency`` Check
calls in flight against a hub in its own process, over subjects drawn at random from the
population; the baseline is the same client making the hub's Fetch calls for each check
straight to the agencies (:class:`bench._stack.DirectClient`, no coalescing: one check's
fetches per call). Figures are medians over ``--runs`` runs with the lowest and highest.

    .venv/bin/python -m bench.bench_check [--runs 5] [--windows 0,1,2,5] [--profile] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from bench import _stack
from bench._stats import (
    RESULTS_PATH,
    Profile,
    Run,
    RunSummary,
    environment_line,
    markdown_table,
    medians,
    record_section,
)
from gateway.config import HubConfig

PROGRAMS = {"livelihood_basket": "livelihood_support", "disability_care_grant": "care_support"}
"""The programs measured and the purpose each is asked under."""

DEFAULT_WINDOW_MS = HubConfig(insecure=True).coalesce_window_ms
WARM_UP_S = 1.0
"""Unmeasured load before each measured load (connections, caches, the hub's plans)."""
_DECIDED = (eligibility_pb2.DECISION_ELIGIBLE, eligibility_pb2.DECISION_INELIGIBLE)

Call = Callable[[str], Awaitable[bool]]
"""Does one check (or its fetches) for a subject; False when it did not decide cleanly."""


@dataclass(frozen=True)
class Measured:
    """One load's runs summarised, with the CPU each process spent per check."""

    summary: RunSummary
    cpu_ms: dict[str, float]
    """Median over runs of CPU ms per check, by process (hub, agencies, client)."""


async def closed_loop(
    call: Call,
    subjects: Sequence[str],
    *,
    concurrency: int,
    duration_s: float | None = None,
    calls: int | None = None,
) -> Run:
    """Keep ``concurrency`` calls in flight until ``duration_s`` passed or ``calls`` finished.

    Each call takes the next subject of ``subjects`` (cycling). Latency is measured per call
    from just before it is sent to its answer.
    """
    latencies: list[float] = []
    errors = 0
    issued = 0
    started = time.perf_counter()
    stop_at = started + duration_s if duration_s is not None else float("inf")

    async def worker() -> None:
        nonlocal errors, issued
        while time.perf_counter() < stop_at and (calls is None or issued < calls):
            subject = subjects[issued % len(subjects)]
            issued += 1
            sent = time.perf_counter()
            try:
                ok = await call(subject)
            except grpc.aio.AioRpcError:
                ok = False
            latencies.append((time.perf_counter() - sent) * 1000)
            errors += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(len(latencies), errors, time.perf_counter() - started, tuple(latencies))


async def measure(
    call: Call,
    subjects: Sequence[str],
    meter: _stack.CpuMeter,
    *,
    concurrency: int,
    runs: int,
    duration_s: float,
    calls: int,
) -> Measured:
    """Warm up, then ``runs`` runs: by count when alone, by duration when concurrent."""
    alone = concurrency == 1
    await closed_loop(call, subjects, concurrency=concurrency, duration_s=WARM_UP_S)
    results: list[Run] = []
    cpu: list[dict[str, float]] = []
    for _ in range(runs):
        meter.start()
        run = await closed_loop(
            call,
            subjects,
            concurrency=concurrency,
            duration_s=None if alone else duration_s,
            calls=calls if alone else None,
        )
        cpu.append(meter.per_call(run.calls))
        results.append(run)
    return Measured(RunSummary.of(results), medians(cpu))


Metadata = tuple[tuple[str, str], ...]
"""gRPC call metadata (a bearer token, for a secure hub)."""


def hub_call(
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub,
    program_id: str,
    metadata: Callable[[], Metadata] | None = None,
) -> Call:
    """A Check of ``program_id`` through the hub; decided (not UNDETERMINED) is success.

    ``metadata`` is asked for each call's metadata (a secure hub's bearer token).
    """
    purpose = PROGRAMS[program_id]

    async def call(subject: str) -> bool:
        result = await stub.Check(
            _stack.check_request(subject, program_id, purpose, "bench"),
            timeout=30,
            metadata=metadata() if metadata is not None else None,
        )
        return result.decision in _DECIDED

    return call


def direct_call(direct: _stack.DirectClient, program_id: str) -> Call:
    """The hub's fetches for one check of ``program_id``, made straight to the agencies."""
    the_plan = direct.plan(program_id)
    purpose = PROGRAMS[program_id]

    async def call(subject: str) -> bool:
        await direct.fetch(the_plan, [subject], purpose=purpose)
        return True

    return call


@dataclass
class Results:
    """Everything one invocation measured."""

    direct: dict[tuple[str, int], Measured] = dataclasses.field(default_factory=dict)
    hub: dict[tuple[float, str, int], Measured] = dataclasses.field(default_factory=dict)
    fetches_per_check: dict[str, float] = dataclasses.field(default_factory=dict)
    profile: Profile | None = None
    population: str = ""


def hub_at(
    window: float, data_dir: Path, agencies: _stack.Child | None, overrides: dict[str, float]
) -> contextlib.AbstractContextManager[_stack.Stack]:
    """A hub with ``coalesce_window_ms=window`` and ``overrides``: over ``agencies``, or with
    agencies of its own in one process (demo layout)."""
    config = {**overrides, "coalesce_window_ms": window}
    if agencies is None:
        return _stack.running_stack(data_dir, layout="demo", **config)
    return _stack.running_hub(agencies, **config)


async def run(args: argparse.Namespace) -> Results:
    """Measure the baseline once, then the hub at every window, for every program."""
    data_dir = args.data_dir or _stack.population_dir(args.households)
    summary, _ = _stack.prepare_population(args.households, data_dir)
    shuffle = random.Random(20261121)
    subjects = {
        "livelihood_basket": _stack.household_heads(data_dir),
        "disability_care_grant": _stack.living_persons(data_dir),
    }
    for listed in subjects.values():
        shuffle.shuffle(listed)
    results = Results(population=f"{summary.households:,} households, {summary.persons:,} persons")
    windows = sorted({*args.windows, DEFAULT_WINDOW_MS})
    loads = {"c1": 1, f"c{args.concurrency}": args.concurrency}
    with contextlib.ExitStack() as outer:
        agencies = None
        if args.layout == "split":
            agencies = outer.enter_context(_stack.running_agencies(data_dir))
        for index, window in enumerate(windows):
            with hub_at(window, data_dir, agencies, args.hub_config) as stack:
                pids = {"hub": stack.hub_pid, "client": os.getpid()}
                if stack.agencies_pid != stack.hub_pid:
                    pids["agencies"] = stack.agencies_pid
                meter = _stack.CpuMeter(pids)
                if index == 0:
                    await _direct(
                        args, stack, subjects=subjects, loads=loads, results=results, meter=meter
                    )
                await _hub(
                    args,
                    window,
                    stack,
                    subjects=subjects,
                    loads=loads,
                    results=results,
                    meter=meter,
                )
    return results


async def _hub(
    args: argparse.Namespace,
    window: float,
    stack: _stack.Stack,
    *,
    subjects: dict[str, list[str]],
    loads: dict[str, int],
    results: Results,
    meter: _stack.CpuMeter,
) -> None:
    async with grpc.aio.insecure_channel(
        stack.hub_target, options=_stack.CLIENT_OPTIONS
    ) as channel:
        stub = _stack.hub_stub(channel)
        for program_id in args.programs:
            for name, concurrency in loads.items():
                measured = await measure(
                    hub_call(stub, program_id),
                    subjects[program_id],
                    meter,
                    concurrency=concurrency,
                    runs=args.runs,
                    duration_s=args.duration,
                    calls=args.checks,
                )
                results.hub[(window, program_id, concurrency)] = measured
                _print_line(f"hub window={window:g} ms", program_id, name, measured)
        if args.profile and window == DEFAULT_WINDOW_MS:
            results.profile = await _profile(args, stack, stub, subjects)


async def _direct(
    args: argparse.Namespace,
    stack: _stack.Stack,
    *,
    subjects: dict[str, list[str]],
    loads: dict[str, int],
    results: Results,
    meter: _stack.CpuMeter,
) -> None:
    direct = await _stack.DirectClient.connect(stack.agency_targets)
    try:
        for program_id in args.programs:
            call = direct_call(direct, program_id)
            # The agencies' SQLite caches warm up here, before anything is measured.
            await closed_loop(call, subjects[program_id], concurrency=64, duration_s=3.0)
            before = direct.calls
            await call(subjects[program_id][0])
            results.fetches_per_check[program_id] = direct.calls - before
            for name, concurrency in loads.items():
                measured = await measure(
                    call,
                    subjects[program_id],
                    meter,
                    concurrency=concurrency,
                    runs=args.runs,
                    duration_s=args.duration,
                    calls=args.checks,
                )
                results.direct[(program_id, concurrency)] = measured
                _print_line("direct fetches", program_id, name, measured)
    finally:
        await direct.close()


async def _profile(
    args: argparse.Namespace,
    stack: _stack.Stack,
    stub: eligibility_pb2_grpc.EligibilityServiceAsyncStub,
    subjects: dict[str, list[str]],
) -> Profile:
    program_id = "livelihood_basket"
    output = _stack.DEFAULT_ROOT / "profiles" / f"check-c{args.concurrency}-hub.txt"
    output.parent.mkdir(parents=True, exist_ok=True)
    seconds = max(args.duration, 5.0)
    with _stack.profiled(stack.hub_pid, output, seconds=seconds):
        await closed_loop(
            hub_call(stub, program_id),
            subjects[program_id],
            concurrency=args.concurrency,
            duration_s=seconds,
        )
    profile = Profile.from_collapsed(output.read_text(encoding="utf-8"))
    print(f"\nhub profile, {program_id} at c{args.concurrency} ({output}):\n")
    print(profile.markdown())
    return profile


def _print_line(what: str, program_id: str, load: str, measured: Measured) -> None:
    s = measured.summary
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in measured.cpu_ms.items())
    print(
        f"{what:<22} {program_id:<22} {load:<4} {s.per_second.show(0)}/s  "
        f"p50 {s.p50_ms.show(1)} ms  p99 {s.p99_ms.show(1)} ms  "
        f"not decided {s.errors}  CPU ms/check: {cpu}",
        flush=True,
    )


def report(args: argparse.Namespace, results: Results) -> str:
    """The Markdown section for RESULTS.md."""
    c = args.concurrency
    window = DEFAULT_WINDOW_MS
    processes = "hub+agencies · client" if args.layout == "demo" else "hub · agencies · client"
    label = f", {args.label}" if args.label else ""
    lines = [
        f"## Single checks (`bench_check`, layout: {args.layout}{label})",
        "",
        f"{environment_line()}. Population: {results.population}. "
        f"{args.runs} runs per figure: median (lowest–highest). Alone: {args.checks} "
        f"sequential checks per run; c{c}: {c} calls in flight for {args.duration:g} s per "
        "run. Load generator and direct baseline in the parent process; hub and agencies in "
        "child processes"
        + (" (the same one, as in `sakha demo`)." if args.layout == "demo" else " (one each).")
        + " Subjects drawn at random (household heads for the household program, living "
        "persons for the person program)."
        + "".join(f" Hub config: {k}={v:g}." for k, v in sorted(args.hub_config.items()))
        + " The direct baseline makes each check's fetches on its own (no coalescing), so at "
        f"c{c} the ratio mostly measures what coalescing saves.",
        "",
        f"### At the default coalesce window ({window:g} ms), against the direct baseline",
        "",
    ]
    headers = (
        "program",
        "load",
        "hub checks/s",
        "hub p50 ms",
        "hub p99 ms",
        "direct checks/s",
        "direct p50 ms",
        "direct p99 ms",
        "hub ÷ direct (throughput)",
        f"CPU ms/check {processes}",
    )
    rows = []
    for program_id in args.programs:
        for concurrency in (1, c):
            hub = results.hub[(window, program_id, concurrency)]
            direct = results.direct[(program_id, concurrency)]
            rows.append(
                (
                    f"{program_id} ({results.fetches_per_check[program_id]:.0f} fetches)",
                    "alone" if concurrency == 1 else f"c{c}",
                    hub.summary.per_second.show(0),
                    hub.summary.p50_ms.show(1),
                    hub.summary.p99_ms.show(1),
                    direct.summary.per_second.show(0),
                    direct.summary.p50_ms.show(1),
                    direct.summary.p99_ms.show(1),
                    f"{hub.summary.per_second.ratio(direct.summary.per_second):.2f}",
                    _cpu(hub) + " (direct: " + _cpu(direct) + ")",
                )
            )
    lines += [markdown_table(headers, rows), ""]
    lines += [f"### coalesce_window_ms sweep (alone and c{c})", ""]
    sweep_headers = (
        "program",
        "window ms",
        "alone p50 ms",
        "alone p99 ms",
        f"c{c} checks/s",
        f"c{c} p50 ms",
        f"c{c} p99 ms",
        f"c{c} CPU ms/check {processes}",
        "not decided",
    )
    sweep_rows = []
    for program_id in args.programs:
        for win in sorted({w for w, _, _ in results.hub}):
            alone = results.hub[(win, program_id, 1)]
            loaded = results.hub[(win, program_id, c)]
            sweep_rows.append(
                (
                    program_id,
                    f"{win:g}",
                    alone.summary.p50_ms.show(1),
                    alone.summary.p99_ms.show(1),
                    loaded.summary.per_second.show(0),
                    loaded.summary.p50_ms.show(1),
                    loaded.summary.p99_ms.show(1),
                    _cpu(loaded),
                    str(alone.summary.errors + loaded.summary.errors),
                )
            )
    lines.append(markdown_table(sweep_headers, sweep_rows))
    if results.profile is not None:
        lines += [
            "",
            f"### Where the hub's time goes (py-spy, livelihood_basket at c{c}, "
            f"window {window:g} ms)",
            "",
            results.profile.markdown(),
        ]
    return "\n".join(lines)


def _cpu(measured: Measured) -> str:
    order = ("hub", "agencies", "client")
    return " · ".join(f"{measured.cpu_ms[k]:.2f}" for k in order if k in measured.cpu_ms)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_check", description=__doc__)
    parser.add_argument("--households", type=int, default=_stack.DEMO_HOUSEHOLDS)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: /tmp/sakha-bench")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure")
    parser.add_argument("--checks", type=int, default=200, help="checks per sequential run")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per concurrent run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--windows",
        type=lambda text: [float(w) for w in text.split(",")],
        default=[0.0, 1.0, 2.0, 5.0],
        help="coalesce_window_ms values, comma-separated (the default is always added)",
    )
    parser.add_argument(
        "--programs", type=lambda text: text.split(","), default=list(PROGRAMS), metavar="IDS"
    )
    parser.add_argument("--layout", choices=("split", "demo"), default="split")
    parser.add_argument("--profile", action="store_true", help="py-spy the hub at c64")
    parser.add_argument(
        "--hub-config",
        action="append",
        default=[],
        metavar="KEY=NUMBER",
        help="another HubConfig override for every hub, e.g. coalesce_max_items=128",
    )
    parser.add_argument("--label", default="", help="names this run's section of RESULTS.md")
    parser.add_argument("--record", action="store_true", help="write the section of RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="RESULTS.md to write")
    args = parser.parse_args(argv)
    args.hub_config = dict(_override(item) for item in args.hub_config)
    return args


def _override(text: str) -> tuple[str, float]:
    key, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        raise SystemExit(f"--hub-config {text!r} is not KEY=NUMBER") from None
    return key, int(number) if "." not in value and number.is_integer() else number


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print its figures and optionally record them."""
    args = parse_args(argv)
    unknown = set(args.programs) - set(PROGRAMS)
    if unknown:
        raise SystemExit(f"unknown programs {sorted(unknown)}; known: {sorted(PROGRAMS)}")
    results = _stack.run_benchmark(run(args))
    text = report(args, results)
    print("\n" + text)
    if args.record:
        name = "bench_check" + ("" if args.layout == "split" else "-demo")
        record_section(name + (f"-{args.label}" if args.label else ""), text, args.results)


if __name__ == "__main__":
    main()
