"""The stack under benchmark: population, agencies and hub, each in a process of its own.

Layout. By default the 30 simulated agencies run in one child process, the hub in another,
and the benchmark itself (the load generator and the direct-fetch baseline) in the parent.
On the 2-core machine that is the truest picture of the hub: in ``sakha demo`` the agencies
share the hub's interpreter, GIL and event loop, so every agency's Fetch handler and SQLite
query would be billed to the hub and the load generator would steal the hub's loop; split,
the hub pays only for what it does itself, and the per-process CPU counters below say who
used the two cores. ``--layout demo`` runs agencies and hub in one child, as ``sakha demo``
does, for comparison.

Lifetime. Every child reads its standard input and stops when it closes, so a parent that
dies in any way (an error, Ctrl-C, SIGKILL) takes its children with it; children also stop
on SIGINT/SIGTERM (Ctrl-C reaches the whole process group) and ask the kernel for SIGTERM when
their parent dies. Foreign commands (``sakha demo``, ``sakha check-batch``, py-spy) start
through :func:`orphan_proof`, which sets the same parent-death signal before ``exec``.

Security. By default every process talks plaintext and the hub runs ``insecure`` (no TLS,
no tokens): the figures are the core's. :func:`prepare_security` creates the demo's security
material once under the population's folder (``{data_dir}/security``: a development PKI,
the demo organisation's key and the client registry) and reuses it; with it agencies serve
mutual TLS (:func:`running_agencies` ``pki=``) and a hub is started with the security
layers a variant names. A variant is a :class:`~gateway.config.SecurityLayers`: the hub's own
per-layer switches (``security:`` in its config file), so a benchmark hub runs a
configuration an operator could run, and says at start-up which layers are off.

Run a child by hand with ``python -m bench._stack agencies|hub|both --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import datetime as dt
import json
import logging
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sakha.v1 import eligibility_pb2, eligibility_pb2_grpc

from adapters.client import ConnectorClient
from adapters.sdk import AgencyDescription, FetchQuery, FetchResult
from adapters.simulated.build import DEFAULT_SEED, PopulationSummary, ensure_population
from adapters.simulated.catalogue import agency_config_paths
from gateway.config import ALL_OFF, SecurityLayers
from gateway.demo_security import DemoSecurity, prepare_demo_security, secure_hub_config
from gateway.engine.catalogue import ALIVE, HOUSEHOLD_MEMBERS, Catalogue
from gateway.engine.planner import AgencyRequest, Plan, plan
from gateway.programs.loader import ProgramRegistry, load_programs
from gateway.programs.model import ProgramUnit
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR

if TYPE_CHECKING:
    from gateway.config import HubConfig

DEFAULT_ROOT = Path("/tmp/sakha-bench")  # noqa: S108 - a documented, reusable scratch folder
"""Where populations are generated once and reused: ``{root}/households-{n}``."""

DEMO_HOUSEHOLDS = 10_000
READY_TIMEOUT_S = 300.0
"""How long a child may take to announce itself (agencies over a large population)."""

CLIENT_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Poll a server that is still starting every few ms, not after gRPC's 1 s backoff.
    ("grpc.initial_reconnect_backoff_ms", 5),
    ("grpc.min_reconnect_backoff_ms", 5),
    ("grpc.max_reconnect_backoff_ms", 20),
)
"""Channel options of every benchmark client (large batches, quick reconnects)."""

_PR_SET_PDEATHSIG = 1
_T = TypeVar("_T")
_LOG = logging.getLogger("bench")


# --- population -------------------------------------------------------------------------


def population_dir(households: int, root: Path = DEFAULT_ROOT) -> Path:
    """The reusable data folder of a population of ``households`` under ``root``."""
    return root / f"households-{households}"


def prepare_population(
    households: int, data_dir: Path | None = None, *, seed: int = DEFAULT_SEED
) -> tuple[PopulationSummary, float]:
    """Generate the population once (reused afterwards); return it and the seconds it took."""
    started = time.perf_counter()
    summary = ensure_population(
        data_dir or population_dir(households), households=households, seed=seed
    )
    return summary, time.perf_counter() - started


def household_heads(data_dir: Path) -> list[str]:
    """Every household head's national ID, in household order (the demo's caseload)."""
    return _civil_registry_ids(
        data_dir,
        "SELECT national_id FROM persons WHERE head_of_household = 1 ORDER BY household_id",
    )


def living_persons(data_dir: Path) -> list[str]:
    """Every living person's national ID, in household order."""
    return _civil_registry_ids(
        data_dir, "SELECT national_id FROM persons WHERE alive = 1 ORDER BY household_id, rowid"
    )


