"""The hub's name for :mod:`adapters.national_id` (the check lives with the adapter SDK,
which must not import the hub)."""

from __future__ import annotations

from adapters.national_id import (
    NATIONAL_ID_LENGTH,
    NationalIdDefect,
    check_digit,
    is_valid_national_id,
    national_id_defect,
)

__all__ = [
    "NATIONAL_ID_LENGTH",
    "NationalIdDefect",
    "check_digit",
    "is_valid_national_id",
    "national_id_defect",
]
