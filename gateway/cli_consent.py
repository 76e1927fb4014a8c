"""``sakha consent …`` and ``sakha mandate …``: the ConsentService from the command line.

Every command but ``consent verify`` calls the hub like ``sakha check`` does
(``--server/--profile/--insecure``, :mod:`gateway.cli_connection`); ``verify`` checks an
exported JWS offline against a JWK Set file, with no hub. Failures are one ``Error:`` line,
exit 1; usage errors exit 2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias

import click
from google.protobuf import duration_pb2, timestamp_pb2
from rich.console import Console
from rich.table import Table
from sakha.v1 import consent_pb2 as pb2
from sakha.v1 import consent_pb2_grpc

from gateway import render
from gateway.cli_connection import ServiceCalls, UtcTime, hub_options, one_line, timestamp
from gateway.hub_connection import HubConnection


def _names(enum: Any, prefix: str) -> list[str]:
    """The wire enum's member names without ``prefix``, UNSPECIFIED left out."""
    return [
        name.removeprefix(prefix) for name, _ in enum.items() if not name.endswith("UNSPECIFIED")
    ]


def _name(enum: Any, prefix: str, value: int) -> str:
    return str(enum.Name(value)).removeprefix(prefix) if value else "-"


_COLLECTION = ("COLLECTION_METHOD_", pb2.CollectionMethod)
_RELATION = ("GUARDIAN_RELATION_", pb2.GuardianRelation)
_HOUSEHOLD = ("HOUSEHOLD_COVERAGE_", pb2.HouseholdCoverage)
_FETCH = ("FETCH_TYPE_", pb2.FetchType)


def _choice(kind: tuple[str, Any]) -> click.Choice[str]:
    return click.Choice(_names(kind[1], kind[0]), case_sensitive=False)


def _wire(kind: tuple[str, Any], name: str | None) -> int:
    """The wire value of the choice ``name`` (0, UNSPECIFIED, for None)."""
    prefix, enum = kind
    return int(enum.Value(prefix + name.upper())) if name else 0


_Hub: TypeAlias = "ServiceCalls[consent_pb2_grpc.ConsentServiceAsyncStub]"


def _calls(connection: HubConnection, timeout: float) -> _Hub:
    return ServiceCalls(connection, timeout, consent_pb2_grpc.ConsentServiceStub)


_hub_options = hub_options(_calls, timeout_s=10.0)


_WHY = click.option("--why", default="", help="Why, for the history [default: what was done].")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")


@click.group()
def consent() -> None:
    """Grant, change, show, export and verify consents."""


@click.group()
def mandate() -> None:
    """Register, suspend, resume and show statutory mandates."""


@consent.command("grant")
@click.option("--subject", required=True, help="The subject's 10-digit national ID.")
@click.option("--program", required=True)
@click.option("--purpose", required=True, help="The purpose code, one of the program's.")
@click.option("--purpose-text", required=True, help="The purpose as the subject was told it.")
@click.option("--notice-version", required=True, help="The notice the subject was shown.")
@click.option("--collection-method", required=True, type=_choice(_COLLECTION))
@click.option("--guardian", default="", help="National ID of a guardian consenting.")
@click.option("--relation", type=_choice(_RELATION), default=None, help="The guardian's.")
@click.option("--consumer", default="", help="Organisation that may use it [default: yours].")
@click.option("--provider", "providers", multiple=True, help="An agency id (repeatable).")
@click.option("--category", "categories", multiple=True, help="An agency category.")
@click.option("--attribute", "attributes", multiple=True, help="agency.attribute to read.")
@click.option("--predicate", "predicates", multiple=True, help="agency.attribute to test.")
@click.option("--household", type=_choice(_HOUSEHOLD), default=None)
@click.option("--fetch-type", type=_choice(_FETCH), default=None)
@click.option("--max-uses", type=click.IntRange(min=1), default=None, help="Per --period-days.")
@click.option("--period-days", type=click.IntRange(min=1), default=None)
@click.option("--valid-from", type=UtcTime(), default=None, help="[default: now]")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Validity in days.")
@click.option("--data-life-days", type=click.IntRange(min=1), default=None)
@click.option("--requested", is_flag=True, help="Start REQUESTED: the subject has to agree.")
@click.option("--supersedes", default="", help="The consent this one replaces.")
@_WHY
@_hub_options
def grant(hub: _Hub, **options: Any) -> None:
    """Grant a consent; print its id. Unset options take the program template's values."""
    click.echo(hub.call(lambda stub: stub.Grant, _grant_request(**options)).id)


