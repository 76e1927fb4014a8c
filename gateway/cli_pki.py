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
    help="A folder for the agency: ca.pem, agencies/ID.pem (and .key, without --csr), "
    "fetch-token-keys.json; nothing else of the hub's.",
)
@click.option(
    "--csr",
    "request",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The agency's signing request (from `sakha pki request-agency`): certify its key, "
    "which never leaves the agency, instead of making one here.",
)
@click.option(
    "--days", default=90, show_default=True, type=click.IntRange(1, 825), help="Validity."
)
@click.option("--force", is_flag=True, help="Issue a new certificate even if one is valid.")
def pki_issue_agency(
    agency_id: str, folder: Path, bundle: Path, request: Path | None, days: int, force: bool
) -> None:
    """Give a new agency its certificate from the hub's CA, and a folder to send it."""
    from adapters.pki.material import load_certificate  # noqa: PLC0415
    from gateway.pki.ca import (  # noqa: PLC0415
        certify_agency_request,
        export_agency_bundle,
        issue_certificate,
    )

    layout = PkiLayout(folder)
    if request is None:
        issue_certificate(layout, agency_id, days=days, force=force)
        exported = export_agency_bundle(layout, agency_id, bundle)
        sent = f"ca.pem, agencies/{agency_id}.pem and .key, fetch-token-keys.json"
        care = "send it over a channel you trust: the .key is the agency's secret"
    else:
        exported = certify_agency_request(
            layout, agency_id, request.read_bytes(), bundle, days=days
        )
        sent = f"ca.pem, agencies/{agency_id}.pem, fetch-token-keys.json"
        care = "no secret in it: the agency adds these files beside its own key"
    certificate = load_certificate(exported.agency_cert(agency_id))
    until = certificate.not_valid_after_utc.date().isoformat()
    click.echo(
        f"{agency_id}: certificate {_identity(agency_id)}, valid until {until}\n"
        f"for the agency: {exported.folder} ({sent}); {care}\n"
        f"the agency serves with: sakha adapter serve --config {agency_id}.yaml "
        f"--tls-dir <that folder> --listen 0.0.0.0:PORT"
    )


@pki.command("request-agency")
@click.argument("agency_id")
@click.option(
    "--out",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The agency's own TLS folder: its key is made (or kept) here, with ID.csr beside.",
)
def pki_request_agency(agency_id: str, folder: Path) -> None:
    """Agency side: a key that stays here, and a signing request for the hub's operator."""
    from gateway.pki.ca import request_agency_certificate  # noqa: PLC0415

    path = request_agency_certificate(agency_id, folder)
    click.echo(
        f"{agency_id}: key {PkiLayout(folder).agency_key(agency_id)} (keep it here), signing "
        f"request {path}\nsend {path.name} to the hub's operator; put the files they send "
        f"back (ca.pem, agencies/{agency_id}.pem, fetch-token-keys.json) into {folder}"
    )


def _identity(agency_id: str) -> str:
    from adapters.pki.material import agency_dns_name, agency_spiffe_id  # noqa: PLC0415

    return f"{agency_spiffe_id(agency_id)} (DNS {agency_dns_name(agency_id)})"
