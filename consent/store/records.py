"""What the store returns: a consent or mandate with its status, as of a moment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consent.decision import ConsentState
from consent.mandate import Mandate
from consent.model import ConsentArtefact
from consent.status import ConsentStatus, MandateStatus


@dataclass(frozen=True)
class ConsentRecord:
    """A stored consent.

    Attributes:
        artefact: the signed, immutable part.
        jws: the compact JWS, as granted (export it to verify offline).
        status: the status as of the read (EXPIRED once the window has passed).
        stored_status: the status as stored (never EXPIRED: that comes from the clock).
        use_count: how many times it was used.
        last_used_at: when it was last used, or None.
        status_changed_at: when its status last changed.
    """

    artefact: ConsentArtefact
    jws: str
    status: ConsentStatus
    stored_status: ConsentStatus
    use_count: int
    last_used_at: dt.datetime | None
    status_changed_at: dt.datetime

    def state(self, recent_uses: tuple[dt.datetime, ...] = ()) -> ConsentState:
        """The state :func:`consent.decision.decide_consent` judges."""
        return ConsentState(self.artefact, self.stored_status, self.use_count, recent_uses)


@dataclass(frozen=True)
class MandateRecord:
    """A stored mandate, its status and the JWS it was registered as."""

    mandate: Mandate
    jws: str
    status: MandateStatus
    status_changed_at: dt.datetime
