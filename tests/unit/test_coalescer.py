"""The coalescer groups concurrent submissions and hands every caller its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.coalescer import Coalescer, Waiting


class Recorder:
    """A ``run`` callback that records the groups it receives and echoes items doubled."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, list[int]]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def run(self, key: str, items: Sequence[int], waiting: Waiting) -> list[int]:
        self.groups.append((key, list(items)))
        self.started.set()
        await self.release.wait()
        return [i * 2 for i in items]


async def test_a_check_alone_is_sent_at_once_whatever_the_window() -> None:
    recorder = Recorder()
    coalescer: Coalescer[str, int, int] = Coalescer(recorder.run, window_s=60, max_items=100)
    assert await asyncio.wait_for(coalescer.submit("a", 7), timeout=5) == 14
    assert recorder.groups == [("a", [7])]


async def test_items_arriving_while_busy_share_one_run_sent_when_a_slot_frees() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=60, max_items=100, max_in_flight=1
    )
    first = asyncio.ensure_future(coalescer.submit("a", 0))
    await recorder.started.wait()
    rest = [asyncio.ensure_future(coalescer.submit("a", i)) for i in range(1, 10)]
    await asyncio.sleep(0)
    assert recorder.groups == [("a", [0])], "the others wait while the slot is taken"
    recorder.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *rest), timeout=5)
    assert results == [i * 2 for i in range(10)]
    assert recorder.groups == [("a", [0]), ("a", list(range(1, 10)))]


async def test_keys_are_never_mixed() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=60, max_items=100, max_in_flight=1
    )
    futures = [asyncio.ensure_future(coalescer.submit("ab"[i % 2], i)) for i in range(8)]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
    assert sorted(recorder.groups) == [("a", [0, 2, 4, 6]), ("b", [1, 3, 5, 7])]


async def test_checks_resumed_in_the_same_turn_go_as_one_group_not_the_first_alone() -> None:
    recorder = Recorder()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=60, max_items=100, max_in_flight=1
    )
    released = asyncio.Event()

    async def resumed(item: int) -> int:
        await released.wait()  # like checks a consent group hands on together
        return await coalescer.submit("a", item)

    futures = [asyncio.ensure_future(resumed(i)) for i in range(5)]
    await asyncio.sleep(0)
    released.set()
    assert await asyncio.wait_for(asyncio.gather(*futures), timeout=5) == [0, 2, 4, 6, 8]
    assert recorder.groups == [("a", [0, 1, 2, 3, 4])]


@pytest.mark.parametrize(("saturated", "sent_by_timer"), [(False, True), (True, False)])
async def test_a_closing_window_waits_for_a_slot_while_the_cpu_is_short(
    saturated: bool, sent_by_timer: bool
) -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=0.01, max_items=100, max_in_flight=1, saturated=lambda: saturated
    )
    blocked = asyncio.ensure_future(coalescer.submit("a", 0))
    await recorder.started.wait()
    waiting = asyncio.ensure_future(coalescer.submit("a", 1))
    await asyncio.sleep(0.05)  # the window has closed
    assert recorder.groups == ([("a", [0]), ("a", [1])] if sent_by_timer else [("a", [0])])
    recorder.release.set()
    assert list(await asyncio.wait_for(asyncio.gather(blocked, waiting), timeout=5)) == [0, 2]
    assert recorder.groups == [("a", [0]), ("a", [1])]


async def test_a_busy_group_is_sent_when_its_window_closes() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=0.01, max_items=100, max_in_flight=1
    )
    blocked = asyncio.ensure_future(coalescer.submit("a", 0))
    await recorder.started.wait()
    recorder.started.clear()
    waiting = asyncio.ensure_future(coalescer.submit("a", 1))
    await asyncio.wait_for(recorder.started.wait(), timeout=5)  # sent by the timer
    assert recorder.groups == [("a", [0]), ("a", [1])]
    recorder.release.set()
    assert list(await asyncio.gather(blocked, waiting)) == [0, 2]


