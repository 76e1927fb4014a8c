"""The benchmark suite: the whole stack, every layer on, in one command under ten minutes.

One population (by default 310,000 households, about 1,000,000 persons), the 30 simulated
agencies as real gRPC servers in processes of their own (mutual TLS; plaintext checking
fetch tokens; plaintext; and two with injected latency), one hub process per configuration,
and the load generator in this process. Scenarios, each the median of ``--runs`` runs
(rounds interleaved, so drift on the machine spreads over all alike):

1. **single checks** of livelihood_basket through the full hub (client TLS, tokens, agency
   mTLS, fetch tokens, consent, audit): one at a time (p50, p99) and 64 in flight
   (checks/s, p50, p99);
2. **bulk**: one CheckBatch stream over every household head (persons/s, heads/s) with the
   hub's and the agencies' resident memory sampled throughout;
3. **the no-hub baseline** in the same run: a client making the hub's agency fetches itself,
   straight to plaintext agencies (the sources with nothing in front), for single checks and
   for the bulk run, and the hub as a ratio of it;
4. **each layer's cost**: pairs of hubs that differ in one layer, switched through the hub's
   real configuration (``security:``), measured side by side; where the configuration ties
   layers together (tokens need TLS, consent needs tokens, mutual TLS needs fetch tokens) the
   pair switches the layer with everything else as on as the rules allow;
5. **slow agencies**: every agency answering after 20 ms ± 5 ms, tax after 200 ms; then also
   land_registry never answering in time (``agency_timeout_ms`` 500): what the hub adds on
   top of the slowest source, and that it keeps the per-agency timeout;
6. **durable audit append** alone (SQLite, one writer, groups of 1,000 realistic entries).

Consents: every head consents to livelihood_basket (the store is seeded once per population
and copied for each run); the programs are the built-in ones with livelihood_basket's
frequency limit raised (see :mod:`bench.bench_layers`).

    .venv/bin/python -m bench.suite [--runs 3] [--record] [--profile]
    .venv/bin/python -m bench.suite --smoke        # seconds: CI runs it so it cannot rot
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import _stack, bench_security
from bench._stats import (
    RESULTS_PATH,
    Profile,
    Run,
    RunSummary,
    Spread,
    environment_line,
    markdown_table,
    medians,
    publish,
)
from bench.bench_audit_append import fresh_sqlite, one_run
from bench.bench_batch import direct_batch, hub_batch
from bench.bench_check import Measured, closed_loop, direct_call, hub_call, measure
from bench.bench_layers import PROGRAM, bench_programs
from bench.bench_security import BearerToken, Hub
from consent.migrations import CONSENT_MIGRATIONS
from consent.store import sqlite_url_text
from gateway.config import HubConfig, SecurityLayers
from gateway.demo_consent import fresh_demo_databases
from gateway.pki.tls import client_channel_credentials

PURPOSE = "livelihood_support"
TRACED = {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}
"""Every span exported (to the hub's standard error, which the benchmark discards)."""


@dataclass(frozen=True)
class Variant:
    """One hub configuration: its layers, which agencies it calls, its environment."""

    layers: SecurityLayers
    agencies: str = "mtls"
    env: Mapping[str, str] | None = None


FULL = "full"
HUBS: dict[str, Variant] = {
    FULL: Variant(SecurityLayers()),
    "−audit": Variant(SecurityLayers(audit=False)),
    "−consent": Variant(SecurityLayers(consent=False)),
    "−consent −tokens": Variant(SecurityLayers(consent=False, client_tokens=False)),
    "−consent −tokens −TLS": Variant(
        SecurityLayers(consent=False, client_tokens=False, client_tls=False, agency_mtls=False),
        "checking",
    ),
    "−agency mTLS": Variant(SecurityLayers(agency_mtls=False), "checking"),
    "−agency mTLS −fetch tokens": Variant(
        SecurityLayers(agency_mtls=False, fetch_tokens=False), "plain"
    ),
    "+tracing": Variant(SecurityLayers(), env=TRACED),
}
"""The hubs of scenarios 1 and 4 (``full`` is the target configuration)."""

LAYERS = (
    ("audit log", "−audit", FULL),
    ("consent", "−consent", FULL),
    ("client tokens (consent off)", "−consent −tokens", "−consent"),
    ("TLS, client and agency (tokens, consent off)", "−consent −tokens −TLS", "−consent −tokens"),
    ("fetch tokens (agency mTLS off)", "−agency mTLS −fetch tokens", "−agency mTLS"),
    ("tracing, every span exported", FULL, "+tracing"),
)
"""(layer, hub without it, hub with it)."""

SLOW = {"*": "20±5", "tax": "200"}
TIMING_OUT = {**SLOW, "land_registry": "5000"}
SLOW_TIMEOUT_MS = 500
SLOW_HUBS = {"slow": SLOW, "timing out": TIMING_OUT}
"""Scenario 5's agencies (injected latency, ms) and the hub's ``agency_timeout_ms``."""

TARGETS = {
    "c64 checks/s": 1000.0,
    "c64 p99 ms": 150.0,
    "c1 p50 ms": 10.0,
    "bulk persons/s": 20_000.0,
    "hub ÷ baseline": 0.8,
    "audit entries/s": 20_000.0,
}


@dataclass
class Bulk:
    """Scenario 2 and its baseline."""

    heads: int = 0
    persons: int = 0
    hub_heads_per_s: list[float] = field(default_factory=list)
    direct_heads_per_s: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)
    """Resident MiB of hub and agencies: at start, then after each run."""
    peak: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    cpu: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    """Per run ("hub", "direct"): CPU ms per 1,000 heads of each process."""


