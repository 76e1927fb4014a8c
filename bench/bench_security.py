"""Single checks, insecure against secure: what authentication and TLS cost one Check.

One invocation, one population, one process layout (agencies, hub and client each in a
process of their own, as in :mod:`bench.bench_check`); four hubs run side by side and are
measured in turn:

- ``insecure``: plaintext everywhere, no tokens (``insecure=True``, as the other benchmarks);
- ``client-tls``: TLS on the client-facing port only (agencies plaintext, no tokens);
- ``tls``: client TLS and mutual TLS to agencies that admit only the hub's certificate
  (the adapter SDK's hub-identity check) and a hub-signed fetch token on every Fetch (the
  two come together: an mTLS adapter refuses a Fetch without one), still no client tokens;
- ``secure``: all of it plus a bearer token on every call, verified by the hub (each
  distinct token once, then from its cache until it expires), the organisation's
  authorization and its rate-limit bucket: ``sakha demo``'s hub.

Each variant is a configuration the hub offers: its ``security:`` switches (see
:mod:`bench._stack`, "Security"). Two agency processes serve the same population, one
plaintext and one mutual TLS. The client mints one token (Ed25519, ttl 600 s) and reuses it,
renewing it at half-life, as a client system would; what minting per call would add (the
CLI mints per command) and what verifying costs the hub are timed in-process.

Runs are interleaved: every round measures each variant once per program and load, in a
rotated order, so drift on the machine spreads over all variants alike. Figures are medians
over ``--runs`` rounds with the lowest and highest; steady state (connections open, the
TLS handshakes done in the warm-up). New connections (handshake plus a first Check) are
measured apart, as is the hub's start-up (30 agency channels, each a handshake with mTLS).

    .venv/bin/python -m bench.bench_security [--runs 5] [--checks 500] [--profile] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from adapters.pki.material import HUB_SPIFFE_ID
from adapters.pki.peer import PeerCertificate, check_peer_identity
from bench import _stack
from bench._stats import (
    RESULTS_PATH,
    HotSpot,
    Profile,
    Run,
    RunSummary,
    Spread,
    environment_line,
    markdown_table,
    medians,
    record_section,
)
from bench.bench_check import PROGRAMS, Measured, Metadata, closed_loop, hub_call
from gateway.auth.policy import AccessPolicy
from gateway.auth.ratelimit import RateLimiter
from gateway.auth.registry import load_client_registry
from gateway.auth.tokens import issue_token, load_private_key, verify_token
from gateway.config import ALL_OFF, SecurityLayers
from gateway.demo_security import DEMO_ORGANISATION, DemoSecurity
from gateway.pki.tls import client_channel_credentials

VARIANTS: dict[str, SecurityLayers] = {
    "insecure": ALL_OFF,
    "client-tls": SecurityLayers(
        client_tls=True,
        client_tokens=False,
        agency_mtls=False,
        fetch_tokens=False,
        consent=False,
        audit=False,
    ),
    "tls": SecurityLayers(
        client_tls=True, client_tokens=False, agency_mtls=True, consent=False, audit=False
    ),
    "secure": SecurityLayers(consent=False, audit=False),
}
"""The hubs measured, from nothing on to every transport and token layer on (consent has its
own benchmark, bench_layers, since it needs consents for the caseload)."""

STEP_NAMES = {
    "client-tls": "client TLS",
    "tls": "agency mTLS",
    "secure": "token chain (authentication, authorization, rate limit)",
}
"""What each variant adds to the one before it (when all are measured)."""


TOKEN_TTL_S = 600
"""Lifetime of the client's token; it is renewed at half-life."""

OPERATOR = "bench-operator"
WARM_UP_S = 2.0
"""Unmeasured load at c64 per variant and program before the first round."""
CELL_WARM_UP_S = 0.5
"""Unmeasured load before each measured run (the hub idled while the others ran)."""
NEW_CONNECTION_PROGRAM = "disability_care_grant"


