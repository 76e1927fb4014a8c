"""The adapter SDK: the small interface agency IT implements.

Implement :meth:`Adapter.describe` and :meth:`Adapter._fetch`. The public :meth:`Adapter.fetch`
checks the query against the description and the limits, calls ``_fetch``, checks the shape
of what came back, evaluates any predicate the implementation left to the SDK (so only a
boolean leaves the agency), and turns foreign exceptions into :class:`AdapterError`.
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from adapters.errors import AdapterError, QueryLimitError, SourceFailureError, UnknownAttributeError

Value = bool | int | str | tuple[str, ...]
"""One attribute value: money and counts are ints (money in rials), lists are tuples."""


class AttributeType(enum.Enum):
    """The wire type of an attribute's values."""

    BOOL = "bool"
    INT64 = "int64"
    STRING = "string"
    STRING_LIST = "string_list"


class Sensitivity(enum.Enum):
    """How sensitive an attribute is (drives consent scope and review)."""

    PUBLIC = "public"
    PERSONAL = "personal"
    FINANCIAL = "financial"
    SPECIAL = "special"


class PredicateOperator(enum.Enum):
    """A comparison an agency can evaluate itself."""

    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ = "eq"
    NE = "ne"

    def apply(self, left: Value, right: Value) -> bool:
        """Compare ``left`` (the agency's value) with ``right`` (the operand)."""
        return bool(_OPERATORS[self](left, right))


_OPERATORS: Mapping[PredicateOperator, Callable[[Any, Any], Any]] = {
    PredicateOperator.LT: operator.lt,
    PredicateOperator.LE: operator.le,
    PredicateOperator.GT: operator.gt,
    PredicateOperator.GE: operator.ge,
    PredicateOperator.EQ: operator.eq,
    PredicateOperator.NE: operator.ne,
}

_PYTHON_TYPES: Mapping[AttributeType, type] = {
    AttributeType.BOOL: bool,
    AttributeType.INT64: int,
    AttributeType.STRING: str,
    AttributeType.STRING_LIST: tuple,
}

OPERATORS_ALLOWED: Mapping[AttributeType, frozenset[PredicateOperator]] = {
    AttributeType.INT64: frozenset(PredicateOperator),
    AttributeType.STRING: frozenset(PredicateOperator),
    AttributeType.BOOL: frozenset({PredicateOperator.EQ, PredicateOperator.NE}),
    AttributeType.STRING_LIST: frozenset(),
}
"""The operators each attribute type may declare: lists are not compared, bools only for
equality."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def value_matches(kind: AttributeType, value: Value) -> bool:
    """True when ``value`` is a valid Python value for ``kind`` (bool is not an int here)."""
    if kind is AttributeType.INT64:
        return type(value) is int and INT64_MIN <= value <= INT64_MAX
    if kind is AttributeType.STRING_LIST:
        return isinstance(value, tuple) and all(type(v) is str for v in value)
    return type(value) is _PYTHON_TYPES[kind]


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute an agency serves."""

    name: str
    type: AttributeType
    sensitivity: Sensitivity
    unit: str = ""
    description: str = ""
    predicate_operators: frozenset[PredicateOperator] = frozenset()


@dataclass(frozen=True)
class AgencyDescription:
    """Who the agency is and what it serves."""

    agency_id: str
    name: str
    name_fa: str
    attributes: tuple[AttributeSpec, ...]
    max_subjects: int = 0
    """Most subjects one fetch may carry (0: no stated limit); the server fills it in."""

    def attribute(self, name: str) -> AttributeSpec:
        """Return the named attribute or raise :class:`UnknownAttributeError`."""
        for spec in self.attributes:
            if spec.name == name:
                return spec
        raise UnknownAttributeError(f"{self.agency_id} does not serve attribute {name!r}")


@dataclass(frozen=True)
class Predicate:
    """``attribute <operator> operand``, evaluated at the agency."""

    attribute: str
    operator: PredicateOperator
    operand: bool | int | str


@dataclass(frozen=True)
class FetchQuery:
    """Many subjects x many attributes and predicates, answered in one call."""

    subjects: tuple[str, ...]
    attributes: tuple[str, ...] = ()
    predicates: tuple[Predicate, ...] = ()
    as_of: dt.date = field(default_factory=dt.date.today)
    fetch_id: str = ""
    """The hub's id for this one Fetch call (the audit log records it)."""
    purpose: str = ""


@dataclass
class FetchResult:
    """The answer to a :class:`FetchQuery`, row j for subject j.

    ``found[j]`` is False when the agency has no record of subject j. ``values[a][j]`` is
    None when it holds no value of attribute ``a`` for subject j. ``predicates[k][j]``
    answers predicate k for subject j (None when the value is absent).
    """

    found: list[bool]
    values: dict[str, list[Value | None]]
    predicates: list[list[bool | None]] = field(default_factory=list)


@dataclass(frozen=True)
class AdapterLimits:
    """Bounds an adapter enforces on every query."""

    max_subjects: int = 5000
    max_attributes: int = 64
    max_predicates: int = 64


