"""The program file format as typed, frozen models (pydantic strict mode).

A program file (``<id>.yaml``; the shipped programs in ``builtin/`` are complete examples)::

    id: livelihood_basket              # lower_snake_case, equal to the file name
    version: "2026.1"                  # quoted text
    title: {en: ..., fa: ...}
    description: {en: ..., fa: ...}
    need_category: financial           # financial | medical | social_work | emotional
    unit: household                    # person | household
    legal_basis:                       # or {kind: mandate, mandate: <registered mandate id>}
      kind: consent
      consent: {max_validity_days: 365, fetch_type: PERIODIC,
                max_frequency: {max_uses: 4, per_days: 30}, max_data_life_days: 90}
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

These models say what each key holds (types, bounds, required or not); they become
``docs/configuration.md``. What a type cannot say (CEL that compiles, names a rule uses,
parameters in force, unique ids) is checked by :mod:`gateway.programs.loader`, which turns a
:class:`ProgramFile` into a :class:`~gateway.programs.model.Program`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, TypeVar

from pydantic import Field, PlainValidator

from adapters.sdk import PredicateOperator, Value
from adapters.typed_config import ConfigModel
from consent import FetchType
from gateway.engine.outcome import Decision, RuleOutcome
from gateway.programs.model import (
    Aggregate,
    FactScope,
    LegalBasisKind,
    NeedCategory,
    ProgramUnit,
)

_T = TypeVar("_T")

INT64_MIN = -(2**63)
"""The smallest integer a program may hold (values travel as int64)."""
INT64_MAX = 2**63 - 1
"""The largest integer a program may hold."""


def _scalar(value: object) -> bool | int | str:
    if isinstance(value, bool | str) or (type(value) is int and INT64_MIN <= value <= INT64_MAX):
        return value
    raise ValueError(f"expected a boolean, a 64-bit integer or text, got {value!r}")


def _value(value: object) -> Value:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    if isinstance(value, list):
        raise ValueError(f"expected a list of text, got {value!r}")
    return _scalar(value)


# A plain validator, not a union: pydantic reports a union's mismatch once per member, with
# the member's name in the key path. ``None`` is only the default: a written ``null`` is
# refused, so ``absent: null`` cannot be mistaken for "absence has a value".
_Scalar = Annotated[
    bool | int | str | None, PlainValidator(_scalar, json_schema_input_type=bool | int | str)
]
_Value = Annotated[
    Value, PlainValidator(_value, json_schema_input_type=bool | int | str | list[str])
]
# Lists, not tuples: pydantic's tuple validator adds a spurious "should have at least 1 item"
# to the error of a tuple whose only item is invalid. The loader makes them tuples.
_NonEmpty = Annotated[list[_T], Field(min_length=1)]
_Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
_Text = Annotated[str, Field(pattern=r"\S")]
_Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
_ReasonCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
_ArtefactId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
_AttributeRef = Annotated[str, Field(pattern=r"^(?:[a-z][a-z0-9_]*|\*)\.[a-z][a-z0-9_]*$")]


class LocalizedTextFile(ConfigModel):
    """A text in English and Persian: ``{en: ..., fa: ...}``."""

    en: _Text
    """The English text."""
    fa: _Text
    """The Persian text."""


class FrequencyFile(ConfigModel):
    """At most ``max_uses`` uses in any ``per_days`` days."""

    max_uses: Annotated[int, Field(ge=1, le=10_000)]
    """The most uses in the window."""
    per_days: Annotated[int, Field(ge=1, le=3660)]
    """The window's length in days."""


class ConsentLimitsFile(ConfigModel):
    """The most a consent for this program may allow; a consent beyond it is refused at grant.

    The agencies and attributes a consent may cover are those the program's facts read (and
    the civil registry's identity and household attributes): they are not repeated here.
    """

    max_validity_days: Annotated[int, Field(ge=1, le=3660)]
    """The longest validity window, in days."""
    fetch_type: FetchType
    """``ONE_TIME`` (spent by its first check) or ``PERIODIC`` (allows one-time ones too)."""
    max_frequency: FrequencyFile | None = None
    """For ``PERIODIC``: the most checks in any window; none for ``ONE_TIME``."""
    max_data_life_days: Annotated[int, Field(ge=1, le=3660)]
    """The longest the consumer may keep a check's result, in days."""


class LegalBasisFile(ConfigModel):
    """Why looking a subject up is lawful: the subject's consent, or a registered mandate."""

    kind: LegalBasisKind
    """``consent`` (every check cites the subject's consent) or ``mandate`` (a law covers it)."""
    consent: ConsentLimitsFile | None = None
    """For ``consent``: the limits of a consent for this program (required)."""
    mandate: _ArtefactId | None = None
    """For ``mandate``: the id of the registered mandate that covers it (required); checks
    are refused while it is not registered, suspended or lapsed."""


class ParameterValueFile(ConfigModel):
    """One dated value of a parameter."""

    from_: dt.date = Field(alias="from")
    """The first day the value is in force, ``YYYY-MM-DD``."""
    value: _Int64
    """The value: an integer (money in rials, a count, a grade)."""


