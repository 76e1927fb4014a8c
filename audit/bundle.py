"""Export bundles: a self-contained folder an auditor verifies with the public key alone.

Layout (every text file UTF-8, one item per line, each line ending in ``\\n``)::

    manifest.json          origin, range, counts, SHA-256 of every other file (written last)
    entries.jsonl          entry i of the range on line i - start: exactly its canonical bytes
    leaves.txt             the hex leaf hash of each line of entries.jsonl, line for line
    prefix.txt             when start > 0: "<level> <index> <hex>" perfect-subtree hashes
                           covering [0, start), the tree's left edge before the range
    checkpoints/<size>.note   each signed checkpoint note up to the range's end, as issued
    consistency/<a>-<b>.txt   the RFC 9162 consistency proof between consecutive checkpoints,
                              one hex hash a line

**Ranges.** A bundle of ``[start, stop)`` stays verifiable without the entries before
``start``: ``prefix.txt`` holds the O(log n) hashes that, with the range's entries, give the root
at every checkpoint size in the range, and those roots are checked against the signed ones —
a wrong prefix hash cannot match a signed root. Checkpoints before ``start`` are joined to the
recomputed ones by the consistency proofs. ``stop`` is rounded up to the next checkpoint size
(entries after the newest checkpoint are under no signature and are not exported; issue a
checkpoint first), so every exported entry lies under a signed root.

The manifest is not signed — anyone can rewrite it — so it catches accidents and clumsy edits
and names the file; the signed roots are what catch a careful forger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import pairwise, zip_longest
from pathlib import Path
from typing import TypeGuard

from audit.errors import AuditError
from audit.merkle import HASH_SIZE, leaf_hash
from audit.merkle_store import Frontier, NodeKey
from audit.store import AuditStore, StoredCheckpoint
from audit.verify import Finding, Head, SourceEntry, SourceNote, Tamper

FORMAT = "sakha-audit-bundle/1"
"""The ``format`` field of the manifest this module writes and reads."""

MANIFEST = "manifest.json"
ENTRIES = "entries.jsonl"
LEAVES = "leaves.txt"
PREFIX = "prefix.txt"
CHECKPOINTS = "checkpoints"
CONSISTENCY = "consistency"


class BundleError(AuditError):
    """A bundle cannot be written as asked, or a folder is not a bundle at all."""


def export_bundle(
    store: AuditStore, out_dir: Path, *, start: int = 0, stop: int | None = None
) -> dict[str, object]:
    """Write the bundle of entries ``[start, stop)`` of ``store`` into ``out_dir``.

    ``stop`` is rounded up to the next checkpoint size; None means the newest checkpoint.
    ``out_dir`` must not exist or be empty. Returns the manifest written.

    Raises:
        BundleError: no checkpoint covers the range, the range is empty or reversed,
            ``out_dir`` is not empty, or the store's entries are not dense.
    """
    checkpoints = store.checkpoints()
    end = _end_of_range(checkpoints, start, stop)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BundleError(f"{out_dir} is not empty")
    (out_dir / CHECKPOINTS).mkdir(parents=True)
    (out_dir / CONSISTENCY).mkdir()
    included = [c for c in checkpoints if c.size <= end]
    if start:
        _write_lines(out_dir / PREFIX, _prefix_lines(store, start))
    _write_entries(store, out_dir, start, end)
    for checkpoint in included:
        (out_dir / CHECKPOINTS / f"{checkpoint.size}.note").write_bytes(checkpoint.note)
    for small, large in pairwise(included):
        proof = store.consistency_proof(small.size, large.size)
        _write_lines(
            out_dir / CONSISTENCY / f"{small.size}-{large.size}.txt", (h.hex() for h in proof)
        )
    manifest: dict[str, object] = {
        "format": FORMAT,
        "origin": store.origin,
        "start": start,
        "stop": end,
        "requested_stop": stop,
        "complete": stop is None,
        "entries": end - start,
        "checkpoints": [c.size for c in included],
        "files": {name: _sha256(out_dir / name) for name in _files(out_dir)},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _end_of_range(checkpoints: Sequence[StoredCheckpoint], start: int, stop: int | None) -> int:
    """The smallest checkpoint size at or after ``stop`` (the newest when None)."""
    if not checkpoints:
        raise BundleError("the log has no checkpoint yet: issue one before exporting")
    sizes = [c.size for c in checkpoints]
    wanted = sizes[-1] if stop is None else stop
    end = next((size for size in sizes if size >= wanted), None)
    if end is None:
        raise BundleError(
            f"no checkpoint covers index {wanted - 1} yet (newest: {sizes[-1]}); issue one first"
        )
    if not 0 <= start < end:
        raise BundleError(f"the range [{start}, {end}) is empty or starts below 0")
    return end


def _write_entries(store: AuditStore, out_dir: Path, start: int, end: int) -> None:
    """entries.jsonl and leaves.txt, refusing a gap in the store's indexes."""
    expected = start
    with (out_dir / ENTRIES).open("wb") as entries, (out_dir / LEAVES).open("w") as leaves:
        for index, data in store.entries(start, end):
            if index != expected or b"\n" in data:
                raise BundleError(f"entry {expected} is missing or not one line: verify the log")
            entries.write(data + b"\n")
            leaves.write(leaf_hash(data).hex() + "\n")
            expected += 1
    if expected != end:
        raise BundleError(f"the store holds entries up to {expected}, not {end}: verify the log")


