"""The hub's side of ``ConnectorService``: a thin async client for one agency adapter.

gRPC errors (:class:`grpc.aio.AioRpcError`) propagate unchanged: the hub classifies
DEADLINE_EXCEEDED, UNAVAILABLE and the rest itself. A response that does not fit the query or
the agency's description raises :class:`~adapters.errors.MalformedResponseError`.
"""

from __future__ import annotations

from types import TracebackType

import grpc
from sakha.v1 import connector_pb2_grpc
from sakha.v1.connector_pb2 import DescribeRequest as PB2DescribeRequest

from adapters import codec
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult
from adapters.server import MAX_MESSAGE_BYTES
from adapters.telemetry import trace_metadata

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
"""Options for channels to adapters: message sizes matching the adapter server's."""


class ConnectorClient:
    """Calls one agency adapter's ``Describe`` and ``Fetch``."""

    def __init__(
        self,
        channel_or_target: grpc.aio.Channel | str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """Use an existing channel, or open one to ``target`` (closed by :meth:`close`).

        Args:
            channel_or_target: a channel owned by the caller, or a target such as
                ``"127.0.0.1:50051"`` for which this client opens (and owns) a channel.
            credentials: TLS credentials for a channel opened here; insecure when None.
                Ignored when a channel is given.
        """
        if isinstance(channel_or_target, str):
            if credentials is None:
                channel = grpc.aio.insecure_channel(channel_or_target, options=CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.secure_channel(
                    channel_or_target, credentials, options=CHANNEL_OPTIONS
                )
            self._owned: grpc.aio.Channel | None = channel
        else:
            channel = channel_or_target
            self._owned = None
        self._stub = connector_pb2_grpc.ConnectorServiceStub(channel)

    async def describe(
        self,
        timeout: float,  # noqa: ASYNC109 - sent as the gRPC deadline, so the adapter sees it
    ) -> AgencyDescription:
        """Ask the adapter who it is and what it serves.

        Raises:
            grpc.aio.AioRpcError: the call failed.
            MalformedResponseError: the description is not well-formed.
        """
        response = await self._stub.Describe(PB2DescribeRequest(), timeout=timeout)
        return codec.decode_description(response)

    async def fetch(
        self,
        query: FetchQuery,
        description: AgencyDescription,
        timeout: float,  # noqa: ASYNC109 - sent as the gRPC deadline, so the adapter sees it
        *,
        token: str | None = None,
    ) -> FetchResult:
        """Ask the adapter ``query``; ``description`` (from :meth:`describe`) checks the answer.

        ``token`` is the hub's fetch token for this query (:mod:`adapters.fetch_token`),
        sent as ``authorization: Bearer <token>``; the current span's trace context goes as
        ``traceparent`` (:mod:`adapters.telemetry`).

        Raises:
            grpc.aio.AioRpcError: the call failed (deadline, unavailable, rejected...).
            MalformedResponseError: the answer does not fit the query or the description.
            UnknownAttributeError: ``query`` names an attribute ``description`` lacks.
        """
        metadata = trace_metadata()
        if token is not None:
            metadata += (("authorization", f"Bearer {token}"),)
        response = await self._stub.Fetch(
            codec.encode_query(query), timeout=timeout, metadata=metadata
        )
        return codec.decode_result(response, query, description)

    async def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owned is not None:
            await self._owned.close(None)

    async def __aenter__(self) -> ConnectorClient:
        """Use as ``async with ConnectorClient(target) as client``."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the channel if this client opened it."""
        await self.close()
