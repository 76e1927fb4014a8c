"""Whether a store the hub depends on can be used right now, and who hears when that changes.

The consent store and the audit log each keep one: a failed transaction marks it down, the
next successful one up, and the hub's health service reports NOT_SERVING while any is down.
"""

from __future__ import annotations

from collections.abc import Callable


class Availability:
    """Up or down, telling ``on_change`` of every change (and of nothing else).

    Args:
        name: what is available, for the log (``consent store``, ``audit log``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.up = True
        self.on_change: Callable[[Availability], None] = lambda availability: None

    def report(self, up: bool) -> None:
        """Record whether the last use succeeded."""
        if up != self.up:
            self.up = up
            self.on_change(self)
