"""Programs as frozen values: what a program file says, checked and compiled.

A :class:`Program` is built only by the loader (:mod:`gateway.programs.loader`), which reports
every defect with the file and key; the constructors here still check the invariants the
engine relies on, so a hand-built program cannot break them either.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cel

from adapters.sdk import PredicateOperator, Value
from consent import FetchType, Frequency
from gateway.programs.errors import ParameterNotInForceError

PARAMS = "params"
"""Built-in CEL name: the map of the program's parameters in force on the decision date."""

HOUSEHOLD_SIZE = "household_size"
"""Built-in CEL name: how many members the unit has (1 for person programs)."""

BUILTIN_NAMES = frozenset({PARAMS, HOUSEHOLD_SIZE})
"""Names every rule may use without declaring them."""

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


class NeedCategory(enum.Enum):
    """The kind of need a program addresses (needs must be told apart, not all are money)."""

    FINANCIAL = "financial"
    MEDICAL = "medical"
    SOCIAL_WORK = "social_work"
    EMOTIONAL = "emotional"


class ProgramUnit(enum.Enum):
    """Whom a program decides about: one person, or the person's whole household."""

    PERSON = "person"
    HOUSEHOLD = "household"


class LegalBasisKind(enum.Enum):
    """Why a lookup is lawful: the subject's consent, or a statutory mandate."""

    CONSENT = "consent"
    MANDATE = "mandate"


@dataclass(frozen=True)
class ConsentLimits:
    """The most a consent for a program may allow, besides what its plan touches.

    The agencies and attributes a consent may name are not written here: they are what the
    program's plan reads (see :func:`gateway.legal_basis.consent_template`), so the two
    cannot drift apart.
    """

    max_validity: dt.timedelta
    fetch_type: FetchType
    max_frequency: Frequency | None
    max_data_life: dt.timedelta

    def __post_init__(self) -> None:
        if (self.fetch_type is FetchType.PERIODIC) != (self.max_frequency is not None):
            raise ValueError("a periodic consent needs a frequency limit; a one-time one has none")


@dataclass(frozen=True)
class LegalBasis:
    """The program's legal basis: the subject's consent (within ``consent``), or a mandate."""

    kind: LegalBasisKind
    consent: ConsentLimits | None = None
    mandate_id: str = ""

    def __post_init__(self) -> None:
        if self.kind is LegalBasisKind.MANDATE and (not self.mandate_id or self.consent):
            raise ValueError("a mandate basis names its mandate and no consent limits")
        if self.kind is LegalBasisKind.CONSENT and (self.consent is None or self.mandate_id):
            raise ValueError("a consent basis gives its consent limits and no mandate")

    def summary(self) -> str:
        """One line for humans and the wire: ``consent`` or ``mandate: <mandate id>``."""
        if self.kind is LegalBasisKind.MANDATE:
            return f"mandate: {self.mandate_id}"
        return "consent"


@dataclass(frozen=True)
class LocalizedText:
    """A text in English and Persian."""

    en: str
    fa: str


@dataclass(frozen=True)
class _TemplatePart:
    literal: str
    name: str | None


def _parse_template(text: str) -> tuple[_TemplatePart, ...]:
    """Split ``text`` into literals and ``{name}`` fields; nothing else is allowed in braces."""
    parts: list[_TemplatePart] = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None and (not _IDENTIFIER.fullmatch(name) or spec or conversion):
            raise ValueError(f"{{{name}}} in {text!r}: only plain {{fact_name}} fields allowed")
        parts.append(_TemplatePart(literal, name))
    return tuple(parts)