def prepare_security(data_dir: Path) -> DemoSecurity:
    """The demo's security material under ``{data_dir}/security``: made once, then reused.

    A development CA with certificates for the hub (server and client) and every simulated
    agency, the demo organisation's Ed25519 key, and the client registry that lets it run
    every program (rate limit 100,000/s, so the benchmark is never refused).
    """
    return prepare_demo_security(
        data_dir, [p.stem for p in agency_config_paths()], load_programs(BUILTIN_PROGRAMS_DIR)
    )


def _civil_registry_ids(data_dir: Path, sql: str) -> list[str]:
    database = data_dir / "civil_registry.sqlite"
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return [str(row[0]) for row in db.execute(sql)]


# --- processes --------------------------------------------------------------------------


def orphan_proof(command: Sequence[str]) -> list[str]:
    """``command`` wrapped so the kernel sends it SIGTERM when this process dies (Linux).

    A tiny interpreter (``-I -S``, ~15 ms) sets the parent-death signal and ``exec``s the
    command, which keeps its pid; if this process died before that, it exits at once.
    """
    return [sys.executable, "-I", "-S", "-c", _EXEC_WITH_PARENT, str(os.getpid()), *command]


_EXEC_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def sakha_command(*arguments: str) -> list[str]:
    """The ``sakha`` CLI of this checkout (``python -m gateway.cli``, run from REPO_ROOT).

    Not ``.venv/bin/sakha``: that imports the package the venv was installed from, which
    may be another checkout than the one being measured.
    """
    return [sys.executable, "-m", "gateway.cli", *arguments]


REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout these benchmarks belong to, and measure; children run from here."""


@dataclass
class Child:
    """A child process started by this module, with what it announced when ready."""

    process: subprocess.Popen[bytes]
    ready: dict[str, Any]
    spawned: float
    """``time.monotonic()`` just before the spawn (monotonic time is system-wide on Linux)."""

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def ask(self, command: str) -> dict[str, Any]:
        """Send ``command`` (one line on the child's stdin); return its one-line JSON answer.

        A hub child answers ``work``: the checks it has decided, in how many coalesced
        groups, and how many Fetch calls it made (:func:`_count_work`).

        Raises:
            RuntimeError: the child exited instead of answering.
        """
        if self.process.stdin is None or self.process.stdout is None:
            raise RuntimeError("the child was started without pipes")
        self.process.stdin.write(f"{command}\n".encode("ascii"))
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the child {self.pid} exited (code {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer


@contextlib.contextmanager
def child(
    role: str, *arguments: str, env: Mapping[str, str] | None = None, quiet: bool = False
) -> Iterator[Child]:
    """Run ``python -m bench._stack role arguments…`` until the block ends.

    Yields once the child printed its ready line. Leaving the block closes the child's
    standard input (its signal to stop), then escalates to SIGTERM and SIGKILL. ``env``
    adds to this process's environment; ``quiet`` sends the child's stderr to /dev/null.

    Raises:
        RuntimeError: the child exited or stayed silent instead of getting ready.
    """
    command = [sys.executable, "-m", "bench._stack", role, "--parent-pid", str(os.getpid())]
    spawned = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [*command, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        cwd=REPO_ROOT,
        env=None if env is None else {**os.environ, **env},
    )
    try:
        yield Child(process, _read_ready(process, role), spawned)
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[Any], grace_s: float = 15.0) -> None:
    """Ask ``process`` to stop (stdin closed, then SIGTERM, then SIGKILL) and reap it."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    for escalate in (None, process.terminate, process.kill):
        if escalate is not None:
            with contextlib.suppress(OSError):
                escalate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            continue
        break
    if process.stdout is not None:
        process.stdout.close()


def _read_ready(process: subprocess.Popen[bytes], role: str) -> dict[str, Any]:
    assert process.stdout is not None  # noqa: S101 - set by child()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"the {role} process did not get ready in {READY_TIMEOUT_S} s")
        readable, _, _ = select.select([process.stdout], [], [], min(remaining, 1.0))
        if readable:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the {role} process exited (code {process.wait()})")
            ready: dict[str, Any] = json.loads(line)
            return ready
        if process.poll() is not None:
            raise RuntimeError(f"the {role} process exited (code {process.returncode})")


@dataclass(frozen=True)
class Stack:
    """A running stack: where the hub and the agencies listen, and their processes."""

    hub_target: str
    hub_pid: int
    agencies_pid: int
    agency_targets: tuple[tuple[str, str], ...]
    hub_start_s: float = 0.0
    """How long the hub's ``start_hub`` took (programs, agency channels and their Describe)."""
    hub: Child | None = field(default=None, compare=False)
    """The hub's child process (None in the demo layout)."""


@contextlib.contextmanager
def running_agencies(
    data_dir: Path,
    *,
    pki: Path | None = None,
    hub_keys: Path | None = None,
    latency: Mapping[str, str] | None = None,
) -> Iterator[Child]:
    """The 30 simulated agencies over ``data_dir``, in a child process.

    With ``pki`` (a :class:`~gateway.pki.ca.PkiLayout` folder) each serves mutual TLS and
    admits only the hub's client certificate (``RequirePeerIdentity``), as in ``sakha demo``.
    With ``hub_keys`` alone they serve plaintext but check every Fetch's token. ``latency``
    maps agency ids (``"*"``: every other) to an injected wait, ``"20±5"`` ms
    (:class:`~adapters.simulated.latency.Latency`).
    """
    tls = ("--pki", str(pki)) if pki is not None else ()
    keys = ("--hub-keys", str(hub_keys)) if hub_keys is not None else ()
    slow = ("--latency", json.dumps(dict(latency))) if latency else ()
    with child("agencies", "--data-dir", str(data_dir), *tls, *keys, *slow) as running:
        yield running


@contextlib.contextmanager
def running_hub(agencies: Child, **config: float) -> Iterator[Stack]:
    """An insecure hub in a child process, connected to ``agencies``; ``config`` overrides
    HubConfig."""
    with _hub_child(agencies, config) as stack:
        yield stack


@contextlib.contextmanager
def running_secured_hub(
    agencies: Child,
    security: SecurityLayers,
    material: DemoSecurity,
    *,
    db_url: str | None = None,
    consents: Mapping[str, Path] | None = None,
    env: Mapping[str, str] | None = None,
    **config: Any,
) -> Iterator[Stack]:
    """A hub with the parts of its security ``security`` names, connected to ``agencies``.

    ``material`` is :func:`prepare_security`'s; ``agencies`` must serve mutual TLS exactly
    when ``security.agency_mtls`` is set. With the consent layer on, ``db_url`` is its
    (migrated) store and ``consents`` names, per program, a file of subjects (one per line)
    whose consents the hub grants itself before it reports ready. ``env`` adds to the hub
    process's environment (``OTEL_*``); with it, the hub's stderr goes to /dev/null.
    """
    if security == ALL_OFF:
        with _hub_child(agencies, config) as stack:
            yield stack
        return
    described = {
        "parts": dataclasses.asdict(security),
        "pki": str(material.pki.folder),
        "clients_file": str(material.clients_file),
        "db_url": db_url,
        "consents": {p: str(path) for p, path in (consents or {}).items()},
    }
    with _hub_child(agencies, config, "--security", json.dumps(described), env=env) as stack:
        yield stack


@contextlib.contextmanager
def _hub_child(
    agencies: Child,
    config: Mapping[str, Any],
    *extra: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    targets = agencies.ready["targets"]
    with child(
        "hub",
        "--targets",
        json.dumps(targets),
        "--config",
        json.dumps(config),
        *extra,
        env=env,
        quiet=env is not None,
    ) as hub:
        stamps = hub.ready.get("stamps", {})
        yield Stack(
            f"127.0.0.1:{hub.ready['port']}",
            hub.pid,
            agencies.pid,
            tuple((a, t) for a, t in targets),
            stamps.get("hub", 0.0) - stamps.get("main", 0.0),
            hub,
        )


@contextlib.contextmanager
def running_stack(data_dir: Path, *, layout: str = "split", **config: float) -> Iterator[Stack]:
    """Agencies and hub: in two children (``split``) or one (``demo``, like ``sakha demo``)."""
    if layout == "split":
        with running_agencies(data_dir) as agencies, running_hub(agencies, **config) as stack:
            yield stack
        return
    if layout != "demo":
        raise ValueError(f"unknown layout {layout!r}")
    with child("both", "--data-dir", str(data_dir), "--config", json.dumps(config)) as both:
        targets = tuple((a, t) for a, t in both.ready["targets"])
        yield Stack(f"127.0.0.1:{both.ready['port']}", both.pid, both.pid, targets)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every stack benchmark takes: population, rounds and load."""
    parser.add_argument("--households", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checks", type=int, default=300, help="Checks per c1 run.")
    parser.add_argument("--duration", type=float, default=5.0, help="Seconds per loaded run.")
    parser.add_argument("--concurrency", type=int, default=64)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used, all its threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, every process; /proc/stat)."""
    fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU used by a set of processes between :meth:`start` and :meth:`per_call`."""

    pids: Mapping[str, int]
    _start: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        """Note every process's CPU time now."""
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def per_call(self, calls: int) -> dict[str, float]:
        """Milliseconds of CPU each process (by name) used per call since :meth:`start`."""
        return {
            name: 1000 * (cpu_seconds(pid) - self._start[name]) / max(calls, 1)
            for name, pid in self.pids.items()
        }


@contextlib.contextmanager
def profiled(
    pid: int, output: Path, *, seconds: float, rate: int = 250, gil: bool = False
) -> Iterator[None]:
    """Sample ``pid`` with py-spy while the block runs (collapsed stacks into ``output``).

    With ``gil`` only the thread holding the GIL is sampled: Python's own work, without
    threads waiting in I/O (a commit's fsync) or native code that released the GIL.

    py-spy samples without stopping the process (``--nonblocking``), so the profiled run is
    only slightly slower; its figures are not used. ``seconds`` bounds the sampling; it ends
    with the block. Idle samples (threads waiting) are not recorded.

    Raises:
        RuntimeError: py-spy is not installed next to this interpreter, or wrote nothing.
    """
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    command = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        *(["--gil"] if gil else []),
        "--output",
        str(output),
    ]
    with output.with_suffix(".log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - py-spy from our venv
            orphan_proof(command), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            time.sleep(0.5)  # py-spy attaches
            yield
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
            stop_process(process)
    if not output.exists():
        raise RuntimeError(f"py-spy wrote no profile; see {output.with_suffix('.log')}")


class RssSampler:
    """Samples a process's resident memory in a background thread (lowest, highest, last)."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        """Sample ``pid`` every ``interval_s`` once :meth:`start` is called."""
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss", daemon=True)
        self.samples: list[float] = []

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.samples.append(rss_mib(self._pid))
            self._stop.wait(self._interval_s)

    def __enter__(self) -> RssSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        """The highest resident memory seen, MiB (0 when nothing was sampled)."""
        return max(self.samples, default=0.0)


def run_benchmark(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)``; Ctrl-C ends it with status 130 and no traceback.

    Children stop on their own (see the module docstring); this only keeps the output short.
    """
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        print("interrupted: every process this benchmark started is stopping", file=sys.stderr)
        raise SystemExit(130) from None


# --- clients ----------------------------------------------------------------------------


def check_request(
    subject: str, program_id: str, purpose: str, request_id: str = ""
) -> eligibility_pb2.CheckRequest:
    """A Check request as a relief agency's system sends it."""
    return eligibility_pb2.CheckRequest(
        national_id=subject, program_id=program_id, purpose=purpose, request_id=request_id
    )


def hub_stub(
    channel: grpc.aio.Channel,
) -> eligibility_pb2_grpc.EligibilityServiceAsyncStub:
    """The EligibilityService stub on ``channel``."""
    return eligibility_pb2_grpc.EligibilityServiceStub(channel)


async def wait_serving(target: str, timeout_s: float = 60.0, poll_s: float = 0.005) -> float:
    """Poll ``grpc.health.v1`` at ``target`` until SERVING; return ``time.monotonic()`` then.

    Raises:
        TimeoutError: not SERVING within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(target, options=CLIENT_OPTIONS) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
            except grpc.aio.AioRpcError:
                await asyncio.sleep(poll_s)
                continue
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return time.monotonic()
            await asyncio.sleep(poll_s)
    raise TimeoutError(f"{target} was not SERVING within {timeout_s} s")


class DirectClient:
    """The baseline: a client that makes the hub's agency fetches itself, straight to them.

    It plans with the hub's own planner, so it sends exactly the Fetch calls the hub would:
    for a household program the civil registry first (alive, household members), then one
    batched Fetch per needed agency about every member; for a person program all at once.
    It decodes the answers (as any client that uses them must) and decides nothing.
    """

    def __init__(
        self,
        clients: Mapping[str, ConnectorClient],
        catalogue: Catalogue,
        descriptions: Mapping[str, AgencyDescription],
    ) -> None:
        """Use :meth:`connect`."""
        self._clients = dict(clients)
        self._catalogue = catalogue
        self._descriptions = descriptions
        self._registry: ProgramRegistry = load_programs(BUILTIN_PROGRAMS_DIR)
        self.calls = 0
        """Fetch calls made so far."""

    @classmethod
    async def connect(cls, targets: Sequence[tuple[str, str]]) -> DirectClient:
        """Open a channel to every agency and read its description."""
        clients = {a: ConnectorClient(t) for a, t in targets}
        described = await asyncio.gather(*(c.describe(timeout=10) for c in clients.values()))
        descriptions = dict(zip(clients, described, strict=True))
        return cls(clients, Catalogue.from_descriptions(described), descriptions)

    async def close(self) -> None:
        """Close every channel."""
        await asyncio.gather(*(c.close() for c in self._clients.values()))

    def plan(self, program_id: str) -> Plan:
        """The hub's plan of ``program_id`` for today."""
        import datetime as dt  # noqa: PLC0415 - only here

        return plan(self._registry.get(program_id), self._catalogue, dt.date.today())

    async def fetch(
        self, the_plan: Plan, subjects: Sequence[str], *, chunk: int = 1000, purpose: str = ""
    ) -> int:
        """Make the plan's fetches for ``subjects``; return how many persons phase 2 asked about.

        As the hub does: the civil registry first, then every other agency only about the
        living subjects it knows (and, for a household program, their household members).
        """
        identity = await self._ask(the_plan.identity, subjects, the_plan, chunk, purpose)
        household = the_plan.program.unit is ProgramUnit.HOUSEHOLD
        everyone = _asked_about(identity, subjects, household=household)
        if everyone:
            await asyncio.gather(
                *(self._ask(r, everyone, the_plan, chunk, purpose) for r in the_plan.requests)
            )
        return len(everyone)

    async def _ask(
        self,
        request: AgencyRequest,
        subjects: Sequence[str],
        the_plan: Plan,
        chunk: int,
        purpose: str,
    ) -> list[FetchResult]:
        client = self._clients[request.agency_id]
        description = self._descriptions[request.agency_id]
        chunk = min(chunk, description.max_subjects or chunk)  # as the hub chunks
        queries = [
            FetchQuery(
                subjects=tuple(subjects[i : i + chunk]),
                attributes=request.attributes,
                predicates=request.predicates,
                as_of=the_plan.as_of,
                purpose=purpose,
            )
            for i in range(0, len(subjects), chunk)
        ]
        self.calls += len(queries)
        return list(await asyncio.gather(*(client.fetch(q, description, 10) for q in queries)))


def _asked_about(
    identity: Sequence[FetchResult], subjects: Sequence[str], *, household: bool
) -> list[str]:
    """Whom phase 2 asks about, as the hub decides it (``gateway.checking._units``).

    Subjects the civil registry knows as alive (for a household program: whose household
    it lists, the subject among the members), with their members, without repeats.
    """
    everyone: dict[str, None] = {}
    found = [f for part in identity for f in part.found]
    alive = [a for part in identity for a in part.values[ALIVE]]
    members: list[object] = [None] * len(subjects)
    if household:
        members = [m for part in identity for m in part.values[HOUSEHOLD_MEMBERS]]
    for subject, known, living, listed in zip(subjects, found, alive, members, strict=True):
        if not known or living is not True:
            continue
        if not household:
            everyone[subject] = None
        elif isinstance(listed, tuple) and subject in listed:
            everyone[subject] = None
            everyone.update(dict.fromkeys(listed))
    return list(everyone)


# --- the child processes ----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the child processes: ``agencies``, ``hub`` or ``both``."""
    parser = argparse.ArgumentParser(prog="python -m bench._stack", description=__doc__)
    parser.add_argument("role", choices=("agencies", "hub", "both"))
    parser.add_argument("--parent-pid", type=int, default=0, help="stop if this process dies")
    parser.add_argument("--data-dir", type=Path, help="population (agencies, both)")
    parser.add_argument("--households", type=int, default=0, help="ensure this population (both)")
    parser.add_argument("--targets", default="[]", help="JSON [[agency_id, host:port], …] (hub)")
    parser.add_argument("--config", default="{}", help="JSON HubConfig overrides (hub, both)")
    parser.add_argument("--pki", type=Path, help="PKI folder: agencies serve mutual TLS")
    parser.add_argument("--hub-keys", type=Path, help="fetch-token JWK Set agencies check")
    parser.add_argument(
        "--latency", default="{}", help='JSON {agency_id or "*": "MS" or "MS±JITTER"} (agencies)'
    )
    parser.add_argument(
        "--security",
        default="",
        help="JSON {parts: {client_tls, client_tokens, agency_mtls, fetch_tokens, consent}, pki, "
        "clients_file, db_url, consents: {program_id: file of subjects, one per line}}",
    )
    args = parser.parse_args(argv)
    _die_with_parent(args.parent_pid)
    logging.basicConfig(level=logging.WARNING, format=f"[{args.role}] %(levelname)s %(message)s")
    asyncio.run(_serve(args))


def _die_with_parent(parent_pid: int) -> None:
    if not parent_pid or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        sys.exit("the parent process is gone")


async def _serve(args: argparse.Namespace) -> None:
    from adapters.pki.material import PkiLayout  # noqa: PLC0415
    from adapters.simulated.host import start_simulated_agencies  # noqa: PLC0415
    from adapters.simulated.latency import Latency  # noqa: PLC0415
    from adapters.telemetry import configure_telemetry  # noqa: PLC0415
    from gateway.hub import start_hub  # noqa: PLC0415

    stamps = {"main": time.monotonic()}
    work = _count_work() if args.role == "hub" else None
    stop = _stop_event({"work": lambda: dict(work)} if work is not None else {})
    config: dict[str, Any] = json.loads(args.config)
    announce: dict[str, Any] = {"pid": os.getpid()}
    agencies = hub = None
    try:
        if args.role in ("agencies", "both"):
            if args.households:
                ensure_population(args.data_dir, households=args.households)
                stamps["population"] = time.monotonic()
            pki = PkiLayout(args.pki) if args.pki is not None else None
            latency = {a: Latency.parse(t) for a, t in json.loads(args.latency).items()}
            agencies = await start_simulated_agencies(
                args.data_dir, pki=pki, hub_keys=args.hub_keys, latency=latency
            )
            stamps["agencies"] = time.monotonic()
            announce["targets"] = agencies.targets()
        if args.role in ("hub", "both"):
            targets = agencies.targets() if agencies is not None else json.loads(args.targets)
            security = json.loads(args.security) if args.security else None
            configure_telemetry("sakha-hub")  # the OTEL_* variables the parent gave
            hub = await start_hub(_hub_config(targets, config, security))
            stamps["hub"] = time.monotonic()
            if security is not None and security.get("consents"):
                await asyncio.to_thread(_seed_consents, hub, security["consents"])
                stamps["consents"] = time.monotonic()
            announce["port"] = hub.port
        announce["stamps"] = stamps
        print(json.dumps(announce), flush=True)
        await stop()
    finally:
        if hub is not None:
            await hub.stop(1.0)
        if agencies is not None:
            await agencies.stop(None)


def _hub_config(
    targets: Sequence[Sequence[str]], overrides: Mapping[str, Any], security: dict[str, Any] | None
) -> HubConfig:
    """The hub's config: insecure, or with the demo's files and the variant's layers."""
    from adapters.pki.material import PkiLayout  # noqa: PLC0415
    from gateway.config import AgencyEndpoint, HubConfig  # noqa: PLC0415

    endpoints = tuple(AgencyEndpoint(a, t) for a, t in targets)
    # JSON carries paths as text; the config's path keys are the ones ending in _dir/_file.
    overrides = {k: Path(v) if k.endswith(("_dir", "_file")) else v for k, v in overrides.items()}
    if security is None:
        return HubConfig(
            listen="127.0.0.1:0", agencies=endpoints, **{"insecure": True, **overrides}
        )
    return secure_hub_config(
        PkiLayout(Path(security["pki"])),
        Path(security["clients_file"]),
        listen="127.0.0.1:0",
        agencies=endpoints,
        security=SecurityLayers(**security["parts"]),
        db_url=security.get("db_url"),
        **overrides,
    )


def _seed_consents(hub: Any, consents: Mapping[str, str]) -> None:
    """Grant the demo organisation each listed subject's consent to each program, in
    transactions of :data:`SEED_CHUNK` consents."""
    from gateway.demo_consent import widest_consent  # noqa: PLC0415
    from gateway.demo_security import DEMO_ORGANISATION  # noqa: PLC0415

    layer = hub.consent
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for program_id, subjects_file in consents.items():
        template = hub.pipeline.consent_template(program_id)
        purpose = hub.registry.get(program_id).purposes[0]
        subjects = Path(subjects_file).read_text(encoding="utf-8").split()
        for start in range(0, len(subjects), SEED_CHUNK):
            chunk = subjects[start : start + SEED_CHUNK]
            granted = [
                (
                    layer.signer.sign_artefact(
                        widest_consent(
                            template,
                            consent_id=f"bench-{program_id}-{start + offset}",
                            subject=subject,
                            organisation_id=DEMO_ORGANISATION,
                            purpose=purpose,
                            now=now,
                        )
                    ),
                    template,
                )
                for offset, subject in enumerate(chunk)
            ]
            layer.store.grant_many(granted, actor="bench/seed", now=now)


SEED_CHUNK = 10_000
"""Consents granted per transaction when a benchmark hub seeds its store."""


def _count_work() -> dict[str, int]:
    """Count, in this hub process, coalesced groups, the checks in them and Fetch calls.

    Instruments (it switches nothing off) ``Pipeline.decide``, which every group of Check or
    CheckBatch passes through, and ``ConnectorClient.fetch``; the counters are read with
    :meth:`Child.ask` ``("work")``.
    """
    from gateway.pipeline import Pipeline  # noqa: PLC0415

    counts = {"groups": 0, "checks": 0, "fetches": 0}
    decide = Pipeline.decide

    async def counted_group(self: Any, group: Sequence[Any], **kwargs: Any) -> Any:
        counts["groups"] += 1
        counts["checks"] += len(group)
        return await decide(self, group, **kwargs)

    setattr(Pipeline, "decide", counted_group)  # noqa: B010
    fetch = ConnectorClient.fetch

    async def counted_fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["fetches"] += 1
        return await fetch(self, *args, **kwargs)

    setattr(ConnectorClient, "fetch", counted_fetch)  # noqa: B010
    return counts


def _stop_event(
    answers: Mapping[str, Callable[[], dict[str, Any]]],
) -> Callable[[], Awaitable[None]]:
    """A coroutine function that returns when stdin closes or SIGINT/SIGTERM arrives.

    Meanwhile each line read from stdin that names one of ``answers`` is answered with one
    JSON line on stdout.
    """
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)

    async def stdin_closed() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            answer = answers.get(line.decode("ascii", "replace").strip())
            if answer is not None:
                print(json.dumps(answer()), flush=True)
        stopped.set()

    watcher = loop.create_task(stdin_closed())

    async def wait() -> None:
        try:
            await stopped.wait()
        finally:
            watcher.cancel()

    return wait


if __name__ == "__main__":
    main()
