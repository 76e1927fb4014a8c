"""``sakha demo``: the population, the 30 simulated agencies (in a child process) and the hub."""

from __future__ import annotations

import asyncio
import csv
import os
import shlex
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from adapters.simulated.build import PopulationSummary, ensure_population
from adapters.simulated.catalogue import agency_config_paths
from adapters.simulated.process import AgencyProcess
from adapters.simulated.samples import SampleSubjects
from gateway.client_profile import default_profile_path, save_profile
from gateway.config import AgencyEndpoint, HubConfig
from gateway.demo_consent import DemoConsent, fresh_demo_databases, seed_demo
from gateway.demo_security import (
    DEMO_AUDITOR,
    DEMO_ORGANISATION,
    DemoSecurity,
    prepare_demo_security,
    secure_hub_config,
)
from gateway.hub import Hub, start_hub
from gateway.programs.loader import load_programs
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR


def default_data_dir() -> Path:
    """Where the demo keeps its population: $XDG_DATA_HOME/sakha/demo (or ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sakha" / "demo"


def sakha_command() -> str:
    """An absolute command that runs this same ``sakha`` from any directory."""
    beside = Path(sys.executable).parent / "sakha"
    if beside.exists():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m gateway.cli"


@dataclass(frozen=True)
class DemoOptions:
    """What ``sakha demo`` was asked for."""

    port: int
    data_dir: Path
    households: int
    seed: int
    insecure: bool = False
    profile_path: Path | None = None


async def run_demo(options: DemoOptions, console: Console) -> None:
    """Start everything, print how to use it, and run until SIGINT or SIGTERM."""
    started = time.perf_counter()
    console.print(f"population in {options.data_dir} ({options.households} households)…")
    summary = await asyncio.to_thread(
        ensure_population, options.data_dir, households=options.households, seed=options.seed
    )
    security = None
    if options.insecure:
        console.print(
            "[bold red]INSECURE DEMO: no TLS, no tokens, no mutual TLS to agencies. "
            "Local debugging only.[/]"
        )
    else:
        security = await asyncio.to_thread(
            prepare_demo_security,
            options.data_dir,
            [p.stem for p in agency_config_paths()],
            load_programs(BUILTIN_PROGRAMS_DIR),
        )
    databases = None if security is None else fresh_demo_databases(options.data_dir)
    agencies = await AgencyProcess.start(options.data_dir, security.pki if security else None)
    try:
        config = _hub_config(options, agencies.targets, security, databases)
        hub = await start_hub(config)
    except BaseException:
        await agencies.stop()
        raise
    consents: list[DemoConsent] = []
    try:
        if security is not None:
            profile_path = options.profile_path or default_profile_path()
            server = f"127.0.0.1:{hub.port}"
            save_profile(security.profile(server), profile_path)
            save_profile(security.profile(server, DEMO_AUDITOR), auditor_profile(profile_path))
        if hub.consent is not None:
            consents = await asyncio.to_thread(
                seed_demo,
                hub.consent.store,
                hub.consent.signer,
                hub.registry,
                template_for=hub.pipeline.consent_template,
                samples=summary.samples,
                organisation_id=DEMO_ORGANISATION,
            )
    except BaseException:
        await hub.stop(0)
        await agencies.stop()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        elapsed = time.perf_counter() - started
        profile = None if security is None else options.profile_path or default_profile_path()
        _print_welcome(
            console,
            hub,
            summary,
            agencies=len(agencies.targets),
            elapsed=elapsed,
            profile=profile,
            consents=consents,
        )
        if profile is not None and databases is not None and hub.audit is not None:
            _print_auditor_examples(
                console,
                options.data_dir,
                profile=auditor_profile(profile),
                audit_db_url=databases[1],
                vkey=hub.audit.verifier_key,
                subject=consents[0].subject if consents else summary.samples.poor_head,
            )
        await stop.wait()
        console.print("stopping…")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await hub.stop(2.0)
        await agencies.stop()
    console.print("stopped: hub and agencies are down")


def _hub_config(
    options: DemoOptions,
    targets: list[tuple[str, str]],
    security: DemoSecurity | None,
    databases: tuple[str, str] | None,
) -> HubConfig:
    endpoints = tuple(AgencyEndpoint(a, t) for a, t in targets)
    listen = f"127.0.0.1:{options.port}"
    if security is None or databases is None:
        return HubConfig(listen=listen, agencies=endpoints, insecure=True)
    db_url, audit_db_url = databases
    return secure_hub_config(
        security.pki,
        security.clients_file,
        listen=listen,
        agencies=endpoints,
        db_url=db_url,
        audit_db_url=audit_db_url,
    )


def auditor_profile(profile: Path) -> Path:
    """Where the demo keeps the auditor organisation's profile: beside the relief agency's."""
    return profile.with_name("auditor-profile.yaml")


def _print_auditor_examples(
    console: Console,
    data_dir: Path,
    *,
    profile: Path,
    audit_db_url: str,
    vkey: str,
    subject: str | None,
) -> None:
    sakha = sakha_command()
    bundle, kept = data_dir / "audit-bundle", data_dir / "trusted-checkpoint.txt"
    shutil.rmtree(bundle, ignore_errors=True)  # the previous run's log is gone with its bundle
    kept.unlink(missing_ok=True)
    as_auditor = f"--profile {shlex.quote(str(profile))}"
    console.print(
        f"auditors ({DEMO_AUDITOR}), once some checks have run — every lookup above, allowed "
        "or refused, is one entry of the signed audit log:"
    )
    console.print("  # audit: keep the latest signed checkpoint, to hold later copies to it")
    console.print(
        f"  {sakha} audit checkpoint {as_auditor} --out {shlex.quote(str(kept))}", soft_wrap=True
    )
    if subject is not None:
        console.print("  # audit: who looked at this person's data, when, why (--lang fa too)")
        console.print(f"  {sakha} audit report {as_auditor} --subject {subject}", soft_wrap=True)
    console.print("  # audit: export the log from its database and verify it with no secret")
    console.print(
        f"  {sakha} audit export --db {shlex.quote(audit_db_url)} --out {shlex.quote(str(bundle))}",
        soft_wrap=True,
    )
    console.print(
        f"  {sakha} audit verify --bundle {shlex.quote(str(bundle))} --vkey {shlex.quote(vkey)} "
        f"--trusted-checkpoint {shlex.quote(str(kept))}\n",
        soft_wrap=True,
    )


def write_sample_caseload(summary: PopulationSummary, path: Path) -> int:
    """Write every household head's national ID to ``path`` (CSV) for ``check-batch``."""
    database = summary.data_dir / "civil_registry.sqlite"
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT national_id FROM persons WHERE head_of_household = 1 ORDER BY household_id"
        ).fetchall()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["national_id"])
        writer.writerows(rows)
    return len(rows)


