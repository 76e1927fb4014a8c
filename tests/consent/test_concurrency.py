"""Concurrent uses on SQLite and PostgreSQL: a one-time consent is spent exactly once, a
periodic one never beyond its frequency.

Each thread uses its own database connection (the engine's pool), so the race is between
real transactions; a barrier releases them together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from consent import (
    Allowed,
    ConsentDeniedError,
    ConsentSigner,
    DenialReason,
    JwksVerifier,
)
from consent.database import create_store_engine
from consent.store import ConsentStore
from tests.consent.conftest import NOW, artefact, one_time, template, use_request

THREADS = 12


def _race(
    engine: sa.Engine, verifier: JwksVerifier, action: Callable[[ConsentStore], object]
) -> list[object]:
    """``action`` run by THREADS threads at once, each with a store of its own."""
    url = engine.url
    barrier = threading.Barrier(THREADS)

    def run(_: int) -> object:
        own = create_store_engine(url, pool_size=1)
        try:
            store = ConsentStore(own, verifier, check_schema=False)
            barrier.wait(timeout=30)
            return action(store)
        finally:
            own.dispose()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def _outcome(store: ConsentStore) -> Allowed | ConsentDeniedError:
    [outcome] = store.authorize_group([use_request()], now=NOW)
    return outcome


@pytest.mark.slow
def test_a_one_time_consent_is_spent_exactly_once(
    store: ConsentStore, engine: sa.Engine, verifier: JwksVerifier, signer: ConsentSigner
) -> None:
    store.grant(signer.sign_artefact(one_time()), template(), actor="clerk", now=NOW)
    outcomes = _race(engine, verifier, _outcome)
    allowed = [o for o in outcomes if isinstance(o, Allowed)]
    assert len(allowed) == 1
    assert {o.reason for o in outcomes if isinstance(o, ConsentDeniedError)} == {DenialReason.SPENT}
    assert store.get("c-1", now=NOW).use_count == 1
    assert store.uses("c-1") == [NOW]


@pytest.mark.slow
def test_a_periodic_consent_is_never_used_beyond_its_frequency(
    store: ConsentStore, engine: sa.Engine, verifier: JwksVerifier, signer: ConsentSigner
) -> None:
    store.grant(signer.sign_artefact(artefact()), template(), actor="clerk", now=NOW)
    outcomes = _race(engine, verifier, _outcome)
    assert sum(isinstance(o, Allowed) for o in outcomes) == 4  # 4 per 30 days
    assert store.get("c-1", now=NOW).use_count == len(store.uses("c-1")) == 4
