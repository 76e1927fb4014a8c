"""The audit package's root exception: every error it raises is an :class:`AuditError`."""


class AuditError(Exception):
    """Root of every error the audit log raises (proofs, notes, checkpoints, entries, store)."""
