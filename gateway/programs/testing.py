"""Running a program's in-file test cases through the planner and evaluator the hub uses.

Each case describes a household (or a person) as the agencies would: per member, the value
each ``agency.attribute`` holds (a missing key is "no record"). The runner plans the program
against a real catalogue, answers the plan's requests from the case as the adapter SDK
would (a pushed-down predicate is answered from the value), simulates the ``unavailable``
agencies as failed, evaluates, and compares with the expectation.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    Predicate,
    PredicateOperator,
    Sensitivity,
    Value,
    value_matches,
)
from gateway.engine.catalogue import ALIVE, IDENTITY_AGENCY, Catalogue
from gateway.engine.errors import UnservedAttributeError
from gateway.engine.evaluate import UnitFacts, evaluate
from gateway.engine.outcome import Evaluation, SourceOutcome, SourceStatus
from gateway.engine.planner import Plan, plan
from gateway.programs.errors import CaseDataError
from gateway.programs.model import AttributeRef, Program, ProgramTestCase


@dataclass(frozen=True)
class CaseResult:
    """One test case's outcome: what the engine decided and how it differs from the file."""

    name: str
    passed: bool
    evaluation: Evaluation
    mismatches: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """The mismatches as one line (empty when the case passed)."""
        return "; ".join(self.mismatches)


def run_program_tests(program: Program, catalogue: Catalogue) -> list[CaseResult]:
    """Run every test case of ``program``, in file order.

    Raises:
        CaseDataError: a case names an attribute the catalogue does not serve, or a value
            that attribute cannot hold.
        CatalogueError: the catalogue cannot serve the program at all.
    """
    plans: dict[dt.date, Plan] = {}
    results: list[CaseResult] = []
    for case in program.tests:
        _check_case_data(program, case, catalogue)
        the_plan = plans.get(case.as_of)
        if the_plan is None:
            the_plan = plans[case.as_of] = plan(program, catalogue, case.as_of)
        unit = simulate_unit(the_plan, case.members, unavailable=case.unavailable)
        evaluation = evaluate(the_plan, unit)
        mismatches = _compare(case, evaluation)
        results.append(CaseResult(case.name, not mismatches, evaluation, mismatches))
    return results


def simulate_unit(
    the_plan: Plan,
    members: Sequence[Mapping[str, Value]],
    *,
    unavailable: Iterable[str] = (),
) -> UnitFacts:
    """Answer ``the_plan``'s requests as the agencies and the hub would.

    Args:
        the_plan: the plan whose requests are answered.
        members: per member (the subject first), ``agency.attribute`` -> value; a missing
            key is "no record". ``civil_registry.alive`` defaults to true.
        unavailable: agencies simulated as failed (UNAVAILABLE).
    """
    ids = tuple(f"member-{i}" for i in range(len(members)))
    down = set(unavailable)
    sources = {IDENTITY_AGENCY: _outcome(IDENTITY_AGENCY, down, found=True)}
    values: dict[tuple[str, str], list[Value | None]] = {}
    predicates: dict[tuple[str, Predicate], list[bool | None]] = {}
    for request in the_plan.requests:
        agency = request.agency_id
        prefix = f"{agency}."
        found = any(key.startswith(prefix) for member in members for key in member)
        sources[agency] = _outcome(agency, down, found=found)
        if agency in down:
            continue
        for name in request.attributes:
            values[(agency, name)] = [m.get(f"{agency}.{name}") for m in members]
        for predicate in request.predicates:
            column = [m.get(f"{agency}.{predicate.attribute}") for m in members]
            predicates[(agency, predicate)] = [
                None if v is None else predicate.operator.apply(v, predicate.operand)
                for v in column
            ]
    alive = members[0].get(f"{IDENTITY_AGENCY}.{ALIVE}", True)
    return UnitFacts(
        subject=ids[0],
        members=ids,
        subject_found=True,
        subject_alive=alive if isinstance(alive, bool) else None,
        values=values,
        predicates=predicates,
        sources=sources,
    )


