"""The program loader: a valid file becomes a Program; every defect names the file and key."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import PredicateOperator
from gateway.programs.errors import (
    DuplicateIdError,
    ExpressionError,
    InvalidDateError,
    InvalidValueError,
    MissingKeyError,
    ParameterNotInForceError,
    ProgramError,
    ProgramSyntaxError,
    UndeclaredNameError,
    UndeclaredParameterError,
    UnknownKeyError,
    UnknownProgramError,
)
from gateway.programs.loader import ProgramRegistry, load_program, load_programs
from gateway.programs.model import (
    Aggregate,
    AttributeRef,
    FactPredicate,
    FactScope,
    LegalBasisKind,
    NeedCategory,
    Parameter,
    ParameterValue,
    Program,
    ProgramUnit,
)
from gateway.programs.testing import write_program

LoadDocument = Callable[[Mapping[str, Any]], Program]
Mutation = Callable[[dict[str, Any]], None]


def test_a_valid_file_loads_into_a_program(tmp_path: Path, valid: dict[str, Any]) -> None:
    path = write_program(tmp_path, valid)
    program = load_program(path, in_force_on=dt.date(2026, 6, 1))
    assert program.id == "sample"
    assert program.version == "2026.1"
    assert program.unit is ProgramUnit.HOUSEHOLD
    assert program.need_category is NeedCategory.FINANCIAL
    assert program.legal_basis.kind is LegalBasisKind.CONSENT
    assert program.purposes == ("testing", "caseload_review")
    assert program.ruleset_digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert program.source_path == path.resolve()
    assert program.parameters == (
        Parameter(
            "max_income",
            "IRR",
            (
                ParameterValue(dt.date(2025, 3, 21), 100),
                ParameterValue(dt.date(2026, 3, 21), 130),
            ),
        ),
    )
    car = program.fact("costly_car")
    assert car.aggregate is Aggregate.ANY
    assert car.scope is FactScope.HOUSEHOLD
    assert car.predicate == FactPredicate(
        AttributeRef("vehicle_registry", "vehicle_value"), PredicateOperator.GT, 10
    )
    income, car_rule = program.rules
    assert income.facts == ("income",)
    assert income.parameters == frozenset({"max_income"})
    assert car_rule.facts == ("costly_car",)
    assert income.description == income.on_pass.text  # defaults to the pass text
    (case,) = program.tests
    assert case.as_of == dt.date(2026, 6, 1)
    assert case.members[0] == {"tax.annual_income": 100}
    assert case.expect.rules == {"income": "pass"}


def test_the_parameter_in_force_changes_on_its_date(
    load_document: LoadDocument, valid: dict[str, Any]
) -> None:
    program = load_document(valid)
    assert program.parameters_at(dt.date(2026, 3, 20)) == {"max_income": 100}
    assert program.parameters_at(dt.date(2026, 3, 21)) == {"max_income": 130}
    with pytest.raises(ParameterNotInForceError):
        program.parameters_at(dt.date(2025, 3, 20))


def _set(path: str, value: object) -> Mutation:
    """Set the value at a dotted path (list indexes as numbers)."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return mutate


def _append_rule(rule: dict[str, Any]) -> Mutation:
    return lambda document: document["rules"].append(rule)


def _rule(rule_id: str, expr: str, code: str = "X", en: str = "x") -> dict[str, Any]:
    return {
        "id": rule_id,
        "expr": expr,
        "pass": {"code": f"{code}_OK", "en": en, "fa": "x"},
        "fail": {"code": f"{code}_NO", "en": "x", "fa": "x"},
    }


