"""The generic HTTP/JSON adapter, against real local HTTP services: a good one, GET and
POST, split batches, a slow one, a failing one, garbage answers, authentication and TLS.

Every failure of the service is a source failure (the hub then says UNKNOWN), never a
wrong value; its logged cause names the field and the record's position, never a value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from adapters.client import ConnectorClient
from adapters.config import load_adapter_config
from adapters.errors import AdapterConfigError, SourceFailureError
from adapters.http_json import HttpJsonAdapter
from adapters.json_path import JsonPath, PathSyntaxError, PathTypeError
from adapters.pki.material import LeafProfile, Usage
from adapters.sdk import Adapter, FetchQuery, Predicate, PredicateOperator
from adapters.server import create_adapter_server
from adapters.simulated.json_service import JsonService, Reply, Request
from gateway.adapter_connection import AdapterConnection
from gateway.conformance import Verdict, run_conformance
from gateway.pki.ca import CertificateAuthority, write_key_and_certificate

A, B, C = "0012345679", "0045678911", "0078912342"
STRANGER = "0024681350"
ON = dt.date(2026, 6, 1)
FOOD_BANK: dict[str, dict[str, Any]] = {
    A: {"id": A, "stats": {"parcels": 12, "registered": True}, "tags": [{"t": "bread"}]},
    B: {"id": B, "stats": {"parcels": 0, "registered": False}, "tags": []},
    C: {"id": C, "stats": {"parcels": None}},
}


def records_for(ids: list[str]) -> list[dict[str, Any]]:
    """The food bank's records of ``ids``, in a shuffled order as services do."""
    return [FOOD_BANK[i] for i in reversed(ids) if i in FOOD_BANK]


def lookup(request: Request) -> Reply:
    """The food bank's service: POST {"ids": [...]} or GET ?ids=…&ids=…; records under
    data.items."""
    body: Any = request.body
    ids = body["ids"] if request.method == "POST" else request.params.get("ids", [])
    return Reply.json({"data": {"items": records_for(ids)}})


def config(url: str, **http: object) -> dict[str, Any]:
    """The food bank's adapter file, with ``http`` settings over the defaults."""
    return {
        "agency_id": "food_bank",
        "name": "Provincial Food Bank",
        "name_fa": "بانک غذای استان",
        "http": {
            "url": url,
            "ids_field": "ids",
            "records": "data.items",
            "subject_field": "id",
            **http,
        },
        "attributes": {
            "parcels_12m": {
                "field": "stats.parcels",
                "type": "int64",
                "sensitivity": "personal",
                "predicates": ["lt", "ge"],
            },
            "registered": {"field": "stats.registered", "type": "bool", "sensitivity": "personal"},
            "programmes": {"field": "tags[].t", "type": "string_list", "sensitivity": "personal"},
        },
    }


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Adapter]:
    """Write an adapter file and load it, as ``sakha adapter serve`` does."""

    def load(data: dict[str, Any], environ: dict[str, str] | None = None) -> Adapter:
        path = tmp_path / "food_bank.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return load_adapter_config(path, environ=environ or {})

    return load


@pytest.fixture
def service() -> Iterator[JsonService]:
    """The food bank's service, answering well."""
    with JsonService(lookup) as running:
        yield running


def _query(*subjects: str, predicates: tuple[Predicate, ...] = ()) -> FetchQuery:
    names = ("parcels_12m", "registered", "programmes")
    return FetchQuery(subjects=subjects, attributes=names, predicates=predicates, as_of=ON)


async def test_a_post_service_answers_values_found_and_predicates(
    service: JsonService, write: Callable[..., Adapter]
) -> None:
    adapter = write(config(f"{service.url}/lookup", as_of_field="as_of"))
    below = Predicate("parcels_12m", PredicateOperator.LT, 5)
    try:
        result = await adapter.fetch(_query(A, STRANGER, B, C, predicates=(below,)))
    finally:
        await adapter.close()
    assert result.found == [True, False, True, True]
    assert result.values["parcels_12m"] == [12, None, 0, None]
    assert result.values["registered"] == [True, None, False, None]
    assert result.values["programmes"] == [("bread",), None, (), None]
    assert result.predicates == [[False, None, True, None]]
    [request] = service.requests
    assert request.body == {"ids": [A, STRANGER, B, C], "as_of": "2026-06-01"}


async def test_a_get_service_gets_the_ids_as_repeated_parameters(
    service: JsonService, write: Callable[..., Adapter]
) -> None:
    adapter = write(config(f"{service.url}/lookup", method="GET"))
    try:
        result = await adapter.fetch(_query(B, A))
    finally:
        await adapter.close()
    assert result.values["parcels_12m"] == [0, 12]
    assert service.requests[0].params == {"ids": [B, A]}