def _prefix_lines(store: AuditStore, start: int) -> Iterator[str]:
    """The perfect subtrees covering ``[0, start)``, recomputed from the entries before it."""
    wanted = set(prefix_keys(start))
    found: dict[NodeKey, bytes] = {}
    frontier = Frontier()
    for _, data in store.entries(0, start):
        completed = frontier.append(leaf_hash(data))
        found.update((key, value) for key, value in completed.items() if key in wanted)
    if frontier.size != start:
        raise BundleError(f"the store holds {frontier.size} entries before {start}: verify it")
    return (f"{level} {index} {found[level, index].hex()}" for level, index in prefix_keys(start))


def prefix_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees covering ``[0, size)``, largest (leftmost) first."""
    keys: list[NodeKey] = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, offset >> level))
            offset += 1 << level
    return keys


def _write_lines(path: Path, lines: Iterator[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def _files(root: Path) -> list[str]:
    """Every file under ``root`` but the manifest, as sorted POSIX relative paths."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() != MANIFEST
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BundleSource:
    """A :class:`~audit.verify.LogSource` over a bundle folder, its manifest checked first.

    Raises:
        BundleError: the folder has no readable manifest of this format.
    """

    def __init__(self, path: Path) -> None:
        """Read the manifest and the small files (prefix, proofs) of the bundle at ``path``."""
        self._path = path
        manifest = _read_manifest(path)
        self.origin = manifest.origin
        """The log the manifest says the bundle is of."""
        self._start = manifest.start
        self._stop = manifest.stop
        self._complete = manifest.complete
        self._files = manifest.files
        self._problems: list[Finding] = []
        self._prefix = self._read_prefix() if self._start else {}
        self._proofs = self._read_proofs()

    @property
    def start(self) -> int:
        """The first index in the bundle."""
        return self._start

    @property
    def complete(self) -> bool:
        """Whether the bundle was exported up to the log's newest checkpoint."""
        return self._complete

    def prefix(self) -> Mapping[NodeKey, bytes]:
        """The hashes of prefix.txt."""
        return self._prefix

    def head(self) -> Head:
        """The manifest's end of range (its root is a checkpoint's, checked as such)."""
        return Head(self._stop, None)

    def entries(self) -> Iterator[SourceEntry]:
        """The lines of entries.jsonl, each with the leaf hash on the same line of leaves.txt."""
        entries_path, leaves_path = self._path / ENTRIES, self._path / LEAVES
        if not entries_path.is_file():
            return
        with ExitStack() as stack:
            entries = stack.enter_context(entries_path.open("rb"))
            leaves: Iterable[bytes] = (
                stack.enter_context(leaves_path.open("rb")) if leaves_path.is_file() else ()
            )
            for offset, (line, leaf_line) in enumerate(zip_longest(entries, leaves)):
                if line is None:
                    return
                data = line[:-1] if line.endswith(b"\n") else line
                yield SourceEntry(self._start + offset, data, _hex(leaf_line))

    def checkpoint_notes(self) -> Sequence[SourceNote]:
        """The files of checkpoints/, by size."""
        folder = self._path / CHECKPOINTS
        paths = sorted(folder.glob("*.note"), key=_size_key) if folder.is_dir() else []
        return [SourceNote(f"{CHECKPOINTS}/{p.name}", p.read_bytes()) for p in paths]

    def consistency_proofs(self) -> Mapping[tuple[int, int], Sequence[bytes]]:
        """The well-formed proofs of consistency/, by ``(smaller, larger)`` size."""
        return self._proofs

    def problems(self) -> Sequence[Finding]:
        """Files added, missing or changed since the manifest, and unreadable small files."""
        on_disk = set(_files(self._path))
        listed = set(self._files)
        findings = [
            _file_finding(name, "is listed in the manifest but missing")
            for name in sorted(listed - on_disk)
        ]
        findings.extend(
            _file_finding(name, "is not in the manifest") for name in sorted(on_disk - listed)
        )
        findings.extend(
            _file_finding(name, "does not have the SHA-256 the manifest lists")
            for name in sorted(listed & on_disk)
            if _sha256(self._path / name) != self._files[name]
        )
        return [*findings, *self._problems]

    def _read_prefix(self) -> dict[NodeKey, bytes]:
        nodes: dict[NodeKey, bytes] = {}
        for number, line in enumerate(self._lines(PREFIX), 1):
            parts = line.split(" ")
            value = _hex(parts[2]) if len(parts) == 3 else None
            if value is None or not all(p.isdigit() for p in parts[:2]):
                self._malformed(PREFIX, f"line {number} is not '<level> <index> <hex hash>'")
                return {}
            nodes[int(parts[0]), int(parts[1])] = value
        return nodes

    def _read_proofs(self) -> dict[tuple[int, int], list[bytes]]:
        proofs: dict[tuple[int, int], list[bytes]] = {}
        folder = self._path / CONSISTENCY
        for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
            name = f"{CONSISTENCY}/{path.name}"
            small, dash, large = path.stem.partition("-")
            hashes = [_hex(line) for line in self._lines(name)]
            if not (dash and small.isdigit() and large.isdigit()) or None in hashes:
                self._malformed(name, "is not '<a>-<b>.txt' of hex hashes, one a line")
                continue
            proofs[int(small), int(large)] = [h for h in hashes if h is not None]
        return proofs

    def _lines(self, name: str) -> list[str]:
        path = self._path / name
        try:
            return path.read_text("utf-8").splitlines() if path.is_file() else []
        except UnicodeDecodeError:
            self._malformed(name, "is not UTF-8")
            return []

    def _malformed(self, name: str, problem: str) -> None:
        self._problems.append(Finding(Tamper.MALFORMED_BUNDLE, f"{name} {problem}", where=name))


