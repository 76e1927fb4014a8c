"""Fixtures for the engine tests: a small catalogue and programs built from plain data.

``make_program(facts=..., rules=...)`` writes a program file and loads it with the real
loader. ``rules`` maps rule ids to CEL (reason codes ``<ID>_OK`` / ``<ID>_NOT_OK``), or is a
list of full rule entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gateway.engine.catalogue import Catalogue
from gateway.engine.planner import Plan, plan
from gateway.programs.loader import load_program
from gateway.programs.model import Program
from gateway.programs.testing import describe_agencies, write_program
from tests.program_files import CONSENT_BASIS

TABLE: Mapping[str, Mapping[str, str]] = {
    "civil_registry": {
        "alive": "bool eq",
        "household_members": "string_list",
        "residence": "string eq ne",
    },
    "tax": {"annual_income": "int64 lt le gt ge"},
    "bank_a": {"deposit_balance": "int64 gt"},
    "bank_b": {"deposit_balance": "int64"},
    "vehicles": {"vehicle_value": "int64 gt", "vehicles_owned": "int64"},
    "welfare": {"supports_financial": "bool eq", "disability_severity": "int64 ge"},
    "relief": {"supports_financial": "bool", "monthly_aid": "int64"},
    "subsidy": {"income_decile": "int64 le"},
}
"""A small catalogue: banks with and without predicate support, aid agencies, a registry."""

ProgramFactory = Callable[..., Program]
PlanFactory = Callable[[Program], Plan]


def _rules(rules: Mapping[str, str] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(rules, list):
        return rules
    return [
        {
            "id": rule_id,
            "expr": expr,
            "pass": {"code": f"{rule_id.upper()}_OK", "en": "ok", "fa": "درست"},
            "fail": {"code": f"{rule_id.upper()}_NOT_OK", "en": "not ok", "fa": "نادرست"},
        }
        for rule_id, expr in rules.items()
    ]


@pytest.fixture
def as_of() -> dt.date:
    """The decision date of the engine tests."""
    return dt.date(2026, 6, 1)


@pytest.fixture
def catalogue() -> Catalogue:
    """The small catalogue of :data:`TABLE`."""
    return Catalogue.from_descriptions(describe_agencies(TABLE))


@pytest.fixture
def make_program(tmp_path: Path, as_of: dt.date) -> ProgramFactory:
    """Build a program through the real loader (see the module docstring)."""

    def make(
        *,
        facts: Mapping[str, Any],
        rules: Mapping[str, str] | list[dict[str, Any]],
        parameters: Mapping[str, Any] | None = None,
        unit: str = "household",
    ) -> Program:
        document = {
            "id": "sample",
            "version": "1",
            "title": {"en": "Sample", "fa": "نمونه"},
            "description": {"en": "A sample program", "fa": "برنامه نمونه"},
            "need_category": "financial",
            "unit": unit,
            "legal_basis": CONSENT_BASIS,
            "purposes": ["testing"],
            "parameters": dict(parameters or {}),
            "facts": dict(facts),
            "rules": _rules(rules),
        }
        return load_program(write_program(tmp_path, document), in_force_on=as_of)

    return make


@pytest.fixture
def plan_of(catalogue: Catalogue, as_of: dt.date) -> PlanFactory:
    """Plan a program against the small catalogue on :func:`as_of`."""
    return lambda program: plan(program, catalogue, as_of)
