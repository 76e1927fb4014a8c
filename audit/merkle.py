"""RFC 9162 Merkle tree hashing and proof verification, with no store and no I/O.

This is all an auditor needs to check a receipt offline: the leaf and node hashes of
RFC 9162 §2.1.1 and the two verification algorithms, inclusion (§2.1.3.2) and consistency
(§2.1.4.2), written as the RFC's step lists. Verification raises a :class:`ProofError` on any
failure and returns ``None`` on success, so a forgotten return value can never pass a bad proof.

Hashes are compared exactly as given: a root of the wrong length simply fails to match, while a
leaf hash or proof hash that is not :data:`HASH_SIZE` bytes is refused up front.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from audit.errors import AuditError

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class MerkleError(AuditError):
    """Root of every error the Merkle tree code raises."""


class ProofError(MerkleError):
    """A proof does not verify; the message names what is wrong."""


class MalformedProofError(ProofError):
    """The proof's shape cannot fit the claimed sizes: bad index, sizes, length or hash size."""


class RootMismatchError(ProofError):
    """The root recomputed from a proof differs from the one it was checked against."""

    def __init__(self, which: str) -> None:
        super().__init__(f"{which} recomputed from the proof does not match the given {which}")
        self.which = which
        """Which root failed: ``"root"``, ``"root1"`` or ``"root2"``."""


def leaf_hash(data: bytes) -> bytes:
    """Return the hash of a leaf: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is the leaf hash at ``index`` in the tree of ``size`` and ``root``.

    Follows RFC 9162 §2.1.3.2 step by step.

    Args:
        leaf: the leaf hash (:func:`leaf_hash` of the entry), :data:`HASH_SIZE` bytes.
        index: the leaf's zero-based index.
        size: the tree size the proof was made for.
        proof: the inclusion path, lowest level first.
        root: the tree's root hash.

    Raises:
        MalformedProofError: the index is not below the size, a hash has the wrong length, or
            the proof is too long or too short for this index and size.
        RootMismatchError: the proof leads to a different root.
    """
    # 1. leaf_index must be below tree_size.
    if not 0 <= index < size:
        raise MalformedProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash("leaf hash", leaf)
    _check_proof_hashes(proof)
    # 2. Set fn to leaf_index and sn to tree_size - 1. 3. Set r to hash.
    fn, sn, r = index, size - 1, leaf
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            raise MalformedProofError(
                f"inclusion proof is too long for leaf {index} of size {size}"
            )
        # b. If LSB(fn) is set, or fn equals sn: r = HASH(0x01 || p || r) and, if LSB(fn) is
        #    not set, shift both until LSB(fn) is set or fn is 0.
        #    Otherwise: r = HASH(0x01 || r || p).
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_to_right_child(fn, sn)
        else:
            r = node_hash(r, p)
        # c. Right-shift both fn and sn once.
        fn, sn = fn >> 1, sn >> 1
    # 5. Succeed only if sn is 0 and r equals the root.
    if sn != 0:
        raise MalformedProofError(f"inclusion proof is too short for leaf {index} of size {size}")
    if r != root:
        raise RootMismatchError("root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` and ``root2`` extends the tree of ``size1`` and ``root1``.

    Equal sizes need an empty proof and equal roots. Otherwise ``0 < size1 < size2`` and the
    proof is checked by RFC 9162 §2.1.4.2 step by step. A proof from the empty tree is refused:
    it would prove nothing.

    Args:
        size1: the earlier tree size.
        size2: the later tree size.
        proof: the consistency path as RFC 9162 §2.1.4.1 produces it.
        root1: the earlier tree's root hash.
        root2: the later tree's root hash.

    Raises:
        MalformedProofError: the sizes are out of order or zero, a hash has the wrong length,
            or the proof is empty, too long or too short for these sizes.
        RootMismatchError: the proof leads to a different ``root1`` or ``root2``.
    """
    _check_consistency_sizes(size1, size2)
    _check_proof_hashes(proof)
    if size1 == size2:
        if proof:
            raise MalformedProofError(f"sizes are equal ({size1}) but the proof is not empty")
        if root1 != root2:
            raise RootMismatchError("root2")
        return
    # 1. If consistency_path is an empty array, stop and fail.
    if not proof:
        raise MalformedProofError(f"empty consistency proof from size {size1} to size {size2}")
    # 2. If first is an exact power of 2, prepend first_hash to the consistency_path.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = size1 - 1, size2 - 1
    # 4. If LSB(fn) is set, right-shift both fn and sn until LSB(fn) is not set.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. Set both fr and sr to the first value in the consistency_path.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path:
    for c in path[1:]:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            raise MalformedProofError(f"consistency proof is too long for {size1} to {size2}")
        # b. If LSB(fn) is set, or fn equals sn: fr = HASH(0x01 || c || fr),
        #    sr = HASH(0x01 || c || sr) and, if LSB(fn) is not set, shift both until LSB(fn)
        #    is set or fn is 0. Otherwise sr = HASH(0x01 || sr || c).
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_to_right_child(fn, sn)
        else:
            sr = node_hash(sr, c)
        # c. Right-shift both fn and sn once.
        fn, sn = fn >> 1, sn >> 1
    # 7. Succeed only if sn is 0, fr equals first_hash and sr equals second_hash.
    if sn != 0:
        raise MalformedProofError(f"consistency proof is too short for {size1} to {size2}")
    if fr != root1:
        raise RootMismatchError("root1")
    if sr != root2:
        raise RootMismatchError("root2")


def _shift_to_right_child(fn: int, sn: int) -> tuple[int, int]:
    """If LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0."""
    if not fn & 1:
        while True:
            fn, sn = fn >> 1, sn >> 1
            if fn & 1 or fn == 0:
                break
    return fn, sn


def _check_consistency_sizes(size1: int, size2: int) -> None:
    if size1 < 0 or size2 < 0:
        raise MalformedProofError(f"tree sizes cannot be negative ({size1}, {size2})")
    if size1 > size2:
        raise MalformedProofError(f"size1 ({size1}) is greater than size2 ({size2})")
    if size1 == 0:
        raise MalformedProofError("a consistency proof from the empty tree proves nothing")


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise MalformedProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _check_hash(f"proof hash {position}", value)
