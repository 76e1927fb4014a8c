"""The pipeline: each command keeps its identity through coalescing, admission and decision."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.auth.errors import AuthenticationError, PermissionDeniedError
from gateway.checking import CheckOutcome
from gateway.engine.outcome import Decision, SourceStatus
from gateway.errors import DeadlineTooShortError, InvalidRequestError
from gateway.programs.errors import UnknownProgramError
from tests.pipeline.conftest import (
    ORG_A,
    ORG_B,
    OUTSIDER,
    SUBJECTS,
    UNKNOWN,
    World,
)


async def test_coalesced_commands_of_two_organisations_keep_their_own_identity(
    world: World,
) -> None:
    pipeline = world.pipeline()
    world.civil_registry.gate.clear()  # hold the first group so the rest gather
    first = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[0], ORG_A)))
    await world.civil_registry.entered.wait()
    commands = [
        world.command(SUBJECTS[1], ORG_B, request_id="b-1"),
        world.command(SUBJECTS[2], ORG_A, request_id="a-2"),
        world.command(SUBJECTS[3], ORG_B, request_id="b-3"),
        world.command(SUBJECTS[2], ORG_B, request_id="b-2"),  # the same subject, another caller
    ]
    rest = [asyncio.ensure_future(pipeline.check(c)) for c in commands]
    await asyncio.sleep(0)
    world.civil_registry.gate.set()
    outcomes: list[CheckOutcome] = await asyncio.wait_for(asyncio.gather(*rest), timeout=5)
    await first

    # One group of four commands from two organisations: one Fetch per agency for them.
    assert len(world.civil_registry.queries) == 2
    assert len(world.tax.queries) == 2
    group_fetches = {world.civil_registry.queries[1].fetch_id, world.tax.queries[1].fetch_id}
    assert set(world.civil_registry.queries[1].subjects) == {SUBJECTS[1], SUBJECTS[2], SUBJECTS[3]}
    for command, outcome in zip(commands, outcomes, strict=True):
        assert outcome.command is command
        assert outcome.command.caller is world.callers[command.organisation_id]
        assert set(outcome.fetch_ids) == group_fetches
    assert [o.command.request_id for o in outcomes] == ["b-1", "a-2", "b-3", "b-2"]
    assert [o.evaluation.decision for o in outcomes] == [
        Decision.INELIGIBLE,
        Decision.ELIGIBLE,
        Decision.INELIGIBLE,
        Decision.ELIGIBLE,
    ]
    first_fetches = {world.civil_registry.queries[0].fetch_id, world.tax.queries[0].fetch_id}
    assert first_fetches.isdisjoint(group_fetches)


async def test_every_fetch_has_its_own_id_and_names_no_request(world: World) -> None:
    pipeline = world.pipeline()
    await pipeline.check(world.command(SUBJECTS[0]))
    await pipeline.check(world.command(SUBJECTS[1]))
    ids = [q.fetch_id for agency in world.agencies for q in agency.queries]
    assert len(ids) == 4
    assert len(set(ids)) == 4
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)


async def test_fetch_ids_follow_the_chunk_that_carried_each_subject(world: World) -> None:
    checker = world.checker(chunk=2)
    pipeline = world.pipeline(checker=checker)
    commands = [world.command(s) for s in SUBJECTS[:5]]
    outcomes = await pipeline.check_chunk(commands)
    by_subject = {
        s: q.fetch_id for agency in world.agencies for q in agency.queries for s in q.subjects
    }
    assert len(world.tax.queries) == 3
    for command, outcome in zip(commands, outcomes, strict=True):
        assert isinstance(outcome, CheckOutcome)
        served = {
            q.fetch_id
            for agency in world.agencies
            for q in agency.queries
            if command.subject in q.subjects
        }
        assert set(outcome.fetch_ids) == served
        assert by_subject[command.subject] in outcome.fetch_ids
        assert outcome.command is command


@pytest.mark.parametrize(
    ("organisation", "subject", "program", "purpose", "error"),
    [
        pytest.param(OUTSIDER, SUBJECTS[0], "sample", "testing", PermissionDeniedError, id="org"),
        pytest.param(ORG_A, SUBJECTS[0], "sample", "other_use", PermissionDeniedError, id="purp"),
        pytest.param(ORG_A, "1234567890", "sample", "testing", InvalidRequestError, id="id"),
        pytest.param(ORG_A, SUBJECTS[0], "nothing", "testing", UnknownProgramError, id="prog"),
        pytest.param(None, SUBJECTS[0], "sample", "testing", AuthenticationError, id="anon"),
    ],
)
async def test_a_refused_command_never_reaches_an_agency(  # noqa: PLR0917 - parametrized
    world: World,
    organisation: str | None,
    subject: str,
    program: str,
    purpose: str,
    error: type[Exception],
) -> None:
    pipeline = world.pipeline()
    command = world.command(subject, organisation, program_id=program, purpose=purpose)
    with pytest.raises(error):
        await pipeline.check(command)
    (result,) = await pipeline.check_chunk([command])
    assert isinstance(result, error)
    assert all(not agency.queries for agency in world.agencies)


async def test_a_batch_chunk_decides_the_admitted_and_reports_the_refused(world: World) -> None:
    pipeline = world.pipeline()
    commands = [
        world.command(SUBJECTS[0], ORG_A),
        world.command(SUBJECTS[1], OUTSIDER),
        world.command("0000000000", ORG_A),
        world.command(SUBJECTS[2], ORG_B),
        world.command(UNKNOWN, ORG_B),
    ]
    results = await pipeline.check_chunk(commands)
    assert [type(r).__name__ for r in results] == [
        "CheckOutcome",
        "PermissionDeniedError",
        "InvalidRequestError",
        "CheckOutcome",
        "CheckOutcome",
    ]
    assert world.civil_registry.subjects_heard() == {SUBJECTS[0], SUBJECTS[2], UNKNOWN}
    assert world.tax.subjects_heard() == {SUBJECTS[0], SUBJECTS[2]}, "only the known living"
    unknown = results[4]
    assert isinstance(unknown, CheckOutcome)
    assert unknown.evaluation.decision is Decision.UNDETERMINED
    assert unknown.command.organisation_id == ORG_B


async def test_a_command_with_no_time_left_is_refused_in_admit(world: World) -> None:
    pipeline = world.pipeline()
    with pytest.raises(DeadlineTooShortError):
        pipeline.screen(world.command(SUBJECTS[0], deadline_s=0.001))
    assert not world.civil_registry.queries


async def test_the_callers_deadline_bounds_the_fetch(world: World) -> None:
    world.civil_registry.delay_s = 3.0
    pipeline = world.pipeline()
    started = time.monotonic()
    outcome = await pipeline.check(world.command(SUBJECTS[0], deadline_s=0.3))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, "bounded by the caller's 0.3 s, not the agency timeout of 5 s"
    assert world.civil_registry.cancelled.is_set()
    assert outcome.evaluation.decision is Decision.UNDETERMINED
    assert outcome.sources[0].status is SourceStatus.TIMEOUT
    assert not world.tax.queries, "nobody was known alive: phase 2 asked nobody"


async def test_a_caller_that_leaves_before_its_group_is_sent_is_never_asked_about(
    world: World,
) -> None:
    pipeline = world.pipeline()
    world.civil_registry.gate.clear()
    first = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[0])))
    await world.civil_registry.entered.wait()
    leaving = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[1])))
    staying = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[2])))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    world.civil_registry.gate.set()
    await asyncio.wait_for(asyncio.gather(first, staying), timeout=5)
    assert SUBJECTS[1] not in world.civil_registry.subjects_heard()
    assert SUBJECTS[2] in world.civil_registry.subjects_heard()


async def test_a_group_runs_while_one_caller_waits_and_is_cancelled_when_none_does(
    world: World,
) -> None:
    pipeline = world.pipeline(max_items=2)
    world.civil_registry.gate.clear()
    holding = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[1])))
    await world.civil_registry.entered.wait()
    calls = [  # a full group of two: sent at once, held at the civil registry
        asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[0], ORG_A))),
        asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[0], ORG_B))),
    ]
    await world.civil_registry.queried(2)
    holding.cancel()
    await asyncio.wait_for(world.civil_registry.cancelled.wait(), timeout=5)
    world.civil_registry.cancelled.clear()
    calls[0].cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not world.civil_registry.cancelled.is_set(), "organisation B still waits"
    calls[1].cancel()
    await asyncio.wait_for(world.civil_registry.cancelled.wait(), timeout=5)
    assert not world.tax.queries


async def test_a_caller_that_leaves_during_phase_one_is_not_asked_about_in_phase_two(
    world: World,
) -> None:
    pipeline = world.pipeline()
    world.civil_registry.gate.clear()
    first = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[0])))
    await world.civil_registry.entered.wait()
    staying = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[2], ORG_A)))
    leaving = asyncio.ensure_future(pipeline.check(world.command(SUBJECTS[4], ORG_B)))
    await asyncio.sleep(0)
    world.civil_registry.delay_s = 0.3  # each civil registry answer now takes 0.3 s
    world.civil_registry.gate.set()
    await first
    await world.civil_registry.queried(2)  # the second group is in phase 1 now
    assert set(world.civil_registry.queries[1].subjects) == {SUBJECTS[2], SUBJECTS[4]}
    leaving.cancel()
    outcome = await asyncio.wait_for(staying, timeout=5)
    assert outcome.evaluation.decision is Decision.ELIGIBLE
    assert SUBJECTS[2] in world.tax.subjects_heard()
    assert SUBJECTS[4] not in world.tax.subjects_heard(), "its caller had gone"


async def test_a_member_whose_deadline_passed_is_dropped_before_the_next_phase(
    world: World,
) -> None:
    world.civil_registry.delay_s = 0.4
    pipeline = world.pipeline()
    short = world.command(SUBJECTS[2], ORG_A, deadline_s=0.2)
    long = world.command(SUBJECTS[4], ORG_B, deadline_s=5.0)
    results = await pipeline.check_chunk([short, long])
    assert world.tax.subjects_heard() == {SUBJECTS[4]}
    dropped, kept = results
    assert isinstance(dropped, CheckOutcome)
    assert isinstance(kept, CheckOutcome)
    assert dropped.evaluation.decision is Decision.UNDETERMINED
    assert kept.evaluation.decision is Decision.ELIGIBLE
