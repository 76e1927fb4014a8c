"""CpuLoad: the share of one core used over the last interval, read lazily."""

from __future__ import annotations

from gateway.cpu_load import CpuLoad


class Clocks:
    """Wall and CPU time the test moves by hand."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0

    def spend(self, wall_s: float, cpu_s: float) -> None:
        self.wall += wall_s
        self.cpu += cpu_s


def _load(clocks: Clocks) -> CpuLoad:
    return CpuLoad(0.85, 0.1, clock=lambda: clocks.wall, cpu=lambda: clocks.cpu)


def test_a_busy_process_is_saturated_and_an_idle_one_is_not() -> None:
    clocks = Clocks()
    load = _load(clocks)
    clocks.spend(0.2, 0.19)
    assert load.saturated()
    clocks.spend(0.2, 0.02)
    assert not load.saturated()


def test_the_share_is_kept_until_an_interval_has_passed() -> None:
    clocks = Clocks()
    load = _load(clocks)
    clocks.spend(0.2, 0.2)
    assert load.saturated()
    clocks.spend(0.05, 0.0)  # too soon to measure again
    assert load.saturated()
    clocks.spend(0.1, 0.0)
    assert not load.saturated()
