"""An adapter in front of an agency's existing HTTP/JSON lookup service.

The service answers a batch of national IDs per request — ``POST`` with a JSON body
``{"<ids_field>": [...], "<as_of_field>": "YYYY-MM-DD"}``, or ``GET`` with the IDs as a
repeated query parameter — with JSON holding one record per subject it knows. Each
attribute is a field of the record, found by a path (:mod:`adapters.json_path`). A subject
without a record is not found; a record without the field (or with ``null``) has no value.

The adapter splits a Fetch into requests of at most ``max_subjects_per_request`` IDs, sends
up to ``max_concurrent_requests`` at once over one pooled client (httpx), and retries an
idempotent request (``GET``, or a ``POST`` the configuration declares idempotent) after a
transport error, a timeout, or a 429/502/503/504, with a short backoff. Everything the
service gets wrong — another status, a body that is not JSON, records in another shape, a
value of another type than the attribute's (``12.0`` or ``"12"`` for an ``int64``), a
record for a subject it was not asked about, two records for one subject — fails the Fetch
as a source failure: the hub then reports the rules needing this agency as UNKNOWN, never a
guess. The cause is logged here, naming the field and the record's position, never a value.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import httpx

from adapters.errors import AdapterConfigError, SourceFailureError
from adapters.json_path import JsonPath, PathTypeError
from adapters.sdk import (
    Adapter,
    AdapterLimits,
    AgencyDescription,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    Value,
    value_matches,
)

_LOG = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
"""Statuses after which an idempotent request is sent again."""

BACKOFF_S = 0.05
"""Wait before the first retry; doubled before each next one."""


@dataclass(frozen=True)
class HttpSource:
    """How to ask the agency's service, and where its answer holds the records."""

    url: str
    method: Literal["GET", "POST"] = "POST"
    ids_field: str = "national_ids"
    """POST: the body's key for the list of IDs; GET: the repeated query parameter."""
    as_of_field: str | None = None
    """The body key (or parameter) for the as-of date; None: the date is not sent."""
    records: JsonPath | None = None
    """Where the list of records is in the response; None: the response is the list."""
    subject_field: JsonPath = field(default_factory=lambda: JsonPath.parse("national_id"))
    """Where each record holds its national ID."""
    max_subjects_per_request: int = 100
    max_concurrent_requests: int = 4
    timeout_s: float = 5.0
    """Per attempt: connecting, and waiting for each part of the answer."""
    retries: int = 2
    idempotent: bool = False
    """POST only: the lookup changes nothing, so a failed request may be sent again."""
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    tls: ssl.SSLContext | None = None
    """How the service's certificate is checked (and the client certificate sent);
    None: the system's trusted CAs."""
    check_url: str | None = None
    """GET at start-up, expecting a 2xx: the service is reachable before the adapter listens."""

    @property
    def may_retry(self) -> bool:
        """Whether a failed request may be sent again."""
        return self.method == "GET" or self.idempotent


