"""AuditService: query the audit log, fetch its checkpoints and proofs, report on a subject.

The servicer decodes, asks the policy for the auditor role and calls the synchronous
:class:`~audit.store.AuditStore` in a worker thread (``asyncio.to_thread``), where the
entries read are decoded too; every error is mapped by :mod:`gateway.status`. A national ID
in a request is turned into the subject's pseudonym under every audit key the hub holds
(entries keep the key they were written under) and goes no further: it is neither stored,
logged nor echoed in a refusal.

Sizes and indexes are checked against the log before the store is asked, so that a request
beyond the log is INVALID_ARGUMENT naming the field. A GetCheckpoint (or a proof against the
latest checkpoint) before the first checkpoint is UNAVAILABLE: checkpoints are issued in
batches, so the first follows the first entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from sakha.v1 import audit_pb2 as pb2
from sakha.v1 import audit_pb2_grpc

from audit import Pseudonymizer, Verifier, entry_from_canonical, leaf_hash
from audit.store import AuditStore, EntryFilter, Pager, StoredCheckpoint
from gateway import audit_codec as codec
from gateway.auth.errors import AuthenticationError, AuthenticationReason
from gateway.auth.policy import Policy
from gateway.auth.registry import Role
from gateway.auth.tokens import Caller
from gateway.errors import NoCheckpointError
from gateway.interceptors import caller_of
from gateway.status import grpc_errors, grpc_stream_errors

Context = grpc.aio.ServicerContext[Any, Any]

_PAGE = 500
"""Entries read from the store at a time by a streaming RPC."""


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """The audit log, read-only, for organisations holding the auditor role.

    Args:
        store: the log.
        pseudonymizers: one per audit key still held, to find a person's entries under
            whichever key wrote them (at least one).
        verifier_key: the C2SP verifier key of the key that signs the log's checkpoints.
        policy: decides whether a caller holds the auditor role.

    Raises:
        ValueError: no pseudonymizer was given.
        NoteError: ``verifier_key`` is not a verifier key.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        pseudonymizers: Sequence[Pseudonymizer],
        verifier_key: str,
        policy: Policy,
    ) -> None:
        if not pseudonymizers:
            raise ValueError("the AuditService needs at least one pseudonym key")
        self._store = store
        self._pseudonymizers = tuple(pseudonymizers)
        self._verifier_key = Verifier.parse(verifier_key).key_string
        self._policy = policy

    def _auditor(self, context: Context) -> Caller:
        caller = caller_of(context)
        if caller is None:
            raise AuthenticationError(
                AuthenticationReason.TOKEN_MISSING,
                "AuditService needs an authenticated caller; this hub runs without client tokens",
            )
        self._policy.require_role(caller, Role.AUDITOR)
        return caller

    @grpc_stream_errors
    async def Query(  # noqa: N802 - gRPC method name
        self, request: pb2.QueryRequest, context: Context
    ) -> AsyncIterator[pb2.AuditEntry]:
        """The entries the filters select, oldest first."""
        self._auditor(context)
        where = codec.entry_filter(request, self._pseudonymizers)
        limit = codec.limit(request.limit)

        async for index, data in self._pages(where, limit):
            yield codec.entry_message(index, data, entry_from_canonical(data))

    async def _pages(
        self, where: EntryFilter, limit: int | None
    ) -> AsyncIterator[tuple[int, bytes]]:
        """The entries ``where`` selects, read a page at a time off the event loop, so a
        query over the whole log holds one page in memory and a slow reader slows only its
        own stream."""
        pager = Pager(limit, _PAGE)
        while pager.size:
            page = await asyncio.to_thread(
                self._store.query_page, where, after=pager.after, limit=pager.size
            )
            for item in page:
                yield item
            pager.advance(page)

    def _latest(self) -> StoredCheckpoint:
        latest = self._store.latest_checkpoint()
        if latest is None:
            raise NoCheckpointError("the log has no checkpoint yet; the first follows its entries")
        return latest

    def _checkpoint(self, size: int) -> StoredCheckpoint:
        if size == 0:
            return self._latest()
        for checkpoint in self._store.checkpoints():
            if checkpoint.size == size:
                return checkpoint
        raise codec.invalid("size", f"no checkpoint of size {size} was issued", "NO_CHECKPOINT")

    @grpc_errors
    async def GetCheckpoint(  # noqa: N802 - gRPC method name
        self, request: pb2.GetCheckpointRequest, context: Context
    ) -> pb2.Checkpoint:
        """The latest signed checkpoint, or the one of ``size``."""
        self._auditor(context)
        checkpoint = await asyncio.to_thread(self._checkpoint, request.size)
        return codec.checkpoint_message(checkpoint)

    def _within_log(self, field: str, size: int) -> None:
        logged, _ = self._store.head()
        if size > logged:
            raise codec.invalid(field, f"the log holds {logged} entries", "BEYOND_LOG")

    def _inclusion(self, index: int, tree_size: int) -> pb2.InclusionProof:
        size = tree_size or self._latest().size
        self._within_log("tree_size", size)
        if index >= size:
            raise codec.invalid("index", f"must be below the tree size {size}", "OUT_OF_RANGE")
        [(_, data)] = self._store.entries(index, index + 1)
        return pb2.InclusionProof(
            index=index,
            tree_size=size,
            leaf_hash=leaf_hash(data),
            hashes=self._store.inclusion_proof(index, size),
        )

    @grpc_errors
    async def GetInclusionProof(  # noqa: N802 - gRPC method name
        self, request: pb2.GetInclusionProofRequest, context: Context
    ) -> pb2.InclusionProof:
        """The RFC 9162 inclusion proof of one entry (against the latest checkpoint by default)."""
        self._auditor(context)
        return await asyncio.to_thread(self._inclusion, request.index, request.tree_size)

    def _consistency(self, first: int, second: int) -> pb2.ConsistencyProof:
        if first == 0:
            raise codec.invalid("first_size", "must be at least 1", "OUT_OF_RANGE")
        if second < first:
            raise codec.invalid("second_size", "must be at least first_size", "INVERTED_RANGE")
        self._within_log("second_size", second)
        return pb2.ConsistencyProof(
            first_size=first,
            second_size=second,
            hashes=self._store.consistency_proof(first, second),
        )

    @grpc_errors
    async def GetConsistencyProof(  # noqa: N802 - gRPC method name
        self, request: pb2.GetConsistencyProofRequest, context: Context
    ) -> pb2.ConsistencyProof:
        """The RFC 9162 consistency proof from ``first_size`` to ``second_size``."""
        self._auditor(context)
        return await asyncio.to_thread(self._consistency, request.first_size, request.second_size)

    @grpc_stream_errors
    async def SubjectReport(  # noqa: N802 - gRPC method name
        self, request: pb2.SubjectReportRequest, context: Context
    ) -> AsyncIterator[pb2.ReportLine]:
        """Every lookup of one person's data, oldest first, told in the request's language.

        Lookups about the person and lookups of a household they belong to, marked so.
        """
        self._auditor(context)
        national_id = codec.national_id("national_id", request.national_id)
        lang = codec.language(request.lang)
        subjects = codec.pseudonyms(national_id, self._pseudonymizers)

        async for index, data in self._pages(EntryFilter(subjects=subjects), None):
            yield codec.report_line(index, entry_from_canonical(data), subjects, lang)

    @grpc_errors
    async def GetVerifierKey(  # noqa: N802 - gRPC method name
        self, request: pb2.GetVerifierKeyRequest, context: Context
    ) -> pb2.VerifierKey:
        """The checkpoint signer's verifier key and the log's origin."""
        self._auditor(context)
        return pb2.VerifierKey(vkey=self._verifier_key, origin=self._store.origin)
