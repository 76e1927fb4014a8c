"""What every CLI command that calls the hub shares: its options, the connection, the errors.

``sakha check``, ``check-batch``, ``consent …`` and ``mandate …`` take the same
``--server/--profile/--insecure`` options (:func:`connection_options`), connect with
:func:`connect`, and report a failed RPC as one ``Error:`` line (:func:`call_hub`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
import grpc

from gateway.client_profile import default_profile_path
from gateway.hub_connection import HubConnection

_T = TypeVar("_T")


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


def call_hub(run: Callable[[], _T]) -> _T:
    """``run()``, with a failed RPC turned into one ``Error:`` line (status, message, fields)."""
    try:
        return run()
    except grpc.aio.AioRpcError as exc:
        raise click.ClickException(_describe_rpc_error(exc)) from exc
    except grpc.RpcError as exc:  # pragma: no cover - sync errors look the same
        raise click.ClickException(str(exc)) from exc


def _describe_rpc_error(exc: grpc.aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2  # noqa: PLC0415
    from grpc_status import rpc_status  # noqa: PLC0415

    reasons: list[str] = []
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status is not None else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            reasons += [f"{v.field}: {v.reason}" for v in bad.field_violations]
    line = f"{exc.code().name}: {exc.details()}"
    return f"{line} [{'; '.join(reasons)}]" if reasons else line
