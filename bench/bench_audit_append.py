"""Durable audit append throughput: entries per second into the log's store, in groups.

The hub appends each group of checks (a coalesced group of single checks, or a CheckBatch
chunk) in one transaction, so the figure that matters is entries/s at a group size. This
benchmark appends realistic entries (a livelihood_basket decision that asked 15 agencies,
about 2.6 kB of canonical JSON) to a fresh, migrated log, one writer, and reports per group
size:

- ``store``: :meth:`AuditStore.append` alone (records built beforehand): the durable commit,
  tree nodes and index rows;
- ``build + store``: the entries' canonical bytes (RFC 8785) and records built too, as the
  hub's record step does for each group.

Backends: SQLite (the default, WAL, ``synchronous=FULL``: every commit reaches the disk) and
PostgreSQL at ``--postgres URL`` (skipped when unreachable). Medians of ``--runs`` runs, each
on a fresh database, with low–high. ``--profile`` prints cProfile's top functions for one
run of the largest group on SQLite.

    .venv/bin/python -m bench.bench_audit_append [--runs 5] [--entries 20000] [--record]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import io
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

from audit import (
    AgencyQuery,
    AgencyStatus,
    Basis,
    BasisKind,
    Caller,
    Decision,
    Entry,
    Program,
    Rpc,
    Subject,
    Verdict,
    canonical_bytes,
)
from audit.migrations import AUDIT_MIGRATIONS
from audit.store import AuditRecord, AuditStore
from bench._stats import RESULTS_PATH, Spread, environment_line, markdown_table, record_section
from consent.database import create_store_engine
from consent.store import sqlite_url_text

GROUPS = (1, 16, 64, 256, 1000)
"""Group sizes measured (entries per transaction)."""
TARGET = 20_000
"""Entries/s the log should sustain (issue 8)."""
ORIGIN = "bench.sakha/audit"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AGENCIES = (
    ("civil_registry", ("alive", "household_members"), ()),
    ("bank_keshavarzi", ("deposit_balance",), ()),
    ("bank_maskan", ("deposit_balance",), ()),
    ("bank_mellat", ("deposit_balance",), ()),
    ("bank_melli", ("deposit_balance",), ()),
    ("bank_refah", ("deposit_balance",), ()),
    ("bank_saderat", ("deposit_balance",), ()),
    ("bank_sepah", ("deposit_balance",), ()),
    ("bank_tejarat", ("deposit_balance",), ()),
    ("border_travel", (), ("foreign_trips_12m gt 0",)),
    ("civil_pension_fund", ("monthly_pension",), ()),
    ("land_registry", ("properties_owned",), ()),
    ("social_security", ("monthly_pension", "monthly_wage"), ()),
    ("tax", ("annual_income",), ()),
    ("vehicle_registry", (), ("vehicle_value gt 8000000000",)),
)
AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def lookup(n: int) -> Entry:
    """A livelihood_basket decision about household ``n``, as the hub records it."""
    return Entry(
        time=AT + dt.timedelta(microseconds=n),
        request_id=f"case-{n}",
        trace_id=f"{n:032x}",
        rpc=Rpc.CHECK,
        caller=Caller("demo_relief", "caseworker-17"),
        purpose="livelihood_support",
        program=Program("livelihood_basket", "2026.1", "19bf" * 16),
        subject=Subject(f"{n:064x}", "audit-1", tuple(f"{n:060x}{k:04x}" for k in range(3))),
        basis=Basis(BasisKind.CONSENT, f"consent-{n}"),
        agencies=tuple(
            AgencyQuery(agency, f"{n:016x}{k:08x}", attributes, predicates, AgencyStatus.OK, 12)
            for k, (agency, attributes, predicates) in enumerate(AGENCIES)
        ),
        result=Decision(Verdict.ELIGIBLE, ("INCOME_WITHIN_LIMIT", "NO_FOREIGN_TRAVEL")),
    )


@dataclasses.dataclass(frozen=True)
class Backend:
    """A database to append to: a fresh one per run."""

    name: str
    fresh: Callable[[Path], sa.Engine]


def fresh_sqlite(folder: Path) -> sa.Engine:
    """A new, migrated SQLite audit log in ``folder``."""
    path = folder / f"audit-{time.monotonic_ns()}.sqlite"
    url = sqlite_url_text(str(path))
    AUDIT_MIGRATIONS.upgrade(url)
    return create_store_engine(url)


def _postgres(url: str) -> Callable[[Path], sa.Engine]:
    def fresh(folder: Path) -> sa.Engine:
        del folder
        scoped = postgres_schema(url, "bench_audit")
        AUDIT_MIGRATIONS.upgrade(scoped)
        return create_store_engine(scoped)

    return fresh


def postgres_schema(url: str, schema: str) -> str:
    """``schema`` on the server at ``url``, dropped and made anew: a URL that sees only it."""
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    finally:
        engine.dispose()
    scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


def reachable(url: str) -> bool:
    """Whether the PostgreSQL server at ``url`` answers."""
    engine = create_store_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def one_run(engine: sa.Engine, group: int, entries: int, *, build: bool) -> float:
    """Append ``entries`` entries in groups of ``group``; entries per second."""
    store = AuditStore(engine, origin=ORIGIN)
    count = entries - entries % group or group
    made = [lookup(n) for n in range(count)]
    prepared = None if build else [AuditRecord.of(e) for e in made]
    started = time.perf_counter()
    for first in range(0, count, group):
        if prepared is None:
            store.append([AuditRecord.of(e) for e in made[first : first + group]])
        else:
            store.append(prepared[first : first + group])
    elapsed = time.perf_counter() - started
    size, _ = store.head()
    if size != count:
        raise RuntimeError(f"appended {size} entries, not {count}")
    return count / elapsed


def measure(
    backend: Backend, args: argparse.Namespace, folder: Path
) -> dict[tuple[int, bool], Spread]:
    """Entries/s per (group size, built in the loop), median of the runs."""
    figures: dict[tuple[int, bool], list[float]] = {}
    for run in range(args.runs):
        for group in GROUPS:
            for build in (False, True):
                engine = backend.fresh(folder)
                try:
                    entries = args.entries_alone if group == 1 else args.entries
                    rate = one_run(engine, group, entries, build=build)
                finally:
                    engine.dispose()
                figures.setdefault((group, build), []).append(rate)
                label = "build + store" if build else "store"
                print(
                    f"{backend.name:<10} run {run + 1} group {group:>4} {label:<13} "
                    f"{rate:>9,.0f}/s",
                    flush=True,
                )
    return {key: Spread.of(values) for key, values in figures.items()}


def profile(folder: Path, entries: int) -> str:
    """cProfile's top functions (by own time) for one SQLite run at the largest group."""
    engine = fresh_sqlite(folder)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        one_run(engine, GROUPS[-1], entries, build=True)
        profiler.disable()
    finally:
        engine.dispose()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def report(args: argparse.Namespace, results: dict[str, dict[tuple[int, bool], Spread]]) -> str:
    """The RESULTS.md section."""
    lines = [
        "## Durable audit append (`bench_audit_append`)",
        "",
        f"{environment_line()}. One writer appending realistic entries (a livelihood_basket "
        f"decision asking 15 agencies, {len(canonical_bytes(lookup(0))):,} bytes of RFC 8785 "
        f"JSON) to a fresh log; every commit durable. Medians of {args.runs} runs (low–high), "
        f"{args.entries:,} entries a run ({args.entries_alone:,} at group 1). Target: "
        f"{TARGET:,} entries/s.",
        "",
    ]
    rows = []
    for name, figures in results.items():
        for group in GROUPS:
            rows.append(
                [
                    name,
                    str(group),
                    figures[group, False].show(0),
                    figures[group, True].show(0),
                ]
            )
    lines.append(
        markdown_table(
            ["backend", "entries/transaction", "store entries/s", "build + store entries/s"],
            rows,
        )
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--entries", type=int, default=20_000, help="Entries a run.")
    parser.add_argument(
        "--entries-alone", type=int, default=2_000, help="Entries a run at group size 1."
    )
    parser.add_argument("--postgres", default=POSTGRES, help="PostgreSQL URL ('' to skip).")
    parser.add_argument("--profile", action="store_true", help="Print a cProfile summary.")
    parser.add_argument("--record", action="store_true", help="Write bench/RESULTS.md.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run, print and (with ``--record``) record."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sakha-bench-audit-") as scratch:
        folder = Path(scratch)
        if args.profile:
            print(profile(folder, args.entries))
            return
        backends = [Backend("SQLite", fresh_sqlite)]
        if args.postgres and reachable(args.postgres):
            backends.append(Backend("PostgreSQL", _postgres(args.postgres)))
        results = {backend.name: measure(backend, args, folder) for backend in backends}
    text = report(args, results)
    print("\n" + text)
    if args.record:
        record_section("bench_audit_append", text)
        print(f"recorded in {os.path.relpath(RESULTS_PATH)}")


if __name__ == "__main__":
    main()
