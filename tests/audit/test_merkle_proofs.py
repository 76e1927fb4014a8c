"""Roots and proofs from stored nodes against a naive RFC 9162 reference built from all leaves.

The reference below is the RFC's recursive definitions (MTH, PATH, SUBPROOF) over the full
leaf list, nothing clever; the code under test reads ``O(log n)`` stored perfect subtrees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import (
    EMPTY_ROOT,
    Frontier,
    LeafHashError,
    MalformedProofError,
    MemoryNodes,
    MissingNodeError,
    NodeKey,
    NodeReader,
    ProofError,
    RootMismatchError,
    TreeRangeError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 70


class Reference:
    """RFC 9162 §2.1 computed from the leaf list by its recursive definitions."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        """Hold the leaf hashes; subtree hashes are memoised per span."""
        self.leaves = list(leaves)
        self.mth = cache(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        if end - start == 0:
            return EMPTY_ROOT
        if end - start == 1:
            return self.leaves[start]
        k = split(end - start)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]) with ``m`` relative to ``start``."""
        if end - start == 1:
            return []
        k = split(end - start)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], b) with ``m`` relative to ``start``."""
        if m == end - start:
            return [] if b else [self.mth(start, end)]
        k = split(end - start)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]


def split(n: int) -> int:
    """The largest power of two smaller than ``n``, by counting up."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


class CountingReader:
    """Wraps a reader and records each batched call's keys."""

    def __init__(self, inner: NodeReader) -> None:
        """Count reads going to ``inner``."""
        self.inner = inner
        self.calls: list[Sequence[NodeKey]] = []

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Record the call and forward it."""
        self.calls.append(list(keys))
        return self.inner.read_nodes(keys)


class SyntheticNodes:
    """A reader that has a (made-up) hash for every key: to count reads on huge trees."""

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return a distinct hash per key."""
        return {key: hashlib.sha256(repr(key).encode()).digest() for key in keys}


def leaves_for(count: int, salt: bytes = b"") -> list[bytes]:
    """``count`` distinct leaf hashes."""
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(count)]


@pytest.fixture(scope="module")
def reference() -> Reference:
    """The reference over :data:`MAX_SIZE` leaves."""
    return Reference(leaves_for(MAX_SIZE))


@pytest.fixture(scope="module")
def store(reference: Reference) -> MemoryNodes:
    """A store holding the same :data:`MAX_SIZE` leaves."""
    nodes = MemoryNodes()
    nodes.append(reference.leaves)
    return nodes


def test_roots_of_every_size(reference: Reference, store: MemoryNodes) -> None:
    """The root of every prefix, read from the store, is the reference MTH."""
    for size in range(MAX_SIZE + 1):
        assert tree_root(store, size) == reference.mth(0, size)


def test_inclusion_proofs_of_every_leaf(reference: Reference, store: MemoryNodes) -> None:
    """Every leaf's path in every tree size is the reference PATH, and it verifies."""
    for size in range(1, MAX_SIZE + 1):
        root = reference.mth(0, size)
        for index in range(size):
            proof = inclusion_proof(store, index, size)
            assert proof == reference.path(index, 0, size)
            verify_inclusion(reference.leaves[index], index, size, proof, root)


def test_consistency_proofs_of_every_pair(reference: Reference, store: MemoryNodes) -> None:
    """Every proof between sizes 1 <= m <= n <= 70 is the reference PROOF, and it verifies."""
    for size2 in range(1, MAX_SIZE + 1):
        root2 = reference.mth(0, size2)
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(store, size1, size2)
            assert proof == reference.subproof(size1, 0, size2, True)
            verify_consistency(size1, size2, proof, reference.mth(0, size1), root2)


def read_bound(size: int) -> int:
    """At most 2·log2(n) + 2 node reads per proof or root."""
    return 2 * (size.bit_length() - 1) + 2


def reads(job: Callable[[NodeReader], object], inner: NodeReader) -> list[NodeKey]:
    """Run ``job`` on a counting reader; check it made at most one call and return its keys."""
    reader = CountingReader(inner)
    job(reader)
    assert len(reader.calls) <= 1
    return [key for call in reader.calls for key in call]


def jobs(index: int, size1: int, size2: int) -> list[Callable[[NodeReader], object]]:
    """The root of ``size2``, the path of ``index`` in it and the proof from ``size1`` to it."""
    return [
        partial(tree_root, size=size2),
        partial(inclusion_proof, index=index, size=size2),
        partial(consistency_proof, size1=size1, size2=size2),
    ]


def test_reads_per_proof_are_one_call_and_logarithmic(store: MemoryNodes) -> None:
    """Every root and proof on the small store is one batched read within the bound."""
    for size2 in range(1, MAX_SIZE + 1):
        for other in range(size2):  # a leaf index, and (plus one) an earlier size
            for job in jobs(other, other + 1, size2):
                assert len(reads(job, store)) <= read_bound(size2)


