"""What households own and use: homes, land, vehicles, bank accounts, shares, trips, energy.

Everything scales with the household's standing, a blend of its latent wealth and its income
per person, so a household that is rich at one agency (a large income) is mostly rich at the
others (deeds, cars, deposits, trips abroad), while an old widow may own her home and little
else.
"""

from __future__ import annotations

import datetime as dt
import random
from itertools import accumulate
from types import MappingProxyType

from adapters.simulated._work import money
from adapters.simulated.geography import Climate, Province
from adapters.simulated.model import (
    BANKS,
    MIN_WAGE,
    REFERENCE_DATE,
    Account,
    Activity,
    Asset,
    Household,
    PensionFund,
    Person,
)

_URBAN_BANK_WEIGHTS = tuple(accumulate((0.22, 0.12, 0.18, 0.13, 0.13, 0.06, 0.06, 0.10)))
_RURAL_BANK_WEIGHTS = tuple(accumulate((0.18, 0.12, 0.08, 0.07, 0.08, 0.35, 0.04, 0.08)))
_MARRIAGE_LENDERS = ("bank_melli", "bank_sepah", "bank_refah", "bank_keshavarzi", "bank_mellat")
_CLIMATE_KWH = MappingProxyType({Climate.HOT: 1.8, Climate.MILD: 1.0, Climate.COLD: 0.95})
_CLIMATE_GAS = MappingProxyType({Climate.HOT: 0.5, Climate.MILD: 1.0, Climate.COLD: 1.5})
_INCOME_HALF_STANDING = 100_000_000
"""Monthly income per person that counts as half-way up the income ladder."""
_JUSTICE_SHARES_BORN_BY = dt.date(1988, 3, 20)


def assign_wealth(rng: random.Random, household: Household, province: Province) -> None:
    """Give the household its deeds, vehicles, accounts, shares, trips and energy use."""
    adults = [p for p in household.members if p.age >= 18]
    standing = _standing(household)
    _deeds(rng, household, adults, province, standing)
    _vehicles(rng, household, adults, standing)
    _banking(rng, household, adults, standing)
    _portfolios(rng, adults, standing)
    _travel(rng, household, adults, standing)
    _energy(rng, household, province, standing)


def _standing(household: Household) -> float:
    """Economic standing in [0, 1): latent wealth, pulled towards what income says."""
    income = household.income_per_person
    return 0.4 * household.wealth + 0.6 * income / (income + _INCOME_HALF_STANDING)


def _deeds(
    rng: random.Random, household: Household, adults: list[Person], p: Province, wealth: float
) -> None:
    head = household.head
    chance = 0.2 + 0.6 * wealth + (0.25 if household.rural else 0.0)
    chance += 0.1 if head.age >= 45 else (-0.15 if head.age < 30 else 0.0)
    if rng.random() < chance:
        head.deeds.append(Asset("home", _home_value(rng, household, p, wealth)))
        if wealth > 0.65:
            spouse = (
                adults[1] if len(adults) > 1 and adults[1].marital_status == "married" else head
            )
            for _ in range(int(rng.random() * (wealth - 0.6) * 12)):
                owner = spouse if rng.random() < 0.5 else head
                value = money(_home_value(rng, household, p, wealth) * rng.uniform(0.3, 1.0))
                owner.deeds.append(Asset(rng.choice(("apartment", "shop", "land")), value))
    for person in adults:
        if person.activity is Activity.FARMER and rng.random() < 0.7:
            farmland = 1.5e9 * (0.5 + 4.0 * wealth) * rng.lognormvariate(0.0, 0.4)
            person.deeds.append(Asset("farmland", money(farmland)))


def _home_value(rng: random.Random, household: Household, province: Province, wealth: float) -> int:
    if household.rural:
        value = 4e9 * (0.6 + 2.0 * wealth) * province.housing_factor**0.5
        return money(value * rng.lognormvariate(0.0, 0.3))
    value = 28e9 * province.housing_factor * (0.55 + 2.2 * wealth**2)
    return money(value * rng.lognormvariate(0.0, 0.25))


def _vehicles(
    rng: random.Random, household: Household, adults: list[Person], wealth: float
) -> None:
    head = household.head
    drivers = [p for p in adults if p.age < 80] or [head]
    if rng.random() < (0.08 + 0.75 * wealth) * (0.75 if household.rural else 1.0):
        value = 5.5e9 * (0.8 + 6.0 * wealth**3) * rng.lognormvariate(0.0, 0.2)
        drivers[0].vehicles.append(Asset("car", money(value)))
        if rng.random() < (wealth - 0.7) * 3.0:
            value = 5.5e9 * (0.8 + 6.0 * wealth**3) * rng.lognormvariate(0.0, 0.3)
            rng.choice(drivers).vehicles.append(Asset("car", money(value)))
    if rng.random() < (0.3 if household.rural else 0.12) * (1.0 - wealth):
        value = 0.8e9 * rng.lognormvariate(0.0, 0.3)
        rng.choice(drivers).vehicles.append(Asset("motorcycle", money(value)))


