"""A small world for pipeline tests: one program, two agencies in memory, two organisations.

The agencies are SDK adapters served in-process through the hub's own
:class:`~gateway.fanout.AgencyDirectory`, and they record every query they receive, so a
test can say exactly which subjects each agency heard of and under which fetch id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter, Record
from adapters.national_id import with_check_digit
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult, Predicate
from gateway.auth.policy import AccessPolicy
from gateway.auth.ratelimit import RateLimiter
from gateway.auth.registry import ClientRegistry, Organisation, Role
from gateway.auth.tokens import Caller
from gateway.checking import Checker
from gateway.command import CheckCommand, deadline_after
from gateway.engine.catalogue import Catalogue
from gateway.fanout import AgencyDirectory
from gateway.pipeline import CoalesceSettings, Pipeline
from gateway.programs.loader import ProgramRegistry, load_programs
from gateway.programs.testing import describe_agencies, write_program
from tests.program_files import CONSENT_BASIS

PROGRAM = "sample"
PURPOSE = "testing"
ORG_A = "relief_a"
ORG_B = "relief_b"
OUTSIDER = "outsider"

TABLE: Mapping[str, Mapping[str, str]] = {
    "civil_registry": {"alive": "bool eq", "household_members": "string_list"},
    "tax": {"annual_income": "int64 le"},
}


def national_id(n: int) -> str:
    """The ``n``-th valid national ID of the test world."""
    return with_check_digit(f"{100_000_000 + n:09d}")


SUBJECTS = tuple(national_id(n) for n in range(1, 9))
"""Living people the civil registry knows; even ones earn too much."""
UNKNOWN = national_id(99)
"""A valid national ID nobody holds a record of."""


class RecordingAdapter(MemoryAdapter):
    """A memory adapter that records its queries and can hold them until released.

    ``on_fetch``, when set, runs at the start of every fetch (a spy can assert there who
    is asking).
    """

    def __init__(
        self, description: AgencyDescription, records: Mapping[str, Record], *, delay_s: float = 0
    ) -> None:
        super().__init__(description, records)
        self.queries: list[FetchQuery] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.delay_s = delay_s
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.on_fetch: Callable[[], None] | None = None
        self._queried = asyncio.Event()

    async def queried(self, count: int) -> None:
        """Return once ``count`` queries have arrived."""
        while len(self.queries) < count:
            self._queried.clear()
            await self._queried.wait()

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        if self.on_fetch is not None:
            self.on_fetch()
        self.queries.append(query)
        self.entered.set()
        self._queried.set()
        try:
            await self.gate.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return await super()._fetch(query, pushed_down)

    def subjects_heard(self) -> set[str]:
        """Every subject any query named."""
        return {s for q in self.queries for s in q.subjects}


@dataclass
class World:
    """The agencies, the program and the organisations of one test."""

    programs_dir: Path
    registry: ProgramRegistry
    catalogue: Catalogue
    civil_registry: RecordingAdapter
    tax: RecordingAdapter
    callers: dict[str, Caller]
    clients: ClientRegistry
    limiter: RateLimiter = field(default_factory=RateLimiter)

    @property
    def agencies(self) -> tuple[RecordingAdapter, ...]:
        """Both agencies."""
        return (self.civil_registry, self.tax)

    def checker(self, *, agency_timeout_s: float = 5.0, chunk: int = 1000) -> Checker:
        """A checker over the in-memory agencies."""
        return Checker(
            AgencyDirectory.local(self.agencies),
            self.catalogue,
            agency_timeout_s=agency_timeout_s,
            fetch_chunk_subjects=chunk,
        )

    def pipeline(
        self,
        *,
        window_s: float = 60.0,
        max_items: int = 100,
        kind: type[Pipeline] = Pipeline,
        checker: Checker | None = None,
        anonymous_allowed: bool = False,
    ) -> Pipeline:
        """A pipeline that coalesces while a group is in flight (one group at a time)."""
        return kind(
            self.registry,
            checker or self.checker(),
            policy=AccessPolicy(self.clients),
            limiter=self.limiter,
            coalescing=CoalesceSettings(window_s=window_s, max_items=max_items, max_in_flight=1),
            anonymous_allowed=anonymous_allowed,
        )

    def command(
        self,
        subject: str,
        organisation: str | None = ORG_A,
        *,
        request_id: str = "",
        deadline_s: float | None = 5.0,
        program_id: str = PROGRAM,
        purpose: str = PURPOSE,
    ) -> CheckCommand:
        """A command as the servicer would build it."""
        return CheckCommand(
            subject=subject,
            program_id=program_id,
            purpose=purpose,
            request_id=request_id or f"{organisation}-{subject}",
            caller=None if organisation is None else self.callers[organisation],
            deadline=deadline_after(deadline_s),
        )


def _program_document() -> dict[str, object]:
    return {
        "id": PROGRAM,
        "version": "1",
        "title": {"en": "Sample", "fa": "نمونه"},
        "description": {"en": "A sample program", "fa": "برنامه نمونه"},
        "need_category": "financial",
        "unit": "person",
        "legal_basis": CONSENT_BASIS,
        "purposes": [PURPOSE, "other_use"],
        "parameters": {},
        "facts": {
            "income": {"aggregate": "sum", "attributes": ["tax.annual_income"], "absent": 0},
        },
        "rules": [
            {
                "id": "income",
                "expr": "income <= 1000",
                "pass": {"code": "INCOME_OK", "en": "ok", "fa": "درست"},
                "fail": {"code": "INCOME_HIGH", "en": "too high", "fa": "زیاد"},
            }
        ],
    }


def _organisation(organisation_id: str, programs: Mapping[str, frozenset[str]]) -> Organisation:
    return Organisation(
        id=organisation_id,
        name=organisation_id,
        roles=frozenset({Role.CHECKER}),
        keys=(),
        programs=programs,
    )


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Eight living people, their incomes, and organisations A and B granted the program."""
    write_program(tmp_path, _program_document())
    descriptions = {d.agency_id: d for d in describe_agencies(TABLE)}
    people: dict[str, Record] = {s: {"alive": True, "household_members": (s,)} for s in SUBJECTS}
    incomes: dict[str, Record] = {
        s: {"annual_income": 5000 if i % 2 else 500} for i, s in enumerate(SUBJECTS)
    }
    granted = {PROGRAM: frozenset({PURPOSE})}
    organisations = [
        _organisation(ORG_A, granted),
        _organisation(ORG_B, granted),
        _organisation(OUTSIDER, {}),
    ]
    return World(
        programs_dir=tmp_path,
        registry=load_programs(tmp_path),
        catalogue=Catalogue.from_descriptions(descriptions.values()),
        civil_registry=RecordingAdapter(descriptions["civil_registry"], people),
        tax=RecordingAdapter(descriptions["tax"], incomes),
        callers={
            org.id: Caller(org, operator=f"{org.id}-clerk", token_id=None, expires_at=0, key_id="")
            for org in organisations
        },
        clients=ClientRegistry(organisations),
    )
