"""Whether the hub process is short of CPU: the signal that stops coalescing from spending
CPU on latency it does not have.

Python runs the hub's code on one core at a time (the GIL), so a hub using most of one core
is CPU-bound: sending a coalesced group early (before a slot is free) then only adds Fetch
calls, each costing CPU, and the checks it was meant to speed up wait longer. When the hub
has CPU to spare (the agencies are slow, not the hub), sending early buys latency cheaply.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SATURATED_SHARE = 0.85
"""Share of one core above which the hub counts as short of CPU."""
SAMPLE_INTERVAL_S = 0.1
"""How often the process's CPU time is read (lazily, when asked)."""


class CpuLoad:
    """The share of one core this process used over the last interval, read on demand.

    Args:
        threshold: the share above which :meth:`saturated` says yes.
        interval_s: the shortest interval the share is measured over.
        clock: wall time in seconds; ``cpu``: this process's CPU time in seconds.
    """

    def __init__(
        self,
        threshold: float = SATURATED_SHARE,
        interval_s: float = SAMPLE_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self._threshold = threshold
        self._interval_s = interval_s
        self._clock = clock
        self._cpu = cpu
        self._at = clock()
        self._used = cpu()
        self._saturated = False

    def saturated(self) -> bool:
        """Whether the process used more than ``threshold`` of a core lately."""
        now = self._clock()
        elapsed = now - self._at
        if elapsed >= self._interval_s:
            used = self._cpu()
            self._saturated = (used - self._used) / elapsed > self._threshold
            self._at, self._used = now, used
        return self._saturated
