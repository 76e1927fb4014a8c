"""The conformance kit passes an adapter that keeps the contract and fails, naming the case,
each adapter that breaks one rule of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from adapters.pki.material import PkiLayout
from adapters.server import ConnectorServicer, create_adapter_server
from gateway.adapter_connection import AdapterConnection
from gateway.conformance import ConformanceReport, Verdict, run_conformance
from gateway.pki.ca import init_pki
from tests.conformance.adapters_under_test import (
    AGENCY_ID,
    DESCRIPTION,
    RECORDS,
    SUBJECTS,
    DisagreeingPredicates,
    SlowOnFullFetches,
    UnenforcedLimitServicer,
    WrongTypeServicer,
    food_bank,
    serve,
    verifier,
)

Start = Callable[[Awaitable[tuple[grpc.aio.Server, str]]], Awaitable[str]]
TLS_CASES = (
    "tls.no_client_certificate",
    "tls.foreign_client_certificate",
    "token.missing",
    "token.forged",
    "token.other_subjects",
    "token.expired",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiLayout:
    """The hub's PKI with the food bank's certificate."""
    return init_pki(tmp_path_factory.mktemp("pki"), agencies=(AGENCY_ID,))


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start servers; each is stopped after the test."""
    servers: list[grpc.aio.Server] = []

    async def started(serving: Awaitable[tuple[grpc.aio.Server, str]]) -> str:
        server, target = await serving
        servers.append(server)
        return target

    yield started
    for server in servers:
        await server.stop(None)


async def _plain(target: str) -> ConformanceReport:
    return await run_conformance(AdapterConnection(target), SUBJECTS)


async def _as_hub(target: str, pki: PkiLayout) -> ConformanceReport:
    return await run_conformance(AdapterConnection(target, pki, AGENCY_ID), SUBJECTS)


def _verdicts(report: ConformanceReport) -> dict[str, Verdict]:
    return {r.name: r.verdict for r in report.results}


def _detail(report: ConformanceReport, name: str) -> str:
    return next(r.detail for r in report.results if r.name == name)


async def _good(start: Start, pki: PkiLayout | None = None) -> str:
    server = create_adapter_server(food_bank(), tls=pki)
    return await start(_bound(server))


async def _bound(serving: Awaitable[tuple[grpc.aio.Server, int]]) -> tuple[grpc.aio.Server, str]:
    server, port = await serving
    return server, f"127.0.0.1:{port}"


async def test_an_adapter_that_keeps_the_contract_passes_every_case_as_the_hub(
    start: Start, pki: PkiLayout
) -> None:
    report = await _as_hub(await _good(start, pki), pki)
    assert report.ok, report.results
    assert report.count(Verdict.SKIPPED) == 0, report.results
    verdicts = _verdicts(report)
    for attribute in DESCRIPTION.attributes:
        assert verdicts[f"type {attribute.name}"] is Verdict.PASSED
    assert verdicts["predicates parcels_12m"] is Verdict.PASSED
    assert verdicts["predicates registered"] is Verdict.PASSED
    assert "predicates district" not in verdicts  # it declares no operator
    assert report.agency_id == AGENCY_ID
    assert report.mode == "mutual TLS"


async def test_in_plaintext_the_tls_cases_are_skipped_not_passed(start: Start) -> None:
    report = await _plain(await _good(start))
    assert report.ok
    verdicts = _verdicts(report)
    assert {verdicts[name] for name in TLS_CASES} == {Verdict.SKIPPED}
    assert "give --tls-dir" in _detail(report, "token.missing")
    assert report.count(Verdict.SKIPPED) == len(TLS_CASES)


async def test_a_column_of_the_wrong_type_fails_that_attributes_case(start: Start) -> None:
    target = await start(serve(WrongTypeServicer(food_bank())))
    report = await _plain(target)
    assert "type parcels_12m" in report.failed()
    assert "type registered" not in report.failed()
    assert "strings values for a int64 column" in _detail(report, "type parcels_12m")


async def test_a_predicate_that_disagrees_with_its_value_fails(start: Start) -> None:
    adapter = DisagreeingPredicates(DESCRIPTION, RECORDS)
    target = await start(_bound(create_adapter_server(adapter)))
    report = await _plain(target)
    assert report.failed() == ("predicates parcels_12m",)
    detail = _detail(report, "predicates parcels_12m")
    assert detail.startswith("parcels_12m lt ")
    assert "where its value gives" in detail
    assert "12" not in detail.split(":", 1)[1].replace(SUBJECTS[0], "")  # no value is shown


async def test_an_unenforced_max_subjects_fails_the_limit_case(start: Start) -> None:
    target = await start(serve(UnenforcedLimitServicer(food_bank())))
    report = await _plain(target)
    assert report.failed() == ("limits.over_max_subjects",)
    assert "was answered, expected RESOURCE_EXHAUSTED" in _detail(
        report, "limits.over_max_subjects"
    )


async def test_an_adapter_admitting_any_certificate_of_the_ca_fails(
    start: Start, pki: PkiLayout
) -> None:
    servicer = ConnectorServicer(food_bank(), verifier(pki))
    target = await start(serve(servicer, pki=pki, hub_only=False))
    report = await _as_hub(target, pki)
    assert report.failed() == ("tls.foreign_client_certificate",)
    assert "conformance-stranger was answered" in _detail(report, "tls.foreign_client_certificate")


async def test_an_adapter_ignoring_fetch_tokens_fails_every_token_case(
    start: Start, pki: PkiLayout
) -> None:
    target = await start(serve(ConnectorServicer(food_bank()), pki=pki))
    report = await _as_hub(target, pki)
    assert report.failed() == (
        "token.missing",
        "token.forged",
        "token.other_subjects",
        "token.expired",
    )


async def test_an_adapter_too_slow_for_the_hub_fails_the_timeout_case(start: Start) -> None:
    target = await start(_bound(create_adapter_server(SlowOnFullFetches(DESCRIPTION, RECORDS))))
    report = await _plain(target)
    assert "deadline.hub_timeout" in report.failed()
    assert "DEADLINE_EXCEEDED" in _detail(report, "deadline.hub_timeout")


async def test_nothing_listening_fails_health_and_stops(tmp_path: Path) -> None:
    del tmp_path
    report = await run_conformance(AdapterConnection("127.0.0.1:1"), SUBJECTS)
    assert [r.name for r in report.results] == ["health", "describe"]
    assert report.failed() == ("health", "describe")
    assert report.agency_id == ""


async def test_subjects_the_agency_does_not_hold_fail_with_a_hint(start: Start) -> None:
    target = await _good(start)
    report = await run_conformance(AdapterConnection(target), ("1234567891",))
    assert "fetch.known_subjects" in report.failed()
    assert "give --subject IDs the agency holds" in _detail(report, "fetch.known_subjects")
