"""Loading program files: every defect is a :class:`ProgramError` naming the file and the key.

Programs are loaded once, at start-up, and the loader is strict on purpose. A file is parsed
onto :class:`~gateway.programs.file_model.ProgramFile` by the helper every configuration file
goes through (:mod:`adapters.typed_config`), which refuses wrong types, unknown, repeated and
missing keys and values out of bounds; this module then checks what a type cannot say (CEL
that does not compile, names a rule uses but nobody declared, parameters without a value in
force, dates out of order, duplicate ids) and builds the :class:`Program` the engine uses.
The file's bytes are hashed (SHA-256) into ``ruleset_digest`` so a decision can be replayed
against the exact rule set that made it. The format: :mod:`gateway.programs.file_model`.

Built-in CEL names: ``params`` (the parameters in force on the decision date, read only as
``params.<name>``) and ``household_size`` (members of the unit; 1 for person programs).
Reason texts may interpolate facts and ``household_size`` as ``{name}``, nothing else. CEL
comprehension macros (``all``, ``exists``, ``map``...) are not supported: their variables
look like undeclared names. Start an expression with ``!`` only inside quotes (YAML tag).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn, TypeVar

import cel

from adapters.sdk import Value
from adapters.strict_yaml import DuplicateKeyError
from adapters.typed_config import load_yaml, located, validate
from consent import FetchType, Frequency
from gateway.engine.outcome import ReasonCode
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
from gateway.programs.file_model import (
    CaseFile,
    ExpectationFile,
    FactFile,
    LegalBasisFile,
    LocalizedTextFile,
    ParameterFile,
    PredicateFile,
    ProgramFile,
    ReasonFile,
    RuleFile,
)
from gateway.programs.model import (
    BUILTIN_NAMES,
    HOUSEHOLD_SIZE,
    PARAMS,
    AttributeRef,
    ConsentLimits,
    Expectation,
    Fact,
    FactPredicate,
    LegalBasis,
    LegalBasisKind,
    LocalizedText,
    Parameter,
    ParameterValue,
    ParamRef,
    Program,
    ProgramTestCase,
    ProgramUnit,
    Reason,
    Rule,
)

_T = TypeVar("_T")

# pydantic's error types that callers tell apart; any other defect is an InvalidValueError.
_ERROR_KINDS: Mapping[str, type[ProgramError]] = MappingProxyType(
    {
        "extra_forbidden": UnknownKeyError,
        "missing": MissingKeyError,
        "date_parsing": InvalidDateError,
        "date_type": InvalidDateError,
    }
)

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
    source = str(path)
    # Bytes, not read_text: the digest must be of the very bytes parsed (read_text would
    # also translate line endings).
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramSyntaxError(located(source, "", f"cannot read: {exc.strerror}")) from exc
    parsed = validate(
        _document(data, source),
        ProgramFile,
        source=source,
        error=InvalidValueError,
        kinds=_ERROR_KINDS,
    )
    return _to_program(
        parsed,
        _Checks(source),
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
            raise UnknownProgramError(program_id, tuple(self._programs))
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


def _document(data: bytes, source: str) -> object:
    """The file's bytes (UTF-8) as YAML; a repeated key is a :class:`DuplicateIdError`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8: {exc.reason} at byte {exc.start}"
        raise ProgramSyntaxError(located(source, "", message)) from exc
    try:
        return load_yaml(text, source=source, error=ProgramSyntaxError)
    except ProgramSyntaxError as exc:
        if isinstance(exc.__cause__, DuplicateKeyError):
            raise DuplicateIdError(str(exc)) from exc.__cause__
        raise


