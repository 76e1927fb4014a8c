"""The planner asks each agency only what the rules need, pushing predicates down when it can."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from adapters.sdk import Predicate, PredicateOperator
from gateway.engine.catalogue import Catalogue
from gateway.engine.errors import UnservedAttributeError
from gateway.engine.planner import AgencyRequest, Plan, plan
from gateway.programs.errors import ParameterNotInForceError
from gateway.programs.model import Program

ProgramFactory = Callable[..., Program]
PlanFactory = Callable[[Program], Plan]

VEHICLE_LIMIT = {
    "unit": "IRR",
    "values": [{"from": "2025-03-21", "value": 6000}, {"from": "2026-03-21", "value": 8000}],
}


def _requests(the_plan: Plan) -> dict[str, AgencyRequest]:
    return {r.agency_id: r for r in the_plan.requests}


def test_a_fact_no_rule_references_is_never_fetched(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0},
            "cars": {"aggregate": "sum", "attributes": ["vehicles.vehicles_owned"], "absent": 0},
        },
        rules={"income": "income < 100"},
    )
    requests = _requests(plan_of(program))
    assert set(requests) == {"tax"}
    assert requests["tax"] == AgencyRequest("tax", ("annual_income",), ())
    assert [f.fact.name for f in plan_of(program).facts] == ["income"]


def test_a_fact_used_only_in_a_reason_text_is_fetched(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0},
            "cars": {"aggregate": "sum", "attributes": ["vehicles.vehicles_owned"], "absent": 0},
        },
        rules=[
            {
                "id": "income",
                "expr": "income < 100",
                "pass": {"code": "LOW", "en": "low ({cars} cars)", "fa": "کم ({cars})"},
                "fail": {"code": "HIGH", "en": "high", "fa": "زیاد"},
            }
        ],
    )
    assert set(_requests(plan_of(program))) == {"tax", "vehicles"}


def test_a_predicate_is_pushed_down_when_the_agency_evaluates_the_operator(
    make_program: ProgramFactory, catalogue: Catalogue
) -> None:
    program = make_program(
        parameters={"max_vehicle_value": VEHICLE_LIMIT},
        facts={
            "costly_car": {
                "aggregate": "any",
                "predicate": {
                    "attribute": "vehicles.vehicle_value",
                    "op": "gt",
                    "param": "max_vehicle_value",
                },
                "absent": False,
            }
        },
        rules={"car": "!costly_car"},
    )
    this_year = _requests(plan(program, catalogue, dt.date(2026, 6, 1)))["vehicles"]
    last_year = _requests(plan(program, catalogue, dt.date(2025, 6, 1)))["vehicles"]
    assert this_year.attributes == ()  # only a boolean leaves the agency
    assert this_year.predicates == (Predicate("vehicle_value", PredicateOperator.GT, 8000),)
    assert last_year.predicates == (Predicate("vehicle_value", PredicateOperator.GT, 6000),)


def test_a_predicate_the_agency_cannot_evaluate_fetches_the_value(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "big_aid": {
                "aggregate": "any",
                "predicate": {"attribute": "relief.monthly_aid", "op": "gt", "value": 500},
                "absent": False,
            }
        },
        rules={"aid": "!big_aid"},
    )
    the_plan = plan_of(program)
    assert _requests(the_plan)["relief"] == AgencyRequest("relief", ("monthly_aid",), ())
    (source,) = the_plan.facts[0].sources
    assert not source.pushed_down
    assert source.local == Predicate("monthly_aid", PredicateOperator.GT, 500)


def test_a_wildcard_asks_every_agency_serving_the_attribute(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "deposits": {"aggregate": "sum", "attributes": ["*.deposit_balance"], "absent": 0},
            "big_deposit": {
                "aggregate": "any",
                "predicate": {"attribute": "*.deposit_balance", "op": "gt", "value": 10},
                "absent": False,
            },
        },
        rules={"deposits": "deposits < 100 && !big_deposit"},
    )
    requests = plan_of(program).requests
    assert [r.agency_id for r in requests] == ["bank_a", "bank_b"]
    bank_a, bank_b = requests
    # bank_a evaluates gt itself; bank_b does not, and its value serves both facts.
    assert bank_a.attributes == ("deposit_balance",)
    assert bank_a.predicates == (Predicate("deposit_balance", PredicateOperator.GT, 10),)
    assert bank_b == AgencyRequest("bank_b", ("deposit_balance",), ())


@pytest.mark.parametrize(
    ("unit", "identity"),
    [
        pytest.param("household", ("alive", "household_members"), id="household"),
        pytest.param("person", ("alive",), id="person"),
    ],
)
def test_the_identity_phase_asks_the_civil_registry_about_the_subject(
    make_program: ProgramFactory, plan_of: PlanFactory, unit: str, identity: tuple[str, ...]
) -> None:
    program = make_program(
        unit=unit,
        facts={"income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0}},
        rules={"income": "income < 100"},
    )
    assert plan_of(program).identity == AgencyRequest("civil_registry", identity, ())


def test_requests_are_one_per_agency_sorted_and_deduplicated(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0},
            "top_income": {"aggregate": "max", "attributes": ["tax.annual_income"], "absent": 0},
            "supporters": {
                "aggregate": "agencies_true",
                "attributes": ["welfare.supports_financial", "relief.supports_financial"],
                "absent": False,
            },
            "severe": {
                "aggregate": "any",
                "predicate": {"attribute": "welfare.disability_severity", "op": "ge", "value": 3},
                "absent": False,
            },
        },
        rules={"a": "income + top_income < 100", "b": "size(supporters) < 2 && !severe"},
    )
    requests = plan_of(program).requests
    assert [r.agency_id for r in requests] == ["relief", "tax", "welfare"]
    assert requests[1].attributes == ("annual_income",)
    assert requests[2] == AgencyRequest(
        "welfare",
        ("supports_financial",),
        (Predicate("disability_severity", PredicateOperator.GE, 3),),
    )


def test_plans_are_deterministic(make_program: ProgramFactory, plan_of: PlanFactory) -> None:
    program = make_program(
        facts={
            "deposits": {"aggregate": "sum", "attributes": ["*.deposit_balance"], "absent": 0},
            "income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0},
        },
        rules={"wealth": "deposits + income < 100"},
    )
    first, second = plan_of(program), plan_of(program)
    assert first.requests == second.requests
    assert first.facts == second.facts
    assert dict(first.parameters) == dict(second.parameters)


def test_parameters_are_those_in_force_on_the_date(
    make_program: ProgramFactory, catalogue: Catalogue
) -> None:
    program = make_program(
        parameters={"max_vehicle_value": VEHICLE_LIMIT},
        facts={"cars": {"aggregate": "max", "attributes": ["vehicles.vehicle_value"]}},
        rules={"car": "cars <= params.max_vehicle_value"},
    )
    assert plan(program, catalogue, dt.date(2026, 3, 21)).parameters == {"max_vehicle_value": 8000}
    assert plan(program, catalogue, dt.date(2026, 3, 20)).parameters == {"max_vehicle_value": 6000}
    with pytest.raises(ParameterNotInForceError, match="max_vehicle_value"):
        plan(program, catalogue, dt.date(2025, 3, 20))


@pytest.mark.parametrize(
    "attribute",
    [
        pytest.param("tax.wealth", id="unknown-attribute"),
        pytest.param("customs.annual_income", id="unknown-agency"),
        pytest.param("*.wealth", id="wildcard-nobody-serves"),
    ],
)
def test_an_unserved_attribute_cannot_be_planned(
    make_program: ProgramFactory, plan_of: PlanFactory, attribute: str
) -> None:
    facts: dict[str, Any] = {"x": {"aggregate": "count", "attributes": [attribute]}}
    program = make_program(facts=facts, rules={"x": "x == 0"})
    with pytest.raises(UnservedAttributeError, match=r"facts.x"):
        plan_of(program)
