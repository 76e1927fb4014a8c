"""Certificates and keys as both ends of hub-to-agency TLS read them: names, files, checks.

This is the part of the development PKI an agency's adapter needs (the SDK must not import
the hub): the identities (:data:`HUB_SPIFFE_ID`, :func:`agency_spiffe_id`,
:func:`agency_dns_name`), the layout on disk (:class:`PkiLayout`), and loading and verifying
a key and certificate before serving them. Issuing certificates is the hub's
(:mod:`gateway.pki.ca`).

Identities are SPIFFE-style URI SANs. An agency's certificate also carries a DNS SAN,
:func:`agency_dns_name`, that the hub verifies as the TLS host name, so a certificate for
agency B fails the handshake at agency A's address. Agency ids are ``[a-z][a-z0-9_]*`` (not
ending in ``_``); underscores are not allowed in DNS names (RFC 5280 4.2.1.6 asks for the
preferred name syntax), so the DNS name spells them ``-`` (``bank_melli`` ->
``bank-melli.agency.sakha``), one-to-one.

The layout on disk (see :class:`PkiLayout`)::

    ca.pem  ca.key                      the development CA
    hub.pem  hub.key                    the hub's TLS server certificate (for clients)
    hub-client.pem  hub-client.key      the hub's client certificate (for agencies)
    agencies/<agency_id>.pem  .key      each agency's server certificate
    fetch-token.key                     the hub's fetch-token signing key (Ed25519)
    fetch-token-keys.json               its public JWK Set, for every agency
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

TRUST_DOMAIN = "sakha"
"""The SPIFFE trust domain of every identity this PKI issues."""

HUB_SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/hub"
"""The hub's identity: the only URI SAN of its client certificate."""

AGENCY_DNS_SUFFIX = "agency.sakha"
"""Parent domain of every agency's DNS SAN; never allowed among the hub's host names."""

_AGENCY_ID = re.compile(r"[a-z](?:[a-z0-9_]{0,61}[a-z0-9])?")


class PkiError(Exception):
    """Root of every error of the PKI and TLS layer."""


class InvalidNameError(PkiError, ValueError):
    """An agency id or host name cannot be put in a certificate."""


class UnusableMaterialError(PkiError):
    """A key or certificate is missing, malformed, mismatched, expired or names someone else."""


