"""Injected latency: simulated agencies that answer as slowly as real ones do.

A real agency's Fetch takes tens of milliseconds, some take far longer, and some never
answer in time. :class:`DelayedAdapter` wraps a simulated agency's adapter and waits before
each answer, so benchmarks and tests can show what the hub adds on top of slow sources and
that it keeps its per-agency timeout (``agency_timeout_ms``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.sdk import Adapter, AgencyDescription, FetchQuery, FetchResult, Predicate


@dataclass(frozen=True)
class Latency:
    """How long an agency waits before each answer: ``mean_ms`` ± up to ``jitter_ms``,
    uniformly."""

    mean_ms: float
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.mean_ms < 0 or self.jitter_ms < 0 or self.jitter_ms > self.mean_ms:
            raise ValueError(
                f"latency {self.mean_ms} ± {self.jitter_ms} ms: both must be ≥ 0 and the "
                "jitter at most the mean"
            )

    @classmethod
    def parse(cls, text: str) -> Latency:
        """``"20"`` or ``"20±5"`` (also ``"20+-5"``), in milliseconds.

        Raises:
            ValueError: not such a figure.
        """
        mean, _, jitter = text.replace("+-", "±").partition("±")
        try:
            return cls(float(mean), float(jitter or 0))
        except ValueError as exc:
            raise ValueError(f"latency {text!r}: expected MS or MS±JITTER ({exc})") from None

    def draw(self, rng: random.Random) -> float:
        """One wait, in seconds."""
        return (self.mean_ms + rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000


class DelayedAdapter(Adapter):
    """``inner``, answering each Fetch after a wait drawn from ``latency``."""

    def __init__(self, inner: Adapter, latency: Latency, *, seed: int = 0) -> None:
        """Wrap ``inner``; ``seed`` makes the waits repeatable."""
        self._inner = inner
        self._latency = latency
        self._rng = random.Random(seed)
        self.limits = inner.limits

    def describe(self) -> AgencyDescription:
        """The inner agency's description."""
        return self._inner.describe()

    async def fetch(self, query: FetchQuery) -> FetchResult:
        """Wait, then answer as the inner agency does."""
        await asyncio.sleep(self._latency.draw(self._rng))
        return await self._inner.fetch(query)

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        raise NotImplementedError  # fetch() is overridden: the inner adapter does the work

    async def check(self) -> None:
        """The inner agency's start-up check."""
        await self._inner.check()

    async def close(self) -> None:
        """Close the inner agency."""
        await self._inner.close()
