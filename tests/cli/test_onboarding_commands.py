"""The commands a new agency's connection takes: ``sakha pki issue-agency`` gives it a
certificate and a folder holding nothing else of the hub's, and ``sakha programs test``
tests a program using it, from its adapter file or its running adapter."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.memory import MemoryAdapter
from adapters.pki.material import PkiLayout, load_certificate
from adapters.server import create_adapter_server
from gateway.cli import main
from gateway.pki.ca import init_pki
from tests.conformance.adapters_under_test import AGENCY_ID, DESCRIPTION
from tests.loop_thread import loop_in_thread

PROGRAM = {
    "id": "food_parcels",
    "version": "2026.1",
    "title": {"en": "Food parcels", "fa": "بسته غذایی"},
    "description": {"en": "Parcels for the registered.", "fa": "بسته برای ثبت‌نام‌شدگان."},
    "need_category": "financial",
    "unit": "person",
    "legal_basis": {
        "kind": "consent",
        "consent": {"max_validity_days": 30, "fetch_type": "ONE_TIME", "max_data_life_days": 1},
    },
    "purposes": ["food_support"],
    "facts": {
        "registered": {"aggregate": "any", "attributes": ["food_bank.registered"], "absent": False}
    },
    "rules": [
        {
            "id": "registered",
            "expr": "registered",
            "pass": {"code": "REGISTERED", "en": "Registered.", "fa": "ثبت‌نام شده."},
            "fail": {"code": "NOT_REGISTERED", "en": "Not registered.", "fa": "ثبت‌نام نشده."},
        }
    ],
    "tests": [
        {
            "name": "a registered person is eligible",
            "as_of": "2026-06-01",
            "members": [{"food_bank.registered": True}],
            "expect": {"decision": "eligible"},
        }
    ],
}


@pytest.fixture
def programs_dir(tmp_path: Path) -> Path:
    """A folder with one program reading the food bank."""
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "food_parcels.yaml").write_text(yaml.safe_dump(PROGRAM, allow_unicode=True), "utf-8")
    return folder


@pytest.fixture
def food_bank_yaml(tmp_path: Path) -> Path:
    """The food bank's adapter file (its CSV export does not exist: describing needs none)."""
    path = tmp_path / "food_bank.yaml"
    config = {
        "agency_id": AGENCY_ID,
        "name": "Provincial Food Bank",
        "csv": "{exports}/food_bank.csv",
        "attributes": {"registered": {"type": "bool", "sensitivity": "personal"}},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _programs_test(programs_dir: Path, *options: str) -> tuple[int, str]:
    outcome = CliRunner().invoke(
        main, ["programs", "test", "--programs-dir", str(programs_dir), *options]
    )
    return outcome.exit_code, outcome.output


def test_a_program_of_an_unknown_agency_fails_without_it(programs_dir: Path) -> None:
    code, out = _programs_test(programs_dir)
    assert code == 1
    assert "no agency 'food_bank' is connected (a new agency: add it with --agencies" in out


def test_programs_test_takes_the_agency_from_its_adapter_file(
    programs_dir: Path, food_bank_yaml: Path
) -> None:
    code, out = _programs_test(programs_dir, "--agencies", str(food_bank_yaml))
    assert code == 0, out
    assert out.splitlines()[-1] == "1 test cases of 1 program: 1 passed, 0 failed"


@pytest.fixture
def running_food_bank() -> Iterator[str]:
    """The food bank's adapter, serving plaintext on a loop of its own."""
    with loop_in_thread() as run:
        server, port = run(create_adapter_server(MemoryAdapter(DESCRIPTION, {})))
        try:
            yield f"127.0.0.1:{port}"
        finally:
            run(server.stop(None))


def test_programs_test_asks_a_running_adapter(programs_dir: Path, running_food_bank: str) -> None:
    code, out = _programs_test(programs_dir, "--describe-from", running_food_bank)
    assert code == 0, out
    named = f"{AGENCY_ID}={running_food_bank}"
    assert _programs_test(programs_dir, "--describe-from", named)[0] == 0
    code, out = _programs_test(programs_dir, "--describe-from", f"water={running_food_bank}")
    assert code == 1
    assert "is 'food_bank', not 'water'" in out


def test_describe_from_nothing_listening_says_so(programs_dir: Path) -> None:
    code, out = _programs_test(programs_dir, "--describe-from", "127.0.0.1:1")
    assert code == 1
    assert "the adapter at 127.0.0.1:1 did not describe itself: UNAVAILABLE" in out


def test_issue_agency_certifies_and_exports_only_what_the_agency_needs(tmp_path: Path) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=("civil_registry",))
    bundle = tmp_path / "food_bank-tls"
    outcome = CliRunner().invoke(
        main, ["pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--out", str(bundle)]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "spiffe://sakha/agency/food_bank (DNS food-bank.agency.sakha)" in outcome.output
    assert f"for the agency: {bundle} (" in outcome.output
    files = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    assert files == [
        "agencies/food_bank.key",
        "agencies/food_bank.pem",
        "ca.pem",
        "fetch-token-keys.json",
    ]
    exported = PkiLayout(bundle)
    assert stat.S_IMODE(exported.agency_key(AGENCY_ID).stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert exported.agency_cert(AGENCY_ID).read_bytes() == hub.agency_cert(AGENCY_ID).read_bytes()
    assert load_certificate(exported.ca_cert) == load_certificate(hub.ca_cert)
    again = CliRunner().invoke(
        main, ["pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--out", str(bundle)]
    )
    assert again.exit_code == 0  # kept: still valid
    assert exported.agency_cert(AGENCY_ID).read_bytes() == hub.agency_cert(AGENCY_ID).read_bytes()


@pytest.mark.parametrize(
    ("agency_id", "message"),
    [("Food-Bank", "must be 1-63 of [a-z0-9_]"), ("food_bank_", "not end with _")],
)
def test_issue_agency_refuses_a_bad_id(tmp_path: Path, agency_id: str, message: str) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=())
    outcome = CliRunner().invoke(
        main,
        ["pki", "issue-agency", agency_id, "--pki", str(hub.folder), "--out", str(tmp_path / "b")],
    )
    assert outcome.exit_code == 1
    assert message in outcome.output
    assert not (tmp_path / "b").exists()


def test_issue_agency_refuses_the_hubs_own_folder_as_the_bundle(tmp_path: Path) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=())
    outcome = CliRunner().invoke(
        main, ["pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--out", str(hub.folder)]
    )
    assert outcome.exit_code == 1
    assert "must not be the hub's" in outcome.output