class _Checks:
    """Raises the errors of one program file, each naming the file and a key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, kind: type[ProgramError], key: str, message: str) -> NoReturn:
        """Raise ``kind`` naming the file and ``key``."""
        raise kind(located(self.source, key, message))

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


def _legal_basis(check: _Checks, basis: LegalBasisFile) -> LegalBasis:
    if basis.kind is LegalBasisKind.MANDATE:
        if basis.mandate is None or basis.consent is not None:
            check.fail(
                InvalidValueError,
                "legal_basis",
                "a mandate program names its registered mandate (mandate: <id>) and gives no "
                "consent limits",
            )
        return LegalBasis(basis.kind, mandate_id=basis.mandate)
    limits = basis.consent
    if limits is None or basis.mandate is not None:
        check.fail(
            InvalidValueError,
            "legal_basis.consent",
            "a consent program gives the limits of its consents (max_validity_days, "
            "fetch_type, max_data_life_days, and max_frequency when PERIODIC) and no mandate",
        )
    frequency = limits.max_frequency
    if (limits.fetch_type is FetchType.PERIODIC) != (frequency is not None):
        check.fail(
            InvalidValueError,
            "legal_basis.consent.max_frequency",
            "a PERIODIC consent needs a frequency limit; a ONE_TIME one takes none",
        )
    return LegalBasis(
        basis.kind,
        consent=ConsentLimits(
            max_validity=dt.timedelta(days=limits.max_validity_days),
            fetch_type=limits.fetch_type,
            max_frequency=None
            if frequency is None
            else Frequency(frequency.max_uses, dt.timedelta(days=frequency.per_days)),
            max_data_life=dt.timedelta(days=limits.max_data_life_days),
        ),
    )


def _to_program(
    parsed: ProgramFile, check: _Checks, *, path: Path, digest: str, in_force_on: dt.date
) -> Program:
    """The checks a type cannot express, then the program the engine uses."""
    if parsed.id != path.stem:
        check.fail(InvalidValueError, "id", f"{parsed.id!r} differs from the file name")
    check.unique(parsed.purposes, "purposes", "purpose")
    parameters = _parameters(check, parsed.parameters)
    facts = _facts(check, parsed.facts, parameters)
    rules = _rules(check, parsed.rules, facts, parameters)
    tests = _tests(check, parsed.tests, parsed.unit, rules)
    for name, parameter in parameters.items():
        for when, key in [(in_force_on, f"parameters.{name}")] + [
            (case.as_of, f"tests[{i}].as_of") for i, case in enumerate(tests)
        ]:
            try:
                parameter.value_at(when)
            except ParameterNotInForceError as exc:
                check.fail(ParameterNotInForceError, key, str(exc))
    return Program(
        id=parsed.id,
        version=parsed.version,
        title=_localized(parsed.title),
        description=_localized(parsed.description),
        need_category=parsed.need_category,
        unit=parsed.unit,
        legal_basis=_legal_basis(check, parsed.legal_basis),
        purposes=tuple(parsed.purposes),
        parameters=tuple(parameters.values()),
        facts=tuple(facts.values()),
        rules=rules,
        tests=tests,
        ruleset_digest=digest,
        source_path=path.resolve(),
    )


def _localized(text: LocalizedTextFile) -> LocalizedText:
    return LocalizedText(text.en, text.fa)


def _parameters(check: _Checks, specs: Mapping[str, ParameterFile]) -> dict[str, Parameter]:
    parameters: dict[str, Parameter] = {}
    for name, spec in specs.items():
        key = f"parameters.{name}"
        for i, (earlier, later) in enumerate(itertools.pairwise(spec.values), start=1):
            if later.from_ <= earlier.from_:
                check.fail(
                    InvalidDateError, f"{key}.values[{i}].from", "dates must strictly increase"
                )
        dated = tuple(ParameterValue(v.from_, v.value) for v in spec.values)
        parameters[name] = Parameter(name, spec.unit, dated)
    return parameters


def _facts(
    check: _Checks, specs: Mapping[str, FactFile], parameters: Mapping[str, Parameter]
) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    for name, spec in specs.items():
        key = f"facts.{name}"
        if name in BUILTIN_NAMES or name in _CEL_RESERVED:
            check.fail(InvalidValueError, key, f"{name!r} is reserved (built-in or CEL keyword)")
        facts[name] = _fact(check, name, spec, key, parameters)
    return facts


def _fact(
    check: _Checks, name: str, spec: FactFile, key: str, parameters: Mapping[str, Parameter]
) -> Fact:
    if (spec.attributes is None) == (spec.predicate is None):
        check.fail(MissingKeyError, key, "needs exactly one of 'attributes' and 'predicate'")
    attributes: tuple[AttributeRef, ...] = ()
    predicate: FactPredicate | None = None
    if spec.attributes is not None:
        check.unique(spec.attributes, f"{key}.attributes", "attribute")
        attributes = tuple(AttributeRef.parse(ref) for ref in spec.attributes)
    if spec.predicate is not None:
        predicate = _predicate(check, spec.predicate, f"{key}.predicate", parameters)
    return check.build(
        key,
        lambda: Fact(
            name, spec.aggregate, attributes, predicate, absent=spec.absent, scope=spec.scope
        ),
    )


def _predicate(
    check: _Checks, spec: PredicateFile, key: str, parameters: Mapping[str, Parameter]
) -> FactPredicate:
    attribute = AttributeRef.parse(spec.attribute)
    if spec.param is not None and spec.value is None:
        if spec.param not in parameters:
            check.fail(UndeclaredParameterError, f"{key}.param", f"{spec.param!r} is not declared")
        return FactPredicate(attribute, spec.op, ParamRef(spec.param))
    if spec.value is None or spec.param is not None:
        check.fail(MissingKeyError, key, "needs exactly one of 'param' and 'value'")
    return FactPredicate(attribute, spec.op, spec.value)


def _rules(
    check: _Checks,
    specs: Iterable[RuleFile],
    facts: Mapping[str, Fact],
    parameters: Mapping[str, Parameter],
) -> tuple[Rule, ...]:
    rules = tuple(
        _rule(check, spec, f"rules[{i}]", facts, parameters) for i, spec in enumerate(specs)
    )
    check.unique((r.id for r in rules), "rules", "rule id")
    return rules


def _rule(
    check: _Checks,
    spec: RuleFile,
    key: str,
    facts: Mapping[str, Fact],
    parameters: Mapping[str, Parameter],
) -> Rule:
    expression = spec.expr
    try:
        compiled = cel.compile(expression)
    except (ValueError, RuntimeError) as exc:
        check.fail(ExpressionError, f"{key}.expr", f"does not compile: {exc}")
    names = set(compiled.variables())
    undeclared = sorted(names - facts.keys() - BUILTIN_NAMES)
    if undeclared:
        check.fail(
            UndeclaredNameError,
            f"{key}.expr",
            f"{undeclared} are neither declared facts nor built-ins {sorted(BUILTIN_NAMES)} "
            "(comprehension variables are not supported)",
        )
    if "double" in compiled.functions() or _FLOAT_LITERAL.search(_code_only(expression)):
        check.fail(ExpressionError, f"{key}.expr", "no floating point: money is integer rials")
    used_parameters = _parameters_used(check, expression, f"{key}.expr")
    missing = sorted(used_parameters - parameters.keys())
    if missing:
        check.fail(UndeclaredParameterError, f"{key}.expr", f"params {missing} are not declared")
    on_pass = _reason(check, spec.pass_, f"{key}.pass", facts)
    on_fail = _reason(check, spec.fail, f"{key}.fail", facts)
    used = names | on_pass.fields | on_fail.fields
    return Rule(
        id=spec.id,
        expression=expression,
        compiled=compiled,
        facts=tuple(name for name in facts if name in used),
        parameters=frozenset(used_parameters),
        on_pass=on_pass,
        on_fail=on_fail,
        description=on_pass.text if spec.description is None else _localized(spec.description),
    )


def _parameters_used(check: _Checks, expression: str, key: str) -> set[str]:
    """The ``params.<name>`` an expression reads; any other use of ``params`` is refused."""
    used: set[str] = set()
    for match in _PARAMS_USE.finditer(_code_only(expression)):
        if match.group("member") is None:
            check.fail(ExpressionError, key, f"use {PARAMS}.<name>, so every parameter is known")
        used.add(match.group("name"))
    return used


def _code_only(expression: str) -> str:
    """``expression`` with its string literals and comments blanked out."""
    return _CEL_NON_CODE.sub(" ", expression)


def _reason(check: _Checks, spec: ReasonFile, key: str, facts: Mapping[str, Fact]) -> Reason:
    if spec.code in ReasonCode.ALL:
        check.fail(InvalidValueError, f"{key}.code", f"{spec.code!r} is reserved for the engine")
    reason = check.build(key, lambda: Reason(spec.code, LocalizedText(spec.en, spec.fa)))
    unknown = sorted(reason.fields - facts.keys() - {HOUSEHOLD_SIZE})
    if unknown:
        check.fail(UndeclaredNameError, key, f"text interpolates {unknown}, not declared facts")
    return reason


def _tests(
    check: _Checks, specs: Iterable[CaseFile], unit: ProgramUnit, rules: tuple[Rule, ...]
) -> tuple[ProgramTestCase, ...]:
    rule_ids = {r.id for r in rules}
    cases = tuple(_case(check, spec, f"tests[{i}]", unit, rule_ids) for i, spec in enumerate(specs))
    check.unique((c.name for c in cases), "tests", "test name")
    return cases


def _case(
    check: _Checks, spec: CaseFile, key: str, unit: ProgramUnit, rule_ids: set[str]
) -> ProgramTestCase:
    if unit is ProgramUnit.PERSON and len(spec.members) != 1:
        check.fail(InvalidValueError, f"{key}.members", "a person program's case has one member")
    check.unique(spec.unavailable, f"{key}.unavailable", "agency")
    return ProgramTestCase(
        name=spec.name,
        as_of=spec.as_of,
        members=tuple(
            _member(check, member, f"{key}.members[{i}]") for i, member in enumerate(spec.members)
        ),
        expect=_expectation(check, spec.expect, f"{key}.expect", rule_ids),
        unavailable=spec.unavailable,
    )


def _member(check: _Checks, values: Mapping[str, Value], key: str) -> Mapping[str, Value]:
    for name in values:
        if AttributeRef.parse(name).is_wildcard:
            check.fail(InvalidValueError, f"{key}.{name}", "test data names one agency, not '*'")
    return MappingProxyType(dict(values))


def _expectation(
    check: _Checks, spec: ExpectationFile, key: str, rule_ids: set[str]
) -> Expectation:
    for rule_id in spec.rules:
        if rule_id not in rule_ids:
            check.fail(UndeclaredNameError, f"{key}.rules.{rule_id}", "no such rule")
    outcomes = {rule_id: outcome.value for rule_id, outcome in spec.rules.items()}
    return Expectation(spec.decision.value, MappingProxyType(outcomes), spec.reason_codes)