def _banking(rng: random.Random, household: Household, adults: list[Person], wealth: float) -> None:
    weights = _RURAL_BANK_WEIGHTS if household.rural else _URBAN_BANK_WEIGHTS
    income = household.monthly_income
    savings = income * (0.2 + 25.0 * wealth**3) * rng.lognormvariate(0.0, 0.7)
    savings += MIN_WAGE * 0.3 * rng.random()
    shares = [0.55 if p.head else (0.25 if p.marital_status == "married" else 0.1) for p in adults]
    total_share = sum(shares)
    for person, share in zip(adults, shares, strict=True):
        if rng.random() < 0.04 * (1.0 - wealth):
            continue  # unbanked
        banks = set(rng.choices(BANKS, cum_weights=weights, k=1 + (rng.random() < 0.45)))
        if rng.random() < 0.2 + 0.3 * wealth:
            banks.update(rng.choices(BANKS, cum_weights=weights))
        if person.pension_fund is PensionFund.SOCIAL_SECURITY or (
            person.monthly_wage and rng.random() < 0.4
        ):
            banks.add("bank_refah")  # the workers' bank pays pensions and many wages
        deposit = savings * share / total_share
        accounts = [Account(bank) for bank in sorted(banks)]
        cuts = sorted(rng.random() for _ in accounts[1:])
        for account, low, high in zip(accounts, [0.0, *cuts], [*cuts, 1.0], strict=True):
            account.deposit = money(deposit * (high - low))
        person.accounts = accounts
    for child in household.members:
        if child.age < 18 and rng.random() < 0.1 + 0.3 * wealth:
            bank = "bank_melli" if rng.random() < 0.6 else "bank_sepah"
            child.accounts = [Account(bank, money(MIN_WAGE * 3 * wealth * rng.random()))]
    _loans(rng, household, adults, wealth)


def _loans(rng: random.Random, household: Household, adults: list[Person], wealth: float) -> None:
    head = household.head
    if head.marital_status == "married" and head.age <= 35:
        for spouse in adults[:2]:
            if rng.random() < 0.55:
                amount = money(rng.uniform(1.5e9, 3.5e9))
                _borrow(spouse, rng.choice(_MARRIAGE_LENDERS), amount)
    if head.deeds and 28 <= head.age <= 55 and rng.random() < 0.25:
        _borrow(head, "bank_maskan", money(rng.uniform(5e9, 20e9) * (0.5 + wealth)))
    poor = household.poor
    for person in adults:
        if not person.accounts:
            continue
        if person.monthly_income and rng.random() < 0.2:
            amount = money(rng.uniform(0.3e9, 3e9) * (0.5 + wealth))
            _borrow(person, rng.choice(person.accounts).bank, amount)
        if poor and rng.random() < 0.1:
            _borrow(person, rng.choice(person.accounts).bank, money(rng.uniform(1e8, 5e8)))
        business = person.activity is Activity.BUSINESS
        person.cheque_book = rng.random() < (0.9 if business else 0.25 * wealth)
        if person.cheque_book and rng.random() < 0.06 + 0.1 * (1.0 - wealth):
            person.bounced_cheques = 1 + int(rng.expovariate(0.7))


def _borrow(person: Person, bank: str, amount: int) -> None:
    for account in person.accounts:
        if account.bank == bank:
            account.loan += amount
            return
    person.accounts.append(Account(bank, 0, amount))


def _portfolios(rng: random.Random, adults: list[Person], wealth: float) -> None:
    for person in adults:
        value = 0.0
        if person.birth_date <= _JUSTICE_SHARES_BORN_BY and rng.random() < 0.6:
            value += rng.uniform(1.5e8, 4.5e8)  # the state's "justice shares"
        if rng.random() < 0.03 + 0.35 * wealth**2:
            value += MIN_WAGE * (2.0 + 200.0 * wealth**4) * rng.lognormvariate(0.0, 0.9)
        person.portfolio = money(value)


def _travel(rng: random.Random, household: Household, adults: list[Person], wealth: float) -> None:
    for person in adults:
        if rng.random() < 0.04:
            # Pilgrims to Karbala for Arbaeen: one trip in late summer.
            person.has_passport = True
            year = REFERENCE_DATE.year - (rng.random() < 0.4)
            person.trips.append(dt.date(year, 8, 1) + dt.timedelta(days=rng.randrange(30)))
        if rng.random() < 0.04 + 0.5 * wealth**2:
            person.has_passport = True
            trips = int(rng.expovariate(1.0 / (0.3 + 5.0 * wealth**4)))
            person.trips.extend(
                REFERENCE_DATE - dt.timedelta(days=rng.randrange(1, 730)) for _ in range(trips)
            )
    head = household.head
    if head.has_passport and wealth > 0.5 and head.trips:
        for child in household.members:
            if child.age < 18 and rng.random() < 0.6:
                child.has_passport = True  # families travel together
                child.trips = list(head.trips)


def _energy(rng: random.Random, household: Household, province: Province, wealth: float) -> None:
    size = household.size
    kwh = (90 + 55 * size + 260 * wealth**1.5) * _CLIMATE_KWH[province.climate]
    kwh *= (0.85 if household.rural else 1.0) * rng.lognormvariate(0.0, 0.15)
    household.electricity_kwh = round(kwh)
    coverage = province.gas_coverage * (0.88 if household.rural else 1.0)
    if rng.random() < coverage:
        gas = (60 + 28 * size + 160 * wealth) * _CLIMATE_GAS[province.climate]
        household.gas_m3 = round(gas * rng.lognormvariate(0.0, 0.2))
