"""EligibilityService: the hub's gRPC face for relief-agency systems."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import code_pb2, status_pb2
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.malformed import MALFORMED_DETAIL, is_malformed
from gateway import codec
from gateway.command import CheckCommand, deadline_after, trace_id_from
from gateway.config import HubConfig
from gateway.errors import LimitExceededError
from gateway.interceptors import caller_of
from gateway.pipeline import Pipeline
from gateway.status import grpc_errors, grpc_stream_errors, status_for

MAX_REQUEST_BYTES = 4096
"""Largest CheckBatch item: a real check request is a few hundred bytes, and chunks of items
are buffered before they are decided, so this bounds a stream's memory."""
Context = grpc.aio.ServicerContext[Any, Any]


class EligibilityServicer(eligibility_pb2_grpc.EligibilityServiceServicer):
    """Decodes requests into check commands, runs them through the pipeline, encodes replies.

    Nothing else happens here: admission and decision are the pipeline's, and every error
    is mapped by :mod:`gateway.status`.
    """

    def __init__(self, pipeline: Pipeline, config: HubConfig) -> None:
        self._pipeline = pipeline
        self._config = config

    @grpc_errors
    async def Check(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.CheckRequest, context: Context
    ) -> eligibility_pb2.CheckResult:
        """Decide one subject; concurrent checks share agency batches."""
        command = codec.check_command(
            request,
            caller=caller_of(context),
            deadline=deadline_after(context.time_remaining()),
            trace_id=_trace_id(context),
            rpc="Check",
        )
        return codec.check_result(await self._pipeline.check(command))

    @grpc_stream_errors
    async def CheckBatch(  # noqa: N802 - gRPC method name
        self,
        request_iterator: AsyncIterator[eligibility_pb2.CheckRequest],
        context: Context,
    ) -> AsyncIterator[eligibility_pb2.CheckResult]:
        """Decide a stream of checks chunk by chunk; results come back in request order."""
        limit = self._config.max_batch_items
        chunk_size = self._config.batch_chunk_items
        in_flight: asyncio.Queue[asyncio.Task[list[eligibility_pb2.CheckResult]] | None] = (
            asyncio.Queue(maxsize=self._config.batch_chunks_in_flight)
        )
        caller = caller_of(context)
        deadline = deadline_after(context.time_remaining())
        trace_id = _trace_id(context)
        count = 0
        caller = caller_of(context)

        def decode(request: eligibility_pb2.CheckRequest) -> CheckCommand | _Refused:
            if is_malformed(request):
                return _Refused(MALFORMED)
            return codec.check_command(
                request, caller=caller, deadline=deadline, trace_id=trace_id, rpc="CheckBatch"
            )

        async def produce() -> None:
            nonlocal count
            chunk: list[CheckCommand | _Refused] = []
            try:
                async for request in request_iterator:
                    count += 1
                    if not is_malformed(request) and request.ByteSize() > MAX_REQUEST_BYTES:
                        raise LimitExceededError(
                            f"requests[{count - 1}]",
                            f"a check request is at most {MAX_REQUEST_BYTES} bytes",
                        )
                    if count > limit:
                        raise LimitExceededError(
                            "requests", f"a CheckBatch stream carries at most {limit} requests"
                        )
                    chunk.append(decode(request))
                    if len(chunk) >= chunk_size:
                        await in_flight.put(asyncio.create_task(self._decide_chunk(chunk)))
                        chunk = []
                if chunk:
                    await in_flight.put(asyncio.create_task(self._decide_chunk(chunk)))
            finally:
                await in_flight.put(None)

        producer = asyncio.create_task(produce())
        try:
            while (task := await in_flight.get()) is not None:
                for result in await task:
                    yield result
            await producer  # re-raises a limit error after the results already decided
        finally:
            producer.cancel()
            while not in_flight.empty():
                pending = in_flight.get_nowait()
                if pending is not None:
                    pending.cancel()
        if count == 0:
            raise LimitExceededError("requests", "a CheckBatch stream needs at least one request")

    async def _decide_chunk(
        self, items: Sequence[CheckCommand | _Refused]
    ) -> list[eligibility_pb2.CheckResult]:
        commands = [item for item in items if isinstance(item, CheckCommand)]
        outcomes = iter(await self._pipeline.check_chunk(commands))
        results = []
        for item in items:
            if isinstance(item, _Refused):
                results.append(eligibility_pb2.CheckResult(error=item.status))
                continue
            outcome = next(outcomes)
            if isinstance(outcome, Exception):
                results.append(
                    eligibility_pb2.CheckResult(
                        request_id=item.request_id, error=status_for(outcome)
                    )
                )
            else:
                results.append(codec.check_result(outcome))
        return results

    @grpc_errors
    async def ListPrograms(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.ListProgramsRequest, context: Context
    ) -> eligibility_pb2.ListProgramsResponse:
        """Every program the hub serves."""
        return eligibility_pb2.ListProgramsResponse(
            programs=[codec.program_summary(p) for p in self._pipeline.programs.all()]
        )

    @grpc_errors
    async def DescribeProgram(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.DescribeProgramRequest, context: Context
    ) -> eligibility_pb2.ProgramDescription:
        """One program's rules, parameters in force today and the attributes it reads."""
        program = self._pipeline.programs.get(request.program_id)
        return codec.program_description(self._pipeline.plan(program))

    async def drain(self) -> None:
        """Decide every coalesced check still waiting (graceful shutdown)."""
        await self._pipeline.drain()


@dataclass(frozen=True)
class _Refused:
    """A CheckBatch item refused while decoding: it becomes a command of nobody."""

    status: status_pb2.Status


MALFORMED = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=MALFORMED_DETAIL)


def _trace_id(context: Context) -> str:
    """The trace id of the call's W3C ``traceparent`` metadata (a new one without it)."""
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent" and isinstance(value, str):
            return trace_id_from(value)
    return trace_id_from(None)