def _format_value(value: object) -> str:
    """How a fact value reads inside a reason text (lists as ``a, b``; empty as ``—``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


@dataclass(frozen=True)
class Reason:
    """A reason code with its text, which may interpolate facts as ``{fact_name}``.

    Interpolation is not ``str.format``: fields are plain names, parsed once here, and only
    the values the engine hands to :meth:`render` can appear (never attributes or indexes).
    """

    code: str
    text: LocalizedText
    fields: frozenset[str] = field(init=False)
    _parts: tuple[tuple[_TemplatePart, ...], tuple[_TemplatePart, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", self.code):
            raise ValueError(f"reason code {self.code!r} is not UPPER_SNAKE_CASE")
        parts = (_parse_template(self.text.en), _parse_template(self.text.fa))
        names = frozenset(p.name for half in parts for p in half if p.name is not None)
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "fields", names)

    def render(self, values: Mapping[str, object]) -> LocalizedText:
        """The text with every field replaced by its value in ``values``."""
        if not self.fields:
            return self.text
        en, fa = (
            "".join(
                p.literal + ("" if p.name is None else _format_value(values[p.name])) for p in half
            )
            for half in self._parts
        )
        return LocalizedText(en, fa)


@dataclass(frozen=True)
class ParameterValue:
    """A parameter's value from ``effective_from`` until the next value takes over."""

    effective_from: dt.date
    value: int


