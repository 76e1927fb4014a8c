"""Roots and proofs computed from stored perfect-subtree hashes, and the appends that store them.

A log stores, for every leaf it appends, the hashes of the *perfect* subtrees that the append
completes. A node is keyed ``(level, index)``: it covers the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``, so ``(0, i)`` is the leaf hash of entry ``i``
and ``(level, index)`` is ``node_hash((level - 1, 2 * index), (level - 1, 2 * index + 1))``.
Nodes never change once written: the log is append-only.

The root of any size and every RFC 9162 proof element is either one such node or, on the
tree's ragged right edge, a fold of a few of them. Each computation here first lists the
``O(log n)`` keys it needs, reads them in one :meth:`NodeReader.read_nodes` call, then combines
them, so a database serves any proof in one round trip. :class:`Frontier` keeps the
``O(log n)`` right-edge hashes in memory so that appending a batch yields every new node at
once, ready to write in the same transaction as the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from audit.merkle import EMPTY_ROOT, HASH_SIZE, MerkleError, node_hash

NodeKey = tuple[int, int]
"""``(level, index)``: the perfect subtree over ``[index * 2**level, (index + 1) * 2**level)``."""

_Span = tuple[int, int]  # leaves [start, end) whose Merkle Tree Hash is one proof element


class MissingNodeError(MerkleError):
    """The store lacks a node that the tree of the requested size must have."""


class TreeRangeError(MerkleError):
    """A root or proof was asked for an index or sizes that do not fit the tree."""


class LeafHashError(MerkleError):
    """A leaf hash to append is not a :data:`~audit.merkle.HASH_SIZE`-byte hash."""


class NodeReader(Protocol):
    """Reads stored perfect-subtree hashes, many at once."""

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the stored hash of each of ``keys`` that exists; absent keys are left out."""
        ...


def tree_root(reader: NodeReader, size: int) -> bytes:
    """Return the root of the tree of the first ``size`` leaves, from one batched read.

    Raises:
        TreeRangeError: ``size`` is negative.
        MissingNodeError: the store does not hold a tree of ``size`` leaves.
    """
    if size < 0:
        raise TreeRangeError(f"tree size cannot be negative ({size})")
    if size == 0:
        return EMPTY_ROOT
    return _read_spans(reader, [(0, size)])[0]


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion path of leaf ``index`` in the tree of ``size``.

    Raises:
        TreeRangeError: ``index`` is not in ``[0, size)``.
        MissingNodeError: the store does not hold a tree of ``size`` leaves.
    """
    if not 0 <= index < size:
        raise TreeRangeError(f"leaf index {index} is not in a tree of size {size}")
    return _read_spans(reader, _inclusion_spans(index, size))


def consistency_proof(reader: NodeReader, size1: int, size2: int) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof from tree ``size1`` to tree ``size2``.

    The proof for equal sizes is empty.

    Raises:
        TreeRangeError: unless ``0 < size1 <= size2``; a proof from the empty tree proves
            nothing, so none is made.
        MissingNodeError: the store does not hold a tree of ``size2`` leaves.
    """
    if not 0 < size1 <= size2:
        raise TreeRangeError(f"no consistency proof from size {size1} to size {size2}")
    return _read_spans(reader, _consistency_spans(size1, size2))