class BearerToken:
    """A client's token: minted once, reused for every call, renewed at half-life."""

    def __init__(self, material: DemoSecurity, audience: str = "sakha-hub") -> None:
        """Load the demo organisation's key; the first token is minted on first use."""
        self._key = load_private_key(material.key_files[DEMO_ORGANISATION])
        self._kid = material.kid(DEMO_ORGANISATION)
        self._audience = audience
        self._renew_at = 0.0
        self._metadata: Metadata = ()
        self.minted = 0

    def metadata(self) -> Metadata:
        """``authorization: Bearer <token>``, with a token valid for a while yet."""
        now = time.time()
        if now >= self._renew_at:
            token = issue_token(
                organisation_id=DEMO_ORGANISATION,
                operator=OPERATOR,
                private_key=self._key,
                kid=self._kid,
                audience=self._audience,
                ttl_s=TOKEN_TTL_S,
                now=now,
            )
            self._metadata = (("authorization", f"Bearer {token}"),)
            self._renew_at = now + TOKEN_TTL_S / 2
            self.minted += 1
        return self._metadata


@dataclass
class Hub:
    """One variant's running hub and how the client reaches it."""

    name: str
    stack: _stack.Stack
    credentials: grpc.ChannelCredentials | None
    token: BearerToken | None

    def channel(self, *options: tuple[str, object]) -> grpc.aio.Channel:
        """A new channel to the hub: TLS trusting the demo CA, or plaintext."""
        merged = [*_stack.CLIENT_OPTIONS, *options]
        if self.credentials is None:
            return grpc.aio.insecure_channel(self.stack.hub_target, options=merged)
        return grpc.aio.secure_channel(self.stack.hub_target, self.credentials, options=merged)

    @property
    def metadata(self) -> Callable[[], Metadata] | None:
        """Each call's metadata (the bearer token), if the hub wants any."""
        return self.token.metadata if self.token is not None else None

    def work(self) -> dict[str, int]:
        """The hub's counters: checks decided, coalesced groups, Fetch calls (0 if unknown)."""
        if self.stack.hub is None:
            return {}
        return {k: int(v) for k, v in self.stack.hub.ask("work").items()}

    def meter(self) -> _stack.CpuMeter:
        """CPU of this hub, the agencies it calls and the client."""
        return _stack.CpuMeter(
            {"hub": self.stack.hub_pid, "agencies": self.stack.agencies_pid, "client": os.getpid()}
        )


@dataclass(frozen=True)
class NewConnections:
    """New client connections to one hub: connect (TCP, TLS handshake), then a first Check."""

    connect_ms: Spread
    first_check_ms: Spread
    cpu_ms: dict[str, float]
    """CPU per new connection (connect, first Check, close), by process."""


@dataclass
class Results:
    """Everything one invocation measured."""

    population: str = ""
    material: str = ""
    measured: dict[tuple[str, str, int], Measured] = field(default_factory=dict)
    work: dict[tuple[str, str, int], dict[str, float]] = field(default_factory=dict)
    """Per measured load: checks per coalesced group and Fetch calls per check (medians)."""
    connections: dict[str, NewConnections] = field(default_factory=dict)
    start_s: dict[str, float] = field(default_factory=dict)
    micro_us: dict[str, Spread] = field(default_factory=dict)
    tokens_minted: int = 0
    others_cores: float = 0.0
    """CPU other processes on the machine used while measuring, in cores (0 = quiet)."""
    profile: dict[str, float] = field(default_factory=dict)
    """Shares (%) of the secure hub's busy samples at c64, by security step."""
    profile_areas: tuple[HotSpot, ...] = ()
    profile_samples: int = 0


# --- in-process costs ---------------------------------------------------------------------


def _time_us(work: Callable[[], object], *, number: int, repeat: int = 5) -> Spread:
    """µs per call of ``work``: ``repeat`` timings of ``number`` calls each."""
    per_call = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            work()
        per_call.append((time.perf_counter() - started) / number * 1e6)
    return Spread.of(per_call)


