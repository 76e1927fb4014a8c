"""What one append writes for an entry: its leaf data and the columns queries filter on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from audit.entry import Entry, canonical_bytes


@dataclass(frozen=True)
class AuditRecord:
    """One entry to append: its leaf data and the columns queries filter on.

    Attributes:
        data: the entry's canonical bytes (RFC 8785): the Merkle leaf's data.
        at: when the lookup happened (UTC).
        organisation_id: the calling organisation ("" when authentication is off).
        program_id: the program asked for.
        outcome: the decision or the refusal/failure reason (``ELIGIBLE``, ``NO_CONSENT``…).
        subject: the subject's pseudonym ("" when the request held no usable national ID).
        agencies: every agency asked (none for a refusal).
        members: the pseudonyms of the other household members whose data was read.
    """

    data: bytes
    at: dt.datetime
    organisation_id: str
    program_id: str
    outcome: str
    subject: str
    agencies: tuple[str, ...] = ()
    members: tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: Entry) -> AuditRecord:
        """The record that appends ``entry``."""
        subject = entry.subject
        return cls(
            data=canonical_bytes(entry),
            at=entry.time,
            organisation_id=entry.caller.org if entry.caller is not None else "",
            program_id=entry.program.id,
            outcome=entry.result.outcome,
            subject=subject.pseudonym if subject is not None else "",
            agencies=tuple(dict.fromkeys(query.agency for query in entry.agencies)),
            members=subject.members if subject is not None else (),
        )
