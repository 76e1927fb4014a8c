"""Expose any :class:`~adapters.sdk.Adapter` as a gRPC ``ConnectorService`` (``grpc.aio``).

Errors become gRPC statuses in one table, :data:`_ERRORS`, applied in one place,
:func:`_answer`. Each status carries ``google.rpc`` details: an ``ErrorInfo`` (reason,
domain, agency) always, and a ``BadRequest`` field violation when the offending field is
known. The codes:

- ``INVALID_ARGUMENT``: a malformed request (bad ``as_of``, unspecified operator, missing
  operand) or an attribute, operator or operand type the agency does not serve.
- ``RESOURCE_EXHAUSTED``: a well-formed request larger than the agency accepts (subjects,
  attributes, predicates); the caller should split it. Kept apart from INVALID_ARGUMENT so
  the hub can tell "split the batch" from "fix the plan".
- ``UNAVAILABLE``: the agency's own system failed; the message is fixed, the cause is logged
  here and never sent.
- ``UNAUTHENTICATED`` / ``PERMISSION_DENIED``: the caller is not the hub (no valid client
  certificate / a certificate naming someone else); the message never says who it named.
- ``PERMISSION_DENIED``: the Fetch's token (:mod:`adapters.fetch_token`) is missing, invalid,
  expired, or signed for another agency, other attributes, other subjects or another fetch;
  the reason says which, and the adapter's query does not run.
- ``INTERNAL``: anything else, with no internal text.

The same table maps the refusals of the shared interceptors (:mod:`adapters.interceptors`):
their ``refuse`` function here is :func:`refuse`. A server is built by
:func:`create_adapter_server`; with ``tls`` it serves mutual TLS, admits only the hub *and*
checks every Fetch's token, always all three (credentials alone would admit any certificate
the CA ever signed, and the hub's TLS key alone must not be enough to read an agency).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from logging import ERROR, INFO, WARNING
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry.trace import SpanKind
from sakha.v1 import connector_pb2, connector_pb2_grpc
from sakha.v1.connector_pb2 import DescribeRequest as PB2DescribeRequest
from sakha.v1.connector_pb2 import DescribeResponse as PB2DescribeResponse
from sakha.v1.connector_pb2 import FetchRequest as PB2FetchRequest
from sakha.v1.connector_pb2 import FetchResponse as PB2FetchResponse

from adapters import codec
from adapters.errors import (
    AdapterConfigError,
    FetchTokenError,
    FetchTokenExpiredError,
    FetchTokenInvalidError,
    FetchTokenMissingError,
    FetchTokenNotYetValidError,
    MalformedRequestError,
    QueryLimitError,
    SourceFailureError,
    UnknownAttributeError,
    WrongAgencyError,
    WrongAttributesError,
    WrongFetchError,
    WrongSubjectsError,
)
from adapters.fetch_token import FetchTokenVerifier, bearer_token
from adapters.interceptors import RejectMalformedMessages, RequirePeerIdentity
from adapters.interceptors.wrap import Context, ServerInterceptor
from adapters.malformed import MalformedMessageError
from adapters.pki._credentials import adapter_credentials
from adapters.pki.material import PkiLayout, TlsFiles
from adapters.pki.peer import UnauthenticatedPeerError, WrongPeerError
from adapters.sdk import Adapter
from adapters.telemetry import context_from_metadata, tracer

_LOG = logging.getLogger(__name__)

SERVICE_NAME: str = connector_pb2.DESCRIPTOR.services_by_name["ConnectorService"].full_name
"""The full name of the connector service, as health checks and reflection know it."""

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest request or response: millions of subject IDs, far above any adapter's limits."""