def in_process_costs(material: DemoSecurity, number: int) -> dict[str, Spread]:
    """µs of each security step that runs per call or per token, timed in this process."""
    profile = material.profile("127.0.0.1:0")
    key = load_private_key(material.key_files[DEMO_ORGANISATION])
    registry = load_client_registry(material.clients_file)
    policy = AccessPolicy(registry)
    limiter = RateLimiter()

    def mint() -> str:
        return issue_token(
            organisation_id=DEMO_ORGANISATION,
            operator=OPERATOR,
            private_key=key,
            kid=material.kid(DEMO_ORGANISATION),
            audience=profile.audience,
            ttl_s=TOKEN_TTL_S,
        )

    token = mint()
    caller = verify_token(token, registry, audience=profile.audience)
    organisation = caller.organisation
    pem = material.pki.hub_client_cert.read_bytes()
    auth_context = {"transport_security_type": [b"ssl"], "x509_pem_cert": [pem]}
    peers = {pem: PeerCertificate.from_pem(pem)}

    def verify() -> object:
        return verify_token(token, registry, audience=profile.audience, now=time.time())

    def admit_hub() -> object:
        return check_peer_identity(
            auth_context, HUB_SPIFFE_ID, at=dt.datetime.now(dt.UTC), read=peers.__getitem__
        )

    def charge() -> None:
        limit = organisation.rate_limit
        limiter.acquire(organisation.id, limit.per_second, limit.burst)

    return {
        "mint a token (client, key in memory)": _time_us(mint, number=number),
        "mint a token as the CLI does (read the key file, mint)": _time_us(
            profile.bearer_token, number=number
        ),
        "verify a token (hub, once per distinct token)": _time_us(verify, number=number),
        "authorize the program and purpose (hub, every call)": _time_us(
            lambda: policy.authorize_check(caller, "livelihood_basket", "livelihood_support"),
            number=number * 10,
        ),
        "charge the rate-limit bucket (hub, every call)": _time_us(charge, number=number * 10),
        "admit the hub's certificate (agency, every Fetch; parse cached)": _time_us(
            admit_hub, number=number * 10
        ),
        "parse the hub's certificate (agency, first call of a connection)": _time_us(
            lambda: PeerCertificate.from_pem(pem), number=number
        ),
    }


# --- the run ------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Results:
    """Start every variant's hub, then measure them round by round."""
    data_dir = args.data_dir or _stack.population_dir(args.households)
    summary, _ = _stack.prepare_population(args.households, data_dir)
    fresh = not (data_dir / "security" / "clients.yaml").exists()
    started = time.perf_counter()
    material = _stack.prepare_security(data_dir)
    results = Results(
        population=f"{summary.households:,} households, {summary.persons:,} persons",
        material=f"{material.pki.folder.parent} ("
        + ("generated" if fresh else "reused")
        + f" in {time.perf_counter() - started:.2f} s)",
    )
    print(f"security material: {results.material}", flush=True)
    results.micro_us = in_process_costs(material, args.micro_calls)
    for what, spread in results.micro_us.items():
        print(f"{what:<70} {spread.show(1)} µs", flush=True)
    shuffle = random.Random(20261121)
    subjects = {
        "livelihood_basket": _stack.household_heads(data_dir),
        "disability_care_grant": _stack.living_persons(data_dir),
    }
    for listed in subjects.values():
        shuffle.shuffle(listed)
    names = args.variants
    with contextlib.ExitStack() as running:
        agencies: dict[bool, _stack.Child] = {}
        for mtls in sorted({VARIANTS[n].agency_mtls for n in names}):
            pki = material.pki.folder if mtls else None
            agencies[mtls] = running.enter_context(_stack.running_agencies(data_dir, pki=pki))
        hubs: dict[str, Hub] = {}
        credentials = client_channel_credentials(material.pki.ca_cert)
        for name in names:
            security = VARIANTS[name]
            stack = running.enter_context(
                _stack.running_secured_hub(agencies[security.agency_mtls], security, material)
            )
            hubs[name] = Hub(
                name,
                stack,
                credentials if security.client_tls else None,
                BearerToken(material) if security.client_tokens else None,
            )
            results.start_s[name] = stack.hub_start_s
        ours = [os.getpid(), *(a.pid for a in agencies.values())]
        ours += [h.stack.hub_pid for h in hubs.values()]
        busy, mine, began = (
            _stack.busy_cpu_seconds(),
            sum(map(_stack.cpu_seconds, ours)),
            time.monotonic(),
        )
        await measure(args, hubs, subjects, results)
        others = (_stack.busy_cpu_seconds() - busy) - (sum(map(_stack.cpu_seconds, ours)) - mine)
        results.others_cores = max(0.0, others) / (time.monotonic() - began)
        print(f"other processes used {results.others_cores:.2f} cores meanwhile", flush=True)
        if args.profile:
            await _profile(args, hubs["secure"], subjects, results)
        for name, hub in hubs.items():
            results.connections[name] = await _new_connections(
                hub, subjects[NEW_CONNECTION_PROGRAM], args.connections
            )
            _print_connections(name, results.connections[name])
        results.tokens_minted = sum(h.token.minted for h in hubs.values() if h.token)
    return results


