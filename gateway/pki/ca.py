"""The development PKI: one CA, the hub's two certificates and one certificate per agency.

Everything is built with ``cryptography``'s x509 API on ECDSA P-256 keys (which every TLS
stack gRPC can use supports) and checked with its RFC 5280 path validator; nothing here
implements cryptography itself.

Identities (:data:`HUB_SPIFFE_ID`, :func:`agency_spiffe_id`) are SPIFFE-style URI SANs. An
agency's certificate also carries a DNS SAN, :func:`agency_dns_name`, that the hub verifies
as the TLS host name, so a certificate for agency B fails the handshake at agency A's
address. Agency ids are ``[a-z][a-z0-9_]*`` (not ending in ``_``); underscores are not
allowed in DNS names (RFC 5280 4.2.1.6 asks for the preferred name syntax), so the DNS name
spells them ``-`` (``bank_melli`` -> ``bank-melli.agency.sakha``), one-to-one.

The layout on disk (see :class:`PkiLayout`)::

    ca.pem  ca.key                      the development CA
    hub.pem  hub.key                    the hub's TLS server certificate (for clients)
    hub-client.pem  hub-client.key      the hub's client certificate (for agencies)
    agencies/<agency_id>.pem  .key      each agency's server certificate

Private keys are unencrypted PKCS#8 PEM, mode 0600; the folders are created 0700.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

TRUST_DOMAIN = "sakha"
"""The SPIFFE trust domain of every identity this PKI issues."""

HUB_SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/hub"
"""The hub's identity: the only URI SAN of its client certificate."""

AGENCY_DNS_SUFFIX = "agency.sakha"
"""Parent domain of every agency's DNS SAN; never allowed among the hub's host names."""

DEFAULT_HUB_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
"""Names the hub's server certificate always carries, so local clients can verify it."""

DEFAULT_LEAF_DAYS = 90
"""Validity of the hub's and agencies' certificates (never beyond the CA's)."""

DEFAULT_CA_DAYS = 5 * 365
"""Validity of the development CA."""

RENEW_BEFORE = dt.timedelta(days=7)
"""A certificate this close to expiry (or a third of its life, if shorter) is not kept."""

CLOCK_SKEW = dt.timedelta(minutes=5)
"""New certificates are valid from this long ago, so a peer whose clock lags accepts them."""

_AGENCY_ID = re.compile(r"[a-z](?:[a-z0-9_]{0,61}[a-z0-9])?")
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PRIVATE_MODE = 0o600
_DIR_MODE = 0o700


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


def hub_server_profile(hosts: Iterable[str] = ()) -> LeafProfile:
    """The hub's server certificate: :data:`DEFAULT_HUB_HOSTS` plus ``hosts``, serverAuth only.

    Raises:
        InvalidNameError: a host is not an IP address or a DNS name, or lies under
            :data:`AGENCY_DNS_SUFFIX` (the hub must never be able to pose as an agency).
    """
    dns: dict[str, None] = {}  # ordered sets: a name given twice is listed once
    ips: dict[IPAddress, None] = {}
    for host in [*DEFAULT_HUB_HOSTS, *hosts]:
        try:
            ips[ipaddress.ip_address(host)] = None
        except ValueError:
            dns[_check_dns_name(host)] = None
    return LeafProfile(
        common_name="sakha hub", usage=Usage.SERVER, dns_names=tuple(dns), ip_addresses=tuple(ips)
    )


