"""Offline verification of an audit log: no server, no secret, one pass over the entries.

:func:`verify_log` reads a :class:`LogSource` — the entries' bytes in index order, the signed
checkpoints and, where the source has them, the leaf hashes and head it stored — and checks,
with nothing but the log's verifier key and, optionally, a checkpoint the auditor trusts:

- every signature and origin of every checkpoint note;
- that indexes are dense, and every entry is an entry's exact canonical bytes;
- every leaf hash and the root at every checkpoint size, recomputed in one pass through a
  :class:`~audit.merkle_store.Frontier` (O(n) time, O(log n) memory beyond one root per
  checkpoint), against the signed roots and the source's stored leaves and head;
- that no two signed checkpoints contradict each other (equivocation), and the consistency
  proofs a bundle carries between them;
- that the log still contains the trusted checkpoint: otherwise it was truncated, restored
  from an older copy or forked. Without one, truncation is undetectable and the report says so.

The report names the first bad index and the kind of tampering (:class:`Tamper`). A modified
entry is named exactly when the source has the stored leaf hash to compare with; when an
attacker rewrote the stored hashes too, only the signed root catches it, and the report gives
the range of indexes between the last good checkpoint and the first bad one.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import sqlalchemy as sa

from audit.checkpoint import (
    Checkpoint,
    EquivocationError,
    MalformedCheckpointError,
    WrongOriginError,
    check_consistent,
    open_checkpoint,
)
from audit.entry import EntryError, entry_from_canonical
from audit.errors import AuditError
from audit.merkle import MerkleError, leaf_hash
from audit.merkle_store import Frontier, NodeKey
from audit.note import InvalidSignatureError, NoteError, UnverifiedNoteError, Verifier
from audit.store import AuditStore
from audit.store.tables import audit_entries

PROGRESS_EVERY = 10_000
"""How many entries pass between two calls of the progress callback."""

TRACKED_MISMATCHES = 64
"""How many leaf mismatches are kept to tell a modification from a swap or a shift."""

_PAGE = 5_000


class VerifyError(AuditError):
    """Verification cannot run as asked (the trusted checkpoint itself does not open)."""


class Tamper(enum.StrEnum):
    """The kind of tampering (or damage) a finding reports (stable codes)."""

    ENTRY_MODIFIED = "ENTRY_MODIFIED"
    """An entry's bytes no longer hash to the leaf the log stored for it."""
    ENTRIES_REORDERED = "ENTRIES_REORDERED"
    """Entries changed places (two leaves swapped, or an index goes backwards)."""
    ENTRY_MISSING = "ENTRY_MISSING"
    """An index is missing: a gap, a removed line, or fewer entries than the head counts."""
    ENTRY_ADDED = "ENTRY_ADDED"
    """An entry was inserted, or there are more entries than the head counts."""
    DUPLICATE_INDEX = "DUPLICATE_INDEX"
    """Two entries carry one index."""
    NOT_CANONICAL = "NOT_CANONICAL"
    """An entry's bytes are not an entry's RFC 8785 canonical form."""
    HEAD_MISMATCH = "HEAD_MISMATCH"
    """The source's stored head root is not the root of its entries."""
    CHECKPOINT_SIGNATURE_INVALID = "CHECKPOINT_SIGNATURE_INVALID"
    """The log key's signature on a checkpoint fails: the note was altered or forged."""
    CHECKPOINT_ROOT_MISMATCH = "CHECKPOINT_ROOT_MISMATCH"
    """A signed root differs from the entries' root: an entry below it was altered."""
    WRONG_ORIGIN = "WRONG_ORIGIN"
    """A checkpoint is of another log."""
    WRONG_KEY = "WRONG_KEY"
    """A checkpoint carries no signature by the log's key."""
    MALFORMED_NOTE = "MALFORMED_NOTE"
    """A checkpoint note is not a signed note, or its text is not a checkpoint."""
    EQUIVOCATION = "EQUIVOCATION"
    """Two checkpoints signed by the log's key cannot both be true."""
    CONSISTENCY_PROOF_INVALID = "CONSISTENCY_PROOF_INVALID"
    """A consistency proof between two checkpoints is missing or does not verify."""
    TRUNCATED = "TRUNCATED"
    """The log is shorter than the trusted checkpoint: truncated or restored from a copy."""
    FORKED = "FORKED"
    """The log's entries below the trusted checkpoint's size are not the ones it signed."""
    BUNDLE_FILE_MISMATCH = "BUNDLE_FILE_MISMATCH"
    """A bundle file was added, removed or changed since the manifest was written."""
    MALFORMED_BUNDLE = "MALFORMED_BUNDLE"
    """A bundle file cannot be read as its format says."""


