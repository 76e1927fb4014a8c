"""Health, health cover, schooling, and which aid agencies support a household for what."""

from __future__ import annotations

import random

from adapters.simulated._work import money
from adapters.simulated.model import (
    MIN_WAGE,
    POVERTY_LINE,
    Activity,
    Coverage,
    Household,
    PensionFund,
    Person,
)

_SEVERITIES = (1, 2, 3, 4)
_SEVERITY_WEIGHTS = (0.35, 0.3, 0.23, 0.12)
_IllnessTable = tuple[tuple[str, ...], tuple[float, ...]]
"""Special diseases and their relative frequencies in one age group."""
_CHILD_ILLNESS: _IllnessTable = (("thalassemia", "hemophilia", "cancer"), (0.5, 0.25, 0.25))
_YOUNG_ILLNESS: _IllnessTable = (
    ("ms", "thalassemia", "cancer", "dialysis", "hemophilia"),
    (0.4, 0.2, 0.25, 0.1, 0.05),
)
_OLD_ILLNESS: _IllnessTable = (("cancer", "dialysis", "ms"), (0.55, 0.35, 0.1))


def assign_health(rng: random.Random, household: Household) -> None:
    """Draw disabilities and special diseases, more often with age and with poverty."""
    poverty = 1.4 - 0.8 * household.wealth
    for person in household.members:
        age = person.age
        if age < 18:
            disability, illness, table = 0.008, 0.003, _CHILD_ILLNESS
        elif age < 40:
            disability, illness, table = 0.018, 0.004, _YOUNG_ILLNESS
        elif age < 65:
            disability, illness, table = 0.025, 0.01, _OLD_ILLNESS
        else:
            disability, illness, table = 0.08, 0.02, _OLD_ILLNESS
        if rng.random() < disability * poverty:
            person.disability = rng.choices(_SEVERITIES, _SEVERITY_WEIGHTS)[0]
        if rng.random() < illness:
            person.illness = rng.choices(*table)[0]
            if person.illness == "hemophilia" and person.sex == "F":
                person.illness = "thalassemia"  # hemophilia is all but confined to men
            person.illness_cleared = person.illness == "cancer" and rng.random() < 0.15


def assign_cover(rng: random.Random, household: Household) -> None:
    """Decide each member's health cover and social-security standing from their work."""
    for person in household.members:
        activity = person.activity
        person.social_security_lapsed = (
            activity in (Activity.INFORMAL, Activity.UNEMPLOYED)
            and not person.unemployment_benefit
            and rng.random() < 0.15
        )
        own = _own_cover(person)
        if activity is Activity.BUSINESS and rng.random() < 0.35:
            own = Coverage.SOCIAL_SECURITY  # self-employed, voluntarily insured
        if own is not None:
            person.coverage = own
    family = _family_cover(household)
    for person in household.members:
        if person.coverage is not Coverage.NONE:
            continue
        person.coverage = family
        if family is Coverage.UNIVERSAL:
            roll = rng.random()
            if roll < 0.04:
                person.coverage = Coverage.NONE
            person.coverage_lapsed = roll < 0.16
        elif family is Coverage.RURAL:
            person.coverage_lapsed = rng.random() < 0.05


def _own_cover(person: Person) -> Coverage | None:
    """Cover that comes with a person's own job or pension."""
    if (
        person.activity is Activity.EMPLOYEE
        or person.unemployment_benefit
        or person.pension_fund is PensionFund.SOCIAL_SECURITY
    ):
        return Coverage.SOCIAL_SECURITY
    if person.activity is Activity.CIVIL_SERVANT or person.pension_fund is PensionFund.CIVIL:
        return Coverage.BASIC
    return None


def _family_cover(household: Household) -> Coverage:
    """Dependents share the best cover a member earns; otherwise residence decides."""
    covers = {p.coverage for p in household.members}
    if Coverage.SOCIAL_SECURITY in covers:
        return Coverage.SOCIAL_SECURITY
    if Coverage.BASIC in covers:
        return Coverage.BASIC
    return Coverage.RURAL if household.rural else Coverage.UNIVERSAL


def assign_schooling(rng: random.Random, household: Household) -> None:
    """Enrol school-age children; older poor rural children drop out more often."""
    dropout = 0.04 + (0.08 if household.rural else 0.02) * (1.0 - household.wealth)
    for person in household.members:
        if person.activity is Activity.PUPIL:
            person.enrolled = person.age < 12 or rng.random() >= dropout