async def measure(
    args: argparse.Namespace,
    hubs: dict[str, Hub],
    subjects: dict[str, list[str]],
    results: Results,
) -> None:
    """Measure every hub at c1 and ``args.concurrency``, round by round, into ``results``.

    Reads ``args.runs``, ``programs``, ``checks`` (c1 calls), ``duration`` (seconds at load).
    """
    loads = (1, args.concurrency)
    async with contextlib.AsyncExitStack() as channels:
        calls = {}
        for name, hub in hubs.items():
            channel = await channels.enter_async_context(hub.channel())
            stub = _stack.hub_stub(channel)
            for program_id in args.programs:
                call = hub_call(stub, program_id, hub.metadata)
                if not await call(subjects[program_id][0]):
                    raise RuntimeError(f"the {name} hub did not decide a {program_id} check")
                await closed_loop(
                    call, subjects[program_id], concurrency=args.concurrency, duration_s=WARM_UP_S
                )
                calls[(name, program_id)] = call
        runs: dict[tuple[str, str, int], list[Run]] = {}
        cpu: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        work: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        names = list(hubs)
        for round_index in range(args.runs):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for program_id in args.programs:
                for concurrency in loads:
                    for name in order:
                        call = calls[(name, program_id)]
                        await closed_loop(
                            call,
                            subjects[program_id],
                            concurrency=concurrency,
                            duration_s=CELL_WARM_UP_S,
                        )
                        meter = hubs[name].meter()
                        before = hubs[name].work()
                        meter.start()
                        run = await closed_loop(
                            call,
                            subjects[program_id],
                            concurrency=concurrency,
                            duration_s=None if concurrency == 1 else args.duration,
                            calls=args.checks if concurrency == 1 else None,
                        )
                        key = (name, program_id, concurrency)
                        runs.setdefault(key, []).append(run)
                        cpu.setdefault(key, []).append(meter.per_call(run.calls))
                        work.setdefault(key, []).append(per_check(before, hubs[name].work()))
            print(f"round {round_index + 1}/{args.runs} done", flush=True)
        for key, listed in runs.items():
            results.measured[key] = Measured(RunSummary.of(listed), medians(cpu[key]))
            results.work[key] = medians(work[key])
        for program_id in args.programs:
            for concurrency in loads:
                for name in names:
                    _print_line(
                        name,
                        program_id,
                        concurrency,
                        results.measured[name, program_id, concurrency],
                    )
                    print(f"{'':<18} {_work(results.work[name, program_id, concurrency])}")