class Caveat(enum.StrEnum):
    """What a clean report does not prove."""

    TRUNCATION_UNDETECTABLE = "TRUNCATION_UNDETECTABLE"
    """No trusted checkpoint: a truncated log, or an older copy, would verify."""
    UNSIGNED_TAIL = "UNSIGNED_TAIL"
    """Entries after the last confirmed checkpoint are under no signature yet."""
    TRUSTED_OUTSIDE_RANGE = "TRUSTED_OUTSIDE_RANGE"
    """The trusted checkpoint lies outside a partial source's range and was not checked."""


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the log.

    Attributes:
        kind: what kind of tampering this is.
        message: what was found, for people.
        index: the first bad entry's index, when it can be named.
        stop: with ``index``, the bad entry lies somewhere in ``[index, stop)``; None when
            ``index`` is exactly the bad one.
        where: the checkpoint or file concerned ("" for the entries).
        evidence: signed notes that prove it (both notes of an equivocation).
    """

    kind: Tamper
    message: str
    index: int | None = None
    stop: int | None = None
    where: str = ""
    evidence: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_log` found; the log verifies when there are no findings.

    Attributes:
        origin: the log checked.
        start: the first index the source holds (0 for a whole log).
        end: one past the last index read in order.
        checkpoints: how many signed roots were confirmed by recomputation or proof.
        latest: the largest checkpoint whose root was recomputed and matched.
        findings: everything wrong, in the order checked.
        caveats: what a clean result does not prove.
    """

    origin: str
    start: int
    end: int
    checkpoints: int
    latest: Checkpoint | None
    findings: tuple[Finding, ...]
    caveats: tuple[Caveat, ...]

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong (the caveats still apply)."""
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The finding that names the lowest entry index, else the first finding, else None.

        A range finding (a root mismatch over ``[index, stop)``) gives way to an exact one
        whose index lies in its range: that is the entry the range was hiding.
        """
        exact = [f.index for f in self.findings if f.index is not None and f.stop is None]
        indexed = [
            f
            for f in self.findings
            if f.index is not None
            and not (f.stop is not None and any(f.index <= i < f.stop for i in exact))
        ]
        if indexed:
            return min(indexed, key=lambda f: (f.index or 0, f.stop is not None))
        return self.findings[0] if self.findings else None

    @property
    def first_bad_index(self) -> int | None:
        """The lowest entry index any finding names."""
        first = self.first
        return None if first is None else first.index

    def describe(self) -> str:
        """The report as text for people, one line per finding and caveat."""
        verdict = "FAILED" if self.findings else "OK"
        lines = [
            f"{self.origin}: {verdict} — entries [{self.start}, {self.end}),"
            f" {self.checkpoints} signed checkpoint(s) confirmed"
        ]
        first = self.first
        if first is not None and first.index is not None:
            lines.append(f"first bad index: {first.index} ({first.kind})")
        lines.extend(f"  {f.kind}: {f.message}" for f in self.findings)
        lines.extend(f"  caveat {c}: {_CAVEAT_TEXT[c]}" for c in self.caveats)
        return "\n".join(lines)


