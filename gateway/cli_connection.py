"""What every CLI command that calls the hub shares: its options, the connection, the errors.

``sakha check``, ``check-batch``, ``consent …`` and ``mandate …`` take the same
``--server/--profile/--insecure`` options (:func:`connection_options`), connect with
:func:`connect`, and report a failed RPC as one ``Error:`` line (:func:`call_hub`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import click
import grpc
from google.protobuf import timestamp_pb2

from gateway.client_profile import default_profile_path
from gateway.hub_connection import HubConnection
from gateway.labels import LANGUAGES

_T = TypeVar("_T")
_Stub = TypeVar("_Stub")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (its class name when it has none)."""
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def connection_options(command: Callable[..., None]) -> Callable[..., None]:
    """--server, --profile and --insecure, shared by the commands that call the hub."""
    command = click.option(
        "--insecure",
        is_flag=True,
        help="Plaintext, no token: only for a hub started with insecure: true.",
    )(command)
    command = click.option(
        "--profile",
        "profile_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Client profile (CA, key, organisation) [default: $SAKHA_PROFILE or "
        "$XDG_CONFIG_HOME/sakha/profile.yaml, written by `sakha demo`].",
    )(command)
    return click.option(
        "--server", default=None, help="Hub address, host:port [default: the profile's]."
    )(command)


def connect(server: str | None, profile_path: Path | None, insecure: bool) -> HubConnection:
    """The connection the three options describe."""
    return HubConnection.resolve(
        server=server, profile_path=profile_path or default_profile_path(), insecure=insecure
    )


lang_option = click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="The language of every label and reason printed.",
)
"""The ``--lang en|fa`` option of the commands that print for people."""


def call_hub(run: Callable[[], _T], connection: HubConnection) -> _T:
    """``run()``, with a failed RPC turned into one ``Error:`` line (status, message, fields),
    and a hint when the hub speaks the other mode (TLS or plaintext) than ``connection``."""
    try:
        return run()
    except grpc.aio.AioRpcError as exc:
        hint = None
        if exc.code() is grpc.StatusCode.UNAVAILABLE:
            hint = connection.tls_mismatch_hint(exc.details() or "")
        message = _describe_rpc_error(exc)
        raise click.ClickException(f"{message}\n{hint}" if hint else message) from exc
    except grpc.RpcError as exc:  # pragma: no cover - sync errors look the same
        raise click.ClickException(str(exc)) from exc


def _describe_rpc_error(exc: grpc.aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2  # noqa: PLC0415
    from grpc_status import rpc_status  # noqa: PLC0415

    said = exc.details() or ""
    reasons: list[str] = []
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status is not None else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            # The message usually names the field already: then only its reason code is new.
            reasons += [
                v.reason if f"{v.field}:" in said else f"{v.field}: {v.reason}"
                for v in bad.field_violations
            ]
    line = f"{exc.code().name}: {said}"
    return f"{line} ({'; '.join(reasons)})" if reasons else line


class UtcTime(click.ParamType[dt.datetime]):
    """An ISO 8601 time with its UTC offset (``2026-03-01T09:00:00Z``)."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.datetime:
        """The aware datetime ``value`` names; a time without an offset is a usage error."""
        if isinstance(value, dt.datetime):
            return value
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time", param, ctx)
        if parsed.utcoffset() is None:
            self.fail(f"{value!r} has no UTC offset (add Z or +00:00)", param, ctx)
        return parsed


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """``value`` as a protobuf Timestamp (None stays None)."""
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


@dataclass(frozen=True)
class ServiceCalls(Generic[_Stub]):
    """Calls to one of the hub's services: where, how long to wait, and its stub."""

    connection: HubConnection
    timeout: float
    stub: Callable[[grpc.aio.Channel], _Stub]

    def call(
        self,
        method: Callable[[_Stub], grpc.aio.UnaryUnaryMultiCallable[_Req, _Resp]],
        request: _Req,
    ) -> _Resp:
        """Call a unary ``method`` with ``request``; a failure is one line."""

        async def run() -> _Resp:
            async with self.connection.channel() as channel:
                rpc = method(self.stub(channel))
                return await rpc(request, timeout=self.timeout, metadata=self.connection.metadata())

        return call_hub(lambda: asyncio.run(run()), self.connection)

    def stream(
        self,
        method: Callable[[_Stub], grpc.aio.UnaryStreamMultiCallable[_Req, _Resp]],
        request: _Req,
    ) -> list[_Resp]:
        """Every message a streaming ``method`` sends; a failure is one line."""

        async def run() -> list[_Resp]:
            async with self.connection.channel() as channel:
                rpc = method(self.stub(channel))
                call = rpc(request, timeout=self.timeout, metadata=self.connection.metadata())
                return [reply async for reply in call]

        return call_hub(lambda: asyncio.run(run()), self.connection)


def hub_options(
    make: Callable[[HubConnection, float], Any], *, timeout_s: float
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator giving a command the connection options and ``--timeout``, handed to it
    as one ``hub`` argument built by ``make(connection, timeout)``."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def with_hub(
            *,
            server: str | None,
            profile_path: Path | None,
            insecure: bool,
            timeout: float,
            **options: Any,
        ) -> None:
            command(make(connect(server, profile_path, insecure), timeout), **options)

        with_timeout = click.option(
            "--timeout", default=timeout_s, show_default=True, help="Deadline in seconds."
        )(with_hub)
        return connection_options(with_timeout)

    return decorate
