"""Conversion between ConnectorService messages (pb2) and the adapter SDK's domain types.

The one place that knows both sides. Encoders trust their input: it comes from the SDK,
which has already checked it. Decoders trust nothing: a request may come from anyone
(:class:`MalformedRequestError`) and a response from a broken or hostile adapter
(:class:`MalformedResponseError`), so every length, value kind and enum is checked before
anything is built.

Columns are dense: a column carries one value per subject, with a zero value (``False``,
``0``, ``""``, an empty list) where ``present`` is false, so row j is always at index j.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any, TypeVar

from sakha.v1 import connector_pb2 as pb2
from sakha.v1.connector_pb2 import AttributeInfo as PB2AttributeInfo
from sakha.v1.connector_pb2 import AttributeType as PB2AttributeType
from sakha.v1.connector_pb2 import BoolColumn as PB2BoolColumn
from sakha.v1.connector_pb2 import Column as PB2Column
from sakha.v1.connector_pb2 import DescribeResponse as PB2DescribeResponse
from sakha.v1.connector_pb2 import FetchRequest as PB2FetchRequest
from sakha.v1.connector_pb2 import FetchResponse as PB2FetchResponse
from sakha.v1.connector_pb2 import Int64Column as PB2Int64Column
from sakha.v1.connector_pb2 import Predicate as PB2Predicate
from sakha.v1.connector_pb2 import PredicateOperator as PB2PredicateOperator
from sakha.v1.connector_pb2 import Scalar as PB2Scalar
from sakha.v1.connector_pb2 import Sensitivity as PB2Sensitivity
from sakha.v1.connector_pb2 import StringColumn as PB2StringColumn
from sakha.v1.connector_pb2 import StringListColumn as PB2StringListColumn

from adapters.errors import MalformedRequestError, MalformedResponseError
from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    PredicateOperator,
    Sensitivity,
    Value,
)

_ATTRIBUTE_TYPES: Mapping[AttributeType, PB2AttributeType.ValueType] = {
    AttributeType.BOOL: pb2.ATTRIBUTE_TYPE_BOOL,
    AttributeType.INT64: pb2.ATTRIBUTE_TYPE_INT64,
    AttributeType.STRING: pb2.ATTRIBUTE_TYPE_STRING,
    AttributeType.STRING_LIST: pb2.ATTRIBUTE_TYPE_STRING_LIST,
}
ATTRIBUTE_TYPES_FROM_PB2 = {v: k for k, v in _ATTRIBUTE_TYPES.items()}
"""Each wire attribute type's SDK type (unspecified and unknown values are absent)."""

_SENSITIVITIES: Mapping[Sensitivity, PB2Sensitivity.ValueType] = {
    Sensitivity.PUBLIC: pb2.SENSITIVITY_PUBLIC,
    Sensitivity.PERSONAL: pb2.SENSITIVITY_PERSONAL,
    Sensitivity.FINANCIAL: pb2.SENSITIVITY_FINANCIAL,
    Sensitivity.SPECIAL: pb2.SENSITIVITY_SPECIAL,
}
SENSITIVITIES_FROM_PB2 = {v: k for k, v in _SENSITIVITIES.items()}
"""Each wire sensitivity's SDK value."""

_OPERATORS: Mapping[PredicateOperator, PB2PredicateOperator.ValueType] = {
    PredicateOperator.LT: pb2.PREDICATE_OPERATOR_LT,
    PredicateOperator.LE: pb2.PREDICATE_OPERATOR_LE,
    PredicateOperator.GT: pb2.PREDICATE_OPERATOR_GT,
    PredicateOperator.GE: pb2.PREDICATE_OPERATOR_GE,
    PredicateOperator.EQ: pb2.PREDICATE_OPERATOR_EQ,
    PredicateOperator.NE: pb2.PREDICATE_OPERATOR_NE,
}
OPERATORS_FROM_PB2 = {v: k for k, v in _OPERATORS.items()}
"""Each wire predicate operator's SDK value."""

# The `values` oneof case of a Column for each attribute type.
_COLUMN_KINDS: Mapping[AttributeType, str] = {
    AttributeType.BOOL: "bools",
    AttributeType.INT64: "ints",
    AttributeType.STRING: "strings",
    AttributeType.STRING_LIST: "string_lists",
}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_K = TypeVar("_K", bound=int)
_T = TypeVar("_T")


# --- Describe -------------------------------------------------------------------------------