_CAVEAT_TEXT = {
    Caveat.TRUNCATION_UNDETECTABLE: "no trusted checkpoint was given, so a truncated log or an"
    " older copy would also verify",
    Caveat.UNSIGNED_TAIL: "entries after the last confirmed checkpoint are under no signature",
    Caveat.TRUSTED_OUTSIDE_RANGE: "the trusted checkpoint lies outside this partial source's"
    " range and was not checked",
}


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One entry as a source holds it: its index, its leaf data and, if stored, its leaf hash."""

    index: int
    data: bytes
    leaf: bytes | None = None


class SourceNote(NamedTuple):
    """A signed checkpoint note and where the source keeps it (for the report)."""

    where: str
    note: bytes


class Head(NamedTuple):
    """How many entries a source says it holds up to, and the root it stored for them."""

    size: int
    root: bytes | None


class LogSource(Protocol):
    """What :func:`verify_log` reads: a log's entries, checkpoints and what else it stored."""

    @property
    def start(self) -> int:
        """The first index the source holds (0 for a whole log)."""
        ...

    @property
    def complete(self) -> bool:
        """Whether the source claims to hold the log up to its newest checkpoint."""
        ...

    def prefix(self) -> Mapping[NodeKey, bytes]:
        """The perfect-subtree hashes covering ``[0, start)``; empty when ``start`` is 0."""
        ...

    def head(self) -> Head:
        """The index one past the last entry, as the source claims it, and its stored root."""
        ...

    def entries(self) -> Iterator[SourceEntry]:
        """The entries from ``start`` on, in index order."""
        ...

    def checkpoint_notes(self) -> Sequence[SourceNote]:
        """Every signed checkpoint note the source holds."""
        ...

    def consistency_proofs(self) -> Mapping[tuple[int, int], Sequence[bytes]]:
        """Consistency proofs between checkpoint sizes ``(smaller, larger)``; may be empty."""
        ...

    def problems(self) -> Sequence[Finding]:
        """What is wrong with the source's container itself (a bundle's files)."""
        ...


class StoreSource:
    """A :class:`LogSource` over the audit database: entries with their stored leaf hashes.

    Reads entries by key ranges, so a deleted row shows as a gap rather than an early end,
    and compares each recomputed leaf with the stored one and the final root with the head
    row. It only reads: a database holding no log, or another, is refused.
    """

    start = 0
    complete = True

    def __init__(self, engine: sa.Engine, *, origin: str) -> None:
        """Read the log ``origin`` in the migrated database of ``engine``."""
        self._engine = engine
        self._store = AuditStore(engine, origin=origin, create=False)

    def prefix(self) -> Mapping[NodeKey, bytes]:
        """Nothing: the store holds the log from index 0."""
        return {}

    def head(self) -> Head:
        """The head row's size and root."""
        size, root = self._store.head()
        return Head(size, root)

    def entries(self) -> Iterator[SourceEntry]:
        """Every entry row, in index order, with its stored leaf hash."""
        table = audit_entries
        after = -1
        while True:
            with self._engine.connect() as connection:
                rows = connection.execute(
                    sa.select(table.c.idx, table.c.data, table.c.leaf_hash)
                    .where(table.c.idx > after)
                    .order_by(table.c.idx)
                    .limit(_PAGE)
                ).all()
            yield from (SourceEntry(int(r.idx), bytes(r.data), bytes(r.leaf_hash)) for r in rows)
            if len(rows) < _PAGE:
                return
            after = int(rows[-1].idx)

    def checkpoint_notes(self) -> Sequence[SourceNote]:
        """Every stored checkpoint note, smallest size first."""
        return [SourceNote(f"checkpoint {c.size}", c.note) for c in self._store.checkpoints()]

    def consistency_proofs(self) -> Mapping[tuple[int, int], Sequence[bytes]]:
        """None: every root is recomputed from the entries, which proves more."""
        return {}

    def problems(self) -> Sequence[Finding]:
        """None: a database has no container to check."""
        return ()


