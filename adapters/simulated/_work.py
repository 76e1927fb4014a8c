"""What people do for a living and what it pays: jobs, wages, business, pensions, benefits."""

from __future__ import annotations

import random

from adapters.simulated.geography import Province
from adapters.simulated.model import MIN_WAGE, Activity, Household, PensionFund, Person

_JOBS = (
    Activity.EMPLOYEE,
    Activity.CIVIL_SERVANT,
    Activity.BUSINESS,
    Activity.INFORMAL,
    Activity.FARMER,
)


def money(amount: float) -> int:
    """Round a rial amount down to a whole 10,000 rials (how statements show it)."""
    return max(0, int(amount) // 10_000 * 10_000)


def assign_work(rng: random.Random, household: Household, province: Province) -> None:
    """Give every member an activity and the income that comes with it."""
    scale = province.income_factor * (0.75 if household.rural else 1.0)
    wealth = household.wealth
    for person in household.members:
        age = person.age
        if age < 6:
            person.activity = Activity.CHILD
        elif age < 18:
            person.activity = Activity.PUPIL
        elif person.disability >= 3 and age < 65:
            person.activity = Activity.INACTIVE
        elif person.sex == "M":
            _man(rng, person, age, wealth, household.rural)
        else:
            _woman(rng, person, age, wealth, household.rural)
        _income(rng, person, wealth, scale)
    head = household.head
    if household.monthly_income == 0 and rng.random() < 0.7:
        # Casual work, or help from children and relatives living elsewhere.
        head.undeclared_income = money(MIN_WAGE * rng.uniform(0.15, 0.5))


def _man(rng: random.Random, person: Person, age: int, wealth: float, rural: bool) -> None:
    if age < 25 and not person.head:
        roll = rng.random()
        if roll < 0.2 + 0.35 * wealth:
            person.activity = Activity.UNIVERSITY
        elif roll < 0.85:
            person.activity = _job(rng, wealth, rural, female=False)
        else:
            _unemployed(rng, person, wealth)
    elif age >= 62 or (age >= 57 and rng.random() < 0.4):
        if rng.random() < (0.35 if rural else 0.6) + 0.3 * wealth:
            _retire(rng, person, wealth, civil_share=0.25 + 0.2 * wealth)
        elif rural and age < 75:
            person.activity = Activity.FARMER
        else:
            person.activity = Activity.INACTIVE
    elif rng.random() < 0.03 + 0.12 * (1.0 - wealth):
        _unemployed(rng, person, wealth)
    else:
        person.activity = _job(rng, wealth, rural, female=False)


def _woman(rng: random.Random, person: Person, age: int, wealth: float, rural: bool) -> None:
    if age < 25 and not person.head:
        roll = rng.random()
        if roll < 0.3 + 0.4 * wealth:
            person.activity = Activity.UNIVERSITY
        elif roll < 0.85:
            person.activity = Activity.HOMEMAKER
        elif roll < 0.93:
            person.activity = _job(rng, wealth, rural, female=True)
        else:
            _unemployed(rng, person, wealth)
    elif age >= 55:
        if rng.random() < 0.08 + 0.25 * wealth:
            _retire(rng, person, wealth, civil_share=0.5)
        else:
            person.activity = Activity.HOMEMAKER
    elif rng.random() < _female_work_chance(person, wealth):
        person.activity = _job(rng, wealth, rural, female=True)
    elif person.head and rng.random() < 0.4:
        _unemployed(rng, person, wealth)
    else:
        person.activity = Activity.HOMEMAKER
    if (
        person.marital_status == "widowed"
        and person.pension_fund is None
        and rng.random() < 0.45 + 0.4 * wealth
    ):
        # The late husband's pension passes to his widow.
        person.survivor_pension = True
        person.pension_fund = (
            PensionFund.CIVIL if rng.random() < 0.3 else PensionFund.SOCIAL_SECURITY
        )
        person.monthly_pension = money(MIN_WAGE * (0.9 + 0.8 * wealth) * rng.uniform(0.9, 1.1))


def _female_work_chance(person: Person, wealth: float) -> float:
    if not person.head:
        return 0.1 + 0.3 * wealth
    return 0.8 if person.marital_status == "single" else 0.45


def _job(rng: random.Random, wealth: float, rural: bool, *, female: bool) -> Activity:
    weights = (
        0.15 if rural else 0.42,
        (0.2 + 0.2 * wealth) if female else (0.08 + 0.12 * wealth),
        0.04 + 0.25 * wealth,
        0.3 * (1.0 - wealth) + (0.1 if rural else 0.0),
        0.45 * (1.0 - wealth / 2) if rural and not female else 0.0,
    )
    return rng.choices(_JOBS, weights)[0]


def _unemployed(rng: random.Random, person: Person, wealth: float) -> None:
    person.activity = Activity.UNEMPLOYED
    person.registered_unemployed = rng.random() < 0.6
    if person.registered_unemployed and rng.random() < 0.35 + 0.2 * wealth:
        # Lost an insured job: unemployment insurance pays at least the minimum wage.
        person.unemployment_benefit = money(MIN_WAGE * rng.uniform(1.0, 1.5))


def _retire(rng: random.Random, person: Person, wealth: float, civil_share: float) -> None:
    person.activity = Activity.RETIRED
    if rng.random() < civil_share:
        person.pension_fund = PensionFund.CIVIL
        amount = MIN_WAGE * (1.3 + 2.3 * wealth) * rng.lognormvariate(0.0, 0.12)
    else:
        person.pension_fund = PensionFund.SOCIAL_SECURITY
        amount = max(MIN_WAGE, MIN_WAGE * (0.95 + 1.6 * wealth) * rng.lognormvariate(0.0, 0.12))
    person.monthly_pension = money(amount)


def _income(rng: random.Random, person: Person, wealth: float, scale: float) -> None:
    activity = person.activity
    if activity is Activity.EMPLOYEE:
        wage = MIN_WAGE * scale * (0.85 + 3.5 * wealth**2) * rng.lognormvariate(0.0, 0.25)
        person.monthly_wage = money(max(MIN_WAGE, wage))
    elif activity is Activity.CIVIL_SERVANT:
        person.monthly_wage = money(MIN_WAGE * (1.3 + 2.2 * wealth) * rng.lognormvariate(0.0, 0.12))
    elif activity is Activity.BUSINESS:
        income = 12 * MIN_WAGE * scale * (0.5 + 7.0 * wealth**3) * rng.lognormvariate(0.0, 0.45)
        if wealth > 0.97:
            income *= rng.uniform(3.0, 10.0)
        person.business_income = money(income)
    elif activity is Activity.FARMER:
        person.undeclared_income = money(
            MIN_WAGE * (0.35 + 1.5 * wealth) * rng.lognormvariate(0.0, 0.35)
        )
    elif activity is Activity.INFORMAL:
        person.undeclared_income = money(
            MIN_WAGE * scale * (0.3 + 0.8 * wealth) * rng.lognormvariate(0.0, 0.3)
        )
    if activity in (Activity.EMPLOYEE, Activity.INFORMAL) and rng.random() < 0.08:
        person.formerly_unemployed = True
    if person.monthly_wage:
        # The statutory year-end bonus: two months' pay, capped at three minimum wages.
        person.year_end_bonus = min(2 * person.monthly_wage, 3 * MIN_WAGE)
        if rng.random() < 0.04 + 0.12 * wealth:
            person.business_income = money(
                12 * MIN_WAGE * (0.2 + 2.0 * wealth**2) * rng.lognormvariate(0.0, 0.5)
            )
