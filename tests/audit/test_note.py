"""C2SP signed notes: the known-answer vector, every malformation, cosigning, bit flips."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from audit import note
from audit.note import (
    MAX_SIGNATURES,
    InvalidSignatureError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    NoteReason,
    NoteSignature,
    Signer,
    SigningError,
    UnverifiedNoteError,
    Verifier,
    cosign_note,
    ed25519_key_id,
    open_note,
    sign_note,
)

VECTOR = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "testdata"
    / "signed-note"
    / "peterneumann.json"
)

# The example in c2sp.org/signed-note, section "Verifier keys".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIG64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


@pytest.fixture(scope="module")
def vector() -> dict[str, str]:
    """The shared known-answer vector; its absence is a failure, not a skip."""
    if not VECTOR.is_file():
        pytest.fail(f"missing known-answer vector {VECTOR}")
    loaded: dict[str, str] = json.loads(VECTOR.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def signer(vector: dict[str, str]) -> Signer:
    return Signer.parse(vector["skey"])


@pytest.fixture(scope="module")
def verifier(vector: dict[str, str]) -> Verifier:
    return Verifier.parse(vector["vkey"])


def make_signer(name: str, seed: int) -> Signer:
    return Signer(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def signed(text: str, *signers: Signer) -> bytes:
    return sign_note(text, list(signers))


# --- the known-answer vector -------------------------------------------------------------


def test_vector_fields_are_the_ones_these_tests_spell_out(vector: dict[str, str]) -> None:
    assert vector["text"] == TEXT
    assert vector["note"] == f"{TEXT}\n— PeterNeumann {SIG64}\n"


def test_vector_key_id_and_verifier_key(vector: dict[str, str], signer: Signer) -> None:
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert signer.verifier().key_string == vector["vkey"]
    assert Verifier.parse(vector["vkey"]) == signer.verifier()


def test_vector_signature_bytes_are_reproduced(signer: Signer) -> None:
    raw = base64.b64decode(SIG64)
    assert raw[:4] == bytes.fromhex("c74f20a3")
    assert signer.sign(TEXT.encode()) == raw[4:]


def test_vector_note_is_reproduced_byte_for_byte(vector: dict[str, str], signer: Signer) -> None:
    assert sign_note(vector["text"], [signer]) == vector["note"].encode()


def test_vector_note_opens(vector: dict[str, str], verifier: Verifier) -> None:
    opened = open_note(vector["note"].encode(), [verifier])
    assert opened.text == vector["text"]
    assert opened.verified == (
        NoteSignature("PeterNeumann", 0xC74F20A3, base64.b64decode(SIG64)[4:]),
    )
    assert opened.unverified == ()
    assert opened.verified[0].line == f"— PeterNeumann {SIG64}\n"


def test_vector_fails_when_any_bit_of_the_note_flips(
    vector: dict[str, str], verifier: Verifier
) -> None:
    original = vector["note"].encode()
    for index in range(len(original)):
        for bit in range(8):
            altered = bytearray(original)
            altered[index] ^= 1 << bit
            with pytest.raises(NoteError):
                open_note(bytes(altered), [verifier])


def test_the_specification_example_opens() -> None:
    verifier = Verifier.parse(SPEC_VKEY)
    assert verifier.key_id == 0x530D903A
    assert verifier.key_string == SPEC_VKEY
    assert open_note(SPEC_NOTE, [verifier]).text == "This is an example message.\n"


def test_key_id_is_the_truncated_hash_of_name_newline_type_and_key() -> None:
    public_key = bytes(range(32))
    digest = hashlib.sha256(b"log.example/a\n\x01" + public_key).digest()
    assert ed25519_key_id("log.example/a", public_key) == int.from_bytes(digest[:4], "big")


# --- malformed notes ---------------------------------------------------------------------

GOOD_LINE = f"— PeterNeumann {SIG64}\n"
SHORT64 = base64.b64encode(bytes.fromhex("c74f20a3")).decode()
NON_CANONICAL = SIG64[:-2] + "N="  # same bytes as "M=" but with a non-zero pad bit


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(
            TEXT.encode() + b"\xff\n\n" + GOOD_LINE.encode(), NoteReason.NOT_UTF8, id="not-utf8"
        ),
        pytest.param(
            b"half a \xe2\x80\n\n" + GOOD_LINE.encode(), NoteReason.NOT_UTF8, id="truncated-utf8"
        ),
        pytest.param(
            ("tab\there\n\n" + GOOD_LINE).encode(), NoteReason.CONTROL_CHARACTER, id="tab-in-text"
        ),
        pytest.param(
            (TEXT + "\n" + GOOD_LINE.replace("\n", "\r\n")).encode(),
            NoteReason.CONTROL_CHARACTER,
            id="crlf",
        ),
        pytest.param((TEXT + GOOD_LINE).encode(), NoteReason.NO_BLANK_LINE, id="no-blank-line"),
        pytest.param((TEXT + "\n").encode(), NoteReason.NO_SIGNATURES, id="no-signature-lines"),
        pytest.param(
            (TEXT + "\n" + GOOD_LINE + "\n").encode(), NoteReason.NO_SIGNATURES, id="trailing-blank"
        ),
        pytest.param(
            (TEXT + "\n" + GOOD_LINE[:-1]).encode(),
            NoteReason.NO_FINAL_NEWLINE,
            id="no-final-newline",
        ),
        pytest.param(
            (TEXT + "\n- PeterNeumann " + SIG64 + "\n").encode(),
            NoteReason.BAD_SIGNATURE_PREFIX,
            id="hyphen-not-em-dash",
        ),
        pytest.param(
            (TEXT + "\n– PeterNeumann " + SIG64 + "\n").encode(),
            NoteReason.BAD_SIGNATURE_PREFIX,
            id="en-dash",
        ),
        pytest.param(
            (TEXT + "\n—PeterNeumann " + SIG64 + "\n").encode(),
            NoteReason.BAD_SIGNATURE_PREFIX,
            id="no-space-after-dash",
        ),
        pytest.param(
            (TEXT + "\n " + GOOD_LINE).encode(),
            NoteReason.BAD_SIGNATURE_PREFIX,
            id="indented-line",
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann" + SIG64 + "\n").encode(),
            NoteReason.BAD_SIGNATURE_LINE,
            id="no-space-before-signature",
        ),
        pytest.param(
            (TEXT + "\n— Peter Neumann " + SIG64 + "\n").encode(),
            NoteReason.BAD_KEY_NAME,
            id="space-in-name",
        ),
        pytest.param(
            (TEXT + "\n— Peter\u00a0Neumann " + SIG64 + "\n").encode(),
            NoteReason.BAD_KEY_NAME,
            id="no-break-space-in-name",
        ),
        pytest.param(
            (TEXT + "\n— Peter+Neumann " + SIG64 + "\n").encode(),
            NoteReason.BAD_KEY_NAME,
            id="plus-in-name",
        ),
        pytest.param(
            (TEXT + "\n—  " + SIG64 + "\n").encode(), NoteReason.BAD_KEY_NAME, id="empty-name"
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann " + SIG64 + " \n").encode(),
            NoteReason.BAD_KEY_NAME,
            id="trailing-space",
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann " + SIG64[:-1] + "\n").encode(),
            NoteReason.BAD_BASE64,
            id="base64-without-padding",
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann " + SIG64.replace("/", "_") + "\n").encode(),
            NoteReason.BAD_BASE64,
            id="url-safe-base64",
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann " + NON_CANONICAL + "\n").encode(),
            NoteReason.BAD_BASE64,
            id="non-canonical-base64",
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann \n").encode(),
            NoteReason.SHORT_SIGNATURE,
            id="empty-signature",
        ),
        pytest.param(
            (TEXT + "\n— PeterNeumann " + SHORT64 + "\n").encode(),
            NoteReason.SHORT_SIGNATURE,
            id="key-id-only",
        ),
        pytest.param(
            (TEXT + "\n" + GOOD_LINE * (MAX_SIGNATURES + 1)).encode(),
            NoteReason.TOO_MANY_SIGNATURES,
            id="too-many-signatures",
        ),
    ],
)
def test_malformed_notes_are_refused_with_their_reason(
    message: bytes, reason: NoteReason, verifier: Verifier
) -> None:
    with pytest.raises(MalformedNoteError) as caught:
        open_note(message, [verifier])
    assert caught.value.reason is reason


def test_non_canonical_base64_decodes_to_the_same_bytes() -> None:
    # Why canonical form is required: otherwise this spelling would verify too.
    assert base64.b64decode(NON_CANONICAL) == base64.b64decode(SIG64)


def test_delete_is_not_a_control_character_for_the_format(
    signer: Signer, verifier: Verifier
) -> None:
    assert open_note(signed("rub\x7fout\n", signer), [verifier]).text == "rub\x7fout\n"


def test_text_may_hold_blank_lines_and_signature_lookalikes(
    signer: Signer, verifier: Verifier
) -> None:
    text = f"first\n\n{GOOD_LINE}\n\nlast\n\n"
    assert open_note(signed(text, signer), [verifier]).text == text


def test_at_most_max_signatures_are_read(signer: Signer, verifier: Verifier) -> None:
    message = (TEXT + "\n" + GOOD_LINE * MAX_SIGNATURES).encode()
    assert len(open_note(message, [verifier]).verified) == 1


# --- which keys count --------------------------------------------------------------------


def test_a_note_by_unknown_keys_only_is_unverified(signer: Signer) -> None:
    stranger = make_signer("someone.example/else", 7).verifier()
    for known in ([stranger], []):
        with pytest.raises(UnverifiedNoteError) as caught:
            open_note(signed(TEXT, signer), known)
        assert caught.value.reason is NoteReason.UNKNOWN_KEYS_ONLY


def test_same_name_other_key_or_same_id_other_name_is_not_the_known_key(signer: Signer) -> None:
    same_name = make_signer("PeterNeumann", 9)
    for impostor in (same_name, Signer("PeterNeumann2", signer.private_key)):
        with pytest.raises(UnverifiedNoteError):
            open_note(signed(TEXT, impostor), [signer.verifier()])


def test_a_bad_signature_by_a_known_key_is_an_error(signer: Signer, verifier: Verifier) -> None:
    forged = signed(TEXT, signer).replace(b"answer", b"Answer")
    with pytest.raises(InvalidSignatureError) as caught:
        open_note(forged, [verifier])
    assert caught.value.reason is NoteReason.BAD_SIGNATURE
    assert (caught.value.key_name, caught.value.key_id) == ("PeterNeumann", 0xC74F20A3)


def test_a_truncated_signature_by_a_known_key_is_invalid(verifier: Verifier) -> None:
    raw = base64.b64decode(SIG64)[:-1]
    message = f"{TEXT}\n— PeterNeumann {base64.b64encode(raw).decode()}\n".encode()
    with pytest.raises(InvalidSignatureError):
        open_note(message, [verifier])


def test_a_bad_known_signature_fails_even_beside_a_good_one(signer: Signer) -> None:
    witness = make_signer("witness.example/w1", 3)
    wrong = NoteSignature(witness.name, witness.key_id, witness.sign(b"another text\n")).line
    message = signed(TEXT, signer) + wrong.encode()
    with pytest.raises(InvalidSignatureError) as caught:
        open_note(message, [signer.verifier(), witness.verifier()])
    assert caught.value.key_name == witness.name
    assert open_note(message, [signer.verifier()]).unverified[0].key_name == witness.name


def test_two_signers_and_a_witness_all_verify(signer: Signer) -> None:
    second = make_signer("log.example/rotated", 1)
    witness = make_signer("witness.example/w1", 2)
    message = cosign_note(sign_note(TEXT, [signer, second]), [witness])
    every = [signer.verifier(), second.verifier(), witness.verifier()]
    opened = open_note(message, every)
    assert [s.key_name for s in opened.verified] == [signer.name, second.name, witness.name]
    assert opened.unverified == ()
    only_log = open_note(message, [signer.verifier()])
    assert [s.key_name for s in only_log.unverified] == [second.name, witness.name]


def test_a_repeated_line_is_reported_once(signer: Signer, verifier: Verifier) -> None:
    message = signed(TEXT, signer) + GOOD_LINE.encode()
    assert len(open_note(message, [verifier]).verified) == 1


def test_the_same_verifier_twice_is_fine(verifier: Verifier, signer: Signer) -> None:
    assert open_note(signed(TEXT, signer), [verifier, Verifier.parse(verifier.key_string)])


def test_two_keys_under_one_name_and_id_are_refused(
    monkeypatch: pytest.MonkeyPatch, signer: Signer
) -> None:
    monkeypatch.setattr(note, "ed25519_key_id", lambda _name, _key: 0xC74F20A3)
    twin = make_signer(signer.name, 5)
    with pytest.raises(MalformedKeyError) as caught:
        open_note(signed(TEXT, signer), [signer.verifier(), twin.verifier()])
    assert caught.value.reason is NoteReason.AMBIGUOUS_VERIFIER


# --- signing and cosigning ---------------------------------------------------------------


def test_cosigning_appends_a_line_and_touches_nothing_else(signer: Signer) -> None:
    original = signed(TEXT, signer)
    witness = make_signer("witness.example/w1", 2)
    cosigned = cosign_note(original, [witness])
    assert cosigned.startswith(original)
    added = NoteSignature(witness.name, witness.key_id, witness.sign(TEXT.encode())).line
    assert cosigned[len(original) :] == added.encode()
    assert open_note(cosigned, [witness.verifier()]).text == TEXT


def test_cosigning_keeps_unknown_signatures_as_they_were(signer: Signer) -> None:
    witness = make_signer("witness.example/w1", 2)
    stranger_line = f"— stranger.example/x {base64.b64encode(b'1234' + bytes(64)).decode()}\n"
    original = signed(TEXT, signer) + stranger_line.encode()
    assert cosign_note(original, [witness]).startswith(original)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("no final newline", NoteReason.NO_FINAL_NEWLINE, id="no-final-newline"),
        pytest.param("", NoteReason.NO_FINAL_NEWLINE, id="empty"),
        pytest.param("bell\a\n", NoteReason.CONTROL_CHARACTER, id="control-character"),
        pytest.param("lone \udc80 surrogate\n", NoteReason.NOT_UTF8, id="surrogate"),
    ],
)
def test_signing_refuses_a_bad_text(text: str, reason: NoteReason, signer: Signer) -> None:
    with pytest.raises(MalformedNoteError) as caught:
        sign_note(text, [signer])
    assert caught.value.reason is reason


def test_signing_needs_distinct_signers(signer: Signer) -> None:
    for signers, reason in [
        ([], NoteReason.NO_SIGNERS),
        ([signer, signer], NoteReason.DUPLICATE_SIGNER),
        (
            [make_signer(f"k{i}", i) for i in range(MAX_SIGNATURES + 1)],
            NoteReason.TOO_MANY_SIGNATURES,
        ),
    ]:
        with pytest.raises(SigningError) as caught:
            sign_note(TEXT, signers)
        assert caught.value.reason is reason


def test_cosigning_refuses_a_key_that_signed_already(signer: Signer) -> None:
    with pytest.raises(SigningError) as caught:
        cosign_note(signed(TEXT, signer), [signer])
    assert caught.value.reason is NoteReason.DUPLICATE_SIGNER


def test_cosigning_refuses_a_malformed_note(signer: Signer) -> None:
    with pytest.raises(MalformedNoteError) as caught:
        cosign_note(TEXT.encode(), [signer])
    assert caught.value.reason is NoteReason.NO_BLANK_LINE


def test_cosigning_stays_within_the_signature_limit(signer: Signer) -> None:
    crowd = [make_signer(f"w{i}", i) for i in range(MAX_SIGNATURES - 1)]
    full = cosign_note(signed(TEXT, signer), crowd)
    with pytest.raises(SigningError) as caught:
        cosign_note(full, [make_signer("one.more", 200)])
    assert caught.value.reason is NoteReason.TOO_MANY_SIGNATURES


# --- keys --------------------------------------------------------------------------------

VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PUBLIC = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]


def vkey_with(material: bytes, name: str = "PeterNeumann") -> str:
    """A verifier key whose id matches ``material`` (so only the tested defect remains)."""
    digest_id = ed25519_key_id(name, material[1:]) if material[:1] == b"\x01" else 0
    return f"{name}+{digest_id:08x}+{base64.b64encode(material).decode()}"


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        pytest.param("PeterNeumann", NoteReason.BAD_KEY_FORMAT, id="one-part"),
        pytest.param("PeterNeumann+c74f20a3", NoteReason.BAD_KEY_FORMAT, id="two-parts"),
        pytest.param(VKEY.replace("Peter", "Peter "), NoteReason.BAD_KEY_NAME, id="space-in-name"),
        pytest.param("+" + VKEY, NoteReason.BAD_KEY_NAME, id="empty-name"),
        pytest.param(
            VKEY.replace("c74f20a3", "C74F20A3"), NoteReason.BAD_KEY_ID, id="uppercase-id"
        ),
        pytest.param(VKEY.replace("c74f20a3", "c74f20a"), NoteReason.BAD_KEY_ID, id="short-id"),
        pytest.param(VKEY.replace("c74f20a3", "c74f20ag"), NoteReason.BAD_KEY_ID, id="not-hex"),
        pytest.param(
            VKEY.replace("c74f20a3", "c74f20a4"), NoteReason.KEY_ID_MISMATCH, id="wrong-id"
        ),
        pytest.param(VKEY.replace("Peter", "Petra"), NoteReason.KEY_ID_MISMATCH, id="other-name"),
        pytest.param(VKEY[:-1], NoteReason.BAD_BASE64, id="truncated-base64"),
        pytest.param(VKEY + "=", NoteReason.BAD_BASE64, id="extra-padding"),
        pytest.param(VKEY.replace("ARpc", "ARp c"), NoteReason.BAD_BASE64, id="space-in-base64"),
        pytest.param(VKEY.replace("/", "_"), NoteReason.BAD_BASE64, id="url-safe-base64"),
        pytest.param("PeterNeumann+00000000+", NoteReason.BAD_KEY_LENGTH, id="empty-material"),
        pytest.param(vkey_with(b"\x02" + PUBLIC), NoteReason.UNKNOWN_ALGORITHM, id="ecdsa-type"),
        pytest.param(vkey_with(b"\x04" + PUBLIC), NoteReason.UNKNOWN_ALGORITHM, id="cosig-type"),
        pytest.param(vkey_with(PUBLIC), NoteReason.UNKNOWN_ALGORITHM, id="no-type-byte"),
        pytest.param(vkey_with(b"\x01" + PUBLIC[:31]), NoteReason.BAD_KEY_LENGTH, id="short-key"),
        pytest.param(vkey_with(b"\x01" + PUBLIC + b"\0"), NoteReason.BAD_KEY_LENGTH, id="long-key"),
    ],
)
def test_bad_verifier_keys_are_refused_with_their_reason(vkey: str, reason: NoteReason) -> None:
    with pytest.raises(MalformedKeyError) as caught:
        Verifier.parse(vkey)
    assert caught.value.reason is reason


def test_vkey_with_spells_the_good_key_from_good_material() -> None:
    assert Verifier.parse(vkey_with(b"\x01" + PUBLIC)).key_string == VKEY


@pytest.mark.parametrize(
    ("skey", "reason"),
    [
        pytest.param(
            "PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            NoteReason.BAD_KEY_FORMAT,
            id="no-private-key-prefix",
        ),
        pytest.param(
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            NoteReason.KEY_ID_MISMATCH,
            id="wrong-id",
        ),
        pytest.param(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            NoteReason.UNKNOWN_ALGORITHM,
            id="type-two",
        ),
        pytest.param(
            "PRIVATE+KEY+Peter+Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            NoteReason.BAD_KEY_ID,
            id="plus-in-name",
        ),
    ],
)
def test_bad_signer_keys_are_refused_with_their_reason(skey: str, reason: NoteReason) -> None:
    with pytest.raises(MalformedKeyError) as caught:
        Signer.parse(skey)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "tab\tname", "line\u2028sep", "ideo\u3000space"]
)
def test_keys_refuse_bad_names(name: str) -> None:
    for build in (lambda: make_signer(name, 1), lambda: Verifier(name, PUBLIC)):
        with pytest.raises(MalformedKeyError) as caught:
            build()
        assert caught.value.reason is NoteReason.BAD_KEY_NAME


def test_a_verifier_refuses_a_public_key_of_the_wrong_size() -> None:
    with pytest.raises(MalformedKeyError) as caught:
        Verifier("PeterNeumann", PUBLIC[:31])
    assert caught.value.reason is NoteReason.BAD_KEY_LENGTH


def test_a_signer_hides_its_private_key_from_repr(signer: Signer) -> None:
    assert repr(signer) == "Signer(name='PeterNeumann')"


# --- properties --------------------------------------------------------------------------

key_names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="+"),
    min_size=1,
    max_size=40,
).filter(lambda name: not any(char.isspace() for char in name))
texts = st.text(
    st.characters(codec="utf-8").filter(lambda char: char >= " " or char == "\n"),
    max_size=200,
).map(lambda body: body + "\n")
seeds = st.binary(min_size=32, max_size=32)


@given(name=key_names, seed=seeds, text=texts)
def test_random_notes_round_trip(name: str, seed: bytes, text: str) -> None:
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(seed))
    verifier = Verifier.parse(signer.verifier().key_string)
    opened = open_note(sign_note(text, [signer]), [verifier])
    assert opened.text == text
    assert [(s.key_name, s.key_id) for s in opened.verified] == [(name, signer.key_id)]


@given(name=key_names, seed=seeds, text=texts, data=st.data())
def test_random_bit_flips_fail(name: str, seed: bytes, text: str, data: st.DataObject) -> None:
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(seed))
    message = bytearray(sign_note(text, [signer]))
    index = data.draw(st.integers(0, len(message) - 1))
    message[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(NoteError):
        open_note(bytes(message), [signer.verifier()])