async def test_a_full_group_is_sent_without_waiting_for_the_window() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=60, max_items=3, max_in_flight=1
    )
    busy = asyncio.ensure_future(coalescer.submit("a", 9))
    await recorder.started.wait()
    recorder.started.clear()
    group = [asyncio.ensure_future(coalescer.submit("a", i)) for i in range(3)]
    await asyncio.wait_for(recorder.started.wait(), timeout=5)  # sent full, not by the timer
    assert recorder.groups == [("a", [9]), ("a", [0, 1, 2])]
    recorder.release.set()
    assert await asyncio.wait_for(asyncio.gather(busy, *group), timeout=5) == [18, 0, 2, 4]


async def test_zero_window_sends_each_item_alone() -> None:
    recorder = Recorder()
    coalescer: Coalescer[str, int, int] = Coalescer(recorder.run, window_s=0, max_items=100)
    await asyncio.gather(*(coalescer.submit("a", i) for i in range(3)))
    assert len(recorder.groups) == 3


async def test_a_failing_run_fails_every_caller_of_that_group_only() -> None:
    async def run(key: str, items: Sequence[int], waiting: Waiting) -> list[int]:
        if key == "bad":
            raise RuntimeError("agency exploded")
        return list(items)

    coalescer: Coalescer[str, int, int] = Coalescer(run, window_s=0.005, max_items=100)
    outcomes = await asyncio.gather(
        coalescer.submit("bad", 1),
        coalescer.submit("bad", 2),
        coalescer.submit("good", 3),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], RuntimeError)
    assert isinstance(outcomes[1], RuntimeError)
    assert outcomes[2] == 3


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(recorder.run, window_s=0.001, max_items=100)
    first = asyncio.ensure_future(coalescer.submit("a", 1))
    second = asyncio.ensure_future(coalescer.submit("a", 2))
    await recorder.started.wait()
    first.cancel()
    recorder.release.set()
    assert await second == 4
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_drain_delivers_every_open_group() -> None:
    recorder = Recorder()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=60, max_items=100, max_in_flight=1
    )
    pending = [asyncio.ensure_future(coalescer.submit("a", i)) for i in range(4)]
    await asyncio.sleep(0)
    await coalescer.drain()
    assert [p.result() for p in pending] == [0, 2, 4, 6]


async def test_a_run_sees_which_callers_of_its_group_still_wait() -> None:
    gates = [asyncio.Event(), asyncio.Event()]
    started = [asyncio.Event(), asyncio.Event()]
    seen: list[list[bool]] = []

    async def run(key: str, items: Sequence[int], waiting: Waiting) -> list[int]:
        n = len(seen)
        seen.append([])
        started[n].set()
        await gates[n].wait()
        seen[n] = [waiting(i) for i in range(len(items))]
        return list(items)

    coalescer: Coalescer[str, int, int] = Coalescer(run, window_s=60, max_items=100)
    first = asyncio.ensure_future(coalescer.submit("k", 0))
    await started[0].wait()
    staying = asyncio.ensure_future(coalescer.submit("k", 1))
    leaving = asyncio.ensure_future(coalescer.submit("k", 2))
    await asyncio.sleep(0)
    gates[0].set()
    await started[1].wait()  # the second group [1, 2] is running
    leaving.cancel()
    await asyncio.sleep(0)
    gates[1].set()
    assert list(await asyncio.wait_for(asyncio.gather(first, staying), timeout=5)) == [0, 1]
    assert seen == [[True], [True, False]]


async def test_work_that_must_happen_runs_even_when_every_caller_left() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescer: Coalescer[str, int, int] = Coalescer(
        recorder.run, window_s=60, max_items=100, max_in_flight=1, abandonable=False
    )
    busy = asyncio.ensure_future(coalescer.submit("a", 0))
    await recorder.started.wait()
    waiting = asyncio.ensure_future(coalescer.submit("a", 1))  # queued behind the busy run
    await asyncio.sleep(0)
    waiting.cancel()  # its caller leaves before its group is sent...
    busy.cancel()  # ...and the running group's only caller leaves too
    recorder.release.set()
    await coalescer.drain()
    assert recorder.groups == [("a", [0]), ("a", [1])]  # both ran all the same