class HttpJsonAdapter(Adapter):
    """Serves ``description`` from the service ``source`` describes; ``fields`` maps each
    attribute to the path of its value in a record."""

    def __init__(
        self,
        description: AgencyDescription,
        source: HttpSource,
        fields: Mapping[str, JsonPath],
        *,
        limits: AdapterLimits | None = None,
    ) -> None:
        missing = sorted({a.name for a in description.attributes} - set(fields))
        if missing:
            raise AdapterConfigError(f"attributes {missing}: no field path")
        self._description = description
        self._source = source
        self._fields = dict(fields)
        self._types = {spec.name: spec.type for spec in description.attributes}
        self.limits = limits or AdapterLimits()
        self._client: httpx.AsyncClient | None = None

    def describe(self) -> AgencyDescription:
        """The agency's description."""
        return self._description

    async def check(self) -> None:
        """GET ``check_url``, when configured, and expect a 2xx.

        Raises:
            AdapterConfigError: the service is unreachable or answers another status.
        """
        if self._source.check_url is None:
            return
        try:
            response = await self._http().get(self._source.check_url)
        except httpx.HTTPError as exc:
            raise AdapterConfigError(f"http.check_url: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise AdapterConfigError(f"http.check_url: the service answered {response.status_code}")

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        del pushed_down  # none: the SDK evaluates predicates on the values, in the adapter
        size = self._source.max_subjects_per_request
        chunks = [query.subjects[i : i + size] for i in range(0, len(query.subjects), size)]
        slots = asyncio.Semaphore(self._source.max_concurrent_requests)

        async def ask(chunk: Sequence[str]) -> dict[str, object]:
            async with slots:
                return self._records(chunk, await self._answer(chunk, query))

        records: dict[str, object] = {}
        for part in await asyncio.gather(*(ask(chunk) for chunk in chunks)):
            records.update(part)
        rows = [records.get(subject) for subject in query.subjects]
        return FetchResult(
            found=[row is not None for row in rows],
            values={name: self._column(name, rows) for name in query.attributes},
        )

    def _http(self) -> httpx.AsyncClient:
        """The pooled client, made in the loop that serves (httpx binds it there)."""
        if self._client is None:
            source = self._source
            self._client = httpx.AsyncClient(
                timeout=source.timeout_s,
                headers=dict(source.headers),
                auth=source.auth,
                verify=source.tls if source.tls is not None else True,
                limits=httpx.Limits(max_connections=source.max_concurrent_requests),
                follow_redirects=False,
            )
        return self._client

    async def _answer(self, chunk: Sequence[str], query: FetchQuery) -> object:
        """The decoded JSON answer for ``chunk``, after any retries."""
        source = self._source
        agency = self._description.agency_id
        attempts = 1 + (source.retries if source.may_retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._send(chunk, query)
            except httpx.TransportError as exc:  # timeouts, refused and dropped connections
                if last:
                    raise SourceFailureError(f"{agency}: {type(exc).__name__}") from exc
            else:
                if response.is_success:
                    return _json(response, agency)
                if last or response.status_code not in RETRIED_STATUSES:
                    raise SourceFailureError(
                        f"{agency}: the service answered HTTP {response.status_code}"
                    )
            await asyncio.sleep(BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send(self, chunk: Sequence[str], query: FetchQuery) -> httpx.Response:
        source = self._source
        as_of = query.as_of.isoformat()
        if source.method == "GET":
            params: list[tuple[str, str | int | float | bool | None]] = [
                (source.ids_field, s) for s in chunk
            ]
            if source.as_of_field is not None:
                params.append((source.as_of_field, as_of))
            return await self._http().get(source.url, params=params)
        body: dict[str, object] = {source.ids_field: list(chunk)}
        if source.as_of_field is not None:
            body[source.as_of_field] = as_of
        return await self._http().post(source.url, json=body)

    def _records(self, chunk: Sequence[str], answer: object) -> dict[str, object]:
        """The answer's records by subject, checked against the IDs asked."""
        agency = self._description.agency_id
        source = self._source
        try:
            listed = answer if source.records is None else source.records.find(answer)
        except PathTypeError as exc:
            raise SourceFailureError(f"{agency}: records: {exc}") from exc
        if listed is None:
            listed = []
        if not isinstance(listed, list):
            raise SourceFailureError(f"{agency}: records: not a list")
        asked = set(chunk)
        records: dict[str, object] = {}
        for position, record in enumerate(listed):
            where = f"{agency}: record {position}"
            if not isinstance(record, dict):
                raise SourceFailureError(f"{where}: not an object")
            try:
                subject = source.subject_field.find(record)
            except PathTypeError as exc:
                raise SourceFailureError(f"{where}: {exc}") from exc
            if not isinstance(subject, str) or subject not in asked:
                raise SourceFailureError(f"{where}: {source.subject_field.text} is not an ID asked")
            if subject in records:
                raise SourceFailureError(f"{where}: a second record for one subject")
            records[subject] = record
        return records

    def _column(self, name: str, rows: Sequence[object]) -> list[Value | None]:
        path = self._fields[name]
        kind = self._types[name]
        agency = self._description.agency_id
        column: list[Value | None] = []
        for position, record in enumerate(rows):
            if record is None:
                column.append(None)
                continue
            try:
                found = path.find(record)
            except PathTypeError as exc:
                raise SourceFailureError(f"{agency}: {name} of row {position}: {exc}") from exc
            column.append(_typed(found, kind, f"{agency}: {name} ({path.text}) of row {position}"))
        return column


def _typed(found: object, kind: AttributeType, where: str) -> Value | None:
    if found is None:
        return None
    if kind is AttributeType.STRING_LIST and not isinstance(found, list):
        raise SourceFailureError(f"{where}: a {_kind(found)}, not a list of texts")
    # A JSON value is one of Value's kinds or another; value_matches tells which, at runtime.
    value = cast("Value", tuple(found) if isinstance(found, list) else found)
    if not value_matches(kind, value):
        raise SourceFailureError(f"{where}: a {_kind(found)}, not {kind.value}")
    return value


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "fraction"
    if isinstance(value, str):
        return "text"
    return "list" if isinstance(value, list) else "object"


def _json(response: httpx.Response, agency: str) -> object:
    try:
        return response.json()
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise SourceFailureError(f"{agency}: the service's answer is not JSON") from exc