@dataclass(frozen=True)
class _Opened:
    """A checkpoint whose note opened under the log's key."""

    where: str
    note: bytes
    checkpoint: Checkpoint


@dataclass
class _Mismatch:
    index: int
    recomputed: bytes
    stored: bytes


@dataclass
class _Scan:
    """What the pass over the entries found."""

    start: int
    end: int
    roots: dict[int, bytes]
    findings: list[Finding] = field(default_factory=list)
    broken: bool = False
    """The pass stopped at a fault in the index sequence: roots beyond ``end`` are unknown."""


def verify_log(
    source: LogSource,
    verifier: Verifier,
    *,
    origin: str,
    trusted: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
    parse_entries: bool = True,
) -> VerifyReport:
    """Verify ``source`` as the log ``origin`` signed by ``verifier``'s key.

    Args:
        source: the entries and checkpoints to check.
        verifier: the log's checkpoint key (``Verifier.parse(vkey)``).
        origin: the log's name; every checkpoint must be of it.
        trusted: a checkpoint note the auditor kept earlier; the log must still contain it.
        progress: called with (entries done, entries expected) every :data:`PROGRESS_EVERY`
            entries and at the end.
        parse_entries: parse every entry as canonical (about 5,000 entries/s); False checks
            hashes only.

    Raises:
        VerifyError: ``trusted`` does not open as a checkpoint of ``origin`` under the key.
    """
    trusted_cp = _open_trusted(trusted, verifier, origin) if trusted is not None else None
    findings = list(source.problems())
    opened: list[_Opened] = []
    for where, note in source.checkpoint_notes():
        result = _open(where, note, verifier, origin)
        if isinstance(result, Finding):
            findings.append(result)
        else:
            opened.append(result)
    sizes = {o.checkpoint.size for o in opened}
    if trusted_cp is not None:
        sizes.add(trusted_cp.checkpoint.size)
    scan = _scan(source, sizes, progress, parse_entries=parse_entries)
    findings.extend(scan.findings)
    findings.extend(_split_views(opened, trusted_cp))
    confirmed, root_findings = _check_roots(opened, scan)
    findings.extend(root_findings)
    proof_findings, proved = _check_proofs(opened, source.consistency_proofs(), set(scan.roots))
    findings.extend(proof_findings)
    caveats: list[Caveat] = []
    if trusted_cp is None:
        caveats.append(Caveat.TRUNCATION_UNDETECTABLE)
    else:
        trusted_result = _check_trusted(trusted_cp, opened, scan, complete=source.complete)
        if isinstance(trusted_result, Caveat):
            caveats.append(trusted_result)
        elif trusted_result is not None:
            findings.append(trusted_result)
    latest = max(confirmed, key=lambda o: o.checkpoint.size, default=None)
    if not scan.broken and (latest is None or latest.checkpoint.size < scan.end):
        caveats.append(Caveat.UNSIGNED_TAIL)
    return VerifyReport(
        origin=origin,
        start=scan.start,
        end=scan.end,
        checkpoints=len({o.checkpoint.size for o in confirmed} | proved),
        latest=None if latest is None else latest.checkpoint,
        findings=tuple(findings),
        caveats=tuple(caveats),
    )


def _open(where: str, note: bytes, verifier: Verifier, origin: str) -> _Opened | Finding:
    """Open one checkpoint note, or say what kind of failure it is."""
    try:
        return _Opened(where, note, open_checkpoint(note, verifier, origin=origin))
    except InvalidSignatureError as error:
        kind = Tamper.CHECKPOINT_SIGNATURE_INVALID
        message = str(error)
    except UnverifiedNoteError:
        kind = Tamper.WRONG_KEY
        message = f"not signed by {verifier.key_string}"
    except WrongOriginError as error:
        kind = Tamper.WRONG_ORIGIN
        message = str(error)
    except (NoteError, MalformedCheckpointError) as error:
        kind = Tamper.MALFORMED_NOTE
        message = str(error)
    return Finding(kind, f"{where}: {message}", where=where, evidence=(note,))