@dataclass(frozen=True)
class Parameter:
    """A threshold with dated values (integers only: money in rials, counts, grades)."""

    name: str
    unit: str
    values: tuple[ParameterValue, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError(f"parameter {self.name!r} has no values")
        dates = [v.effective_from for v in self.values]
        if any(b <= a for a, b in itertools.pairwise(dates)):
            raise ValueError(f"parameter {self.name!r}: dates are not strictly increasing")

    def value_at(self, as_of: dt.date) -> int:
        """The value in force on ``as_of``.

        Raises:
            ParameterNotInForceError: ``as_of`` is before the first effective date.
        """
        current: int | None = None
        for dated in self.values:
            if dated.effective_from > as_of:
                break
            current = dated.value
        if current is None:
            raise ParameterNotInForceError(
                f"parameter {self.name!r} has no value in force on {as_of.isoformat()} "
                f"(first from {self.values[0].effective_from.isoformat()})"
            )
        return current


@dataclass(frozen=True, order=True)
class AttributeRef:
    """``agency_id.attribute``, or ``*.attribute`` for every agency serving it."""

    WILDCARD: ClassVar[str] = "*"

    agency_id: str
    attribute: str

    @classmethod
    def parse(cls, text: str) -> AttributeRef:
        """Parse ``agency.attribute`` or ``*.attribute``; raise ValueError otherwise."""
        match = re.fullmatch(r"([a-z][a-z0-9_]*|\*)\.([a-z][a-z0-9_]*)", text)
        if match is None:
            raise ValueError(f"{text!r} is not 'agency.attribute' or '*.attribute'")
        return cls(match.group(1), match.group(2))

    @property
    def is_wildcard(self) -> bool:
        """Whether this names the attribute at every agency that serves it."""
        return self.agency_id == self.WILDCARD

    def __str__(self) -> str:
        return f"{self.agency_id}.{self.attribute}"


class Aggregate(enum.Enum):
    """How a fact folds its cells (members x attributes) into one value."""

    SUM = "sum"
    COUNT = "count"
    MIN = "min"
    MAX = "max"
    ANY = "any"
    ALL = "all"
    NONE = "none"
    COUNT_TRUE = "count_true"
    AGENCIES_TRUE = "agencies_true"

    @property
    def cell_type(self) -> type[int] | type[bool] | None:
        """The type every cell must hold (None: any type, as ``count`` counts records)."""
        if self in _INT_AGGREGATES:
            return int
        if self is Aggregate.COUNT:
            return None
        return bool


_INT_AGGREGATES = frozenset({Aggregate.SUM, Aggregate.MIN, Aggregate.MAX})


class FactScope(enum.Enum):
    """Whose cells a fact reads: every member of the unit, or the subject only."""

    HOUSEHOLD = "household"
    SUBJECT = "subject"


@dataclass(frozen=True)
class ParamRef:
    """A predicate operand taken from a parameter, resolved on the decision date."""

    name: str


@dataclass(frozen=True)
class FactPredicate:
    """``attribute <operator> operand``; the operand is a parameter or a literal value."""

    attribute: AttributeRef
    operator: PredicateOperator
    operand: ParamRef | bool | int | str

    def resolve(self, parameters: Mapping[str, int]) -> bool | int | str:
        """The operand's value given the parameters in force."""
        if isinstance(self.operand, ParamRef):
            return parameters[self.operand.name]
        return self.operand


@dataclass(frozen=True)
class Fact:
    """A named value rules can use, aggregated over the unit's members and attributes.

    ``absent`` is the value a cell takes when an agency holds no record (or no value) for a
    member; when it is None, any absent cell makes the fact, and every rule using it,
    UNKNOWN. ``count`` counts the cells that are present, so absence never makes it UNKNOWN.
    """

    name: str
    aggregate: Aggregate
    attributes: tuple[AttributeRef, ...] = ()
    predicate: FactPredicate | None = None
    absent: bool | int | str | None = None
    scope: FactScope = FactScope.HOUSEHOLD

    def __post_init__(self) -> None:
        if bool(self.attributes) == (self.predicate is not None):
            raise ValueError("a fact takes exactly one of 'attributes' and 'predicate'")
        cell = self.aggregate.cell_type
        if self.predicate is not None and cell is not bool:
            raise ValueError(
                f"a predicate fact needs a boolean aggregate, not {self.aggregate.value}"
            )
        if self.absent is not None:
            if cell is None:
                raise ValueError("'count' counts present records and takes no 'absent' value")
            if type(self.absent) is not cell:
                raise ValueError(f"'absent' must be {cell.__name__} for {self.aggregate.value}")

    @property
    def refs(self) -> tuple[AttributeRef, ...]:
        """The attributes this fact reads (a predicate's attribute included)."""
        if self.predicate is not None:
            return (self.predicate.attribute,)
        return self.attributes


@dataclass(frozen=True)
class Rule:
    """A CEL expression over facts and built-ins, with a reason for each outcome.

    ``facts`` are the declared facts the expression and the reason texts use (declaration
    order); ``parameters`` the ``params.<name>`` it reads. ``compiled`` is compiled once, at
    load.
    """

    id: str
    expression: str
    compiled: cel.Program = field(repr=False, compare=False)
    facts: tuple[str, ...]
    parameters: frozenset[str]
    on_pass: Reason
    on_fail: Reason
    description: LocalizedText


@dataclass(frozen=True)
class Expectation:
    """What a test case expects: a decision and, optionally, rule outcomes and reason codes.

    Outcomes are kept as the file spells them (``eligible``, ``pass``...); the test runner
    compares them with the engine's enum values.
    """

    decision: str
    rules: Mapping[str, str] = field(default_factory=dict)
    reason_codes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ProgramTestCase:
    """A test case in a program file, run in CI through the same planner and evaluator.

    ``members[0]`` is the subject; each member maps ``agency.attribute`` to its value (a
    missing key means the agency holds no record). ``civil_registry.alive`` defaults to
    true. ``unavailable`` agencies are simulated as failed.
    """

    name: str
    as_of: dt.date
    members: tuple[Mapping[str, Value], ...]
    expect: Expectation
    unavailable: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Program:
    """An eligibility program, as loaded from its file.

    Compared and hashed by identity: a loaded program is shared, and ``ruleset_digest``
    (SHA-256 of the file's bytes) identifies its content.
    """

    id: str
    version: str
    title: LocalizedText
    description: LocalizedText
    need_category: NeedCategory
    unit: ProgramUnit
    legal_basis: LegalBasis
    purposes: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    facts: tuple[Fact, ...]
    rules: tuple[Rule, ...]
    tests: tuple[ProgramTestCase, ...]
    ruleset_digest: str
    source_path: Path

    def fact(self, name: str) -> Fact:
        """The declared fact called ``name`` (KeyError if none)."""
        for candidate in self.facts:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def parameters_at(self, as_of: dt.date) -> dict[str, int]:
        """Every parameter's value in force on ``as_of``.

        Raises:
            ParameterNotInForceError: a parameter has no value in force then.
        """
        return {p.name: p.value_at(as_of) for p in self.parameters}
