"""``docs/consent.md`` is true: its examples run and its tables match the code.

The program-file snippets validate and load; the offline verification commands and the
PyJWT example verify a freshly signed artefact and refuse it once one byte changes; the
signed payload shown is what the signer signs; the refusal, lifecycle and built-in program
tables list exactly what the code has; every documented command line parses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import yaml
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.typed_config import validate
from consent import (
    CollectionMethod,
    ConsentArtefact,
    ConsentSigner,
    DenialReason,
    Grantor,
    jwk_set,
    widest_artefact,
)
from consent.payload import artefact_payload
from consent.status import CONSENT_TRANSITIONS, ConsentStatus
from gateway.cli import main
from gateway.engine.planner import plan
from gateway.legal_basis import consent_template
from gateway.programs.file_model import LegalBasisFile
from gateway.programs.loader import load_program
from gateway.programs.model import LegalBasisKind, Program
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR
from gateway.programs.testing import simulated_catalogue
from tests.docs.guide import code, commands, parses, table
from tests.docs.test_docs_examples import example

GUIDE = "consent.md"
AS_OF = dt.date(2026, 6, 1)


# --- the program file's legal_basis -----------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("program-legal-basis-consent", LegalBasisKind.CONSENT),
        ("program-legal-basis-mandate", LegalBasisKind.MANDATE),
    ],
)
def test_the_legal_basis_snippets_validate(tag: str, kind: LegalBasisKind) -> None:
    snippet = yaml.safe_load(example(GUIDE, tag))
    assert set(snippet) == {"legal_basis"}
    parsed = validate(snippet["legal_basis"], LegalBasisFile, source=tag, error=ValueError)
    assert parsed.kind is kind


def _with_legal_basis(tmp_path: Path, program_id: str, tag: str) -> Program:
    """The built-in program, its ``legal_basis`` replaced by the guide's snippet, loaded."""
    document = yaml.safe_load((BUILTIN_PROGRAMS_DIR / f"{program_id}.yaml").read_bytes())
    document["legal_basis"] = yaml.safe_load(example(GUIDE, tag))["legal_basis"]
    path = tmp_path / f"{program_id}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return load_program(path, in_force_on=AS_OF)


def test_a_program_loads_with_the_consent_snippet(tmp_path: Path) -> None:
    program = _with_legal_basis(tmp_path, "livelihood_basket", "program-legal-basis-consent")
    limits = program.legal_basis.consent
    assert limits is not None
    assert limits.max_validity == dt.timedelta(days=365)
    assert limits.max_data_life == dt.timedelta(days=180)
    assert limits.max_frequency is not None
    assert limits.max_frequency.max_uses == 2


def test_a_program_loads_with_the_mandate_snippet(tmp_path: Path) -> None:
    program = _with_legal_basis(tmp_path, "epidemic_cash_relief", "program-legal-basis-mandate")
    assert program.legal_basis.mandate_id == "epidemic-relief-decree-1399"


def _builtin(program_id: str) -> Program:
    return load_program(BUILTIN_PROGRAMS_DIR / f"{program_id}.yaml", in_force_on=AS_OF)


def test_the_builtin_programs_table_matches_their_files() -> None:
    rows = table(GUIDE, "The built-in programs")
    assert sorted(code(row[0]) for row in rows) == sorted(
        path.stem for path in BUILTIN_PROGRAMS_DIR.glob("*.yaml")
    )
    for program_id, unit, basis, validity, fetch_type, frequency, data_life in (
        (code(row[0]), *row[1:]) for row in rows
    ):
        program = _builtin(program_id)
        assert unit == program.unit.value, program_id
        limits = program.legal_basis.consent
        if limits is None:
            assert basis == f"mandate `{program.legal_basis.mandate_id}`", program_id
            assert {validity, fetch_type, frequency, data_life} == {"—"}, program_id
            continue
        assert basis == "consent", program_id
        assert validity == str(limits.max_validity.days), program_id
        assert fetch_type == limits.fetch_type.value, program_id
        assert limits.max_frequency is not None
        assert frequency == (
            f"{limits.max_frequency.max_uses} per {limits.max_frequency.period.days} days"
        ), program_id
        assert data_life == str(limits.max_data_life.days), program_id


# --- the artefact: payload and offline verification -------------------------------------------


def _documented_payload() -> dict[str, object]:
    payload: dict[str, object] = json.loads(example(GUIDE, "consent-payload-example"))
    return payload


