"""A statutory mandate: the legal basis a program cites instead of the subject's consent.

A mandate is registered and signed like an artefact; its status (ACTIVE or SUSPENDED) lives
outside the signature, in the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consent.model import (
    _set,
    check_artefact_id,
    check_identifier,
    check_text,
    check_utc,
    invalid,
)


@dataclass(frozen=True)
class Mandate:
    """A legal mandate covering some programs and purposes for a time.

    Attributes:
        id: the mandate's id.
        legal_reference: the law, decree or court order, as cited.
        issuing_authority: who issued it.
        programs: the program ids it covers.
        purposes: the purpose codes it covers.
        valid_from: from when it applies (UTC).
        valid_until: until when (exclusive, UTC); None while the law stands.
        created_at: when it was registered.
    """

    id: str
    legal_reference: str
    issuing_authority: str
    programs: frozenset[str]
    purposes: frozenset[str]
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    created_at: dt.datetime

    def __post_init__(self) -> None:
        check_artefact_id("id", self.id)
        check_text("legal_reference", self.legal_reference)
        check_text("issuing_authority", self.issuing_authority)
        for name in ("programs", "purposes"):
            values = frozenset(getattr(self, name))
            if not values:
                raise invalid(name, "a mandate covers at least one")
            for value in values:
                check_identifier(name, value)
            _set(self, name, values)
        _set(self, "valid_from", check_utc("valid_from", self.valid_from))
        if self.valid_until is not None:
            _set(self, "valid_until", check_utc("valid_until", self.valid_until))
            if self.valid_until <= self.valid_from:
                raise invalid("valid_until", "must be later than valid_from")
        _set(self, "created_at", check_utc("created_at", self.created_at))
