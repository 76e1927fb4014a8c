"""Loading program files: every defect is a :class:`ProgramError` naming the file and the key.

Programs are loaded once, at start-up, and the loader is strict on purpose: unknown keys,
duplicate YAML keys, CEL that does not compile, names a rule uses but nobody declared,
parameters without a value in force, bad dates and duplicate ids all stop the start.
The file's bytes are hashed (SHA-256) into ``ruleset_digest`` so a decision can be replayed
against the exact rule set that made it.

The format (``<id>.yaml``; the shipped programs in ``builtin/`` are complete examples)::

    id: livelihood_basket              # lower_snake_case, equal to the file name
    version: "2026.1"                  # quoted text
    title: {en: ..., fa: ...}
    description: {en: ..., fa: ...}
    need_category: financial           # financial | medical | social_work | emotional
    unit: household                    # person | household
    legal_basis: {kind: consent}       # or {kind: mandate, citation: "..."}
    purposes: [livelihood_support]
    parameters:                        # integers only (money in rials)
      max_income: {unit: IRR, values: [{from: 2025-03-21, value: 300000000}, ...]}
    facts:                             # the names rules may use, besides the built-ins
      income:
        aggregate: sum                 # sum count min max any all none count_true agencies_true
        attributes: [tax.annual_income, "*.deposit_balance"]   # quote a leading '*'
        absent: 0                      # an absent record's value; omit: absence -> UNKNOWN
        scope: household               # or subject: only the subject's cells count
      costly_car:                      # a predicate fact (boolean aggregates only)
        aggregate: any
        predicate: {attribute: vehicle_registry.vehicle_value, op: gt, param: max_car}
        absent: false                  # 'value: <literal>' instead of 'param' also works
    rules:
      - id: income
        expr: "income <= 12 * household_size * params.max_income"   # CEL, compiled at load
        description: {en: ..., fa: ...}                              # optional
        pass: {code: INCOME_OK, en: ..., fa: ...}
        fail: {code: INCOME_HIGH, en: "... {income} ...", fa: ...}  # {fact} interpolation
    tests:
      - name: ...
        as_of: 2026-06-01
        members: [{tax.annual_income: 1}, {}]   # subject first; a missing key = no record
        unavailable: [tax]                       # agencies simulated as failed
        expect: {decision: eligible, rules: {income: pass}, reason_codes: [INCOME_OK]}

Built-in CEL names: ``params`` (the parameters in force on the decision date, read only as
``params.<name>``) and ``household_size`` (members of the unit; 1 for person programs).
Reason texts may interpolate facts and ``household_size`` as ``{name}``, nothing else. CEL
comprehension macros (``all``, ``exists``, ``map``...) are not supported: their variables
look like undeclared names. Start an expression with ``!`` only inside quotes (YAML tag).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn, TypeVar

import cel
import yaml

from adapters.sdk import PredicateOperator, Value
from adapters.strict_yaml import DuplicateKeyError, load_strict
from gateway.engine.outcome import Decision, ReasonCode, RuleOutcome
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
from gateway.programs.model import (
    BUILTIN_NAMES,
    HOUSEHOLD_SIZE,
    PARAMS,
    Aggregate,
    AttributeRef,
    Expectation,
    Fact,
    FactPredicate,
    FactScope,
    LegalBasis,
    LegalBasisKind,
    LocalizedText,
    NeedCategory,
    Parameter,
    ParameterValue,
    ParamRef,
    Program,
    ProgramTestCase,
    ProgramUnit,
    Reason,
    Rule,
)

_E = TypeVar("_E", bound=enum.Enum)
_T = TypeVar("_T")

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CEL_RESERVED = frozenset(
    {
        *("as", "break", "const", "continue", "else", "false", "for", "function", "if"),
        *("import", "in", "let", "loop", "package", "namespace", "null", "return", "true"),
        *("var", "void", "while"),
    }
)
# String literals and comments, so a scan for ``params`` sees code only.
_CEL_NON_CODE = re.compile(
    r"""[bB]?[rR][bB]?(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'[^'\n]*'|"[^"\n]*")"""
    r"""|[bB]?(?:'''(?:\\[\s\S]|[^\\])*?'''|\"\"\"(?:\\[\s\S]|[^\\])*?\"\"\""""
    r"""|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")"""
    r"""|//[^\n]*"""
)
_PARAMS_USE = re.compile(rf"(?<![\w.]){PARAMS}\b(?P<member>\s*\.\s*(?P<name>[A-Za-z_]\w*))?")
_FLOAT_LITERAL = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+[eE][+-]?\d+)")


