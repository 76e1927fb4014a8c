"""Hub replicas on one PostgreSQL, and what tracing costs: both measured in one run.

Every layer is on (client TLS and tokens, agency mTLS, fetch tokens, consent, the audit
log), with the consent store and the audit log in one fresh PostgreSQL schema. One agencies
process (mTLS); four hub processes on the same schema:

- ``A``, ``B``, ``C``: the replicas, tracing off (no ``OTEL_*`` exporter: the API's no-op);
- ``T``: like ``A`` but exporting every span (``OTEL_TRACES_EXPORTER=console``, to
  /dev/null), so its difference from ``A`` is the cost of tracing with an exporter on.

Measured, rounds interleaved: 64 checks in flight against ``A`` alone (1 replica) and spread
round-robin over ``A``, ``B`` and ``C`` (3 replicas), and 64 per replica (192) over the
three; one check at a time against ``A`` and ``T`` (p50, p99), and 64 in flight on ``T``.
All on livelihood_basket (its frequency limit raised, as in :mod:`bench.bench_layers`);
the replicas share one machine's 2 cores, so 3 replicas measure contention for them, not
three machines' capacity.

    .venv/bin/python -m bench.bench_replicas [--runs 3] [--duration 5] [--checks 300] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.migrations import AUDIT_MIGRATIONS
from bench import _stack
from bench._stats import (
    RESULTS_PATH,
    Run,
    RunSummary,
    environment_line,
    markdown_table,
    medians,
    record_section,
)
from bench.bench_audit_append import POSTGRES, postgres_schema, reachable
from bench.bench_check import Call, closed_loop, hub_call
from bench.bench_layers import PROGRAM, bench_programs
from bench.bench_security import BearerToken, Hub, per_check
from consent.migrations import CONSENT_MIGRATIONS
from gateway.config import SecurityLayers
from gateway.pki.tls import client_channel_credentials

TRACED = {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}
CELLS = ("1 replica, c64", "3 replicas, c64", "3 replicas, c192", "T (traced), c64")


WORK: dict[str, list[dict[str, float]]] = {}
"""Per loaded cell and run: checks per coalesced group and Fetch calls per check."""


def _work(hubs: dict[str, Hub], names: Sequence[str]) -> dict[str, int]:
    """The named hubs' work counters, summed."""
    total: dict[str, int] = {}
    for name in names:
        for key, value in hubs[name].work().items():
            total[key] = total.get(key, 0) + value
    return total


def _spread(calls: Sequence[Call]) -> Call:
    """A call that goes to each of ``calls`` in turn."""
    turn = itertools.count()

    async def call(subject: str) -> bool:
        return await calls[next(turn) % len(calls)](subject)

    return call


async def run(args: argparse.Namespace) -> dict[str, RunSummary]:
    """Start everything and measure the cells round by round."""
    data_dir = args.data_dir or _stack.population_dir(args.households)
    _stack.prepare_population(args.households, data_dir)
    material = _stack.prepare_security(data_dir)
    heads = _stack.household_heads(data_dir)
    random.Random(20261201).shuffle(heads)
    url = postgres_schema(args.postgres, "bench_replicas")
    CONSENT_MIGRATIONS.upgrade(url)
    AUDIT_MIGRATIONS.upgrade(url)
    with tempfile.TemporaryDirectory(prefix="sakha-bench-replicas-") as scratch:
        folder = Path(scratch)
        caseload = folder / "heads.txt"
        caseload.write_text("\n".join(heads) + "\n", encoding="utf-8")
        config: dict[str, Any] = {
            "programs_dir": str(bench_programs(folder / "programs")),
            "audit_db_url": url,
        }
        credentials = client_channel_credentials(material.pki.ca_cert)
        with contextlib.ExitStack() as running:
            agencies = running.enter_context(
                _stack.running_agencies(data_dir, pki=material.pki.folder)
            )
            hubs = {}
            for name in ("A", "B", "C", "T"):
                stack = running.enter_context(
                    _stack.running_secured_hub(
                        agencies,
                        SecurityLayers(),
                        material,
                        db_url=url,
                        consents={PROGRAM: caseload} if name == "A" else None,
                        env=TRACED if name == "T" else None,
                        **config,
                    )
                )
                hubs[name] = Hub(name, stack, credentials, BearerToken(material))
                print(f"hub {name} ready", flush=True)
            return await _measure(args, hubs, heads)


