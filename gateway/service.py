"""EligibilityService: the hub's gRPC face for relief-agency systems."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import status_pb2
from opentelemetry.trace import Span, SpanContext, SpanKind, set_span_in_context
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.malformed import MalformedMessageError, is_malformed
from adapters.telemetry import context_from_metadata, trace_id_of, tracer
from gateway import codec
from gateway.auth.tokens import Caller
from gateway.command import CheckCommand, deadline_after, trace_id_from
from gateway.config import HubConfig
from gateway.errors import LimitExceededError
from gateway.interceptors import caller_of
from gateway.interceptors.caller import authentication_time
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
        with _call_span("Check", context) as span:
            command = codec.check_command(
                request,
                caller=caller_of(context),
                deadline=deadline_after(context.time_remaining()),
                trace_id=trace_id_of(span) or _trace_id(context),
                rpc="Check",
                span=span.get_span_context(),
            )
            outcome = await self._pipeline.check(command)
            span.set_attribute("sakha.decision", outcome.evaluation.decision.name)
            return codec.check_result(outcome)

    @grpc_stream_errors
    async def CheckBatch(  # noqa: N802 - gRPC method name
        self,
        request_iterator: AsyncIterator[eligibility_pb2.CheckRequest],
        context: Context,
    ) -> AsyncIterator[eligibility_pb2.CheckResult]:
        """Decide a stream of checks chunk by chunk; results come back in request order.

        At most ``batch_chunks_in_flight`` chunks are decided or waiting to be sent at once:
        a slot is taken before a chunk's task exists and given back once its results are
        taken. Every task is tracked, so when the stream ends (done, failed, cancelled or
        past its deadline) none of its chunks runs on.
        """
        limit = self._config.max_batch_items
        chunk_size = self._config.batch_chunk_items
        slots = asyncio.Semaphore(self._config.batch_chunks_in_flight)
        ready: asyncio.Queue[asyncio.Task[list[eligibility_pb2.CheckResult]] | None] = (
            asyncio.Queue()
        )
        tasks: set[asyncio.Task[list[eligibility_pb2.CheckResult]]] = set()
        # Not made current: this generator yields to gRPC between chunks. Each command
        # carries the span, and its stages' spans are made under it explicitly.
        span = tracer().start_span("CheckBatch", **_server_span(context))
        _authentication_span(span, context)
        count = 0
        decode = functools.partial(
            _decode_item,
            caller=caller_of(context),
            deadline=deadline_after(context.time_remaining()),
            trace_id=trace_id_of(span) or _trace_id(context),
            span=span.get_span_context(),
        )

        async def launch(chunk: list[CheckCommand | _Refused]) -> None:
            await slots.acquire()
            task = asyncio.create_task(self._decide_chunk(chunk))
            tasks.add(task)
            ready.put_nowait(task)

        async def produce() -> None:
            nonlocal count
            chunk: list[CheckCommand | _Refused] = []
            try:
                async for request in request_iterator:
                    if count >= limit:
                        raise LimitExceededError(
                            "requests", f"a CheckBatch stream carries at most {limit} requests"
                        )
                    chunk.append(decode(count, request))
                    count += 1
                    if len(chunk) >= chunk_size:
                        await launch(chunk)
                        chunk = []
                if chunk:
                    await launch(chunk)
            finally:
                ready.put_nowait(None)

        producer = asyncio.create_task(produce())
        try:
            while (task := await ready.get()) is not None:
                try:
                    results = await task
                finally:
                    tasks.discard(task)
                    slots.release()
                for result in results:
                    yield result
            await producer  # re-raises a limit error after the results already decided
        finally:
            producer.cancel()
            for pending in tasks:
                pending.cancel()
            span.set_attribute("sakha.items", count)
            span.end()
        if count == 0:
            raise LimitExceededError("requests", "a CheckBatch stream needs at least one request")

    async def _decide_chunk(
        self, items: Sequence[CheckCommand | _Refused]
    ) -> list[eligibility_pb2.CheckResult]:
        commands = [item for item in items if isinstance(item, CheckCommand)]
        outcomes = await self._pipeline.check_chunk(commands)
        decided = dict(zip(map(id, commands), outcomes, strict=True))
        results = []
        for item in items:
            if isinstance(item, _Refused):
                results.append(
                    eligibility_pb2.CheckResult(request_id=item.request_id, error=item.status)
                )
                continue
            outcome = decided[id(item)]
            if isinstance(outcome, Exception):
                error = status_for(outcome)
                results.append(eligibility_pb2.CheckResult(request_id=item.request_id, error=error))
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


def _decode_item(
    index: int,
    request: eligibility_pb2.CheckRequest,
    *,
    caller: Caller | None,
    deadline: float | None,
    trace_id: str,
    span: SpanContext,
) -> CheckCommand | _Refused:
    """A CheckBatch item as a command, or its refusal (malformed, too large) as a status."""
    if is_malformed(request):
        return _Refused("", status_for(MalformedMessageError()))
    if request.ByteSize() > MAX_REQUEST_BYTES:
        too_big = LimitExceededError(
            f"requests[{index}]", f"a check request is at most {MAX_REQUEST_BYTES} bytes"
        )
        return _Refused("", status_for(too_big))  # its request id is not to be trusted
    return codec.check_command(
        request, caller=caller, deadline=deadline, trace_id=trace_id, rpc="CheckBatch", span=span
    )


@dataclass(frozen=True)
class _Refused:
    """A CheckBatch item refused while decoding: it never becomes a command."""

    request_id: str
    status: status_pb2.Status


@contextmanager
def _call_span(name: str, context: Context) -> Iterator[Span]:
    """The server span of one unary call, made current for its handler."""
    with tracer().start_as_current_span(name, **_server_span(context)) as span:
        _authentication_span(span, context)
        yield span


def _server_span(context: Context) -> dict[str, Any]:
    """A server span's parent (the trace context the call's metadata carries) and kind; it
    starts when the call's authentication did, so that stage lies within it."""
    timing = authentication_time(context)
    return {
        "context": context_from_metadata(context.invocation_metadata()),
        "kind": SpanKind.SERVER,
        "start_time": None if timing is None else timing[0],
    }


def _authentication_span(span: Span, context: Context) -> None:
    """The ``authenticate`` stage, timed by the interceptor before the handler ran."""
    timing = authentication_time(context)
    if timing is None:
        return
    started, ended = timing
    stage = tracer().start_span(
        "authenticate", context=set_span_in_context(span), start_time=started
    )
    stage.end(end_time=ended)


def _trace_id(context: Context) -> str:
    """The trace id of the call's W3C ``traceparent`` metadata (a new one without it)."""
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent" and isinstance(value, str):
            return trace_id_from(value)
    return trace_id_from(None)