ERROR_DOMAIN = "connector.sakha"
"""``ErrorInfo.domain`` of every error an adapter server reports."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class _ErrorMapping:
    code: int  # a google.rpc.Code
    reason: str  # ErrorInfo.reason
    log_level: int
    # None: the exception's own message is safe to send (it only describes the request).
    fixed_message: str | None = None


def _token_refusal(kind: type[FetchTokenError]) -> tuple[type[Exception], _ErrorMapping]:
    """A fetch token defect: PERMISSION_DENIED with its own reason (logged where refused)."""
    return kind, _ErrorMapping(code_pb2.PERMISSION_DENIED, kind.reason, INFO)


_ERRORS: Sequence[tuple[type[Exception], _ErrorMapping]] = (
    (MalformedMessageError, _ErrorMapping(code_pb2.INVALID_ARGUMENT, "MALFORMED_MESSAGE", INFO)),
    (
        UnauthenticatedPeerError,
        _ErrorMapping(
            code_pb2.UNAUTHENTICATED,
            "CLIENT_CERTIFICATE_REQUIRED",
            INFO,
            "a valid client certificate is required",
        ),
    ),
    (
        WrongPeerError,
        _ErrorMapping(code_pb2.PERMISSION_DENIED, "NOT_THE_HUB", INFO, "only the hub may call"),
    ),
    *map(
        _token_refusal,
        (
            FetchTokenMissingError,
            FetchTokenInvalidError,
            FetchTokenExpiredError,
            FetchTokenNotYetValidError,
            WrongAgencyError,
            WrongAttributesError,
            WrongSubjectsError,
            WrongFetchError,
        ),
    ),
    (MalformedRequestError, _ErrorMapping(code_pb2.INVALID_ARGUMENT, "MALFORMED_REQUEST", INFO)),
    (UnknownAttributeError, _ErrorMapping(code_pb2.INVALID_ARGUMENT, "UNKNOWN_ATTRIBUTE", INFO)),
    (QueryLimitError, _ErrorMapping(code_pb2.RESOURCE_EXHAUSTED, "QUERY_LIMIT", INFO)),
    (
        SourceFailureError,
        _ErrorMapping(
            code_pb2.UNAVAILABLE, "SOURCE_FAILURE", WARNING, "the agency's system failed"
        ),
    ),
)
_INTERNAL = _ErrorMapping(code_pb2.INTERNAL, "INTERNAL", ERROR, "internal error")


def _mapping(exc: Exception) -> _ErrorMapping:
    return next((m for kind, m in _ERRORS if isinstance(exc, kind)), _INTERNAL)


def error_status(exc: Exception, agency_id: str) -> status_pb2.Status:
    """The ``google.rpc.Status`` (with details) that reports ``exc`` to the caller."""
    mapping = _mapping(exc)
    message = str(exc) if mapping.fixed_message is None else mapping.fixed_message
    info = error_details_pb2.ErrorInfo(
        reason=mapping.reason, domain=ERROR_DOMAIN, metadata={"agency_id": agency_id}
    )
    status = status_pb2.Status(code=mapping.code, message=message)
    status.details.add().Pack(info)
    if isinstance(exc, MalformedRequestError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=exc.field, description=message
        )
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return status


class ConnectorServicer(connector_pb2_grpc.ConnectorServiceServicer):
    """Answers ``Describe`` and ``Fetch`` from one adapter."""

    def __init__(self, adapter: Adapter, tokens: FetchTokenVerifier | None = None) -> None:
        """Serve ``adapter``; with ``tokens``, run a Fetch only if its token allows it."""
        self._adapter = adapter
        self._agency_id = adapter.describe().agency_id
        self._tokens = tokens

    async def Describe(  # noqa: N802 - method name fixed by the gRPC service
        self,
        request: PB2DescribeRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> PB2DescribeResponse:
        """Return the agency's description."""
        del request
        return await self._answer(context, self._describe())

    async def Fetch(  # noqa: N802 - method name fixed by the gRPC service
        self,
        request: PB2FetchRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> PB2FetchResponse:
        """Answer many subjects x attributes and predicates in one call, in a span joined to
        the hub's trace (the ``traceparent`` of the call)."""
        with tracer().start_as_current_span(
            "Fetch",
            context=context_from_metadata(context.invocation_metadata()),
            kind=SpanKind.SERVER,
            attributes={"sakha.agency": self._adapter.describe().agency_id},
        ):
            return await self._answer(context, self._fetch(request, context))

    async def _describe(self) -> PB2DescribeResponse:
        description = self._adapter.describe()
        limit = self._adapter.limits.max_subjects
        return codec.encode_description(replace(description, max_subjects=limit))

    async def _fetch(
        self, request: PB2FetchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> PB2FetchResponse:
        query = codec.decode_query(request)
        if self._tokens is not None:
            try:
                self._tokens.verify(bearer_token(context.invocation_metadata()), query)
            except FetchTokenError as exc:
                _LOG.warning(
                    "refused Fetch %r from %s: %s: %s",
                    query.fetch_id,
                    context.peer(),
                    exc.reason,
                    exc,
                )
                raise
        result = await self._adapter.fetch(query)
        return codec.encode_result(result, query, self._adapter.describe())

    async def _answer(self, context: grpc.aio.ServicerContext[Any, Any], work: Awaitable[_T]) -> _T:
        """Run ``work``; report any failure through :data:`_ERRORS`, the one mapping."""
        try:
            return await work
        except Exception as exc:  # every failure becomes an error status, never a success
            mapping = _mapping(exc)
            trace = exc if mapping.log_level >= WARNING else None  # a bad request needs none
            _LOG.log(mapping.log_level, "%s: %s", mapping.reason, exc, exc_info=trace)
            await _abort(context, error_status(exc, self._agency_id))


async def _abort(context: Context, status: status_pb2.Status) -> NoReturn:
    grpc_status = rpc_status.to_status(status)
    await context.abort(grpc_status.code, grpc_status.details, grpc_status.trailing_metadata)


async def refuse(context: Context, exc: Exception, *, agency_id: str) -> None:
    """Abort a call an interceptor refused, with the status :data:`_ERRORS` gives ``exc``."""
    await _abort(context, error_status(exc, agency_id))


def adapter_interceptors(agency_id: str, *, hub_only: bool) -> tuple[ServerInterceptor, ...]:
    """The adapter server's interceptors, outermost first, in this fixed order.

    1. :class:`~adapters.interceptors.RequirePeerIdentity` (``hub_only``): who is calling
       comes first, so a stranger learns nothing, not even whether its request parses;
    2. :class:`~adapters.interceptors.RejectMalformedMessages`.

    Each refuses through :func:`refuse`, the one table of this module.
    """

    async def refuse_here(context: Context, exc: Exception) -> None:
        await refuse(context, exc, agency_id=agency_id)

    guards: list[ServerInterceptor] = [RequirePeerIdentity(refuse_here)] if hub_only else []
    return (*guards, RejectMalformedMessages(refuse_here))


async def create_adapter_server(
    adapter: Adapter,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tls: PkiLayout | TlsFiles | None = None,
    hub_keys: Path | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Build and start a server for ``adapter``, with health (SERVING) and reflection.

    Args:
        adapter: the agency's adapter.
        host: address to bind; ``127.0.0.1`` by default (IPv6 literals need no brackets).
        port: port to bind; 0 picks a free one.
        tls: the agency's certificate, key and CA (its own files, or a whole development
            PKI): the server then speaks mutual TLS and admits only the hub's client
            certificate. None: plaintext, any caller (local debugging and tests only).
        hub_keys: the hub's JWK Set file (:mod:`adapters.fetch_token`): every Fetch must
            carry a token signed by one of its keys for exactly that request. Required with
            ``tls``; a :class:`PkiLayout` provides its ``fetch_token_jwks`` when this is None.
            Without ``tls`` tokens are checked only when it is given.

    Returns:
        The started server and the port it is bound to. Stop it with ``await server.stop(g)``.

    Raises:
        AdapterConfigError: ``adapter.check()`` found it cannot serve what it describes, so a
            wrong table, column or file fails here, at start-up, not on every Fetch.
        AdapterConfigError: also: ``tls`` without hub keys, or a bad JWK Set file.
        UnusableMaterialError: the TLS files are missing, mismatched, expired, not from the
            CA, or name another agency.
        OSError: nothing could be bound at ``host:port``.
    """
    await adapter.check()
    agency_id = adapter.describe().agency_id
    if hub_keys is None and isinstance(tls, PkiLayout):
        hub_keys = tls.fetch_token_jwks
    if tls is not None and hub_keys is None:
        raise AdapterConfigError(
            f"{agency_id}: mutual TLS needs the hub's fetch-token keys (a JWK Set file): "
            "the hub's TLS key alone must not be enough to read this agency"
        )
    if tls is None:
        _LOG.warning(
            "%s: PLAINTEXT adapter: no TLS, any caller is admitted%s. For local debugging "
            "and tests only; never expose it.",
            agency_id,
            "" if hub_keys is not None else ", no fetch tokens checked",
        )
    tokens = None if hub_keys is None else FetchTokenVerifier.load(hub_keys, agency_id)
    credentials = None if tls is None else adapter_credentials(tls, agency_id)
    return await _start(
        ConnectorServicer(adapter, tokens),
        agency_id,
        host,
        port,
        credentials,
        hub_only=tls is not None,
    )


async def _start(
    servicer: connector_pb2_grpc.ConnectorServiceServicer,
    agency_id: str,
    host: str,
    port: int,
    credentials: grpc.ServerCredentials | None,
    *,
    hub_only: bool,
) -> tuple[grpc.aio.Server, int]:
    """Serve ``servicer`` with any credentials and guards: tests build broken servers with it.

    Everything else goes through :func:`create_adapter_server`, which never pairs mutual TLS
    with anything but ``hub_only``.
    """
    server = grpc.aio.server(
        interceptors=adapter_interceptors(agency_id, hub_only=hub_only),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    connector_pb2_grpc.add_ConnectorServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]  # not in stubs
    for service in ("", SERVICE_NAME):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpc reports a failed bind as RuntimeError
        raise OSError(f"cannot listen on {address}") from exc
    await server.start()
    return server, bound
