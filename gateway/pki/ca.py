"""The development PKI: one CA, the hub's two certificates and one certificate per agency.

Everything is built with ``cryptography``'s x509 API on ECDSA P-256 keys (which every TLS
stack gRPC can use supports) and checked with its RFC 5280 path validator; nothing here
implements cryptography itself.

The names, the layout on disk and the checks of existing material live in
:mod:`adapters.pki.material`, which agencies' adapters use too (the adapter SDK imports
nothing from the hub); they are re-exported here. This module issues: ``sakha pki init``.

Private keys are unencrypted PKCS#8 PEM, mode 0600; the folders are created 0700.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from adapters.jwk_set import jwk_thumbprint, public_jwk_set
from adapters.pki.material import (
    AGENCY_DNS_SUFFIX,
    InvalidNameError,
    IPAddress,
    LeafProfile,
    PkiError,
    PkiLayout,
    TlsFiles,
    UnusableMaterialError,
    Usage,
    agency_profile,
    check_agency_id,
    check_key_matches,
    hub_client_profile,
    load_certificate,
    load_private_key,
    verify_leaf,
)
from gateway.auth.errors import KeyFileError
from gateway.auth.tokens import private_key_pem
from gateway.config import ConfigError
from gateway.signing_key import load_hub_signing_key

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_CA_DAYS",
    "DEFAULT_HUB_HOSTS",
    "DEFAULT_LEAF_DAYS",
    "RENEW_BEFORE",
    "CertificateAuthority",
    "hub_server_profile",
    "init_pki",
    "issue_certificate",
    "load_ca",
    "new_private_key",
    "write_key_and_certificate",
]

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

_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PRIVATE_MODE = 0o600
_DIR_MODE = 0o700


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
        leaf_key = key or new_private_key()
        return leaf_key, self.certify(
            profile, leaf_key.public_key(), not_before=not_before, not_after=not_after
        )

    def certify(
        self,
        profile: LeafProfile,
        public_key: ec.EllipticCurvePublicKey,
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> x509.Certificate:
        """A leaf certificate for ``profile`` and a key held elsewhere (a signing request's).

        Raises:
            PkiError: the window is empty or ends after the CA's own.
        """
        if not_after <= not_before:
            raise PkiError(f"{profile.common_name}: validity window is empty")
        if not_after > self.certificate.not_valid_after_utc:
            raise PkiError(f"{profile.common_name}: would outlive the CA")
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return (
            _builder(
                _name(profile.common_name),
                self.certificate.subject,
                public_key,
                not_before,
                not_after,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([profile.usage.oid]), critical=False)
            .add_extension(x509.SubjectAlternativeName(profile.general_names()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )


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

    Also the hub's signing keys (Ed25519, each kept while readable): the fetch-token key with
    the JWK Set agencies verify every Fetch's token with, the consent key with the JWK Set that
    verifies consent artefacts and mandates, and the audit log's checkpoint key; and the
    audit authority's pseudonym key (32 random bytes, base64).

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
    _ensure_signing_key(layout.fetch_token_key, layout.fetch_token_jwks, "fetch-token", force)
    _ensure_signing_key(layout.consent_key, layout.consent_jwks, "consent", force)
    _ensure_signing_key(layout.checkpoint_key, None, "checkpoint", force)
    if force or not layout.audit_key.exists():
        secret = base64.b64encode(secrets.token_bytes(32)) + b"\n"
        _write(layout.audit_key, secret, _PRIVATE_MODE)
    return layout


def _ensure_signing_key(key_file: Path, jwks_file: Path | None, role: str, force: bool) -> None:
    """Keep a readable Ed25519 key (or make one); (re)write its public JWK Set, if it has one,
    kid = its RFC 7638 thumbprint (the hub's default kid)."""
    key = None
    if not force:
        with contextlib.suppress(KeyFileError, ConfigError):  # missing or unusable: a new one
            key = load_hub_signing_key(key_file, role=role)
    if key is None:
        key = ed25519.Ed25519PrivateKey.generate()
        _write(key_file, private_key_pem(key), _PRIVATE_MODE)
    if jwks_file is None:
        return
    public = key.public_key()
    jwks = json.dumps(public_jwk_set({jwk_thumbprint(public): public}), indent=2) + "\n"
    _write(jwks_file, jwks.encode("ascii"), 0o644)


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


def export_agency_bundle(layout: PkiLayout, agency_id: str, folder: Path) -> PkiLayout:
    """Copy what agency ``agency_id``'s adapter needs into ``folder``, laid out as a PKI
    folder its ``--tls-dir`` reads: the CA certificate, the agency's certificate and key,
    and the hub's public fetch-token JWK Set. Nothing else of the hub's goes in: no CA key,
    no hub key, no signing key.

    Raises:
        UnusableMaterialError: the agency has no certificate and key in ``layout`` (issue
            them first), or ``folder`` is the hub's own.
    """
    source = layout.agency_files(agency_id)
    missing = [str(path) for path in (source.cert, source.key) if not path.is_file()]
    if missing:
        raise UnusableMaterialError(f"cannot export {agency_id}: missing {', '.join(missing)}")
    return _agency_folder(
        layout, agency_id, folder, source.cert.read_bytes(), source.key.read_bytes()
    )


def _agency_folder(
    layout: PkiLayout, agency_id: str, folder: Path, certificate: bytes, key: bytes | None
) -> PkiLayout:
    """Write an agency's folder: the CA certificate, its certificate (and key, when the hub
    made it), the hub's public fetch-token JWK Set."""
    bundle = PkiLayout(Path(folder))
    if bundle.folder.resolve() == layout.folder.resolve():
        raise UnusableMaterialError(f"{folder}: the agency's folder must not be the hub's")
    shared = (layout.ca_cert, layout.fetch_token_jwks)
    missing = [str(path) for path in shared if not path.is_file()]
    if missing:
        raise UnusableMaterialError(
            f"cannot write {agency_id}'s folder: missing {', '.join(missing)}"
        )
    bundle.folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    bundle.agencies_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
    _write(bundle.ca_cert, layout.ca_cert.read_bytes(), 0o644)
    _write(bundle.agency_cert(agency_id), certificate, 0o644)
    if key is not None:
        _write(bundle.agency_key(agency_id), key, _PRIVATE_MODE)
    _write(bundle.fetch_token_jwks, layout.fetch_token_jwks.read_bytes(), 0o644)
    return bundle


AGENCY_REQUEST_SUFFIX = ".csr"
"""The file name of an agency's certificate signing request: ``<agency_id>.csr``."""


def request_agency_certificate(agency_id: str, folder: Path) -> Path:
    """The agency's side of a certificate whose key never leaves it: a key in
    ``folder/agencies/<id>.key`` (0600; an existing usable one is kept) and a signing request
    naming the agency, ``folder/<id>.csr``, for the hub's operator. Returns the request's path.

    Raises:
        InvalidNameError: a bad agency id.
        UnusableMaterialError: an existing key file that cannot be used.
    """
    layout = PkiLayout(Path(folder))
    profile = agency_profile(agency_id)
    layout.folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    layout.agencies_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
    key_path = layout.agency_key(agency_id)
    if key_path.exists():
        key = load_private_key(key_path)
    else:
        key = new_private_key()
        _write(key_path, private_key_pem(key), _PRIVATE_MODE)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(profile.common_name))
        .add_extension(x509.SubjectAlternativeName(profile.general_names()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = layout.folder / f"{agency_id}{AGENCY_REQUEST_SUFFIX}"
    _write(path, request.public_bytes(serialization.Encoding.PEM), 0o644)
    return path


def certify_agency_request(
    layout: PkiLayout,
    agency_id: str,
    request_pem: bytes,
    folder: Path,
    *,
    days: int = DEFAULT_LEAF_DAYS,
) -> PkiLayout:
    """The hub's side: certify the key of an agency's signing request with the CA of
    ``layout``, and write ``folder`` with what the agency adds beside its key: the CA
    certificate, its certificate and the hub's public fetch-token JWK Set (no key at all).

    The certificate names exactly the agency (:func:`agency_profile`), whatever else the
    request asks for; a request asking for another identity is refused, not narrowed.

    Raises:
        UnusableMaterialError: not a PEM signing request, a signature that does not verify,
            a key other than EC P-256, or names other than the agency's.
        InvalidNameError: a bad agency id.
    """
    profile = agency_profile(agency_id)
    try:
        request = x509.load_pem_x509_csr(request_pem)
    except ValueError as exc:
        raise UnusableMaterialError(f"not a PEM certificate signing request ({exc})") from exc
    if not request.is_signature_valid:
        raise UnusableMaterialError("the signing request's signature does not verify")
    public_key = request.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise UnusableMaterialError("the signing request's key is not EC P-256")
    try:
        asked = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        asked = None
    if asked is not None and set(asked) != set(profile.general_names()):
        raise UnusableMaterialError(
            f"the signing request names {sorted(str(n.value) for n in asked)}, not only {agency_id}"
        )
    now = dt.datetime.now(dt.UTC)
    ca = load_ca(layout, at=now)
    not_after = min(now + dt.timedelta(days=days), ca.certificate.not_valid_after_utc)
    certificate = ca.certify(profile, public_key, not_before=now - CLOCK_SKEW, not_after=not_after)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return _agency_folder(layout, agency_id, folder, pem, None)
