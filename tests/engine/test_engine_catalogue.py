"""The catalogue resolves attribute references and refuses programs the agencies cannot serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.sdk import AttributeType, PredicateOperator
from gateway.engine.catalogue import Catalogue
from gateway.engine.errors import (
    CatalogueError,
    EngineError,
    UnservedAttributeError,
    UnsupportedOperationError,
)
from gateway.programs.model import AttributeRef, Program
from gateway.programs.testing import describe_agencies

ProgramFactory = Callable[..., Program]


def test_a_concrete_reference_resolves_to_its_agency(catalogue: Catalogue) -> None:
    (served,) = catalogue.resolve(AttributeRef.parse("tax.annual_income"))
    assert served.agency_id == "tax"
    assert served.spec.type is AttributeType.INT64
    assert served.pushes_down(PredicateOperator.GT)


def test_a_wildcard_resolves_to_every_agency_serving_it_sorted(catalogue: Catalogue) -> None:
    served = catalogue.resolve(AttributeRef.parse("*.supports_financial"))
    assert [s.agency_id for s in served] == ["relief", "welfare"]
    assert not served[0].pushes_down(PredicateOperator.EQ)
    assert served[1].pushes_down(PredicateOperator.EQ)


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param("tax.wealth", id="unknown-attribute"),
        pytest.param("customs.annual_income", id="unknown-agency"),
        pytest.param("*.wealth", id="wildcard-nobody-serves"),
    ],
)
def test_an_unserved_reference_is_refused(catalogue: Catalogue, reference: str) -> None:
    with pytest.raises(UnservedAttributeError):
        catalogue.resolve(AttributeRef.parse(reference))


@pytest.mark.parametrize(
    "table",
    [
        pytest.param(
            [{"tax": {"a": "int64"}}, {"tax": {"b": "int64"}}], id="agency-described-twice"
        ),
    ],
)
def test_inconsistent_descriptions_are_refused(table: list[dict[str, dict[str, str]]]) -> None:
    descriptions = [d for part in table for d in describe_agencies(part)]
    with pytest.raises(CatalogueError, match="described twice"):
        Catalogue.from_descriptions(descriptions)


def test_an_agency_listing_an_attribute_twice_is_refused() -> None:
    (tax,) = describe_agencies({"tax": {"a": "int64"}})
    doubled = type(tax)(tax.agency_id, tax.name, tax.name_fa, tax.attributes * 2)
    with pytest.raises(CatalogueError, match="twice"):
        Catalogue.from_descriptions([doubled])


@pytest.mark.parametrize(
    ("fact", "error"),
    [
        pytest.param(
            {"aggregate": "sum", "attributes": ["welfare.supports_financial"], "absent": 0},
            UnsupportedOperationError,
            id="sum-over-a-boolean",
        ),
        pytest.param(
            {"aggregate": "any", "attributes": ["tax.annual_income"], "absent": False},
            UnsupportedOperationError,
            id="any-over-an-integer",
        ),
        pytest.param(
            {"aggregate": "max", "attributes": ["civil_registry.residence"]},
            UnsupportedOperationError,
            id="max-over-a-string",
        ),
        pytest.param(
            {
                "aggregate": "any",
                "predicate": {"attribute": "welfare.supports_financial", "op": "lt", "value": True},
            },
            UnsupportedOperationError,
            id="ordering-a-boolean",
        ),
        pytest.param(
            {
                "aggregate": "any",
                "predicate": {"attribute": "civil_registry.residence", "op": "gt", "value": "a"},
            },
            UnsupportedOperationError,
            id="ordering-a-string",
        ),
        pytest.param(
            {
                "aggregate": "any",
                "predicate": {
                    "attribute": "civil_registry.household_members",
                    "op": "eq",
                    "value": "x",
                },
            },
            UnsupportedOperationError,
            id="comparing-a-list",
        ),
        pytest.param(
            {
                "aggregate": "any",
                "predicate": {"attribute": "tax.annual_income", "op": "gt", "value": "high"},
            },
            UnsupportedOperationError,
            id="string-operand-on-an-integer",
        ),
        pytest.param(
            {
                "aggregate": "any",
                "predicate": {
                    "attribute": "civil_registry.residence",
                    "op": "eq",
                    "param": "limit",
                },
            },
            UnsupportedOperationError,
            id="integer-parameter-on-a-string",
        ),
        pytest.param(
            {"aggregate": "count", "attributes": ["tax.wealth"]},
            UnservedAttributeError,
            id="unserved-attribute",
        ),
    ],
)
def test_validate_refuses_what_the_agencies_cannot_serve(
    make_program: ProgramFactory,
    catalogue: Catalogue,
    fact: dict[str, Any],
    error: type[EngineError],
) -> None:
    program = make_program(
        parameters={"limit": {"unit": "IRR", "values": [{"from": "2025-03-21", "value": 1}]}},
        facts={"x": fact},
        rules={"x": "x == x"},
    )
    with pytest.raises(error, match=r"sample: facts.x"):
        catalogue.validate(program)


def test_validate_checks_even_facts_no_rule_uses(
    make_program: ProgramFactory, catalogue: Catalogue
) -> None:
    program = make_program(
        facts={
            "used": {"aggregate": "count", "attributes": ["tax.annual_income"]},
            "unused": {"aggregate": "count", "attributes": ["tax.wealth"]},
        },
        rules={"x": "used == 0"},
    )
    with pytest.raises(UnservedAttributeError, match=r"facts.unused"):
        catalogue.validate(program)


@pytest.mark.parametrize(
    ("registry", "unit"),
    [
        pytest.param({"alive": "bool"}, "household", id="no-household-members"),
        pytest.param({"household_members": "string_list"}, "person", id="no-alive"),
        pytest.param(
            {"alive": "string", "household_members": "string_list"}, "person", id="alive-not-bool"
        ),
    ],
)
def test_validate_needs_the_identity_attributes(
    make_program: ProgramFactory, registry: dict[str, str], unit: str
) -> None:
    catalogue = Catalogue.from_descriptions(
        describe_agencies({"civil_registry": registry, "tax": {"annual_income": "int64"}})
    )
    program = make_program(
        unit=unit,
        facts={"n": {"aggregate": "count", "attributes": ["tax.annual_income"]}},
        rules={"x": "n == 0"},
    )
    with pytest.raises(CatalogueError, match="civil_registry"):
        catalogue.validate(program)