@settings(max_examples=300)
@given(size2=st.integers(1, 2**62), data=st.data())
def test_reads_stay_logarithmic_on_huge_trees(size2: int, data: st.DataObject) -> None:
    """On trees far too big to build, each proof is still one read of few nodes."""
    index = data.draw(st.integers(0, size2 - 1), label="index")
    size1 = data.draw(st.integers(1, size2), label="size1")
    for job in jobs(index, size1, size2):
        keys = reads(job, SyntheticNodes())
        assert len(keys) == len(set(keys)) <= read_bound(size2)


def test_store_holds_exactly_the_perfect_subtrees(reference: Reference, store: MemoryNodes) -> None:
    """After 70 appends the store holds every complete subtree, each with its MTH."""
    expected = {
        (level, index): reference.mth(index << level, (index + 1) << level)
        for level in range(MAX_SIZE.bit_length())
        for index in range(MAX_SIZE >> level)
    }
    assert store.read_nodes([*expected, (0, MAX_SIZE), (3, 8)]) == expected


def test_append_returns_the_nodes_it_completes() -> None:
    """Leaf 11 completes (0, 11), (1, 5) and (2, 2); leaf 12 completes only itself."""
    frontier = Frontier()
    frontier.extend(leaves_for(11))
    leaf11, leaf12 = leaves_for(2, salt=b"x")
    assert list(frontier.append(leaf11)) == [(0, 11), (1, 5), (2, 2)]
    assert list(frontier.append(leaf12)) == [(0, 12)]


@settings(max_examples=50)
@given(size=st.integers(0, MAX_SIZE), more=st.integers(0, 40))
def test_frontier_reloaded_from_store_continues_the_tree(size: int, more: int) -> None:
    """A frontier loaded from a store of ``size`` leaves appends exactly like the original."""
    leaves = leaves_for(size + more)
    original = MemoryNodes()
    original.append(leaves[:size])
    reader = CountingReader(original)
    frontier = Frontier.load(reader, size)
    assert len(reader.calls) <= 1
    assert frontier.size == size
    assert frontier.root() == tree_root(original, size)
    new_nodes = frontier.extend(leaves[size:])
    whole = MemoryNodes()
    whole.append(leaves)
    assert frontier.root() == tree_root(whole, size + more) == Reference(leaves).mth(0, len(leaves))
    assert whole.read_nodes(list(new_nodes)) == new_nodes


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda s: tree_root(s, -1), "negative", id="root-of-negative-size"),
        pytest.param(lambda s: inclusion_proof(s, 5, 5), "not in", id="index-equals-size"),
        pytest.param(lambda s: inclusion_proof(s, -1, 5), "not in", id="negative-index"),
        pytest.param(lambda s: inclusion_proof(s, 0, 0), "not in", id="empty-tree"),
        pytest.param(lambda s: consistency_proof(s, 0, 5), "from size 0", id="from-empty"),
        pytest.param(lambda s: consistency_proof(s, 6, 5), "from size 6", id="size1-above-size2"),
        pytest.param(lambda s: Frontier.load(s, -2), "negative", id="frontier-negative-size"),
    ],
)
def test_requests_outside_the_tree_are_refused(call: object, message: str) -> None:
    """Impossible requests raise :class:`TreeRangeError` naming the problem."""
    assert callable(call)
    with pytest.raises(TreeRangeError, match=message):
        call(MemoryNodes())


def test_sizes_beyond_the_store_are_missing_nodes() -> None:
    """Asking a store of 5 leaves for the tree of 8 names the absent nodes."""
    nodes = MemoryNodes()
    nodes.append(leaves_for(5))
    for call in (
        lambda: tree_root(nodes, 8),
        lambda: inclusion_proof(nodes, 2, 8),
        lambda: consistency_proof(nodes, 3, 8),
        lambda: Frontier.load(nodes, 6),
    ):
        with pytest.raises(MissingNodeError, match=r"lacks node"):
            call()


def test_frontier_refuses_a_leaf_that_is_not_a_hash() -> None:
    """Appending raw data instead of a 32-byte leaf hash is an error, not a corrupt tree."""
    with pytest.raises(LeafHashError, match="5 bytes"):
        Frontier().append(b"entry")


def test_empty_frontier_has_the_empty_root() -> None:
    """The empty tree's root is SHA-256 of the empty string."""
    assert Frontier().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert tree_root(MemoryNodes(), 0) == EMPTY_ROOT


