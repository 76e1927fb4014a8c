"""What consent, the audit log and fetch tokens cost: each against the same run without it.

One invocation, one population, agencies and hubs each in a process of their own (as in
:mod:`bench.bench_security`). Five hubs run side by side and are measured in turn, rounds
interleaved in a rotated order so drift spreads over all alike:

- ``secure``: every layer but consent and audit (client TLS, tokens, agency mTLS, fetch
  tokens);
- ``consent``: the same plus consent: every check's consent is decided in ``admit``, one
  store transaction per group (SQLite, the default store), and its use recorded;
- ``audit``: every layer: ``consent`` plus the audit log, every lookup's entry committed
  (SQLite, a database of its own, every commit durable) before its reply leaves, one
  transaction per group, checkpoints signed every 1,000 entries or second;
- ``plain``: client TLS and tokens, agencies in plaintext, no fetch tokens;
- ``plain+fetch-tokens``: the same, but every Fetch carries a hub-signed token the
  (plaintext) agency verifies, so the difference is the token alone, not TLS.

Consents: the ``consent`` hub grants every household head a consent to livelihood_basket
before it reports ready (the time is printed). The benchmark's programs are the built-in ones
with livelihood_basket's frequency limit raised to 10,000 uses a day (the most a program
file allows), for all hubs alike, so cycling through the caseload is never refused.

Measured per hub: one Check at a time (p50, p99), 64 in flight (checks/s, p50, p99), hub +
agency CPU per check and Fetch calls per check; and for ``secure`` against ``consent`` a
CheckBatch over every head (heads/s) through ``secure``, ``consent`` and ``audit``. Medians
over ``--runs`` rounds with low and high.

    .venv/bin/python -m bench.bench_layers [--runs 3] [--checks 300] [--duration 5] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _stack, bench_security
from bench._stats import (
    RunSummary,
    Spread,
    environment_line,
    markdown_table,
    publish,
)
from bench.bench_batch import hub_batch
from bench.bench_security import BearerToken, Hub
from gateway.config import SecurityLayers
from gateway.demo_consent import fresh_demo_databases
from gateway.pki.tls import client_channel_credentials
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR

PROGRAM = "livelihood_basket"
VARIANTS: dict[str, SecurityLayers] = {
    "secure": SecurityLayers(consent=False, audit=False),
    "consent": SecurityLayers(audit=False),
    "audit": SecurityLayers(),
    "plain": SecurityLayers(agency_mtls=False, fetch_tokens=False, consent=False, audit=False),
    "plain+fetch-tokens": SecurityLayers(agency_mtls=False, consent=False, audit=False),
}
"""The hubs measured; each pair differs in one layer."""

PAIRS = (
    ("consent", "secure", "consent"),
    ("audit log", "consent", "audit"),
    ("fetch tokens", "plain", "plain+fetch-tokens"),
)
"""(layer, hub without it, hub with it)."""

FREQUENCY = "max_frequency: {max_uses: 4, per_days: 30}"
BENCH_FREQUENCY = "max_frequency: {max_uses: 10000, per_days: 1}"


@dataclass
class Results:
    """Everything one invocation measured."""

    population: str = ""
    seeded: str = ""
    checks: dict[tuple[str, int], RunSummary] = field(default_factory=dict)
    cpu_ms: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    work: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    batch: dict[str, Spread] = field(default_factory=dict)
    heads: int = 0


def bench_programs(folder: Path) -> Path:
    """The built-in programs, livelihood_basket allowing 10,000 uses a day."""
    shutil.copytree(BUILTIN_PROGRAMS_DIR, folder)
    path = folder / f"{PROGRAM}.yaml"
    text = path.read_text(encoding="utf-8")
    if FREQUENCY not in text:
        raise RuntimeError(f"{path} no longer reads {FREQUENCY!r}; update the benchmark")
    path.write_text(text.replace(FREQUENCY, BENCH_FREQUENCY), encoding="utf-8")
    return folder


async def run(args: argparse.Namespace) -> Results:
    """Start the agencies and the four hubs, then measure them round by round."""
    data_dir = args.data_dir or _stack.population_dir(args.households)
    summary, _ = _stack.prepare_population(args.households, data_dir)
    material = _stack.prepare_security(data_dir)
    results = Results(population=f"{summary.households:,} households, {summary.persons:,} persons")
    heads = _stack.household_heads(data_dir)
    random.Random(20261201).shuffle(heads)
    results.heads = len(heads)
    with tempfile.TemporaryDirectory(prefix="sakha-bench-consent-") as scratch:
        folder = Path(scratch)
        programs = bench_programs(folder / "programs")
        db_url, audit_db_url = fresh_demo_databases(folder)
        caseload = folder / "heads.txt"
        caseload.write_text("\n".join(heads) + "\n", encoding="utf-8")
        config: dict[str, Any] = {"programs_dir": str(programs)}
        with contextlib.ExitStack() as running:
            mtls = running.enter_context(_stack.running_agencies(data_dir, pki=material.pki.folder))
            plain = running.enter_context(_stack.running_agencies(data_dir))
            checking = running.enter_context(
                _stack.running_agencies(data_dir, hub_keys=material.pki.fetch_token_jwks)
            )
            agencies = {"secure": mtls, "consent": mtls, "audit": mtls, "plain": plain}
            agencies["plain+fetch-tokens"] = checking
            credentials = client_channel_credentials(material.pki.ca_cert)
            hubs: dict[str, Hub] = {}
            for name, layers in VARIANTS.items():
                started = time.perf_counter()
                stack = running.enter_context(
                    _stack.running_secured_hub(
                        agencies[name],
                        layers,
                        material,
                        db_url=db_url if layers.consent else None,
                        consents={PROGRAM: caseload} if name == "consent" else None,
                        **config,
                        audit_db_url=audit_db_url if layers.audit else None,
                    )
                )
                if name == "consent":
                    seconds = time.perf_counter() - started
                    results.seeded = (
                        f"{len(heads):,} consents granted in {seconds:.1f} s "
                        f"(hub start included; {len(heads) / seconds:,.0f}/s)"
                    )
                    print(results.seeded, flush=True)
                hubs[name] = Hub(name, stack, credentials, BearerToken(material))
            singles = bench_security.Results()
            await bench_security.measure(args, hubs, {PROGRAM: heads}, singles)
            for (name, _, concurrency), measured in singles.measured.items():
                results.checks[name, concurrency] = measured.summary
                results.cpu_ms[name, concurrency] = measured.cpu_ms
            for (name, _, concurrency), work in singles.work.items():
                results.work[name, concurrency] = work
            await _batches(args, hubs, heads, results)
    return results


async def _batches(
    args: argparse.Namespace, hubs: dict[str, Hub], heads: list[str], results: Results
) -> None:
    """CheckBatch over every head, through ``secure``, ``consent`` and ``audit`` in turn."""
    requests = [
        _stack.check_request(head, PROGRAM, "livelihood_support", f"b-{i}")
        for i, head in enumerate(heads)
    ]
    names = ["secure", "consent", "audit"]
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.runs):
        turn = round_index % len(names)
        for name in names[turn:] + names[:turn]:
            hub = hubs[name]
            async with hub.channel() as channel:
                stub = _stack.hub_stub(channel)
                started = time.perf_counter()
                assert hub.metadata is not None  # noqa: S101 - every variant has tokens
                counts = await hub_batch(stub, requests, hub.metadata())
                elapsed = time.perf_counter() - started
            if counts.get("ERROR"):
                raise RuntimeError(f"{name}: {counts['ERROR']} batch items failed")
            rates[name].append(len(requests) / elapsed)
            print(f"{name:<20} CheckBatch {len(requests) / elapsed:,.0f} heads/s", flush=True)
    results.batch = {name: Spread.of(values) for name, values in rates.items()}


def report(args: argparse.Namespace, results: Results) -> str:
    """The RESULTS.md section."""
    lines = [
        "## Consent, the audit log and fetch tokens (`bench_layers`)",
        "",
        f"{environment_line()}. Population: {results.population}. Program: {PROGRAM} "
        f"(household; {args.runs} interleaved rounds, medians with low–high). Every hub "
        "in its own process; agencies in their own (mTLS, plaintext, plaintext checking "
        f"fetch tokens). {results.seeded}.",
        "",
    ]
    rows = []
    for name in VARIANTS:
        one, many = results.checks[name, 1], results.checks[name, args.concurrency]
        cpu = results.cpu_ms[name, args.concurrency]
        rows.append(
            [
                name,
                many.per_second.show(0),
                many.p50_ms.show(1),
                many.p99_ms.show(1),
                one.p50_ms.show(2),
                one.p99_ms.show(2),
                f"{cpu.get('hub', 0):.2f}",
                f"{cpu.get('agencies', 0):.2f}",
                f"{results.work[name, args.concurrency].get('fetches per check', 0):.1f}",
            ]
        )
    c = args.concurrency
    lines.append(
        markdown_table(
            [
                "hub",
                f"c{c} checks/s",
                f"c{c} p50 ms",
                f"c{c} p99 ms",
                "c1 p50 ms",
                "c1 p99 ms",
                f"hub CPU ms/check (c{c})",
                "agency CPU ms/check",
                "Fetch calls/check",
            ],
            rows,
        )
    )
    lines += ["", "Each layer against the same run without it:", ""]
    pair_rows = []
    for layer, without, with_it in PAIRS:
        many_ratio = results.checks[with_it, c].per_second.ratio(
            results.checks[without, c].per_second
        )
        one_added = (
            results.checks[with_it, 1].p50_ms.median - results.checks[without, 1].p50_ms.median
        )
        fetches = results.work[with_it, c].get("fetches per check", 0) or 1
        cpu_added = sum(results.cpu_ms[with_it, c].values()) - sum(
            results.cpu_ms[without, c].values()
        )
        row = [
            layer,
            f"{many_ratio:.2f}",
            f"{one_added:+.2f} ms",
            f"{cpu_added:+.2f} ms",
            f"{1000 * cpu_added / fetches:+.0f} µs" if layer == "fetch tokens" else "—",
        ]
        if with_it in results.batch:
            row.append(f"{results.batch[with_it].ratio(results.batch[without]):.2f}")
        else:
            row.append("—")
        pair_rows.append(row)
    lines.append(
        markdown_table(
            [
                "layer",
                f"c{c} checks/s ratio",
                "c1 p50 added",
                "CPU added per check (all processes)",
                "CPU added per Fetch",
                "CheckBatch ratio",
            ],
            pair_rows,
        )
    )
    lines += [
        "",
        f"CheckBatch over {results.heads:,} heads: secure "
        f"{results.batch['secure'].show(0)} heads/s, consent "
        f"{results.batch['consent'].show(0)} heads/s, audit "
        f"{results.batch['audit'].show(0)} heads/s.",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    _stack.add_load_arguments(parser)
    parser.add_argument("--record", action="store_true", help="Write bench/RESULTS.md.")
    args = parser.parse_args(argv)
    args.programs = [PROGRAM]  # what bench_security's measuring loop reads
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run, print and (with ``--record``) record."""
    args = parse_args(argv)
    results = _stack.run_benchmark(run(args))
    publish("bench_layers", report(args, results), record=args.record)


if __name__ == "__main__":
    main()
