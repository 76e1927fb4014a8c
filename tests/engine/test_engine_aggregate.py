"""Aggregation over members x attributes: properties of each fold, and end to end."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.engine.aggregate import Column, absent_is_neutral, fold
from gateway.engine.catalogue import Catalogue
from gateway.engine.evaluate import evaluate
from gateway.engine.outcome import Decision
from gateway.engine.planner import Plan, plan
from gateway.programs.loader import load_program
from gateway.programs.model import Aggregate
from gateway.programs.testing import describe_agencies, simulate_unit, write_program
from tests.program_files import CONSENT_BASIS

AGENCIES = ("bank_a", "bank_b", "relief", "welfare")
money = st.integers(min_value=0, max_value=10**12)


def columns_of(cells: st.SearchStrategy[object]) -> st.SearchStrategy[list[Column]]:
    """Columns for a household of 1-6 members, from 1-4 distinct agencies."""
    return st.integers(min_value=1, max_value=6).flatmap(
        lambda size: st.lists(
            st.tuples(st.sampled_from(AGENCIES), st.lists(cells, min_size=size, max_size=size)),
            min_size=1,
            max_size=4,
            unique_by=lambda column: column[0],
        )
    )


@given(columns_of(money))
def test_sum_min_max_fold_every_cell(columns: list[Column]) -> None:
    cells = [v for _, column in columns for v in column]
    assert fold(Aggregate.SUM, columns) == sum(cells)  # type: ignore[arg-type]
    assert fold(Aggregate.MIN, columns) == min(cells)  # type: ignore[type-var]
    assert fold(Aggregate.MAX, columns) == max(cells)  # type: ignore[type-var]


@given(columns_of(st.booleans()))
def test_boolean_folds_agree_with_each_other(columns: list[Column]) -> None:
    cells = [v for _, column in columns for v in column]
    trues = fold(Aggregate.COUNT_TRUE, columns)
    assert trues == sum(1 for v in cells if v is True)
    assert fold(Aggregate.ANY, columns) is (trues != 0)
    assert fold(Aggregate.NONE, columns) is (trues == 0)
    assert fold(Aggregate.ALL, columns) is (trues == len(cells))


@given(columns_of(st.booleans()))
def test_agencies_true_lists_each_supporting_agency_once_sorted(columns: list[Column]) -> None:
    result = fold(Aggregate.AGENCIES_TRUE, columns)
    assert result == sorted({agency for agency, column in columns if True in column})


@given(columns_of(st.one_of(st.none(), money)))
def test_count_counts_present_cells(columns: list[Column]) -> None:
    present = sum(1 for _, column in columns for v in column if v is not None)
    assert fold(Aggregate.COUNT, columns) == present


@given(columns_of(st.one_of(st.none(), st.booleans())), st.data())
def test_a_neutral_absent_value_may_stay_absent(columns: list[Column], data: st.DataObject) -> None:
    aggregate = data.draw(
        st.sampled_from(
            [
                Aggregate.ANY,
                Aggregate.ALL,
                Aggregate.NONE,
                Aggregate.COUNT_TRUE,
                Aggregate.AGENCIES_TRUE,
            ]
        )
    )
    neutral = aggregate is Aggregate.ALL
    assert absent_is_neutral(aggregate, neutral)
    replaced = [(a, [neutral if v is None else v for v in column]) for a, column in columns]
    assert fold(aggregate, columns) == fold(aggregate, replaced)


@given(columns_of(st.one_of(st.none(), money)))
def test_absent_sums_read_as_zero(columns: list[Column]) -> None:
    assert absent_is_neutral(Aggregate.SUM, 0)
    replaced = [(a, [0 if v is None else v for v in column]) for a, column in columns]
    assert fold(Aggregate.SUM, columns) == fold(Aggregate.SUM, replaced)


def test_only_true_neutral_elements_may_stay_absent() -> None:
    assert not absent_is_neutral(Aggregate.SUM, 1)
    assert not absent_is_neutral(Aggregate.SUM, False)
    assert not absent_is_neutral(Aggregate.ANY, True)
    assert not absent_is_neutral(Aggregate.ALL, False)
    assert not absent_is_neutral(Aggregate.MIN, 0)
    assert not absent_is_neutral(Aggregate.COUNT, None)


@pytest.fixture(scope="module")
def wealth_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """Household wealth = every member's income and deposits at every bank."""
    document = {
        "id": "wealth",
        "version": "1",
        "title": {"en": "Wealth", "fa": "دارایی"},
        "description": {"en": "Wealth test", "fa": "آزمون دارایی"},
        "need_category": "financial",
        "unit": "household",
        "legal_basis": CONSENT_BASIS,
        "purposes": ["testing"],
        "facts": {
            "wealth": {
                "aggregate": "sum",
                "attributes": ["tax.annual_income", "*.deposit_balance"],
                "absent": 0,
            }
        },
        "rules": [
            {
                "id": "wealth",
                "expr": "wealth <= 2000000000000",
                "pass": {"code": "POOR", "en": "poor", "fa": "فقیر"},
                "fail": {"code": "RICH", "en": "rich", "fa": "ثروتمند"},
            }
        ],
    }
    program = load_program(write_program(tmp_path_factory.mktemp("wealth"), document))
    catalogue = Catalogue.from_descriptions(
        describe_agencies(
            {
                "civil_registry": {"alive": "bool", "household_members": "string_list"},
                "tax": {"annual_income": "int64"},
                "bank_a": {"deposit_balance": "int64 gt"},
                "bank_b": {"deposit_balance": "int64"},
            }
        )
    )
    return plan(program, catalogue, dt.date(2026, 6, 1))


@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "tax.annual_income": money,
                "bank_a.deposit_balance": money,
                "bank_b.deposit_balance": money,
            },
        ),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_household_wealth_is_every_member_at_every_agency_in_any_order(
    wealth_plan: Plan, members: list[dict[str, int]], shuffler: random.Random
) -> None:
    # members x attributes, absent cells as 0; the order of members never matters.
    total = sum(sum(member.values()) for member in members)
    expected = Decision.ELIGIBLE if total <= 2 * 10**12 else Decision.INELIGIBLE
    shuffled = list(members)
    shuffler.shuffle(shuffled)
    for order in (members, shuffled):
        assert evaluate(wealth_plan, simulate_unit(wealth_plan, order)).decision is expected