DEFECTS = [
    # Unknown and missing keys.
    ("unknown-top-level-key", _set("owner", "me"), UnknownKeyError, "owner"),
    (
        "unknown-fact-key",
        _set("facts.income.agregate", "sum"),
        UnknownKeyError,
        "facts.income.agregate",
    ),
    ("unknown-rule-key", _set("rules.0.when", "now"), UnknownKeyError, "rules[0].when"),
    (
        "unknown-test-key",
        _set("tests.0.members_count", 2),
        UnknownKeyError,
        "tests[0].members_count",
    ),
    ("missing-rules", _drop("rules"), MissingKeyError, "rules"),
    ("missing-fail-reason", _drop("rules.0.fail"), MissingKeyError, "rules[0].fail"),
    ("missing-persian-title", _drop("title.fa"), MissingKeyError, "title.fa"),
    ("fact-with-neither-source", _drop("facts.income.attributes"), MissingKeyError, "facts.income"),
    (
        "fact-with-both-sources",
        _set("facts.income.predicate", {"attribute": "tax.annual_income", "op": "gt", "value": 1}),
        MissingKeyError,
        "facts.income",
    ),
    (
        "predicate-with-param-and-value",
        _set("facts.costly_car.predicate.param", "max_income"),
        MissingKeyError,
        "facts.costly_car.predicate",
    ),
    # CEL and names.
    ("cel-does-not-compile", _set("rules.0.expr", "income <="), ExpressionError, "rules[0].expr"),
    (
        "rule-uses-a-float-literal",
        _set("rules.0.expr", "income <= 1.5 * params.max_income"),
        ExpressionError,
        "rules[0].expr",
    ),
    (
        "rule-converts-to-double",
        _set("rules.0.expr", "double(income) <= 3.0e2"),
        ExpressionError,
        "rules[0].expr",
    ),
    (
        "rule-uses-an-undeclared-name",
        _set("rules.0.expr", "salary < 5"),
        UndeclaredNameError,
        "rules[0].expr",
    ),
    (
        "rule-uses-a-comprehension-variable",
        _set("rules.0.expr", "[income].all(x, x < 5)"),
        UndeclaredNameError,
        "rules[0].expr",
    ),
    (
        "rule-uses-an-undeclared-param",
        _set("rules.0.expr", "income <= params.max_salary"),
        UndeclaredParameterError,
        "rules[0].expr",
    ),
    (
        "rule-indexes-params",
        _set("rules.0.expr", "income <= params['max_income']"),
        ExpressionError,
        "rules[0].expr",
    ),
    (
        "predicate-uses-an-undeclared-param",
        _set(
            "facts.costly_car.predicate",
            {"attribute": "vehicle_registry.vehicle_value", "op": "gt", "param": "max_car"},
        ),
        UndeclaredParameterError,
        "facts.costly_car.predicate.param",
    ),
    (
        "reason-interpolates-an-undeclared-fact",
        _set("rules.0.pass.en", "Income {salary}"),
        UndeclaredNameError,
        "rules[0].pass",
    ),
    (
        "reason-uses-a-format-spec",
        _set("rules.0.pass.en", "Income {income!r}"),
        InvalidValueError,
        "rules[0].pass",
    ),
    (
        "reason-reads-an-attribute",
        _set("rules.0.pass.en", "Income {income.__class__}"),
        InvalidValueError,
        "rules[0].pass",
    ),
    (
        "reason-code-reserved-for-the-engine",
        _set("rules.0.fail.code", "SOURCE_FAILED"),
        InvalidValueError,
        "rules[0].fail.code",
    ),
    (
        "reason-code-not-upper-snake",
        _set("rules.0.fail.code", "too-high"),
        InvalidValueError,
        "rules[0].fail",
    ),
    (
        "fact-named-like-a-built-in",
        _set("facts.params", {"aggregate": "count", "attributes": ["tax.annual_income"]}),
        InvalidValueError,
        "facts.params",
    ),
    (
        "fact-named-like-a-cel-keyword",
        _set("facts.in", {"aggregate": "count", "attributes": ["tax.annual_income"]}),
        InvalidValueError,
        "facts.in",
    ),
    # Parameters and dates.
    (
        "parameter-not-yet-in-force",
        _set("parameters.max_income.values", [{"from": "2027-03-21", "value": 1}]),
        ParameterNotInForceError,
        "parameters.max_income",
    ),
    (
        "test-case-before-any-parameter-value",
        _set("tests.0.as_of", "2024-01-01"),
        ParameterNotInForceError,
        "tests[0].as_of",
    ),
    (
        "parameter-with-no-values",
        _set("parameters.max_income.values", []),
        InvalidValueError,
        "parameters.max_income.values",
    ),
    (
        "parameter-dates-out-of-order",
        _set(
            "parameters.max_income.values",
            [{"from": "2026-03-21", "value": 1}, {"from": "2025-03-21", "value": 2}],
        ),
        InvalidDateError,
        "parameters.max_income.values[1].from",
    ),
    (
        "parameter-date-repeated",
        _set(
            "parameters.max_income.values",
            [{"from": "2025-03-21", "value": 1}, {"from": "2025-03-21", "value": 2}],
        ),
        InvalidDateError,
        "parameters.max_income.values[1].from",
    ),
    (
        "malformed-date",
        _set("parameters.max_income.values.0.from", "21/03/2025"),
        InvalidDateError,
        "values[0].from",
    ),
    (
        "impossible-date",
        _set("parameters.max_income.values.0.from", "2025-13-01"),
        InvalidDateError,
        "values[0].from",
    ),
    ("bad-test-date", _set("tests.0.as_of", "soon"), InvalidDateError, "tests[0].as_of"),
    (
        "float-parameter-value",
        _set("parameters.max_income.values.0.value", 1.5),
        InvalidValueError,
        "values[0].value",
    ),
    (
        "boolean-parameter-value",
        _set("parameters.max_income.values.0.value", True),
        InvalidValueError,
        "values[0].value",
    ),
    (
        "parameter-beyond-int64",
        _set("parameters.max_income.values.0.value", 2**63),
        InvalidValueError,
        "values[0].value",
    ),
    # Duplicates.
    ("duplicate-rule-id", _append_rule(_rule("income", "income < 1")), DuplicateIdError, "rules"),
    (
        "duplicate-test-name",
        lambda d: d["tests"].append(dict(d["tests"][0])),
        DuplicateIdError,
        "tests",
    ),
    ("duplicate-purpose", _set("purposes", ["testing", "testing"]), DuplicateIdError, "purposes"),
    (
        "duplicate-attribute",
        _set("facts.income.attributes", ["tax.annual_income", "tax.annual_income"]),
        DuplicateIdError,
        "facts.income.attributes",
    ),
    # Values of the wrong shape.
    ("version-not-quoted", _set("version", 2026.1), InvalidValueError, "version"),
    ("unknown-unit", _set("unit", "family"), InvalidValueError, "unit"),
    (
        "unknown-need-category",
        _set("need_category", "spiritual"),
        InvalidValueError,
        "need_category",
    ),
    (
        "unknown-aggregate",
        _set("facts.income.aggregate", "avg"),
        InvalidValueError,
        "facts.income.aggregate",
    ),
    (
        "unknown-operator",
        _set("facts.costly_car.predicate.op", "between"),
        InvalidValueError,
        "predicate.op",
    ),
    (
        "bad-attribute-reference",
        _set("facts.income.attributes", ["annual_income"]),
        InvalidValueError,
        "facts.income.attributes[0]",
    ),
    (
        "absent-of-the-wrong-type",
        _set("facts.income.absent", False),
        InvalidValueError,
        "facts.income",
    ),
    (
        "absent-on-a-count",
        _set(
            "facts.income", {"aggregate": "count", "attributes": ["tax.annual_income"], "absent": 0}
        ),
        InvalidValueError,
        "facts.income",
    ),
    ("null-absent", _set("facts.income.absent", None), InvalidValueError, "facts.income.absent"),
    (
        "predicate-on-a-sum",
        _set("facts.costly_car.aggregate", "sum"),
        InvalidValueError,
        "facts.costly_car",
    ),
    (
        "mandate-without-its-id",
        _set("legal_basis", {"kind": "mandate"}),
        InvalidValueError,
        "legal_basis",
    ),
    (
        "mandate-with-consent-limits",
        _set("legal_basis.mandate", "m-1"),
        InvalidValueError,
        "legal_basis.consent",
    ),
    (
        "consent-without-limits",
        _set("legal_basis", {"kind": "consent"}),
        InvalidValueError,
        "legal_basis.consent",
    ),
    (
        "periodic-consent-without-frequency",
        _set("legal_basis.consent.max_frequency", None),
        InvalidValueError,
        "legal_basis.consent.max_frequency",
    ),
    (
        "one-time-consent-with-frequency",
        _set("legal_basis.consent.fetch_type", "ONE_TIME"),
        InvalidValueError,
        "legal_basis.consent.max_frequency",
    ),
    (
        "consent-validity-as-text",
        _set("legal_basis.consent.max_validity_days", "365"),
        InvalidValueError,
        "legal_basis.consent.max_validity_days",
    ),
    (
        "unknown-fetch-type",
        _set("legal_basis.consent.fetch_type", "ALWAYS"),
        InvalidValueError,
        "legal_basis.consent.fetch_type",
    ),
    (
        "citation-is-not-a-key",
        _set("legal_basis.citation", "Art. 1"),
        UnknownKeyError,
        "legal_basis.citation",
    ),
    ("no-purposes", _set("purposes", []), InvalidValueError, "purposes"),
    ("no-rules", _set("rules", []), InvalidValueError, "rules"),
    ("rules-not-a-list", _set("rules", {"income": "income < 1"}), InvalidValueError, "rules"),
    (
        "test-data-with-a-wildcard",
        _set("tests.0.members", [{"*.deposit_balance": 1}]),
        InvalidValueError,
        "tests[0].members[0]",
    ),
    (
        "test-expects-an-unknown-rule",
        _set("tests.0.expect.rules", {"wealth": "pass"}),
        UndeclaredNameError,
        "tests[0].expect.rules.wealth",
    ),
    (
        "test-expects-an-unknown-outcome",
        _set("tests.0.expect.decision", "maybe"),
        InvalidValueError,
        "tests[0].expect.decision",
    ),
    (
        "person-test-with-two-members",
        lambda d: d.update(unit="person"),
        InvalidValueError,
        "tests[0].members",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "error", "key"),
    [pytest.param(m, e, k, id=name) for name, m, e, k in DEFECTS],
)
def test_every_defect_is_reported_with_the_file_and_key(
    tmp_path: Path,
    valid: dict[str, Any],
    mutate: Mutation,
    error: type[ProgramError],
    key: str,
) -> None:
    mutate(valid)
    path = write_program(tmp_path, valid)
    with pytest.raises(error) as raised:
        load_program(path, in_force_on=dt.date(2026, 6, 1))
    assert str(raised.value).startswith(f"{path}: ")
    assert key in str(raised.value)