async def test_a_large_fetch_is_split_and_sent_a_few_at_a_time(
    write: Callable[..., Adapter],
) -> None:
    in_flight, most = 0, 0
    lock = threading.Lock()

    def counting(request: Request) -> Reply:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return lookup(request)

    with JsonService(counting) as slow:
        adapter = write(
            config(f"{slow.url}/lookup", max_subjects_per_request=2, max_concurrent_requests=2)
        )
        subjects = (A, B, C, STRANGER) * 3
        try:
            result = await adapter.fetch(_query(*subjects))
        finally:
            await adapter.close()
    assert len(slow.requests) == 6
    assert most == 2
    assert all(len(r.body["ids"]) == 2 for r in slow.requests)  # type: ignore[index]
    assert result.found == [True, True, True, False] * 3


async def test_a_slow_service_times_out_and_is_retried_when_idempotent(
    write: Callable[..., Adapter],
) -> None:
    def stalls(request: Request) -> Reply:
        time.sleep(1.0)
        return lookup(request)

    with JsonService(stalls) as slow:
        adapter = write(config(f"{slow.url}/lookup", timeout_s=0.2, retries=2, idempotent=True))
        started = time.monotonic()
        try:
            with pytest.raises(SourceFailureError, match="ReadTimeout"):
                await adapter.fetch(_query(A))
        finally:
            await adapter.close()
        took = time.monotonic() - started
        await asyncio.sleep(1.1)  # let the stalled handlers finish before counting
    assert len(slow.requests) == 3
    assert took < 1.5  # three 0.2 s attempts and two short backoffs, not three 1 s answers


@pytest.mark.parametrize(
    ("statuses", "extra", "requests", "succeeds"),
    [
        ([503, 502], {"idempotent": True}, 3, True),  # retried, then answered
        ([503, 503, 503], {"idempotent": True}, 3, False),  # retried until the budget ends
        ([500], {"idempotent": True}, 1, False),  # a server error is not retried
        ([404], {"idempotent": True}, 1, False),
        ([503], {}, 1, False),  # a POST not declared idempotent is never sent twice
        ([503, 429], {"method": "GET"}, 3, True),  # a GET always is
    ],
)
async def test_a_failing_service(
    write: Callable[..., Adapter],
    statuses: list[int],
    extra: dict[str, object],
    requests: int,
    succeeds: bool,
) -> None:
    pending = list(statuses)

    def failing(request: Request) -> Reply:
        if pending:
            return Reply.json({"error": "busy"}, pending.pop(0))
        return lookup(request)

    with JsonService(failing) as flaky:
        adapter = write(config(f"{flaky.url}/lookup", **extra))
        try:
            if succeeds:
                assert (await adapter.fetch(_query(A))).values["parcels_12m"] == [12]
            else:
                with pytest.raises(SourceFailureError, match=f"HTTP {statuses[-1]}|HTTP 500"):
                    await adapter.fetch(_query(A))
        finally:
            await adapter.close()
    assert len(flaky.requests) == requests


async def test_a_service_that_is_down_is_a_source_failure(write: Callable[..., Adapter]) -> None:
    adapter = write(config("http://127.0.0.1:1/lookup", retries=1, idempotent=True))
    try:
        with pytest.raises(SourceFailureError, match="ConnectError"):
            await adapter.fetch(_query(A))
    finally:
        await adapter.close()


def items(*records: object) -> Reply:
    """An answer holding ``records`` where the configuration looks for them."""
    return Reply.json({"data": {"items": list(records)}})


def record_of_a(**fields: object) -> Reply:
    """An answer with one record of subject A holding ``fields``."""
    return items({"id": A, **fields})


GARBAGE: list[tuple[str, Reply, str]] = [
    ("not JSON", Reply(200, b"<html>maintenance</html>", "text/html"), "not JSON"),
    ("records not a list", Reply.json({"data": {"items": {"id": A}}}), "records: not a list"),
    ("records under a list", Reply.json({"data": [1, 2]}), "records: .*key 'items' of a list"),
    ("a record not an object", items("x"), "record 0: not an object"),
    ("no subject", items({"stats": {}}), "record 0: id is not an ID"),
    ("another subject", items(FOOD_BANK[B]), "not an ID asked"),
    ("twice", items(FOOD_BANK[A], FOOD_BANK[A]), "record 1: a second record"),
    ("quoted int", record_of_a(stats={"parcels": "12"}), "parcels_12m .* a text, not int64"),
    ("fraction", record_of_a(stats={"parcels": 12.0}), "a fraction, not int64"),
    ("quoted bool", record_of_a(stats={"registered": "true"}), "registered .* a text, not bool"),
    ("bool as int", record_of_a(stats={"parcels": True}), "a boolean, not int64"),
    ("list of numbers", record_of_a(tags=[{"t": 1}]), "programmes .* not string_list"),
    ("a text for a list", record_of_a(tags="bread"), r"programmes .* \[\] of a string"),
    ("a key of a number", record_of_a(stats=7), "key 'parcels' of a number"),
]


