"""The demo's security material: a development PKI, client keys and their registry.

Everything is generated on the first run into the demo's data folder and reused after; the
folder holds private keys, so it is created readable by its owner only and never committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.pki.material import PkiLayout
from gateway.auth.registry import (
    ClientKey,
    Organisation,
    PublicKey,
    RateLimit,
    Role,
    dump_client_registry,
)
from gateway.auth.tokens import generate_client_key, load_private_key, private_key_pem
from gateway.client_profile import ClientProfile
from gateway.config import HubConfig
from gateway.pki.ca import init_pki
from gateway.programs.loader import ProgramRegistry

DEMO_ORGANISATION = "demo_relief"
"""The demo's client organisation: may run every program for every allowed purpose, and
records its applicants' consents (``consent_manager``)."""

DEMO_AUDITOR = "demo_auditor"
"""A second organisation with the auditor role and no programs (for trying denials)."""

# Generous enough that check-batch over the whole demo caseload never waits.
DEMO_RATE_LIMIT = RateLimit(per_second=100_000.0, burst=100_000)


@dataclass(frozen=True)
class DemoSecurity:
    """Paths of the demo's security material."""

    pki: PkiLayout
    clients_file: Path
    key_files: dict[str, Path]

    def kid(self, organisation: str) -> str:
        """The key id of ``organisation``'s demo key."""
        return f"{organisation}-1"

    def profile(self, server: str, organisation: str = DEMO_ORGANISATION) -> ClientProfile:
        """A client profile for ``organisation`` calling the hub at ``server``."""
        return ClientProfile(
            server=server,
            ca_file=self.pki.ca_cert,
            organisation=organisation,
            kid=self.kid(organisation),
            key_file=self.key_files[organisation],
            operator="demo-operator",
        )


def secure_hub_config(pki: PkiLayout, clients_file: Path, **fields: Any) -> HubConfig:
    """A secure hub config whose keys and certificates come from a development PKI layout.

    ``fields`` are any other :class:`HubConfig` fields (``listen``, ``agencies``, limits,
    ``db_url`` — needed unless ``security`` switches the consent and audit layers off).
    """
    return HubConfig(
        consent_key_file=pki.consent_key,
        audit_key_file=pki.audit_key,
        checkpoint_key_file=pki.checkpoint_key,
        tls_cert_file=pki.hub_cert,
        tls_key_file=pki.hub_key,
        clients_file=clients_file,
        agency_ca_file=pki.ca_cert,
        agency_client_cert_file=pki.hub_client_cert,
        agency_client_key_file=pki.hub_client_key,
        fetch_token_key_file=pki.fetch_token_key,
        **fields,
    )


def prepare_demo_security(
    data_dir: Path, agencies: Iterable[str], programs: ProgramRegistry
) -> DemoSecurity:
    """Create (or reuse) the PKI, the client keys and the client registry under data_dir."""
    folder = data_dir / "security"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout = init_pki(folder / "pki", agencies=agencies)
    keys = {
        org: _client_key(folder / "clients" / f"{org}.key")
        for org in (DEMO_ORGANISATION, DEMO_AUDITOR)
    }
    checker_programs = {p.id: frozenset(p.purposes) for p in programs.all()}
    organisations = [
        Organisation(
            id=DEMO_ORGANISATION,
            name="Demo relief agency",
            name_fa="نهاد امدادی نمونه",
            roles=frozenset({Role.CHECKER, Role.CONSENT_MANAGER}),
            keys=(ClientKey.from_public_key(f"{DEMO_ORGANISATION}-1", keys[DEMO_ORGANISATION]),),
            programs=checker_programs,
            rate_limit=DEMO_RATE_LIMIT,
        ),
        Organisation(
            id=DEMO_AUDITOR,
            name="Demo audit office",
            name_fa="دفتر حسابرسی نمونه",
            roles=frozenset({Role.AUDITOR}),
            keys=(ClientKey.from_public_key(f"{DEMO_AUDITOR}-1", keys[DEMO_AUDITOR]),),
        ),
    ]
    clients_file = folder / "clients.yaml"
    clients_file.write_text(dump_client_registry(organisations), encoding="utf-8")
    return DemoSecurity(
        layout,
        clients_file,
        {org: folder / "clients" / f"{org}.key" for org in keys},
    )


def _client_key(path: Path) -> PublicKey:
    """The public key of the key pair at ``path``, generating the pair on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_key, _ = generate_client_key("ed25519")
        path.write_bytes(private_key_pem(private_key))
        path.chmod(0o600)
    return load_private_key(path).public_key()
