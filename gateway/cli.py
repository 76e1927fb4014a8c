"""``sakha``: the one command line for the demo, the hub, adapters, checks and programs.

Every command fails with one ``Error:`` line naming the file, agency, address or key at
fault, never a traceback, and exits with a documented code (:data:`EXIT_CODES`, also in
``sakha --help`` and docs/operations.md).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
import os
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.errors import AdapterError
from adapters.pki.material import PkiError
from gateway import environment, render
from gateway.auth.errors import AuthError
from gateway.auth.tokens import issue_token, load_private_key
from gateway.cli_adapter import adapter
from gateway.cli_audit import audit
from gateway.cli_connection import call_hub, connect, connection_options, lang_option, one_line
from gateway.cli_consent import consent, mandate
from gateway.cli_pki import pki
from gateway.cli_programs import programs
from gateway.cli_serving import stop_on_signal, telemetry
from gateway.client_profile import ProfileError
from gateway.config import ConfigError, load_hub_config
from gateway.demo import DemoOptions, default_data_dir, run_demo
from gateway.engine.errors import EngineError
from gateway.errors import GatewayError
from gateway.labels import label
from gateway.programs.errors import ProgramError

EXIT_OK = 0
"""The command did what it was asked (check-batch: every row was decided)."""
EXIT_FAILED = 1
"""One ``Error:`` line says what failed (check-batch: some rows could not be decided)."""
EXIT_USAGE = 2
"""The command line itself is wrong (click's usage errors)."""
EXIT_CODES = {EXIT_OK: "success", EXIT_FAILED: "failure (one Error: line)", EXIT_USAGE: "usage"}

_FAILURES = (
    AdapterError,
    AuthError,
    ConfigError,
    EngineError,
    GatewayError,
    PkiError,
    ProfileError,
    ProgramError,
    OSError,
)
"""The root exceptions whose message names what is at fault; any of them ends a command."""


class _SakhaCommands(click.Group):
    """Turns every expected failure of any subcommand into one ``Error:`` line, exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except _FAILURES as exc:
            raise click.ClickException(one_line(exc)) from exc


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@click.group(
    cls=_SakhaCommands,
    epilog="Exit codes: 0 success; 1 failure, said in one 'Error:' line (check-batch: some "
    "rows could not be decided); 2 usage.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Sakha: eligibility checks answered by asking the agencies that hold the facts."""
    level = os.environ.get(environment.SAKHA_LOG_LEVEL, "WARNING").strip().upper()
    if level not in _LOG_LEVELS:
        raise click.ClickException(
            f"{environment.SAKHA_LOG_LEVEL}={level!r}: use one of {', '.join(_LOG_LEVELS)}"
        )
    if verbose:
        level = "DEBUG" if verbose > 1 else "INFO"
    log_format = os.environ.get(environment.SAKHA_LOG_FORMAT, "text").strip().lower()
    if log_format not in ("text", "json"):
        raise click.ClickException(
            f"{environment.SAKHA_LOG_FORMAT}={log_format!r}: use text or json"
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":
        from gateway.log_format import JsonFormatter  # noqa: PLC0415 - only when asked for

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())


@main.command()
@click.option("--port", default=50051, show_default=True, help="Hub port on 127.0.0.1.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the population lives [default: $XDG_DATA_HOME/sakha/demo].",
)
@click.option("--households", default=10_000, show_default=True)
@click.option("--seed", default=20261121, show_default=True)
@click.option(
    "--insecure",
    is_flag=True,
    help="No TLS, no tokens, no mutual TLS to agencies: local debugging only.",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the client profile [default: $XDG_CONFIG_HOME/sakha/profile.yaml].",
)
def demo(
    port: int,
    data_dir: Path | None,
    households: int,
    seed: int,
    insecure: bool,
    profile_path: Path | None,
) -> None:
    """Generate the population (first run), start the 30 agencies and the hub."""
    options = DemoOptions(
        port,
        (data_dir or default_data_dir()).resolve(),
        households,
        seed,
        insecure=insecure,
        profile_path=profile_path,
    )
    telemetry("sakha-demo")
    asyncio.run(run_demo(options, Console(soft_wrap=True, highlight=False)))


@main.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--insecure", is_flag=True, help="Every security layer off: local debugging only.")
def serve(config_path: Path, insecure: bool) -> None:
    """Run the hub from a config file (agencies' addresses, limits, programs)."""
    from gateway.hub import start_hub  # noqa: PLC0415 - keeps client commands light

    config = load_hub_config(config_path, insecure=insecure)
    telemetry("sakha-hub")

    async def run() -> None:
        hub = await start_hub(config)
        stopped = stop_on_signal()
        targets = {endpoint.agency_id: endpoint.target for endpoint in config.agencies}
        mode = "mutual TLS" if config.layers.agency_mtls else "plaintext"
        for description in hub.agencies:
            click.echo(
                f"connected {description.agency_id} at {targets[description.agency_id]} "
                f"({mode}): {len(description.attributes)} attributes"
            )
        click.echo(f"hub listening on port {hub.port}")
        try:
            await stopped.wait()
        finally:
            await hub.stop(config.grace_s)

    asyncio.run(run())


@main.command()
@connection_options
@click.option("--program", required=True)
@click.option("--subject", required=True, help="The subject's 10-digit national ID.")
@click.option("--purpose", required=True)
@click.option("--request-id", default="", help="Your id for this check (default: generated).")
@click.option(
    "--consent",
    "consent_id",
    default="",
    help="The consent covering this check [default: the subject's live one, if any].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@lang_option
@click.option("--timeout", default=10.0, show_default=True, help="Deadline in seconds.")
def check(
    server: str | None,
    profile_path: Path | None,
    insecure: bool,
    program: str,
    subject: str,
    purpose: str,
    request_id: str,
    consent_id: str,
    as_json: bool,
    lang: str,
    timeout: float,
) -> None:
    """Ask the hub whether one subject is eligible for a program."""
    request = eligibility_pb2.CheckRequest(
        national_id=subject,
        program_id=program,
        purpose=purpose,
        request_id=request_id,
        consent_id=consent_id,
    )

    connection = connect(server, profile_path, insecure)

    async def run() -> eligibility_pb2.CheckResult:
        async with connection.channel() as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            return await stub.Check(request, timeout=timeout, metadata=connection.metadata())

    result = call_hub(lambda: asyncio.run(run()), connection)
    if as_json:
        click.echo(render.as_json(result))
        return
    if consent_id:
        click.echo(f"under consent {consent_id}")
    render.show_result(Console(), result, lang)


_RESULT_COLUMNS = (
    "request_id",
    "national_id",
    "decision",
    "reason_codes",
    "failed_rules",
    "reasons",
    "error",
)


@main.command("check-batch")
@connection_options
@click.option("--program", required=True)
@click.option("--purpose", required=True)
@click.option(
    "--in",
    "in_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with a national_id column (and optionally request_id).",
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the rows --out already holds (an interrupted run's) and check only the rest.",
)
@lang_option
@click.option("--timeout", default=3600.0, show_default=True, help="Deadline in seconds.")
def check_batch(
    server: str | None,
    profile_path: Path | None,
    insecure: bool,
    program: str,
    purpose: str,
    in_path: Path,
    out_path: Path,
    resume: bool,
    lang: str,
    timeout: float,
) -> None:
    """Re-assess a caseload with CheckBatch: CSV in, one CSV row per subject out.

    The CSV is streamed both ways, so memory stays flat whatever its size. With ``--resume``
    the rows an interrupted run wrote are kept (each must be the input's row at its place)
    and only the subjects after them are checked. Exits 0 when every row was decided, 1 when
    any row could not be (its error column says why), 2 on a usage error.
    """
    connection = connect(server, profile_path, insecure)
    with in_path.open(encoding="utf-8", newline="") as handle:
        total = sum(1 for _ in _read_subjects(handle))
    if not total:
        raise click.ClickException("the input CSV holds no subjects")
    kept = _kept_rows(in_path, out_path) if resume else Counter[str]()
    skip = sum(kept.values())

    async def run(
        progress: Progress, writer: Any, subjects: Iterator[tuple[str, str]]
    ) -> Counter[str]:
        task = progress.add_task(label("checking", lang), total=total, completed=skip)
        counts: Counter[str] = Counter()
        in_flight: deque[str] = deque()

        async def requests() -> AsyncIterator[eligibility_pb2.CheckRequest]:
            for national_id, request_id in subjects:
                in_flight.append(national_id)
                yield eligibility_pb2.CheckRequest(
                    national_id=national_id,
                    program_id=program,
                    purpose=purpose,
                    request_id=request_id,
                )

        async with connection.channel() as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            batch = stub.CheckBatch(requests(), timeout=timeout, metadata=connection.metadata())
            async for result in batch:
                decision = render.decision_name(result.decision)
                if result.HasField("error"):
                    decision = "ERROR"
                counts[decision] += 1
                writer.writerow(_result_row(in_flight.popleft(), result, decision, lang))
                progress.advance(task)
        return counts

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    counts: Counter[str] = Counter()
    with (
        in_path.open(encoding="utf-8", newline="") as source,
        out_path.open("a" if resume else "w", encoding="utf-8", newline="") as out,
        Progress(*columns, console=console) as progress,
    ):
        writer = csv.writer(out)
        if not skip:
            writer.writerow(_RESULT_COLUMNS)
        subjects = itertools.islice(_read_subjects(source), skip, None)
        if skip < total:
            counts = call_hub(lambda: asyncio.run(run(progress, writer, subjects)), connection)
    counts.update(kept)
    summary = ", ".join(f"{render.decision_label(k, lang)}: {v}" for k, v in sorted(counts.items()))
    resumed = f", {skip} {label('kept from before', lang)}" if skip else ""
    console.print(f"{total} {label('subjects', lang)} → {out_path.name}  ({summary}{resumed})")
    undecided = total - sum(n for decision, n in counts.items() if decision != "ERROR")
    if undecided:
        raise click.ClickException(
            f"{undecided} of {total} rows could not be decided "
            f"(see the error column of {out_path.name})"
        )


def _kept_rows(in_path: Path, out_path: Path) -> Counter[str]:
    """The decisions of the rows an interrupted run wrote to ``out_path``, counted; a last
    line cut off mid-write is removed. Each kept row must be the input's row at its place.

    Raises:
        click.ClickException: ``out_path`` is not this command's output for this input.
    """
    if not out_path.exists():
        return Counter()
    data = out_path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        out_path.write_bytes(complete)  # the row being written when the run stopped
    kept: Counter[str] = Counter()
    with (
        out_path.open(encoding="utf-8", newline="") as out,
        in_path.open(encoding="utf-8", newline="") as source,
    ):
        rows = csv.reader(out)
        header = next(rows, None)
        if header is None:
            return kept
        if tuple(header) != _RESULT_COLUMNS:
            raise click.ClickException(f"{out_path} is not a check-batch result file")
        subjects = _read_subjects(source)
        for line, row in enumerate(rows, start=2):
            expected = next(subjects, None)
            if expected is None or len(row) != len(_RESULT_COLUMNS) or row[1] != expected[0]:
                raise click.ClickException(
                    f"{out_path}:{line} is not the result of {in_path}'s row {line - 1}: "
                    "resume with the input of the interrupted run"
                )
            kept[row[2]] += 1
    return kept


def _result_row(
    national_id: str, result: eligibility_pb2.CheckResult, decision: str, lang: str
) -> list[str]:
    failed = [r for r in result.rules if r.outcome != eligibility_pb2.RULE_OUTCOME_PASS]
    return [
        result.request_id,
        national_id,
        decision,
        " ".join(result.reason_codes),
        " ".join(r.rule_id for r in failed),
        " | ".join(render.text(r.reason, lang) for r in failed),
        result.error.message if result.HasField("error") else "",
    ]


def _read_subjects(handle: TextIO) -> Iterator[tuple[str, str]]:
    reader = csv.DictReader(handle)
    if reader.fieldnames is None or "national_id" not in reader.fieldnames:
        raise click.ClickException("the input CSV needs a national_id column")
    for row in reader:
        yield row["national_id"], row.get("request_id") or ""


@main.group()
def token() -> None:
    """Mint client tokens (development and testing)."""


@token.command("issue")
@click.option("--org", "organisation", required=True, help="Organisation id (the iss claim).")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The organisation's private key (PEM, Ed25519 or P-256).",
)
@click.option("--kid", default=None, help="Key id registered for the key [default: ORG-1].")
@click.option("--operator", default=None, help="The person or system acting (sub claim).")
@click.option("--audience", default="sakha-hub", show_default=True)
@click.option("--ttl", "ttl_s", default=600, show_default=True, help="Lifetime in seconds.")
def token_issue(
    organisation: str,
    key_file: Path,
    kid: str | None,
    operator: str | None,
    audience: str,
    ttl_s: int,
) -> None:
    """Print a signed token for ORG, for `authorization: Bearer <token>`."""
    private_key = load_private_key(key_file)
    click.echo(
        issue_token(
            organisation_id=organisation,
            operator=operator or os.environ.get("USER", "operator"),
            private_key=private_key,
            kid=kid or f"{organisation}-1",
            audience=audience,
            ttl_s=ttl_s,
        )
    )


@main.group()
def db() -> None:
    """The hub's database: the consent store and the audit log."""


@db.command("upgrade")
@click.option(
    "--db-url",
    required=True,
    help="The hub's database, e.g. sqlite+pysqlite:////var/lib/sakha/sakha.sqlite or a "
    "PostgreSQL URL.",
)
@click.option(
    "--audit-db-url",
    default=None,
    help="The audit log's own database, when it is not --db-url (config key audit_db_url).",
)
def db_upgrade(db_url: str, audit_db_url: str | None) -> None:
    """Migrate the consent store and the audit log to the revisions this code needs."""
    import sqlalchemy as sa  # noqa: PLC0415 - only this command needs it

    from audit.migrations import AUDIT_MIGRATIONS  # noqa: PLC0415
    from consent import ConsentError  # noqa: PLC0415
    from consent.database import create_store_engine  # noqa: PLC0415
    from consent.migrations import CONSENT_MIGRATIONS  # noqa: PLC0415

    for migrations, url in (
        (CONSENT_MIGRATIONS, db_url),
        (AUDIT_MIGRATIONS, audit_db_url or db_url),
    ):
        try:
            migrations.upgrade(url)
            engine = create_store_engine(url)
            try:
                revision = migrations.current_revision(engine)
            finally:
                engine.dispose()
        except (ConsentError, sa.exc.SQLAlchemyError, ValueError) as exc:
            raise click.ClickException(f"{migrations.store} database: {one_line(exc)}") from exc
        click.echo(f"{migrations.store} database at revision {revision}")


main.add_command(consent)
main.add_command(mandate)
main.add_command(audit)
main.add_command(adapter)
main.add_command(pki)
main.add_command(programs)


if __name__ == "__main__":
    sys.exit(main())
