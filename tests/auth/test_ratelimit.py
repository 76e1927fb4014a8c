"""Per-organisation token buckets, on a fake monotonic clock (no real waiting)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.auth.errors import RateLimitedError
from gateway.auth.ratelimit import RateLimiter


class FakeClock:
    """A monotonic clock that moves only when told, and a sleep that moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the wait and let that much time pass at once."""
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    """A limiter on the fake clock."""
    return RateLimiter(clock=clock, sleep=clock.sleep)


def refused_after(limiter: RateLimiter, org: str, rate: float, burst: int, cost: int = 1) -> float:
    """The retry delay of a refused acquire."""
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(org, rate, burst, cost)
    assert caught.value.organisation_id == org
    return caught.value.retry_after_s


def test_burst_then_refusal_with_the_time_to_the_next_token(limiter: RateLimiter) -> None:
    for _ in range(3):
        limiter.acquire("relief", rate=10, burst=3)
    assert refused_after(limiter, "relief", 10, 3) == pytest.approx(0.1)


def test_bucket_refills_over_time_up_to_the_burst(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(3):
        limiter.acquire("relief", rate=10, burst=3)
    clock.advance(0.05)
    assert refused_after(limiter, "relief", 10, 3) == pytest.approx(0.05)
    clock.advance(0.05)
    limiter.acquire("relief", rate=10, burst=3)
    clock.advance(3600)
    for _ in range(3):
        limiter.acquire("relief", rate=10, burst=3)
    assert refused_after(limiter, "relief", 10, 3) == pytest.approx(0.1)


def test_organisations_have_independent_buckets(limiter: RateLimiter) -> None:
    limiter.acquire("relief", rate=1, burst=1)
    refused_after(limiter, "relief", 1, 1)
    limiter.acquire("red_crescent", rate=1, burst=1)


def test_cost_takes_several_tokens(limiter: RateLimiter) -> None:
    limiter.acquire("relief", rate=4, burst=5, cost=4)
    assert refused_after(limiter, "relief", 4, 5, cost=2) == pytest.approx(0.25)
    limiter.acquire("relief", rate=4, burst=5, cost=1)


def test_clock_going_backwards_mints_nothing(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.acquire("relief", rate=1, burst=1)
    clock.advance(-50)
    refused_after(limiter, "relief", 1, 1)


def test_lowered_burst_caps_the_bucket(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.acquire("relief", rate=100, burst=100)
    clock.advance(10)
    limiter.acquire("relief", rate=100, burst=2)
    limiter.acquire("relief", rate=100, burst=2)
    refused_after(limiter, "relief", 100, 2)


@pytest.mark.parametrize(
    ("rate", "burst", "cost"),
    [
        pytest.param(0.0, 1, 1, id="zero-rate"),
        pytest.param(-1.0, 1, 1, id="negative-rate"),
        pytest.param(float("nan"), 1, 1, id="nan-rate"),
        pytest.param(1.0, 0, 1, id="zero-burst"),
        pytest.param(1.0, 2, 0, id="zero-cost"),
        pytest.param(1.0, 2, 3, id="cost-above-burst-never-served"),
    ],
)
async def test_nonsense_arguments_are_a_programming_error(
    limiter: RateLimiter, rate: float, burst: int, cost: int
) -> None:
    with pytest.raises(ValueError, match="must"):
        limiter.acquire("relief", rate, burst, cost)
    with pytest.raises(ValueError, match="must"):
        await limiter.wait("relief", rate, burst, cost)


async def test_wait_returns_at_once_while_tokens_last(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    await limiter.wait("relief", rate=10, burst=2)
    await limiter.wait("relief", rate=10, burst=2)
    assert clock.slept == []
    await limiter.wait("relief", rate=10, burst=2)
    assert clock.slept == [pytest.approx(0.1)]


async def test_waiters_are_served_in_arrival_order() -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    limiter = RateLimiter(clock=lambda: 0.0, sleep=record)
    limiter.acquire("relief", rate=10, burst=1)
    for _ in range(3):
        await limiter.wait("relief", rate=10, burst=1)
    assert delays == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]


async def test_reserved_tokens_count_against_acquire() -> None:
    gate = asyncio.Event()
    waits: list[float] = []

    async def blocked(seconds: float) -> None:
        waits.append(seconds)
        await gate.wait()

    held = RateLimiter(clock=lambda: 0.0, sleep=blocked)
    held.acquire("relief", rate=10, burst=1)
    waiter = asyncio.create_task(held.wait("relief", rate=10, burst=1))
    await asyncio.sleep(0)
    assert waits == [pytest.approx(0.1)]
    assert refused_after(held, "relief", 10, 1) == pytest.approx(0.2)
    gate.set()
    await waiter


async def test_cancelled_wait_gives_its_tokens_back(clock: FakeClock) -> None:
    gate = asyncio.Event()

    async def blocked(seconds: float) -> None:
        await gate.wait()

    limiter = RateLimiter(clock=clock, sleep=blocked)
    limiter.acquire("relief", rate=10, burst=1)
    waiter = asyncio.create_task(limiter.wait("relief", rate=10, burst=1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    clock.advance(0.1)
    limiter.acquire("relief", rate=10, burst=1)


async def test_default_clock_and_sleep_wait_for_real() -> None:
    limiter = RateLimiter()
    limiter.acquire("relief", rate=1000, burst=1)
    await asyncio.wait_for(limiter.wait("relief", rate=1000, burst=1), timeout=1)