@pytest.mark.parametrize(
    ("content", "error", "fragment"),
    [
        pytest.param(
            b"id: a\nid: b\n",
            DuplicateIdError,
            "line 2: duplicate key 'id'",
            id="duplicate-yaml-key",
        ),
        pytest.param(
            b"id: [unclosed\n", ProgramSyntaxError, "not valid YAML", id="yaml-syntax-error"
        ),
        pytest.param(b"id: \xff\xfe\n", ProgramSyntaxError, "not UTF-8", id="not-utf8"),
        pytest.param(b"- a list\n", InvalidValueError, "expected a mapping", id="not-a-mapping"),
        pytest.param(b"", InvalidValueError, "expected a mapping", id="empty-file"),
        pytest.param(
            b"facts: {a: 1, a: 2}\n",
            DuplicateIdError,
            "duplicate key 'a'",
            id="duplicate-nested-key",
        ),
    ],
)
def test_files_that_are_not_program_documents_are_refused(
    tmp_path: Path, content: bytes, error: type[ProgramError], fragment: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content)
    with pytest.raises(error, match=r"broken.yaml") as raised:
        load_program(path)
    assert fragment in str(raised.value)


def test_the_id_must_match_the_file_name(tmp_path: Path, valid: dict[str, Any]) -> None:
    path = write_program(tmp_path, valid).rename(tmp_path / "other.yaml")
    with pytest.raises(InvalidValueError, match=r"other.yaml: id: 'sample' differs"):
        load_program(path, in_force_on=dt.date(2026, 6, 1))