def _open_trusted(note: bytes, verifier: Verifier, origin: str) -> _Opened:
    result = _open("trusted checkpoint", note, verifier, origin)
    if isinstance(result, Finding):
        raise VerifyError(f"the trusted checkpoint does not open ({result.kind}): {result.message}")
    return result


def _scan(
    source: LogSource,
    sizes: set[int],
    progress: Callable[[int, int], None] | None,
    *,
    parse_entries: bool,
) -> _Scan:
    """One pass over the entries: leaves, roots at ``sizes``, index order, canonical form."""
    start = source.start
    head = source.head()
    total = max(head.size - start, 0)
    frontier = _prefix_frontier(source, start)
    scan = _Scan(start, start, {})
    if frontier is None:
        scan.findings.append(
            Finding(Tamper.MALFORMED_BUNDLE, f"the prefix hashes do not cover [0, {start})")
        )
        scan.broken = True
        return scan
    if start in sizes:
        scan.roots[start] = frontier.root()
    mismatches: list[_Mismatch] = []
    mismatch_count = 0
    not_canonical: list[Finding] = []
    for entry in source.entries():
        if entry.index != scan.end:
            scan.findings.append(_index_fault(entry.index, scan.end))
            scan.broken = True
            break
        leaf = leaf_hash(entry.data)
        if entry.leaf is not None and entry.leaf != leaf:
            mismatch_count += 1
            if len(mismatches) < TRACKED_MISMATCHES:
                mismatches.append(_Mismatch(entry.index, leaf, entry.leaf))
        if parse_entries and not not_canonical:
            not_canonical.extend(_parse(entry))
        frontier.append(leaf)
        scan.end += 1
        if scan.end in sizes:
            scan.roots[scan.end] = frontier.root()
        if progress is not None and (scan.end - start) % PROGRESS_EVERY == 0:
            progress(scan.end - start, total)
    if progress is not None:
        progress(scan.end - start, total)
    if mismatches:
        scan.findings.append(_classify(mismatches, mismatch_count))
    scan.findings.extend(not_canonical)
    if not scan.broken:
        scan.findings.extend(_check_head(head, scan.end, frontier.root()))
    return scan


def _prefix_frontier(source: LogSource, start: int) -> Frontier | None:
    """The tree of the ``start`` entries before the source's first, from its prefix hashes."""
    if start == 0:
        return Frontier()
    nodes = source.prefix()
    try:
        return Frontier.load(_DictNodes(nodes), start)
    except MerkleError:
        return None


class _DictNodes:
    """A :class:`~audit.merkle_store.NodeReader` over a mapping."""

    def __init__(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self._nodes = nodes

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}


def _index_fault(index: int, expected: int) -> Finding:
    """The finding for an entry at ``index`` where ``expected`` was due."""
    if index > expected:
        return Finding(
            Tamper.ENTRY_MISSING,
            f"entries [{expected}, {index}) are missing: the next entry is {index}",
            index=expected,
            stop=index,
        )
    if index == expected - 1:
        return Finding(Tamper.DUPLICATE_INDEX, f"index {index} appears twice", index=index)
    return Finding(
        Tamper.ENTRIES_REORDERED, f"index {index} follows index {expected - 1}", index=index
    )


def _parse(entry: SourceEntry) -> list[Finding]:
    """A NOT_CANONICAL finding unless ``entry`` is an entry's canonical bytes."""
    try:
        entry_from_canonical(entry.data)
    except EntryError as error:
        return [
            Finding(
                Tamper.NOT_CANONICAL,
                f"entry {entry.index} is not a canonical entry: {error}",
                index=entry.index,
            )
        ]
    return []


