"""Pseudonyms: HMAC-SHA256 used exactly as RFC 4231 specifies it, keys and key files refused
when weak or exposed."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from hypothesis import given
from hypothesis import strategies as st

from audit import PseudonymError, Pseudonymizer, Subject, load_pseudonymizer

KEY = bytes(range(32))
NATIONAL_ID = "0499370899"

# RFC 4231 section 4 (HMAC-SHA-256 rows of test cases 1, 2, 6 and 7), copied from the RFC.
# Cases 1 and 2 use 20- and 4-byte keys, shorter than the 32 bytes we accept. RFC 2104
# section 2 pads every key shorter than the 64-byte block with zero bytes, so the key
# zero-padded to 32 bytes is the same HMAC key and must give the RFC's output unchanged.
RFC_4231 = [
    pytest.param(
        b"\x0b" * 20 + bytes(12),
        "Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        id="case-1-zero-padded-key",
    ),
    pytest.param(
        b"Jefe" + bytes(28),
        "what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        id="case-2-zero-padded-key",
    ),
    pytest.param(
        b"\xaa" * 131,
        "Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        id="case-6-key-longer-than-block",
    ),
    pytest.param(
        b"\xaa" * 131,
        "This is a test using a larger than block-size key and a larger than block-size "
        "data. The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        id="case-7-key-and-data-longer-than-block",
    ),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC_4231)
def test_pseudonyms_are_hmac_sha256_per_rfc_4231(key: bytes, data: str, expected: str) -> None:
    assert Pseudonymizer(key, "rfc4231").pseudonym(data) == expected


@given(national_id=st.from_regex(r"[0-9]{10}", fullmatch=True))
def test_pseudonyms_agree_with_the_cryptography_hmac(national_id: str) -> None:
    reference = crypto_hmac.HMAC(KEY, hashes.SHA256())
    reference.update(national_id.encode("ascii"))
    assert Pseudonymizer(KEY, "k1").pseudonym(national_id) == reference.finalize().hex()


def test_a_pseudonym_is_deterministic_and_fits_an_entry() -> None:
    first = Pseudonymizer(KEY, "k1").pseudonym(NATIONAL_ID)
    assert first == Pseudonymizer(KEY, "k1").pseudonym(NATIONAL_ID)
    assert Subject(pseudonym=first, key_id="k1").pseudonym == first


def test_distinct_ids_get_distinct_pseudonyms() -> None:
    pseudonymizer = Pseudonymizer(KEY, "k1")
    ids = [f"{n:010d}" for n in range(1000)]
    assert len({pseudonymizer.pseudonym(i) for i in ids}) == len(ids)


def test_different_keys_give_different_pseudonyms() -> None:
    other = hashlib.sha256(b"another key").digest()
    assert Pseudonymizer(KEY, "k1").pseudonym(NATIONAL_ID) != Pseudonymizer(other, "k2").pseudonym(
        NATIONAL_ID
    )


def test_the_key_id_is_a_label_not_an_input() -> None:
    assert Pseudonymizer(KEY, "k1").pseudonym(NATIONAL_ID) == Pseudonymizer(KEY, "k2").pseudonym(
        NATIONAL_ID
    )
    assert Pseudonymizer(KEY, "2025-01.audit").key_id == "2025-01.audit"


@pytest.mark.parametrize("length", [0, 16, 31])
def test_a_short_key_is_refused(length: int) -> None:
    with pytest.raises(PseudonymError, match="at least 32 bytes"):
        Pseudonymizer(bytes(length), "k1")


@pytest.mark.parametrize("key_id", ["", "has space", "slash/y", "x" * 65, "کلید", "k-0499370899"])
def test_a_bad_key_id_is_refused(key_id: str) -> None:
    with pytest.raises(PseudonymError, match="key id"):
        Pseudonymizer(KEY, key_id)


@pytest.mark.parametrize("national_id", ["", "۰۴۹۹۳۷۰۸۹۹", "0499370899\udc80"])
def test_an_empty_or_non_ascii_national_id_is_refused(national_id: str) -> None:
    with pytest.raises(PseudonymError, match="non-empty ASCII"):
        Pseudonymizer(KEY, "k1").pseudonym(national_id)


def test_the_key_never_shows_in_repr() -> None:
    text = repr(Pseudonymizer(KEY, "k1"))
    assert text == "Pseudonymizer(key_id='k1')"
    assert KEY.hex() not in text


def _key_file(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(content)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(base64.b64encode(KEY) + b"\n", id="one-line"),
        pytest.param(
            b"  " + base64.b64encode(KEY)[:20] + b"\n" + base64.b64encode(KEY)[20:], id="wrapped"
        ),
    ],
)
def test_a_key_file_holds_base64_text(tmp_path: Path, content: bytes) -> None:
    loaded = load_pseudonymizer(_key_file(tmp_path, content), "k1")
    assert loaded.key_id == "k1"
    assert loaded.pseudonym(NATIONAL_ID) == Pseudonymizer(KEY, "k1").pseudonym(NATIONAL_ID)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o610, 0o644, 0o666])
def test_a_key_file_others_may_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, base64.b64encode(KEY), mode)
    with pytest.raises(PseudonymError, match=rf"readable by others \(mode {mode:o}\); chmod 600"):
        load_pseudonymizer(path, "k1")


def test_an_owner_only_key_file_of_any_owner_mode_is_accepted(tmp_path: Path) -> None:
    path = _key_file(tmp_path, base64.b64encode(KEY), 0o400)
    assert load_pseudonymizer(path, "k1").key_id == "k1"


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PseudonymError, match="cannot read the pseudonym key"):
        load_pseudonymizer(tmp_path / "absent.key", "k1")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(KEY, "not base64 text", id="raw-ascii-bytes"),
        pytest.param(b"\xff" * 32, "not base64 text", id="raw-binary-bytes"),
        pytest.param(b"not*base64!", "not base64 text", id="bad-alphabet"),
        pytest.param(base64.b64encode(KEY)[:-1], "not base64 text", id="bad-padding"),
        pytest.param(base64.b64encode(bytes(31)), "at least 32 bytes", id="short-key"),
        pytest.param(b"", "at least 32 bytes", id="empty"),
    ],
)
def test_a_key_file_that_is_not_a_base64_key_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = _key_file(tmp_path, content)
    with pytest.raises(PseudonymError, match=message) as caught:
        load_pseudonymizer(path, "k1")
    assert str(path) in str(caught.value)
    assert KEY.hex() not in str(caught.value)
