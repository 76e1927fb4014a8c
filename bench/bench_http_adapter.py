"""The HTTP/JSON adapter against a local HTTP service, beside the SQL adapter over the same data.

The welfare organisation of the simulated population is served twice, each as a real gRPC
``ConnectorService`` on 127.0.0.1: by the generic HTTP/JSON adapter in front of its web
service (:mod:`adapters.simulated.welfare_service`, the standard library's threading HTTP
server, as the demo runs it), and by the generic SQL adapter reading ``welfare.sqlite``
directly (the baseline: the same rows, no HTTP hop). For each, in interleaved rounds:

- one subject, every attribute, one call at a time: Fetch latency p50 and p99;
- 1,000 subjects (the hub's chunk) of every attribute, one call at a time: latency and
  subjects/s;
- the same at 8 calls in flight (the hub's fan-out to one agency): subjects/s.

Medians of ``--runs`` rounds (low–high) and the HTTP ÷ SQL ratio; ``--record`` writes the
``bench_http_adapter`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from adapters.client import ConnectorClient
from adapters.config import load_adapter_config
from adapters.sdk import Adapter, AgencyDescription, FetchQuery
from adapters.server import create_adapter_server
from adapters.simulated.build import ensure_population
from adapters.simulated.catalogue import AGENCY_CONFIG_DIR, load_simulated_agency
from adapters.simulated.welfare_service import start_welfare_service
from bench._stack import population_dir
from bench._stats import Spread, environment_line, markdown_table, percentile, publish

CHUNK = 1000
IN_FLIGHT = 8
HEADERS = (
    "adapter",
    "1 subject p50 ms",
    "p99 ms",
    f"{CHUNK:,} subjects p50 ms",
    "p99 ms",
    "subjects/s",
    f"subjects/s, {IN_FLIGHT} in flight",
)


def sql_twin(data_dir: Path, folder: Path) -> Adapter:
    """The welfare organisation served by the SQL adapter from the same database."""
    http = yaml.safe_load((AGENCY_CONFIG_DIR / "welfare.yaml").read_text(encoding="utf-8"))
    columns = ", ".join(http["attributes"])
    config = {
        "agency_id": "welfare",
        "name": http["name"],
        "name_fa": http["name_fa"],
        "url": f"sqlite:///{data_dir / 'welfare.sqlite'}",
        "subjects_sql": "SELECT national_id AS subject FROM clients WHERE national_id IN :subjects",
        "queries": {
            "client": f"SELECT national_id AS subject, {columns} FROM clients "  # noqa: S608 - our names
            "WHERE national_id IN :subjects"
        },
        "attributes": {
            name: {k: v for k, v in spec.items() if k != "field"} | {"query": "client"}
            for name, spec in http["attributes"].items()
        },
    }
    path = folder / "welfare-sql.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return load_adapter_config(path)


async def one_round(
    client: ConnectorClient, description: AgencyDescription, subjects: Sequence[str], calls: int
) -> dict[str, float]:
    """The three loads against one adapter; the figures of this round."""
    names = tuple(spec.name for spec in description.attributes)
    single: list[float] = []
    for i in range(calls):
        query = FetchQuery(subjects=(subjects[i % len(subjects)],), attributes=names)
        started = time.perf_counter()
        await client.fetch(query, description, 10)
        single.append((time.perf_counter() - started) * 1000)
    chunks = [tuple(subjects[i : i + CHUNK]) for i in range(0, len(subjects) - CHUNK + 1, CHUNK)]
    batch: list[float] = []
    started_all = time.perf_counter()
    for chunk in chunks:
        started = time.perf_counter()
        await client.fetch(FetchQuery(subjects=chunk, attributes=names), description, 30)
        batch.append((time.perf_counter() - started) * 1000)
    sequential_s = time.perf_counter() - started_all
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def fetch(chunk: tuple[str, ...]) -> None:
        async with slots:
            await client.fetch(FetchQuery(subjects=chunk, attributes=names), description, 30)

    started_all = time.perf_counter()
    await asyncio.gather(*(fetch(chunk) for chunk in chunks * 2))
    parallel_s = time.perf_counter() - started_all
    return {
        "single_p50": percentile(single, 50),
        "single_p99": percentile(single, 99),
        "batch_p50": percentile(batch, 50),
        "batch_p99": percentile(batch, 99),
        "batch_rate": len(chunks) * CHUNK / sequential_s,
        "parallel_rate": 2 * len(chunks) * CHUNK / parallel_s,
    }


async def measure(args: argparse.Namespace) -> tuple[dict[str, dict[str, Spread]], int]:
    """Serve both adapters, run interleaved rounds, and summarise each figure."""
    data_dir = population_dir(args.households)
    ensure_population(data_dir, households=args.households)
    with sqlite3.connect(data_dir / "civil_registry.sqlite") as db:
        everyone = [row[0] for row in db.execute("SELECT national_id FROM persons")]
    service = start_welfare_service(data_dir)
    with tempfile.TemporaryDirectory(prefix="sakha-bench-http-") as scratch:
        adapters = {
            "HTTP/JSON": load_simulated_agency(
                AGENCY_CONFIG_DIR / "welfare.yaml", data_dir, {"welfare": service.url}
            ),
            "SQL (baseline)": sql_twin(data_dir, Path(scratch)),
        }
        servers = {name: await create_adapter_server(a) for name, a in adapters.items()}
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in adapters}
        try:
            clients = {n: ConnectorClient(f"127.0.0.1:{port}") for n, (_, port) in servers.items()}
            description = adapters["HTTP/JSON"].describe()
            subjects = everyone[: args.subjects]
            for client in clients.values():  # warm both: connections, page cache
                await one_round(client, description, subjects[: 2 * CHUNK], 20)
            for _ in range(args.runs):
                for name, client in clients.items():
                    rounds[name].append(await one_round(client, description, subjects, args.calls))
            for client in clients.values():
                await client.close()
        finally:
            for server, _ in servers.values():
                await server.stop(None)
            for adapter in adapters.values():
                await adapter.close()
            service.close()
    summary = {
        name: {key: Spread.of(r[key] for r in runs) for key in runs[0]}
        for name, runs in rounds.items()
    }
    return summary, len(subjects)


def report(args: argparse.Namespace, figures: dict[str, dict[str, Spread]], subjects: int) -> str:
    """The RESULTS.md section."""
    http, sql = figures["HTTP/JSON"], figures["SQL (baseline)"]
    rows = [
        [name, f["single_p50"].show(2), f["single_p99"].show(2), f["batch_p50"].show(1),
         f["batch_p99"].show(1), f["batch_rate"].show(0), f["parallel_rate"].show(0)]
        for name, f in figures.items()
    ]  # fmt: skip
    rows.append(
        ["HTTP ÷ SQL"]
        + [f"{http[k].ratio(sql[k]):.2f}" for k in ("single_p50", "single_p99", "batch_p50")]
        + [f"{http[k].ratio(sql[k]):.2f}" for k in ("batch_p99", "batch_rate", "parallel_rate")]
    )
    return "\n".join(
        [
            "## HTTP/JSON adapter against a local HTTP service (`bench_http_adapter`)",
            "",
            f"{environment_line()}. The welfare organisation ({args.households:,}-household "
            f"population) served by the HTTP/JSON adapter in front of its simulated web service "
            f"(500 IDs per HTTP request, 4 in flight) and by the SQL adapter over the same "
            f"database; plaintext gRPC on 127.0.0.1, every attribute asked. {args.calls} "
            f"single-subject Fetches, then {subjects:,} subjects in Fetches of {CHUNK:,}, one "
            f"at a time and {IN_FLIGHT} in flight. Medians of {args.runs} interleaved rounds "
            "(low–high).",
            "",
            markdown_table(HEADERS, rows),
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=10_000)
    parser.add_argument("--subjects", type=int, default=20_000, help="Subjects a round asks.")
    parser.add_argument("--calls", type=int, default=300, help="Single-subject Fetches a round.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="Write bench/RESULTS.md.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run, print and (with ``--record``) record."""
    args = parse_args(argv)
    figures, subjects = asyncio.run(measure(args))
    publish("bench_http_adapter", report(args, figures, subjects), record=args.record)


if __name__ == "__main__":
    main()