def _classify(mismatches: Sequence[_Mismatch], count: int) -> Finding:
    """Name the first leaf mismatch: a swap, an inserted or removed entry, or a modification."""
    first = mismatches[0]
    by_index = {m.index: m for m in mismatches}
    also = f" ({count} stored leaf hashes differ in all)" if count > 1 else ""
    for other in mismatches[1:]:
        if other.recomputed == first.stored and first.recomputed == other.stored:
            return Finding(
                Tamper.ENTRIES_REORDERED,
                f"entries {first.index} and {other.index} changed places{also}",
                index=first.index,
            )
    following = by_index.get(first.index + 1)
    if following is not None and following.recomputed == first.stored:
        return Finding(
            Tamper.ENTRY_ADDED,
            f"an entry was inserted at {first.index}; the later ones moved up{also}",
            index=first.index,
        )
    if following is not None and first.recomputed == following.stored:
        return Finding(
            Tamper.ENTRY_MISSING,
            f"entry {first.index} was removed; the later ones moved down{also}",
            index=first.index,
        )
    return Finding(
        Tamper.ENTRY_MODIFIED,
        f"entry {first.index} does not hash to its stored leaf{also}",
        index=first.index,
    )


def _check_head(head: Head, end: int, root: bytes) -> list[Finding]:
    """Compare the entries read with the head the source claims."""
    if end < head.size:
        return [
            Finding(
                Tamper.ENTRY_MISSING,
                f"the head counts {head.size} entries; entries [{end}, {head.size}) are missing",
                index=end,
                stop=head.size,
            )
        ]
    if end > head.size:
        return [
            Finding(
                Tamper.ENTRY_ADDED,
                f"the head counts {head.size} entries; {end - head.size} more follow it",
                index=head.size,
            )
        ]
    if head.root is not None and head.root != root:
        return [
            Finding(Tamper.HEAD_MISMATCH, f"the stored head root is not the root of {end} entries")
        ]
    return []


def _split_views(opened: Sequence[_Opened], trusted: _Opened | None) -> list[Finding]:
    """Equivocation: two signed checkpoints of one size with different roots."""
    findings: list[Finding] = []
    first_of: dict[int, _Opened] = {}
    for candidate in [*([trusted] if trusted is not None else []), *opened]:
        size = candidate.checkpoint.size
        seen = first_of.setdefault(size, candidate)
        if seen.checkpoint.root_hash != candidate.checkpoint.root_hash:
            findings.append(_equivocation(seen, candidate, f"two signed roots for size {size}"))
    return findings


def _equivocation(a: _Opened, b: _Opened, why: str) -> Finding:
    return Finding(
        Tamper.EQUIVOCATION,
        f"{a.where} and {b.where} cannot both be true: {why}",
        where=f"{a.where}; {b.where}",
        evidence=(a.note, b.note),
    )


def _check_roots(opened: Sequence[_Opened], scan: _Scan) -> tuple[list[_Opened], list[Finding]]:
    """Compare each signed root with the recomputed one; return the confirmed and findings."""
    confirmed: list[_Opened] = []
    mismatched: list[_Opened] = []
    findings: list[Finding] = []
    for item in sorted(opened, key=lambda o: o.checkpoint.size):
        size = item.checkpoint.size
        if size in scan.roots:
            good = scan.roots[size] == item.checkpoint.root_hash
            (confirmed if good else mismatched).append(item)
        elif size > scan.end and not scan.broken:
            findings.append(
                Finding(
                    Tamper.ENTRY_MISSING,
                    f"{item.where} signs {size} entries; entries [{scan.end}, {size}) are missing",
                    index=scan.end,
                    stop=size,
                    where=item.where,
                )
            )
    findings.extend(_explain_mismatches(mismatched, confirmed, scan.start))
    return confirmed, findings