def encode_description(description: AgencyDescription) -> PB2DescribeResponse:
    """Encode an agency's description as a ``DescribeResponse``."""
    return PB2DescribeResponse(
        agency_id=description.agency_id,
        agency_name=description.name,
        agency_name_fa=description.name_fa,
        max_subjects=description.max_subjects,
        attributes=[
            PB2AttributeInfo(
                name=spec.name,
                type=_ATTRIBUTE_TYPES[spec.type],
                unit=spec.unit,
                sensitivity=_SENSITIVITIES[spec.sensitivity],
                description=spec.description,
                predicate_operators=sorted(_OPERATORS[op] for op in spec.predicate_operators),
            )
            for spec in description.attributes
        ],
    )


def decode_description(response: PB2DescribeResponse) -> AgencyDescription:
    """Decode an adapter's ``DescribeResponse``.

    Raises:
        MalformedResponseError: no agency id, an unnamed or repeated attribute, or an
            unspecified or unknown type, sensitivity or operator.
    """
    agency = response.agency_id
    if not agency:
        raise MalformedResponseError("describe: empty agency_id")
    specs: list[AttributeSpec] = []
    seen: set[str] = set()
    for i, info in enumerate(response.attributes):
        where = f"{agency}: attributes[{i}]"
        if not info.name or info.name in seen:
            raise MalformedResponseError(f"{where}: empty or repeated name {info.name!r}")
        seen.add(info.name)
        operators = frozenset(
            _enum(OPERATORS_FROM_PB2, op, f"{where}.predicate_operators")
            for op in info.predicate_operators
        )
        specs.append(
            AttributeSpec(
                name=info.name,
                type=_enum(ATTRIBUTE_TYPES_FROM_PB2, info.type, f"{where}.type"),
                sensitivity=_enum(SENSITIVITIES_FROM_PB2, info.sensitivity, f"{where}.sensitivity"),
                unit=info.unit,
                description=info.description,
                predicate_operators=operators,
            )
        )
    return AgencyDescription(
        agency_id=agency,
        name=response.agency_name,
        name_fa=response.agency_name_fa,
        attributes=tuple(specs),
        max_subjects=response.max_subjects,
    )


def _enum(table: Mapping[_K, _T], number: _K, where: str) -> _T:
    try:
        return table[number]
    except KeyError:
        raise MalformedResponseError(f"{where}: unknown or unspecified value {number}") from None


# --- Fetch request --------------------------------------------------------------------------


def encode_query(query: FetchQuery) -> PB2FetchRequest:
    """Encode a query as a ``FetchRequest``."""
    return PB2FetchRequest(
        subjects=query.subjects,
        attributes=query.attributes,
        predicates=[
            PB2Predicate(
                attribute=p.attribute,
                operator=_OPERATORS[p.operator],
                operand=_encode_scalar(p.operand),
            )
            for p in query.predicates
        ],
        as_of=query.as_of.isoformat(),
        fetch_id=query.fetch_id,
        purpose=query.purpose,
    )


def _encode_scalar(value: bool | int | str) -> PB2Scalar:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return PB2Scalar(bool_value=value)
    if isinstance(value, int):
        return PB2Scalar(int_value=value)
    return PB2Scalar(string_value=value)


def decode_query(request: PB2FetchRequest) -> FetchQuery:
    """Decode a ``FetchRequest``; attribute names are checked later, by the adapter.

    Raises:
        MalformedRequestError: ``as_of`` is not a ``YYYY-MM-DD`` date, or a predicate has an
            unspecified or unknown operator or no operand.
    """
    return FetchQuery(
        subjects=tuple(request.subjects),
        attributes=tuple(request.attributes),
        predicates=tuple(_decode_predicate(i, p) for i, p in enumerate(request.predicates)),
        as_of=_decode_date(request.as_of),
        fetch_id=request.fetch_id,
        purpose=request.purpose,
    )


def _decode_date(text: str) -> dt.date:
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise MalformedRequestError("as_of", f"{text!r} is not a YYYY-MM-DD date")


def _decode_predicate(index: int, predicate: PB2Predicate) -> Predicate:
    operator = OPERATORS_FROM_PB2.get(predicate.operator)
    if operator is None:
        raise MalformedRequestError(
            f"predicates[{index}].operator", f"unknown or unspecified operator {predicate.operator}"
        )
    kind = predicate.operand.WhichOneof("value")
    if kind is None:
        raise MalformedRequestError(f"predicates[{index}].operand", "missing operand")
    operand: bool | int | str = getattr(predicate.operand, kind)
    return Predicate(attribute=predicate.attribute, operator=operator, operand=operand)


# --- Fetch response -------------------------------------------------------------------------


