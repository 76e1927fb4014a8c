"""`sakha serve` and `sakha adapter serve` as real processes, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import grpc
import pytest
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.client import ConnectorClient
from adapters.pki.material import PkiLayout
from adapters.simulated.build import PopulationSummary, build_population
from adapters.simulated.host import start_simulated_agencies
from gateway.auth.registry import ClientKey, ClientRegistry, Organisation, Role
from gateway.auth.tokens import generate_client_key, private_key_pem, verify_token
from gateway.pki.tls import agency_channel_options, hub_channel_credentials
from tests.processes import SAKHA, serving


async def test_adapter_serve_exposes_a_csv_export(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "national_id,monthly_income\n0499370899,120000000\n", encoding="utf-8"
    )
    config = tmp_path / "agency.yaml"
    config.write_text(
        "agency_id: city_relief\nname: City relief office\nname_fa: دفتر امداد شهر\n"
        "csv: people.csv\nattributes:\n  monthly_income:\n    type: int64\n    unit: IRR\n"
        "    sensitivity: financial\n    predicates: [lt]\n",
        encoding="utf-8",
    )
    async with (
        serving(
            "adapter",
            "serve",
            "--config",
            str(config),
            "--insecure",
            ready=r"serving on [\d.]+:(\d+)",
        ) as match,
        ConnectorClient(f"127.0.0.1:{match.group(1)}") as client,
    ):
        description = await client.describe(timeout=5)
    assert description.agency_id == "city_relief"
    assert [a.name for a in description.attributes] == ["monthly_income"]


async def test_serve_runs_a_hub_from_a_config_file(tmp_path: Path) -> None:
    population: PopulationSummary = build_population(tmp_path / "data", households=30)
    agencies = await start_simulated_agencies(population.data_dir)
    try:
        lines = ["listen: 127.0.0.1:0", "insecure: true", "agencies:"]
        lines += [f"  - {{agency_id: {a}, target: '{t}'}}" for a, t in agencies.targets()]
        config = tmp_path / "hub.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        async with (
            serving("serve", "--config", str(config), ready=r"port (\d+)") as match,
            grpc.aio.insecure_channel(f"127.0.0.1:{match.group(1)}") as channel,
        ):
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            listed = await stub.ListPrograms(eligibility_pb2.ListProgramsRequest(), timeout=5)
            head = population.samples.poor_head or population.samples.unknown
            result = await stub.Check(
                eligibility_pb2.CheckRequest(
                    national_id=head,
                    program_id="livelihood_basket",
                    purpose="livelihood_support",
                ),
                timeout=10,
            )
        assert len(listed.programs) == 5
        assert result.decision != eligibility_pb2.DECISION_UNSPECIFIED
    finally:
        await agencies.stop(None)


async def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("listne: 1\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        *SAKHA,
        "serve",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "hub.yaml: listne: unknown key" in out.decode()


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *SAKHA, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_adapter_serve_fails_at_start_up_on_a_wrong_table(tmp_path: Path) -> None:
    database = tmp_path / "agency.sqlite"
    sqlite3.connect(database).close()
    config = tmp_path / "agency.yaml"
    config.write_text(
        "agency_id: water\nname: Water\nname_fa: آب\nurl: 'sqlite:///{data_dir}/agency.sqlite'\n"
        "subjects_sql: SELECT national_id AS subject FROM meters WHERE national_id IN :subjects\n"
        "queries:\n  use: SELECT national_id AS subject, m3 FROM meters"
        " WHERE national_id IN :subjects\n"
        "attributes:\n  m3: {query: use, type: int64, unit: m3, sensitivity: personal}\n",
        encoding="utf-8",
    )
    code, out = await _run(
        "adapter", "serve", "--config", str(config), "--var", f"data_dir={tmp_path}", "--insecure"
    )
    assert code == 1
    assert "Traceback" not in out
    [error] = [line for line in out.splitlines() if line.startswith("Error:")]
    assert error == (
        f"Error: {config}: subjects_sql: the database refused the query: no such table: meters"
    )
    assert "SELECT" not in out, "the rendered SQL is not dumped"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--var", "data_dir"), "NAME=VALUE", id="var-without-value"),
        pytest.param(("--listen", "127.0.0.1:http"), "host:port", id="port-not-a-number"),
    ],
)
async def test_adapter_serve_rejects_bad_options(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    config = tmp_path / "agency.yaml"
    config.write_text("agency_id: x\n", encoding="utf-8")
    code, out = await _run("adapter", "serve", "--config", str(config), "--insecure", *args)
    assert code == 2
    assert message in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("show", "no_such_program"), "unknown program", id="unknown-id"),
        pytest.param(("list", "--programs-dir", "{bad}"), "bad.yaml", id="broken-file"),
    ],
)
async def test_programs_commands_report_errors_in_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bad.yaml").write_text("id: bad\nversion: [\n", encoding="utf-8")
    code, out = await _run("programs", *(a.replace("{bad}", str(bad)) for a in args))
    assert code == 1
    assert "Traceback" not in out
    assert message in out


async def test_adapter_serve_with_mutual_tls_admits_only_the_hub(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("national_id,m3\n0499370899,12\n", encoding="utf-8")
    config = tmp_path / "agency.yaml"
    config.write_text(
        "agency_id: water\nname: Water\nname_fa: آب\ncsv: people.csv\n"
        "attributes:\n  m3: {type: int64, unit: m3, sensitivity: personal}\n",
        encoding="utf-8",
    )
    code, out = await _run("pki", "init", "--out", str(tmp_path / "pki"), "--agency", "water")
    assert code == 0, out
    layout = PkiLayout(tmp_path / "pki")
    async with serving(
        "adapter",
        "serve",
        "--config",
        str(config),
        "--tls-dir",
        str(layout.folder),
        ready=r"serving on [\d.]+:(\d+)",
    ) as match:
        target = f"127.0.0.1:{match.group(1)}"
        hub = grpc.aio.secure_channel(
            target, hub_channel_credentials(layout), options=agency_channel_options("water")
        )
        async with ConnectorClient(hub) as client:
            description = await client.describe(timeout=5)
        assert description.agency_id == "water"
        async with ConnectorClient(target) as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await plaintext.describe(timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_adapter_serve_needs_tls_or_an_explicit_insecure(tmp_path: Path) -> None:
    config = tmp_path / "agency.yaml"
    config.write_text("agency_id: x\n", encoding="utf-8")
    code, out = await _run("adapter", "serve", "--config", str(config))
    assert code == 2
    assert "--tls-dir" in out


async def test_token_issue_mints_a_token_the_registry_accepts(tmp_path: Path) -> None:
    private_key, _ = generate_client_key("ed25519")
    key_file = tmp_path / "org.key"
    key_file.write_bytes(private_key_pem(private_key))
    code, out = await _run(
        "token", "issue", "--org", "city_relief", "--key", str(key_file), "--ttl", "120"
    )
    assert code == 0, out
    registry = ClientRegistry(
        [
            Organisation(
                id="city_relief",
                name="City relief",
                roles=frozenset({Role.CHECKER}),
                keys=(ClientKey.from_public_key("city_relief-1", private_key.public_key()),),
            )
        ]
    )
    caller = verify_token(out.strip(), registry, audience="sakha-hub")
    assert caller.organisation.id == "city_relief"
    assert caller.expires_at - time.time() <= 120