def _explain_mismatches(
    mismatched: Sequence[_Opened], confirmed: Sequence[_Opened], start: int
) -> list[Finding]:
    """A mismatch under a later confirmed root is equivocation; the first other one, tampering."""
    findings: list[Finding] = []
    altered: list[_Opened] = []
    for item in mismatched:
        size = item.checkpoint.size
        later = next((c for c in confirmed if c.checkpoint.size > size), None)
        if later is not None:
            why = f"the entries match {later.where} but not the root signed for size {size}"
            findings.append(_equivocation(item, later, why))
        else:
            altered.append(item)
    if altered:
        first = altered[0]
        size = first.checkpoint.size
        below = [c.checkpoint.size for c in confirmed if c.checkpoint.size < size]
        low = max(below, default=0 if start == 0 else start)
        more = f"; {len(altered) - 1} later checkpoint(s) mismatch too" if len(altered) > 1 else ""
        findings.append(
            Finding(
                Tamper.CHECKPOINT_ROOT_MISMATCH,
                f"the entries' root at size {size} is not the one {first.where} signs:"
                f" an entry in [{low}, {size}) was altered{more}",
                index=low,
                stop=size,
                where=first.where,
                evidence=(first.note,),
            )
        )
    return findings


def _check_proofs(
    opened: Sequence[_Opened],
    proofs: Mapping[tuple[int, int], Sequence[bytes]],
    recomputed: set[int],
) -> tuple[list[Finding], set[int]]:
    """Check the proofs between consecutive checkpoints; return findings and sizes proved.

    A proof must be present from each checkpoint whose root was not recomputed (``recomputed``
    holds the sizes that were: those before a range's start were not); elsewhere recomputation
    proves more, and a proof given is still checked.
    """
    findings: list[Finding] = []
    proved: set[int] = set()
    by_size = {o.checkpoint.size: o for o in opened}
    ordered = sorted(by_size)
    for small, large in itertools.pairwise(ordered):
        a, b = by_size[small], by_size[large]
        proof = proofs.get((small, large))
        if proof is None:
            if small not in recomputed:
                findings.append(_bad_proof(a, b, "no consistency proof joins them"))
            continue
        try:
            check_consistent(a.checkpoint, b.checkpoint, proof=proof)
        except EquivocationError as error:
            findings.append(_bad_proof(a, b, str(error)))
            continue
        if small not in recomputed:
            proved.add(small)
    return findings, proved


def _bad_proof(a: _Opened, b: _Opened, why: str) -> Finding:
    return Finding(
        Tamper.CONSISTENCY_PROOF_INVALID,
        f"{a.where} and {b.where}: {why}",
        where=f"{a.where}; {b.where}",
        evidence=(a.note, b.note),
    )


def _check_trusted(
    trusted: _Opened, opened: Sequence[_Opened], scan: _Scan, *, complete: bool
) -> Finding | Caveat | None:
    """The log must still contain the trusted checkpoint."""
    size = trusted.checkpoint.size
    if any(o.checkpoint.size == size for o in opened):
        return None  # same size: compared by _split_views
    if size in scan.roots:
        if scan.roots[size] == trusted.checkpoint.root_hash:
            return None
        return Finding(
            Tamper.FORKED,
            f"the log's first {size} entries are not those the trusted checkpoint signed:"
            " rewritten, or restored from another copy",
            index=0,
            stop=size,
            where=trusted.where,
            evidence=(trusted.note,),
        )
    if scan.broken:
        return None
    if size > scan.end and complete:
        return Finding(
            Tamper.TRUNCATED,
            f"the trusted checkpoint signs {size} entries but the log holds {scan.end}:"
            " truncated or restored from an older copy",
            index=scan.end,
            stop=size,
            where=trusted.where,
            evidence=(trusted.note,),
        )
    return Caveat.TRUSTED_OUTSIDE_RANGE
