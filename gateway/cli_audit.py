"""``sakha audit …``: the AuditService from the command line, for auditors.

Every command calls the hub like ``sakha check`` does (``--server/--profile/--insecure``,
:mod:`gateway.cli_connection`): the auditor's key and organisation come from the client
profile. Failures are one ``Error:`` line, exit 1; usage errors exit 2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, TypeAlias

import click
import sqlalchemy as sa
from google.protobuf import timestamp_pb2
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sakha.v1 import audit_pb2 as pb2
from sakha.v1 import audit_pb2_grpc

from gateway import render
from gateway.cli_connection import ServiceCalls, UtcTime, hub_options, one_line, timestamp
from gateway.hub_connection import HubConnection

_Hub: TypeAlias = "ServiceCalls[audit_pb2_grpc.AuditServiceAsyncStub]"


def _calls(connection: HubConnection, timeout: float) -> _Hub:
    return ServiceCalls(connection, timeout, audit_pb2_grpc.AuditServiceStub)


_hub_options = hub_options(_calls, timeout_s=30.0)


_JSON = click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
_LANGUAGES = {"en": pb2.REPORT_LANGUAGE_EN, "fa": pb2.REPORT_LANGUAGE_FA}


@click.group()
def audit() -> None:
    """Read the audit log: checkpoints, proofs, queries and subject reports."""


@audit.command("checkpoint")
@_JSON
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also keep the note in this file (for `verify --trusted-checkpoint`).",
)
@_hub_options
def audit_checkpoint(hub: _Hub, as_json: bool, out_file: Path | None) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    checkpoint = hub.call(lambda stub: stub.GetCheckpoint, pb2.GetCheckpointRequest())
    if out_file is not None:
        try:
            out_file.write_text(checkpoint.note, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(one_line(exc)) from exc
    if as_json:
        click.echo(render.as_json(checkpoint))
        return
    click.echo(checkpoint.note, nl=False)


@audit.command("vkey")
@_hub_options
def audit_vkey(hub: _Hub) -> None:
    """Print the verifier key of the checkpoint signer (for ``--vkey``)."""
    click.echo(hub.call(lambda stub: stub.GetVerifierKey, pb2.GetVerifierKeyRequest()).vkey)


@audit.command("query")
@click.option("--since", type=UtcTime(), default=None, help="Recorded at or after this time.")
@click.option("--until", type=UtcTime(), default=None, help="Recorded before this time.")
@click.option("--org", default="", help="The calling organisation's id.")
@click.option("--program", default="", help="The program's id.")
@click.option("--agency", default="", help="An agency the lookup asked.")
@click.option("--outcome", default="", help="A decision (ELIGIBLE…) or a reason (NO_CONSENT…).")
@click.option("--subject", default="", help="A subject's 10-digit national ID.")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most this many [0: all].")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: each entry's canonical bytes.")
@_hub_options
def audit_query(hub: _Hub, as_json: bool, **options: Any) -> None:
    """The entries the filters select, oldest first."""
    request = pb2.QueryRequest(
        since=timestamp(options["since"]),
        until=timestamp(options["until"]),
        organisation_id=options["org"],
        program_id=options["program"],
        agency_id=options["agency"],
        outcome=options["outcome"],
        subject_national_id=options["subject"],
        limit=options["limit"],
    )
    entries = hub.stream(lambda stub: stub.Query, request)
    if as_json:
        for entry in entries:
            click.echo(entry.canonical_json)
        return
    Console().print(_entries_table(entries))


def _time(stamp: timestamp_pb2.Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _basis(basis: pb2.AuditBasis) -> str:
    if not basis.kind:
        return "-"
    return f"{pb2.BasisKind.Name(basis.kind).removeprefix('BASIS_KIND_').lower()} {basis.ref}"


def _result(entry: pb2.AuditEntry) -> str:
    kind = entry.WhichOneof("result")
    if kind == "decision":
        return render.decision_name(entry.decision.decision)
    if kind == "refusal":
        return f"refused {entry.refusal.reason}"
    if kind == "failure":
        return f"failed {entry.failure.reason}"
    return "-"


def _caller(entry: pb2.AuditEntry) -> str:
    if not entry.HasField("caller"):
        return "-"
    return f"{entry.caller.organisation_id}/{entry.caller.operator}"


def _entries_table(entries: list[pb2.AuditEntry]) -> Table:
    table = Table(show_edge=False)
    for column in ("#", "time (UTC)", "caller", "program", "purpose", "basis", "agencies"):
        table.add_column(column, no_wrap=column in {"#", "time (UTC)"})
    table.add_column("result")
    for entry in entries:
        table.add_row(
            str(entry.index),
            _time(entry.time),
            escape(_caller(entry)),
            escape(entry.program.id or "-"),
            escape(entry.purpose or "-"),
            escape(_basis(entry.basis)),
            escape(", ".join(dict.fromkeys(a.agency_id for a in entry.agencies)) or "-"),
            _result(entry),
        )
    return table


_REPORT_HEADINGS = {
    "en": ("Who looked at this person's data: {count} lookups", "No lookup is recorded."),
    "fa": ("چه کسانی داده‌های این شخص را دیده‌اند: {count} بررسی", "هیچ بررسی‌ای ثبت نشده است."),
}


@audit.command("report")
@click.option("--subject", required=True, help="The person's 10-digit national ID.")
@click.option("--lang", type=click.Choice(list(_LANGUAGES)), default="en", show_default=True)
@_hub_options
def audit_report(hub: _Hub, subject: str, lang: str) -> None:
    """Who looked at one person's data: when, who, why, under what, which agencies, result."""
    request = pb2.SubjectReportRequest(national_id=subject, lang=_LANGUAGES[lang])
    lines = hub.stream(lambda stub: stub.SubjectReport, request)
    heading, nothing = _REPORT_HEADINGS[lang]
    console = Console()
    if not lines:
        console.print(nothing)
        return
    console.print(heading.format(count=len(lines)), style="bold")
    for line in lines:
        console.print(f"#{line.index}  {escape(line.text)}", soft_wrap=True)


