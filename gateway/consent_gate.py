"""The consent step of ``admit``: may each check go ahead under a consent or a mandate?

One call decides a whole group in one store transaction: each check becomes a
:class:`~consent.UseRequest` naming every agency and attribute its program's plan touches,
and the store judges them against the consents and mandates as they stand now, recording the
uses it allows. A CheckBatch chunk is one group; concurrent single checks are gathered into
groups the way the coalescer gathers them for the agencies (a check alone goes at once;
while one transaction runs, the checks arriving meanwhile form the next), so a busy hub
commits one transaction per group, not one per check. Nothing is cached, so a consent
revoked through any hub sharing the store is refused at the very next check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import sqlalchemy as sa

from consent import Allowed, ConsentDeniedError, UseRequest
from consent.store import ConcurrentChangeError, ConsentStore
from gateway.availability import Availability
from gateway.coalescer import Coalescer, Waiting
from gateway.command import AdmittedCheck
from gateway.engine.planner import Plan
from gateway.errors import GatewayError
from gateway.legal_basis import use_requests
from gateway.programs.model import Program

_log = logging.getLogger(__name__)

SINGLES_WINDOW_S = 0.05
"""The longest a single check waits for its consent group (only while another is decided)."""
SINGLES_MAX_ITEMS = 1000
"""A group of single checks is decided as soon as it holds this many."""


class ConsentStoreUnavailableError(GatewayError):
    """The consent store cannot be read or written: checks fail closed."""


def utc_now() -> dt.datetime:
    """The current time in UTC (the consent clock's default)."""
    return dt.datetime.now(dt.UTC)


class ConsentGate:
    """Decides the legal basis of groups of admitted checks against a :class:`ConsentStore`.

    Args:
        store: the consents and mandates (shared by every hub on the same database).
        plan_for: today's plan of a program (what a check will touch).
        clock: the current UTC time (validity windows, frequency, expiry).
    """

    def __init__(
        self,
        store: ConsentStore,
        plan_for: Callable[[Program], Plan],
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._store = store
        self._plan_for = plan_for
        self._clock = clock
        self.availability = Availability("consent store")
        """Down while the store cannot be reached; up again after the next decision."""
        self._singles: Coalescer[None, AdmittedCheck, AdmittedCheck | ConsentDeniedError] = (
            Coalescer(
                self._decide_singles,
                window_s=SINGLES_WINDOW_S,
                max_items=SINGLES_MAX_ITEMS,
                max_in_flight=1,  # one writer at a time: the store serializes them anyway
            )
        )

    @property
    def store(self) -> ConsentStore:
        """The store decisions are made against."""
        return self._store

    async def authorize_one(self, admitted: AdmittedCheck) -> AdmittedCheck | ConsentDeniedError:
        """One single check with its basis, or its refusal, decided with concurrent ones.

        Raises:
            ConsentStoreUnavailableError: the store cannot be reached.
        """
        return await self._singles.submit(None, admitted)

    async def _decide_singles(
        self, key: None, group: Sequence[AdmittedCheck], waiting: Waiting
    ) -> list[AdmittedCheck | ConsentDeniedError]:
        del key, waiting  # a caller who left after the group was sent has used its consent
        return await self.authorize(group)

    async def authorize(
        self, admitted: Sequence[AdmittedCheck]
    ) -> list[AdmittedCheck | ConsentDeniedError]:
        """Each check with the basis it is allowed under, or the refusal; in order.

        Raises:
            ConsentStoreUnavailableError: the store cannot be reached; no check may go on.
        """
        if not admitted:
            return []
        by_program: dict[str, list[int]] = {}
        for index, check in enumerate(admitted):
            by_program.setdefault(check.program.id, []).append(index)
        requests: list[UseRequest | None] = [None] * len(admitted)
        for indexes in by_program.values():
            the_plan = self._plan_for(admitted[indexes[0]].program)
            uses = use_requests(the_plan, [admitted[i].command for i in indexes])
            for index, use in zip(indexes, uses, strict=True):
                requests[index] = use
        outcomes = await self._decide([r for r in requests if r is not None])
        return [
            replace(check, basis=outcome) if isinstance(outcome, Allowed) else outcome
            for check, outcome in zip(admitted, outcomes, strict=True)
        ]

    async def _decide(self, requests: list[UseRequest]) -> list[Allowed | ConsentDeniedError]:
        try:
            return await self._decide_once(requests)
        except ConcurrentChangeError:  # another transaction won a race the locks should stop
            _log.warning("a consent changed under a group's decision; deciding it again")
            return await self._decide_once(requests)

    async def _decide_once(self, requests: list[UseRequest]) -> list[Allowed | ConsentDeniedError]:
        try:
            decided = await asyncio.to_thread(
                self._store.authorize_group, requests, now=self._clock()
            )
        except sa.exc.SQLAlchemyError as exc:
            _log.error("consent store unreachable: %s", exc)
            self.availability.report(up=False)
            raise ConsentStoreUnavailableError(
                "the consent store cannot be reached; no check can be decided"
            ) from exc
        self.availability.report(up=True)
        return decided