def _check_pairs(options: dict[str, Any]) -> None:
    if bool(options["guardian"]) != bool(options["relation"]):
        raise click.UsageError("--guardian and --relation go together")
    if (options["max_uses"] is None) != (options["period_days"] is None):
        raise click.UsageError("--max-uses and --period-days go together")


def _grant_request(**options: Any) -> pb2.GrantRequest:
    _check_pairs(options)
    request = pb2.GrantRequest(
        subject=options["subject"],
        consumer_organisation_id=options["consumer"],
        program_id=options["program"],
        purpose_code=options["purpose"],
        purpose_text=options["purpose_text"],
        provider_agencies=options["providers"],
        provider_categories=options["categories"],
        attributes=options["attributes"],
        predicates=options["predicates"],
        household=_wire(_HOUSEHOLD, options["household"]),  # type: ignore[arg-type]
        fetch_type=_wire(_FETCH, options["fetch_type"]),  # type: ignore[arg-type]
        valid_from=timestamp(options["valid_from"]),
        validity_days=options["days"] or 0,
        data_life_days=options["data_life_days"] or 0,
        notice_version=options["notice_version"],
        collection_method=_wire(_COLLECTION, options["collection_method"]),  # type: ignore[arg-type]
        initial_status=pb2.CONSENT_STATUS_REQUESTED if options["requested"] else 0,  # type: ignore[arg-type]
        supersedes=options["supersedes"],
        why=options["why"],
    )
    if options["guardian"]:
        request.grantor.CopyFrom(
            pb2.Grantor(
                national_id=options["guardian"],
                relation=_wire(_RELATION, options["relation"]),  # type: ignore[arg-type]
            )
        )
    if options["max_uses"] is not None:
        period = duration_pb2.Duration()
        period.FromTimedelta(dt.timedelta(days=options["period_days"]))
        request.frequency.CopyFrom(pb2.Frequency(max_uses=options["max_uses"], period=period))
    return request


def _consent_change(name: str, rpc: str, request_type: Any, doc: str) -> None:
    @consent.command(name, help=doc)
    @click.argument("consent_id")
    @_WHY
    @_hub_options
    def change(hub: _Hub, consent_id: str, why: str) -> None:
        request = request_type(consent_id=consent_id, why=why)
        changed = hub.call(lambda stub: getattr(stub, rpc), request)
        click.echo(f"{changed.id} {_name(pb2.ConsentStatus, 'CONSENT_STATUS_', changed.status)}")


_consent_change("revoke", "Revoke", pb2.RevokeRequest, "Revoke a consent, for good.")
_consent_change("pause", "Pause", pb2.PauseRequest, "Pause an ACTIVE consent.")
_consent_change("resume", "Resume", pb2.ResumeRequest, "Resume a PAUSED consent.")
_consent_change("activate", "Activate", pb2.ActivateRequest, "The subject agreed: ACTIVE.")
_consent_change("refuse", "Refuse", pb2.RefuseRequest, "The subject declined: REFUSED.")


@consent.command("show")
@click.argument("consent_id")
@_JSON
@_hub_options
def consent_show(hub: _Hub, consent_id: str, as_json: bool) -> None:
    """One consent: its artefact, status, uses and history."""
    found = hub.call(lambda stub: stub.Get, pb2.GetConsentRequest(consent_id=consent_id))
    if as_json:
        click.echo(render.as_json(found))
        return
    console = Console()
    console.print(_consent_table(found))
    console.print(_history_table(found.history, "CONSENT_STATUS_", pb2.ConsentStatus))


@consent.command("list")
@click.option("--subject", required=True, help="The subject's 10-digit national ID.")
@_JSON
@_hub_options
def consent_list(hub: _Hub, subject: str, as_json: bool) -> None:
    """Every consent of one subject, oldest first."""
    listed = hub.call(lambda stub: stub.ListForSubject, pb2.ListForSubjectRequest(subject=subject))
    if as_json:
        click.echo(render.as_json(listed))
        return
    table = Table(show_edge=False)
    for column in ("id", "status", "consumer", "program", "purpose", "valid until", "uses"):
        table.add_column(column, no_wrap=column in {"id", "status"})
    for item in listed.consents:
        table.add_row(
            item.id,
            _name(pb2.ConsentStatus, "CONSENT_STATUS_", item.status),
            item.artefact.consumer.organisation_id,
            item.artefact.consumer.program_id,
            item.artefact.purpose_code,
            _time(item.artefact.valid_until),
            str(item.use_count),
        )
    Console().print(table)