class _File:
    """One program file being read: knows its name, so every error can say where."""

    def __init__(self, path: Path) -> None:
        self.name = path.name

    def fail(self, kind: type[ProgramError], key: str, message: str) -> NoReturn:
        """Raise ``kind`` naming this file and ``key``."""
        where = f"{self.name}: {key}" if key else self.name
        raise kind(f"{where}: {message}")

    def mapping(
        self, value: object, key: str, required: Iterable[str], optional: Iterable[str] = ()
    ) -> dict[str, object]:
        """``value`` as a mapping with exactly the allowed keys (all ``required`` present)."""
        if not isinstance(value, dict):
            self.fail(InvalidValueError, key, f"expected a mapping, got {_kind(value)}")
        required = tuple(required)
        allowed = {*required, *optional}
        for name in value:
            if not isinstance(name, str):
                self.fail(InvalidValueError, key, f"key {name!r} is not a string")
            if name not in allowed:
                self.fail(
                    UnknownKeyError, _join(key, name), f"unknown key (allowed: {sorted(allowed)})"
                )
        for name in required:
            if name not in value:
                self.fail(MissingKeyError, _join(key, name), "required key is missing")
        return value

    def names(self, value: object, key: str) -> dict[str, object]:
        """A mapping from identifiers (parameter, fact names) to anything."""
        if not isinstance(value, dict):
            self.fail(InvalidValueError, key, f"expected a mapping, got {_kind(value)}")
        for name in value:
            self.identifier(name, _join(key, str(name)))
        return value

    def sequence(self, value: object, key: str, *, non_empty: bool = False) -> list[object]:
        """``value`` as a list."""
        if not isinstance(value, list):
            self.fail(InvalidValueError, key, f"expected a list, got {_kind(value)}")
        if non_empty and not value:
            self.fail(InvalidValueError, key, "must not be empty")
        return value

    def text(self, value: object, key: str) -> str:
        """A non-blank string."""
        if not isinstance(value, str) or not value.strip():
            self.fail(InvalidValueError, key, f"expected non-empty text, got {_kind(value)}")
        return value

    def identifier(self, value: object, key: str) -> str:
        """A lower_snake_case name."""
        if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
            self.fail(InvalidValueError, key, f"{value!r} is not a lower_snake_case name")
        return value

    def integer(self, value: object, key: str) -> int:
        """An integer (booleans and floats are not integers here)."""
        if type(value) is not int:
            self.fail(InvalidValueError, key, f"expected an integer, got {_kind(value)}")
        return value

    def date(self, value: object, key: str) -> dt.date:
        """An ISO date, ``YYYY-MM-DD``."""
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            self.fail(InvalidDateError, key, f"expected a date YYYY-MM-DD, got {value!r}")
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            self.fail(InvalidDateError, key, f"{value!r} is not a date: {exc}")

    def localized(self, value: object, key: str) -> LocalizedText:
        """``{en: ..., fa: ...}``."""
        body = self.mapping(value, key, ("en", "fa"))
        return LocalizedText(self.text(body["en"], f"{key}.en"), self.text(body["fa"], f"{key}.fa"))

    def choice(self, value: object, key: str, kind: type[_E]) -> _E:
        """One of an enum's values, by its value (``household``, ``gt``...)."""
        allowed = [m.value for m in kind]
        if value not in allowed:
            self.fail(InvalidValueError, key, f"{value!r} is not one of {allowed}")
        return kind(value)

    def unique(self, names: Iterable[str], key: str, what: str) -> None:
        """Fail on the first repeated name."""
        seen: set[str] = set()
        for name in names:
            if name in seen:
                self.fail(DuplicateIdError, key, f"duplicate {what} {name!r}")
            seen.add(name)

    def build(self, key: str, make: Callable[[], _T]) -> _T:
        """Construct a model object, turning its invariant checks into errors naming ``key``."""
        try:
            return make()
        except ValueError as exc:
            self.fail(InvalidValueError, key, str(exc))


