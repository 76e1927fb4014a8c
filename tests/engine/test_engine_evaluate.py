"""The evaluator's decision semantics, each one on its own: they are what protects families."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import cel
import pytest

from adapters.sdk import Value
from gateway.engine.catalogue import Catalogue
from gateway.engine.errors import InconsistentFactsError
from gateway.engine.evaluate import UnitFacts, evaluate
from gateway.engine.outcome import (
    Decision,
    Evaluation,
    ReasonCode,
    RuleOutcome,
    SourceOutcome,
    SourceStatus,
)
from gateway.engine.planner import Plan, plan
from gateway.programs.model import Program
from gateway.programs.testing import describe_agencies, simulate_unit

ProgramFactory = Callable[..., Program]
PlanFactory = Callable[[Program], Plan]

INCOME = {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0}
DEPOSITS = {"aggregate": "sum", "attributes": ["*.deposit_balance"], "absent": 0}
COSTLY_CAR = {
    "aggregate": "any",
    "predicate": {"attribute": "vehicles.vehicle_value", "op": "gt", "value": 5000},
    "absent": False,
}


@pytest.fixture
def wealth_plan(make_program: ProgramFactory, plan_of: PlanFactory) -> Plan:
    """Three rules on three sources: income (tax), deposits (banks), car (vehicles)."""
    program = make_program(
        facts={"income": INCOME, "deposits": DEPOSITS, "costly_car": COSTLY_CAR},
        rules={"income": "income <= 1000", "deposits": "deposits <= 500", "car": "!costly_car"},
    )
    return plan_of(program)


def _outcomes(evaluation: Evaluation) -> dict[str, RuleOutcome]:
    return {r.rule_id: r.outcome for r in evaluation.rules}


def _decide(
    the_plan: Plan, members: Sequence[Mapping[str, Value]], unavailable: Sequence[str] = ()
) -> Evaluation:
    return evaluate(the_plan, simulate_unit(the_plan, members, unavailable=unavailable))


def test_every_rule_passing_is_eligible(wealth_plan: Plan) -> None:
    evaluation = _decide(wealth_plan, [{"tax.annual_income": 600}, {"bank_a.deposit_balance": 9}])
    assert evaluation.decision is Decision.ELIGIBLE
    assert set(_outcomes(evaluation).values()) == {RuleOutcome.PASS}
    assert evaluation.reason_codes == ("INCOME_OK", "DEPOSITS_OK", "CAR_OK")
    assert evaluation.household_size == 2


def test_any_rule_failing_is_ineligible(wealth_plan: Plan) -> None:
    evaluation = _decide(wealth_plan, [{"tax.annual_income": 600}, {"tax.annual_income": 401}])
    assert evaluation.decision is Decision.INELIGIBLE
    assert _outcomes(evaluation)["income"] is RuleOutcome.FAIL
    assert evaluation.reason_codes == ("INCOME_NOT_OK",)


def test_a_subject_unknown_to_the_civil_registry_is_undetermined(wealth_plan: Plan) -> None:
    unit = dataclasses.replace(simulate_unit(wealth_plan, [{}]), subject_found=False)
    evaluation = evaluate(wealth_plan, unit)
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.SUBJECT_NOT_FOUND,)
    assert {r.outcome for r in evaluation.rules} == {RuleOutcome.UNKNOWN}
    assert {r.reason_code for r in evaluation.rules} == {ReasonCode.SUBJECT_NOT_FOUND}


@pytest.mark.parametrize(
    "status", [SourceStatus.TIMEOUT, SourceStatus.UNAVAILABLE, SourceStatus.ERROR]
)
def test_a_civil_registry_failure_is_a_source_failure_not_a_missing_subject(
    wealth_plan: Plan, status: SourceStatus
) -> None:
    unit = simulate_unit(wealth_plan, [{}])
    sources = {**unit.sources, "civil_registry": SourceOutcome("civil_registry", status, 5)}
    unit = dataclasses.replace(unit, subject_found=False, subject_alive=None, sources=sources)
    evaluation = evaluate(wealth_plan, unit)
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.SOURCE_FAILED,)
    assert all("civil_registry" in r.reason.en for r in evaluation.rules)


def test_a_deceased_subject_is_ineligible_whatever_the_data(wealth_plan: Plan) -> None:
    evaluation = _decide(wealth_plan, [{"civil_registry.alive": False}])
    assert evaluation.decision is Decision.INELIGIBLE
    assert evaluation.reason_codes == (ReasonCode.SUBJECT_DECEASED,)
    assert {r.outcome for r in evaluation.rules} == {RuleOutcome.UNKNOWN}


def test_no_record_of_the_subject_being_alive_is_undetermined(wealth_plan: Plan) -> None:
    unit = dataclasses.replace(simulate_unit(wealth_plan, [{}]), subject_alive=None)
    evaluation = evaluate(wealth_plan, unit)
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.NO_RECORD,)
    assert "civil_registry.alive" in evaluation.rules[0].reason.en


def test_an_unlisted_household_is_undetermined_not_a_household_of_one(
    wealth_plan: Plan,
) -> None:
    unit = dataclasses.replace(simulate_unit(wealth_plan, [{}]), members_known=False)
    evaluation = evaluate(wealth_plan, unit)
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.NO_RECORD,)
    assert "civil_registry.household_members" in evaluation.rules[0].reason.en


@pytest.mark.parametrize(
    "status", [SourceStatus.TIMEOUT, SourceStatus.UNAVAILABLE, SourceStatus.ERROR]
)
def test_a_failed_source_makes_its_rules_unknown_and_the_decision_undetermined(
    wealth_plan: Plan, status: SourceStatus
) -> None:
    unit = simulate_unit(wealth_plan, [{"tax.annual_income": 10}])
    unit = dataclasses.replace(
        unit, sources={**unit.sources, "tax": SourceOutcome("tax", status, 900, "deadline")}
    )
    evaluation = evaluate(wealth_plan, unit)
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.SOURCE_FAILED,)
    income = evaluation.rules[0]
    assert (income.outcome, income.reason_code) == (RuleOutcome.UNKNOWN, ReasonCode.SOURCE_FAILED)
    assert "tax" in income.reason.en
    assert "tax" in income.reason.fa
    assert _outcomes(evaluation)["deposits"] is RuleOutcome.PASS  # other sources still decide


def test_missing_data_is_never_ineligible_even_when_another_rule_fails(wealth_plan: Plan) -> None:
    members = [{"vehicles.vehicle_value": 9000, "tax.annual_income": 10}]
    evaluation = _decide(wealth_plan, members, unavailable=["tax"])
    assert _outcomes(evaluation)["car"] is RuleOutcome.FAIL
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.SOURCE_FAILED,)


def test_a_source_that_did_not_report_counts_as_failed(wealth_plan: Plan) -> None:
    unit = simulate_unit(wealth_plan, [{}])
    sources = {a: s for a, s in unit.sources.items() if a != "bank_b"}
    evaluation = evaluate(wealth_plan, dataclasses.replace(unit, sources=sources))
    assert evaluation.decision is Decision.UNDETERMINED
    assert "bank_b" in evaluation.rules[1].reason.en


def test_a_wildcard_rule_names_every_failed_agency(wealth_plan: Plan) -> None:
    evaluation = _decide(wealth_plan, [{}], unavailable=["bank_b", "bank_a"])
    assert "bank_a, bank_b" in evaluation.rules[1].reason.en


def test_not_found_is_an_answer_and_absence_takes_the_default(wealth_plan: Plan) -> None:
    unit = simulate_unit(wealth_plan, [{}, {}])
    assert unit.sources["tax"].status is SourceStatus.NOT_FOUND
    # A NOT_FOUND agency may leave its columns out entirely.
    values = {k: v for k, v in unit.values.items() if k[0] != "tax"}
    evaluation = evaluate(wealth_plan, dataclasses.replace(unit, values=values))
    assert evaluation.decision is Decision.ELIGIBLE


def test_an_absent_value_without_a_default_is_no_record(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "income": INCOME,
            "decile": {"aggregate": "max", "attributes": ["subsidy.income_decile"]},
        },
        rules={"income": "income < 100", "decile": "decile <= 3"},
    )
    the_plan = plan_of(program)
    evaluation = _decide(the_plan, [{"subsidy.income_decile": 2}, {}])
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.NO_RECORD,)
    decile = evaluation.rules[1]
    assert (decile.outcome, decile.reason_code) == (RuleOutcome.UNKNOWN, ReasonCode.NO_RECORD)
    assert "subsidy.income_decile" in decile.reason.en
    assert _decide(the_plan, [{"subsidy.income_decile": 2}]).decision is Decision.ELIGIBLE


def test_a_source_failure_outranks_a_missing_record(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "income": INCOME,
            "decile": {"aggregate": "max", "attributes": ["subsidy.income_decile"]},
        },
        rules={"income": "income < 100", "decile": "decile <= 3"},
    )
    evaluation = _decide(plan_of(program), [{}], unavailable=["tax"])
    assert evaluation.reason_codes == (ReasonCode.SOURCE_FAILED, ReasonCode.NO_RECORD)


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        pytest.param(
            "income / (household_size - 1) < 5", "ZeroDivisionError", id="division-by-zero"
        ),
        pytest.param("income", "not a boolean", id="not-a-boolean"),
        pytest.param("income + 9223372036854775807 > 0", "OverflowError", id="overflow"),
    ],
)
def test_a_rule_failing_at_run_time_is_unknown(
    make_program: ProgramFactory, plan_of: PlanFactory, expr: str, error: str
) -> None:
    program = make_program(facts={"income": INCOME}, rules={"bad": expr, "good": "income < 5"})
    evaluation = _decide(plan_of(program), [{"tax.annual_income": 1}])
    bad, good = evaluation.rules
    assert (bad.outcome, bad.reason_code) == (RuleOutcome.UNKNOWN, ReasonCode.RULE_ERROR)
    assert error in bad.reason.en
    assert good.outcome is RuleOutcome.PASS
    assert evaluation.decision is Decision.UNDETERMINED
    assert evaluation.reason_codes == (ReasonCode.RULE_ERROR,)


def test_pushed_down_and_local_predicates_decide_the_same(make_program: ProgramFactory) -> None:
    program = make_program(facts={"costly_car": COSTLY_CAR}, rules={"car": "!costly_car"})
    with_ops = Catalogue.from_descriptions(
        describe_agencies(
            {
                "civil_registry": {"alive": "bool", "household_members": "string_list"},
                "vehicles": {"vehicle_value": "int64 gt"},
            }
        )
    )
    without_ops = Catalogue.from_descriptions(
        describe_agencies(
            {
                "civil_registry": {"alive": "bool", "household_members": "string_list"},
                "vehicles": {"vehicle_value": "int64"},
            }
        )
    )
    day = dt.date(2026, 6, 1)
    pushed, local = plan(program, with_ops, day), plan(program, without_ops, day)
    assert pushed.facts[0].sources[0].pushed_down
    assert not local.facts[0].sources[0].pushed_down
    cases: list[list[dict[str, Value]]] = [
        [{}],
        [{"vehicles.vehicle_value": 5000}],
        [{}, {"vehicles.vehicle_value": 5001}],
    ]
    for members in cases:
        assert _decide(pushed, members) == _decide(local, members)


def test_reason_texts_interpolate_fact_values(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "supporters": {
                "aggregate": "agencies_true",
                "attributes": ["*.supports_financial"],
                "absent": False,
            }
        },
        rules=[
            {
                "id": "overlap",
                "expr": "size(supporters) < 2",
                "pass": {
                    "code": "NO_OVERLAP",
                    "en": "by: {supporters}",
                    "fa": "توسط: {supporters}",
                },
                "fail": {
                    "code": "OVERLAP",
                    "en": "Already supported by: {supporters}",
                    "fa": "هم‌اکنون: {supporters}",
                },
            }
        ],
    )
    the_plan = plan_of(program)
    both = [{"welfare.supports_financial": True}, {"relief.supports_financial": True}]
    (overlap,) = _decide(the_plan, both).rules
    assert overlap.reason.en == "Already supported by: relief, welfare"
    assert overlap.reason.fa == "هم‌اکنون: relief, welfare"
    (alone,) = _decide(the_plan, [{}]).rules
    assert alone.reason.en == "by: —"


def test_a_subject_scoped_fact_reads_only_the_subject(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={
            "rural": {
                "aggregate": "any",
                "scope": "subject",
                "predicate": {
                    "attribute": "civil_registry.residence",
                    "op": "eq",
                    "value": "rural",
                },
            }
        },
        rules={"rural": "rural"},
    )
    the_plan = plan_of(program)
    urban_subject = [{"civil_registry.residence": "urban"}, {"civil_registry.residence": "rural"}]
    rural_subject = [{"civil_registry.residence": "rural"}, {}]  # a member's gap is irrelevant
    assert _decide(the_plan, urban_subject).decision is Decision.INELIGIBLE
    assert _decide(the_plan, rural_subject).decision is Decision.ELIGIBLE


def test_count_counts_records_and_absence_is_never_unknown(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={"taxpayers": {"aggregate": "count", "attributes": ["tax.annual_income"]}},
        rules={"one_taxpayer": "taxpayers == 1"},
    )
    the_plan = plan_of(program)
    assert _decide(the_plan, [{"tax.annual_income": 0}, {}, {}]).decision is Decision.ELIGIBLE
    assert _decide(the_plan, [{}, {}]).decision is Decision.INELIGIBLE


def test_household_size_is_available_to_rules(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        facts={"income": INCOME}, rules={"per_capita": "income <= 100 * household_size"}
    )
    the_plan = plan_of(program)
    assert _decide(the_plan, [{"tax.annual_income": 300}, {}, {}]).decision is Decision.ELIGIBLE
    assert _decide(the_plan, [{"tax.annual_income": 300}, {}]).decision is Decision.INELIGIBLE


def test_a_gap_in_one_unit_never_reuses_the_previous_units_values(wealth_plan: Plan) -> None:
    assert _decide(wealth_plan, [{"tax.annual_income": 1}]).decision is Decision.ELIGIBLE
    evaluation = _decide(wealth_plan, [{}], unavailable=["tax"])
    assert _outcomes(evaluation)["income"] is RuleOutcome.UNKNOWN


class _CountingProgram:
    """Wraps a compiled CEL program and counts its executions."""

    def __init__(self, inner: cel.Program) -> None:
        self.inner = inner
        self.calls = 0

    def execute(self, context: Any = None) -> Any:
        self.calls += 1
        return self.inner.execute(context)


def test_each_rule_runs_once_per_unit_and_not_at_all_on_a_gap(
    wealth_plan: Plan, catalogue: Catalogue
) -> None:
    program = wealth_plan.program
    counters = [_CountingProgram(r.compiled) for r in program.rules]
    rules = tuple(
        dataclasses.replace(r, compiled=cast("cel.Program", c))
        for r, c in zip(program.rules, counters, strict=True)
    )
    counted = plan(dataclasses.replace(program, rules=rules), catalogue, wealth_plan.as_of)
    _decide(counted, [{}, {}])
    _decide(counted, [{}], unavailable=["tax"])
    assert [c.calls for c in counters] == [1, 2, 2]


def test_concurrent_evaluations_do_not_mix_units(wealth_plan: Plan) -> None:
    rich = simulate_unit(wealth_plan, [{"tax.annual_income": 5000}])
    poor = simulate_unit(wealth_plan, [{"tax.annual_income": 5}])
    units = [rich, poor] * 500
    with ThreadPoolExecutor(max_workers=4) as pool:
        decisions = list(pool.map(lambda u: evaluate(wealth_plan, u).decision, units))
    assert decisions == [Decision.INELIGIBLE, Decision.ELIGIBLE] * 500


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param({"values": {}}, id="column-missing-from-an-agency-that-answered"),
        pytest.param({"members": ("member-0", "member-1")}, id="column-of-the-wrong-length"),
        pytest.param({"subject": "stranger"}, id="subject-not-among-members"),
    ],
)
def test_facts_that_do_not_match_the_plan_are_a_loud_error(
    wealth_plan: Plan, damage: dict[str, Any]
) -> None:
    unit = simulate_unit(wealth_plan, [{"tax.annual_income": 1, "bank_a.deposit_balance": 1}])
    with pytest.raises(InconsistentFactsError):
        evaluate(wealth_plan, dataclasses.replace(unit, **damage))


def test_person_programs_have_a_household_of_one(
    make_program: ProgramFactory, plan_of: PlanFactory
) -> None:
    program = make_program(
        unit="person", facts={"income": INCOME}, rules={"i": "household_size == 1"}
    )
    unit = simulate_unit(plan_of(program), [{}])
    assert isinstance(unit, UnitFacts)
    evaluation = evaluate(plan_of(program), unit)
    assert (evaluation.decision, evaluation.household_size) == (Decision.ELIGIBLE, 1)