def _print_welcome(
    console: Console,
    hub: Hub,
    summary: PopulationSummary,
    *,
    agencies: int,
    elapsed: float,
    profile: Path | None,
    consents: list[DemoConsent],
) -> None:
    sakha = sakha_command()
    server = f"127.0.0.1:{hub.port}"
    # Without a profile (insecure demo) the CLI must be told to speak plaintext.
    plain = " --insecure" if profile is None else ""
    caseload = summary.data_dir / "caseload.csv"
    heads = write_sample_caseload(summary, caseload)
    console.print(
        f"\n[bold green]Sakha demo hub listening on {server}[/] — {agencies} agencies, "
        f"started in {elapsed:.1f} s. Ctrl-C stops everything.\n"
    )
    if profile is not None:
        console.print(
            "TLS to clients, mutual TLS to every agency, signed client tokens, fetch tokens "
            f"and consent are on. Client profile (key, CA, server) for the CLI: {profile}"
        )
    console.print(f"population: {summary.persons} persons in {summary.households} households")
    console.print("sample national IDs:")
    for label, national_id in dict(summary.samples).items():
        console.print(f"  {national_id}  {label}")

    def check(program_id: str, subject: str, extra: str = "") -> str:
        purpose = hub.registry.get(program_id).purposes[0]
        return (
            f"{sakha} check --server {server}{plain} --program {program_id} "
            f"--purpose {purpose} --subject {subject}{extra}"
        )

    s = summary.samples
    console.print("\ntry, from any terminal:")
    console.print(f"  {sakha} programs list")
    if not consents:  # the insecure demo: no consent layer
        for program_id, subject, extra in [
            ("livelihood_basket", s.poor_head, ""),
            ("livelihood_basket", s.well_off, " --lang fa"),
            ("disability_care_grant", s.severe_disability, ""),
            ("aid_overlap_check", s.overlap_head, " --json"),
            ("livelihood_basket", s.unknown, ""),
        ]:
            if subject is not None:
                console.print(f"  {check(program_id, subject, extra)}")
    else:
        _print_consent_examples(console, sakha, server, consents=consents, check=check, samples=s)
    console.print("  # allowed: a whole caseload, under the epidemic relief program's mandate")
    console.print(
        f"  {sakha} check-batch --server {server}{plain} --program epidemic_cash_relief "
        f"--purpose caseload_review --in {shlex.quote(str(caseload))} "
        f"--out sakha-results.csv   # {heads} household heads, under the program's mandate\n",
        soft_wrap=True,
    )


def _print_consent_examples(
    console: Console,
    sakha: str,
    server: str,
    *,
    consents: list[DemoConsent],
    check: Callable[..., str],
    samples: SampleSubjects,
) -> None:
    console.print("  # allowed: the subject consented (the check names the consent it used)")
    for seeded in consents:
        console.print(f"  {check(seeded.program_id, seeded.subject)}")
    console.print("  # allowed without consent: the program rests on a registered mandate")
    if samples.overlap_head is not None:
        console.print(f"  {check('aid_overlap_check', samples.overlap_head, ' --json')}")
    console.print(f"  {check('epidemic_cash_relief', samples.unknown)}")
    console.print("  # refused (PERMISSION_DENIED, NO_CONSENT): this subject gave no consent")
    if samples.overlap_head is not None:
        console.print(f"  {check('livelihood_basket', samples.overlap_head)}")
    first = consents[0]
    console.print("  # revoke a consent, and the same check is refused (REVOKED) at once")
    console.print(f"  {sakha} consent show --server {server} {first.consent_id}")
    console.print(
        f"  {sakha} consent revoke --server {server} {first.consent_id} "
        '--why "the applicant withdrew"'
    )
    console.print(f"  {check(first.program_id, first.subject)}")
