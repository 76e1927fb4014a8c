"""The generator: valid unique national IDs, determinism, plausible households."""

from __future__ import annotations

from itertools import islice

from hypothesis import given
from hypothesis import strategies as st

from adapters.national_id import is_valid_national_id
from adapters.simulated.model import REFERENCE_DATE, Household
from adapters.simulated.population import (
    BLOCK_HOUSEHOLDS,
    NationalIdScheme,
    generate_households,
    outsider_national_id,
)


def _households(seed: int, count: int) -> list[Household]:
    return [h for block in generate_households(seed, count) for h in block]


def _snapshot(households: list[Household]) -> list[tuple[object, ...]]:
    return [
        (
            h.household_id,
            h.province,
            h.rural,
            h.electricity_kwh,
            h.gas_m3,
            sorted(h.support.items()),
            [(p.national_id, p.birth_date, p.activity, p.monthly_income) for p in h.members],
        )
        for h in households
    ]


@given(seed=st.integers(0, 2**32), sequences=st.sets(st.integers(0, 10**9 - 1), max_size=50))
def test_scheme_gives_valid_distinct_ids(seed: int, sequences: set[int]) -> None:
    scheme = NationalIdScheme.for_seed(seed)
    ids = [scheme.national_id(n) for n in sequences]
    issued = [i for i in ids if i is not None]
    assert all(is_valid_national_id(i) for i in issued)
    assert len(set(issued)) == len(issued)


def test_scheme_never_issues_a_repeated_digit_id() -> None:
    identity = NationalIdScheme(multiplier=1, offset=0)
    assert identity.national_id(111_111_111) is None  # 1111111111 passes the arithmetic
    assert identity.national_id(123_456_789) == "1234567891"


def test_generated_ids_are_valid_unique_and_never_the_outsider() -> None:
    households = _households(7, 2 * BLOCK_HOUSEHOLDS + 10)
    ids = [p.national_id for h in households for p in [*h.members, *h.deceased]]
    assert all(is_valid_national_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    outsider = outsider_national_id(7, len(households))
    assert is_valid_national_id(outsider)
    assert outsider not in set(ids)


def test_same_seed_same_population_other_seed_another() -> None:
    assert _snapshot(_households(11, 300)) == _snapshot(_households(11, 300))
    assert _snapshot(_households(11, 300)) != _snapshot(_households(12, 300))


def test_a_block_does_not_depend_on_the_population_size() -> None:
    small = _households(3, BLOCK_HOUSEHOLDS + 1)
    streamed = (h for block in generate_households(3, 3 * BLOCK_HOUSEHOLDS) for h in block)
    large = list(islice(streamed, BLOCK_HOUSEHOLDS + 1))
    assert _snapshot(small) == _snapshot(large)


def test_households_are_plausible() -> None:
    households = _households(5, 2000)
    persons = [p for h in households for p in h.members]
    assert 3.0 <= len(persons) / len(households) <= 3.6
    for household in households:
        assert household.members[0].head
        assert sum(p.head for p in household.members) == 1
        married = [p for p in household.members if p.marital_status == "married"]
        assert len(married) in (0, 2)
        if married:
            assert {p.sex for p in married} == {"F", "M"}
        for late in household.deceased:
            assert not late.alive
            assert late.death_date is not None
            assert late.birth_date < late.death_date < REFERENCE_DATE
    for person in persons:
        assert person.birth_date <= REFERENCE_DATE
        assert person.enrolled is None or 6 <= person.age < 18
    kinds = {(h.rural, h.head.sex, h.size >= 6) for h in households}
    assert (True, "M", True) in kinds  # large rural families
    assert any(h.head.sex == "F" and h.size > 1 for h in households)  # female-headed
    assert any(h.size == 1 and h.head.age >= 65 for h in households)  # elderly alone
