"""``sakha adapter``: serve an agency's adapter, probe one, check one against the contract."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from adapters.errors import AdapterConfigError
from adapters.national_id import national_id_defect
from adapters.pki.material import PkiLayout
from gateway.adapter_connection import AdapterConnection
from gateway.cli_serving import stop_on_signal, telemetry


@click.group()
def adapter() -> None:
    """Run an agency adapter."""


def _tls_dir(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The ``--tls-dir`` option (a PKI folder made by ``sakha pki init``)."""
    return click.option(
        "--tls-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help=help_text,
    )


@adapter.command("serve")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--listen", default="127.0.0.1:0", show_default=True)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Placeholder value for the config, e.g. data_dir=/srv/agency.",
)
@_tls_dir(
    "Folder made by `sakha pki init` (or holding ca.pem, agencies/ID.pem/.key and "
    "fetch-token-keys.json): serve mutual TLS, admit only the hub's client certificate and "
    "only fetches carrying a valid hub token."
)
@click.option(
    "--hub-keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The hub's fetch-token JWK Set: every Fetch must carry a token it signed "
    "[default with --tls-dir: DIR/fetch-token-keys.json].",
)
@click.option("--insecure", is_flag=True, help="Plaintext, any caller: local debugging only.")
def adapter_serve(
    config_path: Path,
    listen: str,
    variables: tuple[str, ...],
    tls_dir: Path | None,
    hub_keys: Path | None,
    insecure: bool,
) -> None:
    """Serve one agency's data as a ConnectorService."""
    from adapters.config import load_adapter_config  # noqa: PLC0415
    from adapters.server import create_adapter_server  # noqa: PLC0415

    if (tls_dir is None) == (not insecure):
        raise click.UsageError("give --tls-dir (mutual TLS) or --insecure, exactly one")

    malformed = [v for v in variables if "=" not in v]
    if malformed:
        raise click.BadParameter(f"{malformed[0]!r} is not NAME=VALUE", param_hint="--var")
    pairs = dict(v.split("=", 1) for v in variables)
    host, _, port_text = listen.rpartition(":")
    if not port_text.isdigit():
        raise click.BadParameter(f"{listen!r} is not host:port", param_hint="--listen")

    async def run() -> None:
        loaded = load_adapter_config(config_path, variables=pairs)
        telemetry(f"sakha-adapter-{loaded.describe().agency_id}")
        tls = None if tls_dir is None else PkiLayout(tls_dir)
        if tls is None:
            click.echo("INSECURE: plaintext, any caller may ask — local debugging only", err=True)
        try:
            server, bound = await create_adapter_server(
                loaded, host or "127.0.0.1", int(port_text), tls=tls, hub_keys=hub_keys
            )
        except AdapterConfigError as exc:  # its message names the key; add the file
            await loaded.close()
            raise AdapterConfigError(f"{config_path}: {exc}") from exc
        except BaseException:
            await loaded.close()
            raise
        stopped = stop_on_signal()
        click.echo(f"{loaded.describe().agency_id} serving on {host}:{bound}")
        try:
            await stopped.wait()
        finally:
            await server.stop(2.0)
            await loaded.close()

    asyncio.run(run())


def _reaching_adapter(
    *, subject_help: str, tls_help: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of a command that reaches a running adapter: ``--target``, ``--subject``
    (repeated), ``--tls-dir`` and ``--agency``."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        options = (
            click.option("--target", required=True, help="The adapter's host:port."),
            click.option("--subject", "subjects", multiple=True, required=True, help=subject_help),
            _tls_dir(tls_help),
            click.option(
                "--agency", "agency_id", default=None, help="The agency id its certificate names."
            ),
        )
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _adapter_connection(
    target: str, tls_dir: Path | None, agency_id: str | None
) -> AdapterConnection:
    if tls_dir is not None and agency_id is None:
        raise click.UsageError("--tls-dir needs --agency: the id the adapter's certificate names")
    pki = None if tls_dir is None else PkiLayout(tls_dir)
    return AdapterConnection(target, pki, agency_id)


@adapter.command("probe")
@_reaching_adapter(
    subject_help="A national ID to fetch as a sample (repeat for more).",
    tls_help="The hub's PKI folder: connect as the hub does (its client certificate, a fetch "
    "token it signs). Without it, plaintext.",
)
def adapter_probe(
    target: str, subjects: tuple[str, ...], tls_dir: Path | None, agency_id: str | None
) -> None:
    """Look at a running adapter: its health, its Describe as a table, one sample Fetch."""
    from gateway.adapter_probe import probe, show_probe  # noqa: PLC0415

    report = asyncio.run(probe(_adapter_connection(target, tls_dir, agency_id), subjects))
    show_probe(Console(), target, report)
    if not report.ok:
        raise click.ClickException(f"the adapter at {target} did not answer every step")


@adapter.command("conformance")
@_reaching_adapter(
    subject_help="A national ID the agency holds (repeat; values of every attribute help).",
    tls_help="The hub's PKI folder: connect as the hub does, and check that a certificate "
    "that is not the hub's and a Fetch without a valid token are refused. Without it, "
    "plaintext, and those cases are skipped.",
)
@click.option(
    "--unknown-subject",
    default=None,
    help="A valid national ID the agency does not hold [default: one the kit makes up].",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report as JUnit XML to this file (for CI).",
)
def adapter_conformance(
    target: str,
    subjects: tuple[str, ...],
    unknown_subject: str | None,
    tls_dir: Path | None,
    agency_id: str | None,
    junit: Path | None,
) -> None:
    """Check a running adapter against the ConnectorService contract, one line per case;
    exits 1 when a case fails."""
    from gateway.conformance import report_lines, run_conformance, write_junit  # noqa: PLC0415

    for option, value in [
        *(("--subject", s) for s in subjects),
        ("--unknown-subject", unknown_subject),
    ]:
        defect = None if value is None else national_id_defect(value)
        if defect is not None:
            raise click.BadParameter(
                f"{value!r} is not a national ID ({defect.value})", param_hint=option
            )
    connection = _adapter_connection(target, tls_dir, agency_id)
    report = asyncio.run(run_conformance(connection, subjects, unknown=unknown_subject))
    for line in report_lines(report):
        click.echo(line)
    if junit is not None:
        write_junit(report, junit)
    if not report.ok:
        raise click.exceptions.Exit(1)
