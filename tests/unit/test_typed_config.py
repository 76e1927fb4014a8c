"""Every configuration file kind refuses every kind of defect, naming the file and the key.

One table: file kind x (wrong type, quoted boolean, quoted number, unknown key, out of range,
duplicate key, missing required key). Each case writes a valid file with one defect and
expects the loader's error to name the file and the key path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.config import load_adapter_config
from adapters.errors import AdapterConfigError
from gateway.auth.errors import RegistryError
from gateway.auth.registry import load_client_registry
from gateway.client_profile import ProfileError, load_profile
from gateway.config import ALL_OFF, ENVIRONMENT, ConfigError, load_hub_config
from gateway.programs.errors import ProgramError
from gateway.programs.loader import load_program

_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode("ascii")
)
_PEM_BLOCK = "".join(f"          {line}\n" for line in _PEM.splitlines())

HUB = """\
listen: 127.0.0.1:0
insecure: true
agency_timeout_ms: 3000
agencies:
  - {agency_id: tax, target: "127.0.0.1:1"}
"""
REGISTRY = f"""\
organisations:
  - id: relief
    name: Relief
    roles: [checker]
    enabled: true
    rate_limit: {{per_second: 10, burst: 20}}
    keys:
      - kid: relief-1
        pem: |
{_PEM_BLOCK}"""
ADAPTER = """\
agency_id: tax
name: Tax
csv: tax.csv
limits: {max_subjects: 100}
attributes:
  income: {type: int64, sensitivity: financial}
"""
PROFILE = """\
server: 127.0.0.1:50051
ca_file: ca.pem
organisation: relief
kid: relief-1
key_file: key.pem
"""
PROGRAM = """\
id: program
version: "2026.1"
title: {en: Program, fa: برنامه}
description: {en: A program, fa: یک برنامه}
need_category: financial
unit: household
legal_basis: {kind: mandate, mandate: m-1}
purposes: [testing]
parameters:
  max_income: {unit: IRR, values: [{from: 2025-03-21, value: 100}]}
facts:
  income: {aggregate: sum, attributes: [tax.annual_income], absent: 0}
  car:
    aggregate: any
    predicate: {attribute: vehicle_registry.vehicle_value, op: gt, value: 10}
    absent: false
rules:
  - id: income
    expr: "income <= params.max_income && !car"
    pass: {code: INCOME_OK, en: Low income, fa: درآمد کم}
    fail: {code: INCOME_HIGH, en: High income, fa: درآمد زیاد}
