"""The demo's legal bases: the mandates its mandate programs cite, and consents of samples.

The demo starts every run on a fresh consent store (``consent.sqlite`` in its folder), so
the printed examples behave the same each time: a revoke in one run does not carry over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.simulated.samples import SampleSubjects
from audit.migrations import AUDIT_MIGRATIONS
from consent import (
    CollectionMethod,
    ConsentArtefact,
    ConsentSigner,
    ConsentTemplate,
    Grantor,
    Mandate,
    widest_artefact,
)
from consent.migrations import CONSENT_MIGRATIONS
from consent.store import ConsentStore, sqlite_url_text
from gateway.programs.loader import ProgramRegistry
from gateway.programs.model import LegalBasisKind

DEMO_ACTOR = "demo/seed"
"""Who the seeded history events name."""

DEMO_MANDATES: Mapping[str, tuple[str, str]] = {
    "support-coordination-1383": (
        "Law on the Structure of the Comprehensive Welfare and Social Security System (1383), "
        "coordination of support services among support bodies (demo citation)",
        "Islamic Consultative Assembly (demo)",
    ),
    "epidemic-relief-decree-1399": (
        "Cabinet emergency decree on livelihood support for households affected by the "
        "epidemic, cash-relief provisions (demo citation)",
        "Council of Ministers (demo)",
    ),
}
"""The mandates the built-in mandate programs cite: legal reference and issuing authority."""


def fresh_demo_databases(data_dir: Path) -> tuple[str, str]:
    """New consent and audit databases in ``data_dir``, migrated (the previous run's are
    removed): two files, so that the audit log's holds no national ID."""
    urls = []
    for name, migrations in (("consent", CONSENT_MIGRATIONS), ("audit", AUDIT_MIGRATIONS)):
        path = data_dir / f"{name}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        url = sqlite_url_text(str(path))
        migrations.upgrade(url)
        urls.append(url)
    return urls[0], urls[1]


@dataclass(frozen=True)
class DemoConsent:
    """A seeded consent: which program and subject it covers."""

    consent_id: str
    program_id: str
    subject: str


def seed_demo(
    store: ConsentStore,
    signer: ConsentSigner,
    programs: ProgramRegistry,
    *,
    template_for: Callable[[str], ConsentTemplate],
    samples: SampleSubjects,
    organisation_id: str,
    now: dt.datetime | None = None,
) -> list[DemoConsent]:
    """Register every mandate a program cites, and give consents for some sample subjects.

    Consents (periodic, the program's widest) go to ``organisation_id`` for: the poor and
    the well-off household heads (livelihood basket), the person with a severe disability
    (disability care grant) and the rural head (rural housing support). Every other sample
    has given none, so a consent program's check about them is refused.
    """
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    for program in programs.all():
        basis = program.legal_basis
        if basis.kind is not LegalBasisKind.MANDATE:
            continue
        reference, authority = DEMO_MANDATES[basis.mandate_id]
        covered = [p for p in programs.all() if p.legal_basis.mandate_id == basis.mandate_id]
        mandate = Mandate(
            id=basis.mandate_id,
            legal_reference=reference,
            issuing_authority=authority,
            programs=frozenset(p.id for p in covered),
            purposes=frozenset(purpose for p in covered for purpose in p.purposes),
            valid_from=now - dt.timedelta(days=365),
            valid_until=None,
            created_at=now,
        )
        if basis.mandate_id not in store.get_mandates([basis.mandate_id]):
            store.register_mandate(signer.sign_mandate(mandate), actor=DEMO_ACTOR, now=now)
    wanted = [
        ("livelihood_basket", samples.poor_head),
        ("livelihood_basket", samples.well_off),
        ("disability_care_grant", samples.severe_disability),
        ("rural_housing_support", samples.rural_head),
    ]
    seeded = []
    for number, (program_id, subject) in enumerate(wanted, start=1):
        if subject is None:
            continue
        consent_id = grant_widest(
            store,
            signer,
            template_for(program_id),
            consent_id=f"demo-consent-{number}",  # never the national ID: ids reach the log
            subject=subject,
            organisation_id=organisation_id,
            purpose=programs.get(program_id).purposes[0],
            now=now,
        )
        seeded.append(DemoConsent(consent_id, program_id, subject))
    return seeded


def widest_consent(
    template: ConsentTemplate,
    *,
    consent_id: str,
    subject: str,
    organisation_id: str,
    purpose: str,
    now: dt.datetime,
    **changes: Any,
) -> ConsentArtefact:
    """The subject's own consent, in person, to everything ``template`` allows (with any
    artefact field replaced by ``changes``); valid from a minute before ``now``."""
    artefact = widest_artefact(
        template,
        id=consent_id,
        subject=subject,
        grantor=Grantor(subject),
        organisation_id=organisation_id,
        purpose_code=purpose,
        purpose_text=f"Decide eligibility for {template.program_id} ({purpose})",
        notice_version="demo-notice-1",
        collection_method=CollectionMethod.IN_PERSON,
        valid_from=now - dt.timedelta(minutes=1),
        created_at=now,
    )
    return dataclasses.replace(artefact, **changes)


def grant_widest(
    store: ConsentStore, signer: ConsentSigner, template: ConsentTemplate, **consent: Any
) -> str:
    """Grant :func:`widest_consent` (its keyword arguments in ``consent``), signed by
    ``signer``; its id."""
    artefact = widest_consent(template, **consent)
    store.grant(signer.sign_artefact(artefact), template, actor=DEMO_ACTOR, now=consent["now"])
    return artefact.id