class ParameterFile(ConfigModel):
    """A threshold with dated integer values."""

    unit: _Text
    """A label for the value (``IRR``, ``count``, ``decile``)."""
    values: _NonEmpty[ParameterValueFile]
    """Dated values, ``from`` strictly increasing; the one in force on a date is the last whose
    ``from`` is on or before it. One must be in force on the day of loading and on every test
    case's ``as_of``."""


class PredicateFile(ConfigModel):
    """A predicate fact's comparison: ``attribute <op> operand``."""

    attribute: _AttributeRef
    """``agency.attribute`` (or ``*.attribute``) compared to the operand."""
    op: PredicateOperator
    """The comparison (``lt``, ``le``, ``gt``, ``ge``: int64 attributes only)."""
    param: _Identifier | None = None
    """A declared parameter as the operand; exactly one of ``param`` and ``value``."""
    value: _Scalar = None
    """A literal operand (boolean, integer or text)."""


class FactFile(ConfigModel):
    """A named value rules use, folded from the agencies' cells."""

    aggregate: Aggregate
    """How the cells (members x attributes) fold into one value; a predicate fact needs a
    boolean aggregate (``any``, ``all``, ``none``, ``count_true``, ``agencies_true``)."""
    attributes: _NonEmpty[_AttributeRef] | None = None
    """``agency.attribute`` names, ``*.attribute`` for every agency serving it (quoted); each
    once. Exactly one of ``attributes`` and ``predicate``."""
    predicate: PredicateFile | None = None
    """``{attribute, op, param | value}``, pushed down to the agency where it can evaluate it."""
    absent: _Scalar = None
    """A cell's value where the agency holds no record: an integer for ``sum``, ``min``,
    ``max``, a boolean for the others, none for ``count``. Omitted: absence makes the fact
    UNKNOWN (``NO_RECORD``)."""
    scope: FactScope = FactScope.HOUSEHOLD
    """``household`` (every member's cells) or ``subject`` (the subject's only)."""


class ReasonFile(ConfigModel):
    """A reason code with its texts."""

    code: _ReasonCode
    """UPPER_SNAKE_CASE, not one of the engine's codes (``SOURCE_FAILED``, ``NO_RECORD``...)."""
    en: _Text
    """The English text; may interpolate a declared fact or ``household_size`` as ``{name}``."""
    fa: _Text
    """The Persian text, interpolating the same way."""


class RuleFile(ConfigModel):
    """A rule: a CEL expression and a reason for each outcome."""

    id: _Identifier
    """The rule's id, unique in the program."""
    expr: _Text
    """A CEL expression over the declared facts, ``params.<name>`` and ``household_size``;
    integers only (no float literals, no ``double()``); quote one that starts with ``!``."""
    pass_: ReasonFile = Field(alias="pass")
    """The reason given when the expression is true."""
    fail: ReasonFile
    """The reason given when it is false."""
    description: LocalizedTextFile | None = None
    """What the rule checks; default: the pass text."""


class ExpectationFile(ConfigModel):
    """What a test case expects."""

    decision: Decision
    """The decision the case expects."""
    rules: dict[_Identifier, RuleOutcome] = Field(default={})
    """Rule id to its expected outcome; each a rule of the program."""
    reason_codes: tuple[_ReasonCode, ...] | None = None
    """The exact reason codes, in order; omitted: not compared."""


class CaseFile(ConfigModel):
    """A test case: a simulated unit, a date and the expected decision."""

    name: _Text
    """The case's name, unique in the program."""
    as_of: dt.date
    """The decision date, ``YYYY-MM-DD``: it picks the parameters in force."""
    members: _NonEmpty[dict[_AttributeRef, _Value]]
    """The unit, subject first (exactly one for a person program): ``agency.attribute`` (one
    agency, no ``*``) to a value of its type; a missing key means no record."""
    unavailable: tuple[_Identifier, ...] = ()
    """Agency ids simulated as failed, each once."""
    expect: ExpectationFile
    """What the case expects."""


class ProgramFile(ConfigModel):
    """A program file: an eligibility program, its parameters, facts, rules and test cases."""

    id: _Identifier
    """The program's id, lower_snake_case, equal to the file's name (``<id>.yaml``)."""
    version: _Text
    """Quoted text, e.g. ``"2026.1"``; every decision carries it."""
    title: LocalizedTextFile
    """The program's name."""
    description: LocalizedTextFile
    """What it is for."""
    need_category: NeedCategory
    """The kind of need it addresses."""
    unit: ProgramUnit
    """Whom the decision is about: one person or the person's household."""
    legal_basis: LegalBasisFile
    """Why the lookup is lawful: ``{kind: consent, consent: {...}}`` or ``{kind: mandate,
    mandate: <id>}``."""
    purposes: _NonEmpty[_Identifier]
    """The purposes it may be checked for, each once; any other purpose is refused."""
    parameters: dict[_Identifier, ParameterFile] = Field(default={})
    """Name to a dated integer threshold; rules read ``params.<name>``."""
    facts: dict[_Identifier, FactFile] = Field(default={})
    """Name to a value folded from the agencies' cells; not ``params``, ``household_size`` or
    a CEL keyword."""
    rules: _NonEmpty[RuleFile]
    """The rules, at least one; any UNKNOWN makes the decision UNDETERMINED, else any FAIL
    INELIGIBLE."""
    tests: tuple[CaseFile, ...] = ()
    """Test cases, run by ``sakha programs test``."""