class Usage(enum.Enum):
    """What a leaf certificate is for: its one extended key usage."""

    SERVER = "server"
    CLIENT = "client"

    @property
    def oid(self) -> x509.ObjectIdentifier:
        """The extended key usage OID (serverAuth or clientAuth)."""
        if self is Usage.SERVER:
            return ExtendedKeyUsageOID.SERVER_AUTH
        return ExtendedKeyUsageOID.CLIENT_AUTH


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LeafProfile:
    """Who a leaf certificate names and what it may be used for."""

    common_name: str
    usage: Usage
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    uris: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse a profile without any subject alternative name (identities live there)."""
        if not (self.dns_names or self.ip_addresses or self.uris):
            raise InvalidNameError(f"{self.common_name}: a certificate needs at least one SAN")

    def general_names(self) -> list[x509.GeneralName]:
        """The SAN entries, DNS names first, then IP addresses, then URIs."""
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in self.dns_names]
        names += [x509.IPAddress(a) for a in self.ip_addresses]
        names += [x509.UniformResourceIdentifier(u) for u in self.uris]
        return names


@dataclass(frozen=True)
class TlsFiles:
    """The files one TLS endpoint needs: the CA to trust, its certificate and its key."""

    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class PkiLayout:
    """Where every file of a development PKI lives under ``folder``."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate: what every party trusts."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA's private key: needed only to issue certificates."""
        return self.folder / "ca.key"

    @property
    def hub_cert(self) -> Path:
        """The hub's server certificate, presented to clients."""
        return self.folder / "hub.pem"

    @property
    def hub_key(self) -> Path:
        """The private key of :attr:`hub_cert`."""
        return self.folder / "hub.key"

    @property
    def hub_client_cert(self) -> Path:
        """The hub's client certificate, presented to agencies."""
        return self.folder / "hub-client.pem"

    @property
    def hub_client_key(self) -> Path:
        """The private key of :attr:`hub_client_cert`."""
        return self.folder / "hub-client.key"

    @property
    def fetch_token_key(self) -> Path:
        """The hub's fetch-token signing key (Ed25519, PKCS#8 PEM): the hub only."""
        return self.folder / "fetch-token.key"

    @property
    def fetch_token_jwks(self) -> Path:
        """The public JWK Set of :attr:`fetch_token_key`, which every agency verifies with."""
        return self.folder / "fetch-token-keys.json"

    @property
    def consent_key(self) -> Path:
        """The hub's consent signing key (Ed25519, PKCS#8 PEM): signs artefacts and mandates."""
        return self.folder / "consent.key"

    @property
    def checkpoint_key(self) -> Path:
        """The audit log's checkpoint signing key (Ed25519, PKCS#8 PEM)."""
        return self.folder / "checkpoint.key"

    @property
    def audit_key(self) -> Path:
        """The audit authority's pseudonym key (base64 text of 32 random bytes)."""
        return self.folder / "audit-pseudonym.key"

    @property
    def consent_jwks(self) -> Path:
        """The public JWK Set of :attr:`consent_key`: anyone verifies exported artefacts with it."""
        return self.folder / "consent-keys.json"

    @property
    def agencies_dir(self) -> Path:
        """The folder of the agencies' certificates and keys."""
        return self.folder / "agencies"

    def agency_cert(self, agency_id: str) -> Path:
        """Agency ``agency_id``'s server certificate."""
        return self.agencies_dir / f"{check_agency_id(agency_id)}.pem"

    def agency_key(self, agency_id: str) -> Path:
        """The private key of :meth:`agency_cert`."""
        return self.agencies_dir / f"{check_agency_id(agency_id)}.key"

    def agency_ids(self) -> tuple[str, ...]:
        """The agencies that have a certificate here, sorted."""
        if not self.agencies_dir.is_dir():
            return ()
        stems = (p.stem for p in self.agencies_dir.glob("*.pem"))
        return tuple(sorted(s for s in stems if _AGENCY_ID.fullmatch(s)))

    def hub_server_files(self) -> TlsFiles:
        """What the hub's client-facing TLS server needs."""
        return TlsFiles(self.ca_cert, self.hub_cert, self.hub_key)

    def hub_client_files(self) -> TlsFiles:
        """What the hub needs to call agencies."""
        return TlsFiles(self.ca_cert, self.hub_client_cert, self.hub_client_key)

    def agency_files(self, agency_id: str) -> TlsFiles:
        """What agency ``agency_id``'s adapter server needs."""
        return TlsFiles(self.ca_cert, self.agency_cert(agency_id), self.agency_key(agency_id))


def check_agency_id(agency_id: str) -> str:
    """Return ``agency_id`` if it can name a certificate and a file, else raise.

    Raises:
        InvalidNameError: not ``[a-z][a-z0-9_]*`` of at most 63 characters, ending in a
            letter or digit (so that it also makes a DNS label).
    """
    if not _AGENCY_ID.fullmatch(agency_id):
        raise InvalidNameError(
            f"agency id {agency_id!r} must be 1-63 of [a-z0-9_], start with a letter "
            "and not end with _"
        )
    return agency_id


def agency_spiffe_id(agency_id: str) -> str:
    """The URI SAN naming agency ``agency_id``."""
    return f"spiffe://{TRUST_DOMAIN}/agency/{check_agency_id(agency_id)}"


def agency_dns_name(agency_id: str) -> str:
    """The DNS SAN the hub verifies as agency ``agency_id``'s TLS host name."""
    return f"{check_agency_id(agency_id).replace('_', '-')}.{AGENCY_DNS_SUFFIX}"


def agency_profile(agency_id: str) -> LeafProfile:
    """An agency's server certificate: its DNS name and SPIFFE id, serverAuth only."""
    return LeafProfile(
        common_name=agency_dns_name(agency_id),
        usage=Usage.SERVER,
        dns_names=(agency_dns_name(agency_id),),
        uris=(agency_spiffe_id(agency_id),),
    )


