"""The security event record: every refused call, one structured line each.

Refusals (bad token, denied program, rate limit) touch no personal data, so they go to this
log rather than the audit log of lookups; operators ship the ``sakha.security`` logger to
their SIEM. Nothing secret is recorded: never the token, only who and why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

LOGGER_NAME = "sakha.security"


@dataclass(frozen=True)
class SecurityEvent:
    """One refused call: what kind, the stable reason code, and whom it concerned."""

    kind: str
    reason: str
    method: str
    peer: str
    organisation: str = ""
    operator: str = ""
    detail: str = ""


def record(event: SecurityEvent) -> None:
    """Write ``event`` as one JSON line at WARNING level."""
    logging.getLogger(LOGGER_NAME).warning(
        json.dumps(asdict(event), ensure_ascii=False, sort_keys=True)
    )