def assign_aid(rng: random.Random, household: Household) -> None:
    """Decide which aid agencies support the household, for which needs, with what cash.

    Agencies decide independently on overlapping criteria, so some needy households are
    supported twice for the same need (the overlap the gateway exists to reveal) and some
    are not supported at all (many needy families never apply).
    """
    need = _Need(household)
    supports = household.support
    relief = _relief(rng, need)
    if relief:
        supports["relief_committee"] = relief
        if "financial" in relief:
            household.monthly_aid["relief_committee"] = money(
                MIN_WAGE * (0.15 + 0.07 * household.size) * rng.lognormvariate(0.0, 0.1)
            )
    welfare = _welfare(rng, need)
    if welfare:
        supports["welfare"] = welfare
    martyrs = _martyrs(rng, household, need)
    if martyrs:
        supports["martyrs_foundation"] = martyrs
        household.monthly_aid["martyrs_foundation"] = money(
            MIN_WAGE * (0.4 + rng.random()) if "financial" in martyrs else 0
        )
    if not household.rural:
        municipality = _municipality(rng, need)
        if municipality:
            supports["municipality"] = municipality
    disaster = rng.random() < (0.012 if household.rural else 0.003)
    red_crescent = _red_crescent(rng, need, disaster=disaster)
    if red_crescent:
        supports["red_crescent"] = red_crescent
    housing = _housing(rng, household, need, disaster=disaster)
    if housing:
        supports["housing_foundation"] = housing
    household.subsidy_appeal = rng.random() < 0.06


class _Need:
    """What makes a household needy, worked out once."""

    def __init__(self, household: Household) -> None:
        head = household.head
        members = household.members
        self.poor = household.poor
        self.destitute = household.income_per_person < POVERTY_LINE // 2
        self.female_headed = head.sex == "F"
        self.elderly = head.age >= 65
        self.alone = household.size == 1
        self.no_pension = all(p.pension_fund is None for p in members)
        self.no_earner = not any(
            p.monthly_wage or p.business_income or p.undeclared_income for p in members
        )
        self.disabled = any(p.disability >= 2 for p in members)
        self.severe = any(p.disability >= 3 for p in members)
        self.sick = any(p.illness != "none" and not p.illness_cleared for p in members)
        self.blood_disorder = any(p.illness in ("thalassemia", "hemophilia") for p in members)
        self.orphans = (
            self.female_headed
            and head.marital_status == "widowed"
            and any(p.age < 18 for p in members)
        )


def _needs(**flags: bool) -> frozenset[str]:
    return frozenset(name for name, on in flags.items() if on)


def _relief(rng: random.Random, need: _Need) -> frozenset[str]:
    if need.poor:
        chance = 0.4 if need.destitute else 0.1
        chance += 0.3 * need.female_headed + 0.1 * need.no_earner + 0.1 * need.disabled
        chance += 0.2 * (need.elderly and need.no_pension)
    else:
        chance = 0.01
    financial = rng.random() < min(0.92, chance)
    ill = need.sick or need.severe
    medical_chance = 0.55 if financial else (0.12 if need.poor else 0.02)
    return _needs(
        financial=financial,
        medical=ill and rng.random() < medical_chance,
        social_work=financial and need.female_headed and rng.random() < 0.5,
        emotional=financial and need.orphans and rng.random() < 0.35,
    )


def _welfare(rng: random.Random, need: _Need) -> frozenset[str]:
    if need.poor and (need.disabled or need.female_headed):
        chance = 0.4
    elif need.poor and need.elderly and need.alone:
        chance = 0.15
    else:
        chance = 0.04 if need.disabled else 0.0
    medical_chance = (
        (0.65 if need.poor else 0.35) if need.severe else (0.25 if need.disabled else 0.0)
    )
    social_chance = 0.35 if need.disabled else (0.25 if need.poor and need.female_headed else 0)
    return _needs(
        financial=rng.random() < chance,
        medical=rng.random() < medical_chance,
        social_work=rng.random() < social_chance,
        emotional=(need.severe or need.orphans) and rng.random() < 0.2,
    )


def _martyrs(rng: random.Random, household: Household, need: _Need) -> frozenset[str]:
    head = household.head
    veteran = head.sex == "M" and 54 <= head.age <= 80 and rng.random() < 0.045
    martyr_widow = (
        need.female_headed
        and head.marital_status == "widowed"
        and head.age >= 55
        and rng.random() < 0.05
    )
    if not (veteran or martyr_widow):
        return frozenset()
    return _needs(
        financial=rng.random() < 0.75,
        medical=(head.disability > 0 or need.sick) and rng.random() < 0.8,
    )


def _municipality(rng: random.Random, need: _Need) -> frozenset[str]:
    if not need.poor:
        return frozenset()
    financial = rng.random() < (0.12 if need.elderly or need.no_earner else 0.02)
    lonely = (need.elderly and need.alone) or need.female_headed
    return _needs(financial=financial, social_work=lonely and rng.random() < 0.15)


def _red_crescent(rng: random.Random, need: _Need, *, disaster: bool) -> frozenset[str]:
    return _needs(
        financial=disaster and rng.random() < 0.85,
        medical=(disaster and rng.random() < 0.2) or (need.blood_disorder and rng.random() < 0.25),
        emotional=disaster and rng.random() < 0.6,
    )


def _housing(
    rng: random.Random, household: Household, need: _Need, *, disaster: bool
) -> frozenset[str]:
    if household.rural:
        household.housing_aid_received = rng.random() < 0.1 + 0.3 * (1.0 - household.wealth)
        current = rng.random() < (0.6 if disaster else 0.1 if need.poor else 0.0)
    else:
        household.housing_aid_received = rng.random() < 0.01
        current = need.poor and rng.random() < 0.01
    household.housing_aid_received = household.housing_aid_received or current
    return frozenset({"financial"}) if current else frozenset()
