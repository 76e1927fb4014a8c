"""``sakha pki``: the development CA, and a certificate for each new agency."""

from __future__ import annotations

from pathlib import Path

import click

from adapters.pki.material import PkiLayout


@click.group()
def pki() -> None:
    """The development PKI for TLS to clients and mutual TLS to agencies."""


@pki.command("init")
@click.option(
    "--out",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the CA, the hub's and the agencies' keys and certificates.",
)
@click.option(
    "--agency",
    "agencies",
    multiple=True,
    help="An agency id to certify (repeatable) [default: the 30 simulated agencies].",
)
@click.option("--host", "hosts", multiple=True, help="Extra host name or IP for the hub.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an unusable or expiring CA (every certificate it issued is re-issued).",
)
def pki_init(folder: Path, agencies: tuple[str, ...], hosts: tuple[str, ...], force: bool) -> None:
    """Create (or complete) a development CA and certificates; existing valid ones are kept."""
    from adapters.simulated.catalogue import agency_config_paths  # noqa: PLC0415
    from gateway.pki.ca import init_pki  # noqa: PLC0415

    ids = agencies or tuple(p.stem for p in agency_config_paths())
    layout = init_pki(
        folder, agencies=ids, hub_hosts=("localhost", "127.0.0.1", *hosts), force=force
    )
    click.echo(
        f"CA: {layout.ca_cert}\nhub: {layout.hub_cert} (clients), "
        f"{layout.hub_client_cert} (to agencies)\nfetch tokens: {layout.fetch_token_key} "
        f"(hub only), {layout.fetch_token_jwks} (every agency)\nagencies: {len(ids)} in "
        f"{layout.agencies_dir}"
    )


@pki.command("issue-agency")
@click.argument("agency_id")
@click.option(
    "--pki",
    "folder",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The hub's PKI folder (made by `sakha pki init`): its CA issues the certificate.",
)
@click.option(
    "--out",
    "bundle",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder for the agency: ca.pem, agencies/ID.pem and .key, fetch-token-keys.json "
    "(what its --tls-dir needs, nothing else of the hub's).",
)
@click.option(
    "--days", default=90, show_default=True, type=click.IntRange(1, 825), help="Validity."
)
@click.option("--force", is_flag=True, help="Issue a new certificate even if one is valid.")
def pki_issue_agency(agency_id: str, folder: Path, bundle: Path, days: int, force: bool) -> None:
    """Give a new agency its certificate from the hub's CA, and a folder to send it."""
    from adapters.pki.material import agency_dns_name, agency_spiffe_id, load_certificate  # noqa: PLC0415
    from gateway.pki.ca import export_agency_bundle, issue_certificate  # noqa: PLC0415

    layout = PkiLayout(folder)
    files = issue_certificate(layout, agency_id, days=days, force=force)
    exported = export_agency_bundle(layout, agency_id, bundle)
    until = load_certificate(files.cert).not_valid_after_utc.date().isoformat()
    click.echo(
        f"{agency_id}: certificate {agency_spiffe_id(agency_id)} (DNS "
        f"{agency_dns_name(agency_id)}), valid until {until}: {files.cert}\n"
        f"for the agency: {exported.folder} (ca.pem, agencies/{agency_id}.pem and .key, "
        "fetch-token-keys.json); send it over a secure channel, the .key is secret\n"
        f"the agency serves with: sakha adapter serve --config {agency_id}.yaml "
        f"--tls-dir {exported.folder} --listen 0.0.0.0:PORT"
    )
