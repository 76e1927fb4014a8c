"""The guides' examples work: each complete example in ``docs/`` is extracted and run.

A guide marks an example with a tag in its fenced block's info string (```` ```yaml
program-example ````); :func:`example` finds the one block carrying a tag. The guides are
found relative to this file, never the working directory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import select
import signal
import sqlite3
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from sakha.v1 import connector_pb2, connector_pb2_grpc

from adapters.config import load_adapter_config
from adapters.errors import UnknownAttributeError
from adapters.sdk import Adapter, FetchQuery, FetchResult, Predicate, PredicateOperator
from adapters.simulated.json_service import JsonService, Reply
from adapters.sql import SqlAdapter
from gateway.cli import main
from gateway.engine.planner import plan
from gateway.programs.loader import load_program
from gateway.programs.model import Program
from gateway.programs.testing import run_program_tests, simulated_catalogue

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# The water company's examples know three customers; the fourth national ID is a stranger.
RURAL, IN_ARREARS, NO_READINGS, STRANGER = "0012345679", "0045678911", "0078912342", "0024681350"
SUBJECTS = (RURAL, IN_ARREARS, NO_READINGS, STRANGER)
ON = dt.date(2026, 6, 1)
USES_LESS_THAN_240 = Predicate("water_m3_12m", PredicateOperator.LT, 240)
IS_RURAL = Predicate("tariff", PredicateOperator.EQ, "rural")
OWES = Predicate("in_arrears", PredicateOperator.EQ, True)
WATER_ANSWER = FetchResult(
    found=[True, True, True, False],
    values={
        "tariff": ["rural", "domestic", "domestic", None],
        "in_arrears": [False, True, False, None],
        "water_m3_12m": [180, 410, None, None],
    },
    predicates=[[True, False, None, None], [True, False, False, None], [False, True, False, None]],
)


def example(guide: str, tag: str) -> str:
    """The body of the one fenced block in ``docs/<guide>`` whose info string carries ``tag``."""
    text = (DOCS / guide).read_text(encoding="utf-8")
    bodies = [m["body"] for m in _FENCE.finditer(text) if tag in m["info"].split()[1:]]
    assert len(bodies) == 1, f"{guide}: {len(bodies)} blocks tagged {tag!r}, expected one"
    return bodies[0]


def _config(tag: str) -> Mapping[str, object]:
    loaded = yaml.safe_load(example("adapters.md", tag))
    assert isinstance(loaded, dict)
    return loaded


# --- docs/adapters.md -----------------------------------------------------------------------


@pytest.fixture
def water_dir(tmp_path: Path) -> Path:
    """The guide's water company: its SQLite database, CSV export and both configurations."""
    url = str(_config("adapter-example-sql")["url"]).replace("{data_dir}", str(tmp_path))
    database = sa.make_url(url).database
    assert database is not None
    with closing(sqlite3.connect(database)) as connection:
        connection.executescript(example("adapters.md", "adapter-example-schema"))
    csv_path = str(_config("adapter-example-csv")["csv"]).replace("{data_dir}", str(tmp_path))
    Path(csv_path).write_text(example("adapters.md", "adapter-example-data"), encoding="utf-8")
    for tag in ("adapter-example-sql", "adapter-example-csv"):
        (tmp_path / f"{tag}.yaml").write_text(example("adapters.md", tag), encoding="utf-8")
    return tmp_path


def _water_adapter(water_dir: Path, tag: str) -> Adapter:
    return load_adapter_config(water_dir / f"{tag}.yaml", variables={"data_dir": str(water_dir)})


def _water_query(as_of: dt.date = ON) -> FetchQuery:
    return FetchQuery(
        subjects=SUBJECTS,
        attributes=("tariff", "in_arrears", "water_m3_12m"),
        predicates=(USES_LESS_THAN_240, IS_RURAL, OWES),
        as_of=as_of,
    )


async def test_the_sql_example_answers_attributes_and_predicates(water_dir: Path) -> None:
    adapter = _water_adapter(water_dir, "adapter-example-sql")
    assert isinstance(adapter, SqlAdapter)
    try:
        await adapter.check()  # every query of the guide runs against the guide's tables
        assert await adapter.fetch(_water_query()) == WATER_ANSWER
    finally:
        await adapter.close()