async def _measure(
    args: argparse.Namespace, hubs: dict[str, Hub], heads: list[str]
) -> dict[str, RunSummary]:
    async with contextlib.AsyncExitStack() as channels:
        calls: dict[str, Call] = {}
        for name, hub in hubs.items():
            channel = await channels.enter_async_context(hub.channel())
            calls[name] = hub_call(_stack.hub_stub(channel), PROGRAM, hub.metadata)
            await closed_loop(calls[name], heads, concurrency=args.concurrency, duration_s=1.0)
        replicas = _spread([calls["A"], calls["B"], calls["C"]])
        loads = {
            "1 replica, c64": (calls["A"], args.concurrency),
            "3 replicas, c64": (replicas, args.concurrency),
            "3 replicas, c192": (replicas, 3 * args.concurrency),
            "T (traced), c64": (calls["T"], args.concurrency),
        }
        served = {cell: ["T"] if cell.startswith("T") else ["A"] for cell in loads}
        served["3 replicas, c64"] = served["3 replicas, c192"] = ["A", "B", "C"]
        runs: dict[str, list[Run]] = {}
        for round_index in range(args.runs):
            cells = list(loads)
            turn = round_index % len(cells)
            for cell in cells[turn:] + cells[:turn]:
                call, concurrency = loads[cell]
                before = _work(hubs, served[cell])
                run_ = await closed_loop(
                    call, heads, concurrency=concurrency, duration_s=args.duration
                )
                WORK.setdefault(cell, []).append(per_check(before, _work(hubs, served[cell])))
                runs.setdefault(cell, []).append(run_)
                print(f"{cell:<18} {run_.calls / run_.elapsed_s:,.0f} checks/s", flush=True)
            for name in ("A", "T")[round_index % 2 :] + ("A", "T")[: round_index % 2]:
                run_ = await closed_loop(calls[name], heads, concurrency=1, calls=args.checks)
                runs.setdefault(f"{name} c1", []).append(run_)
                print(f"{name} c1 {RunSummary.of([run_]).p50_ms.median:.2f} ms p50", flush=True)
        return {cell: RunSummary.of(listed) for cell, listed in runs.items()}


def report(args: argparse.Namespace, results: dict[str, RunSummary]) -> str:
    """The RESULTS.md section."""
    lines = [
        "## Replicas on PostgreSQL, and tracing (`bench_replicas`)",
        "",
        f"{environment_line()}. Every layer on; consent store and audit log in one PostgreSQL "
        f"schema; {PROGRAM}; {args.runs} interleaved rounds (medians, low–high), "
        f"{args.duration:g} s a loaded cell, {args.checks} checks a c1 cell. All hubs share "
        "this machine's 2 cores.",
        "",
    ]
    rows = [
        [
            cell,
            results[cell].per_second.show(0),
            results[cell].p50_ms.show(1),
            results[cell].p99_ms.show(1),
            f"{medians(WORK[cell]).get('checks per group', 0):.1f}",
            f"{medians(WORK[cell]).get('fetches per check', 0):.1f}",
        ]
        for cell in CELLS
    ]
    lines.append(
        markdown_table(
            ["load", "checks/s", "p50 ms", "p99 ms", "checks/group", "Fetch calls/check"], rows
        )
    )
    one, three = results["1 replica, c64"], results["3 replicas, c64"]
    off, on = results["A c1"], results["T c1"]
    lines += [
        "",
        f"3 replicas against 1 at c64: {three.per_second.ratio(one.per_second):.2f}× the "
        f"checks/s; at 64 per replica: "
        f"{results['3 replicas, c192'].per_second.ratio(one.per_second):.2f}×.",
        "",
        markdown_table(
            ["one check at a time", "p50 ms", "p99 ms"],
            [
                ["tracing off (A)", off.p50_ms.show(2), off.p99_ms.show(2)],
                ["every span exported (T)", on.p50_ms.show(2), on.p99_ms.show(2)],
            ],
        ),
        "",
        f"Tracing with an exporter on adds {on.p50_ms.median - off.p50_ms.median:+.2f} ms to a "
        f"check's p50 alone; at c64, T against A: "
        f"{results['T (traced), c64'].per_second.ratio(one.per_second):.2f}× the checks/s.",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    _stack.add_load_arguments(parser)
    parser.add_argument("--postgres", default=POSTGRES, help="The PostgreSQL server's URL.")
    parser.add_argument("--record", action="store_true", help="Write bench/RESULTS.md.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run, print and (with ``--record``) record."""
    args = parse_args(argv)
    if not reachable(args.postgres):
        raise SystemExit(f"PostgreSQL does not answer at {args.postgres}")
    results = _stack.run_benchmark(run(args))
    text = report(args, results)
    print("\n" + text)
    if args.record:
        record_section("bench_replicas", text)
        print(f"recorded in {os.path.relpath(RESULTS_PATH)}")


if __name__ == "__main__":
    main()
