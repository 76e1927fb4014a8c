"""The development PKI: what the certificates say, the files, and re-running init_pki."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from adapters.pki.material import (
    HUB_SPIFFE_ID,
    InvalidNameError,
    PkiError,
    PkiLayout,
    UnusableMaterialError,
    agency_dns_name,
    agency_profile,
    agency_spiffe_id,
)
from gateway.pki.ca import (
    RENEW_BEFORE,
    CertificateAuthority,
    init_pki,
    issue_certificate,
    load_ca,
    write_key_and_certificate,
)
from tests.pki.conftest import AGENCIES, foreign_ca, now

Snapshot = dict[Path, bytes]


def _snapshot(layout: PkiLayout) -> Snapshot:
    return {p: p.read_bytes() for p in sorted(layout.folder.rglob("*")) if p.is_file()}


def _changed(before: Snapshot, after: Snapshot) -> set[str]:
    return {p.name for p in after if before.get(p) != after[p]}


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


_E = TypeVar("_E", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, kind: type[_E]) -> x509.Extension[_E]:
    return cert.extensions.get_extension_for_class(kind)


# --- what the certificates say ------------------------------------------------------------


def test_the_ca_is_a_constrained_self_signed_p256_ca(pki: PkiLayout) -> None:
    ca = _cert(pki.ca_cert)
    constraints = _ext(ca, x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 0)
    usage = _ext(ca, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = _ext(ca, x509.SubjectKeyIdentifier).value
    assert _ext(ca, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    ca.verify_directly_issued_by(ca)
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)


def _sans(cert: x509.Certificate) -> list[str]:
    """The SAN entries as ``DNS:…``, ``IP:…`` and ``URI:…`` strings, in order."""
    prefixes: dict[type, str] = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.UniformResourceIdentifier: "URI",
    }
    san = _ext(cert, x509.SubjectAlternativeName).value
    return [f"{prefixes[type(name)]}:{name.value}" for name in san]


@pytest.mark.parametrize(
    ("leaf", "usage", "names"),
    [
        pytest.param(
            "tax",
            ExtendedKeyUsageOID.SERVER_AUTH,
            ["DNS:tax.agency.sakha", "URI:spiffe://sakha/agency/tax"],
            id="agency",
        ),
        pytest.param(
            "bank_melli",
            ExtendedKeyUsageOID.SERVER_AUTH,
            # an underscore is not allowed in a DNS name: it is spelled "-" there
            ["DNS:bank-melli.agency.sakha", "URI:spiffe://sakha/agency/bank_melli"],
            id="agency_with_underscore",
        ),
        pytest.param(
            "hub", ExtendedKeyUsageOID.SERVER_AUTH, ["DNS:localhost", "IP:127.0.0.1"], id="hub"
        ),
        pytest.param(
            "hub-client", ExtendedKeyUsageOID.CLIENT_AUTH, [f"URI:{HUB_SPIFFE_ID}"], id="hub_client"
        ),
    ],
)
def test_leaf_certificates_name_their_owner_and_one_usage(
    pki: PkiLayout, leaf: str, usage: x509.ObjectIdentifier, names: list[str]
) -> None:
    path = pki.agency_cert(leaf) if leaf in AGENCIES else pki.folder / f"{leaf}.pem"
    cert, ca = _cert(path), _cert(pki.ca_cert)
    assert _sans(cert) == names
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [usage]
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert not constraints.value.ca
    key_usage = _ext(cert, x509.KeyUsage)
    assert key_usage.critical
    assert key_usage.value.digital_signature
    assert not key_usage.value.key_cert_sign
    ca_ski = _ext(ca, x509.SubjectKeyIdentifier).value.digest
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert _ext(cert, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    )
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_before_utc < now() < cert.not_valid_after_utc
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc
    assert 0 < cert.serial_number < 2**159


def test_an_independent_rfc5280_validator_accepts_each_for_its_role_only(pki: PkiLayout) -> None:
    policy = PolicyBuilder().store(Store([_cert(pki.ca_cert)])).time(now())
    for agency_id in AGENCIES:
        cert = _cert(pki.agency_cert(agency_id))
        policy.build_server_verifier(x509.DNSName(agency_dns_name(agency_id))).verify(cert, [])
        with pytest.raises(VerificationError):
            policy.build_client_verifier().verify(cert, [])
        with pytest.raises(VerificationError):  # another agency's name
            policy.build_server_verifier(x509.DNSName("other.agency.sakha")).verify(cert, [])
    hub = _cert(pki.hub_cert)
    policy.build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1"))).verify(hub, [])
    client = policy.build_client_verifier().verify(_cert(pki.hub_client_cert), [])
    assert client.subjects == [x509.UniformResourceIdentifier(HUB_SPIFFE_ID)]
    with pytest.raises(VerificationError):
        policy.build_server_verifier(x509.DNSName("localhost")).verify(
            _cert(pki.hub_client_cert), []
        )


def test_serials_are_random_and_distinct(pki: PkiLayout) -> None:
    paths = [pki.ca_cert, pki.hub_cert, pki.hub_client_cert, *map(pki.agency_cert, AGENCIES)]
    serials = {_cert(p).serial_number for p in paths}
    assert len(serials) == len(paths)
    assert all(s.bit_length() > 64 for s in serials)


def test_extra_hub_hosts_are_added_to_the_defaults(tmp_path: Path) -> None:
    layout = init_pki(
        tmp_path,
        agencies=(),
        hub_hosts=("hub.example.org", "10.0.0.7", "::1", "LOCALHOST", "0:0::1"),
    )
    assert _sans(_cert(layout.hub_cert)) == [
        "DNS:localhost",
        "DNS:hub.example.org",
        "IP:127.0.0.1",
        "IP:10.0.0.7",
        "IP:::1",
    ]


def test_leaves_never_outlive_the_ca(tmp_path: Path) -> None:
    layout = init_pki(tmp_path, agencies=("tax",), days=400, ca_days=30)
    ca_end = _cert(layout.ca_cert).not_valid_after_utc
    assert _cert(layout.agency_cert("tax")).not_valid_after_utc == ca_end


# --- files ------------------------------------------------------------------------------


def test_layout_names_every_file(pki: PkiLayout) -> None:
    expected = {
        "ca.pem",
        "ca.key",
        "hub.pem",
        "hub.key",
        "hub-client.pem",
        "hub-client.key",
        "agencies/tax.pem",
        "agencies/tax.key",
        "agencies/bank_melli.pem",
        "agencies/bank_melli.key",
        "fetch-token.key",
        "fetch-token-keys.json",
        "consent.key",
        "consent-keys.json",
        "checkpoint.key",
        "audit-pseudonym.key",
    }
    files = {str(p.relative_to(pki.folder)) for p in pki.folder.rglob("*") if p.is_file()}
    assert files == expected
    assert pki.agency_ids() == ("bank_melli", "tax")
    assert pki.agency_files("tax").cert == pki.agency_cert("tax")
    assert pki.hub_client_files().key == pki.hub_client_key


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Run with umask 000: file modes must not depend on the caller's umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_private_keys_are_0600_and_folders_0700(tmp_path: Path) -> None:
    layout = init_pki(tmp_path / "pki", agencies=AGENCIES)
    for path in layout.folder.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif path.suffix == ".key":
            assert mode == 0o600, path
        else:
            assert mode == 0o644, path
    assert stat.S_IMODE(layout.folder.stat().st_mode) == 0o700


def test_keys_are_unencrypted_pkcs8_p256(pki: PkiLayout) -> None:
    for path in pki.folder.rglob("*.key"):
        if path == pki.audit_key:  # an HMAC secret, base64 text: not a PEM key
            continue
        text = path.read_bytes()
        assert text.startswith(b"-----BEGIN PRIVATE KEY-----"), path
        key = serialization.load_pem_private_key(text, password=None)
        if path in (pki.fetch_token_key, pki.consent_key, pki.checkpoint_key):  # not TLS: Ed25519
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            continue
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert isinstance(key.curve, ec.SECP256R1)


# --- running it again -------------------------------------------------------------------


def test_rerunning_keeps_everything(pki: PkiLayout) -> None:
    before = _snapshot(pki)
    again = init_pki(pki.folder, agencies=AGENCIES)
    assert again == pki
    assert _snapshot(pki) == before


def test_rerunning_keeps_short_lived_material(tmp_path: Path) -> None:
    layout = init_pki(tmp_path, agencies=AGENCIES, days=1, ca_days=2)
    before = _snapshot(layout)
    init_pki(tmp_path, agencies=AGENCIES, days=1, ca_days=2)
    assert _snapshot(layout) == before


def test_rerunning_adds_a_new_agency_only(pki: PkiLayout) -> None:
    before = _snapshot(pki)
    init_pki(pki.folder, agencies=(*AGENCIES, "welfare"))
    after = _snapshot(pki)
    assert _changed(before, after) == {"welfare.pem", "welfare.key"}
    _cert(pki.agency_cert("welfare")).verify_directly_issued_by(_cert(pki.ca_cert))


def test_changed_hub_hosts_reissue_the_hub_certificate_only(pki: PkiLayout) -> None:
    before = _snapshot(pki)
    init_pki(pki.folder, agencies=AGENCIES, hub_hosts=("hub.example.org",))
    assert _changed(before, _snapshot(pki)) == {"hub.pem", "hub.key"}


def _foreign_leaf(pki: PkiLayout) -> None:
    key, cert = foreign_ca().issue(
        agency_profile("tax"), not_before=now(), not_after=now() + dt.timedelta(days=1)
    )
    write_key_and_certificate(key, cert, pki.agency_key("tax"), pki.agency_cert("tax"))


def _expiring_leaf(pki: PkiLayout) -> None:
    ca = load_ca(pki, at=now())
    start, end = now() - dt.timedelta(days=60), now() + RENEW_BEFORE / 2
    key, cert = ca.issue(agency_profile("tax"), not_before=start, not_after=end)
    write_key_and_certificate(key, cert, pki.agency_key("tax"), pki.agency_cert("tax"))


def _another_agencys_pair(pki: PkiLayout) -> None:
    pki.agency_key("tax").write_bytes(pki.agency_key("bank_melli").read_bytes())
    pki.agency_cert("tax").write_bytes(pki.agency_cert("bank_melli").read_bytes())


def _mismatched_key(pki: PkiLayout) -> None:
    pki.agency_key("tax").write_bytes(pki.agency_key("bank_melli").read_bytes())


def _world_readable_key(pki: PkiLayout) -> None:
    pki.agency_key("tax").chmod(0o644)


@pytest.mark.parametrize(
    "damage",
    [
        lambda pki: pki.agency_key("tax").unlink(),
        lambda pki: pki.agency_cert("tax").unlink(),
        lambda pki: pki.agency_cert("tax").write_text("not a certificate"),
        _mismatched_key,
        _world_readable_key,
        _another_agencys_pair,
        _foreign_leaf,
        _expiring_leaf,
    ],
    ids=[
        "key_missing",
        "cert_missing",
        "cert_garbage",
        "key_of_another_certificate",
        "key_readable_by_others",
        "names_another_agency",
        "issued_by_another_ca",
        "about_to_expire",
    ],
)
def test_rerunning_reissues_a_bad_leaf_only(pki: PkiLayout, damage: object) -> None:
    assert callable(damage)
    damage(pki)
    before = _snapshot(pki)
    init_pki(pki.folder, agencies=AGENCIES)
    assert _changed(before, _snapshot(pki)) <= {"tax.pem", "tax.key"}
    cert = _cert(pki.agency_cert("tax"))
    cert.verify_directly_issued_by(_cert(pki.ca_cert))
    assert cert.not_valid_after_utc > now() + RENEW_BEFORE
    assert stat.S_IMODE(pki.agency_key("tax").stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(pki.agency_key("tax").read_bytes(), None)
    assert key.public_key() == cert.public_key()


def test_force_replaces_everything(pki: PkiLayout) -> None:
    before = _snapshot(pki)
    init_pki(pki.folder, agencies=AGENCIES, force=True)
    after = _snapshot(pki)
    assert _changed(before, after) == {p.name for p in after}


def _expiring_ca(pki: PkiLayout) -> None:
    ca = CertificateAuthority.create(
        not_before=now() - dt.timedelta(days=60), not_after=now() + RENEW_BEFORE / 2
    )
    write_key_and_certificate(ca.key, ca.certificate, pki.ca_key, pki.ca_cert)


@pytest.mark.parametrize(
    "damage",
    [
        lambda pki: pki.ca_cert.write_text("garbage"),
        lambda pki: pki.ca_cert.unlink(),
        lambda pki: pki.ca_key.unlink(),
        lambda pki: pki.ca_key.write_bytes(pki.hub_key.read_bytes()),
        lambda pki: pki.ca_key.chmod(0o640),
        lambda pki: pki.ca_cert.write_bytes(pki.hub_cert.read_bytes()),
        _expiring_ca,
    ],
    ids=[
        "cert_garbage",
        "cert_missing",
        "key_missing",
        "key_of_another_certificate",
        "key_readable_by_group",
        "not_a_ca",
        "about_to_expire",
    ],
)
def test_an_unusable_ca_is_never_replaced_silently(pki: PkiLayout, damage: object) -> None:
    assert callable(damage)
    damage(pki)
    before = _snapshot(pki)
    with pytest.raises(UnusableMaterialError, match="force"):
        init_pki(pki.folder, agencies=AGENCIES)
    assert _snapshot(pki) == before
    init_pki(pki.folder, agencies=AGENCIES, force=True)
    load_ca(pki, at=now())


def test_issue_certificate_adds_one_agency(pki: PkiLayout) -> None:
    before = _snapshot(pki)
    files = issue_certificate(pki, "red_crescent")
    assert files == pki.agency_files("red_crescent")
    assert _changed(before, _snapshot(pki)) == {"red_crescent.pem", "red_crescent.key"}
    san = _ext(_cert(files.cert), x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        agency_spiffe_id("red_crescent")
    ]
    assert pki.agency_ids() == ("bank_melli", "red_crescent", "tax")


def test_issue_certificate_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(UnusableMaterialError):
        issue_certificate(PkiLayout(tmp_path), "tax")


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agency_id",
    [
        "",
        "Tax",
        "tax.evil",
        "../tax",
        "tax/x",
        "a-b",
        "_tax",
        "tax_",
        "1tax",
        "tax ",
        "t" * 64,
        "تاکس",
    ],
    ids=[
        "empty",
        "upper_case",
        "dot",
        "path_traversal",
        "slash",
        "hyphen",
        "leading_underscore",
        "trailing_underscore",
        "leading_digit",
        "trailing_space",
        "too_long_for_a_dns_label",
        "non_ascii",
    ],
)
def test_bad_agency_ids_are_refused_before_anything_is_written(
    tmp_path: Path, agency_id: str
) -> None:
    with pytest.raises(InvalidNameError):
        init_pki(tmp_path / "pki", agencies=("tax", agency_id))
    assert not (tmp_path / "pki").exists()


@pytest.mark.parametrize(
    "host",
    [
        "tax.agency.sakha",
        "agency.sakha",
        "TAX.Agency.Sakha",
        "bad host",
        "-x.example",
        "a..b",
        "",
        "127.000.0.1",
        "10.1",
        "hub.example.org.",
    ],
    ids=[
        "an_agency_name",
        "the_agency_domain",
        "an_agency_name_in_capitals",
        "space",
        "leading_hyphen",
        "empty_label",
        "empty",
        "ip_with_leading_zeros",
        "short_ip",
        "trailing_dot",
    ],
)
def test_bad_hub_hosts_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(InvalidNameError):
        init_pki(tmp_path / "pki", agencies=(), hub_hosts=(host,))
    assert not (tmp_path / "pki").exists()


@pytest.mark.parametrize(("days", "ca_days"), [(0, 10), (10, 0), (-1, 10)])
def test_validity_periods_must_be_positive(tmp_path: Path, days: int, ca_days: int) -> None:
    with pytest.raises(PkiError):
        init_pki(tmp_path, agencies=(), days=days, ca_days=ca_days)