async def test_the_sql_example_pushes_a_predicate_into_the_database(water_dir: Path) -> None:
    adapter = _water_adapter(water_dir, "adapter-example-sql")
    assert isinstance(adapter, SqlAdapter)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))  # (connection, cursor, statement, ...)

    sa.event.listen(adapter.engine, "before_cursor_execute", record)
    try:
        query = FetchQuery(subjects=SUBJECTS, predicates=(USES_LESS_THAN_240,), as_of=ON)
        result = await adapter.fetch(query)
    finally:
        await adapter.close()
    assert result.values == {}
    assert result.predicates == [[True, False, None, None]]
    # The statement the guide shows: the database compares, only the boolean is selected.
    assert any("SELECT q.subject, (q.m3 < ?) AS pred_0 FROM (" in s for s in statements)


async def test_the_sql_example_reads_as_of_the_date_asked(water_dir: Path) -> None:
    adapter = _water_adapter(water_dir, "adapter-example-sql")
    query = FetchQuery(subjects=SUBJECTS, attributes=("water_m3_12m",), as_of=dt.date(2026, 4, 15))
    try:
        result = await adapter.fetch(query)
    finally:
        await adapter.close()
    assert result.values == {"water_m3_12m": [96, None, None, None]}


async def test_the_csv_example_answers_like_the_sql_example(water_dir: Path) -> None:
    adapter = _water_adapter(water_dir, "adapter-example-csv")
    assert await adapter.fetch(_water_query()) == WATER_ANSWER


@pytest.mark.parametrize("tag", ["adapter-example-sql", "adapter-example-csv"])
async def test_an_undeclared_operator_is_refused(water_dir: Path, tag: str) -> None:
    adapter = _water_adapter(water_dir, tag)
    query = FetchQuery(
        subjects=SUBJECTS, predicates=(Predicate("tariff", PredicateOperator.LT, "s"),), as_of=ON
    )
    try:
        with pytest.raises(UnknownAttributeError, match="does not evaluate tariff lt"):
            await adapter.fetch(query)
    finally:
        await adapter.close()


async def test_the_http_example_answers_like_the_sql_example(tmp_path: Path) -> None:
    answer = json.loads(example("adapters.md", "adapter-example-http-answer"))
    with JsonService(lambda _: Reply.json(answer)) as billing:
        path = tmp_path / "water-http.yaml"
        path.write_text(example("adapters.md", "adapter-example-http"), encoding="utf-8")
        adapter = load_adapter_config(
            path,
            variables={"billing": billing.url},
            environ={"WATER_BILLING_TOKEN": "guide-token"},
        )
        try:
            assert await adapter.fetch(_water_query()) == WATER_ANSWER
        finally:
            await adapter.close()
    [request] = billing.requests
    assert (request.method, request.path) == ("POST", "/v1/accounts/lookup")
    assert request.body == {"national_ids": list(SUBJECTS), "as_of": "2026-06-01"}
    assert request.headers["Authorization"] == "Bearer guide-token"


async def test_the_python_example_answers_a_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("charity_fund_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look the module up
    namespace = vars(module)
    code = compile(example("adapters.md", "adapter-example"), "docs/adapters.md", "exec")
    exec(code, namespace)  # noqa: S102 - the guide's own example, run as its reader would
    case = namespace["Case"]
    cases = {
        RURAL: case(monthly_aid=45_000_000, financial_need=True),
        IN_ARREARS: case(None, False),
    }
    calls: list[Sequence[str]] = []

    async def lookup(subjects: Sequence[str]) -> dict[str, object]:
        calls.append(subjects)
        return {s: cases[s] for s in subjects if s in cases}

    adapter = namespace["CharityFundAdapter"](lookup)
    assert isinstance(adapter, Adapter)
    assert adapter.describe().agency_id == "charity_fund"
    small_aid = Predicate("monthly_aid", PredicateOperator.LE, 50_000_000)
    result = await adapter.fetch(
        FetchQuery(
            subjects=(RURAL, IN_ARREARS, STRANGER),
            attributes=("supports_financial",),
            predicates=(small_aid,),
        )
    )
    assert result == FetchResult(
        found=[True, True, False],
        values={"supports_financial": [True, False, None]},
        predicates=[[True, None, None]],
    )
    assert len(calls) == 1  # one call to the fund's system for the whole batch


@pytest.fixture(params=["adapter-example-sql", "adapter-example-csv"])
def served_water(request: pytest.FixtureRequest, water_dir: Path) -> Iterator[str]:
    """``sakha adapter serve`` on a free port, run as the guide says; yields its address."""
    tag: str = request.param
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "adapter",
        "serve",
        "--config",
        str(water_dir / f"{tag}.yaml"),
        "--var",
        f"data_dir={water_dir}",
        "--listen",
        "127.0.0.1:0",
        "--insecure",  # the guide's grpcurl examples use -plaintext; mTLS is in tests/pki
    ]
    process = subprocess.Popen(  # noqa: S603 - our own CLI, arguments built here
        command, cwd=water_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        match = re.fullmatch(r"water serving on 127\.0\.0\.1:(\d+)\n", line)
        assert match, f"unexpected start-up output {line!r}"
        yield f"127.0.0.1:{match[1]}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        assert code == 0, process.stderr.read() if process.stderr else ""


def test_the_served_example_answers_the_standard_tools(served_water: str) -> None:
    with grpc.insecure_channel(served_water) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "sakha.v1.ConnectorService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert (
            "sakha.v1.ConnectorService" in ProtoReflectionDescriptorDatabase(channel).get_services()
        )
        stub = connector_pb2_grpc.ConnectorServiceStub(channel)
        assert stub.Describe(connector_pb2.DescribeRequest(), timeout=10).agency_id == "water"
        request = json_format.Parse(
            example("adapters.md", "adapter-example-request"), connector_pb2.FetchRequest()
        )
        response = stub.Fetch(request, timeout=10)
        assert json_format.MessageToDict(response) == json.loads(
            example("adapters.md", "adapter-example-response")
        )
        with pytest.raises(grpc.RpcError) as raised:
            stub.Fetch(
                connector_pb2.FetchRequest(
                    subjects=[RURAL], attributes=["nope"], as_of="2026-06-01"
                ),
                timeout=10,
            )
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