@dataclass
class Results:
    """Everything one invocation measured."""

    population: str = ""
    setup: str = ""
    singles: dict[tuple[str, int], Measured] = field(default_factory=dict)
    work: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    direct: dict[int, Measured] = field(default_factory=dict)
    bulk: Bulk = field(default_factory=Bulk)
    slow: dict[tuple[str, int], RunSummary] = field(default_factory=dict)
    append: Spread | None = None
    """Durable appends of prepared records (the store alone), entries/s."""
    append_built: Spread | None = None
    """The same with each entry built and encoded first (the hub's record step)."""
    profiles: dict[str, Profile] = field(default_factory=dict)
    elapsed_s: float = 0.0


# --- set-up -------------------------------------------------------------------------------


def seeded_consents(data_dir: Path, programs: Path, heads_file: Path, into: Path) -> Path:
    """A consent store in which every head consents, copied into ``into`` (a fresh file).

    The seeded store is kept in the population's folder, keyed by the heads, the program file
    and the consent key, so it is made once (a hub grants the consents before it reports
    ready) and copied afterwards.
    """
    material = _stack.prepare_security(data_dir)
    key = hashlib.sha256()
    for part in (heads_file, programs / f"{PROGRAM}.yaml", material.pki.consent_key):
        key.update(part.read_bytes())
    cache = data_dir / "bench-consents" / f"{key.hexdigest()[:16]}.sqlite"
    if not cache.exists():
        started = time.perf_counter()
        cache.parent.mkdir(parents=True, exist_ok=True)
        making = cache.with_suffix(".making")
        making.unlink(missing_ok=True)
        url = sqlite_url_text(str(making))
        CONSENT_MIGRATIONS.upgrade(url)
        with (
            _stack.running_agencies(data_dir, pki=material.pki.folder) as agencies,
            _stack.running_secured_hub(
                agencies,
                SecurityLayers(audit=False),
                material,
                db_url=url,
                consents={PROGRAM: heads_file},
                programs_dir=str(programs),
            ),
        ):
            pass
        engine = sa.create_engine(url)
        with engine.connect() as connection:  # fold the WAL in: the cache is one file
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        making.rename(cache)
        print(f"seeded {cache} in {time.perf_counter() - started:.0f} s", flush=True)
    copy = into / "consent.sqlite"
    shutil.copyfile(cache, copy)
    return copy