def _check_dns_name(host: str) -> str:
    name = host.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise InvalidNameError(f"host {host!r} is neither an IP address nor a DNS name")
    if labels[-1].isdigit():  # "127.000.0.1", "10.1": neither a valid IP nor a safe name
        raise InvalidNameError(f"host {host!r} is neither an IP address nor a DNS name")
    if name == AGENCY_DNS_SUFFIX or name.endswith(f".{AGENCY_DNS_SUFFIX}"):
        raise InvalidNameError(f"host {host!r} is reserved for agencies")
    return name


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA certificate and its key; issues leaf certificates."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(
        cls,
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        common_name: str = "Sakha development CA",
    ) -> CertificateAuthority:
        """A new self-signed CA that may sign leaves only (path length 0)."""
        key = new_private_key()
        name = _name(common_name)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            _builder(name, name, key.public_key(), not_before, not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    def issue(
        self,
        profile: LeafProfile,
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """Issue a leaf certificate for ``profile`` (with a new key unless ``key`` is given).

        Raises:
            PkiError: the window is empty or ends after the CA's own.
        """
        if not_after <= not_before:
            raise PkiError(f"{profile.common_name}: validity window is empty")
        if not_after > self.certificate.not_valid_after_utc:
            raise PkiError(f"{profile.common_name}: would outlive the CA")
        leaf_key = key or new_private_key()
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        certificate = (
            _builder(
                _name(profile.common_name),
                self.certificate.subject,
                leaf_key.public_key(),
                not_before,
                not_after,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([profile.usage.oid]), critical=False)
            .add_extension(x509.SubjectAlternativeName(profile.general_names()), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return leaf_key, certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sakha (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


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


# --- files ------------------------------------------------------------------------------


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, the file created with ``mode`` from the start."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_key_and_certificate(
    key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, key_path: Path, cert_path: Path
) -> None:
    """Write a key (0600), then its certificate (0644).

    A crash in between leaves a mismatched pair, which the next :func:`init_pki` repairs.
    """
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_path, key_pem, _PRIVATE_MODE)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)


def load_ca(layout: PkiLayout, *, at: dt.datetime) -> CertificateAuthority:
    """Load the CA of ``layout`` and check it can issue at ``at``.

    Raises:
        UnusableMaterialError: missing, malformed, mismatched, not a CA, or not valid at ``at``.
    """
    certificate = load_certificate(layout.ca_cert)
    key = load_private_key(layout.ca_key)
    check_key_matches(certificate, key)
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound as exc:
        raise UnusableMaterialError(f"{layout.ca_cert}: not a CA certificate") from exc
    if not constraints.value.ca:
        raise UnusableMaterialError(f"{layout.ca_cert}: not a CA certificate")
    if not certificate.not_valid_before_utc <= at or _expiring(certificate, at):
        raise UnusableMaterialError(f"{layout.ca_cert}: not yet valid, expired or about to expire")
    return CertificateAuthority(certificate, key)


def _expiring(certificate: x509.Certificate, at: dt.datetime) -> bool:
    """Whether ``certificate`` ends within :data:`RENEW_BEFORE` (or a third of its life)."""
    life = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    return certificate.not_valid_after_utc - at <= min(RENEW_BEFORE, life / 3)


def _ensure_ca(
    layout: PkiLayout, *, now: dt.datetime, ca_days: int, force: bool
) -> CertificateAuthority:
    present = [p for p in (layout.ca_cert, layout.ca_key) if p.exists()]
    if present and not force:
        try:
            return load_ca(layout, at=now)
        except UnusableMaterialError as exc:
            raise UnusableMaterialError(
                f"the existing CA cannot be used ({exc}); run again with force to replace it "
                "and reissue every certificate"
            ) from exc
    ca = CertificateAuthority.create(
        not_before=now - CLOCK_SKEW, not_after=now + dt.timedelta(days=ca_days)
    )
    write_key_and_certificate(ca.key, ca.certificate, layout.ca_key, layout.ca_cert)
    return ca


def _ensure_leaf(
    ca: CertificateAuthority,
    profile: LeafProfile,
    files: TlsFiles,
    *,
    now: dt.datetime,
    days: int,
    force: bool,
) -> None:
    """Keep the leaf at ``files`` if it is valid for ``profile``; otherwise issue a new one."""
    if not force:
        try:
            certificate = load_certificate(files.cert)
            check_key_matches(certificate, load_private_key(files.key))
            verify_leaf([ca.certificate], certificate, profile, at=now)
        except UnusableMaterialError:
            pass  # missing, expired, foreign or naming someone else: reissued below
        else:
            if not _expiring(certificate, now):
                return
    not_after = min(now + dt.timedelta(days=days), ca.certificate.not_valid_after_utc)
    key, certificate = ca.issue(profile, not_before=now - CLOCK_SKEW, not_after=not_after)
    write_key_and_certificate(key, certificate, files.key, files.cert)


def init_pki(
    folder: Path,
    *,
    agencies: Iterable[str],
    hub_hosts: Iterable[str] = DEFAULT_HUB_HOSTS,
    days: int = DEFAULT_LEAF_DAYS,
    ca_days: int = DEFAULT_CA_DAYS,
    force: bool = False,
) -> PkiLayout:
    """Create (or complete) a development PKI in ``folder`` and return its layout.

    Idempotent: an existing usable CA is kept, and so is every certificate that chains to it,
    names exactly what it should and is not about to expire (:data:`RENEW_BEFORE`); anything
    else is reissued. ``force`` replaces everything, the CA included. An existing CA that cannot
    be used is never replaced silently: that would orphan every certificate issued from it.

    Args:
        folder: where the files go (created 0700 if missing).
        agencies: the agency ids to issue server certificates for.
        hub_hosts: extra names of the hub's client-facing server certificate
            (:data:`DEFAULT_HUB_HOSTS` are always included).
        days: validity of the hub's and agencies' certificates (capped at the CA's).
        ca_days: validity of a new CA.
        force: replace all existing material.

    Raises:
        InvalidNameError: a bad agency id or host name (checked before anything is written).
        UnusableMaterialError: the existing CA cannot be used and ``force`` is not set.
    """
    if days <= 0 or ca_days <= 0:
        raise PkiError("validity periods must be positive")
    layout = PkiLayout(Path(folder))
    agency_ids = sorted({check_agency_id(a) for a in agencies})
    leaves = [
        (hub_server_profile(hub_hosts), layout.hub_server_files()),
        (hub_client_profile(), layout.hub_client_files()),
        *((agency_profile(a), layout.agency_files(a)) for a in agency_ids),
    ]
    layout.folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    layout.agencies_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca = _ensure_ca(layout, now=now, ca_days=ca_days, force=force)
    for profile, files in leaves:
        _ensure_leaf(ca, profile, files, now=now, days=days, force=force)
    return layout


def issue_certificate(
    layout: PkiLayout, agency_id: str, *, days: int = DEFAULT_LEAF_DAYS, force: bool = False
) -> TlsFiles:
    """Issue (or keep, when still valid and not ``force``) one agency's certificate.

    Raises:
        InvalidNameError: a bad agency id.
        UnusableMaterialError: the layout's CA cannot be used.
    """
    profile = agency_profile(agency_id)
    now = dt.datetime.now(dt.UTC)
    ca = load_ca(layout, at=now)
    layout.agencies_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    files = layout.agency_files(agency_id)
    _ensure_leaf(ca, profile, files, now=now, days=days, force=force)
    return files
