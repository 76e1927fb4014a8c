"""The synthetic population's data model: households, persons and the facts agencies hold.

A :class:`Household` and its :class:`Person` members carry every fact that any of the 30
simulated agencies records about them, in one place, so the facts stay consistent across
agencies as they would in life. How each agency stores its share is decided elsewhere
(:mod:`adapters.simulated.records`). Money is integer rials.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

REFERENCE_DATE = dt.date(2026, 11, 21)
"""The day the synthetic population describes (birth dates, trips, enrolments are before it)."""

MIN_WAGE = 120_000_000
"""Monthly minimum wage in rials (2026)."""

POVERTY_LINE = 45_000_000
"""Monthly income per person, in rials, below which a household is poor."""

NEEDS = ("financial", "medical", "social_work", "emotional")
"""Need categories an aid agency can support, as in ``supports_<need>`` attributes."""

AID_AGENCY_NEEDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "welfare": NEEDS,
        "relief_committee": NEEDS,
        "red_crescent": ("financial", "medical", "emotional"),
        "housing_foundation": ("financial",),
        "municipality": ("financial", "social_work"),
        "martyrs_foundation": ("financial", "medical"),
    }
)
"""The need categories each aid agency records (the ``supports_<need>`` attributes it serves)."""

BANKS = (
    "bank_melli",
    "bank_sepah",
    "bank_mellat",
    "bank_tejarat",
    "bank_saderat",
    "bank_keshavarzi",
    "bank_maskan",
    "bank_refah",
)
"""The simulated banks' agency ids."""

ILLNESSES = ("dialysis", "thalassemia", "hemophilia", "ms", "cancer")
"""Special-disease categories (besides ``none``)."""


class Activity(enum.Enum):
    """What a person mainly does, which decides where their income is recorded."""

    CHILD = "child"
    PUPIL = "pupil"
    UNIVERSITY = "university"
    EMPLOYEE = "employee"
    CIVIL_SERVANT = "civil_servant"
    BUSINESS = "business"
    FARMER = "farmer"
    INFORMAL = "informal"
    UNEMPLOYED = "unemployed"
    HOMEMAKER = "homemaker"
    RETIRED = "retired"
    INACTIVE = "inactive"


class PensionFund(enum.Enum):
    """Where a pension is paid from (a pensioner is in exactly one fund)."""

    SOCIAL_SECURITY = "social_security"
    CIVIL = "civil_pension_fund"


class Coverage(enum.Enum):
    """Whose health cover a person is under."""

    NONE = "none"
    SOCIAL_SECURITY = "social_security"
    BASIC = "basic"
    RURAL = "rural"
    UNIVERSAL = "universal"


@dataclass(slots=True)
class Account:
    """A person's standing at one bank."""

    bank: str
    deposit: int = 0
    loan: int = 0


@dataclass(slots=True)
class Asset:
    """A deed or a vehicle: what it is and what it is worth."""

    kind: str
    value: int


@dataclass(slots=True, eq=False)
class Person:
    """One person and every fact an agency may hold about them.

    Fields left at their defaults mean "no such fact" (no wage, no passport, ...); which
    agency then has no row for the person is decided by :mod:`adapters.simulated.records`.
    """

    national_id: str
    sex: str
    birth_date: dt.date
    marital_status: str
    head: bool = False
    alive: bool = True
    death_date: dt.date | None = None
    activity: Activity = Activity.INACTIVE
    monthly_wage: int = 0
    """Monthly salary of an employee or civil servant."""
    year_end_bonus: int = 0
    business_income: int = 0
    """Declared annual business income."""
    undeclared_income: int = 0
    """Monthly farm or informal income that no agency records."""
    pension_fund: PensionFund | None = None
    monthly_pension: int = 0
    survivor_pension: bool = False
    registered_unemployed: bool = False
    formerly_unemployed: bool = False
    """Registered with the employment service once, since back in work."""
    unemployment_benefit: int = 0
    social_security_lapsed: bool = False
    coverage: Coverage = Coverage.NONE
    coverage_lapsed: bool = False
    disability: int = 0
    illness: str = "none"
    illness_cleared: bool = False
    enrolled: bool | None = None
    """School enrolment for school-age children; None outside school age."""
    accounts: list[Account] = field(default_factory=list)
    cheque_book: bool = False
    bounced_cheques: int = 0
    portfolio: int = 0
    has_passport: bool = False
    trips: list[dt.date] = field(default_factory=list)
    deeds: list[Asset] = field(default_factory=list)
    vehicles: list[Asset] = field(default_factory=list)

    @property
    def age(self) -> int:
        """Whole years of age on :data:`REFERENCE_DATE`."""
        return age_on(self.birth_date, REFERENCE_DATE)

    @property
    def monthly_income(self) -> int:
        """All income, declared or not, per month (pensions and benefits included)."""
        return (
            self.monthly_wage
            + (self.year_end_bonus + self.business_income) // 12
            + self.undeclared_income
            + self.monthly_pension
            + self.unemployment_benefit
        )

    @property
    def annual_taxable_income(self) -> int:
        """Income the tax administration knows of: salary, year-end bonus, business."""
        return 12 * self.monthly_wage + self.year_end_bonus + self.business_income

    @property
    def total_loans(self) -> int:
        """Outstanding loans over every bank."""
        return sum(account.loan for account in self.accounts)


@dataclass(slots=True, eq=False)
class Household:
    """A household as the civil registry knows it, with its shared facts.

    ``members`` are the living members, head first; ``deceased`` are former members (a
    widow's late husband) who remain in the civil registry with no household.
    """

    household_id: str
    province: str
    rural: bool
    wealth: float
    """Latent economic standing in [0, 1): drives jobs, incomes and assets."""
    members: list[Person] = field(default_factory=list)
    deceased: list[Person] = field(default_factory=list)
    electricity_kwh: int = 0
    gas_m3: int | None = None
    """Monthly gas use; None when the dwelling is not connected to the grid."""
    support: dict[str, frozenset[str]] = field(default_factory=dict)
    """Aid agency id -> the need categories it supports this household for."""
    monthly_aid: dict[str, int] = field(default_factory=dict)
    """Aid agency id -> monthly cash aid paid to the head."""
    housing_aid_received: bool = False
    subsidy_appeal: bool = False
    """Whether a better-off household won an appeal to keep its cash subsidy."""

    @property
    def head(self) -> Person:
        """The head of household (always the first member)."""
        return self.members[0]

    @property
    def size(self) -> int:
        """Number of living members."""
        return len(self.members)

    @property
    def monthly_income(self) -> int:
        """The household's monthly income, aid excluded."""
        return sum(p.monthly_income for p in self.members)

    @property
    def income_per_person(self) -> int:
        """Monthly income per member (what the subsidy deciles rank)."""
        return self.monthly_income // self.size

    @property
    def poor(self) -> bool:
        """Whether income per person is below :data:`POVERTY_LINE`."""
        return self.income_per_person < POVERTY_LINE


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Whole years from ``birth_date`` to ``day`` (a 29 February birthday falls on 1 March)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)
