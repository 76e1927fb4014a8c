"""``sakha programs``: list, show and test program files, with new agencies too."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click
import grpc
from rich.console import Console
from rich.table import Table

from adapters.pki.material import PkiLayout
from adapters.sdk import AgencyDescription
from gateway.cli_connection import lang_option
from gateway.labels import label
from gateway.programs.loader import load_programs
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR


@click.group()
def programs() -> None:
    """List, show and test program files."""


_PROGRAMS_DIR = click.option(
    "--programs-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Program files [default: the built-in programs].",
)


@programs.command("list")
@_PROGRAMS_DIR
@lang_option
def programs_list(programs_dir: Path | None, lang: str) -> None:
    """The programs, with their purposes."""
    registry = load_programs(programs_dir or BUILTIN_PROGRAMS_DIR)
    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    for name in ("version", "title", "unit", "need"):
        table.add_column(label(name, lang))
    table.add_column(label("purposes", lang), overflow="fold")
    for program in registry.all():
        title = program.title.fa if lang == "fa" else program.title.en
        table.add_row(
            program.id,
            program.version,
            title,
            program.unit.value,
            program.need_category.value,
            ", ".join(program.purposes),
        )
    console = Console()
    if not console.is_terminal:  # a pipe or a file: full width, no wrapping inside cells
        console = Console(width=_UNWRAPPED_WIDTH, no_color=True)
    console.print(table)


_UNWRAPPED_WIDTH = 400
"""Columns the programs table may use when it does not go to a terminal (rich would wrap it
at 80, splitting ids and purposes across lines)."""


@programs.command("show")
@click.argument("program_id")
@_PROGRAMS_DIR
def programs_show(program_id: str, programs_dir: Path | None) -> None:
    """Print a program file."""
    registry = load_programs(programs_dir or BUILTIN_PROGRAMS_DIR)
    click.echo(registry.get(program_id).source_path.read_text(encoding="utf-8"))


@programs.command("test")
@_PROGRAMS_DIR
@click.option(
    "--agencies",
    "agency_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An agency's adapter file (SQL, CSV or HTTP): add the agency it describes to the "
    "catalogue, or replace a simulated one of the same id (repeatable).",
)
@click.option(
    "--describe-from",
    "targets",
    multiple=True,
    metavar="[AGENCY=]HOST:PORT",
    help="Ask a running adapter for its Describe and add the agency (repeatable); with "
    "--tls-dir, as the hub does, naming the agency its certificate names.",
)
@click.option(
    "--tls-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The hub's PKI folder, for --describe-from over mutual TLS.",
)
@lang_option
def programs_test(
    programs_dir: Path | None,
    agency_files: tuple[Path, ...],
    targets: tuple[str, ...],
    tls_dir: Path | None,
    lang: str,
) -> None:
    """Run every program's in-file test cases against the simulated agencies' catalogue,
    with any agencies added by --agencies and --describe-from."""
    from adapters.config import describe_adapter_config  # noqa: PLC0415
    from gateway.programs.testing import run_program_tests, simulated_catalogue  # noqa: PLC0415

    registry = load_programs(programs_dir or BUILTIN_PROGRAMS_DIR)
    described = [describe_adapter_config(path) for path in agency_files]
    described += [_described(target, tls_dir) for target in targets]
    catalogue = simulated_catalogue(described)
    failures = cases = 0
    # A case that simulates an agency failure makes the fan-out warn; here that is expected.
    logging.getLogger("gateway.fanout").setLevel(logging.ERROR)
    for program in registry.all():
        for case in run_program_tests(program, catalogue):
            mark = label("ok" if case.passed else "FAIL", lang)
            cases += 1
            failures += not case.passed
            click.echo(
                f"{mark} {program.id}: {case.name}" + ("" if case.passed else f" — {case.message}")
            )
    count = len(registry.all())
    plural = "s" if lang == "en" and count != 1 else ""  # Persian counts take the singular
    programs = f"{count} {label('program', lang)}{plural}"
    click.echo(
        f"{cases} {label('test cases of', lang)} {programs}: {cases - failures} "
        f"{label('passed', lang)}, {failures} {label('failed', lang)}"
    )
    if failures:
        raise click.ClickException(f"{failures} program test case(s) failed")


def _described(target: str, tls_dir: Path | None) -> AgencyDescription:
    """The Describe of the adapter at ``[agency=]host:port``."""
    from adapters.client import ConnectorClient  # noqa: PLC0415
    from gateway.adapter_connection import AdapterConnection  # noqa: PLC0415

    agency_id, _, address = target.rpartition("=")
    if tls_dir is not None and not agency_id:
        raise click.BadParameter(
            f"{target!r}: with --tls-dir, name the agency (AGENCY=HOST:PORT)",
            param_hint="--describe-from",
        )
    pki = None if tls_dir is None else PkiLayout(tls_dir)
    connection = AdapterConnection(address, pki, agency_id or None)

    async def ask() -> AgencyDescription:
        async with connection.channel() as channel:
            return await ConnectorClient(channel).describe(timeout=5)

    try:
        description = asyncio.run(ask())
    except grpc.aio.AioRpcError as exc:
        raise click.ClickException(
            f"the adapter at {address} did not describe itself: {exc.code().name}: {exc.details()}"
        ) from exc
    if agency_id and description.agency_id != agency_id:
        raise click.ClickException(
            f"the adapter at {address} is {description.agency_id!r}, not {agency_id!r}"
        )
    return description