def describe_agencies(table: Mapping[str, Mapping[str, str]]) -> tuple[AgencyDescription, ...]:
    """Agency descriptions from a compact table, for tests and program authors.

    ``{"tax": {"annual_income": "int64 lt le gt ge"}}`` describes agency ``tax`` serving
    ``annual_income`` as an int64 whose ``lt``/``le``/``gt``/``ge`` it evaluates itself.
    """
    return tuple(
        AgencyDescription(
            agency_id=agency,
            name=agency,
            name_fa=agency,
            attributes=tuple(_spec(name, text) for name, text in attributes.items()),
        )
        for agency, attributes in table.items()
    )


def write_program(folder: Path, document: Mapping[str, object]) -> Path:
    """Write ``document`` as ``<id>.yaml`` in ``folder`` (for tests and program generators).

    The YAML is plain data (dates as ISO text); load it with ``load_program``.
    """
    path = folder / f"{document['id']}.yaml"
    path.write_text(yaml.safe_dump(dict(document), allow_unicode=True, sort_keys=False), "utf-8")
    return path


def simulated_catalogue() -> Catalogue:
    """The catalogue of the 30 simulated agencies, read from their adapter configs.

    Building an adapter opens no database, so the configs' ``data_dir`` points at a
    throw-away folder.
    """
    # Imported here: the adapters' configuration stack is only needed when asked for.
    from adapters.config import load_adapter_config  # noqa: PLC0415
    from adapters.simulated.catalogue import agency_config_paths  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as data_dir:
        return Catalogue.from_descriptions(
            load_adapter_config(path, variables={"data_dir": data_dir}).describe()
            for path in agency_config_paths()
        )


def _spec(name: str, text: str) -> AttributeSpec:
    kind, *operators = text.split()
    return AttributeSpec(
        name=name,
        type=AttributeType(kind),
        sensitivity=Sensitivity.PERSONAL,
        predicate_operators=frozenset(PredicateOperator(op) for op in operators),
    )


def _outcome(agency: str, down: Iterable[str], *, found: bool) -> SourceOutcome:
    if agency in down:
        return SourceOutcome(agency, SourceStatus.UNAVAILABLE, 0, "simulated failure")
    return SourceOutcome(agency, SourceStatus.OK if found else SourceStatus.NOT_FOUND, 0)


def _check_case_data(program: Program, case: ProgramTestCase, catalogue: Catalogue) -> None:
    where = f"{program.source_path.name}: tests[{case.name!r}]"
    for agency in case.unavailable:
        if agency not in catalogue.agency_ids:
            raise CaseDataError(f"{where}.unavailable: no agency {agency!r} in the catalogue")
    for i, member in enumerate(case.members):
        for key, value in member.items():
            ref = AttributeRef.parse(key)
            try:
                spec = catalogue.spec(ref.agency_id, ref.attribute)
            except UnservedAttributeError as exc:
                raise CaseDataError(f"{where}.members[{i}].{key}: {exc}") from exc
            if not value_matches(spec.type, value):
                raise CaseDataError(
                    f"{where}.members[{i}].{key}: {value!r} is not {spec.type.value}"
                )


def _compare(case: ProgramTestCase, evaluation: Evaluation) -> tuple[str, ...]:
    expect = case.expect
    mismatches: list[str] = []
    if evaluation.decision.value != expect.decision:
        mismatches.append(f"decision {evaluation.decision.value}, expected {expect.decision}")
    outcomes = {r.rule_id: r for r in evaluation.rules}
    for rule_id, outcome in expect.rules.items():
        actual = outcomes[rule_id]
        if actual.outcome.value != outcome:
            mismatches.append(
                f"rule {rule_id} {actual.outcome.value} ({actual.reason_code}: "
                f"{actual.reason.en}), expected {outcome}"
            )
    codes = evaluation.reason_codes
    if expect.reason_codes is not None and codes != expect.reason_codes:
        mismatches.append(f"reason codes {list(codes)}, expected {list(expect.reason_codes)}")
    if mismatches and not expect.rules:
        mismatches.append(
            "rules: " + ", ".join(f"{r.rule_id}={r.outcome.value}" for r in evaluation.rules)
        )
    return tuple(mismatches)