@contextlib.contextmanager
def running_hubs(
    args: argparse.Namespace, data_dir: Path, folder: Path, heads: Sequence[str]
) -> Iterator[tuple[dict[str, Hub], dict[str, _stack.Child], str]]:
    """Agencies and every hub of :data:`HUBS` and :data:`SLOW_HUBS`, started; with the plain
    agencies (the baseline's) and the setup line."""
    started = time.perf_counter()
    material = _stack.prepare_security(data_dir)
    programs = bench_programs(folder / "programs")
    heads_file = folder / "heads.txt"
    heads_file.write_text("\n".join(sorted(heads)) + "\n", encoding="utf-8")
    consent_db = seeded_consents(data_dir, programs, heads_file, folder)
    (folder / "audit").mkdir()
    _, audit_db_url = fresh_demo_databases(folder / "audit")
    consent_url = sqlite_url_text(str(consent_db))
    config: dict[str, Any] = {"programs_dir": str(programs), **args.hub_config}
    credentials = client_channel_credentials(material.pki.ca_cert)
    with contextlib.ExitStack() as running:
        agencies = {
            "mtls": _stack.running_agencies(data_dir, pki=material.pki.folder),
            "checking": _stack.running_agencies(data_dir, hub_keys=material.pki.fetch_token_jwks),
            "plain": _stack.running_agencies(data_dir),
            **{
                name: _stack.running_agencies(data_dir, pki=material.pki.folder, latency=latency)
                for name, latency in SLOW_HUBS.items()
            },
        }
        children = {name: running.enter_context(a) for name, a in agencies.items()}
        variants = {
            **{name: (v, config) for name, v in HUBS.items() if name in args.hubs},
            **{
                name: (
                    Variant(SecurityLayers(), name),
                    {**config, "agency_timeout_ms": SLOW_TIMEOUT_MS},
                )
                for name in SLOW_HUBS
            },
        }
        hubs: dict[str, Hub] = {}
        for name, (variant, hub_config) in variants.items():
            layers = variant.layers
            stack = running.enter_context(
                _stack.running_secured_hub(
                    children[variant.agencies],
                    layers,
                    material,
                    db_url=consent_url if layers.consent else None,
                    env=variant.env,
                    **hub_config,
                    audit_db_url=audit_db_url if layers.audit else None,
                )
            )
            hubs[name] = Hub(
                name,
                stack,
                credentials if layers.client_tls else None,
                BearerToken(material) if layers.client_tokens else None,
            )
        setup = (
            f"{len(children)} agency processes and {len(hubs)} hubs started in "
            f"{time.perf_counter() - started:.0f} s"
        )
        print(setup, flush=True)
        yield hubs, children, setup


# --- scenarios ----------------------------------------------------------------------------


async def singles(
    args: argparse.Namespace, hubs: dict[str, Hub], heads: list[str], results: Results
) -> None:
    """Scenarios 1 and 4: every layer hub at c1 and c64, interleaved."""
    measured = bench_security.Results()
    layer_hubs = {name: hub for name, hub in hubs.items() if name in HUBS}
    await bench_security.measure(args, layer_hubs, {PROGRAM: heads}, measured)
    for (name, _, concurrency), summary in measured.measured.items():
        results.singles[name, concurrency] = summary
        results.work[name, concurrency] = measured.work[name, PROGRAM, concurrency]


async def baseline_singles(
    args: argparse.Namespace, plain: _stack.Child, heads: list[str], results: Results
) -> None:
    """Scenario 3 for single checks: the hub's fetches of one check, made directly."""
    targets = [(a, t) for a, t in plain.ready["targets"]]
    direct = await _stack.DirectClient.connect(targets)
    meter = _stack.CpuMeter({"agencies": plain.pid, "client": os.getpid()})
    try:
        call = direct_call(direct, PROGRAM)
        await closed_loop(call, heads, concurrency=args.concurrency, duration_s=1.0)
        for concurrency in (1, args.concurrency):
            results.direct[concurrency] = await measure(
                call,
                heads,
                meter,
                concurrency=concurrency,
                runs=args.runs,
                duration_s=args.duration,
                calls=args.checks,
            )
            print(_line("direct", concurrency, results.direct[concurrency].summary), flush=True)
    finally:
        await direct.close()