def _documented_artefact() -> ConsentArtefact:
    """The artefact the guide shows, made the way the hub makes a grant's widest consent."""
    shown = _documented_payload()
    consumer, purpose = shown["consumer"], shown["purpose"]
    assert isinstance(consumer, dict)
    assert isinstance(purpose, dict)
    program = _builtin(consumer["program"])
    template = consent_template(plan(program, simulated_catalogue(), AS_OF))
    at = dt.datetime.fromisoformat(str(shown["created_at"]))
    return widest_artefact(
        template,
        id=str(shown["id"]),
        subject=str(shown["subject"]),
        grantor=Grantor(str(shown["subject"])),
        organisation_id=consumer["organisation"],
        purpose_code=purpose["code"],
        purpose_text=purpose["text"],
        notice_version=str(shown["notice_version"]),
        collection_method=CollectionMethod(str(shown["collection_method"])),
        valid_from=at,
        created_at=at,
    )


def test_the_payload_shown_is_what_the_hub_signs() -> None:
    assert artefact_payload(_documented_artefact()) == _documented_payload()


@dataclasses.dataclass(frozen=True)
class _Exported:
    """What ``sakha consent export`` and ``sakha consent jwks`` wrote, in ``folder``."""

    folder: Path
    jws: Path
    jwks: Path


@pytest.fixture
def exported(tmp_path: Path) -> _Exported:
    """A freshly signed artefact and its JWK Set, named as the guide's commands name them."""
    export, keys = commands(GUIDE, "consent-verify-commands")[:2]
    assert export[:2] == ["consent", "export"]
    assert keys[:2] == ["consent", "jwks"]
    signer = ConsentSigner(ed25519.Ed25519PrivateKey.generate(), "consent-2026-1")
    jws, jwks = tmp_path / export[export.index("--out") + 1], tmp_path / keys[-1]
    jws.write_text(signer.sign_artefact(_documented_artefact()), encoding="utf-8")
    jwks.write_text(json.dumps(jwk_set([signer.public_jwk()])), encoding="utf-8")
    return _Exported(tmp_path, jws, jwks)


def _tamper(path: Path) -> None:
    """Change one character in the middle of the signed payload."""
    header, payload, signature = path.read_text(encoding="utf-8").split(".")
    middle = len(payload) // 2
    swapped = "B" if payload[middle] == "A" else "A"
    changed = f"{payload[:middle]}{swapped}{payload[middle + 1 :]}"
    path.write_text(f"{header}.{changed}.{signature}", encoding="utf-8")


@contextlib.contextmanager
def _inside(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in ``folder``, where the guide's relative file names point."""
    with monkeypatch.context() as patch:
        patch.chdir(folder)
        yield


def _sakha_verify(exported: _Exported, monkeypatch: pytest.MonkeyPatch) -> Result:
    verify = commands(GUIDE, "consent-verify-commands")[2]
    assert verify[:2] == ["consent", "verify"]
    with _inside(exported.folder, monkeypatch):
        return CliRunner().invoke(main, verify)


def _run_python_example(exported: _Exported, monkeypatch: pytest.MonkeyPatch) -> str:
    code = compile(example(GUIDE, "consent-verify-example"), "consent-verify-example", "exec")
    printed = io.StringIO()
    with _inside(exported.folder, monkeypatch), contextlib.redirect_stdout(printed):
        exec(code, {"__name__": "__consent_doc__"})  # noqa: S102 - the guide's own example
    return printed.getvalue()


def test_sakha_consent_verify_verifies_the_export(
    exported: _Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _sakha_verify(exported, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "signature verified" in result.stdout
    assert str(_documented_payload()["subject"]) in result.stdout


def test_the_pyjwt_example_verifies_the_export(
    exported: _Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = _run_python_example(exported, monkeypatch)
    shown = _documented_payload()
    assert printed.split()[:2] == [shown["id"], shown["subject"]]


def test_one_changed_byte_is_refused_by_both(
    exported: _Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tamper(exported.jws)
    result = _sakha_verify(exported, monkeypatch)
    assert result.exit_code == 1
    assert "BAD_SIGNATURE" in result.output
    with pytest.raises(jwt.InvalidSignatureError):
        _run_python_example(exported, monkeypatch)


# --- the tables ---------------------------------------------------------------------------------


def test_the_refusal_table_lists_every_denial_reason_once() -> None:
    codes = [code(row[0]) for row in table(GUIDE, "Refusal reasons")]
    assert len(codes) == len(set(codes)), "a code is listed twice"
    assert set(codes) == {reason.value for reason in DenialReason}
    assert all(row[1] for row in table(GUIDE, "Refusal reasons")), "a code has no meaning"


def test_the_lifecycle_table_is_the_allowed_transitions() -> None:
    rows = table(GUIDE, "Lifecycle")
    listed = [(ConsentStatus(code(row[0])), ConsentStatus(code(row[1]))) for row in rows]
    assert len(listed) == len(set(listed)), "a transition is listed twice"
    assert set(listed) == {
        (before, after) for before, targets in CONSENT_TRANSITIONS.items() for after in targets
    }


# --- the command lines ----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["consent-grant-example", "consent-manage-example"])
def test_the_documented_commands_parse(tag: str) -> None:
    for words in commands(GUIDE, tag):
        parses(words)