@pytest.mark.parametrize(("case", "reply", "reason"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_a_garbage_answer_is_a_source_failure_naming_the_field_not_the_value(
    write: Callable[..., Adapter], case: str, reply: Reply, reason: str
) -> None:
    del case
    with JsonService(lambda _: reply) as garbage:
        adapter = write(config(f"{garbage.url}/lookup"))
        try:
            with pytest.raises(SourceFailureError, match=reason) as caught:
                await adapter.fetch(_query(A))
        finally:
            await adapter.close()
    cause = f"{caught.value} {caught.value.__cause__ or ''}"
    for value in ("maintenance", "bread", "'12'"):
        assert value not in cause


async def test_through_grpc_a_garbage_answer_is_unavailable_with_a_fixed_message(
    write: Callable[..., Adapter],
) -> None:
    with JsonService(lambda _: Reply(200, b"secret page")) as garbage:
        adapter = write(config(f"{garbage.url}/lookup"))
        server, port = await create_adapter_server(adapter)
        try:
            async with ConnectorClient(f"127.0.0.1:{port}") as client:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await client.fetch(_query(A), adapter.describe(), 5)
        finally:
            await server.stop(None)
            await adapter.close()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "the agency's system failed"


async def test_bearer_and_basic_credentials_come_from_the_environment(
    service: JsonService, write: Callable[..., Adapter]
) -> None:
    bearer = write(
        config(f"{service.url}/lookup", auth={"bearer_token_env": "FOOD_BANK_TOKEN"}),
        {"FOOD_BANK_TOKEN": "t0ken"},
    )
    basic = write(
        config(
            f"{service.url}/lookup",
            auth={"basic_user": "sakha", "basic_password_env": "FOOD_BANK_PASSWORD"},
        ),
        {"FOOD_BANK_PASSWORD": "s3cret"},
    )
    for adapter in (bearer, basic):
        try:
            await adapter.fetch(_query(A))
        finally:
            await adapter.close()
    assert service.requests[0].headers["Authorization"] == "Bearer t0ken"
    assert service.requests[1].headers["Authorization"] == "Basic c2FraGE6czNjcmV0"


@pytest.fixture
def https_service(tmp_path: Path) -> Iterator[tuple[JsonService, Path]]:
    """The food bank's service over HTTPS, with a CA of its own (whose file is returned)."""
    now = dt.datetime.now(dt.UTC)
    ca = CertificateAuthority.create(not_before=now, not_after=now + dt.timedelta(days=1))
    profile = LeafProfile(
        "food bank", Usage.SERVER, ip_addresses=(__import__("ipaddress").ip_address("127.0.0.1"),)
    )
    key, certificate = ca.issue(profile, not_before=now, not_after=now + dt.timedelta(hours=1))
    write_key_and_certificate(key, certificate, tmp_path / "server.key", tmp_path / "server.pem")
    write_key_and_certificate(ca.key, ca.certificate, tmp_path / "ca.key", tmp_path / "ca.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    with JsonService(lookup, tls=context) as running:
        yield running, tmp_path / "ca.pem"


async def test_https_with_the_services_ca_is_trusted_and_without_it_is_not(
    https_service: tuple[JsonService, Path], write: Callable[..., Adapter]
) -> None:
    service, ca_file = https_service
    assert service.url.startswith("https://")
    trusting = write(config(f"{service.url}/lookup", ca_file=str(ca_file)))
    default = write(config(f"{service.url}/lookup"))
    try:
        assert (await trusting.fetch(_query(A))).found == [True]
        with pytest.raises(SourceFailureError, match="ConnectError"):
            await default.fetch(_query(A))
    finally:
        await trusting.close()
        await default.close()


async def test_the_check_url_must_answer_before_the_adapter_listens(
    service: JsonService, write: Callable[..., Adapter]
) -> None:
    good = write(config(f"{service.url}/lookup", check_url=f"{service.url}/health"))
    await good.check()
    await good.close()
    with JsonService(lambda _: Reply.json({}, 503)) as down:
        bad = write(config(f"{down.url}/lookup", check_url=f"{down.url}/health"))
        with pytest.raises(AdapterConfigError, match=r"http\.check_url: the service answered 503"):
            await create_adapter_server(bad)
        await bad.close()


def _http(**settings: object) -> dict[str, object]:
    return {"http": {"url": "http://x", **settings}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"http": {"url": "ftp://x/y"}}, "http.url: 'ftp://x/y' is not an http"),
        (_http(records="a..b"), "http.records: .*segment ''"),
        (_http(method="GET", idempotent=True), "idempotent is for POST"),
        (
            _http(auth={"bearer_token_env": "NOT_SET"}),
            "http.auth.bearer_token_env: the environment variable NOT_SET is not set",
        ),
        (_http(auth={"basic_user": "u"}), "basic_user and basic_password_env go together"),
        (_http(client_cert_file="c.pem"), "client_cert_file and client_key_file go together"),
        (_http(ca_file="nowhere.pem"), "nowhere.pem is not a file"),
        (_http(retries="2"), "http.retries"),
        (_http(idempotent="yes"), "http.idempotent"),
        ({"url": "sqlite:///x.sqlite"}, "url, csv or http: give one, not url and http"),
    ],
)
def test_a_bad_http_section_names_its_key(
    write: Callable[..., Adapter], change: dict[str, Any], message: str
) -> None:
    data = config("http://unused")
    data.update(change)
    with pytest.raises(AdapterConfigError, match=message):
        write(data)


