"""Coalescing concurrent single checks into shared per-agency batches.

Each gRPC call to an agency costs about as much CPU as a hundred rows in it, so concurrent
``Check`` calls for the same program and purpose are decided together: one Fetch per agency
for the whole group instead of one per check.

The batching adapts to load. When nothing is in flight for a key, a check is sent at once
(at the end of the event loop's current turn: a check alone pays no waiting, and checks
arriving in the same turn go together). While ``max_in_flight`` groups are being decided, new checks
gather into the next group, which is sent as soon as a slot frees, when it holds
``max_items``, or when its window closes — whichever comes first. A window that closes while
the process is short of CPU (``saturated``) sends nothing: the group waits for its slot,
because an early group would only add Fetch calls the CPU cannot afford (see
:mod:`gateway.cpu_load`).

A caller that stops waiting (its call was cancelled or its deadline passed) leaves its
group: before the group is sent its item is dropped, so nobody is asked about it; once sent,
the group runs on for the others, and is cancelled when no caller is left waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Waiting = Callable[[int], bool]
"""Whether the caller of a group's item ``i`` still waits for its result."""

_K = TypeVar("_K", bound=Hashable)
_I = TypeVar("_I")
_R = TypeVar("_R")


@dataclass
class _Pending(Generic[_I, _R]):
    items: list[_I] = field(default_factory=list)
    futures: list[asyncio.Future[_R]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    soon: asyncio.Handle | None = None
    task: asyncio.Task[None] | None = None


class Coalescer(Generic[_K, _I, _R]):
    """Groups items submitted under the same key into shared ``run`` calls.

    ``run(key, items, waiting)`` must return one result per item, in order; ``waiting(i)``
    says whether the caller of item ``i`` still waits (a run may skip work for those who
    left). If it raises, every caller of that group gets the exception; other groups are
    unaffected.

    Args:
        run: decides one group.
        window_s: the longest an item waits for its group to be sent (0: never wait).
        max_items: a group is sent as soon as it holds this many items.
        max_in_flight: groups of one key decided at the same time before new items wait.
        abandonable: a caller who stops waiting leaves its group (True), or its item is
            run all the same (False: for work that must happen once asked for, such as an
            audit append).
        saturated: whether the process is short of CPU now; while it is, a closing window
            does not send a group beyond ``max_in_flight``.
    """

    def __init__(
        self,
        run: Callable[[_K, Sequence[_I], Waiting], Awaitable[Sequence[_R]]],
        *,
        window_s: float,
        max_items: int,
        max_in_flight: int = 1,
        abandonable: bool = True,
        saturated: Callable[[], bool] = lambda: False,
    ) -> None:
        self._run = run
        self._saturated = saturated
        self._abandonable = abandonable
        self._window_s = window_s
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._pending: dict[_K, _Pending[_I, _R]] = {}
        self._in_flight: dict[_K, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: _K, item: _I) -> _R:
        """Queue ``item`` under ``key`` and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending()
            if self._window_s > 0:
                pending.timer = loop.call_later(self._window_s, self._window_closed, key)
        pending.items.append(item)
        pending.futures.append(future)
        idle = self._in_flight.get(key, 0) < self._max_in_flight
        if len(pending.items) >= self._max_items or self._window_s == 0:
            self._flush(key)
        elif idle and pending.soon is None:
            # At the end of this turn of the loop, so that checks resumed together (a consent
            # group's, say) go as one group rather than the first alone.
            pending.soon = loop.call_soon(self._flush_if_current, key, pending)
        try:
            return await future
        except asyncio.CancelledError:
            if self._abandonable:
                self._abandon(key, pending, future)
            raise

    def _abandon(self, key: _K, pending: _Pending[_I, _R], future: asyncio.Future[_R]) -> None:
        """Take a caller that stopped waiting out of its group (see the module docstring)."""
        if pending.task is None:
            index = pending.futures.index(future)
            del pending.futures[index]
            del pending.items[index]
            if not pending.items and self._pending.get(key) is pending:
                for handle in (pending.timer, pending.soon):
                    if handle is not None:
                        handle.cancel()
                del self._pending[key]
        elif all(f.cancelled() for f in pending.futures):
            pending.task.cancel()

    def _flush_if_current(self, key: _K, pending: _Pending[_I, _R]) -> None:
        if self._pending.get(key) is pending:
            self._flush(key)

    def _window_closed(self, key: _K) -> None:
        pending = self._pending.get(key)
        if pending is None:
            return
        pending.timer = None
        busy = self._in_flight.get(key, 0) >= self._max_in_flight
        if busy and self._saturated():
            return  # the group goes when a slot frees (``_deliver`` flushes it)
        self._flush(key)

    def _flush(self, key: _K) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        for handle in (pending.timer, pending.soon):
            if handle is not None:
                handle.cancel()
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        task = pending.task = asyncio.get_running_loop().create_task(self._deliver(key, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, key: _K, pending: _Pending[_I, _R]) -> None:
        try:
            futures = pending.futures
            results = await self._run(key, pending.items, lambda i: not futures[i].done())
        except Exception as exc:  # handed to every waiting caller, not swallowed
            for future in pending.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
            # A slot is free: the group that gathered meanwhile goes now, not at its timer.
            if key in self._pending:
                self._flush(key)
        for future, result in zip(pending.futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def drain(self) -> None:
        """Send every open group now and wait until all are delivered (for shutdown)."""
        for key in list(self._pending):
            self._flush(key)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
