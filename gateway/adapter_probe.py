"""``sakha adapter probe``: look at a running adapter as the hub would, with no other tool.

Three steps, each reported whether or not the others worked: the adapter's health (gRPC
health checking, its ConnectorService), its ``Describe`` (who it is and every attribute it
serves), and one sample ``Fetch`` of every attribute for the subjects given. In TLS mode the
probe connects exactly as the hub does — the hub's client certificate from the PKI folder,
the agency's certificate checked against its id, and a hub-signed fetch token on the Fetch —
so it needs the hub's PKI folder; agency IT without it probes its adapter in plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from adapters.client import ConnectorClient
from adapters.errors import AdapterError
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult
from adapters.server import SERVICE_NAME
from gateway.adapter_connection import AdapterConnection


@dataclass(frozen=True)
class ProbeReport:
    """What the probe found; a step that failed holds its error instead."""

    health: str
    description: AgencyDescription | None
    describe_error: str
    fetched: FetchResult | None
    query: FetchQuery | None
    fetch_error: str

    @property
    def ok(self) -> bool:
        """Whether every step worked."""
        return self.health == "SERVING" and not self.describe_error and not self.fetch_error


async def probe(connection: AdapterConnection, subjects: tuple[str, ...]) -> ProbeReport:
    """Probe the adapter ``connection`` reaches, fetching ``subjects`` as the sample."""
    async with connection.channel() as channel:
        health = await _health(channel)
        client = ConnectorClient(channel)
        try:
            description = await client.describe(timeout=5)
        except (grpc.aio.AioRpcError, AdapterError) as exc:
            return ProbeReport(health, None, _said(exc), None, None, "not tried: no description")
        query = FetchQuery(
            subjects=subjects, attributes=tuple(a.name for a in description.attributes)
        )
        token = connection.token(query, description.agency_id)
        try:
            fetched = await client.fetch(query, description, 5, token=token)
        except (grpc.aio.AioRpcError, AdapterError) as exc:
            return ProbeReport(health, description, "", None, query, _said(exc))
        return ProbeReport(health, description, "", fetched, query, "")


async def _health(channel: grpc.aio.Channel) -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    except grpc.aio.AioRpcError as exc:
        return f"unreachable ({_said(exc)})"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _said(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _shown(value: object) -> str:
    return "—" if value is None else str(value)


def show_probe(console: Console, target: str, report: ProbeReport) -> None:
    """The report as a person reads it: health, the description as a table, the sample."""
    console.print(f"adapter at {target}: health {report.health}")
    description = report.description
    if description is None:
        console.print(f"Describe failed: {report.describe_error}")
        return
    limit = description.max_subjects or "no stated limit"
    console.print(
        f"{description.agency_id} — {description.name} ({description.name_fa}); "
        f"at most {limit} subjects per Fetch"
    )
    attributes = Table(show_edge=False)
    for column in ("attribute", "type", "unit", "sensitivity", "predicates", "description"):
        attributes.add_column(column)
    for spec in description.attributes:
        operators = ", ".join(sorted(op.value for op in spec.predicate_operators))
        attributes.add_row(
            spec.name,
            spec.type.value,
            spec.unit,
            spec.sensitivity.value,
            operators,
            spec.description,
        )
    console.print(attributes)
    if report.fetched is None or report.query is None:
        console.print(f"sample Fetch failed: {report.fetch_error}")
        return
    sample = Table(show_edge=False, title="sample Fetch")
    sample.add_column("attribute")
    for subject in report.query.subjects:
        sample.add_column(subject)
    sample.add_row("found", *("yes" if f else "no" for f in report.fetched.found))
    for name in report.query.attributes:
        sample.add_row(name, *(_shown(v) for v in report.fetched.values[name]))
    console.print(sample)
