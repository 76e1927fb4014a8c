"""Who may ask, over real TLS, tokens and mutual TLS: every refusal with its status and reason.

The full table of token defects is in tests/auth; here each kind of refusal is shown to reach
a caller through the real hub, to be recorded in the security log, and to leave the hub
serving.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from sakha.v1 import eligibility_pb2 as pb2
from sakha.v1 import eligibility_pb2_grpc

from adapters.simulated.build import PopulationSummary
from adapters.simulated.host import start_simulated_agencies
from gateway.auth.registry import ClientKey, Organisation, RateLimit, Role, dump_client_registry
from gateway.auth.tokens import generate_client_key, issue_token, private_key_pem
from gateway.demo_security import DEMO_AUDITOR, DEMO_ORGANISATION, DemoSecurity
from gateway.engine.outcome import SourceStatus
from gateway.errors import HubUnavailableError
from gateway.fanout import PUBLIC_DETAIL
from gateway.hub import start_hub
from gateway.security_log import LOGGER_NAME
from tests.e2e.conftest import Stack, close_stack, hub_channel, hub_config, open_stack
from tests.e2e.test_check import request, sample

AUDIENCE = "sakha-hub"


def token_for(security: DemoSecurity, organisation: str, **overrides: object) -> str:
    """A token signed with ``organisation``'s demo key."""
    from gateway.auth.tokens import load_private_key  # noqa: PLC0415

    arguments: dict[str, object] = {
        "organisation_id": organisation,
        "operator": "tester",
        "private_key": load_private_key(security.key_files[organisation]),
        "kid": security.kid(organisation),
        "audience": AUDIENCE,
    }
    arguments.update(overrides)
    return issue_token(**arguments)  # type: ignore[arg-type]


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason carried by ``error``."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details"
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details)
    return str(info.reason)


async def check_with(stack: Stack, token: str | None, **kwargs: object) -> pb2.CheckResult:
    """One livelihood check over TLS with ``token`` (None: no authorization header)."""
    assert stack.security is not None
    target = f"127.0.0.1:{stack.hub.port}"
    from gateway.pki.tls import client_channel_credentials  # noqa: PLC0415

    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    async with grpc.aio.secure_channel(
        target, client_channel_credentials(stack.security.pki.ca_cert)
    ) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        call_request = kwargs.pop("request", None) or request(sample(stack.population, "poor_head"))
        assert isinstance(call_request, pb2.CheckRequest)
        result: pb2.CheckResult = await stub.Check(
            call_request,
            metadata=metadata,
            **kwargs,  # type: ignore[arg-type]
        )
        return result


def _unsigned(security: DemoSecurity) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": DEMO_ORGANISATION, "sub": "x", "aud": AUDIENCE, "iat": now, "exp": now + 60}
    return f"{part({'alg': 'none', 'kid': security.kid(DEMO_ORGANISATION)})}.{part(claims)}."


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda s: None, "TOKEN_MISSING", id="no-token"),
        pytest.param(lambda s: "not-a-jwt", "TOKEN_MALFORMED", id="garbage"),
        pytest.param(_unsigned, "ALGORITHM_NOT_ALLOWED", id="alg-none"),
        pytest.param(
            lambda s: token_for(s, DEMO_ORGANISATION, now=time.time() - 3600, ttl_s=600),
            "TOKEN_EXPIRED",
            id="expired",
        ),
        pytest.param(
            lambda s: token_for(s, DEMO_ORGANISATION, audience="another-service"),
            "AUDIENCE_MISMATCH",
            id="wrong-audience",
        ),
        pytest.param(
            lambda s: token_for(s, DEMO_ORGANISATION, kid="nobody-1"),
            "UNKNOWN_KEY",
            id="unknown-kid",
        ),
        pytest.param(
            lambda s: token_for(s, DEMO_AUDITOR, organisation_id=DEMO_ORGANISATION),
            "ISSUER_MISMATCH",
            id="auditor-key-claims-relief-org",
        ),
        pytest.param(
            lambda s: token_for(s, DEMO_ORGANISATION, ttl_s=86_400),
            "LIFETIME_TOO_LONG",
            id="day-long-token",
        ),
    ],
)
async def test_bad_tokens_are_unauthenticated_recorded_and_harmless(
    stack: Stack,
    caplog: pytest.LogCaptureFixture,
    make_token: object,
    reason: str,
) -> None:
    assert stack.security is not None
    token = make_token(stack.security)  # type: ignore[operator]
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER_NAME),
        pytest.raises(grpc.aio.AioRpcError) as caught,
    ):
        await check_with(stack, token, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == reason
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER_NAME]
    assert any(e["kind"] == "unauthenticated" and e["reason"] == reason for e in events)
    assert all(token is None or token not in r.getMessage() for r in caplog.records)
    # The hub still serves a proper caller.
    assert await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)