def hub_client_profile() -> LeafProfile:
    """The hub's client certificate: :data:`HUB_SPIFFE_ID`, clientAuth only."""
    return LeafProfile(common_name="sakha hub", usage=Usage.CLIENT, uris=(HUB_SPIFFE_ID,))


# --- checking material ------------------------------------------------------------------


def load_certificate(path: Path) -> x509.Certificate:
    """Read one PEM certificate.

    Raises:
        UnusableMaterialError: missing or not a PEM certificate.
    """
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UnusableMaterialError(f"{path}: not a readable PEM certificate ({exc})") from exc


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read one unencrypted PEM EC private key that only its owner can read.

    Raises:
        UnusableMaterialError: missing, readable by group or others, or not an EC key.
    """
    try:
        mode = path.stat().st_mode
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UnusableMaterialError(f"{path}: not a readable PEM private key ({exc})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnusableMaterialError(f"{path}: readable by others (mode {mode & 0o777:o})")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UnusableMaterialError(f"{path}: not an EC private key")
    return key


def load_trust_bundle(path: Path) -> list[x509.Certificate]:
    """Read the CA certificates to trust (several while a CA is being rotated).

    Raises:
        UnusableMaterialError: missing, empty or malformed.
    """
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UnusableMaterialError(f"{path}: not a readable PEM CA bundle ({exc})") from exc
    return certificates


def check_key_matches(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    """Raise :class:`UnusableMaterialError` unless ``key`` is ``certificate``'s key."""
    if certificate.public_key() != key.public_key():
        raise UnusableMaterialError("the private key does not belong to the certificate")


def verify_leaf(
    trusted: Sequence[x509.Certificate],
    leaf: x509.Certificate,
    profile: LeafProfile,
    *,
    at: dt.datetime,
) -> None:
    """Check ``leaf`` as a peer would, then that it names exactly ``profile``'s identities.

    The chain, validity at ``at``, key usages and SAN are checked by ``cryptography``'s
    RFC 5280 path validator (as a server for one of the profile's names, or as a client).

    Raises:
        UnusableMaterialError: any check failed.
    """
    builder = PolicyBuilder().store(Store(list(trusted))).time(at)
    try:
        if profile.usage is Usage.CLIENT:
            builder.build_client_verifier().verify(leaf, [])
        else:
            builder.build_server_verifier(_server_name(profile)).verify(leaf, [])
    except VerificationError as exc:
        raise UnusableMaterialError(f"{profile.common_name}: {exc}") from exc
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise UnusableMaterialError(f"{profile.common_name}: no SAN") from exc
    if sorted(map(str, san)) != sorted(map(str, profile.general_names())):
        raise UnusableMaterialError(f"{profile.common_name}: names differ from the profile")


def _server_name(profile: LeafProfile) -> x509.DNSName | x509.IPAddress:
    """The name a client would verify a server certificate for ``profile`` against."""
    if profile.dns_names:
        return x509.DNSName(profile.dns_names[0])
    if profile.ip_addresses:
        return x509.IPAddress(profile.ip_addresses[0])
    raise UnusableMaterialError(f"{profile.common_name}: a server needs a DNS or IP name")


def load_leaf(
    files: TlsFiles, profile: LeafProfile, *, at: dt.datetime
) -> tuple[bytes, bytes, bytes]:
    """Check ``files`` hold a valid certificate for ``profile`` at ``at``; return their PEM.

    Returns:
        The CA bundle, the certificate and the private key, as PEM bytes.

    Raises:
        UnusableMaterialError: missing, mismatched, expired, not from the CA, or naming
            someone other than ``profile``.
    """
    certificate = load_certificate(files.cert)
    check_key_matches(certificate, load_private_key(files.key))
    verify_leaf(load_trust_bundle(files.ca_cert), certificate, profile, at=at)
    return files.ca_cert.read_bytes(), files.cert.read_bytes(), files.key.read_bytes()
