"""End-to-end checks through the hub against the 30 simulated agencies over real gRPC."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sakha.v1 import eligibility_pb2 as pb2

from adapters.simulated.build import PopulationSummary
from gateway.demo_security import DemoSecurity
from tests.e2e.conftest import Stack, close_stack, open_stack

LIVELIHOOD = "livelihood_basket"
DISABILITY = "disability_care_grant"
OVERLAP = "aid_overlap_check"


def request(
    national_id: str, program: str = LIVELIHOOD, purpose: str = "livelihood_support"
) -> pb2.CheckRequest:
    """A check request with a fixed request id."""
    return pb2.CheckRequest(
        national_id=national_id, program_id=program, purpose=purpose, request_id="req-1"
    )


def sample(population: PopulationSummary, name: str) -> str:
    """A sample subject the population is known to have."""
    value = getattr(population.samples, name)
    assert value is not None, f"the test population has no {name} sample"
    return str(value)


def bad_request(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """``field -> reason`` of the BadRequest detail carried by ``error``."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status details"
    violations: dict[str, str] = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            violations.update({v.field: v.reason for v in bad.field_violations})
    return violations


async def test_check_returns_a_decision_with_reasons_and_sources(stack: Stack) -> None:
    result = await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)
    assert result.request_id == "req-1"
    assert result.decision in (pb2.DECISION_ELIGIBLE, pb2.DECISION_INELIGIBLE)
    assert result.program_id == LIVELIHOOD
    assert result.program_version
    assert len(result.ruleset_digest) == 64
    assert result.rules, "every rule reports an outcome"
    assert all(r.reason_code and r.reason.en and r.reason.fa for r in result.rules)
    assert result.household_size >= 1
    statuses = {s.agency_id: s.status for s in result.sources}
    assert statuses["civil_registry"] == pb2.SOURCE_STATUS_OK
    assert "tax" in statuses
    # Only the agencies the program needs are asked: no utility or education data here.
    assert not {"electricity", "gas", "education"} & statuses.keys()


async def test_poor_household_is_eligible_and_the_best_off_is_not(stack: Stack) -> None:
    poor = await stack.stub.Check(request(sample(stack.population, "poor_head")), timeout=10)
    rich = await stack.stub.Check(request(sample(stack.population, "well_off")), timeout=10)
    assert poor.decision == pb2.DECISION_ELIGIBLE, poor
    assert rich.decision == pb2.DECISION_INELIGIBLE, rich
    assert any(r.outcome == pb2.RULE_OUTCOME_FAIL for r in rich.rules)


async def test_person_program_asks_about_the_person_only(stack: Stack) -> None:
    subject = sample(stack.population, "severe_disability")
    result = await stack.stub.Check(request(subject, DISABILITY, "care_support"), timeout=10)
    assert result.decision != pb2.DECISION_UNSPECIFIED
    assert result.household_size == 1
    disability = next(r for r in result.rules if r.rule_id.startswith("disab"))
    assert disability.outcome == pb2.RULE_OUTCOME_PASS


async def test_overlap_check_names_the_supporting_agencies(stack: Stack) -> None:
    subject = sample(stack.population, "overlap_head")
    result = await stack.stub.Check(request(subject, OVERLAP, "aid_coordination"), timeout=10)
    failed = [r for r in result.rules if r.outcome == pb2.RULE_OUTCOME_FAIL]
    assert failed, result
    agency_ids = {s.agency_id for s in result.sources}
    assert any(a in failed[0].reason.en for a in agency_ids), failed[0].reason.en


async def test_subject_unknown_to_the_civil_registry(stack: Stack) -> None:
    result = await stack.stub.Check(request(stack.population.samples.unknown), timeout=10)
    assert result.decision == pb2.DECISION_UNDETERMINED
    assert "SUBJECT_NOT_FOUND" in result.reason_codes
    assert all(r.outcome == pb2.RULE_OUTCOME_UNKNOWN for r in result.rules)
    # No other agency hears about someone the civil registry does not know.
    assert [s.agency_id for s in result.sources] == ["civil_registry"]
    assert result.sources[0].status == pb2.SOURCE_STATUS_NOT_FOUND


async def test_deceased_subject_is_ineligible_and_no_other_agency_is_asked(stack: Stack) -> None:
    result = await stack.stub.Check(request(sample(stack.population, "deceased")), timeout=10)
    assert result.decision == pb2.DECISION_INELIGIBLE
    assert "SUBJECT_DECEASED" in result.reason_codes
    assert [s.agency_id for s in result.sources] == ["civil_registry"]