_TOP_REQUIRED = (
    "id",
    "version",
    "title",
    "description",
    "need_category",
    "unit",
    "legal_basis",
    "purposes",
    "rules",
)
_TOP_OPTIONAL = ("parameters", "facts", "tests")
_INT64 = (-(2**63), 2**63 - 1)


def load_program(path: Path, *, in_force_on: dt.date | None = None) -> Program:
    """Load and check one program file.

    Args:
        path: the ``<program_id>.yaml`` file.
        in_force_on: every parameter must have a value in force on this date (default:
            today), as must every test case's ``as_of``.

    Raises:
        ProgramError: a subclass naming the file and the key of the first defect found.
    """
    path = Path(path)
    file = _File(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        file.fail(ProgramSyntaxError, "", f"cannot read the file: {exc.strerror}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        file.fail(ProgramSyntaxError, "", f"not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        document = load_strict(text, dates_as_text=True)
    except DuplicateKeyError as exc:
        file.fail(DuplicateIdError, "", str(exc))
    except yaml.YAMLError as exc:
        file.fail(ProgramSyntaxError, "", f"not valid YAML: {exc}")
    return _read_program(
        file,
        document,
        path=path,
        digest=hashlib.sha256(data).hexdigest(),
        in_force_on=in_force_on or dt.date.today(),
    )


class ProgramRegistry:
    """The loaded programs, by id (immutable)."""

    def __init__(self, programs: Iterable[Program]) -> None:
        """Register ``programs``; two with the same id are a :class:`DuplicateIdError`."""
        by_id: dict[str, Program] = {}
        for program in programs:
            other = by_id.get(program.id)
            if other is not None:
                raise DuplicateIdError(
                    f"{program.source_path}: id: program {program.id!r} is also defined in "
                    f"{other.source_path}"
                )
            by_id[program.id] = program
        self._programs: Mapping[str, Program] = MappingProxyType(dict(sorted(by_id.items())))

    def get(self, program_id: str) -> Program:
        """The program called ``program_id``; :class:`UnknownProgramError` if none."""
        program = self._programs.get(program_id)
        if program is None:
            raise UnknownProgramError(program_id)
        return program

    def all(self) -> tuple[Program, ...]:
        """Every program, sorted by id."""
        return tuple(self._programs.values())

    def __len__(self) -> int:
        return len(self._programs)

    def __contains__(self, program_id: object) -> bool:
        return program_id in self._programs


def load_programs(folder: Path, *, in_force_on: dt.date | None = None) -> ProgramRegistry:
    """Load every ``*.yaml`` program in ``folder`` (see :func:`load_program`).

    Raises:
        ProgramError: the folder is missing or holds no program, or any file is defective.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ProgramSyntaxError(f"{folder}: not a folder of programs")
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ProgramSyntaxError(f"{folder}: no *.yaml program files")
    return ProgramRegistry(load_program(p, in_force_on=in_force_on) for p in paths)


def _read_program(
    file: _File, document: object, *, path: Path, digest: str, in_force_on: dt.date
) -> Program:
    top = file.mapping(document, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    program_id = file.identifier(top["id"], "id")
    if program_id != path.stem:
        file.fail(InvalidValueError, "id", f"{program_id!r} differs from the file name")
    version = top["version"]
    if not isinstance(version, str) or not version.strip():
        file.fail(InvalidValueError, "version", f"expected quoted text, got {_kind(version)}")
    unit = file.choice(top["unit"], "unit", ProgramUnit)
    purposes = tuple(
        file.identifier(v, f"purposes[{i}]")
        for i, v in enumerate(file.sequence(top["purposes"], "purposes", non_empty=True))
    )
    file.unique(purposes, "purposes", "purpose")
    parameters = _read_parameters(file, top.get("parameters", {}))
    facts = _read_facts(file, top.get("facts", {}), parameters)
    rules = _read_rules(file, top["rules"], facts, parameters)
    tests = _read_tests(file, top.get("tests", []), unit, rules)
    for name, parameter in parameters.items():
        for when, key in [(in_force_on, f"parameters.{name}")] + [
            (case.as_of, f"tests[{i}].as_of") for i, case in enumerate(tests)
        ]:
            try:
                parameter.value_at(when)
            except ParameterNotInForceError as exc:
                file.fail(ParameterNotInForceError, key, str(exc))
    return Program(
        id=program_id,
        version=version,
        title=file.localized(top["title"], "title"),
        description=file.localized(top["description"], "description"),
        need_category=file.choice(top["need_category"], "need_category", NeedCategory),
        unit=unit,
        legal_basis=_read_legal_basis(file, top["legal_basis"]),
        purposes=purposes,
        parameters=tuple(parameters.values()),
        facts=tuple(facts.values()),
        rules=rules,
        tests=tests,
        ruleset_digest=digest,
        source_path=path.resolve(),
    )


def _read_legal_basis(file: _File, value: object) -> LegalBasis:
    body = file.mapping(value, "legal_basis", ("kind",), ("citation",))
    kind = file.choice(body["kind"], "legal_basis.kind", LegalBasisKind)
    citation = ""
    if "citation" in body:
        citation = file.text(body["citation"], "legal_basis.citation")
    return file.build("legal_basis", lambda: LegalBasis(kind, citation))


def _read_parameters(file: _File, value: object) -> dict[str, Parameter]:
    parameters: dict[str, Parameter] = {}
    for name, spec in file.names(value, "parameters").items():
        key = f"parameters.{name}"
        body = file.mapping(spec, key, ("unit", "values"))
        unit = file.text(body["unit"], f"{key}.unit")
        dated: list[ParameterValue] = []
        for i, item in enumerate(file.sequence(body["values"], f"{key}.values", non_empty=True)):
            item_key = f"{key}.values[{i}]"
            entry = file.mapping(item, item_key, ("from", "value"))
            when = file.date(entry["from"], f"{item_key}.from")
            if dated and when <= dated[-1].effective_from:
                file.fail(InvalidDateError, f"{item_key}.from", "dates must strictly increase")
            amount = _int64(file, entry["value"], f"{item_key}.value")
            dated.append(ParameterValue(when, amount))
        parameters[name] = file.build(key, functools.partial(Parameter, name, unit, tuple(dated)))
    return parameters


def _read_facts(file: _File, value: object, parameters: Mapping[str, Parameter]) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    for name, spec in file.names(value, "facts").items():
        key = f"facts.{name}"
        if name in BUILTIN_NAMES or name in _CEL_RESERVED:
            file.fail(InvalidValueError, key, f"{name!r} is reserved (built-in or CEL keyword)")
        facts[name] = _read_fact(file, name, spec, key, parameters)
    return facts


def _read_fact(
    file: _File, name: str, spec: object, key: str, parameters: Mapping[str, Parameter]
) -> Fact:
    body = file.mapping(spec, key, ("aggregate",), ("attributes", "predicate", "absent", "scope"))
    aggregate = file.choice(body["aggregate"], f"{key}.aggregate", Aggregate)
    if ("attributes" in body) == ("predicate" in body):
        file.fail(MissingKeyError, key, "needs exactly one of 'attributes' and 'predicate'")
    attributes: tuple[AttributeRef, ...] = ()
    predicate: FactPredicate | None = None
    if "attributes" in body:
        listed = file.sequence(body["attributes"], f"{key}.attributes", non_empty=True)
        attributes = tuple(_ref(file, v, f"{key}.attributes[{i}]") for i, v in enumerate(listed))
        file.unique((str(a) for a in attributes), f"{key}.attributes", "attribute")
    else:
        predicate = _read_predicate(file, body["predicate"], f"{key}.predicate", parameters)
    absent: bool | int | str | None = None
    if "absent" in body:
        absent = _scalar(file, body["absent"], f"{key}.absent")
    scope = FactScope.HOUSEHOLD
    if "scope" in body:
        scope = file.choice(body["scope"], f"{key}.scope", FactScope)
    return file.build(
        key,
        lambda: Fact(name, aggregate, attributes, predicate, absent=absent, scope=scope),
    )


def _read_predicate(
    file: _File, value: object, key: str, parameters: Mapping[str, Parameter]
) -> FactPredicate:
    body = file.mapping(value, key, ("attribute", "op"), ("param", "value"))
    attribute = _ref(file, body["attribute"], f"{key}.attribute")
    operator = file.choice(body["op"], f"{key}.op", PredicateOperator)
    if ("param" in body) == ("value" in body):
        file.fail(MissingKeyError, key, "needs exactly one of 'param' and 'value'")
    if "param" in body:
        param = file.identifier(body["param"], f"{key}.param")
        if param not in parameters:
            file.fail(UndeclaredParameterError, f"{key}.param", f"{param!r} is not declared")
        return FactPredicate(attribute, operator, ParamRef(param))
    return FactPredicate(attribute, operator, _scalar(file, body["value"], f"{key}.value"))


def _read_rules(
    file: _File,
    value: object,
    facts: Mapping[str, Fact],
    parameters: Mapping[str, Parameter],
) -> tuple[Rule, ...]:
    rules = tuple(
        _read_rule(file, item, f"rules[{i}]", facts, parameters)
        for i, item in enumerate(file.sequence(value, "rules", non_empty=True))
    )
    file.unique((r.id for r in rules), "rules", "rule id")
    return rules


def _read_rule(
    file: _File,
    value: object,
    key: str,
    facts: Mapping[str, Fact],
    parameters: Mapping[str, Parameter],
) -> Rule:
    body = file.mapping(value, key, ("id", "expr", "pass", "fail"), ("description",))
    rule_id = file.identifier(body["id"], f"{key}.id")
    expression = file.text(body["expr"], f"{key}.expr")
    try:
        compiled = cel.compile(expression)
    except (ValueError, RuntimeError) as exc:
        file.fail(ExpressionError, f"{key}.expr", f"does not compile: {exc}")
    names = set(compiled.variables())
    undeclared = sorted(names - facts.keys() - BUILTIN_NAMES)
    if undeclared:
        file.fail(
            UndeclaredNameError,
            f"{key}.expr",
            f"{undeclared} are neither declared facts nor built-ins {sorted(BUILTIN_NAMES)} "
            "(comprehension variables are not supported)",
        )
    if "double" in compiled.functions() or _FLOAT_LITERAL.search(_code_only(expression)):
        file.fail(ExpressionError, f"{key}.expr", "no floating point: money is integer rials")
    used_parameters = _parameters_used(file, expression, f"{key}.expr")
    missing = sorted(used_parameters - parameters.keys())
    if missing:
        file.fail(UndeclaredParameterError, f"{key}.expr", f"params {missing} are not declared")
    on_pass = _read_reason(file, body["pass"], f"{key}.pass", facts)
    on_fail = _read_reason(file, body["fail"], f"{key}.fail", facts)
    used = names | on_pass.fields | on_fail.fields
    description = on_pass.text
    if "description" in body:
        description = file.localized(body["description"], f"{key}.description")
    return Rule(
        id=rule_id,
        expression=expression,
        compiled=compiled,
        facts=tuple(name for name in facts if name in used),
        parameters=frozenset(used_parameters),
        on_pass=on_pass,
        on_fail=on_fail,
        description=description,
    )


def _parameters_used(file: _File, expression: str, key: str) -> set[str]:
    """The ``params.<name>`` an expression reads; any other use of ``params`` is refused."""
    used: set[str] = set()
    for match in _PARAMS_USE.finditer(_code_only(expression)):
        if match.group("member") is None:
            file.fail(ExpressionError, key, f"use {PARAMS}.<name>, so every parameter is known")
        used.add(match.group("name"))
    return used


def _code_only(expression: str) -> str:
    """``expression`` with its string literals and comments blanked out."""
    return _CEL_NON_CODE.sub(" ", expression)


def _read_reason(file: _File, value: object, key: str, facts: Mapping[str, Fact]) -> Reason:
    body = file.mapping(value, key, ("code", "en", "fa"))
    code = file.text(body["code"], f"{key}.code")
    if code in ReasonCode.ALL:
        file.fail(InvalidValueError, f"{key}.code", f"{code!r} is reserved for the engine")
    text = file.localized({"en": body["en"], "fa": body["fa"]}, key)
    reason = file.build(key, lambda: Reason(code, text))
    unknown = sorted(reason.fields - facts.keys() - {HOUSEHOLD_SIZE})
    if unknown:
        file.fail(UndeclaredNameError, key, f"text interpolates {unknown}, not declared facts")
    return reason


def _read_tests(
    file: _File, value: object, unit: ProgramUnit, rules: tuple[Rule, ...]
) -> tuple[ProgramTestCase, ...]:
    cases = tuple(
        _read_case(file, item, f"tests[{i}]", unit, {r.id for r in rules})
        for i, item in enumerate(file.sequence(value, "tests"))
    )
    file.unique((c.name for c in cases), "tests", "test name")
    return cases


def _read_case(
    file: _File, value: object, key: str, unit: ProgramUnit, rule_ids: set[str]
) -> ProgramTestCase:
    body = file.mapping(value, key, ("name", "as_of", "members", "expect"), ("unavailable",))
    listed = file.sequence(body["members"], f"{key}.members", non_empty=True)
    if unit is ProgramUnit.PERSON and len(listed) != 1:
        file.fail(InvalidValueError, f"{key}.members", "a person program's case has one member")
    members = tuple(_read_member(file, m, f"{key}.members[{i}]") for i, m in enumerate(listed))
    unavailable: tuple[str, ...] = ()
    if "unavailable" in body:
        unavailable = tuple(
            file.identifier(v, f"{key}.unavailable[{i}]")
            for i, v in enumerate(file.sequence(body["unavailable"], f"{key}.unavailable"))
        )
        file.unique(unavailable, f"{key}.unavailable", "agency")
    return ProgramTestCase(
        name=file.text(body["name"], f"{key}.name"),
        as_of=file.date(body["as_of"], f"{key}.as_of"),
        members=members,
        expect=_read_expectation(file, body["expect"], f"{key}.expect", rule_ids),
        unavailable=unavailable,
    )


def _read_member(file: _File, value: object, key: str) -> Mapping[str, Value]:
    if not isinstance(value, dict):
        file.fail(InvalidValueError, key, f"expected a mapping, got {_kind(value)}")
    member: dict[str, Value] = {}
    for name, item in value.items():
        ref = _ref(file, name, f"{key}.{name}")
        if ref.is_wildcard:
            file.fail(InvalidValueError, f"{key}.{name}", "test data names one agency, not '*'")
        if isinstance(item, list) and all(isinstance(v, str) for v in item):
            member[str(ref)] = tuple(item)
        else:
            member[str(ref)] = _scalar(file, item, f"{key}.{name}")
    return MappingProxyType(member)


def _read_expectation(file: _File, value: object, key: str, rule_ids: set[str]) -> Expectation:
    body = file.mapping(value, key, ("decision",), ("rules", "reason_codes"))
    decision = file.choice(body["decision"], f"{key}.decision", Decision)
    outcomes: dict[str, str] = {}
    if "rules" in body:
        for rule_id, outcome in file.names(body["rules"], f"{key}.rules").items():
            if rule_id not in rule_ids:
                file.fail(UndeclaredNameError, f"{key}.rules.{rule_id}", "no such rule")
            outcomes[rule_id] = file.choice(outcome, f"{key}.rules.{rule_id}", RuleOutcome).value
    codes: tuple[str, ...] | None = None
    if "reason_codes" in body:
        codes = tuple(
            file.text(v, f"{key}.reason_codes[{i}]")
            for i, v in enumerate(file.sequence(body["reason_codes"], f"{key}.reason_codes"))
        )
    return Expectation(decision.value, MappingProxyType(outcomes), codes)


def _ref(file: _File, value: object, key: str) -> AttributeRef:
    if not isinstance(value, str):
        file.fail(InvalidValueError, key, f"expected 'agency.attribute', got {_kind(value)}")
    return file.build(key, lambda: AttributeRef.parse(value))


def _scalar(file: _File, value: object, key: str) -> bool | int | str:
    if isinstance(value, bool | str):
        return value
    return _int64(file, value, key)


def _int64(file: _File, value: object, key: str) -> int:
    number = file.integer(value, key)
    if not _INT64[0] <= number <= _INT64[1]:
        file.fail(InvalidValueError, key, f"{number} does not fit in 64 bits")
    return number


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