def _cli(*args: str) -> tuple[int, str]:
    outcome = CliRunner().invoke(main, list(args))
    return outcome.exit_code, outcome.output


def test_with_a_signing_request_the_agencys_key_never_leaves_it(tmp_path: Path) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=())
    own = tmp_path / "food_bank-tls"  # the agency's machine
    code, out = _cli("pki", "request-agency", AGENCY_ID, "--out", str(own))
    assert code == 0, out
    request = own / f"{AGENCY_ID}.csr"
    key = PkiLayout(own).agency_key(AGENCY_ID)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    reply = tmp_path / "reply"  # what the hub's operator sends back
    code, out = _cli(
        "pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--csr", str(request),
        "--out", str(reply),
    )  # fmt: skip
    assert code == 0, out
    assert "no secret in it" in out
    sent = sorted(str(p.relative_to(reply)) for p in reply.rglob("*") if p.is_file())
    assert sent == ["agencies/food_bank.pem", "ca.pem", "fetch-token-keys.json"]
    certificate = load_certificate(PkiLayout(reply).agency_cert(AGENCY_ID))
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert certificate.public_key() == private.public_key()
    for path in reply.rglob("*"):
        if path.is_file():
            target = own / path.relative_to(reply)
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, target)
    again_key = key.read_bytes()
    assert _cli("pki", "request-agency", AGENCY_ID, "--out", str(own))[0] == 0
    assert key.read_bytes() == again_key  # a second request keeps the key
    with loop_in_thread() as run:
        server, port = run(
            create_adapter_server(MemoryAdapter(DESCRIPTION, {}), tls=PkiLayout(own))
        )
        try:
            code, out = _cli(
                "adapter", "conformance", "--target", f"127.0.0.1:{port}",
                "--subject", "1234567891", "--tls-dir", str(hub.folder), "--agency", AGENCY_ID,
            )  # fmt: skip
        finally:
            run(server.stop(None))
    assert "PASS  token.forged" in out
    assert "PASS  tls.foreign_client_certificate" in out


def _request(key: ec.EllipticCurvePrivateKey, *names: x509.GeneralName) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "food-bank.agency.sakha")])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("request_pem", "message"),
    [
        (b"not a request", "not a PEM certificate signing request"),
        (
            lambda: _request(ec.generate_private_key(ec.SECP384R1())),
            "key is not EC P-256",
        ),
        (
            lambda: _request(
                ec.generate_private_key(ec.SECP256R1()),
                x509.UniformResourceIdentifier("spiffe://sakha/hub"),
            ),
            "names ['spiffe://sakha/hub'], not only food_bank",
        ),
    ],
    ids=["garbage", "p384", "asks-to-be-the-hub"],
)
def test_a_signing_request_that_asks_for_too_much_is_refused(
    tmp_path: Path, request_pem: object, message: str
) -> None:
    hub = init_pki(tmp_path / "hub-pki", agencies=())
    pem = request_pem() if callable(request_pem) else request_pem
    assert isinstance(pem, bytes)
    path = tmp_path / "food_bank.csr"
    path.write_bytes(pem)
    code, out = _cli(
        "pki", "issue-agency", AGENCY_ID, "--pki", str(hub.folder), "--csr", str(path),
        "--out", str(tmp_path / "reply"),
    )  # fmt: skip
    assert code == 1
    assert message in out
    assert not (tmp_path / "reply").exists()