"""

Loader = Callable[[Path], object]
KINDS: dict[str, tuple[str, Loader, type[Exception]]] = {
    "hub": (HUB, lambda p: load_hub_config(p, env={}), ConfigError),
    "registry": (REGISTRY, load_client_registry, RegistryError),
    "adapter": (ADAPTER, load_adapter_config, AdapterConfigError),
    "profile": (PROFILE, load_profile, ProfileError),
    "program": (PROGRAM, load_program, ProgramError),
}

# (kind, defect) -> (text to replace, replacement, key path named in the error)
CASES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("hub", "wrong-type"): ("listen: 127.0.0.1:0", "listen: [a]", "listen"),
    ("hub", "quoted-boolean"): ("insecure: true", 'insecure: "true"', "insecure"),
    ("hub", "quoted-number"): (
        "agency_timeout_ms: 3000",
        'agency_timeout_ms: "3000"',
        "agency_timeout_ms",
    ),
    ("hub", "unknown-key"): ("insecure: true", "insecure: true\ninsecur: true", "insecur"),
    ("hub", "out-of-range"): (
        "agency_timeout_ms: 3000",
        "agency_timeout_ms: 0",
        "agency_timeout_ms",
    ),
    ("hub", "duplicate-key"): ("insecure: true", "insecure: true\ninsecure: false", "insecure"),
    ("hub", "missing-required"): ("agency_id: tax, ", "", "agencies[0].agency_id"),
    ("registry", "wrong-type"): ("name: Relief", "name: [Relief]", "organisations[0].name"),
    ("registry", "quoted-boolean"): (
        "enabled: true",
        'enabled: "true"',
        "organisations[0].enabled",
    ),
    ("registry", "quoted-number"): (
        "burst: 20",
        'burst: "20"',
        "organisations[0].rate_limit.burst",
    ),
    ("registry", "unknown-key"): (
        "enabled: true",
        "enabled: true\n    role: x",
        "organisations[0].role",
    ),
    ("registry", "out-of-range"): ("burst: 20", "burst: 0", "organisations[0].rate_limit.burst"),
    ("registry", "duplicate-key"): ("name: Relief", "name: Relief\n    name: Other", "name"),
    ("registry", "missing-required"): ("    roles: [checker]\n", "", "organisations[0].roles"),
    ("adapter", "wrong-type"): ("name: Tax", "name: 7", "name"),
    # Adapter and profile files have no boolean or numeric text keys to quote: their
    # "quoted" cases are the mirror defect, a bare boolean or number where text is expected,
    # which YAML would otherwise hand over as True or 1.
    ("adapter", "quoted-boolean"): (
        "name: Tax",
        "name: Tax\nlist_separator: false",
        "list_separator",
    ),
    ("adapter", "quoted-number"): (
        "max_subjects: 100",
        'max_subjects: "100"',
        "limits.max_subjects",
    ),
    ("adapter", "unknown-key"): ("name: Tax", "name: Tax\nnaem: Tax", "naem"),
    ("adapter", "out-of-range"): ("max_subjects: 100", "max_subjects: 0", "limits.max_subjects"),
    ("adapter", "duplicate-key"): ("name: Tax", "name: Tax\nname: Tax", "name"),
    ("adapter", "missing-required"): (
        ", sensitivity: financial",
        "",
        "attributes.income.sensitivity",
    ),
    ("profile", "wrong-type"): ("kid: relief-1", "kid: [1]", "kid"),
    ("profile", "quoted-boolean"): ("kid: relief-1", "kid: true", "kid"),
    ("profile", "quoted-number"): ("kid: relief-1", "kid: 1", "kid"),
    ("profile", "unknown-key"): ("kid: relief-1", "kid: relief-1\nkdi: x", "kdi"),
    ("profile", "out-of-range"): ("kid: relief-1", 'kid: ""', "kid"),
    ("profile", "duplicate-key"): ("kid: relief-1", "kid: relief-1\nkid: other", "kid"),
    ("profile", "missing-required"): ("kid: relief-1\n", "", "kid"),
    ("program", "wrong-type"): ("purposes: [testing]", "purposes: testing", "purposes"),
    # Program files have no plain boolean key: a quoted one is text, which a boolean fact's
    # ``absent`` refuses.
    ("program", "quoted-boolean"): ("absent: false", 'absent: "false"', "facts.car"),
    ("program", "quoted-number"): (
        "value: 100",
        'value: "100"',
        "parameters.max_income.values[0].value",
    ),
    ("program", "unknown-key"): ("unit: household", "unit: household\nunti: person", "unti"),
    ("program", "out-of-range"): (
        "value: 100",
        f"value: {2**63}",
        "parameters.max_income.values[0].value",
    ),
    ("program", "duplicate-key"): ("unit: household", "unit: household\nunit: person", "unit"),
    ("program", "missing-required"): (
        "    fail: {code: INCOME_HIGH, en: High income, fa: درآمد زیاد}\n",
        "",
        "rules[0].fail",
    ),
}


@pytest.mark.parametrize(("kind", "defect"), list(CASES), ids=[f"{k}-{d}" for k, d in CASES])
def test_defect_is_refused_naming_file_and_key(kind: str, defect: str, tmp_path: Path) -> None:
    valid, load, error = KINDS[kind]
    old, new, key = CASES[kind, defect]
    assert old in valid
    path = tmp_path / f"{kind}.yaml"
    path.write_text(valid.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(error) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message
    if defect == "duplicate-key":
        assert f"duplicate key {key!r}" in message
    else:
        assert f": {key}: " in message, message


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_valid_base_file_loads(kind: str, tmp_path: Path) -> None:
    valid, load, _ = KINDS[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(valid, encoding="utf-8")
    (tmp_path / "tax.csv").write_text("national_id,income\n", encoding="utf-8")
    load(path)


@pytest.mark.parametrize(
    "line",
    ['insecure: "false"', "insecure: on", "insecure: yes", "security: {client_tls: off}"],
)
def test_only_a_real_boolean_switches_security(tmp_path: Path, line: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hub\.yaml: .*Input should be a valid boolean"):
        load_hub_config(path, env={})


def test_security_layers_are_on_unless_switched_off(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        "security: {client_tls: false, client_tokens: false, consent: false}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="agency_ca_file, agency_client_cert_file"):
        load_hub_config(path, env={})
    path.write_text("security: {client_tls: false, client_tokens: false}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="consent needs client_tokens"):
        load_hub_config(path, env={})
    path.write_text("security: {client_tokens: true, client_tls: false}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="client_tokens needs client_tls"):
        load_hub_config(path, env={})


def test_cli_insecure_switches_every_layer_off() -> None:
    layers = load_hub_config(None, env={}, insecure=True).layers
    assert layers == ALL_OFF


BAD_ENV = {
    "SAKHA_LISTEN": "",
    "SAKHA_PROGRAMS_DIR": "",
    "SAKHA_AGENCY_TIMEOUT_MS": "3s",
    "SAKHA_COALESCE_WINDOW_MS": "-1",
    "SAKHA_INSECURE": "off",
    "SAKHA_DB_URL": "",
    "SAKHA_AUDIT_DB_URL": "",
}


def test_every_hub_variable_has_a_bad_value_case() -> None:
    assert set(BAD_ENV) == set(ENVIRONMENT)


@pytest.mark.parametrize(("variable", "value"), list(BAD_ENV.items()))
def test_bad_variable_is_refused_naming_it(variable: str, value: str) -> None:
    env = {variable: value}
    if variable != "SAKHA_INSECURE":
        env["SAKHA_INSECURE"] = "1"
    with pytest.raises(ConfigError, match=re.escape(f"{variable}={value!r}")):
        load_hub_config(None, env=env)