H = leaf_hash(b"h")
FOUR = Reference(leaves_for(4))
FOUR_PROOF = FOUR.path(1, 0, 4)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        pytest.param((H, -1, 4, [], H), MalformedProofError, "not in", id="negative-index"),
        pytest.param((H, 4, 4, [], H), MalformedProofError, "not in", id="index-equals-size"),
        pytest.param((H, 0, 0, [], H), MalformedProofError, "not in", id="empty-tree"),
        pytest.param((H[:31], 0, 1, [], H), MalformedProofError, "leaf hash", id="short-leaf"),
        pytest.param(
            (H, 1, 4, [FOUR_PROOF[0], b""], H), MalformedProofError, "hash 1", id="empty-hash"
        ),
        pytest.param((H, 1, 4, FOUR_PROOF[:1], H), MalformedProofError, "short", id="too-short"),
        pytest.param((H, 1, 4, [*FOUR_PROOF, H], H), MalformedProofError, "long", id="too-long"),
        pytest.param(
            (FOUR.leaves[1], 1, 4, FOUR_PROOF, H), RootMismatchError, "root", id="wrong-root"
        ),
        pytest.param(
            (FOUR.leaves[2], 1, 4, FOUR_PROOF, FOUR.mth(0, 4)),
            RootMismatchError,
            "root",
            id="wrong-leaf",
        ),
    ],
)
def test_bad_inclusion_proofs(
    args: tuple[bytes, int, int, list[bytes], bytes], error: type[ProofError], message: str
) -> None:
    """Each bad inclusion proof raises the named error."""
    with pytest.raises(error, match=message):
        verify_inclusion(*args)


R3, R5 = FOUR.mth(0, 3), Reference(leaves_for(5)).mth(0, 5)
PROOF_3_5 = Reference(leaves_for(5)).subproof(3, 0, 5, True)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        pytest.param((-1, 3, [], H, H), MalformedProofError, "negative", id="negative-size"),
        pytest.param((4, 3, [], H, H), MalformedProofError, "greater", id="size1-above-size2"),
        pytest.param((0, 3, [H], EMPTY_ROOT, H), MalformedProofError, "empty tree", id="from-0"),
        pytest.param((0, 0, [], H, H), MalformedProofError, "empty tree", id="both-zero"),
        pytest.param((3, 3, [H], R3, R3), MalformedProofError, "not empty", id="equal-nonempty"),
        pytest.param((3, 3, [], R3, R5), RootMismatchError, "root2", id="equal-other-root"),
        pytest.param((3, 5, [], R3, R5), MalformedProofError, "empty", id="empty-proof"),
        pytest.param((3, 5, PROOF_3_5[:-1], R3, R5), MalformedProofError, "short", id="short"),
        pytest.param((3, 5, [*PROOF_3_5, H], R3, R5), MalformedProofError, "long", id="long"),
        pytest.param(
            (3, 5, [b"x", *PROOF_3_5[1:]], R3, R5), MalformedProofError, "hash 0", id="bad-hash"
        ),
        pytest.param((3, 5, PROOF_3_5, H, R5), RootMismatchError, "root1", id="wrong-root1"),
        pytest.param((3, 5, PROOF_3_5, R3, H), RootMismatchError, "root2", id="wrong-root2"),
    ],
)
def test_bad_consistency_proofs(
    args: tuple[int, int, list[bytes], bytes, bytes], error: type[ProofError], message: str
) -> None:
    """Each bad consistency proof raises the named error."""
    with pytest.raises(error, match=message):
        verify_consistency(*args)


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with bit ``bit`` (modulo its length in bits) inverted."""
    bit %= len(value) * 8
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


tree_leaves = st.lists(st.binary(max_size=40), min_size=1, max_size=150, unique=True)


@settings(max_examples=200)
@given(entries=tree_leaves, data=st.data())
def test_a_bit_flip_breaks_an_inclusion_proof(entries: list[bytes], data: st.DataObject) -> None:
    """A generated proof verifies; flipping one bit of a proof hash, the root or the leaf fails."""
    leaves = [leaf_hash(entry) for entry in entries]
    nodes = MemoryNodes()
    root = nodes.append(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1), label="index")
    proof = inclusion_proof(nodes, index, len(leaves))
    verify_inclusion(leaves[index], index, len(leaves), proof, root)
    target = data.draw(st.integers(-2, len(proof) - 1), label="target")
    bit = data.draw(st.integers(0, 255), label="bit")
    leaf, bad_proof, bad_root = leaves[index], list(proof), root
    if target == -2:
        leaf = flip(leaf, bit)
    elif target == -1:
        bad_root = flip(root, bit)
    else:
        bad_proof[target] = flip(proof[target], bit)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, len(leaves), bad_proof, bad_root)


@settings(max_examples=200)
@given(entries=tree_leaves, data=st.data())
def test_a_bit_flip_breaks_a_consistency_proof(entries: list[bytes], data: st.DataObject) -> None:
    """A generated proof verifies; flipping one bit of a proof hash or either root fails."""
    nodes = MemoryNodes()
    root2 = nodes.append([leaf_hash(entry) for entry in entries])
    size2 = len(entries)
    size1 = data.draw(st.integers(1, size2), label="size1")
    root1 = tree_root(nodes, size1)
    proof = consistency_proof(nodes, size1, size2)
    verify_consistency(size1, size2, proof, root1, root2)
    target = data.draw(st.integers(-2, len(proof) - 1), label="target")
    bit = data.draw(st.integers(0, 255), label="bit")
    bad_proof, bad_root1, bad_root2 = list(proof), root1, root2
    if target == -2:
        bad_root1 = flip(root1, bit)
    elif target == -1:
        bad_root2 = flip(root2, bit)
    else:
        bad_proof[target] = flip(proof[target], bit)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, bad_proof, bad_root1, bad_root2)