async def bulk(  # noqa: PLR0917 - one call site, every argument needed
    args: argparse.Namespace,
    hub: Hub,
    plain: _stack.Child,
    heads: list[str],
    persons: int,
    results: Results,
) -> None:
    """Scenarios 2 and 3 for CheckBatch: every head through the full hub, and directly."""
    found = results.bulk
    found.heads, found.persons = len(heads), persons
    requests = [_stack.check_request(h, PROGRAM, PURPOSE, f"b-{i}") for i, h in enumerate(heads)]
    pids = {"hub": hub.stack.hub_pid, "agencies": hub.stack.agencies_pid}
    found.rss = {name: [_stack.rss_mib(pid)] for name, pid in pids.items()}
    config = HubConfig(insecure=True)
    direct = await _stack.DirectClient.connect([(a, t) for a, t in plain.ready["targets"]])
    samplers = {name: _stack.RssSampler(pid) for name, pid in pids.items()}
    meters = {
        "hub": _stack.CpuMeter({**pids, "client": os.getpid()}),
        "direct": _stack.CpuMeter({"agencies": plain.pid, "client": os.getpid()}),
    }
    try:
        async with hub.channel() as channel:
            stub = _stack.hub_stub(channel)
            with contextlib.ExitStack() as sampling:
                for sampler in samplers.values():
                    sampling.enter_context(sampler)
                for round_index in range(args.runs):
                    for which in ("hub", "direct") if round_index % 2 == 0 else ("direct", "hub"):
                        started = time.perf_counter()
                        meters[which].start()
                        if which == "hub":
                            assert hub.metadata is not None  # noqa: S101 - the full hub
                            counts = await hub_batch(stub, requests, hub.metadata())
                            found.errors += counts.get("ERROR", 0)
                        else:
                            await direct_batch(direct, heads, config)
                        rate = len(heads) / (time.perf_counter() - started)
                        used = meters[which].per_call(len(heads))
                        found.cpu.setdefault(which, []).append(
                            {name: 1000 * ms for name, ms in used.items()}
                        )
                        listed = (
                            found.hub_heads_per_s if which == "hub" else found.direct_heads_per_s
                        )
                        listed.append(rate)
                        print(
                            f"bulk {which:<6} {rate:,.0f} heads/s = "
                            f"{rate * persons / len(heads):,.0f} persons/s",
                            flush=True,
                        )
                    for name, pid in pids.items():
                        found.rss[name].append(_stack.rss_mib(pid))
        found.peak = {name: sampler.peak for name, sampler in samplers.items()}
    finally:
        await direct.close()


async def slow_agencies(
    args: argparse.Namespace, hubs: dict[str, Hub], heads: list[str], results: Results
) -> None:
    """Scenario 5: c1 and c64 against agencies with injected latency."""
    async with contextlib.AsyncExitStack() as channels:
        calls = {}
        for name in SLOW_HUBS:
            hub = hubs[name]
            stub = _stack.hub_stub(await channels.enter_async_context(hub.channel()))
            calls[name] = hub_call(stub, PROGRAM, hub.metadata)
            await closed_loop(calls[name], heads, concurrency=args.concurrency, duration_s=1.0)
        runs: dict[tuple[str, int], list[Run]] = {}
        for _ in range(args.runs):
            for name, call in calls.items():
                for concurrency in (1, args.concurrency):
                    run = await closed_loop(
                        call,
                        heads,
                        concurrency=concurrency,
                        duration_s=None if concurrency == 1 else args.duration,
                        calls=args.slow_checks if concurrency == 1 else None,
                    )
                    runs.setdefault((name, concurrency), []).append(run)
        for key, listed in runs.items():
            results.slow[key] = RunSummary.of(listed)
            print(_line(f"{key[0]} agencies", key[1], results.slow[key]), flush=True)