def test_an_attribute_key_of_another_kind_of_file_is_refused(
    write: Callable[..., Adapter],
) -> None:
    data = config("http://unused")
    data["attributes"]["registered"]["column"] = "registered"
    with pytest.raises(AdapterConfigError, match=r"attributes\.registered\.column: unknown key"):
        write(data)
    data = config("http://unused")
    data["attributes"]["parcels_12m"]["field"] = "stats..parcels"
    with pytest.raises(AdapterConfigError, match=r"attributes\.parcels_12m\.field"):
        write(data)


def test_an_adapter_needs_a_path_for_every_attribute(write: Callable[..., Adapter]) -> None:
    adapter = write(config("http://unused"))
    assert isinstance(adapter, HttpJsonAdapter)
    with pytest.raises(AdapterConfigError, match="no field path"):
        HttpJsonAdapter(adapter.describe(), adapter._source, {})


@pytest.mark.parametrize(
    ("path", "document", "found"),
    [
        ("a", {"a": 1}, 1),
        ("a.b", {"a": {"b": "x"}}, "x"),
        ("a.1", {"a": [10, 20]}, 20),
        ("a.5", {"a": [10, 20]}, None),
        ("a.b", {"a": None}, None),
        ("a.b", {}, None),
        ("2024", {"2024": 7}, 7),
        ("a[].n", {"a": [{"n": "x"}, {}, {"n": "y"}]}, ["x", "y"]),
        ("a[]", {"a": ["x", None, "y"]}, ["x", "y"]),
        ("a[].n", {"a": None}, None),
    ],
)
def test_json_paths_find_values_or_none(path: str, document: object, found: object) -> None:
    assert JsonPath.parse(path).find(document) == found


@pytest.mark.parametrize("text", ["", "a..b", "a b", "a[]b", "a[].b[]", "ä", ".a", "a."])
def test_a_malformed_path_is_refused(text: str) -> None:
    with pytest.raises(PathSyntaxError):
        JsonPath.parse(text)


@pytest.mark.parametrize(
    ("path", "document"), [("a.b", {"a": [1]}), ("a.b", {"a": "x"}), ("a[]", {"a": {}})]
)
def test_a_path_through_the_wrong_kind_of_value_is_a_type_error(
    path: str, document: object
) -> None:
    with pytest.raises(PathTypeError):
        JsonPath.parse(path).find(document)


async def test_the_http_adapter_passes_the_conformance_kit(
    service: JsonService, write: Callable[..., Adapter]
) -> None:
    adapter = write(config(f"{service.url}/lookup", max_subjects_per_request=50))
    server, port = await create_adapter_server(adapter)
    try:
        report = await run_conformance(AdapterConnection(f"127.0.0.1:{port}"), (A, B, C))
    finally:
        await server.stop(None)
        await adapter.close()
    assert report.ok, [r for r in report.results if r.verdict is Verdict.FAILED]
    skipped = [r.name for r in report.results if r.verdict is Verdict.SKIPPED]
    assert all(name.startswith(("tls.", "token.")) for name in skipped)  # plaintext