# --- docs/programs.md -----------------------------------------------------------------------


@pytest.fixture
def programs_dir(tmp_path: Path) -> Path:
    """A folder holding the guide's program as ``<id>.yaml`` (the loader wants that name)."""
    text = example("programs.md", "program-example")
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / f"{document['id']}.yaml").write_text(text, encoding="utf-8")
    return folder


def _program(programs_dir: Path) -> Program:
    (path,) = programs_dir.glob("*.yaml")
    return load_program(path)


def test_the_program_example_loads_and_its_cases_pass(programs_dir: Path) -> None:
    program = _program(programs_dir)
    results = run_program_tests(program, simulated_catalogue())
    assert len(results) == len(program.tests) >= 5
    assert [r.message for r in results if not r.passed] == []


def test_sakha_programs_test_passes_the_example(programs_dir: Path) -> None:
    outcome = CliRunner().invoke(main, ["programs", "test", "--programs-dir", str(programs_dir)])
    assert outcome.exit_code == 0, outcome.output
    *lines, summary = outcome.output.splitlines()
    cases = len(_program(programs_dir).tests)
    assert len(lines) == cases
    assert all(line.startswith("ok   school_supplies_grant: ") for line in lines)
    assert summary == f"{cases} test cases of 1 program: {cases} passed, 0 failed"


def test_sakha_programs_test_fails_a_wrong_expectation(programs_dir: Path) -> None:
    (path,) = programs_dir.glob("*.yaml")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("decision: eligible", "decision: ineligible", 1), "utf-8")
    outcome = CliRunner().invoke(main, ["programs", "test", "--programs-dir", str(programs_dir)])
    assert outcome.exit_code == 1
    assert "FAIL school_supplies_grant: " in outcome.output
    assert "decision eligible, expected ineligible" in outcome.output


def test_sakha_programs_show_prints_the_example(programs_dir: Path) -> None:
    arguments = ["programs", "show", "school_supplies_grant", "--programs-dir", str(programs_dir)]
    outcome = CliRunner().invoke(main, arguments)
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.rstrip("\n") == example("programs.md", "program-example").rstrip("\n")


def test_the_hub_plans_the_example_as_the_guide_says(programs_dir: Path) -> None:
    catalogue = simulated_catalogue()
    the_plan = plan(_program(programs_dir), catalogue, ON)
    assert the_plan.identity.agency_id == "civil_registry"
    assert the_plan.identity.attributes == ("alive", "household_members")
    requests = {r.agency_id: (r.attributes, r.predicates) for r in the_plan.requests}
    banks = {a for a in catalogue.agency_ids if a.startswith("bank_")}
    assert len(banks) == 8
    assert requests == {
        "education": (("enrolled_student",), ()),
        # Pushed down: subsidy_org is asked "income_decile <= 4", never for the decile.
        "subsidy_org": ((), (Predicate("income_decile", PredicateOperator.LE, 4),)),
        **dict.fromkeys(banks, (("deposit_balance",), ())),
    }