async def test_a_caller_without_the_checker_role_is_denied(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    assert stack.security is not None
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER_NAME),
        pytest.raises(grpc.aio.AioRpcError) as caught,
    ):
        await check_with(stack, token_for(stack.security, DEMO_AUDITOR), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(caught.value) == "ROLE_MISSING"
    assert any("permission_denied" in r.getMessage() for r in caplog.records)


async def test_a_call_without_a_deadline_is_refused(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(request(sample(stack.population, "poor_head")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "DEADLINE_REQUIRED"


async def test_an_oversized_message_is_refused_and_the_hub_serves_on(stack: Stack) -> None:
    huge = pb2.CheckRequest(
        national_id="0" * (5 * 1024 * 1024), program_id="livelihood_basket", purpose="x"
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(huge, timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)


async def test_a_plaintext_client_cannot_talk_to_the_tls_port(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.hub.port}") as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Check(request(sample(stack.population, "poor_head")), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)


async def test_health_needs_no_token(stack: Stack) -> None:
    assert stack.security is not None
    async with hub_channel(stack.hub.port, stack.security, token="ignored") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# --- an organisation with one program and a small rate limit -----------------------------


LIMITED = "limited_office"


@pytest.fixture
def limited_registry(tmp_path: Path, security: DemoSecurity) -> tuple[Path, str]:
    """A registry with the demo organisation plus one allowed only the disability grant."""
    private_key, _ = generate_client_key("p256")
    key_file = tmp_path / "limited.key"
    key_file.write_bytes(private_key_pem(private_key))
    limited = Organisation(
        id=LIMITED,
        name="Limited office",
        roles=frozenset({Role.CHECKER}),
        keys=(ClientKey.from_public_key(f"{LIMITED}-1", private_key.public_key()),),
        programs={"disability_care_grant": frozenset({"care_support"})},
        rate_limit=RateLimit(per_second=0.5, burst=3),
    )
    from gateway.auth.registry import load_client_registry  # noqa: PLC0415

    demo = load_client_registry(security.clients_file).organisation(DEMO_ORGANISATION)
    path = tmp_path / "clients.yaml"
    path.write_text(dump_client_registry([demo, limited]), encoding="utf-8")
    token = issue_token(
        organisation_id=LIMITED,
        operator="clerk",
        private_key=private_key,
        kid=f"{LIMITED}-1",
        audience=AUDIENCE,
    )
    return path, token


async def test_program_and_purpose_grants_are_enforced(
    population: PopulationSummary, security: DemoSecurity, limited_registry: tuple[Path, str]
) -> None:
    clients_file, token = limited_registry
    stack = await open_stack(population, security, clients_file=clients_file)
    try:
        person = sample(population, "severe_disability")
        allowed = pb2.CheckRequest(
            national_id=person, program_id="disability_care_grant", purpose="care_support"
        )
        result = await check_with(stack, token, request=allowed, timeout=10)
        assert result.decision != pb2.DECISION_UNSPECIFIED
        for program, purpose, reason in (
            ("livelihood_basket", "livelihood_support", "PROGRAM_NOT_ALLOWED"),
            ("disability_care_grant", "caseload_review", "PURPOSE_NOT_ALLOWED"),
        ):
            denied = pb2.CheckRequest(national_id=person, program_id=program, purpose=purpose)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await check_with(stack, token, request=denied, timeout=10)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_reason(caught.value) == reason
    finally:
        await close_stack(stack)


async def test_a_denied_item_in_a_batch_is_denied_alone(
    population: PopulationSummary, security: DemoSecurity, limited_registry: tuple[Path, str]
) -> None:
    clients_file, token = limited_registry
    stack = await open_stack(population, security, clients_file=clients_file)
    person = sample(population, "severe_disability")

    async def items() -> AsyncIterator[pb2.CheckRequest]:
        for program, purpose in (
            ("disability_care_grant", "care_support"),
            ("livelihood_basket", "livelihood_support"),
        ):
            yield pb2.CheckRequest(national_id=person, program_id=program, purpose=purpose)

    try:
        async with hub_channel(stack.hub.port, security, token=token) as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            results = [r async for r in stub.CheckBatch(items(), timeout=10)]
        assert not results[0].HasField("error")
        assert results[1].error.code == code_pb2.PERMISSION_DENIED
    finally:
        await close_stack(stack)


async def test_a_burst_over_the_rate_limit_is_refused_with_retry_info(
    population: PopulationSummary, security: DemoSecurity, limited_registry: tuple[Path, str]
) -> None:
    clients_file, token = limited_registry
    stack = await open_stack(population, security, clients_file=clients_file)
    check = pb2.CheckRequest(
        national_id=sample(population, "severe_disability"),
        program_id="disability_care_grant",
        purpose="care_support",
    )
    try:
        outcomes: list[grpc.aio.AioRpcError | pb2.CheckResult] = []
        for _ in range(6):
            try:
                outcomes.append(await check_with(stack, token, request=check, timeout=10))
            except grpc.aio.AioRpcError as exc:
                outcomes.append(exc)
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(outcomes) - len(refused) == 3, "the burst of 3 is served"
        assert refused
        assert all(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for e in refused)
        status = rpc_status.from_call(refused[0])  # type: ignore[arg-type]
        assert status is not None
        retry = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry) for d in status.details)
        assert retry.retry_delay.ToTimedelta().total_seconds() > 0
        assert isinstance(retry.retry_delay, duration_pb2.Duration)
    finally:
        await close_stack(stack)


async def test_the_hub_refuses_an_agency_presenting_another_agencys_certificate(
    population: PopulationSummary, security: DemoSecurity
) -> None:
    agencies = await start_simulated_agencies(population.data_dir, pki=security.pki)
    try:
        swapped = _swap_targets(agencies.targets(), "tax", "bank_melli")
        config = hub_config(agencies.targets(), security, agencies=swapped)
        with pytest.raises(HubUnavailableError):
            await start_hub(config)
    finally:
        await agencies.stop(None)


def _swap_targets(
    targets: Iterable[tuple[str, str]], first: str, second: str
) -> tuple[object, ...]:
    from gateway.config import AgencyEndpoint  # noqa: PLC0415

    by_id = dict(targets)
    by_id[first], by_id[second] = by_id[second], by_id[first]
    return tuple(AgencyEndpoint(a, t) for a, t in sorted(by_id.items()))


async def test_a_long_or_odd_purpose_is_invalid_not_echoed(stack: Stack) -> None:
    bad = request(sample(stack.population, "poor_head"))
    bad.purpose = "x" * 10_000
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(bad, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x" * 100 not in (caught.value.details() or "")


async def test_an_oversized_batch_item_is_that_items_error_and_the_stream_goes_on(
    stack: Stack,
) -> None:
    oversized = request(sample(stack.population, "poor_head"))
    oversized.request_id = "r" * 8000
    fine = request(sample(stack.population, "poor_head"))
    fine.request_id = "fine"

    async def items() -> AsyncIterator[pb2.CheckRequest]:
        yield oversized
        yield fine

    first, second = [r async for r in stack.stub.CheckBatch(items(), timeout=10)]
    assert first.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "requests[0]" in first.error.message
    assert first.request_id == ""
    assert second.request_id == "fine"
    assert second.decision != pb2.DECISION_UNSPECIFIED


# --- fetch tokens: the agencies check the hub too ------------------------------------------


async def test_a_secure_stack_decides_with_a_fetch_token_on_every_fetch(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.server"):
        result = await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)
    assert result.decision in (pb2.DECISION_ELIGIBLE, pb2.DECISION_INELIGIBLE)
    answered = (pb2.SOURCE_STATUS_OK, pb2.SOURCE_STATUS_NOT_FOUND)
    assert all(s.status in answered for s in result.sources)
    assert not [r for r in caplog.records if "refused Fetch" in r.getMessage()]


async def test_a_hub_signing_with_a_key_the_agencies_do_not_trust_reads_nothing(
    population: PopulationSummary, security: DemoSecurity, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    stranger_key = tmp_path / "stranger-fetch-token.key"
    stranger_key.write_bytes(private_key_pem(ed25519.Ed25519PrivateKey.generate()))
    stranger_key.chmod(0o600)
    stack = await open_stack(population, security, fetch_token_key_file=stranger_key)
    try:
        result = await stack.stub.Check(request(sample(population, "poor_head")), timeout=10)
        assert result.decision == pb2.DECISION_UNDETERMINED
        registry = next(s for s in result.sources if s.agency_id == "civil_registry")
        assert registry.status == pb2.SOURCE_STATUS_ERROR
        assert registry.detail == PUBLIC_DETAIL[SourceStatus.ERROR], "no agency internals"
        assert [s.agency_id for s in result.sources] == ["civil_registry"], (
            "no other agency hears of the subject"
        )
    finally:
        await close_stack(stack)
