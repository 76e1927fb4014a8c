"""Tamper-evident audit log: RFC 9162 Merkle tree, proofs and their verification.

Pure domain code: no gRPC, no generated types, nothing from ``gateway``.
"""

from audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MalformedProofError,
    MerkleError,
    ProofError,
    RootMismatchError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from audit.merkle_store import (
    Frontier,
    LeafHashError,
    MemoryNodes,
    MissingNodeError,
    NodeKey,
    NodeReader,
    TreeRangeError,
    consistency_proof,
    inclusion_proof,
    tree_root,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "LeafHashError",
    "MalformedProofError",
    "MemoryNodes",
    "MerkleError",
    "MissingNodeError",
    "NodeKey",
    "NodeReader",
    "ProofError",
    "RootMismatchError",
    "TreeRangeError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]
