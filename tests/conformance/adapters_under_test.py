"""A small agency that keeps the contract, and the broken variants the kit must catch.

Each broken one breaks exactly one rule, the way a hand-written adapter might: a wrong
column type, a predicate that disagrees with its value, a ``max_subjects`` it does not
enforce, a server that admits any certificate from the CA, one that ignores fetch tokens,
and one too slow for the hub's timeout on a full-size Fetch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from sakha.v1.connector_pb2 import DescribeRequest as PB2DescribeRequest
from sakha.v1.connector_pb2 import DescribeResponse as PB2DescribeResponse
from sakha.v1.connector_pb2 import FetchRequest as PB2FetchRequest
from sakha.v1.connector_pb2 import FetchResponse as PB2FetchResponse
from sakha.v1.connector_pb2 import StringColumn as PB2StringColumn

from adapters.fetch_token import FetchTokenVerifier
from adapters.memory import MemoryAdapter, Record
from adapters.national_id import with_check_digit
from adapters.pki._credentials import adapter_credentials
from adapters.pki.material import PkiLayout
from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    PredicateOperator,
    Sensitivity,
)
from adapters.server import ConnectorServicer, _start

AGENCY_ID = "food_bank"
ORDERED = frozenset({PredicateOperator.LT, PredicateOperator.LE, PredicateOperator.GT})
DESCRIPTION = AgencyDescription(
    agency_id=AGENCY_ID,
    name="Provincial Food Bank",
    name_fa="بانک غذای استان",
    attributes=(
        AttributeSpec(
            "parcels_12m", AttributeType.INT64, Sensitivity.PERSONAL, "count", "", ORDERED
        ),
        AttributeSpec(
            "registered",
            AttributeType.BOOL,
            Sensitivity.PERSONAL,
            "",
            "",
            frozenset({PredicateOperator.EQ}),
        ),
        AttributeSpec("district", AttributeType.STRING, Sensitivity.PERSONAL),
        AttributeSpec("programmes", AttributeType.STRING_LIST, Sensitivity.PERSONAL),
    ),
)


def _national_id(body: int) -> str:
    return with_check_digit(f"{body:09d}")


SUBJECTS = tuple(_national_id(123_456_000 + n) for n in range(4))
RECORDS: dict[str, Record] = {
    SUBJECTS[0]: {
        "parcels_12m": 12,
        "registered": True,
        "district": "north",
        "programmes": ("bread",),
    },
    SUBJECTS[1]: {"parcels_12m": 0, "registered": False, "district": "south", "programmes": ()},
    SUBJECTS[2]: {"registered": True},
    SUBJECTS[3]: {"parcels_12m": -3, "district": "", "programmes": ("bread", "oil")},
}


def food_bank() -> MemoryAdapter:
    """The agency that keeps the contract."""
    return MemoryAdapter(DESCRIPTION, RECORDS)


class DisagreeingPredicates(MemoryAdapter):
    """Evaluates ``parcels_12m lt`` itself, and gets it backwards."""

    def _pushed_down(self, predicate: Predicate) -> bool:
        return predicate.operator is PredicateOperator.LT

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        result = await super()._fetch(query, ())
        result.predicates = [
            [_wrong(p, RECORDS.get(s, {}).get(p.attribute)) for s in query.subjects]
            for p in pushed_down
        ]
        return result


def _wrong(predicate: Predicate, value: Any) -> bool | None:
    return None if value is None else not predicate.operator.apply(value, predicate.operand)


class SlowOnFullFetches(MemoryAdapter):
    """Takes 4 s over a Fetch of more than 100 subjects: past the hub's 3 s timeout."""

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        if len(query.subjects) > 100:
            await asyncio.sleep(4)
        return await super()._fetch(query, pushed_down)


class WrongTypeServicer(ConnectorServicer):
    """Declares ``parcels_12m`` int64 and sends it as strings."""

    async def Fetch(  # noqa: N802 - gRPC method name
        self, request: PB2FetchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> PB2FetchResponse:
        response = await super().Fetch(request, context)
        for name, column in zip(request.attributes, response.columns, strict=True):
            if name == "parcels_12m":
                texts = [str(v) for v in column.ints.values]
                column.strings.CopyFrom(PB2StringColumn(values=texts))
        return response


class UnenforcedLimitServicer(ConnectorServicer):
    """Announces ``max_subjects`` 10 and answers any number."""

    async def Describe(  # noqa: N802 - gRPC method name
        self, request: PB2DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> PB2DescribeResponse:
        response = await super().Describe(request, context)
        response.max_subjects = 10
        return response


async def serve(
    servicer: ConnectorServicer,
    *,
    pki: PkiLayout | None = None,
    hub_only: bool = True,
) -> tuple[grpc.aio.Server, str]:
    """Serve ``servicer`` on 127.0.0.1, plaintext or with the agency's certificate; with
    ``hub_only`` False, mutual TLS admits any certificate the CA signed."""
    credentials = None if pki is None else adapter_credentials(pki, AGENCY_ID)
    server, port = await _start(
        servicer, AGENCY_ID, "127.0.0.1", 0, credentials, hub_only=pki is not None and hub_only
    )
    return server, f"127.0.0.1:{port}"


def verifier(pki: PkiLayout) -> FetchTokenVerifier:
    """The token check a correct TLS adapter runs."""
    return FetchTokenVerifier.load(pki.fetch_token_jwks, AGENCY_ID)