class Adapter(abc.ABC):
    """An agency's system, as the hub sees it.

    Subclasses implement :meth:`describe` and :meth:`_fetch`. ``_fetch`` receives the query's
    attributes plus the attributes of any predicate the subclass did not claim through
    :meth:`_pushed_down`; it returns a :class:`FetchResult` whose ``predicates`` answer the
    pushed-down predicates only, in query order.
    """

    limits: AdapterLimits = AdapterLimits()

    @abc.abstractmethod
    def describe(self) -> AgencyDescription:
        """Return the agency's identity and the attributes it serves."""

    @abc.abstractmethod
    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        """Answer ``query.attributes`` and the ``pushed_down`` predicates."""

    def _pushed_down(self, predicate: Predicate) -> bool:
        """Whether ``_fetch`` evaluates this predicate itself (default: no, the SDK does)."""
        del predicate
        return False

    async def check(self) -> None:  # noqa: B027 - optional hook, default has nothing to check
        """Verify at start-up that the adapter can answer (tables, columns, files).

        Raises:
            AdapterConfigError: the adapter cannot serve what it describes.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, default is nothing to release
        """Release resources (connections, files)."""

    async def fetch(self, query: FetchQuery) -> FetchResult:
        """Answer ``query`` after validating it; every failure is an :class:`AdapterError`."""
        description = self.describe()
        self._validate(description, query)
        pushed = [p for p in query.predicates if self._pushed_down(p)]
        local = [p for p in query.predicates if not self._pushed_down(p)]
        needed = list(dict.fromkeys([*query.attributes, *(p.attribute for p in local)]))
        inner = FetchQuery(
            subjects=query.subjects,
            attributes=tuple(needed),
            predicates=tuple(pushed),
            as_of=query.as_of,
            fetch_id=query.fetch_id,
            purpose=query.purpose,
        )
        try:
            result = await self._fetch(inner, pushed)
        except AdapterError:
            raise
        except Exception as exc:  # foreign errors become ours; the hub sees a source failure
            raise SourceFailureError(f"{description.agency_id}: {type(exc).__name__}") from exc
        self._check_shape(description, inner, result)
        return _assemble(query, result, pushed)

    def _validate(self, description: AgencyDescription, query: FetchQuery) -> None:
        limits = self.limits
        if len(query.subjects) > limits.max_subjects:
            raise QueryLimitError(f"{len(query.subjects)} subjects > {limits.max_subjects}")
        if len(query.attributes) > limits.max_attributes:
            raise QueryLimitError(f"{len(query.attributes)} attributes > {limits.max_attributes}")
        if len(query.predicates) > limits.max_predicates:
            raise QueryLimitError(f"{len(query.predicates)} predicates > {limits.max_predicates}")
        for name in query.attributes:
            description.attribute(name)
        for predicate in query.predicates:
            spec = description.attribute(predicate.attribute)
            if predicate.operator not in spec.predicate_operators:
                raise UnknownAttributeError(
                    f"{description.agency_id} does not evaluate "
                    f"{predicate.attribute} {predicate.operator.value}"
                )
            if not value_matches(spec.type, predicate.operand):
                raise UnknownAttributeError(
                    f"operand of {predicate.attribute} {predicate.operator.value} "
                    f"is not {spec.type.value}"
                )

    @staticmethod
    def _check_shape(
        description: AgencyDescription, query: FetchQuery, result: FetchResult
    ) -> None:
        rows = len(query.subjects)
        agency = description.agency_id
        if len(result.found) != rows:
            raise SourceFailureError(f"{agency}: {len(result.found)} rows for {rows} subjects")
        for name in query.attributes:
            column = result.values.get(name)
            if column is None or len(column) != rows:
                raise SourceFailureError(f"{agency}: column {name!r} missing or wrong length")
            kind = description.attribute(name).type
            if not _column_matches(kind, column):
                raise SourceFailureError(f"{agency}: {name!r} holds a non-{kind.value} value")
        if len(result.predicates) != len(query.predicates) or any(
            len(col) != rows or not _column_matches(AttributeType.BOOL, col)
            for col in result.predicates
        ):
            raise SourceFailureError(f"{agency}: predicate results do not match the query")


def _column_matches(kind: AttributeType, column: Sequence[Value | None]) -> bool:
    """:func:`value_matches` for every non-None value, in bulk (this is on the hot path)."""
    present = [v for v in column if v is not None]
    if kind is AttributeType.STRING_LIST:
        return all(value_matches(kind, v) for v in present)
    if not set(map(type, present)) <= {_PYTHON_TYPES[kind]}:
        return False
    if kind is AttributeType.INT64 and present:
        ints = cast("list[int]", present)
        return min(ints) >= INT64_MIN and max(ints) <= INT64_MAX
    return True


def _assemble(query: FetchQuery, inner: FetchResult, pushed: Sequence[Predicate]) -> FetchResult:
    """Build the caller's result: requested columns only, every predicate answered."""
    pushed_results = dict(zip(pushed, inner.predicates, strict=True))
    predicates: list[list[bool | None]] = []
    for predicate in query.predicates:
        column = pushed_results.get(predicate)
        if column is None:
            column = [
                None if v is None else predicate.operator.apply(v, predicate.operand)
                for v in inner.values[predicate.attribute]
            ]
        predicates.append(column)
    values = {name: inner.values[name] for name in query.attributes}
    return FetchResult(found=inner.found, values=values, predicates=predicates)