def test_a_missing_file_is_a_program_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramSyntaxError, match=r"absent.yaml"):
        load_program(tmp_path / "absent.yaml")


def test_params_in_strings_and_comments_are_not_references(
    load_document: LoadDocument, valid: dict[str, Any]
) -> None:
    valid["rules"][0]["expr"] = (
        "income <= params.max_income // not params.other 1.5\n && 'params.x 2.5' != ''"
    )
    assert load_document(valid).rules[0].parameters == frozenset({"max_income"})


def test_a_reason_may_interpolate_household_size(
    load_document: LoadDocument, valid: dict[str, Any]
) -> None:
    valid["rules"][0]["pass"]["en"] = "Income fits {household_size} members ({income})"
    assert load_document(valid).rules[0].on_pass.fields == {"household_size", "income"}


def test_the_loader_checks_parameters_against_today_by_default(
    tmp_path: Path, valid: dict[str, Any]
) -> None:
    valid["parameters"]["max_income"]["values"] = [{"from": "2999-01-01", "value": 1}]
    valid["tests"] = []
    with pytest.raises(ParameterNotInForceError, match=r"parameters.max_income"):
        load_program(write_program(tmp_path, valid))


def test_a_registry_serves_programs_by_id(tmp_path: Path, valid: dict[str, Any]) -> None:
    write_program(tmp_path, valid)
    write_program(tmp_path, {**valid, "id": "another"})
    (tmp_path / "notes.txt").write_text("not a program", encoding="utf-8")
    registry = load_programs(tmp_path, in_force_on=dt.date(2026, 6, 1))
    assert [p.id for p in registry.all()] == ["another", "sample"]
    assert registry.get("sample").id == "sample"
    assert "sample" in registry
    assert len(registry) == 2
    with pytest.raises(UnknownProgramError) as raised:
        registry.get("missing")
    assert raised.value.program_id == "missing"
    assert raised.value.known == ("another", "sample")
    assert str(raised.value) == (
        "unknown program 'missing'; the programs served are another, sample"
    )


def test_a_registry_refuses_two_programs_with_one_id(tmp_path: Path, valid: dict[str, Any]) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    day = dt.date(2026, 6, 1)
    programs = [
        load_program(write_program(folder, valid), in_force_on=day) for folder in (first, second)
    ]
    with pytest.raises(DuplicateIdError, match="'sample' is also defined in"):
        ProgramRegistry(programs)


@pytest.mark.parametrize(
    "folder",
    [pytest.param("empty", id="no-program-files"), pytest.param("missing", id="no-such-folder")],
)
def test_a_folder_without_programs_is_refused(tmp_path: Path, folder: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProgramSyntaxError):
        load_programs(tmp_path / folder)


def test_a_defective_file_stops_the_whole_registry(tmp_path: Path, valid: dict[str, Any]) -> None:
    write_program(tmp_path, valid)
    write_program(tmp_path, {**valid, "id": "broken", "unit": "family"})
    with pytest.raises(InvalidValueError, match=r"broken.yaml: unit"):
        load_programs(tmp_path, in_force_on=dt.date(2026, 6, 1))
