"""Figures for the benchmarks: percentiles, medians with their spread, tables, RESULTS.md.

Nothing here starts a process or touches the network: the stack lives in :mod:`bench._stack`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolating between ranks.

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside 0-100.
    """
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Spread:
    """The median of several runs' figures, with the lowest and highest."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        """Summarise one figure measured once per run.

        Raises:
            ValueError: no values.
        """
        listed = list(values)
        return cls(percentile(listed, 50), min(listed), max(listed))

    def ratio(self, baseline: Spread) -> float:
        """``self.median / baseline.median`` (inf when the baseline is zero)."""
        return self.median / baseline.median if baseline.median else math.inf

    def show(self, digits: int = 0, unit: str = "") -> str:
        """``median (low–high)`` with thousands separators, e.g. ``1,234 (1,200–1,260)``."""
        suffix = f" {unit}" if unit else ""
        return f"{self.median:,.{digits}f}{suffix} ({self.low:,.{digits}f}–{self.high:,.{digits}f})"


def medians(per_run: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The median over runs of each named figure (the names of the first run)."""
    return {name: percentile([run[name] for run in per_run], 50) for name in per_run[0]}


@dataclass(frozen=True)
class Run:
    """One timed run of a load: how many calls finished, how long it took, their latencies."""

    calls: int
    errors: int
    elapsed_s: float
    latencies_ms: tuple[float, ...]

    @property
    def per_second(self) -> float:
        """Calls finished per second of the run."""
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency(self, q: float) -> float:
        """The ``q``-th percentile latency in ms (0 when no latency was recorded)."""
        return percentile(self.latencies_ms, q) if self.latencies_ms else 0.0


@dataclass(frozen=True)
class RunSummary:
    """Several runs of one load summarised: throughput, p50 and p99, each with its spread."""

    runs: int
    per_second: Spread
    p50_ms: Spread
    p99_ms: Spread
    errors: int

    @classmethod
    def of(cls, runs: Sequence[Run]) -> RunSummary:
        """Medians over ``runs`` of each run's own throughput and percentiles."""
        return cls(
            runs=len(runs),
            per_second=Spread.of(r.per_second for r in runs),
            p50_ms=Spread.of(r.latency(50) for r in runs),
            p99_ms=Spread.of(r.latency(99) for r in runs),
            errors=sum(r.errors for r in runs),
        )


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def environment_line() -> str:
    """When and on what the figures were measured: date, commit, CPU, cores, versions."""
    import grpc  # noqa: PLC0415 - only needed when a result is written

    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no")
    changed = [line.split(maxsplit=1)[-1] for line in status.splitlines()]
    dirty = f" with uncommitted changes to {', '.join(changed)}" if changed else ""
    return (
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit {commit}{dirty}; "
        f"{_cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"grpcio {grpc.__version__}"
    )


def _git(*args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", *args],  # noqa: S607 - git from PATH is what a developer runs
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown CPU"


def publish(section: str, text: str, *, record: bool) -> None:
    """Print a benchmark's RESULTS.md section and, when ``record``, write it there."""
    print("\n" + text)
    if record:
        record_section(section, text)
        print(f"recorded in {os.path.relpath(RESULTS_PATH)}")


def record_section(name: str, body: str, path: Path = RESULTS_PATH) -> None:
    """Replace section ``name`` of RESULTS.md with ``body`` (appended when new).

    A section runs from ``<!-- name:start -->`` to ``<!-- name:end -->``; everything outside
    the markers is left as it is.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


@dataclass(frozen=True)
class HotSpot:
    """A function and the share of the profiled process's busy samples it accounts for."""

    function: str
    percent: float


@dataclass(frozen=True)
class Profile:
    """Hot spots read from py-spy's collapsed stacks (``--format raw``)."""

    samples: int
    self_time: tuple[HotSpot, ...]
    """Functions by samples in which they were the innermost frame."""
    inclusive: tuple[HotSpot, ...]
    """Sakha's own functions (:data:`OUR_PACKAGES`) by samples in which they were on the stack."""
    areas: tuple[HotSpot, ...]
    """Self time grouped by where the code lives (gRPC, protobuf, asyncio, Sakha module…)."""
    lines: tuple[HotSpot, ...]
    """Sakha's own lines by samples in which they were the innermost frame."""

    @classmethod
    def from_collapsed(cls, text: str, top: int = 8) -> Profile:
        """Parse lines of ``frame;frame;… count`` (outermost frame first)."""
        leaf: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        areas: Counter[str] = Counter()
        lines: Counter[str] = Counter()
        total = 0
        for line in text.splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            raw = [f.strip() for f in stack.split(";") if "(" in f]
            frames = [_function(f) for f in raw]
            if not frames:
                continue
            total += count
            if _is_ours(frames[-1]):
                lines[raw[-1]] += count
            leaf[frames[-1]] += count
            areas[_area(frames[-1])] += count
            for function in set(frames):
                if _is_ours(function):
                    inclusive[function] += count

        def spots(counter: Counter[str]) -> tuple[HotSpot, ...]:
            return tuple(
                HotSpot(name, 100 * n / total) for name, n in counter.most_common(top) if total
            )

        return cls(total, spots(leaf), spots(inclusive), spots(areas), spots(lines))

    def markdown(self) -> str:
        """Four small tables: self time by function, by area and by line; inclusive time."""
        parts = [f"{self.samples:,} busy samples."]
        for title, spots in (
            ("self time (innermost frame)", self.self_time),
            ("inclusive time, Sakha's own functions", self.inclusive),
            ("self time by area", self.areas),
            ("self time by line, Sakha's code", self.lines),
        ):
            rows = [(f"`{s.function}`", f"{s.percent:.1f} %") for s in spots]
            parts.append(markdown_table((title, "share"), rows))
        return "\n\n".join(parts)


_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")

OUR_PACKAGES = ("gateway", "adapters", "consent", "audit")
"""Sakha's own code, as py-spy names its files."""

_NATIVE_LEAVES = {
    "Handle._run (asyncio/events.py)": "gRPC aio in C/Cython, run as event-loop callbacks "
    "(message (de)serialisation, send/receive)",
    "Thread.run (threading.py)": "gRPC poller thread in C (completion queue, socket I/O)",
    "EpollSelector.select (selectors.py)": "event loop in epoll",
}
"""Leaves py-spy shows when native code runs below them, and what that code is."""


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (path/file.py)``: one entry per function."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match.group('name')} ({match.group('file')})"


def _is_ours(function: str) -> bool:
    return any(f"({package}/" in function for package in OUR_PACKAGES)


def _area(function: str) -> str:
    """Where a leaf's time goes, coarsely: Sakha's module, native gRPC, or the package."""
    if function in _NATIVE_LEAVES:
        return _NATIVE_LEAVES[function]
    file = function.rsplit("(", 1)[-1].rstrip(")")
    if file.startswith(tuple(f"{package}/" for package in OUR_PACKAGES)):
        return file
    if file == "<string>":
        return "generated dataclass methods (<string>)"
    return file.split("/", 1)[0]