class Frontier:
    """The right edge of a tree: the perfect subtrees that together cover all its leaves.

    A tree of ``n`` leaves has one such subtree per set bit of ``n``, largest (leftmost)
    first. Appending a leaf adds the leaf node and merges equal-sized neighbours, and each
    merge is a newly completed perfect subtree to store. Not thread-safe: one writer owns it.
    """

    def __init__(self) -> None:
        """Start an empty tree."""
        self._size = 0
        self._nodes: list[tuple[NodeKey, bytes]] = []

    @classmethod
    def load(cls, reader: NodeReader, size: int) -> Frontier:
        """Rebuild the frontier of the stored tree of ``size`` leaves from one batched read.

        Raises:
            TreeRangeError: ``size`` is negative.
            MissingNodeError: the store does not hold a tree of ``size`` leaves.
        """
        if size < 0:
            raise TreeRangeError(f"tree size cannot be negative ({size})")
        keys = _perfect_subtrees(0, size)
        found = _read_keys(reader, keys)
        frontier = cls()
        frontier._size = size
        frontier._nodes = [(key, found[key]) for key in keys]
        return frontier

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def root(self) -> bytes:
        """Return the root of the tree as it stands (:data:`EMPTY_ROOT` when empty)."""
        return _fold([hash_ for _, hash_ in self._nodes]) if self._nodes else EMPTY_ROOT

    def append(self, leaf: bytes) -> dict[NodeKey, bytes]:
        """Append one leaf hash; return the nodes it completes, the leaf node ``(0, i)`` first.

        Raises:
            LeafHashError: ``leaf`` is not a :data:`HASH_SIZE`-byte hash.
        """
        if len(leaf) != HASH_SIZE:
            raise LeafHashError(f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
        key, hash_ = (0, self._size), leaf
        completed = {key: hash_}
        while self._nodes and self._nodes[-1][0][0] == key[0]:
            _, left = self._nodes.pop()
            key, hash_ = (key[0] + 1, key[1] >> 1), node_hash(left, hash_)
            completed[key] = hash_
        self._nodes.append((key, hash_))
        self._size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> dict[NodeKey, bytes]:
        """Append leaf hashes in order; return every node they complete, to store at once."""
        completed: dict[NodeKey, bytes] = {}
        for leaf in leaves:
            completed.update(self.append(leaf))
        return completed


def _inclusion_spans(index: int, size: int) -> list[_Span]:
    """The spans of PATH(index, D[size]) (RFC 9162 §2.1.3.1), lowest level first."""
    spans: list[_Span] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            spans.append((mid, end))
            end = mid
        else:
            spans.append((start, mid))
            start = mid
    return spans[::-1]


def _consistency_spans(size1: int, size2: int) -> list[_Span]:
    """The spans of PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1), in proof order.

    Walks SUBPROOF's recursion from the top: ``known`` is its flag ``b`` (the verifier holds
    the root of ``[start, end)`` itself), and ``size1`` stays an absolute leaf count.
    """
    spans: list[_Span] = []
    start, end, known = 0, size2, True
    while size1 != end:
        mid = start + _split(end - start)
        if size1 <= mid:
            spans.append((mid, end))
            end = mid
        else:
            spans.append((start, mid))
            start, known = mid, False
    if not known:
        spans.append((start, end))
    return spans[::-1]


def _split(count: int) -> int:
    """The largest power of two smaller than ``count`` (``count > 1``)."""
    return 1 << ((count - 1).bit_length() - 1)


def _perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees covering a span of the RFC recursion, left to right.

    Such a span starts at a multiple of a power of two at least its length, so its largest
    subtrees come first and folding them from the right gives its Merkle Tree Hash.
    """
    keys: list[NodeKey] = []
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
        remaining -= 1 << level
    return keys


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine left-to-right perfect subtree hashes into their span's Merkle Tree Hash."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _read_spans(reader: NodeReader, spans: Sequence[_Span]) -> list[bytes]:
    """The Merkle Tree Hash of each span, from a single read of all their subtrees."""
    per_span = [_perfect_subtrees(start, end) for start, end in spans]
    found = _read_keys(reader, [key for keys in per_span for key in keys])
    return [_fold([found[key] for key in keys]) for keys in per_span]


def _read_keys(reader: NodeReader, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
    """Read ``keys`` (duplicates dropped) in one call; raise if any is missing."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    found = reader.read_nodes(unique)
    missing = [key for key in unique if key not in found]
    if missing:
        raise MissingNodeError(f"store lacks node(s) (level, index) {missing}")
    return found


class MemoryNodes:
    """An in-memory node store: a :class:`NodeReader` over the leaves appended to it."""

    def __init__(self) -> None:
        """Start with an empty tree."""
        self._frontier = Frontier()
        self._nodes: dict[NodeKey, bytes] = {}

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._frontier.size

    def append(self, leaves: Iterable[bytes]) -> bytes:
        """Append leaf hashes, store the nodes they complete and return the new root."""
        self._nodes.update(self._frontier.extend(leaves))
        return self._frontier.root()

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the stored hash of each of ``keys`` that exists."""
        return {key: self._nodes[key] for key in keys if key in self._nodes}
