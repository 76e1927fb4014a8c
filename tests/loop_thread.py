"""An event loop in a thread of its own, for servers a test's synchronous CLI call talks to
(the CLI runs its own loop with ``asyncio.run`` in the test's thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_T = TypeVar("_T")


@contextmanager
def loop_in_thread() -> Iterator[Callable[[Awaitable[_T]], _T]]:
    """A function that runs a coroutine on the thread's loop and returns its result; the
    loop stops when the block ends (stop the servers first, through it)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(work: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(timeout=30)

    try:
        yield run
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
