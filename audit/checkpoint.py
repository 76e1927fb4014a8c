"""C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint).

A checkpoint is a signed note whose text is exactly::

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 of the 32-byte root hash>
    [extension lines, each non-empty]

This module formats, parses, signs and opens checkpoints and tells when two of one origin
cannot both be true. It holds no Merkle code: proving consistency between two sizes is the
caller's, through the callable :func:`check_consistent` takes.
"""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from audit.errors import AuditError
from audit.merkle import ProofError, verify_consistency
from audit.note import Signer, Verifier, canonical_base64, open_note, sign_note

ROOT_HASH_SIZE = 32
"""Bytes in a root hash (SHA-256, RFC 9162)."""

MAX_TREE_SIZE = 2**64 - 1
"""The largest tree size accepted: the leaf count is an unsigned 64-bit number everywhere."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_SIZE_DIGITS = len(str(MAX_TREE_SIZE))


class CheckpointReason(enum.StrEnum):
    """Why a checkpoint, or a pair of them, was refused (stable codes)."""

    NO_FINAL_NEWLINE = "NO_FINAL_NEWLINE"
    TOO_FEW_LINES = "TOO_FEW_LINES"
    BAD_ORIGIN = "BAD_ORIGIN"
    BAD_SIZE = "BAD_SIZE"
    BAD_ROOT_HASH = "BAD_ROOT_HASH"
    BAD_EXTENSION = "BAD_EXTENSION"
    WRONG_ORIGIN = "WRONG_ORIGIN"
    KEY_NAME_NOT_ORIGIN = "KEY_NAME_NOT_ORIGIN"
    SPLIT_VIEW = "SPLIT_VIEW"
    NOT_CONSISTENT = "NOT_CONSISTENT"


class CheckpointError(AuditError):
    """Root of every error this module raises; ``reason`` says why in a stable code.

    Errors of the note under the checkpoint (form, keys, signatures) are
    :class:`audit.note.NoteError` and pass through unchanged.
    """

    def __init__(self, reason: CheckpointReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """The stable code of what is wrong."""


class MalformedCheckpointError(CheckpointError):
    """A checkpoint text or field does not follow the checkpoint format."""


class WrongOriginError(CheckpointError):
    """A checkpoint is of another log than expected, or its key is not named after its log."""


class EquivocationError(CheckpointError):
    """Two signed checkpoints of one log cannot both be true.

    ``SPLIT_VIEW`` (one size, two roots) proves misbehaviour on its own; ``NOT_CONSISTENT``
    says the consistency proof given does not join the two.
    """

    def __init__(
        self, reason: CheckpointReason, message: str, first: Checkpoint, second: Checkpoint
    ) -> None:
        super().__init__(reason, message)
        self.first = first
        """The checkpoint of the smaller (or equal) size."""
        self.second = second
        """The checkpoint of the larger (or equal) size."""


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: its origin, tree size and root hash, plus opaque extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, CheckpointReason.BAD_ORIGIN, "the origin")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpointError(
                CheckpointReason.BAD_SIZE, f"tree size {self.size!r} is not in 0..2**64-1"
            )
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise MalformedCheckpointError(
                CheckpointReason.BAD_ROOT_HASH,
                f"a root hash has {ROOT_HASH_SIZE} bytes, not {len(self.root_hash)}",
            )
        for number, line in enumerate(self.extensions, 1):
            _check_line(line, CheckpointReason.BAD_EXTENSION, f"extension line {number}")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint note text (final newline included)."""
        if not text.endswith("\n"):
            raise MalformedCheckpointError(
                CheckpointReason.NO_FINAL_NEWLINE, "a checkpoint text ends in a newline"
            )
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError(
                CheckpointReason.TOO_FEW_LINES,
                f"a checkpoint has origin, size and root hash lines; this has {len(lines)}",
            )
        origin, size, root_hash, *extensions = lines
        return cls(origin, _parse_size(size), _parse_root_hash(root_hash), tuple(extensions))

    def to_text(self) -> str:
        """The checkpoint note text: what is signed and what :meth:`parse` reads."""
        root64 = base64.b64encode(self.root_hash).decode()
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root64, *self.extensions)
        )


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The checkpoint as a note signed by the log's key, whose name must be the origin."""
    if signer.name != checkpoint.origin:
        raise WrongOriginError(
            CheckpointReason.KEY_NAME_NOT_ORIGIN,
            f"key {signer.name!r} is not named after origin {checkpoint.origin!r}",
        )
    return sign_note(checkpoint.to_text(), [signer])


def open_checkpoint(note: bytes, verifier: Verifier, *, origin: str) -> Checkpoint:
    """The checkpoint in ``note`` once ``verifier``'s signature on it holds and its origin fits.

    Other signatures (witnesses') are left unchecked; see :func:`audit.note.open_note`.
    """
    checkpoint = Checkpoint.parse(open_note(note, [verifier]).text)
    if checkpoint.origin != origin:
        raise WrongOriginError(
            CheckpointReason.WRONG_ORIGIN,
            f"checkpoint of {checkpoint.origin!r}, expected {origin!r}",
        )
    return checkpoint


def check_consistent(a: Checkpoint, b: Checkpoint, *, proof: Sequence[bytes]) -> None:
    """Raise :class:`EquivocationError` unless checkpoints ``a`` and ``b`` of one log agree.

    At one size they agree when their roots are equal (``proof`` is not consulted). At two
    sizes ``proof`` must be the RFC 9162 consistency proof from the smaller tree to the larger.
    """
    if a.origin != b.origin:
        raise WrongOriginError(
            CheckpointReason.WRONG_ORIGIN, f"checkpoints of {a.origin!r} and {b.origin!r}"
        )
    first, second = (a, b) if a.size <= b.size else (b, a)
    if first.size == second.size:
        if first.root_hash != second.root_hash:
            raise EquivocationError(
                CheckpointReason.SPLIT_VIEW,
                f"two roots for size {first.size} of {first.origin!r}",
                first,
                second,
            )
        return
    try:
        verify_consistency(first.size, second.size, proof, first.root_hash, second.root_hash)
    except ProofError as exc:
        raise EquivocationError(
            CheckpointReason.NOT_CONSISTENT,
            f"the proof does not join sizes {first.size} and {second.size} of "
            f"{first.origin!r}: {exc}",
            first,
            second,
        ) from exc


def _parse_size(line: str) -> int:
    """A tree size: ASCII decimal digits, no sign, no leading zero."""
    if len(line) > _MAX_SIZE_DIGITS or not _DECIMAL.fullmatch(line):
        raise MalformedCheckpointError(
            CheckpointReason.BAD_SIZE, f"tree size {line!r} is not a decimal without leading zeros"
        )
    return int(line)


def _parse_root_hash(line: str) -> bytes:
    """A root hash: canonical standard base64 (its length is checked by :class:`Checkpoint`)."""
    root_hash = canonical_base64(line)
    if root_hash is None:
        raise MalformedCheckpointError(
            CheckpointReason.BAD_ROOT_HASH, f"root hash {line!r} is not canonical standard base64"
        )
    return root_hash


def _check_line(line: str, reason: CheckpointReason, what: str) -> None:
    """Refuse an empty line or one with control characters (a newline among them)."""
    if not line or any(char < " " for char in line):
        raise MalformedCheckpointError(reason, f"{what} is empty or has a control character")
