"""The connector codec: round trips, and refusal of malformed requests and responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sakha.v1 import connector_pb2 as pb2

from adapters import codec
from adapters.errors import MalformedRequestError, MalformedResponseError, UnknownAttributeError
from adapters.sdk import (
    INT64_MAX,
    INT64_MIN,
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

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # protobuf needs UTF-8
_VALUES: dict[AttributeType, st.SearchStrategy[Value]] = {
    AttributeType.BOOL: st.booleans(),
    AttributeType.INT64: st.integers(INT64_MIN, INT64_MAX),
    AttributeType.STRING: _TEXT,
    AttributeType.STRING_LIST: st.lists(_TEXT, max_size=4).map(tuple),
}


def _wire(response: pb2.FetchResponse) -> pb2.FetchResponse:
    return pb2.FetchResponse.FromString(response.SerializeToString())


# --- Describe -------------------------------------------------------------------------------


def test_description_round_trip(tax_description: AgencyDescription) -> None:
    encoded = codec.encode_description(tax_description)
    wire = pb2.DescribeResponse.FromString(encoded.SerializeToString())
    assert codec.decode_description(wire) == tax_description


def test_description_uses_the_proto_enums(tax_description: AgencyDescription) -> None:
    encoded = codec.encode_description(tax_description)
    income = encoded.attributes[0]
    assert income.type == pb2.ATTRIBUTE_TYPE_INT64
    assert income.sensitivity == pb2.SENSITIVITY_FINANCIAL
    assert list(income.predicate_operators) == [
        pb2.PREDICATE_OPERATOR_LT,
        pb2.PREDICATE_OPERATOR_LE,
        pb2.PREDICATE_OPERATOR_GT,
        pb2.PREDICATE_OPERATOR_GE,
        pb2.PREDICATE_OPERATOR_EQ,
        pb2.PREDICATE_OPERATOR_NE,
    ]


def _attribute(**fields: Any) -> pb2.AttributeInfo:
    defaults: dict[str, Any] = {
        "name": "x",
        "type": pb2.ATTRIBUTE_TYPE_BOOL,
        "sensitivity": pb2.SENSITIVITY_PUBLIC,
    }
    return pb2.AttributeInfo(**(defaults | fields))


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (pb2.DescribeResponse(agency_id=""), "empty agency_id"),
        (pb2.DescribeResponse(agency_id="a", attributes=[_attribute(name="")]), "name"),
        (
            pb2.DescribeResponse(agency_id="a", attributes=[_attribute(), _attribute()]),
            "repeated name",
        ),
        (
            pb2.DescribeResponse(agency_id="a", attributes=[_attribute(type=0)]),
            r"attributes\[0\]\.type: unknown or unspecified value 0",
        ),
        (
            pb2.DescribeResponse(agency_id="a", attributes=[_attribute(type=99)]),
            r"attributes\[0\]\.type: unknown or unspecified value 99",
        ),
        (
            pb2.DescribeResponse(agency_id="a", attributes=[_attribute(sensitivity=0)]),
            r"\.sensitivity",
        ),
        (
            pb2.DescribeResponse(
                agency_id="a",
                attributes=[_attribute(predicate_operators=[5, 42])],
            ),
            r"\.predicate_operators: unknown or unspecified value 42",
        ),
    ],
    ids=[
        "no-agency-id",
        "unnamed-attribute",
        "repeated-attribute",
        "unspecified-type",
        "unknown-type",
        "unspecified-sensitivity",
        "unknown-operator",
    ],
)
def test_malformed_description_is_refused(response: pb2.DescribeResponse, message: str) -> None:
    with pytest.raises(MalformedResponseError, match=message):
        codec.decode_description(response)


# --- Fetch request --------------------------------------------------------------------------

_OPERANDS: st.SearchStrategy[bool | int | str] = st.one_of(
    st.booleans(), st.integers(INT64_MIN, INT64_MAX), _TEXT
)


_QUERIES = st.builds(
    FetchQuery,
    subjects=st.lists(_TEXT, max_size=5).map(tuple),
    attributes=st.lists(_TEXT, max_size=3).map(tuple),
    predicates=st.lists(
        st.builds(Predicate, _TEXT, st.sampled_from(PredicateOperator), _OPERANDS), max_size=3
    ).map(tuple),
    as_of=st.dates(min_value=dt.date(1000, 1, 1)),
    fetch_id=_TEXT,
    purpose=_TEXT,
)


@given(_QUERIES)
def test_query_round_trip(query: FetchQuery) -> None:
    wire = pb2.FetchRequest.FromString(codec.encode_query(query).SerializeToString())
    decoded = codec.decode_query(wire)
    assert decoded == query
    # bool and int operands compare equal in Python: check the kinds survived too
    assert [type(p.operand) for p in decoded.predicates] == [
        type(p.operand) for p in query.predicates
    ]


def _request(**fields: object) -> pb2.FetchRequest:
    request = pb2.FetchRequest(subjects=["0000000001"], attributes=["x"], as_of="2025-03-01")
    for key, value in fields.items():
        if key == "predicate":
            assert isinstance(value, pb2.Predicate)
            request.predicates.append(value)
        else:
            setattr(request, key, value)
    return request


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_request(as_of=""), "as_of"),
        (_request(as_of="2025-13-01"), "as_of"),
        (_request(as_of="2025-02-30"), "as_of"),
        (_request(as_of="20250301"), "as_of"),
        (_request(as_of="2025-3-1"), "as_of"),
        (_request(as_of="2025-03-01T00:00:00"), "as_of"),
        (_request(as_of=" 2025-03-01"), "as_of"),
        (
            _request(predicate=pb2.Predicate(attribute="x", operand=pb2.Scalar(int_value=1))),
            "predicates[0].operator",
        ),
        (
            _request(
                predicate=pb2.Predicate(
                    attribute="x",
                    operator=pb2.PredicateOperator.ValueType(77),
                    operand=pb2.Scalar(int_value=1),
                )
            ),
            "predicates[0].operator",
        ),
        (
            _request(predicate=pb2.Predicate(attribute="x", operator=pb2.PREDICATE_OPERATOR_LT)),
            "predicates[0].operand",
        ),
        (
            _request(
                predicate=pb2.Predicate(
                    attribute="x", operator=pb2.PREDICATE_OPERATOR_LT, operand=pb2.Scalar()
                )
            ),
            "predicates[0].operand",
        ),
    ],
    ids=[
        "as-of-missing",
        "as-of-month-13",
        "as-of-february-30",
        "as-of-basic-format",
        "as-of-unpadded",
        "as-of-datetime",
        "as-of-leading-space",
        "operator-unspecified",
        "operator-unknown",
        "operand-missing",
        "operand-empty",
    ],
)
def test_malformed_request_is_refused(request_: pb2.FetchRequest, field: str) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        codec.decode_query(request_)
    assert caught.value.field == field


# --- Fetch response -------------------------------------------------------------------------


@st.composite
def _exchanges(draw: st.DrawFn) -> tuple[AgencyDescription, FetchQuery, FetchResult]:
    kinds = draw(st.lists(st.sampled_from(AttributeType), max_size=5))
    specs = tuple(AttributeSpec(f"a{i}", k, Sensitivity.PUBLIC) for i, k in enumerate(kinds))
    rows = draw(st.integers(0, 12))
    subjects = tuple(f"{i:010d}" for i in range(rows))
    column = st.lists
    values = {
        spec.name: draw(column(st.none() | _VALUES[spec.type], min_size=rows, max_size=rows))
        for spec in specs
    }
    predicates = draw(
        st.lists(column(st.none() | st.booleans(), min_size=rows, max_size=rows), max_size=3)
    )
    query = FetchQuery(
        subjects,
        tuple(values),
        tuple(Predicate("a0", PredicateOperator.EQ, True) for _ in predicates),
    )
    found = draw(column(st.booleans(), min_size=rows, max_size=rows))
    return (
        AgencyDescription("a", "A", "", specs),
        query,
        FetchResult(found=found, values=values, predicates=predicates),
    )


@given(_exchanges())
def test_result_round_trip(exchange: tuple[AgencyDescription, FetchQuery, FetchResult]) -> None:
    description, query, result = exchange
    wire = _wire(codec.encode_result(result, query, description))
    assert codec.decode_result(wire, query, description) == result


def test_columns_are_dense_and_in_query_order(tax_description: AgencyDescription) -> None:
    query = FetchQuery(("1", "2", "3"), ("members", "annual_income"))
    result = FetchResult(
        found=[True, True, False],
        values={"annual_income": [5, None, None], "members": [("a", "b"), None, ()]},
    )
    response = codec.encode_result(result, query, tax_description)
    members, income = response.columns
    assert list(members.present) == [True, False, True]
    assert list(members.string_lists.values) == ["a", "b"]
    assert list(members.string_lists.lengths) == [2, 0, 0]
    assert list(income.present) == [True, False, False]
    assert list(income.ints.values) == [5, 0, 0]


_QUERY = FetchQuery(
    subjects=("1", "2"),
    attributes=("annual_income", "business_license", "members"),
    predicates=(Predicate("annual_income", PredicateOperator.LT, 10),),
)
_RESULT = FetchResult(
    found=[True, False],
    values={
        "annual_income": [5, None],
        "business_license": [True, None],
        "members": [("1", "3"), None],
    },
    predicates=[[True, None]],
)
Mutation = Callable[[pb2.FetchResponse], object]


def _set_ints(column: pb2.Column, values: list[int]) -> None:
    column.ints.values[:] = values


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.found.append(True), "3 rows for 2 subjects"),
        (lambda r: r.found.pop(), "1 rows for 2 subjects"),
        (lambda r: r.columns.pop(), "2 columns for 3 attributes"),
        (lambda r: r.columns.add(), "4 columns for 3 attributes"),
        (lambda r: r.predicate_results.pop(), "0 predicate columns for 1 predicates"),
        (lambda r: r.columns[0].present.pop(), r"columns\[0\] \(annual_income\): 1 presence"),
        (lambda r: r.columns[0].ints.values.append(7), r"columns\[0\].*3 values for 2 rows"),
        (lambda r: r.columns[0].ints.values.pop(), r"columns\[0\].*1 values for 2 rows"),
        (
            lambda r: r.columns[0].strings.values.extend(["5", ""]),
            r"columns\[0\].*strings values for a int64 column",
        ),
        (
            lambda r: r.columns[1].ints.values.extend([1, 0]),
            r"columns\[1\].*ints values for a bool column",
        ),
        (lambda r: r.columns[1].ClearField("bools"), r"columns\[1\].*no values for a bool"),
        (
            lambda r: r.columns[2].string_lists.lengths.__setitem__(0, 5),
            r"columns\[2\].*lengths add up to 5 but 2 values",
        ),
        (
            lambda r: r.columns[2].string_lists.values.append("x"),
            r"columns\[2\].*lengths add up to 2 but 3 values",
        ),
        (
            lambda r: r.columns[2].string_lists.lengths.pop(),
            r"columns\[2\].*1 list lengths for 2 rows",
        ),
        (
            lambda r: r.columns[2].strings.values.extend(["1", "3"]),
            r"columns\[2\].*strings values for a string_list column",
        ),
        (
            lambda r: _set_ints(r.predicate_results[0], [1, 0]),
            r"predicate_results\[0\].*ints values for a bool column",
        ),
        (
            lambda r: r.predicate_results[0].bools.values.append(True),
            r"predicate_results\[0\]: 3 values for 2 rows",
        ),
    ],
    ids=[
        "extra-row",
        "missing-row",
        "missing-column",
        "extra-column",
        "missing-predicate-column",
        "short-presence-mask",
        "extra-value",
        "missing-value",
        "strings-for-int64",
        "ints-for-bool",
        "no-values",
        "list-lengths-overrun",
        "list-values-left-over",
        "missing-list-length",
        "strings-for-string-list",
        "ints-for-predicate",
        "extra-predicate-value",
    ],
)
def test_malformed_response_is_refused(
    tax_description: AgencyDescription, mutate: Mutation, message: str
) -> None:
    response = codec.encode_result(_RESULT, _QUERY, tax_description)
    assert codec.decode_result(response, _QUERY, tax_description) == _RESULT
    mutate(response)
    with pytest.raises(MalformedResponseError, match=message):
        codec.decode_result(_wire(response), _QUERY, tax_description)


def test_query_naming_an_attribute_the_description_lacks(
    tax_description: AgencyDescription,
) -> None:
    query = FetchQuery(("1",), ("unknown",))
    response = pb2.FetchResponse(found=[True], columns=[pb2.Column(present=[False])])
    with pytest.raises(UnknownAttributeError):
        codec.decode_result(response, query, tax_description)
