"""Fan-out to one agency in chunks: all or nothing, and a failed chunk cancels the others."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.errors import SourceFailureError, WrongSubjectsError
from adapters.fetch_token import FetchTokenVerifier
from adapters.jwk_set import read_jwk_set
from adapters.memory import MemoryAdapter
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult, Predicate
from gateway.engine.outcome import SourceStatus
from gateway.engine.planner import AgencyRequest
from gateway.fanout import PUBLIC_DETAIL, LocalAgency, fetch_from_agency
from gateway.fetch_tokens import FetchTokenSigner
from tests.pipeline.conftest import SUBJECTS, World


class OneChunkFails(MemoryAdapter):
    """Fails the chunk holding ``poisoned`` at once; every other chunk waits forever."""

    def __init__(self, world: World, poisoned: str) -> None:
        super().__init__(world.tax.describe(), {})
        self._poisoned = poisoned
        self.waiting = 0
        self.cancelled = 0

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        if self._poisoned in query.subjects:
            await asyncio.sleep(0.01)  # let the siblings start first
            raise SourceFailureError("the tax database went away")
        self.waiting += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


async def test_a_failed_chunk_cancels_its_siblings(world: World) -> None:
    adapter = OneChunkFails(world, poisoned=SUBJECTS[4])
    answer = await asyncio.wait_for(
        fetch_from_agency(
            LocalAgency(adapter),
            AgencyRequest("tax", ("annual_income",)),
            SUBJECTS[:6],
            as_of=dt.date(2026, 6, 1),
            purpose="testing",
            timeout_s=30,
            chunk=2,
        ),
        timeout=5,
    )
    assert answer.result is None
    assert answer.outcome.status is SourceStatus.UNAVAILABLE
    assert answer.outcome.detail == PUBLIC_DETAIL[SourceStatus.UNAVAILABLE], "no agency text"
    assert adapter.waiting == 2
    assert adapter.cancelled == 2
    assert len(answer.fetch_ids) == 3
    assert answer.fetch_ids_for([4, 5]) == answer.fetch_ids[2:]


async def test_the_timeout_bounds_each_chunk(world: World) -> None:
    world.tax.gate.clear()
    answer = await fetch_from_agency(
        LocalAgency(world.tax),
        AgencyRequest("tax", ("annual_income",)),
        SUBJECTS[:2],
        as_of=dt.date(2026, 6, 1),
        purpose="testing",
        timeout_s=0.05,
        chunk=1,
    )
    assert answer.outcome.status is SourceStatus.TIMEOUT
    assert world.tax.cancelled.is_set()


class TokenRecorder:
    """An agency connection that records each call's query and token, then answers locally."""

    def __init__(self, world: World) -> None:
        self._local = LocalAgency(world.tax)
        self.calls: list[tuple[FetchQuery, str | None]] = []

    @property
    def description(self) -> AgencyDescription:
        return self._local.description

    async def fetch(self, query: FetchQuery, timeout_s: float, token: str | None) -> FetchResult:
        self.calls.append((query, token))
        return await self._local.fetch(query, timeout_s, token)


async def test_every_chunk_carries_its_own_token(world: World) -> None:
    signer = FetchTokenSigner(ed25519.Ed25519PrivateKey.generate())
    connection = TokenRecorder(world)
    answer = await fetch_from_agency(
        connection,
        AgencyRequest("tax", ("annual_income",)),
        SUBJECTS[:6],
        as_of=dt.date(2026, 6, 1),
        purpose="testing",
        timeout_s=30,
        chunk=2,
        tokens=signer,
        basis=("consent-b", "consent-a"),
    )
    assert answer.outcome.status is SourceStatus.OK
    assert [q.fetch_id for q, _ in connection.calls] == list(answer.fetch_ids)
    verifier = FetchTokenVerifier(read_jwk_set(signer.jwks(), "hub"), "tax")
    tokens = [t for _, t in connection.calls]
    assert len(set(tokens)) == 3
    for query, token in connection.calls:
        assert verifier.verify(token, query).basis == ("consent-a", "consent-b")
    first, second = connection.calls[0][0], connection.calls[1][0]
    with pytest.raises(WrongSubjectsError):  # a chunk's token does not serve its sibling
        verifier.verify(tokens[0], dataclasses.replace(second, fetch_id=first.fetch_id))
