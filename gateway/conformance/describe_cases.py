"""The cases every other case stands on: the adapter's health and its ``Describe``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from grpc_health.v1 import health_pb2, health_pb2_grpc
from sakha.v1.connector_pb2 import AttributeInfo as PB2AttributeInfo
from sakha.v1.connector_pb2 import DescribeRequest as PB2DescribeRequest
from sakha.v1.connector_pb2 import DescribeResponse as PB2DescribeResponse

from adapters import codec
from adapters.config import NAME
from adapters.errors import MalformedResponseError
from adapters.pki.material import InvalidNameError, check_agency_id
from adapters.sdk import OPERATORS_ALLOWED, AttributeType
from adapters.server import SERVICE_NAME
from gateway.conformance.outcome import CaseFailedError
from gateway.conformance.session import CALL_TIMEOUT_S, Session, expect_answer

_MONEY_UNIT = "IRR"


async def health(session: Session) -> str:
    """The standard health service answers SERVING for the server and for ConnectorService."""
    stub = health_pb2_grpc.HealthStub(session.channel)
    for service in ("", SERVICE_NAME):
        request = health_pb2.HealthCheckRequest(service=service)
        reply = await expect_answer(
            stub.Check(request, timeout=CALL_TIMEOUT_S), f"health of {service or 'the server'!r}"
        )
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise CaseFailedError(f"health of {service or 'the server'!r} is {status}")
    return f"SERVING ({session.connection.mode})"


async def describe(session: Session) -> str:
    """Describe is well formed: a valid agency id (the one expected, when given), both names,
    attributes with unique valid names, a type, a sensitivity, operators the type allows, and
    ``max_subjects``."""
    response: PB2DescribeResponse = await expect_answer(
        session.stub.Describe(PB2DescribeRequest(), timeout=CALL_TIMEOUT_S), "Describe"
    )
    session.described = response
    try:
        session.description = codec.decode_description(response)
    except MalformedResponseError as exc:
        raise CaseFailedError(f"the hub cannot read it: {exc}") from exc
    problems = list(describe_problems(response, session.connection.agency_id))
    if problems:
        raise CaseFailedError("; ".join(problems))
    limit = response.max_subjects or "no stated limit"
    return f"{response.agency_id}: {len(response.attributes)} attributes, max_subjects {limit}"


def describe_problems(response: PB2DescribeResponse, expected_agency: str | None) -> Iterator[str]:
    """Every way ``response`` breaks the contract, each as one phrase."""
    try:
        check_agency_id(response.agency_id)
    except InvalidNameError as exc:
        yield str(exc)
    if expected_agency is not None and response.agency_id != expected_agency:
        yield f"agency_id is {response.agency_id!r}, expected {expected_agency!r}"
    if not response.agency_name.strip():
        yield "agency_name is empty"
    if not response.agency_name_fa.strip():
        yield "agency_name_fa is empty"
    if not response.attributes:
        yield "no attributes"
    counts = Counter(info.name for info in response.attributes)
    for name, count in sorted(counts.items()):
        if count > 1:
            yield f"attribute {name!r} is listed {count} times"
    for info in response.attributes:
        yield from _attribute_problems(info)


def _attribute_problems(info: PB2AttributeInfo) -> Iterator[str]:
    where = f"attribute {info.name!r}"
    if not NAME.fullmatch(info.name):
        yield f"{where}: the name does not match {NAME.pattern}"
    kind = codec.ATTRIBUTE_TYPES_FROM_PB2.get(info.type)
    if kind is None:
        yield f"{where}: type {info.type} is unspecified or unknown"
    if info.sensitivity not in codec.SENSITIVITIES_FROM_PB2:
        yield f"{where}: sensitivity {info.sensitivity} is unspecified or unknown"
    operators = [codec.OPERATORS_FROM_PB2.get(op) for op in info.predicate_operators]
    if None in operators:
        yield f"{where}: an unspecified or unknown predicate operator"
    declared = [op for op in operators if op is not None]
    if len(set(declared)) != len(declared):
        yield f"{where}: a predicate operator is listed twice"
    if kind is not None:
        refused = sorted(op.value for op in set(declared) - OPERATORS_ALLOWED[kind])
        if refused:
            yield f"{where}: a {kind.value} cannot declare {', '.join(refused)}"
        if info.unit == _MONEY_UNIT and kind is not AttributeType.INT64:
            yield f"{where}: money (unit IRR) must be int64 rials, not {kind.value}"
