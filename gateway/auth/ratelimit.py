"""Per-organisation rate limits: one token bucket per organisation.

:meth:`RateLimiter.acquire` refuses at once when the bucket is short (unary calls answer
RESOURCE_EXHAUSTED with the delay to retry after); :meth:`RateLimiter.wait` instead waits its
turn (streams: backpressure rather than failure). Waiting reserves tokens ahead, so waiters
are served in arrival order and a later ``acquire`` sees the debt. State is two floats per
organisation id; ids come from the client registry, so memory is bounded by its size.
The clock and the sleep are injectable for tests; the clock must be monotonic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.auth.errors import RateLimitedError

# Refill arithmetic on float clocks drifts by ~1e-13; a token short by less than this is whole.
_EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    updated: float


def _check_arguments(rate: float, burst: int, cost: int) -> None:
    if not rate > 0:
        raise ValueError("rate must be positive")
    if burst < 1:
        raise ValueError("burst must be at least 1")
    if not 1 <= cost <= burst:
        raise ValueError(f"cost must be in [1, burst={burst}]; it could never be served")


class RateLimiter:
    """Token buckets keyed by organisation id; ``rate`` tokens a second, at most ``burst``.

    Not thread-safe: use it from one event loop (its methods never yield while updating).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, organisation_id: str, rate: float, burst: int) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(organisation_id)
        if bucket is None:
            bucket = self._buckets[organisation_id] = _Bucket(float(burst), now)
            return bucket
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
        bucket.updated = now
        return bucket

    def acquire(self, organisation_id: str, rate: float, burst: int, cost: int = 1) -> None:
        """Take ``cost`` tokens now.

        Raises:
            RateLimitedError: the bucket holds fewer; ``retry_after_s`` is when it will not.
            ValueError: ``rate``, ``burst`` or ``cost`` are out of range (a caller's bug).
        """
        _check_arguments(rate, burst, cost)
        bucket = self._refilled(organisation_id, rate, burst)
        if bucket.tokens + _EPSILON >= cost:
            bucket.tokens -= cost
            return
        raise RateLimitedError(organisation_id, (cost - bucket.tokens) / rate)

    async def wait(self, organisation_id: str, rate: float, burst: int, cost: int = 1) -> None:
        """Take ``cost`` tokens, waiting until the bucket has refilled enough.

        The tokens are reserved at once; if the wait is cancelled they are given back.

        Raises:
            ValueError: ``rate``, ``burst`` or ``cost`` are out of range (a caller's bug).
        """
        _check_arguments(rate, burst, cost)
        bucket = self._refilled(organisation_id, rate, burst)
        bucket.tokens -= cost
        if bucket.tokens + _EPSILON >= 0:
            return
        try:
            await self._sleep(-bucket.tokens / rate)
        except asyncio.CancelledError:
            bucket = self._refilled(organisation_id, rate, burst)
            bucket.tokens = min(float(burst), bucket.tokens + cost)
            raise
