"""Fixtures for the programs tests: the documented catalogue and a valid program to break."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gateway.engine.catalogue import Catalogue
from gateway.programs.loader import load_program
from gateway.programs.model import Program
from gateway.programs.testing import describe_agencies, write_program
from tests.program_files import CONSENT_BASIS

_AID = "bool eq"
_MONEY = "int64 lt le gt ge"
_COUNT = "int64 lt le gt ge eq ne"
_BANK = {"deposit_balance": _MONEY, "loan_outstanding": _MONEY}
_BANKS = tuple(
    f"bank_{name}"
    for name in ("melli", "sepah", "mellat", "tejarat", "saderat", "keshavarzi", "maskan", "refah")
)

DOCUMENTED_AGENCIES: Mapping[str, Mapping[str, str]] = {
    "civil_registry": {
        "age_years": _COUNT,
        "sex": "string eq ne",
        "alive": "bool eq",
        "household_id": "string",
        "household_members": "string_list",
        "head_of_household": "bool eq",
        "residence": "string eq ne",
        "province": "string eq ne",
        "marital_status": "string eq ne",
    },
    "tax": {"annual_income": _MONEY, "business_license": "bool eq"},
    "social_security": {"insured": "bool eq", "monthly_wage": _MONEY, "monthly_pension": _MONEY},
    "civil_pension_fund": {"monthly_pension": _MONEY},
    "health_insurance": {"insured": "bool eq", "coverage_tier": "string eq ne"},
    "special_illness_registry": {"chronic_illness": "bool eq", "illness_category": "string eq ne"},
    "welfare": {
        "disability_severity": _COUNT,
        **{f"supports_{n}": _AID for n in ("financial", "medical", "social_work", "emotional")},
    },
    "relief_committee": {
        **{f"supports_{n}": _AID for n in ("financial", "medical", "social_work", "emotional")},
        "monthly_aid": _MONEY,
    },
    "red_crescent": {f"supports_{n}": _AID for n in ("financial", "medical", "emotional")},
    "housing_foundation": {"supports_financial": _AID, "housing_aid_received": "bool eq"},
    "land_registry": {"properties_owned": _COUNT, "property_value": _MONEY},
    "vehicle_registry": {"vehicles_owned": _COUNT, "vehicle_value": _MONEY},
    **dict.fromkeys(_BANKS, _BANK),
    "credit_registry": {"bounced_cheques": _COUNT, "total_debt": _MONEY},
    "securities_depository": {"portfolio_value": _MONEY},
    "border_travel": {"foreign_trips_12m": _COUNT},
    "electricity": {"monthly_kwh": _MONEY},
    "gas": {"monthly_m3": _MONEY},
    "employment_service": {"registered_unemployed": "bool eq", "unemployment_benefit": _MONEY},
    "education": {"enrolled_student": "bool eq"},
    "municipality": {"supports_financial": _AID, "supports_social_work": _AID},
    "martyrs_foundation": {
        "supports_financial": _AID,
        "supports_medical": _AID,
        "monthly_aid": _MONEY,
    },
    "subsidy_org": {"cash_subsidy": "bool eq", "income_decile": _COUNT},
}
"""The 30 agencies exactly as docs/agencies.md lists them (types and operators)."""

VALID: Mapping[str, Any] = {
    "id": "sample",
    "version": "2026.1",
    "title": {"en": "Sample", "fa": "نمونه"},
    "description": {"en": "A sample program", "fa": "برنامه نمونه"},
    "need_category": "financial",
    "unit": "household",
    "legal_basis": CONSENT_BASIS,
    "purposes": ["testing", "caseload_review"],
    "parameters": {
        "max_income": {
            "unit": "IRR",
            "values": [{"from": "2025-03-21", "value": 100}, {"from": "2026-03-21", "value": 130}],
        }
    },
    "facts": {
        "income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0},
        "costly_car": {
            "aggregate": "any",
            "predicate": {"attribute": "vehicle_registry.vehicle_value", "op": "gt", "value": 10},
            "absent": False,
        },
    },
    "rules": [
        {
            "id": "income",
            "expr": "income <= params.max_income * household_size",
            "pass": {"code": "INCOME_OK", "en": "Income is low", "fa": "درآمد کم است"},
            "fail": {"code": "INCOME_HIGH", "en": "Income is high", "fa": "درآمد زیاد است"},
        },
        {
            "id": "car",
            "expr": "!costly_car",
            "pass": {"code": "NO_CAR", "en": "No costly car", "fa": "خودروی گران ندارد"},
            "fail": {"code": "CAR", "en": "A costly car", "fa": "خودروی گران دارد"},
        },
    ],
    "tests": [
        {
            "name": "poor",
            "as_of": "2026-06-01",
            "members": [{"tax.annual_income": 100}, {}],
            "expect": {"decision": "eligible", "rules": {"income": "pass"}},
        }
    ],
}
"""A valid program document touching every part of the format."""

LoadDocument = Callable[[Mapping[str, Any]], Program]


@pytest.fixture
def valid() -> dict[str, Any]:
    """A fresh deep copy of :data:`VALID`, to mutate."""
    return copy.deepcopy(dict(VALID))


@pytest.fixture
def load_document(tmp_path: Path) -> LoadDocument:
    """Write a document as ``<id>.yaml`` and load it (parameters checked as of 2026-06-01)."""

    def load(document: Mapping[str, Any]) -> Program:
        return load_program(write_program(tmp_path, document), in_force_on=dt.date(2026, 6, 1))

    return load


@pytest.fixture
def documented_catalogue() -> Catalogue:
    """The catalogue docs/agencies.md describes."""
    return Catalogue.from_descriptions(describe_agencies(DOCUMENTED_AGENCIES))
