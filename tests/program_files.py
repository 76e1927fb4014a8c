"""Pieces of program files that many tests' sample programs share."""

from typing import Any

CONSENT_BASIS: dict[str, Any] = {
    "kind": "consent",
    "consent": {
        "max_validity_days": 365,
        "fetch_type": "PERIODIC",
        "max_frequency": {"max_uses": 4, "per_days": 30},
        "max_data_life_days": 90,
    },
}
"""A consent legal basis: periodic, at most 4 checks in 30 days, valid up to a year."""