@audit.command("proof")
@click.option("--index", type=click.IntRange(min=0), required=True, help="The entry's index.")
@click.option(
    "--size", type=click.IntRange(min=1), default=None, help="[default: the latest checkpoint's]"
)
@_JSON
@_hub_options
def audit_proof(hub: _Hub, index: int, size: int | None, as_json: bool) -> None:
    """The inclusion proof of one entry in the tree of a size."""
    request = pb2.GetInclusionProofRequest(index=index, tree_size=size or 0)
    proof = hub.call(lambda stub: stub.GetInclusionProof, request)
    if as_json:
        click.echo(render.as_json(proof))
        return
    click.echo(f"index {proof.index} in tree size {proof.tree_size}")
    click.echo(f"leaf hash {proof.leaf_hash.hex()}")
    for step, node in enumerate(proof.hashes):
        click.echo(f"  {step:>2} {node.hex()}")


@audit.command("export")
@click.option("--db", "--db-url", "db_url", required=True, help="The audit log's database URL.")
@click.option(
    "--origin", default=None, help="The log's name [default: the one the database holds]."
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option("--from", "start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--to", "stop", type=click.IntRange(min=1), default=None, help="[default: all]")
def audit_export(
    db_url: str, origin: str | None, out_dir: Path, start: int, stop: int | None
) -> None:
    """Write a self-contained bundle of entries, checkpoints and proofs (no server needed)."""
    from audit import AuditError  # noqa: PLC0415 - only the offline commands need these
    from audit.bundle import export_bundle  # noqa: PLC0415
    from audit.store import AuditStore  # noqa: PLC0415
    from consent import ConsentError  # noqa: PLC0415

    try:
        store = AuditStore.open(db_url, origin=origin)
        try:
            manifest = export_bundle(store, out_dir, start=start, stop=stop)
        finally:
            store.close()
    except (AuditError, ConsentError, sa.exc.SQLAlchemyError, ValueError, OSError) as exc:
        raise click.ClickException(one_line(exc)) from exc
    click.echo(f"exported {manifest['entries']} entries of {manifest['origin']} to {out_dir}")


@audit.command("verify")
@click.option(
    "--db", "--db-url", "db_url", default=None, help="Verify the log in this database ..."
)
@click.option(
    "--bundle", type=click.Path(path_type=Path, exists=True), default=None, help="... or a bundle."
)
@click.option("--vkey", required=True, help="The log's verifier key (`sakha audit vkey`).")
@click.option("--origin", default=None, help="The log's name [default: the vkey's key name].")
@click.option(
    "--trusted-checkpoint",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="A checkpoint you kept: the log must contain it (catches truncation and old copies).",
)
def audit_verify(
    db_url: str | None,
    bundle: Path | None,
    vkey: str,
    origin: str | None,
    trusted_checkpoint: Path | None,
) -> None:
    """Recompute every leaf and root, check every signature and checkpoint; needs no secret."""
    from audit import AuditError, Verifier  # noqa: PLC0415 - only the offline commands
    from audit.bundle import BundleSource  # noqa: PLC0415
    from audit.verify import LogSource, StoreSource, verify_log  # noqa: PLC0415
    from consent import ConsentError  # noqa: PLC0415
    from consent.database import create_store_engine  # noqa: PLC0415

    if (db_url is None) == (bundle is None):
        raise click.UsageError("give exactly one of --db and --bundle")
    try:
        verifier = Verifier.parse(vkey)
        name = origin or verifier.name
        trusted = trusted_checkpoint.read_bytes() if trusted_checkpoint else None
        engine = None
        try:
            source: LogSource
            if bundle is not None:
                source = BundleSource(bundle)
            else:
                assert db_url is not None  # noqa: S101 - checked above
                engine = create_store_engine(db_url, existing=True)
                source = StoreSource(engine, origin=name)
            report = verify_log(
                source,
                verifier,
                origin=name,
                trusted=trusted,
                progress=lambda done, total: click.echo(f"  {done:,}/{total:,} entries", err=True),
            )
        finally:
            if engine is not None:
                engine.dispose()
    except (AuditError, ConsentError, sa.exc.SQLAlchemyError, ValueError, OSError) as exc:
        raise click.ClickException(one_line(exc)) from exc
    click.echo(report.describe())
    if not report.ok:
        raise SystemExit(1)
