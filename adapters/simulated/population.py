"""The deterministic synthetic population: households generated in blocks from a seed.

Each block of :data:`BLOCK_HOUSEHOLDS` households has its own ``random.Random`` seeded from
the population seed and the block number, and its own range of national-ID sequence numbers,
so a block depends on nothing but ``(seed, block)``: the population streams in bounded
memory and a block could be generated anywhere, in any order, with the same result.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from adapters.national_id import with_check_digit
from adapters.simulated._care import assign_aid, assign_cover, assign_health, assign_schooling
from adapters.simulated._demography import compose
from adapters.simulated._wealth import assign_wealth
from adapters.simulated._work import assign_work
from adapters.simulated.geography import PROVINCES
from adapters.simulated.model import Household

BLOCK_HOUSEHOLDS = 1_000
"""Households per generation block (part of the generator: changing it changes the output)."""

_IDS_PER_BLOCK = 16_384
"""National-ID sequence numbers reserved per block: more than its persons can ever need."""

_ID_SPACE = 10**9


@dataclass(frozen=True)
class NationalIdScheme:
    """A seeded bijection from sequence numbers to valid national IDs.

    The first nine digits are ``(multiplier * n + offset) mod 10^9`` with a multiplier prime
    to 10, so distinct sequence numbers give distinct IDs without remembering the IDs issued.
    """

    multiplier: int
    offset: int

    @classmethod
    def for_seed(cls, seed: int) -> NationalIdScheme:
        """The scheme of the population generated from ``seed``."""
        rng = random.Random(f"sakha-national-ids:{seed}")
        multiplier = rng.randrange(10**8, _ID_SPACE)
        while multiplier % 2 == 0 or multiplier % 5 == 0:
            multiplier += 1
        return cls(multiplier, rng.randrange(_ID_SPACE))

    def national_id(self, sequence: int) -> str | None:
        """The ID for ``sequence``, or None when it would be one repeated digit (never issued)."""
        body = f"{(self.multiplier * sequence + self.offset) % _ID_SPACE:09d}"
        national_id = with_check_digit(body)
        return None if len(set(national_id)) == 1 else national_id


class _BlockIds:
    """Hands out the national IDs reserved for one block, in order."""

    def __init__(self, scheme: NationalIdScheme, block: int) -> None:
        self._scheme = scheme
        self._next = block * _IDS_PER_BLOCK
        self._end = self._next + _IDS_PER_BLOCK

    def __call__(self) -> str:
        while self._next < self._end:
            national_id = self._scheme.national_id(self._next)
            self._next += 1
            if national_id is not None:
                return national_id
        raise RuntimeError("a population block ran out of national-ID sequence numbers")


def block_count(households: int) -> int:
    """How many blocks a population of ``households`` households is generated in."""
    return -(-households // BLOCK_HOUSEHOLDS)


def generate_households(seed: int, households: int) -> Iterator[list[Household]]:
    """Yield the population of ``households`` households, one block at a time.

    Raises:
        ValueError: ``households`` is not positive, or too large for the national-ID space.
    """
    if households < 1 or (block_count(households) + 1) * _IDS_PER_BLOCK > _ID_SPACE:
        raise ValueError(f"cannot generate {households} households")
    scheme = NationalIdScheme.for_seed(seed)
    for block in range(block_count(households)):
        first = block * BLOCK_HOUSEHOLDS
        count = min(BLOCK_HOUSEHOLDS, households - first)
        yield _generate_block(seed, block, first, count, scheme)


def outsider_national_id(seed: int, households: int) -> str:
    """A valid national ID that the population of this seed and size never issues."""
    scheme = NationalIdScheme.for_seed(seed)
    return _BlockIds(scheme, block_count(households))()


def _generate_block(
    seed: int, block: int, first: int, count: int, scheme: NationalIdScheme
) -> list[Household]:
    rng = random.Random(f"sakha-population:{seed}:{block}")
    next_id = _BlockIds(scheme, block)
    cum_weights = tuple(accumulate(p.population for p in PROVINCES))
    generated = []
    for index in range(first, first + count):
        province = rng.choices(PROVINCES, cum_weights=cum_weights)[0]
        rural = rng.random() >= province.urban_share
        # Richer provinces skew wealth up, rural life skews it down.
        skew = (1.25 if rural else 1.0) / province.income_factor
        household = Household(f"HH{index + 1:09d}", province.name, rural, rng.random() ** skew)
        compose(rng, household, next_id)
        assign_health(rng, household)
        assign_work(rng, household, province)
        assign_cover(rng, household)
        assign_schooling(rng, household)
        assign_wealth(rng, household, province)
        assign_aid(rng, household)
        generated.append(household)
    return generated
