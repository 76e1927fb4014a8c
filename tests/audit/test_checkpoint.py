"""C2SP tlog checkpoints: the body format, signing and opening, and equivocation."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from audit.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointReason,
    EquivocationError,
    MalformedCheckpointError,
    WrongOriginError,
    check_consistent,
    open_checkpoint,
    sign_checkpoint,
)
from audit.merkle import leaf_hash
from audit.merkle_store import MemoryNodes, consistency_proof, tree_root
from audit.note import (
    InvalidSignatureError,
    NoteError,
    Signer,
    UnverifiedNoteError,
    cosign_note,
    sign_note,
)

ORIGIN = "sakha.example/audit"
ROOT = bytes(range(32))
ROOT64 = base64.b64encode(ROOT).decode()

# The example in c2sp.org/tlog-checkpoint.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def make_signer(name: str, seed: int) -> Signer:
    return Signer(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


LOG = make_signer(ORIGIN, 1)
CHECKPOINT = Checkpoint(ORIGIN, 42, ROOT)


# --- the body ----------------------------------------------------------------------------


def test_the_specification_example_parses_and_formats_back() -> None:
    checkpoint = Checkpoint.parse(SPEC_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == SPEC_TEXT


def test_extensions_and_the_empty_tree_round_trip() -> None:
    checkpoint = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "— ext two"))
    text = f"{ORIGIN}\n0\n{ROOT64}\next one\n— ext two\n"
    assert checkpoint.to_text() == text
    assert Checkpoint.parse(text) == checkpoint


def test_an_origin_is_opaque_beyond_being_non_empty() -> None:
    # The specification only recommends URL-like origins and forbids assuming it.
    assert Checkpoint.parse(f"a log+with spaces\n1\n{ROOT64}\n").origin == "a log+with spaces"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            f"{ORIGIN}\n1\n{ROOT64}", CheckpointReason.NO_FINAL_NEWLINE, id="no-final-newline"
        ),
        pytest.param("", CheckpointReason.NO_FINAL_NEWLINE, id="empty"),
        pytest.param(f"{ORIGIN}\n1\n", CheckpointReason.TOO_FEW_LINES, id="no-root-line"),
        pytest.param(f"{ORIGIN}\n", CheckpointReason.TOO_FEW_LINES, id="origin-only"),
        pytest.param(f"\n1\n{ROOT64}\n", CheckpointReason.BAD_ORIGIN, id="empty-origin"),
        pytest.param(f"log\r\n1\n{ROOT64}\n", CheckpointReason.BAD_ORIGIN, id="carriage-return"),
        pytest.param(f"{ORIGIN}\n01\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="leading-zero"),
        pytest.param(f"{ORIGIN}\n00\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="double-zero"),
        pytest.param(f"{ORIGIN}\n-1\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="negative"),
        pytest.param(f"{ORIGIN}\n+1\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="plus-sign"),
        pytest.param(f"{ORIGIN}\n 1\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="leading-space"),
        pytest.param(f"{ORIGIN}\n1_000\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="underscore"),
        pytest.param(f"{ORIGIN}\n\u0661\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="arabic-digit"),
        pytest.param(f"{ORIGIN}\n0x10\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="hex"),
        pytest.param(f"{ORIGIN}\n\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="empty-size"),
        pytest.param(f"{ORIGIN}\n{2**64}\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="over-uint64"),
        pytest.param(f"{ORIGIN}\n{'9' * 5000}\n{ROOT64}\n", CheckpointReason.BAD_SIZE, id="huge"),
        pytest.param(
            f"{ORIGIN}\n1\n{ROOT64[:-1]}\n", CheckpointReason.BAD_ROOT_HASH, id="unpadded"
        ),
        pytest.param(
            f"{ORIGIN}\n1\n{ROOT64[:-2]}9=\n", CheckpointReason.BAD_ROOT_HASH, id="non-canonical"
        ),
        pytest.param(
            f"{ORIGIN}\n1\nnot base64!\n", CheckpointReason.BAD_ROOT_HASH, id="not-base64"
        ),
        pytest.param(f"{ORIGIN}\n1\n\n", CheckpointReason.BAD_ROOT_HASH, id="empty-root"),
        pytest.param(
            f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
            CheckpointReason.BAD_ROOT_HASH,
            id="root-31-bytes",
        ),
        pytest.param(
            f"{ORIGIN}\n1\n{base64.b64encode(ROOT + b'!').decode()}\n",
            CheckpointReason.BAD_ROOT_HASH,
            id="root-33-bytes",
        ),
        pytest.param(f"{ORIGIN}\n1\n{ROOT64}\n\n", CheckpointReason.BAD_EXTENSION, id="empty-ext"),
        pytest.param(
            f"{ORIGIN}\n1\n{ROOT64}\n\nafter\n", CheckpointReason.BAD_EXTENSION, id="blank-then-ext"
        ),
    ],
)
def test_malformed_bodies_are_refused_with_their_reason(
    text: str, reason: CheckpointReason
) -> None:
    with pytest.raises(MalformedCheckpointError) as caught:
        Checkpoint.parse(text)
    assert caught.value.reason is reason


def test_the_non_canonical_root_case_decodes_to_the_same_bytes() -> None:
    assert base64.b64decode(f"{ROOT64[:-2]}9=") == ROOT


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param(("", 1, ROOT, ()), CheckpointReason.BAD_ORIGIN, id="empty-origin"),
        pytest.param(("a\nb", 1, ROOT, ()), CheckpointReason.BAD_ORIGIN, id="newline-in-origin"),
        pytest.param((ORIGIN, -1, ROOT, ()), CheckpointReason.BAD_SIZE, id="negative"),
        pytest.param(
            (ORIGIN, MAX_TREE_SIZE + 1, ROOT, ()), CheckpointReason.BAD_SIZE, id="too-big"
        ),
        pytest.param((ORIGIN, True, ROOT, ()), CheckpointReason.BAD_SIZE, id="bool"),
        pytest.param((ORIGIN, 1, ROOT[:31], ()), CheckpointReason.BAD_ROOT_HASH, id="short-root"),
        pytest.param((ORIGIN, 1, ROOT, ("",)), CheckpointReason.BAD_EXTENSION, id="empty-ext"),
        pytest.param(
            (ORIGIN, 1, ROOT, ("a\nb",)), CheckpointReason.BAD_EXTENSION, id="newline-ext"
        ),
    ],
)
def test_checkpoints_refuse_bad_fields(
    fields: tuple[str, int, bytes, tuple[str, ...]], reason: CheckpointReason
) -> None:
    with pytest.raises(MalformedCheckpointError) as caught:
        Checkpoint(*fields)
    assert caught.value.reason is reason


# --- signing and opening -----------------------------------------------------------------


def test_a_signed_checkpoint_opens() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG)
    assert note == sign_note(CHECKPOINT.to_text(), [LOG])
    assert open_checkpoint(note, LOG.verifier(), origin=ORIGIN) == CHECKPOINT


def test_a_witnessed_checkpoint_opens_with_the_log_key_alone() -> None:
    note = cosign_note(sign_checkpoint(CHECKPOINT, LOG), [make_signer("witness.example/w", 2)])
    assert open_checkpoint(note, LOG.verifier(), origin=ORIGIN) == CHECKPOINT


def test_the_wrong_origin_is_refused() -> None:
    with pytest.raises(WrongOriginError) as caught:
        open_checkpoint(
            sign_checkpoint(CHECKPOINT, LOG), LOG.verifier(), origin="other.example/log"
        )
    assert caught.value.reason is CheckpointReason.WRONG_ORIGIN


def test_the_wrong_key_is_refused() -> None:
    impostor = make_signer(ORIGIN, 3)
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(sign_checkpoint(CHECKPOINT, impostor), LOG.verifier(), origin=ORIGIN)


def test_a_bad_signature_is_refused() -> None:
    forged = sign_checkpoint(CHECKPOINT, LOG).replace(b"\n42\n", b"\n43\n")
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(forged, LOG.verifier(), origin=ORIGIN)


def test_a_signed_malformed_body_is_refused() -> None:
    note = sign_note(f"{ORIGIN}\n042\n{ROOT64}\n", [LOG])
    with pytest.raises(MalformedCheckpointError) as caught:
        open_checkpoint(note, LOG.verifier(), origin=ORIGIN)
    assert caught.value.reason is CheckpointReason.BAD_SIZE


def test_the_log_key_is_named_after_the_origin() -> None:
    with pytest.raises(WrongOriginError) as caught:
        sign_checkpoint(CHECKPOINT, make_signer("other.example/log", 1))
    assert caught.value.reason is CheckpointReason.KEY_NAME_NOT_ORIGIN


# --- equivocation ------------------------------------------------------------------------


def _log(size: int) -> MemoryNodes:
    nodes = MemoryNodes()
    nodes.append([leaf_hash(b"entry %d" % i) for i in range(size)])
    return nodes


TREE = _log(20)
SMALL = Checkpoint(ORIGIN, 10, tree_root(TREE, 10))
LARGE = Checkpoint(ORIGIN, 20, tree_root(TREE, 20))
PROOF = consistency_proof(TREE, 10, 20)
OTHER_ROOT = bytes(32)


def test_one_size_one_root_is_consistent_without_a_proof() -> None:
    check_consistent(SMALL, Checkpoint(ORIGIN, 10, SMALL.root_hash, ("ext",)), proof=[])


def test_one_size_two_roots_is_a_split_view() -> None:
    twin = Checkpoint(ORIGIN, 10, OTHER_ROOT)
    with pytest.raises(EquivocationError) as caught:
        check_consistent(SMALL, twin, proof=PROOF)
    assert caught.value.reason is CheckpointReason.SPLIT_VIEW
    assert (caught.value.first, caught.value.second) == (SMALL, twin)


@pytest.mark.parametrize(("a", "b"), [(SMALL, LARGE), (LARGE, SMALL)], ids=["in-order", "swapped"])
def test_two_sizes_are_joined_by_the_proof_smaller_first(a: Checkpoint, b: Checkpoint) -> None:
    check_consistent(a, b, proof=PROOF)


def test_a_failed_proof_is_an_equivocation() -> None:
    forked = Checkpoint(ORIGIN, 20, tree_root(_log(21), 20)[:-1] + b"\x00")
    with pytest.raises(EquivocationError) as caught:
        check_consistent(forked, SMALL, proof=PROOF)
    assert caught.value.reason is CheckpointReason.NOT_CONSISTENT
    assert (caught.value.first, caught.value.second) == (SMALL, forked)
    tampered = [PROOF[0][:-1] + bytes([PROOF[0][-1] ^ 1]), *PROOF[1:]]
    with pytest.raises(EquivocationError):
        check_consistent(SMALL, LARGE, proof=tampered)


def test_checkpoints_of_two_logs_are_not_compared() -> None:
    other = Checkpoint("other.example/log", 10, OTHER_ROOT)
    with pytest.raises(WrongOriginError):
        check_consistent(SMALL, other, proof=[])


# --- properties --------------------------------------------------------------------------

lines = st.text(st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=40)
origins = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters="+"),
    min_size=1,
    max_size=40,
).filter(lambda name: not any(char.isspace() for char in name))
checkpoints = st.builds(
    Checkpoint,
    origin=origins,
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(lines, max_size=3).map(tuple),
)


@given(checkpoint=checkpoints)
def test_random_checkpoints_round_trip_through_text(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


@given(checkpoint=checkpoints, seed=st.binary(min_size=32, max_size=32))
def test_random_checkpoints_round_trip_signed(checkpoint: Checkpoint, seed: bytes) -> None:
    signer = Signer(checkpoint.origin, Ed25519PrivateKey.from_private_bytes(seed))
    note = sign_checkpoint(checkpoint, signer)
    assert open_checkpoint(note, signer.verifier(), origin=checkpoint.origin) == checkpoint


@given(checkpoint=checkpoints, data=st.data())
def test_random_bit_flips_in_signed_checkpoints_fail(
    checkpoint: Checkpoint, data: st.DataObject
) -> None:
    signer = Signer(checkpoint.origin, LOG.private_key)
    note = bytearray(sign_checkpoint(checkpoint, signer))
    index = data.draw(st.integers(0, len(note) - 1))
    note[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(NoteError):
        open_checkpoint(bytes(note), signer.verifier(), origin=checkpoint.origin)