SECURITY_FRAMES = {
    "token check (`AuthenticationInterceptor.admit`, with `verify_token`)": (
        "AuthenticationInterceptor.admit (",
    ),
    "of which signature and claims (`verify_token`)": ("verify_token (",),
    "authorization (`authorize_check`)": ("authorize_check (",),
    "rate-limit bucket (`RateLimitInterceptor.admit`)": ("RateLimitInterceptor.admit (",),
    "deadline check (`RequireDeadlineInterceptor.admit`; insecure hubs run it too)": (
        "RequireDeadlineInterceptor.admit (",
    ),
    "handler lookup through every interceptor (`intercept_service`, per call)": (
        ".intercept_service (",
    ),
}
"""What the profile of the secure hub is searched for (py-spy frames are ``name (file:line)``):
a step is on the stack when one of its frames contains one of these strings."""

WRAPPER_FRAME = "_wrap.<locals>."
"""The coroutine each interceptor's wrapper (``adapters/interceptors/wrap.py``) adds; its own
time is counted apart."""


async def _profile(
    args: argparse.Namespace, hub: Hub, subjects: dict[str, list[str]], results: Results
) -> None:
    """py-spy the secure hub at c64 (livelihood_basket) and find the security steps in it."""
    program_id = "livelihood_basket"
    output = _stack.DEFAULT_ROOT / "profiles" / f"security-c{args.concurrency}-secure-hub.txt"
    seconds = max(args.duration, 5.0)
    async with hub.channel() as channel:
        call = hub_call(_stack.hub_stub(channel), program_id, hub.metadata)
        await closed_loop(call, subjects[program_id], concurrency=args.concurrency, duration_s=1)
        with _stack.profiled(hub.stack.hub_pid, output, seconds=seconds):
            await closed_loop(
                call, subjects[program_id], concurrency=args.concurrency, duration_s=seconds
            )
    text = output.read_text(encoding="utf-8")
    results.profile = security_shares(text)
    parsed = Profile.from_collapsed(text)
    results.profile_areas = parsed.areas
    results.profile_samples = parsed.samples
    print(f"\nsecure hub profile ({output}):", flush=True)
    for what, share in results.profile.items():
        print(f"  {share:5.1f} %  {what}", flush=True)


def security_shares(collapsed: str) -> dict[str, float]:
    """Share (%) of busy samples in which each step of SECURITY_FRAMES is on the stack, and
    in which an interceptor wrapper is the innermost Python frame (its own time)."""
    total = 0
    wrappers = "interceptor wrappers' own time (`adapters.interceptors.wrap`)"
    hits = {**dict.fromkeys(SECURITY_FRAMES, 0), wrappers: 0}
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for step, needles in SECURITY_FRAMES.items():
            if any(needle in stack for needle in needles):
                hits[step] += count
        if WRAPPER_FRAME in stack.rsplit(";", 1)[-1]:
            hits[wrappers] += count
    return {step: 100 * n / total if total else 0.0 for step, n in hits.items()}