def encode_result(
    result: FetchResult, query: FetchQuery, description: AgencyDescription
) -> PB2FetchResponse:
    """Encode the SDK's answer to ``query`` as a ``FetchResponse`` (columns in query order)."""
    types = {spec.name: spec.type for spec in description.attributes}
    return PB2FetchResponse(
        found=result.found,
        columns=[_encode_column(types[name], result.values[name]) for name in query.attributes],
        predicate_results=[_encode_column(AttributeType.BOOL, col) for col in result.predicates],
    )


def _encode_column(kind: AttributeType, values: Sequence[Value | None]) -> PB2Column:
    present = [v is not None for v in values]
    if kind is AttributeType.STRING_LIST:
        lists: list[Any] = [() if v is None else v for v in values]
        return PB2Column(
            present=present,
            string_lists=PB2StringListColumn(
                values=[item for row in lists for item in row], lengths=[len(r) for r in lists]
            ),
        )
    if kind is AttributeType.BOOL:
        return PB2Column(present=present, bools=PB2BoolColumn(values=_dense(values, False)))
    if kind is AttributeType.INT64:
        return PB2Column(present=present, ints=PB2Int64Column(values=_dense(values, 0)))
    return PB2Column(present=present, strings=PB2StringColumn(values=_dense(values, "")))


def _dense(values: Sequence[Value | None], zero: Value) -> list[Any]:
    return [zero if v is None else v for v in values]


def decode_result(
    response: PB2FetchResponse, query: FetchQuery, description: AgencyDescription
) -> FetchResult:
    """Decode an adapter's answer to ``query``, checking it against the agency's description.

    Raises:
        MalformedResponseError: the response's shape does not match the query (row, column or
            predicate counts), a column holds the wrong kind of values for its attribute's
            type, or a list column's lengths do not add up to its values.
        UnknownAttributeError: ``query`` names an attribute ``description`` does not list.
    """
    agency = description.agency_id
    rows = len(query.subjects)
    if len(response.found) != rows:
        raise MalformedResponseError(f"{agency}: {len(response.found)} rows for {rows} subjects")
    if len(response.columns) != len(query.attributes):
        raise MalformedResponseError(
            f"{agency}: {len(response.columns)} columns for {len(query.attributes)} attributes"
        )
    if len(response.predicate_results) != len(query.predicates):
        raise MalformedResponseError(
            f"{agency}: {len(response.predicate_results)} predicate columns "
            f"for {len(query.predicates)} predicates"
        )
    values: dict[str, list[Value | None]] = {}
    for i, (name, column) in enumerate(zip(query.attributes, response.columns, strict=True)):
        kind = description.attribute(name).type
        values[name] = decode_column(column, kind, rows, f"{agency}: columns[{i}] ({name})")
    predicates: list[list[Any]] = [
        decode_column(column, AttributeType.BOOL, rows, f"{agency}: predicate_results[{i}]")
        for i, column in enumerate(response.predicate_results)
    ]
    return FetchResult(found=list(response.found), values=values, predicates=predicates)


def decode_column(
    column: PB2Column, kind: AttributeType, rows: int, where: str
) -> list[Value | None]:
    """Decode one column of ``rows`` values of ``kind``; ``where`` names it in errors.

    Raises:
        MalformedResponseError: wrong presence or value counts, or another kind of values.
    """
    present = list(column.present)
    if len(present) != rows:
        raise MalformedResponseError(f"{where}: {len(present)} presence flags for {rows} rows")
    case = column.WhichOneof("values")
    if case != _COLUMN_KINDS[kind]:
        raise MalformedResponseError(f"{where}: {case or 'no'} values for a {kind.value} column")
    if kind is AttributeType.STRING_LIST:
        return _decode_lists(column.string_lists, present, where)
    dense: list[Any]
    if kind is AttributeType.BOOL:
        dense = list(column.bools.values)
    elif kind is AttributeType.INT64:
        dense = list(column.ints.values)
    else:
        dense = list(column.strings.values)
    if len(dense) != rows:
        raise MalformedResponseError(f"{where}: {len(dense)} values for {rows} rows")
    return [v if p else None for v, p in zip(dense, present, strict=True)]


def _decode_lists(
    column: PB2StringListColumn, present: list[bool], where: str
) -> list[Value | None]:
    lengths = column.lengths
    if len(lengths) != len(present):
        raise MalformedResponseError(
            f"{where}: {len(lengths)} list lengths for {len(present)} rows"
        )
    offsets = list(accumulate(lengths, initial=0))
    flat = list(column.values)
    if offsets[-1] != len(flat):
        raise MalformedResponseError(
            f"{where}: list lengths add up to {offsets[-1]} but {len(flat)} values were sent"
        )
    return [
        tuple(flat[start:end]) if p else None
        for p, start, end in zip(present, offsets[:-1], offsets[1:], strict=True)
    ]