@dataclass(frozen=True)
class _Manifest:
    """The fields of manifest.json a reader relies on."""

    origin: str
    start: int
    stop: int
    complete: bool
    files: dict[str, str]


def _read_manifest(path: Path) -> _Manifest:
    """Read and type-check manifest.json."""
    where = path / MANIFEST
    try:
        raw = json.loads(where.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise BundleError(f"{path} has no readable {MANIFEST}: {error}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(f"{where} is not a {FORMAT} manifest")
    origin, start, stop = raw.get("origin"), raw.get("start"), raw.get("stop")
    complete, files = raw.get("complete"), raw.get("files")
    if not (
        isinstance(origin, str)
        and _is_count(start)
        and _is_count(stop)
        and isinstance(complete, bool)
        and isinstance(files, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        raise BundleError(f"{where}: origin, start, stop, complete or files is missing or wrong")
    return _Manifest(origin, start, stop, complete, dict(files))


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _file_finding(name: str, problem: str) -> Finding:
    return Finding(Tamper.BUNDLE_FILE_MISMATCH, f"{name} {problem}", where=name)


def _size_key(path: Path) -> tuple[int, str]:
    return (int(path.stem), path.name) if path.stem.isdigit() else (-1, path.name)


def _hex(text: str | bytes | None) -> bytes | None:
    """A hex hash line as bytes, or None when absent or not a hash."""
    if text is None:
        return None
    line = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    try:
        value = bytes.fromhex(line.strip())
    except ValueError:
        return None
    return value if len(value) == HASH_SIZE else None
