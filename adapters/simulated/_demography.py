"""Who lives together: household composition, sexes, birth dates, marital status."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from adapters.simulated.model import REFERENCE_DATE, Household, Person

NextId = Callable[[], str]
"""Hands out the next unused national ID."""

_KINDS = ("single", "elderly_alone", "couple", "family", "female_headed", "multigenerational")
_URBAN_KINDS = (0.07, 0.06, 0.17, 0.52, 0.08, 0.10)
_RURAL_KINDS = (0.03, 0.07, 0.14, 0.56, 0.07, 0.13)
_URBAN_CHILDREN = (0.33, 0.42, 0.18, 0.07)
_RURAL_CHILDREN = (0.16, 0.25, 0.2, 0.15, 0.1, 0.07, 0.05, 0.02)


def compose(rng: random.Random, household: Household, next_id: NextId) -> None:
    """Fill ``household.members`` (head first) and ``household.deceased``."""
    kinds = _RURAL_KINDS if household.rural else _URBAN_KINDS
    kind = rng.choices(_KINDS, kinds)[0]
    members = household.members
    if kind == "single":
        sex = "M" if rng.random() < 0.55 else "F"
        status = "single" if rng.random() < 0.8 else "divorced"
        members.append(_person(rng, next_id, sex, rng.randint(20, 45), status))
    elif kind == "elderly_alone":
        sex = "F" if rng.random() < 0.75 else "M"
        status = "widowed" if rng.random() < 0.85 else "divorced"
        members.append(_person(rng, next_id, sex, rng.randint(65, 92), status))
    elif kind == "couple":
        age = rng.randint(22, 34) if rng.random() < 0.4 else rng.randint(50, 86)
        _couple(rng, next_id, members, age)
    elif kind == "family":
        age = rng.randint(26, 62)
        wife = _couple(rng, next_id, members, age)
        _children(rng, next_id, members, wife.age, rural=household.rural)
    elif kind == "female_headed":
        status = "widowed" if rng.random() < 0.6 else "divorced"
        mother = _person(rng, next_id, "F", rng.randint(28, 62), status)
        members.append(mother)
        _children(rng, next_id, members, mother.age, rural=household.rural, most=4)
    else:
        wife = _couple(rng, next_id, members, rng.randint(30, 55))
        _children(rng, next_id, members, wife.age, rural=household.rural)
        parent_sex = "F" if rng.random() < 0.8 else "M"
        age = min(96, max(members[0].age + 20, rng.randint(68, 90)))
        members.append(_person(rng, next_id, parent_sex, age, "widowed"))
    members[0].head = True
    for person in list(members):
        if person.marital_status == "widowed" and rng.random() < 0.7:
            household.deceased.append(_late_spouse(rng, next_id, person))


def _person(rng: random.Random, next_id: NextId, sex: str, age: int, status: str) -> Person:
    return Person(
        national_id=next_id(), sex=sex, birth_date=_birth_date(rng, age), marital_status=status
    )


def _couple(rng: random.Random, next_id: NextId, members: list[Person], age: int) -> Person:
    """Append a married husband (the head) and wife; return the wife."""
    members.append(_person(rng, next_id, "M", age, "married"))
    wife = _person(rng, next_id, "F", max(18, age - rng.randint(0, 9)), "married")
    members.append(wife)
    return wife


def _children(
    rng: random.Random,
    next_id: NextId,
    members: list[Person],
    mother_age: int,
    *,
    rural: bool,
    most: int = 8,
) -> None:
    weights = _RURAL_CHILDREN if rural else _URBAN_CHILDREN
    count = min(most, rng.choices(range(1, len(weights) + 1), weights)[0])
    age = rng.randint(0, max(0, min(mother_age - 19, 28)))
    for _ in range(count):
        if age < 0:
            break
        # Married children live apart; an adult child at home is single or back divorced.
        status = "divorced" if age >= 24 and rng.random() < 0.05 else "single"
        members.append(_person(rng, next_id, "M" if rng.random() < 0.51 else "F", age, status))
        age -= rng.randint(1, 5)


def _late_spouse(rng: random.Random, next_id: NextId, survivor: Person) -> Person:
    sex = "M" if survivor.sex == "F" else "F"
    older = rng.randint(0, 8) if sex == "M" else -rng.randint(0, 5)
    late = _person(rng, next_id, sex, max(20, survivor.age + older), "married")
    late.alive = False
    years_married = max(1, min(15, late.age - 20))
    late.death_date = REFERENCE_DATE - dt.timedelta(days=rng.randint(30, years_married * 365))
    return late


def _birth_date(rng: random.Random, age: int) -> dt.date:
    """A birth date that makes the person ``age`` whole years old on the reference date."""
    anniversary = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    return anniversary - dt.timedelta(days=rng.randrange(365))
