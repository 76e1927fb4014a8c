"""Verification against the external transparency-dev/merkle vectors and RFC 9162's example.

The vectors live in the shared folder beside the repository (``shared/testdata/merkle``,
see its ``PROVENANCE.md``); a missing folder fails the run rather than skipping it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from audit import (
    MemoryNodes,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "merkle"


@dataclass(frozen=True)
class Vector:
    """One vector file: its path relative to :data:`VECTORS` and its parsed JSON."""

    name: str
    data: dict[str, Any]


def _load(kind: str) -> list[Vector]:
    folder = VECTORS / kind
    if not folder.is_dir():  # fail collection, never skip: the vectors are the oracle
        raise FileNotFoundError(f"Merkle test vectors missing: {folder}")
    return [
        Vector(str(path.relative_to(VECTORS)), json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.rglob("*.json"))
    ]


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in data["proof"] or []]


def test_every_vector_file_is_loaded() -> None:
    """Both folders are present, complete, and hold accepted and rejected cases."""
    assert len(INCLUSION) == len(CONSISTENCY) == 98
    for vectors in (INCLUSION, CONSISTENCY):
        assert {vector.data["wantErr"] for vector in vectors} == {True, False}


def _check_inclusion(data: dict[str, Any]) -> None:
    verify_inclusion(
        _b64(data["leafHash"]),
        data["leafIdx"],
        data["treeSize"],
        _proof(data),
        _b64(data["root"]),
    )


def _check_consistency(data: dict[str, Any]) -> None:
    verify_consistency(
        data["size1"], data["size2"], _proof(data), _b64(data["root1"]), _b64(data["root2"])
    )


@pytest.mark.parametrize("vector", INCLUSION, ids=lambda vector: vector.name)
def test_inclusion_vector(vector: Vector) -> None:
    """Each inclusion vector is accepted exactly when it wants no error."""
    if vector.data["wantErr"]:
        with pytest.raises(ProofError):
            _check_inclusion(vector.data)
    else:
        _check_inclusion(vector.data)


@pytest.mark.parametrize("vector", CONSISTENCY, ids=lambda vector: vector.name)
def test_consistency_vector(vector: Vector) -> None:
    """Each consistency vector is accepted exactly when it wants no error."""
    if vector.data["wantErr"]:
        with pytest.raises(ProofError):
            _check_consistency(vector.data)
    else:
        _check_consistency(vector.data)


class Rfc9162Example:
    """The seven-leaf tree of RFC 9162 §2.1.5, its nodes named as in the RFC's figure."""

    def __init__(self) -> None:
        """Build the named nodes from seven distinct leaves."""
        self.leaves = [leaf_hash(bytes([i])) for i in range(7)]
        a, b, c, d, e, f, self.j = self.leaves
        self.a, self.b, self.c, self.d, self.e, self.f = a, b, c, d, e, f
        self.g, self.h, self.i = node_hash(a, b), node_hash(c, d), node_hash(e, f)
        self.k, self.l = node_hash(self.g, self.h), node_hash(self.i, self.j)
        self.root = node_hash(self.k, self.l)
        self.hash0 = node_hash(self.g, c)  # tree of 3
        self.hash2 = node_hash(self.k, self.i)  # tree of 6


def test_rfc_example_inclusion_paths() -> None:
    """The audit paths the RFC lists for d0, d3, d4 and d6 are generated and verify."""
    t = Rfc9162Example()
    store = MemoryNodes()
    assert store.append(t.leaves) == t.root
    cases = [(0, [t.b, t.h, t.l]), (3, [t.c, t.g, t.l]), (4, [t.f, t.j, t.k]), (6, [t.i, t.k])]
    for index, path in cases:
        assert inclusion_proof(store, index, 7) == path
        verify_inclusion(t.leaves[index], index, 7, path, t.root)


def test_rfc_example_consistency_proofs() -> None:
    """PROOF(3, D[7]), PROOF(4, D[7]) and PROOF(6, D[7]) from the RFC are generated and verify."""
    t = Rfc9162Example()
    store = MemoryNodes()
    store.append(t.leaves)
    cases = [(3, [t.c, t.d, t.g, t.l], t.hash0), (4, [t.l], t.k), (6, [t.i, t.j, t.k], t.hash2)]
    for size1, proof, root1 in cases:
        assert consistency_proof(store, size1, 7) == proof
        verify_consistency(size1, 7, proof, root1, t.root)