def audit_append(args: argparse.Namespace, folder: Path, results: Results) -> None:
    """Scenario 6: durable appends of groups of 1,000 realistic entries to a fresh SQLite log,
    prepared (the store alone) and built first (the hub's whole record step)."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.runs):
        for build, measured in rates.items():
            engine = fresh_sqlite(folder)
            try:
                measured.append(one_run(engine, 1000, args.append_entries, build=build))
            finally:
                engine.dispose()
    results.append, results.append_built = Spread.of(rates[False]), Spread.of(rates[True])
    print(
        f"audit append {results.append.show(0, 'entries/s')}, "
        f"built first {results.append_built.show(0, 'entries/s')}",
        flush=True,
    )


async def profile_full(
    args: argparse.Namespace, hub: Hub, heads: list[str], results: Results
) -> None:
    """py-spy the full hub at c64 and during a CheckBatch stream (GIL holder only)."""
    folder = _stack.DEFAULT_ROOT / "profiles"
    async with hub.channel() as channel:
        stub = _stack.hub_stub(channel)
        call = hub_call(stub, PROGRAM, hub.metadata)
        output = folder / "suite-full-c64.txt"
        with _stack.profiled(hub.stack.hub_pid, output, seconds=8, gil=True):
            await closed_loop(call, heads, concurrency=args.concurrency, duration_s=8)
        results.profiles["c64"] = Profile.from_collapsed(output.read_text(encoding="utf-8"))
        requests = [
            _stack.check_request(h, PROGRAM, PURPOSE, f"p-{i}") for i, h in enumerate(heads)
        ]
        output = folder / "suite-full-batch.txt"
        with _stack.profiled(hub.stack.hub_pid, output, seconds=60, gil=True):
            assert hub.metadata is not None  # noqa: S101 - the full hub
            await hub_batch(stub, requests[: max(len(requests) // 4, 1)], hub.metadata())
        results.profiles["CheckBatch"] = Profile.from_collapsed(output.read_text(encoding="utf-8"))


async def run(args: argparse.Namespace) -> Results:
    """Set up once, then every scenario in turn."""
    began = time.perf_counter()
    data_dir = args.data_dir or _stack.population_dir(args.households)
    summary, generated = _stack.prepare_population(args.households, data_dir)
    results = Results(
        population=f"{summary.households:,} households, {summary.persons:,} persons "
        f"(ready in {generated:.0f} s)"
    )
    heads = _stack.household_heads(data_dir)
    random.Random(20261201).shuffle(heads)
    with (
        tempfile.TemporaryDirectory(prefix="sakha-suite-") as scratch,
        running_hubs(args, data_dir, Path(scratch), heads) as (hubs, children, setup),
    ):
        results.setup = setup
        await singles(args, hubs, heads, results)
        await baseline_singles(args, children["plain"], heads, results)
        await slow_agencies(args, hubs, heads, results)
        audit_append(args, Path(scratch), results)
        await bulk(args, hubs[FULL], children["plain"], heads, summary.persons, results)
        if args.profile:
            await profile_full(args, hubs[FULL], heads, results)
    results.elapsed_s = time.perf_counter() - began
    return results


# --- report -------------------------------------------------------------------------------


def _line(what: str, concurrency: int, summary: RunSummary) -> str:
    return (
        f"{what:<28} c{concurrency:<3} {summary.per_second.median:8,.0f}/s  "
        f"p50 {summary.p50_ms.median:7.2f} ms  p99 {summary.p99_ms.median:7.2f} ms"
        + (f"  ({summary.errors} not decided)" if summary.errors else "")
    )


def _met(value: float, target: float, *, at_most: bool = False) -> str:
    return "**met**" if (value <= target if at_most else value >= target) else "not met"


def headline(args: argparse.Namespace, results: Results) -> list[tuple[str, str, str, str]]:
    """(figure, measured, target, met) for every target of the suite."""
    c64 = results.singles[FULL, args.concurrency].summary
    c1 = results.singles[FULL, 1].summary
    direct64 = results.direct[args.concurrency].summary
    found = results.bulk
    hub_heads = Spread.of(found.hub_heads_per_s)
    direct_heads = Spread.of(found.direct_heads_per_s)
    per_head = found.persons / max(found.heads, 1)
    rows = [
        ("c64 checks/s", c64.per_second.show(), TARGETS["c64 checks/s"]),
        ("c64 p99 ms", c64.p99_ms.show(1), TARGETS["c64 p99 ms"]),
        ("c1 p50 ms", c1.p50_ms.show(2), TARGETS["c1 p50 ms"]),
        (
            "bulk persons/s",
            f"{hub_heads.median * per_head:,.0f} ({hub_heads.median:,.0f} heads/s)",
            TARGETS["bulk persons/s"],
        ),
        (
            "c64 hub ÷ baseline",
            f"{c64.per_second.ratio(direct64.per_second):.2f}",
            TARGETS["hub ÷ baseline"],
        ),
        ("bulk hub ÷ baseline", f"{hub_heads.ratio(direct_heads):.2f}", TARGETS["hub ÷ baseline"]),
        (
            "audit entries/s",
            f"{results.append.show()} (built first: {results.append_built.show()})"
            if results.append and results.append_built
            else "—",
            TARGETS["audit entries/s"],
        ),
    ]
    values = {
        "c64 checks/s": c64.per_second.median,
        "c64 p99 ms": c64.p99_ms.median,
        "c1 p50 ms": c1.p50_ms.median,
        "bulk persons/s": hub_heads.median * per_head,
        "c64 hub ÷ baseline": c64.per_second.ratio(direct64.per_second),
        "bulk hub ÷ baseline": hub_heads.ratio(direct_heads),
        "audit entries/s": results.append.median if results.append else 0.0,
    }
    return [
        (
            name,
            shown,
            f"{'≤' if name.endswith(' ms') else '≥'} {target:,g}",
            _met(values[name], target, at_most=name.endswith(" ms")),
        )
        for name, shown, target in rows
    ]


def report(args: argparse.Namespace, results: Results) -> str:
    """The RESULTS.md section."""
    lines = [
        "## The suite: every layer on (`bench.suite`)",
        "",
        f"{environment_line()}. Population: {results.population}. {results.setup}; the "
        f"whole suite took {results.elapsed_s / 60:.1f} min. livelihood_basket (household), "
        f"{args.runs} interleaved rounds: medians (lowest–highest); c1 cells {args.checks} "
        f"checks, loaded cells {args.duration:g} s. Hub config overrides: "
        f"{args.hub_config or 'none'}.",
        "",
        markdown_table(("figure", "measured", "target", ""), headline(args, results)),
        "",
        "### Single checks by hub (scenarios 1 and 4)",
        "",
    ]
    rows = []
    for name in [n for n in HUBS if n in args.hubs]:
        c1 = results.singles[name, 1].summary
        loaded = results.singles[name, args.concurrency]
        work = results.work.get((name, args.concurrency), {})
        rows.append(
            (
                name,
                loaded.summary.per_second.show(),
                loaded.summary.p50_ms.show(1),
                loaded.summary.p99_ms.show(1),
                c1.p50_ms.show(2),
                c1.p99_ms.show(2),
                f"{loaded.cpu_ms.get('hub', 0):.2f} · {loaded.cpu_ms.get('agencies', 0):.2f}",
                f"{work.get('checks per group', 0):.1f} · {work.get('fetches per check', 0):.2f}",
            )
        )
    for concurrency, measured in results.direct.items():
        rows_direct = measured.summary
        if concurrency == 1:
            c1_direct = rows_direct
            continue
        rows.append(
            (
                "no hub (direct fetches, plaintext)",
                rows_direct.per_second.show(),
                rows_direct.p50_ms.show(1),
                rows_direct.p99_ms.show(1),
                c1_direct.p50_ms.show(2),
                c1_direct.p99_ms.show(2),
                f"— · {measured.cpu_ms.get('agencies', 0):.2f}",
                "—",
            )
        )
    lines.append(
        markdown_table(
            (
                "hub",
                "c64 checks/s",
                "c64 p50 ms",
                "c64 p99 ms",
                "c1 p50 ms",
                "c1 p99 ms",
                "CPU ms/check hub · agencies (c64)",
                "checks/group · fetches/check",
            ),
            rows,
        )
    )
    lines += ["", "Each layer against the same run without it:", ""]
    layer_rows = []
    for layer, without, with_ in LAYERS:
        if without not in args.hubs or with_ not in args.hubs:
            continue
        off = results.singles[without, args.concurrency]
        on = results.singles[with_, args.concurrency]
        alone_on, alone_off = results.singles[with_, 1], results.singles[without, 1]
        added = alone_on.summary.p50_ms.median - alone_off.summary.p50_ms.median
        cpu_alone = alone_on.cpu_ms.get("hub", 0) - alone_off.cpu_ms.get("hub", 0)
        layer_rows.append(
            (
                layer,
                f"{on.summary.per_second.ratio(off.summary.per_second):.2f}",
                f"{added:+.2f} ms",
                f"{cpu_alone:+.2f} ms",
                f"{on.cpu_ms.get('hub', 0) - off.cpu_ms.get('hub', 0):+.2f} ms",
            )
        )
    lines.append(
        markdown_table(
            (
                "layer",
                "c64 checks/s with ÷ without",
                "c1 p50 added",
                "hub CPU added per check, c1",
                "hub CPU added per check, c64",
            ),
            layer_rows,
        )
    )
    lines += [
        "",
        "At c1 every check is its own group, so the c1 columns are each layer's own cost. At "
        "c64 the ratio is the whole system's answer: a hub short of CPU coalesces more "
        "(its windows wait for a free slot), so a layer that loads the hub can raise "
        "checks/group and lower the agencies' work — compare checks/group above.",
    ]
    lines += _bulk_lines(results) + _slow_lines(args, results)
    for name, profile in results.profiles.items():
        lines += ["", f"### Where the full hub's time goes, {name} (py-spy, GIL holder)", ""]
        lines.append(profile.markdown())
    return "\n".join(lines) + "\n"


def _bulk_lines(results: Results) -> list[str]:
    found = results.bulk
    hub = Spread.of(found.hub_heads_per_s)
    direct = Spread.of(found.direct_heads_per_s)
    per_head = found.persons / max(found.heads, 1)
    lines = [
        "",
        f"### Bulk (scenario 2): CheckBatch over {found.heads:,} heads = {found.persons:,} persons",
        "",
        markdown_table(
            ("run", "heads/s", "persons/s", "hub ÷ direct"),
            [
                (
                    "full hub",
                    hub.show(),
                    f"{hub.median * per_head:,.0f}",
                    f"{hub.ratio(direct):.2f}",
                ),
                ("no hub (direct fetches)", direct.show(), f"{direct.median * per_head:,.0f}", "1"),
            ],
        ),
        "",
        "CPU ms per 1,000 heads (medians over runs): "
        + "; ".join(
            f"{which}: " + " · ".join(f"{k} {v:,.0f}" for k, v in medians(runs).items())
            for which, runs in found.cpu.items()
        )
        + ".",
        "",
        f"Items that failed: {found.errors}. Resident memory (MiB) at start and after each "
        "round (one hub run and one direct run each):",
        "",
    ]
    rows = [
        (name, " → ".join(f"{v:,.0f}" for v in values), f"{found.peak.get(name, 0):,.0f}")
        for name, values in found.rss.items()
    ]
    lines.append(markdown_table(("process", "RSS", "peak"), rows))
    return lines


def _slow_lines(args: argparse.Namespace, results: Results) -> list[str]:
    rows = []
    for name, latency in SLOW_HUBS.items():
        for concurrency in (1, args.concurrency):
            summary = results.slow.get((name, concurrency))
            if summary is None:
                continue
            rows.append(
                (
                    f"{name}: " + ", ".join(f"{a} {t} ms" for a, t in latency.items()),
                    f"c{concurrency}",
                    summary.per_second.show(),
                    summary.p50_ms.show(1),
                    summary.p99_ms.show(1),
                    str(summary.errors),
                )
            )
    return [
        "",
        f"### Slow agencies (scenario 5); the hub's agency_timeout_ms is {SLOW_TIMEOUT_MS}",
        "",
        markdown_table(
            ("agencies (`*`: every other)", "load", "checks/s", "p50 ms", "p99 ms", "undecided"),
            rows,
        ),
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The suite's options; ``--smoke`` shrinks everything to seconds."""
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__)
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checks", type=int, default=100, help="Checks per c1 cell.")
    parser.add_argument("--duration", type=float, default=3.0, help="Seconds per loaded cell.")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--slow-checks", type=int, default=10, help="c1 checks, slow agencies.")
    parser.add_argument("--append-entries", type=int, default=20_000)
    parser.add_argument("--hub", action="append", dest="hubs", help="Only these layer hubs.")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="A hub config override."
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the full hub.")
    parser.add_argument("--record", action="store_true", help=f"Write {RESULTS_PATH.name}.")
    parser.add_argument("--smoke", action="store_true", help="Tiny and quick (CI).")
    parser.add_argument("--label", default="", help="Record as its own section, suite-LABEL.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.households, args.runs, args.checks, args.duration = 200, 1, 5, 0.3
        args.slow_checks, args.append_entries = 1, 2000
    args.hubs = args.hubs or list(HUBS)
    args.programs = [PROGRAM]
    args.hub_config = {k: float(v) for k, _, v in (s.partition("=") for s in args.set)}
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the suite, print its tables, and record them with ``--record``."""
    args = parse_args(argv)
    results = _stack.run_benchmark(run(args))
    section = "suite" + (f"-{args.label}" if args.label else "")
    publish(section, report(args, results), record=args.record)


if __name__ == "__main__":
    main()
