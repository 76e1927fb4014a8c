"""Running a program's in-file test cases through the hub's own planner, checker and evaluator.

Each case describes a household (or a person) as the agencies would: per member, the value
each ``agency.attribute`` holds (a missing key is "no record"). The runner plans the program
against a real catalogue, serves the case's records from in-memory agencies (SDK adapters
behind the same :class:`~gateway.fanout.AgencyDirectory` the hub uses, so queries are
validated and predicates answered exactly as over gRPC), simulates the ``unavailable``
agencies as failed, gathers the unit with the hub's checker, evaluates, and compares with
the expectation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from adapters.memory import MemoryAdapter
from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    PredicateOperator,
    Sensitivity,
    Value,
    value_matches,
)
from gateway.checking import Checker
from gateway.engine.catalogue import ALIVE, HOUSEHOLD_MEMBERS, IDENTITY_AGENCY, Catalogue
from gateway.engine.errors import UnservedAttributeError
from gateway.engine.evaluate import UnitFacts, evaluate
from gateway.engine.outcome import Evaluation
from gateway.engine.planner import Plan, plan
from gateway.fanout import AgencyDirectory
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


CASE_PURPOSE = "program_test"
"""The purpose the simulated agencies are told during a test case."""
_SIMULATED_FAILURE = "simulated failure"
_CASE_TIMEOUT_S = 10.0


def run_program_tests(program: Program, catalogue: Catalogue) -> list[CaseResult]:
    """Run every test case of ``program``, in file order.

    Each case's agencies are served in memory and its facts are gathered by the hub's own
    checker (both lookup phases, the civil registry first), then evaluated.

    Raises:
        CaseDataError: a case names an attribute the catalogue does not serve, or a value
            that attribute cannot hold.
        CatalogueError: the catalogue cannot serve the program at all.
    """
    for case in program.tests:
        _check_case_data(program, case, catalogue)
    return asyncio.run(_run_cases(program, catalogue))


async def _run_cases(program: Program, catalogue: Catalogue) -> list[CaseResult]:
    plans: dict[dt.date, Plan] = {}
    results: list[CaseResult] = []
    for case in program.tests:
        the_plan = plans.get(case.as_of)
        if the_plan is None:
            the_plan = plans[case.as_of] = plan(program, catalogue, case.as_of)
        unit = await assemble_case(the_plan, case.members, unavailable=case.unavailable)
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
    """The facts the hub would gather about ``members`` under ``the_plan`` (synchronous).

    Runs :func:`assemble_case` in its own event loop, so call it outside one.
    """
    return asyncio.run(assemble_case(the_plan, members, unavailable=unavailable))


async def assemble_case(
    the_plan: Plan,
    members: Sequence[Mapping[str, Value]],
    *,
    unavailable: Iterable[str] = (),
) -> UnitFacts:
    """Serve ``members`` from in-memory agencies and gather the unit as the hub does.

    Args:
        the_plan: the plan whose requests are answered.
        members: per member (the subject first), ``agency.attribute`` -> value; a missing
            key is "no record". ``civil_registry.alive`` defaults to true, and the civil
            registry lists every member as the subject's household.
        unavailable: agencies simulated as failed (UNAVAILABLE).
    """
    ids = tuple(f"member-{i}" for i in range(len(members)))
    directory = case_agencies(the_plan.catalogue, ids, members, unavailable=unavailable)
    checker = Checker(
        directory,
        the_plan.catalogue,
        agency_timeout_s=_CASE_TIMEOUT_S,
        fetch_chunk_subjects=max(1, len(ids)),
    )
    units = await checker.assemble(the_plan, ids[:1], purpose=CASE_PURPOSE)
    return units[ids[0]].facts


def case_agencies(
    catalogue: Catalogue,
    ids: Sequence[str],
    members: Sequence[Mapping[str, Value]],
    *,
    unavailable: Iterable[str] = (),
) -> AgencyDirectory:
    """In-memory agencies, one per catalogue entry, holding ``members``' records.

    An agency holds a record of member ``i`` when ``members[i]`` names any of its
    attributes; the civil registry holds one of every member (alive unless the case says
    otherwise, in a household of all the members).
    """
    down = frozenset(unavailable)
    records: dict[str, dict[str, dict[str, Value]]] = {}
    for subject, member in zip(ids, members, strict=True):
        records.setdefault(IDENTITY_AGENCY, {})[subject] = {
            ALIVE: True,
            HOUSEHOLD_MEMBERS: tuple(ids),
        }
        for key, value in member.items():
            ref = AttributeRef.parse(key)
            records.setdefault(ref.agency_id, {}).setdefault(subject, {})[ref.attribute] = value
    return AgencyDirectory.local(
        MemoryAdapter(
            AgencyDescription(agency, agency, agency, catalogue.specs(agency)),
            records.get(agency, {}),
            failing=_SIMULATED_FAILURE if agency in down else None,
        )
        for agency in catalogue.agency_ids
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


NEW_AGENCY_HINT = (
    " (a new agency: add it with --agencies ITS_ADAPTER.yaml or --describe-from HOST:PORT)"
)
"""What a test case naming an agency outside the catalogue is told."""


def simulated_catalogue(extra: Iterable[AgencyDescription] = ()) -> Catalogue:
    """The catalogue of the 30 simulated agencies, read from their adapter configs, with
    ``extra`` agencies added (one with a simulated agency's id replaces it).

    Building an adapter opens no database, so the configs' ``data_dir`` points at a
    throw-away folder.
    """
    # Imported here: the adapters' configuration stack is only needed when asked for.
    from adapters.simulated.catalogue import (  # noqa: PLC0415
        agency_config_paths,
        load_simulated_agency,
    )

    added = {description.agency_id: description for description in extra}
    with tempfile.TemporaryDirectory() as data_dir:
        simulated = [
            load_simulated_agency(path, Path(data_dir)).describe()
            for path in agency_config_paths()
            if path.stem not in added
        ]
    return Catalogue.from_descriptions([*simulated, *added.values()])


def _spec(name: str, text: str) -> AttributeSpec:
    kind, *operators = text.split()
    return AttributeSpec(
        name=name,
        type=AttributeType(kind),
        sensitivity=Sensitivity.PERSONAL,
        predicate_operators=frozenset(PredicateOperator(op) for op in operators),
    )


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
                hint = "" if ref.agency_id in catalogue.agency_ids else NEW_AGENCY_HINT
                raise CaseDataError(f"{where}.members[{i}].{key}: {exc}{hint}") from exc
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
