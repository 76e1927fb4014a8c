"""Loading adapters from YAML: placeholders, relative paths, and errors naming file and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.config import load_adapter_config
from adapters.csv_source import CsvAdapter
from adapters.errors import AdapterConfigError
from adapters.sdk import AdapterLimits, AgencyDescription, FetchQuery
from adapters.sql import SqlAdapter

Config = dict[str, Any]


def _load(path: Path) -> Config:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def _dump(path: Path, config: Config) -> Path:
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def test_relative_data_dir_resolves_against_the_yaml_folder(
    tax_yaml: Path, tax_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    adapter = load_adapter_config(str(tax_yaml), variables={"data_dir": tax_db.parent.name})
    try:
        assert isinstance(adapter, SqlAdapter)
        result = await adapter.fetch(FetchQuery(("0000000002",), ("annual_income",)))
        assert result.values["annual_income"] == [2000]
    finally:
        await adapter.close()


async def test_csv_config(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "gas.csv").write_text(
        "national_id,m3\n0000000001,120\n", encoding="utf-8"
    )
    config: Config = {
        "agency_id": "gas",
        "name": "National Iranian Gas Company",
        "csv": "{exports}/gas.csv",
        "attributes": {
            "monthly_m3": {
                "column": "m3",
                "type": "int64",
                "unit": "m3",
                "sensitivity": "personal",
                "predicates": ["lt", "le", "gt", "ge"],
            }
        },
        "limits": {"max_subjects": 10},
    }
    adapter = load_adapter_config(
        _dump(tmp_path / "gas.yaml", config), variables={"exports": "exports"}
    )
    assert isinstance(adapter, CsvAdapter)
    assert adapter.limits == AdapterLimits(max_subjects=10)
    assert adapter.describe().name_fa == ""
    result = await adapter.fetch(FetchQuery(("0000000001",), ("monthly_m3",)))
    assert result.values["monthly_m3"] == [120]


def test_limits_override(tax_yaml: Path, tmp_path: Path) -> None:
    config = _load(tax_yaml)
    config["limits"] = {"max_subjects": 100, "max_predicates": 3}
    adapter = load_adapter_config(_dump(tmp_path / "t.yaml", config), variables={"data_dir": "x"})
    assert adapter.limits == AdapterLimits(max_subjects=100, max_predicates=3)


def test_description_from_yaml(tax_yaml: Path, tax_description: AgencyDescription) -> None:
    adapter = load_adapter_config(tax_yaml, variables={"data_dir": "/nowhere"})
    assert adapter.describe() == tax_description


def _set(path: str, value: object) -> Callable[[Config], None]:
    def mutate(config: Config) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[Config], None]:
    def mutate(config: Config) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_delete("agency_id"), "agency_id: required key is missing"),
        (
            _set("agency_id", "Tax Office"),
            "agency_id: String should match .*'Tax Office'",
        ),
        (_set("agency_id", 7), "agency_id: Input should be a valid string, got 7"),
        (_set("urls", "x"), "urls: unknown key"),
        (_set("csv", "x.csv"), "url, csv or http: give one, not url and csv"),
        (_delete("subjects_sql"), "subjects_sql: required key is missing"),
        (_set("queries", ["a"]), "queries: expected a mapping, got a list"),
        (_set("queries.income", ""), "queries.income: String should have at least 1 character"),
        (_set("attributes", {}), "attributes: Dictionary should have at least 1 item"),
        (
            _set("attributes.annual_income.type", "integer"),
            "attributes.annual_income.type: Input should be 'bool', 'int64', .*, got 'integer'",
        ),
        (
            _set("attributes.annual_income.sensitivity", "secret"),
            "attributes.annual_income.sensitivity: Input should be 'public', .*, got 'secret'",
        ),
        (
            _delete("attributes.annual_income.sensitivity"),
            "attributes.annual_income.sensitivity: required key is missing",
        ),
        (
            _set("attributes.annual_income.predicates", ["approx"]),
            r"attributes.annual_income.predicates\[0\]: Input should be 'lt', .*, got 'approx'",
        ),
        (
            _set("attributes.annual_income.predicates", "lt"),
            "attributes.annual_income.predicates: Input should be a valid array",
        ),
        (
            _set("attributes.business_license.predicates", ["lt"]),
            r"attributes.business_license.predicates: \['lt'\] cannot be evaluated on a bool",
        ),
        (
            _set("attributes.members.predicates", ["eq"]),
            "attributes.members.predicates: .* cannot be evaluated on a string_list",
        ),
        (_set("attributes.annual_income.colum", "x"), "attributes.annual_income.colum: unknown"),
        (_set("attributes.Income", {}), "attributes.Income: String should match pattern"),
        (
            _set("attributes.annual_income.query", "salaries"),
            "attributes.annual_income.query: no query named 'salaries'",
        ),
        (
            _set("attributes.annual_income.column", "annual_income FROM x --"),
            "attributes.annual_income.column: .* does not match",
        ),
        (_set("url", "sqlite:///{data_root}/tax.sqlite"), r"url: no value for placeholder \{"),
        (_set("url", "::not a url::"), "url: "),
        (_set("url", "nosuchdb://host/db"), "url: "),
        (
            _set("limits", {"max_subjects": 0}),
            "limits.max_subjects: .* greater than or equal to 1",
        ),
        (
            _set("limits", {"max_subjects": True}),
            "limits.max_subjects: .* valid integer, got True",
        ),
        (_set("limits", {"max_rows": 5}), "limits.max_rows: unknown key"),
        (
            _set("queries.income", "SELECT national_id AS subject FROM taxpayers"),
            "queries.income: must filter by ':subjects'",
        ),
    ],
    ids=[
        "missing-agency-id",
        "agency-id-with-space",
        "agency-id-not-a-string",
        "unknown-key",
        "both-url-and-csv",
        "missing-subjects-sql",
        "queries-not-a-mapping",
        "empty-query",
        "no-attributes",
        "unknown-type",
        "unknown-sensitivity",
        "missing-sensitivity",
        "unknown-operator",
        "predicates-not-a-list",
        "ordering-a-bool",
        "comparing-a-list",
        "misspelt-attribute-key",
        "attribute-name-upper-case",
        "unknown-query",
        "unsafe-column",
        "unknown-placeholder",
        "unparseable-url",
        "unknown-database",
        "zero-limit",
        "bool-limit",
        "unknown-limit",
        "query-without-subjects",
    ],
)
def test_bad_config_names_file_and_key(
    tax_yaml: Path, tmp_path: Path, mutate: Callable[[Config], None], message: str
) -> None:
    config = _load(tax_yaml)
    mutate(config)
    path = _dump(tmp_path / "broken.yaml", config)
    with pytest.raises(AdapterConfigError, match=rf"broken\.yaml: {message}"):
        load_adapter_config(path, variables={"data_dir": "data"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agency_id: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping, got a list"),
        (
            "agency_id: x\nname: X\nattributes: {a: {type: bool, sensitivity: public}}\n",
            "url, csv or http: missing",
        ),
    ],
    ids=["not-yaml", "not-a-mapping", "neither-url-csv-nor-http"],
)
def test_unusable_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AdapterConfigError, match=rf"broken\.yaml: {message}"):
        load_adapter_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AdapterConfigError, match=r"absent\.yaml: cannot read"):
        load_adapter_config(tmp_path / "absent.yaml")


def test_missing_csv_file_is_reported_with_the_yaml(tmp_path: Path) -> None:
    config: Config = {
        "agency_id": "gas",
        "name": "Gas",
        "csv": "gas.csv",
        "attributes": {"m3": {"type": "int64", "sensitivity": "personal"}},
    }
    with pytest.raises(AdapterConfigError, match=r"gas\.yaml: .*gas\.csv"):
        load_adapter_config(_dump(tmp_path / "gas.yaml", config))
