"""The one table from domain exceptions to gRPC status codes with google.rpc details.

Servicer methods are wrapped by :func:`grpc_errors`, and every interceptor of the hub refuses
through :func:`abort_with` (the shared ones from :mod:`adapters.interceptors` too: their
exceptions have rows here); anything not in the table becomes INTERNAL with no internal text
leaked (the exception is logged instead).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapters.interceptors.wrap import TimeLimitExceededError
from adapters.malformed import MalformedMessageError
from consent import (
    ConsentDeniedError,
    DuplicateError,
    IllegalTransitionError,
    InvalidArtefactError,
    SignatureError,
    TemplateViolationError,
    UnknownConsentError,
    UnknownMandateError,
)
from consent.store import ConcurrentChangeError
from gateway.auth.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from gateway.consent_gate import ConsentStoreUnavailableError
from gateway.errors import (
    AuditUnavailableError,
    DeadlineRequiredError,
    DeadlineTooShortError,
    GatewayError,
    HubUnavailableError,
    InvalidRequestError,
    LimitExceededError,
    NoCheckpointError,
)
from gateway.legal_basis import NoConsentTemplateError
from gateway.programs.errors import ProgramError, UnknownProgramError

_log = logging.getLogger(__name__)
ERROR_DOMAIN = "sakha.gateway"

_T = TypeVar("_T")


def _bad_request(exc: Exception) -> list[Any]:
    violations = (
        exc.violations
        if isinstance(exc, InvalidRequestError)
        else (exc.violation,)
        if isinstance(exc, LimitExceededError)
        else ()
    )
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=v.field, description=v.description, reason=v.reason
            )
            for v in violations
        ]
    )
    return [detail]


def _error_info(reason: str) -> Callable[[Exception], list[Any]]:
    def build(exc: Exception) -> list[Any]:
        del exc
        return [error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)]

    return build


def _resource_info(exc: Exception) -> list[Any]:
    name = exc.program_id if isinstance(exc, UnknownProgramError) else ""
    return [
        error_details_pb2.ResourceInfo(
            resource_type="program", resource_name=name, description=str(exc)
        ),
        error_details_pb2.ErrorInfo(reason="UNKNOWN_PROGRAM", domain=ERROR_DOMAIN),
    ]


def _missing(resource_type: str, reason: str) -> Callable[[Exception], list[Any]]:
    def build(exc: Exception) -> list[Any]:
        return [
            error_details_pb2.ResourceInfo(resource_type=resource_type, description=str(exc)),
            error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN),
        ]

    return build


def _consent_denied(exc: Exception) -> list[Any]:
    assert isinstance(exc, ConsentDeniedError)  # noqa: S101 - the table's row guarantees it
    return [
        error_details_pb2.ErrorInfo(
            reason=str(exc.reason), domain=ERROR_DOMAIN, metadata={"detail": exc.detail}
        )
    ]


def _outside_template(exc: Exception) -> list[Any]:
    assert isinstance(exc, TemplateViolationError)  # noqa: S101 - the table's row guarantees it
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=exc.field, description=str(exc), reason="OUTSIDE_TEMPLATE"
    )
    return [
        error_details_pb2.BadRequest(field_violations=[violation]),
        error_details_pb2.ErrorInfo(reason="OUTSIDE_TEMPLATE", domain=ERROR_DOMAIN),
    ]


def _signature_info(exc: Exception) -> list[Any]:
    assert isinstance(exc, SignatureError)  # noqa: S101 - the table's row guarantees it
    return [error_details_pb2.ErrorInfo(reason=str(exc.defect), domain=ERROR_DOMAIN)]


def _auth_info(exc: Exception) -> list[Any]:
    reason = getattr(exc, "reason", "") or type(exc).__name__
    return [error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)]


def _retry_info(exc: Exception) -> list[Any]:
    delay = duration_pb2.Duration()
    delay.FromTimedelta(dt.timedelta(seconds=getattr(exc, "retry_after_s", 1.0)))
    return [
        error_details_pb2.RetryInfo(retry_delay=delay),
        error_details_pb2.ErrorInfo(reason="RATE_LIMITED", domain=ERROR_DOMAIN),
    ]


# Order matters: the first matching class wins, so subclasses come before their roots.
STATUS_TABLE: tuple[tuple[type[Exception], int, Callable[[Exception], list[Any]]], ...] = (
    (AuthenticationError, code_pb2.UNAUTHENTICATED, _auth_info),
    (PermissionDeniedError, code_pb2.PERMISSION_DENIED, _auth_info),
    (RateLimitedError, code_pb2.RESOURCE_EXHAUSTED, _retry_info),
    (DeadlineRequiredError, code_pb2.INVALID_ARGUMENT, _error_info("DEADLINE_REQUIRED")),
    (MalformedMessageError, code_pb2.INVALID_ARGUMENT, _error_info("MALFORMED_MESSAGE")),
    (TimeLimitExceededError, code_pb2.DEADLINE_EXCEEDED, _error_info("DEADLINE_CAPPED")),
    (InvalidRequestError, code_pb2.INVALID_ARGUMENT, _bad_request),
    (LimitExceededError, code_pb2.INVALID_ARGUMENT, _bad_request),
    (UnknownProgramError, code_pb2.NOT_FOUND, _resource_info),
    (DeadlineTooShortError, code_pb2.DEADLINE_EXCEEDED, _error_info("DEADLINE_TOO_SHORT")),
    (HubUnavailableError, code_pb2.UNAVAILABLE, _error_info("HUB_UNAVAILABLE")),
    (AuditUnavailableError, code_pb2.UNAVAILABLE, _error_info("AUDIT_UNAVAILABLE")),
    (NoCheckpointError, code_pb2.UNAVAILABLE, _error_info("NO_CHECKPOINT_YET")),
    (
        ConsentStoreUnavailableError,
        code_pb2.UNAVAILABLE,
        _error_info("CONSENT_STORE_UNAVAILABLE"),
    ),
    (NoConsentTemplateError, code_pb2.FAILED_PRECONDITION, _error_info("MANDATE_PROGRAM")),
    (ProgramError, code_pb2.FAILED_PRECONDITION, _error_info("PROGRAM_NOT_IN_FORCE")),
    (ConsentDeniedError, code_pb2.PERMISSION_DENIED, _consent_denied),
    (TemplateViolationError, code_pb2.INVALID_ARGUMENT, _outside_template),
    (SignatureError, code_pb2.INVALID_ARGUMENT, _signature_info),
    (InvalidArtefactError, code_pb2.INVALID_ARGUMENT, _error_info("INVALID_ARTEFACT")),
    (UnknownConsentError, code_pb2.NOT_FOUND, _missing("consent", "UNKNOWN_CONSENT")),
    (UnknownMandateError, code_pb2.NOT_FOUND, _missing("mandate", "UNKNOWN_MANDATE")),
    (IllegalTransitionError, code_pb2.FAILED_PRECONDITION, _error_info("ILLEGAL_TRANSITION")),
    (DuplicateError, code_pb2.ALREADY_EXISTS, _error_info("ALREADY_EXISTS")),
    (ConcurrentChangeError, code_pb2.ABORTED, _error_info("CONCURRENT_CHANGE")),
)


def status_for(exc: Exception) -> status_pb2.Status:
    """Return the google.rpc Status for ``exc`` (INTERNAL, without its text, if unmapped)."""
    for kind, code, details in STATUS_TABLE:
        if isinstance(exc, kind):
            packed = []
            for detail in details(exc):
                holder = any_pb2.Any()
                holder.Pack(detail)
                packed.append(holder)
            return status_pb2.Status(code=code, message=str(exc), details=packed)
    if not isinstance(exc, GatewayError):
        _log.exception("unmapped error", exc_info=exc)
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")


def code_and_reason(exc: Exception, default: str = "REFUSED") -> tuple[str, str]:
    """The gRPC code name and the stable reason ``exc`` is reported with (for the audit log
    and the metrics: ``("PERMISSION_DENIED", "REVOKED")``); ``default`` when its status
    names none (an unexpected error: ``INTERNAL``)."""
    status = status_for(exc)
    reason = ""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason = info.reason
            break
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad) and bad.field_violations:
            reason = bad.field_violations[0].reason
    return code_pb2.Code.Name(status.code), reason or default


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
    """Abort the call with the status :func:`status_for` gives ``exc``."""
    # grpc-stubs predates aio's abort_with_status
    await context.abort_with_status(rpc_status.to_status(status_for(exc)))  # type: ignore[attr-defined]


def grpc_errors(
    method: Callable[..., Awaitable[_T]],
) -> Callable[..., Awaitable[_T]]:
    """Wrap a unary servicer method so domain exceptions become statuses with details."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> _T:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort_with(context, exc)
            raise AssertionError("unreachable: abort raises") from exc

    return wrapper


def grpc_stream_errors(
    method: Callable[..., AsyncIterator[_T]],
) -> Callable[..., AsyncIterator[_T]]:
    """Wrap a streaming servicer method the same way as :func:`grpc_errors`."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[_T]:
        try:
            async for item in method(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort_with(context, exc)

    return wrapper