def per_check(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Checks per coalesced group and Fetch calls per check between two readings."""
    checks = after.get("checks", 0) - before.get("checks", 0)
    groups = after.get("groups", 0) - before.get("groups", 0)
    fetches = after.get("fetches", 0) - before.get("fetches", 0)
    return {
        "checks per group": checks / groups if groups else 0.0,
        "fetches per check": fetches / checks if checks else 0.0,
    }


def _work(work: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in work.items())


async def _new_connections(hub: Hub, subjects: Sequence[str], count: int) -> NewConnections:
    """``count`` new connections, one after another, each with one Check."""
    call_metadata = hub.metadata
    connect: list[float] = []
    first: list[float] = []
    meter = hub.meter()
    meter.start()
    for index in range(count):
        started = time.perf_counter()
        # Its own subchannel pool: a new connection, not one shared with earlier channels.
        async with hub.channel(("grpc.use_local_subchannel_pool", 1)) as channel:
            await asyncio.wait_for(channel.channel_ready(), 10)
            ready = time.perf_counter()
            call = hub_call(_stack.hub_stub(channel), NEW_CONNECTION_PROGRAM, call_metadata)
            await call(subjects[index % len(subjects)])
            connect.append((ready - started) * 1000)
            first.append((time.perf_counter() - ready) * 1000)
    return NewConnections(Spread.of(connect), Spread.of(first), meter.per_call(count))


def _print_line(name: str, program_id: str, concurrency: int, measured: Measured) -> None:
    s = measured.summary
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in measured.cpu_ms.items())
    print(
        f"{name:<18} {program_id:<22} c{concurrency:<3} {s.per_second.show(0)}/s  "
        f"p50 {s.p50_ms.show(2)} ms  p99 {s.p99_ms.show(2)} ms  "
        f"not decided {s.errors}  CPU ms/check: {cpu}",
        flush=True,
    )


def _print_connections(name: str, connections: NewConnections) -> None:
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in connections.cpu_ms.items())
    print(
        f"{name:<18} new connection: connect {connections.connect_ms.show(2)} ms, "
        f"first Check {connections.first_check_ms.show(2)} ms, CPU ms/connection: {cpu}",
        flush=True,
    )


# --- the report ---------------------------------------------------------------------------


def _load(concurrency: int) -> str:
    return "alone" if concurrency == 1 else f"c{concurrency}"


def _cpu(measured: Measured) -> str:
    order = ("hub", "agencies", "client")
    return " · ".join(f"{measured.cpu_ms[k]:.2f}" for k in order if k in measured.cpu_ms)


def _figures(results: Results, key: tuple[str, str, int]) -> dict[str, float]:
    """The figures compared between variants, by name (medians)."""
    measured = results.measured[key]
    s = measured.summary
    return {
        "checks/s": s.per_second.median,
        "p50 ms": s.p50_ms.median,
        "p99 ms": s.p99_ms.median,
        "hub CPU ms/check": measured.cpu_ms["hub"],
        "agencies CPU ms/check": measured.cpu_ms["agencies"],
        "client CPU ms/check": measured.cpu_ms["client"],
        "checks per coalesced group": results.work[key].get("checks per group", 0.0),
        "Fetch calls per check": results.work[key].get("fetches per check", 0.0),
    }


_DIGITS = {"checks/s": 0, "checks per coalesced group": 1}
"""Decimals shown per figure (2 unless listed)."""


def _signed(value: float, digits: int) -> str:
    return f"{value:+,.{digits}f}"


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "–"


def report(args: argparse.Namespace, results: Results) -> str:
    """The Markdown section for RESULTS.md."""
    c = args.concurrency
    names = args.variants
    label = f", {args.label}" if args.label else ""
    lines = [
        f"## Single checks, insecure against secure (`bench_security`{label})",
        "",
        f"{environment_line()}. Population: {results.population}. Layout as `bench_check` "
        "(agencies, hub and client each in a process; two agency processes over the same "
        "files, one plaintext and one mutual TLS; one hub per variant, all running, measured "
        f"in turn). {args.runs} interleaved rounds (variant order rotated each round); each "
        f"figure is the median over rounds (lowest–highest). Alone: {args.checks} sequential "
        f"checks per run; c{c}: {c} calls in flight for {args.duration:g} s per run; "
        f"{CELL_WARM_UP_S:g} s unmeasured load before each run. Steady state: client and "
        "agency connections open, handshakes done. Security material (demo PKI, P-256 "
        f"certificates; Ed25519 client key; demo organisation, 100,000/s rate limit): "
        f"{results.material}. The client minted {results.tokens_minted} token(s) "
        f"(ttl {TOKEN_TTL_S} s, renewed at half-life) and sent one with every call. Other "
        f"processes on the machine used {results.others_cores:.2f} cores on average while "
        "the rounds ran.",
        "",
        "Variants: `insecure` = plaintext, no tokens (the other sections' hub); `client-tls` "
        "= TLS on the client port only; `tls` = client TLS + mutual TLS to agencies that "
        "admit only the hub's certificate; `secure` = `tls` + bearer token verified per call "
        "+ authorization + rate-limit bucket (`sakha demo`'s hub). Each variant is a "
        "configuration of the hub's own `security:` switches.",
        "",
    ]
    lines += _headline(args, results)
    lines += _split(args, results)
    lines += _profile_lines(args, results)
    lines += _all_variants(args, results, names)
    lines += _extras(results, names)
    return "\n".join(lines)


def _headline(args: argparse.Namespace, results: Results) -> list[str]:
    rows = []
    for program_id in args.programs:
        for concurrency in (1, args.concurrency):
            insecure = _figures(results, ("insecure", program_id, concurrency))
            secure = _figures(results, ("secure", program_id, concurrency))
            for figure in HEADLINE_FIGURES:
                digits = _DIGITS.get(figure, 2)
                rows.append(
                    (
                        program_id,
                        _load(concurrency),
                        figure,
                        f"{insecure[figure]:,.{digits}f}",
                        f"{secure[figure]:,.{digits}f}",
                        _signed(secure[figure] - insecure[figure], digits),
                        _ratio(secure[figure], insecure[figure]),
                    )
                )
    headers = ("program", "load", "figure", "insecure", "secure", "Δ", "secure ÷ insecure")
    return ["### Secure against insecure (medians)", "", markdown_table(headers, rows), ""]


HEADLINE_FIGURES = (
    "checks/s",
    "p50 ms",
    "p99 ms",
    "hub CPU ms/check",
    "agencies CPU ms/check",
    "client CPU ms/check",
    "checks per coalesced group",
    "Fetch calls per check",
)


def _split(args: argparse.Namespace, results: Results) -> list[str]:
    names = list(args.variants)
    steps = list(itertools.pairwise(names))
    if len(steps) < 2:
        return []
    every = len(names) == len(VARIANTS)
    titles = [STEP_NAMES[after] if every else f"{before} → {after}" for before, after in steps]
    headers = ("program", "load", "figure", *titles, "total")
    rows = []
    for program_id in args.programs:
        for concurrency in (1, args.concurrency):
            by = {
                name: _figures(results, (name, program_id, concurrency)) for name in args.variants
            }
            for figure in HEADLINE_FIGURES:
                digits = _DIGITS.get(figure, 2)
                cells = [
                    _signed(by[after][figure] - by[before][figure], digits)
                    for before, after in steps
                ]
                total = by["secure"][figure] - by["insecure"][figure]
                rows.append(
                    (program_id, _load(concurrency), figure, *cells, _signed(total, digits))
                )
    return [
        "### Where the overhead comes from (each step adds one part; Δ of medians)",
        "",
        "Steps smaller than the spread of the figures below are noise; CPU is read from "
        "/proc in 10 ms ticks, over whole runs.",
        "",
        markdown_table(headers, rows),
        "",
    ]


def _profile_lines(args: argparse.Namespace, results: Results) -> list[str]:
    if not results.profile:
        return []
    c = args.concurrency
    hub_ms = results.measured["secure", "livelihood_basket", c].cpu_ms["hub"]
    rows = [
        (what, f"{share:.1f} %", f"{share / 100 * hub_ms:.3f}")
        for what, share in results.profile.items()
    ]
    areas = [(f"`{spot.function}`", f"{spot.percent:.1f} %") for spot in results.profile_areas]
    return [
        f"### Inside the secure hub (py-spy, livelihood_basket at c{c}, "
        f"{results.profile_samples:,} busy samples)",
        "",
        "Inclusive share of the hub's busy samples in which each step runs, and what that "
        f"share is of the secure hub's {hub_ms:.2f} CPU ms per check (a rough translation: "
        "a sample is a thread seen busy, not exact CPU). TLS runs in gRPC's native code "
        "(the areas below), which py-spy cannot split from the rest of gRPC's work.",
        "",
        markdown_table(("step", "share of samples", "≈ CPU ms/check"), rows),
        "",
        markdown_table(("self time by area", "share"), areas),
        "",
    ]


def _all_variants(args: argparse.Namespace, results: Results, names: Sequence[str]) -> list[str]:
    headers = (
        "program",
        "load",
        "variant",
        "checks/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/check hub · agencies · client",
        "checks per group",
        "Fetch calls per check",
        "not decided",
    )
    rows = []
    for program_id in args.programs:
        for concurrency in (1, args.concurrency):
            for name in names:
                measured = results.measured[name, program_id, concurrency]
                s = measured.summary
                rows.append(
                    (
                        program_id,
                        _load(concurrency),
                        name,
                        s.per_second.show(0),
                        s.p50_ms.show(2),
                        s.p99_ms.show(2),
                        _cpu(measured),
                        f"{results.work[name, program_id, concurrency]['checks per group']:.1f}",
                        f"{results.work[name, program_id, concurrency]['fetches per check']:.2f}",
                        str(s.errors),
                    )
                )
    return ["### Every variant, median (lowest–highest)", "", markdown_table(headers, rows), ""]


def _extras(results: Results, names: Sequence[str]) -> list[str]:
    micro = [(what, spread.show(1)) for what, spread in results.micro_us.items()]
    connection_rows = []
    for name in names:
        connections = results.connections[name]
        connection_rows.append(
            (
                name,
                connections.connect_ms.show(2),
                connections.first_check_ms.show(2),
                " · ".join(f"{connections.cpu_ms[k]:.2f}" for k in ("hub", "agencies", "client")),
                f"{results.start_s[name]:.2f}",
            )
        )
    return [
        "### Per-call and per-token costs, in-process (µs, median of 5 timings)",
        "",
        "The hub verifies each distinct token once and remembers the verdict until the token "
        "expires, so a client that reuses its token pays the verification once; minting per "
        "call, as the CLI does per command, pays a mint and a verification on every call.",
        "",
        markdown_table(("step", "µs"), micro),
        "",
        "### New connections and hub start-up (handshakes, outside the steady state above)",
        "",
        "Each new client connection: connect (TCP, plus the TLS handshake where there is "
        f"one) and then a first `{NEW_CONNECTION_PROGRAM}` Check, one after another, "
        "median (lowest–highest); CPU per connection includes the first Check. Hub start-up "
        "(one sample) includes opening and describing the 30 agency channels, each a "
        "mutual-TLS handshake where agency mTLS is on.",
        "",
        markdown_table(
            (
                "variant",
                "connect ms",
                "first Check ms",
                "CPU ms/connection hub · agencies · client",
                "hub start-up s",
            ),
            connection_rows,
        ),
    ]


# --- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_security", description=__doc__)
    parser.add_argument("--households", type=int, default=_stack.DEMO_HOUSEHOLDS)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: /tmp/sakha-bench")
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--checks", type=int, default=500, help="checks per sequential run")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per concurrent run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--programs", type=lambda text: text.split(","), default=list(PROGRAMS), metavar="IDS"
    )
    parser.add_argument(
        "--variants",
        type=lambda text: text.split(","),
        default=list(VARIANTS),
        metavar="NAMES",
        help=f"comma-separated, of {', '.join(VARIANTS)}; insecure and secure are required",
    )
    parser.add_argument("--connections", type=int, default=100, help="new connections per hub")
    parser.add_argument("--micro-calls", type=int, default=2000, help="calls per µs timing")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the secure hub at c64 (py-spy needed)"
    )
    parser.add_argument("--label", default="", help="names this run's section of RESULTS.md")
    parser.add_argument("--record", action="store_true", help="write the section of RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="RESULTS.md to write")
    args = parser.parse_args(argv)
    unknown = set(args.variants) - set(VARIANTS)
    if unknown or not {"insecure", "secure"} <= set(args.variants):
        parser.error(f"--variants: of {', '.join(VARIANTS)}, with insecure and secure")
    args.variants = [name for name in VARIANTS if name in args.variants]
    unknown = set(args.programs) - set(PROGRAMS)
    if unknown:
        parser.error(f"unknown programs {sorted(unknown)}; known: {sorted(PROGRAMS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print its figures and optionally record them."""
    args = parse_args(argv)
    results = _stack.run_benchmark(run(args))
    text = report(args, results)
    print("\n" + text)
    if args.record:
        name = "bench_security" + (f"-{args.label}" if args.label else "")
        record_section(name, text, args.results)


if __name__ == "__main__":
    main()