@consent.command("export")
@click.argument("consent_id")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path))
@_hub_options
def consent_export(hub: _Hub, consent_id: str, out_path: Path | None) -> None:
    """Write a consent's compact JWS (to stdout, or --out FILE) for offline verification."""
    found = hub.call(lambda stub: stub.Get, pb2.GetConsentRequest(consent_id=consent_id))
    _write(found.jws, out_path)


@consent.command("jwks")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path))
@_hub_options
def consent_jwks(hub: _Hub, out_path: Path | None) -> None:
    """Write the hub's consent JWK Set (to stdout, or --out FILE)."""
    keys = hub.call(lambda stub: stub.GetKeys, pb2.GetKeysRequest())
    _write(keys.jwks_json, out_path)


def _write(text: str, out_path: Path | None) -> None:
    if out_path is None:
        click.echo(text)
    else:
        out_path.write_text(text, encoding="utf-8")


@consent.command("verify")
@click.argument("jws_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--jwks",
    "jwks_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The JWK Set (from `sakha consent jwks`).",
)
@_JSON
def consent_verify(jws_file: Path, jwks_file: Path, as_json: bool) -> None:
    """Verify an exported consent offline (no hub) and print what it says."""
    from consent import ConsentError, JwksVerifier, SignatureError  # noqa: PLC0415
    from gateway.consent_codec import artefact_message  # noqa: PLC0415

    try:
        verifier = JwksVerifier.from_json(jwks_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.ClickException(f"{jwks_file}: not a JWK Set: {one_line(exc)}") from exc
    try:
        artefact = verifier.verify_artefact(jws_file.read_text(encoding="utf-8").strip())
    except SignatureError as exc:
        raise click.ClickException(f"{jws_file}: {exc.defect}: {one_line(exc)}") from exc
    except ConsentError as exc:
        raise click.ClickException(f"{jws_file}: INVALID_ARTEFACT: {one_line(exc)}") from exc
    message = artefact_message(artefact)
    if as_json:
        click.echo(render.as_json(message))
        return
    console = Console()
    console.print(f"signature verified (key {', '.join(sorted(verifier.kids))})")
    console.print(_artefact_table(message))


@mandate.command("register")
@click.option(
    "--id",
    "mandate_id",
    default="",
    help="The id programs cite (legal_basis: {kind: mandate, mandate: ID}) [default: new].",
)
@click.option("--legal-reference", required=True, help="The law, decree or order, as cited.")
@click.option("--issuing-authority", required=True)
@click.option("--program", "programs", multiple=True, required=True, help="Repeatable.")
@click.option("--purpose", "purposes", multiple=True, required=True, help="Repeatable.")
@click.option("--valid-from", type=UtcTime(), default=None, help="[default: now]")
@click.option("--valid-until", type=UtcTime(), default=None, help="[default: open-ended]")
@_WHY
@_hub_options
def mandate_register(hub: _Hub, **options: Any) -> None:
    """Register a mandate; print its id."""
    request = pb2.RegisterMandateRequest(
        mandate_id=options["mandate_id"],
        legal_reference=options["legal_reference"],
        issuing_authority=options["issuing_authority"],
        programs=options["programs"],
        purposes=options["purposes"],
        valid_from=timestamp(options["valid_from"]),
        valid_until=timestamp(options["valid_until"]),
        why=options["why"],
    )
    click.echo(hub.call(lambda stub: stub.RegisterMandate, request).id)


def _mandate_change(name: str, rpc: str, request_type: Any, doc: str) -> None:
    @mandate.command(name, help=doc)
    @click.argument("mandate_id")
    @_WHY
    @_hub_options
    def change(hub: _Hub, mandate_id: str, why: str) -> None:
        request = request_type(mandate_id=mandate_id, why=why)
        changed = hub.call(lambda stub: getattr(stub, rpc), request)
        click.echo(f"{changed.id} {_name(pb2.MandateStatus, 'MANDATE_STATUS_', changed.status)}")


_mandate_change("suspend", "SuspendMandate", pb2.SuspendMandateRequest, "Suspend a mandate.")
_mandate_change("resume", "ResumeMandate", pb2.ResumeMandateRequest, "Resume a mandate.")


@mandate.command("show")
@click.argument("mandate_id")
@_JSON
@_hub_options
def mandate_show(hub: _Hub, mandate_id: str, as_json: bool) -> None:
    """One mandate, its status and history."""
    found = hub.call(lambda stub: stub.GetMandate, pb2.GetMandateRequest(mandate_id=mandate_id))
    if as_json:
        click.echo(render.as_json(found))
        return
    console = Console()
    console.print(_mandate_table(found))
    console.print(_history_table(found.history, "MANDATE_STATUS_", pb2.MandateStatus))


@mandate.command("list")
@_JSON
@_hub_options
def mandate_list(hub: _Hub, as_json: bool) -> None:
    """Every registered mandate, oldest first."""
    listed = hub.call(lambda stub: stub.ListMandates, pb2.ListMandatesRequest())
    if as_json:
        click.echo(render.as_json(listed))
        return
    table = Table(show_edge=False)
    for column in ("id", "status", "programs", "purposes", "legal reference"):
        table.add_column(column, no_wrap=column in {"id", "status"})
    for item in listed.mandates:
        table.add_row(
            item.id,
            _name(pb2.MandateStatus, "MANDATE_STATUS_", item.status),
            ", ".join(item.programs),
            ", ".join(item.purposes),
            item.legal_reference,
        )
    Console().print(table)


def _time(stamp: timestamp_pb2.Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=dt.UTC).isoformat() if stamp.ByteSize() else "-"


def _fields(rows: Iterable[tuple[str, str]]) -> Table:
    table = Table(show_header=False, show_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    return table


def _artefact_rows(artefact: pb2.ConsentArtefact) -> list[tuple[str, str]]:
    grantor = artefact.grantor
    frequency = artefact.frequency
    return [
        ("subject", artefact.subject),
        (
            "grantor",
            grantor.national_id
            + (
                f" ({_name(pb2.GuardianRelation, _RELATION[0], grantor.relation)})"
                if grantor.relation
                else ""
            ),
        ),
        ("consumer", f"{artefact.consumer.organisation_id} / {artefact.consumer.program_id}"),
        ("purpose", f"{artefact.purpose_code}: {artefact.purpose_text}"),
        ("providers", ", ".join([*artefact.provider_agencies, *artefact.provider_categories])),
        ("attributes", ", ".join(artefact.attributes) or "-"),
        ("predicates", ", ".join(artefact.predicates) or "-"),
        ("household", _name(pb2.HouseholdCoverage, _HOUSEHOLD[0], artefact.household)),
        (
            "fetch",
            _name(pb2.FetchType, _FETCH[0], artefact.fetch_type)
            + (
                f", at most {frequency.max_uses} per {_duration(frequency.period.ToTimedelta())}"
                if artefact.HasField("frequency")
                else ""
            ),
        ),
        ("valid", f"{_time(artefact.valid_from)} to {_time(artefact.valid_until)}"),
        ("data life", _duration(artefact.data_life.ToTimedelta())),
        ("notice", artefact.notice_version),
        ("collected", _name(pb2.CollectionMethod, _COLLECTION[0], artefact.collection_method)),
        ("created", _time(artefact.created_at)),
        ("supersedes", artefact.supersedes or "-"),
    ]


def _artefact_table(artefact: pb2.ConsentArtefact) -> Table:
    return _fields([("id", artefact.id), *_artefact_rows(artefact)])


def _consent_table(found: pb2.Consent) -> Table:
    return _fields(
        [
            ("id", found.id),
            ("status", _name(pb2.ConsentStatus, "CONSENT_STATUS_", found.status)),
            ("uses", f"{found.use_count} (last {_time(found.last_used_at)})"),
            *_artefact_rows(found.artefact),
        ]
    )


def _mandate_table(found: pb2.Mandate) -> Table:
    return _fields(
        [
            ("id", found.id),
            ("status", _name(pb2.MandateStatus, "MANDATE_STATUS_", found.status)),
            ("legal reference", found.legal_reference),
            ("issued by", found.issuing_authority),
            ("programs", ", ".join(found.programs)),
            ("purposes", ", ".join(found.purposes)),
            ("valid", f"{_time(found.valid_from)} to {_time(found.valid_until)}"),
            ("registered", _time(found.created_at)),
        ]
    )


def _history_table(events: Iterable[Any], prefix: str, enum: Any) -> Table:
    table = Table(title="history", show_edge=False)
    for column in ("at", "actor", "change", "why"):
        table.add_column(column)
    for event in events:
        change = (
            f"{_name(enum, prefix, event.from_status)} → {_name(enum, prefix, event.to_status)}"
        )
        table.add_row(_time(event.at), event.actor, change, event.why)
    return table


def _duration(span: dt.timedelta) -> str:
    """``30 days`` for whole days (what templates and forms use), else the timedelta."""
    if span.seconds == 0 and span.microseconds == 0:
        return f"{span.days} day" + ("" if span.days == 1 else "s")
    return str(span)