async def test_a_stopped_agency_makes_the_decision_undetermined_naming_it(
    population: PopulationSummary, security: DemoSecurity
) -> None:
    stack = await open_stack(population, security)
    try:
        await stack.agencies.stop_agency("tax")
        result = await stack.stub.Check(request(sample(population, "poor_head")), timeout=10)
        assert result.decision == pb2.DECISION_UNDETERMINED
        assert "SOURCE_FAILED" in result.reason_codes
        tax = next(s for s in result.sources if s.agency_id == "tax")
        assert tax.status == pb2.SOURCE_STATUS_UNAVAILABLE
        unknown = [r for r in result.rules if r.outcome == pb2.RULE_OUTCOME_UNKNOWN]
        assert unknown
        assert any("tax" in r.reason.en for r in unknown)
        # The hub itself is unharmed: a program that does not need tax still decides.
        other = await stack.stub.Check(
            request(sample(population, "severe_disability"), DISABILITY, "care_support"),
            timeout=10,
        )
        assert other.decision != pb2.DECISION_UNSPECIFIED
    finally:
        await close_stack(stack)


@pytest.mark.parametrize(
    ("national_id", "reason"),
    [
        pytest.param("", "NATIONAL_ID_EMPTY", id="empty"),
        pytest.param("123456789", "NATIONAL_ID_LENGTH", id="nine-digits"),
        pytest.param("12345678901", "NATIONAL_ID_LENGTH", id="eleven-digits"),
        pytest.param("0499370898", "NATIONAL_ID_CHECK_DIGIT", id="wrong-check-digit"),
        pytest.param("1111111111", "NATIONAL_ID_REPEATED_DIGIT", id="repeated-digit"),
        pytest.param("04993708a9", "NATIONAL_ID_NOT_ASCII_DIGITS", id="letter"),
        pytest.param("۰۴۹۹۳۷۰۸۹۹", "NATIONAL_ID_NOT_ASCII_DIGITS", id="persian-digits"),
        pytest.param(" 0499370899", "NATIONAL_ID_NOT_ASCII_DIGITS", id="leading-space"),
        pytest.param("+499370899", "NATIONAL_ID_NOT_ASCII_DIGITS", id="sign"),
    ],
)
async def test_malformed_national_id_is_invalid_argument_naming_the_field(
    stack: Stack, national_id: str, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(request(national_id), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request(caught.value) == {"national_id": reason}


async def test_missing_fields_are_all_reported_at_once(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(pb2.CheckRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request(caught.value)) == {"national_id", "program_id", "purpose"}


async def test_unknown_program_is_not_found(stack: Stack) -> None:
    subject = sample(stack.population, "poor_head")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(request(subject, "no_such_program", "x"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ResourceInfo()
    assert any(d.Unpack(info) for d in status.details)
    assert info.resource_name == "no_such_program"


async def test_purpose_outside_the_program_is_invalid_argument(stack: Stack) -> None:
    subject = sample(stack.population, "poor_head")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(request(subject, LIVELIHOOD, "marketing"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request(caught.value) == {"purpose": "PURPOSE_NOT_ALLOWED"}


async def test_malformed_request_id_is_rejected(stack: Stack) -> None:
    bad = request(sample(stack.population, "poor_head"))
    bad.request_id = "x" * 129
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.Check(bad, timeout=10)
    assert bad_request(caught.value) == {"request_id": "REQUEST_ID_INVALID"}


async def test_concurrent_checks_each_get_their_own_answer(stack: Stack) -> None:
    subjects = [sample(stack.population, "poor_head"), sample(stack.population, "well_off")] * 20
    results = await asyncio.gather(
        *(
            stack.stub.Check(
                pb2.CheckRequest(
                    national_id=s,
                    program_id=LIVELIHOOD,
                    purpose="livelihood_support",
                    request_id=f"r{i}",
                ),
                timeout=10,
            )
            for i, s in enumerate(subjects)
        )
    )
    assert [r.request_id for r in results] == [f"r{i}" for i in range(len(subjects))]
    assert {r.decision for r in results[0::2]} == {pb2.DECISION_ELIGIBLE}
    assert {r.decision for r in results[1::2]} == {pb2.DECISION_INELIGIBLE}


async def test_list_and_describe_programs(stack: Stack) -> None:
    listed = await stack.stub.ListPrograms(pb2.ListProgramsRequest(), timeout=10)
    ids = {p.program_id for p in listed.programs}
    assert {LIVELIHOOD, DISABILITY, OVERLAP, "epidemic_cash_relief", "rural_housing_support"} <= ids
    assert all(p.title.en and p.title.fa for p in listed.programs)
    described = await stack.stub.DescribeProgram(
        pb2.DescribeProgramRequest(program_id=LIVELIHOOD), timeout=10
    )
    assert described.summary.unit == pb2.PROGRAM_UNIT_HOUSEHOLD
    assert "livelihood_support" in described.purposes
    assert described.rules
    assert described.parameters
    assert "tax.annual_income" in described.attributes
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.stub.DescribeProgram(pb2.DescribeProgramRequest(program_id="nope"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
