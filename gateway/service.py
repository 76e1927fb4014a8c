"""EligibilityService: the hub's gRPC face for relief-agency systems."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import code_pb2, status_pb2
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.malformed import MALFORMED_DETAIL, is_malformed
from gateway import codec
from gateway.auth.errors import AuthenticationError, AuthenticationReason, PermissionDeniedError
from gateway.auth.policy import Policy
from gateway.auth.ratelimit import RateLimiter
from gateway.auth.tokens import Caller
from gateway.checking import Checker, CheckOutcome
from gateway.coalescer import Coalescer
from gateway.config import HubConfig
from gateway.errors import DeadlineTooShortError, LimitExceededError
from gateway.interceptors import caller_of
from gateway.programs.loader import ProgramRegistry
from gateway.security_log import SecurityEvent, record
from gateway.status import grpc_errors, grpc_stream_errors, status_for
from gateway.validation import ValidCheck, validate_check

_log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4096
"""Largest CheckBatch item: a real check request is a few hundred bytes, and chunks of items
are buffered before they are decided, so this bounds a stream's memory."""
Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class _Key:
    program_id: str
    purpose: str


class EligibilityServicer(eligibility_pb2_grpc.EligibilityServiceServicer):
    """Validates, coalesces and decides checks; maps every error through gateway.status."""

    def __init__(
        self,
        registry: ProgramRegistry,
        checker: Checker,
        config: HubConfig,
        *,
        policy: Policy,
        limiter: RateLimiter,
        anonymous_allowed: bool = False,
    ) -> None:
        self._registry = registry
        self._policy = policy
        self._anonymous_allowed = anonymous_allowed
        self._limiter = limiter
        self._checker = checker
        self._config = config
        self._coalescer: Coalescer[_Key, ValidCheck, CheckOutcome] = Coalescer(
            self._decide_group,
            window_s=config.coalesce_window_ms / 1000,
            max_items=config.coalesce_max_items,
            max_in_flight=config.coalesce_max_in_flight,
        )

    async def _decide_group(
        self, key: _Key, checks: Sequence[ValidCheck]
    ) -> Sequence[CheckOutcome]:
        program = self._registry.get(key.program_id)
        return await self._checker.check_many(
            program,
            [c.subject for c in checks],
            purpose=key.purpose,
            request_id=checks[0].request_id,
        )

    def _validate(
        self, request: eligibility_pb2.CheckRequest, caller: Caller | None, method: str = "Check"
    ) -> ValidCheck:
        """Validate the request, then ask the policy whether this caller may run it."""
        check = validate_check(
            self._registry,
            national_id=request.national_id,
            program_id=request.program_id,
            purpose=request.purpose,
            request_id=request.request_id,
        )
        if caller is None:
            if self._anonymous_allowed:  # insecure development mode only
                return check
            # Fail closed: a secure hub must never reach here without an authenticated caller.
            raise AuthenticationError(AuthenticationReason.TOKEN_MISSING, "no authenticated caller")
        try:
            self._policy.authorize_check(caller, check.program.id, check.purpose)
        except PermissionDeniedError as exc:
            record(
                SecurityEvent(
                    "permission_denied",
                    exc.reason,
                    method,
                    "",
                    caller.organisation.id,
                    caller.operator,
                    f"{check.program.id}/{check.purpose}",
                )
            )
            raise
        return check

    @grpc_errors
    async def Check(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.CheckRequest, context: Context
    ) -> eligibility_pb2.CheckResult:
        """Decide one subject; concurrent checks share agency batches."""
        check = self._validate(request, caller_of(context))
        remaining = context.time_remaining()
        if remaining is not None and remaining < 0.005:
            raise DeadlineTooShortError("the deadline leaves no time to ask the agencies")
        outcome = await self._coalescer.submit(_Key(check.program.id, check.purpose), check)
        return codec.check_result(check.request_id, outcome)

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
        count = 0
        caller = caller_of(context)

        async def produce() -> None:
            nonlocal count
            chunk: list[eligibility_pb2.CheckRequest] = []
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
                    chunk.append(request)
                    if len(chunk) >= chunk_size:
                        await self._pace(caller, len(chunk))
                        await in_flight.put(asyncio.create_task(self._decide_chunk(chunk, caller)))
                        chunk = []
                if chunk:
                    await self._pace(caller, len(chunk))
                    await in_flight.put(asyncio.create_task(self._decide_chunk(chunk, caller)))
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

    async def _pace(self, caller: Caller | None, cost: int) -> None:
        """Charge a CheckBatch chunk to the caller's rate limit, waiting rather than failing."""
        if caller is None:
            return
        limit = caller.organisation.rate_limit
        step = max(1, int(limit.burst))  # never ask for more than a full bucket holds
        for start in range(0, cost, step):
            await self._limiter.wait(
                caller.organisation.id, limit.per_second, limit.burst, min(step, cost - start)
            )

    async def _decide_chunk(
        self, requests: list[eligibility_pb2.CheckRequest], caller: Caller | None
    ) -> list[eligibility_pb2.CheckResult]:
        results: list[eligibility_pb2.CheckResult | None] = [None] * len(requests)
        groups: dict[_Key, list[tuple[int, ValidCheck]]] = {}
        for index, request in enumerate(requests):
            if is_malformed(request):
                results[index] = eligibility_pb2.CheckResult(
                    error=status_pb2.Status(
                        code=code_pb2.INVALID_ARGUMENT, message=MALFORMED_DETAIL
                    )
                )
                continue
            try:
                check = self._validate(request, caller, "CheckBatch")
            except Exception as exc:
                results[index] = eligibility_pb2.CheckResult(
                    request_id=request.request_id, error=status_for(exc)
                )
                continue
            groups.setdefault(_Key(check.program.id, check.purpose), []).append((index, check))
        decided = await asyncio.gather(
            *(
                self._checker.check_many(
                    items[0][1].program,
                    [c.subject for _, c in items],
                    purpose=key.purpose,
                    request_id=items[0][1].request_id,
                )
                for key, items in groups.items()
            )
        )
        for items, outcomes in zip(groups.values(), decided, strict=True):
            for (index, check), outcome in zip(items, outcomes, strict=True):
                results[index] = codec.check_result(check.request_id, outcome)
        return [r for r in results if r is not None]

    @grpc_errors
    async def ListPrograms(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.ListProgramsRequest, context: Context
    ) -> eligibility_pb2.ListProgramsResponse:
        """Every program the hub serves."""
        return eligibility_pb2.ListProgramsResponse(
            programs=[codec.program_summary(p) for p in self._registry.all()]
        )

    @grpc_errors
    async def DescribeProgram(  # noqa: N802 - gRPC method name
        self, request: eligibility_pb2.DescribeProgramRequest, context: Context
    ) -> eligibility_pb2.ProgramDescription:
        """One program's rules, parameters in force today and the attributes it reads."""
        program = self._registry.get(request.program_id)
        the_plan = self._checker.plan_for(program, self._checker.today())
        return codec.program_description(the_plan)

    async def drain(self) -> None:
        """Decide every coalesced check still waiting (graceful shutdown)."""
        await self._coalescer.drain()
