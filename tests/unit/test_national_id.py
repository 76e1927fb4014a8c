"""The national-ID validator against valid and invalid vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.national_id import NationalIdDefect, check_digit, national_id_defect

# Valid codes: check digits computed by hand from the published algorithm, including the
# remainder < 2 branch (first two) and leading zeros, which must never be stripped.
VALID = ["0499370899", "0084575948", "1234567891", "0013542419", "0000000019", "4608968882"]


@pytest.mark.parametrize("national_id", VALID)
def test_valid_ids_pass(national_id: str) -> None:
    assert national_id_defect(national_id) is None


@pytest.mark.parametrize(
    ("national_id", "defect"),
    [
        pytest.param("", NationalIdDefect.EMPTY, id="empty"),
        pytest.param("049937089", NationalIdDefect.LENGTH, id="nine-digits"),
        pytest.param("04993708999", NationalIdDefect.LENGTH, id="eleven-digits"),
        pytest.param("0499370898", NationalIdDefect.CHECK_DIGIT, id="wrong-check-digit"),
        pytest.param("0000000000", NationalIdDefect.REPEATED_DIGIT, id="all-zero"),
        pytest.param("5555555555", NationalIdDefect.REPEATED_DIGIT, id="all-five"),
        pytest.param("۰۴۹۹۳۷۰۸۹۹", NationalIdDefect.NOT_DIGITS, id="persian-digits"),
        pytest.param("٠٤٩٩٣٧٠٨٩٩", NationalIdDefect.NOT_DIGITS, id="arabic-indic-digits"),
        pytest.param("０４９９３７０８９９", NationalIdDefect.NOT_DIGITS, id="fullwidth-digits"),
        pytest.param("0499370899 ", NationalIdDefect.NOT_DIGITS, id="trailing-space"),
        pytest.param("049-937-0899", NationalIdDefect.NOT_DIGITS, id="dashes"),
        pytest.param("-499370899", NationalIdDefect.NOT_DIGITS, id="minus-sign"),
        pytest.param("0499370899\n", NationalIdDefect.NOT_DIGITS, id="newline"),
        pytest.param("0499\u200c370899", NationalIdDefect.NOT_DIGITS, id="zero-width-joiner"),
    ],
)
def test_invalid_ids_name_their_defect(national_id: str, defect: NationalIdDefect) -> None:
    assert national_id_defect(national_id) is defect


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_makes_nine_digits_valid(first_nine: str) -> None:
    valid = [d for d in "0123456789" if national_id_defect(first_nine + d) is None]
    if len(set(first_nine)) == 1 and str(check_digit(first_nine)) == first_nine[0]:
        assert valid == []  # a repeated digit is never issued
    else:
        assert valid == [str(check_digit(first_nine))]


def test_check_digit_refuses_anything_but_nine_ascii_digits() -> None:
    with pytest.raises(ValueError, match="nine ASCII digits"):
        check_digit("۱۲۳۴۵۶۷۸۹")
