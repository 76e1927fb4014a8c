"""Iranian national ID (کد ملی) validation.

A national ID is exactly ten ASCII digits; the last is a check digit over the first nine:
``s = sum(d[i] * (10 - i) for i in 0..8) % 11``; the check digit is ``s`` when ``s < 2``
and ``11 - s`` otherwise. IDs made of one repeated digit pass the arithmetic but are never
issued, so they are rejected. Nothing is normalised: Persian or Arabic-Indic digits,
whitespace and signs are errors, never quietly turned into someone else's ID.
"""

from __future__ import annotations

import enum

NATIONAL_ID_LENGTH = 10
_ASCII_DIGITS = frozenset("0123456789")


class NationalIdDefect(enum.Enum):
    """Why a string is not a valid national ID (the value is a stable reason code)."""

    EMPTY = "NATIONAL_ID_EMPTY"
    LENGTH = "NATIONAL_ID_LENGTH"
    NOT_DIGITS = "NATIONAL_ID_NOT_ASCII_DIGITS"
    REPEATED_DIGIT = "NATIONAL_ID_REPEATED_DIGIT"
    CHECK_DIGIT = "NATIONAL_ID_CHECK_DIGIT"


def check_digit(first_nine: str) -> int:
    """Return the check digit for the first nine digits of a national ID."""
    if len(first_nine) != NATIONAL_ID_LENGTH - 1 or not _ASCII_DIGITS.issuperset(first_nine):
        raise ValueError("check_digit needs exactly nine ASCII digits")
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(first_nine)) % 11
    return remainder if remainder < 2 else 11 - remainder


def with_check_digit(first_nine: str) -> str:
    """The national ID that starts with ``first_nine``: those digits and their check digit
    (one repeated digit, never issued, is the caller's to avoid)."""
    return f"{first_nine}{check_digit(first_nine)}"


def national_id_defect(value: str) -> NationalIdDefect | None:
    """Return what is wrong with ``value`` as a national ID, or None when it is valid."""
    if not value:
        return NationalIdDefect.EMPTY
    if not _ASCII_DIGITS.issuperset(value):
        return NationalIdDefect.NOT_DIGITS
    if len(value) != NATIONAL_ID_LENGTH:
        return NationalIdDefect.LENGTH
    if len(set(value)) == 1:
        return NationalIdDefect.REPEATED_DIGIT
    if check_digit(value[:9]) != int(value[9]):
        return NationalIdDefect.CHECK_DIGIT
    return None


def is_valid_national_id(value: str) -> bool:
    """True when ``value`` is a well-formed national ID with a correct check digit."""
    return national_id_defect(value) is None
