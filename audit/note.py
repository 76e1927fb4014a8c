"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

A signed note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(key id || signature)>``. The text must be ignored unless a trusted key's
signature on it verifies, so :func:`open_note` returns the text only together with at least one
verified signature. Signatures from keys the caller does not know are kept, not judged: they are
room for witness cosignatures (:func:`cosign_note`).

Where the specification leaves a choice this module takes the strict one: base64 must be the
canonical encoding (so no two spellings of one signature exist), key ids in verifier keys are
lowercase hex, and every signature line by a known key must verify, repeated or not.

Pure code: no I/O, and every cryptographic operation is ``cryptography``'s Ed25519.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.errors import AuditError

ED25519 = 0x01
"""The signature type byte the specification assigns to Ed25519."""

MAX_SIGNATURES = 100
"""The most signature lines :func:`open_note` reads (the specification asks for at least 16)."""

SIGNATURE_PREFIX = "— "
"""What every signature line starts with: EM DASH (U+2014) and a space."""

_PUBLIC_KEY_SIZE = 32
_KEY_ID_SIZE = 4
_KEY_ID_HEX_DIGITS = frozenset("0123456789abcdef")


class NoteReason(enum.StrEnum):
    """Why a note, a key or a signing request was refused (stable codes)."""

    NOT_UTF8 = "NOT_UTF8"
    CONTROL_CHARACTER = "CONTROL_CHARACTER"
    NO_FINAL_NEWLINE = "NO_FINAL_NEWLINE"
    NO_BLANK_LINE = "NO_BLANK_LINE"
    NO_SIGNATURES = "NO_SIGNATURES"
    TOO_MANY_SIGNATURES = "TOO_MANY_SIGNATURES"
    BAD_SIGNATURE_PREFIX = "BAD_SIGNATURE_PREFIX"
    BAD_SIGNATURE_LINE = "BAD_SIGNATURE_LINE"
    BAD_KEY_NAME = "BAD_KEY_NAME"
    BAD_BASE64 = "BAD_BASE64"
    SHORT_SIGNATURE = "SHORT_SIGNATURE"
    BAD_KEY_FORMAT = "BAD_KEY_FORMAT"
    BAD_KEY_ID = "BAD_KEY_ID"
    UNKNOWN_ALGORITHM = "UNKNOWN_ALGORITHM"
    BAD_KEY_LENGTH = "BAD_KEY_LENGTH"
    KEY_ID_MISMATCH = "KEY_ID_MISMATCH"
    AMBIGUOUS_VERIFIER = "AMBIGUOUS_VERIFIER"
    UNKNOWN_KEYS_ONLY = "UNKNOWN_KEYS_ONLY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    NO_SIGNERS = "NO_SIGNERS"
    DUPLICATE_SIGNER = "DUPLICATE_SIGNER"


class NoteError(AuditError):
    """Root of every error this module raises; ``reason`` says why in a stable code."""

    def __init__(self, reason: NoteReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """The stable code of what is wrong."""


class MalformedNoteError(NoteError):
    """A note or note text does not follow the signed-note format."""


class MalformedKeyError(NoteError):
    """A key name, verifier key, signer key or set of verifiers is not usable."""


class UnverifiedNoteError(NoteError):
    """A well-formed note carries no signature by any of the known keys."""


class InvalidSignatureError(NoteError):
    """A signature by a known key does not verify: the note was altered or forged."""

    def __init__(self, key_name: str, key_id: int) -> None:
        super().__init__(
            NoteReason.BAD_SIGNATURE, f"signature by known key {key_name}+{key_id:08x} is invalid"
        )
        self.key_name = key_name
        """The name of the key whose signature failed."""
        self.key_id = key_id
        """The id of the key whose signature failed."""


class SigningError(NoteError):
    """A request to sign or cosign a note cannot be honoured as asked."""


def ed25519_key_id(name: str, public_key: bytes) -> int:
    """The Ed25519 key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:_KEY_ID_SIZE], "big")


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 public key under a key name: checks signatures made by one :class:`Signer`."""

    name: str
    public_key: bytes
    """The 32-byte RFC 8032 encoding of the public key."""

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.public_key) != _PUBLIC_KEY_SIZE:
            raise MalformedKeyError(
                NoteReason.BAD_KEY_LENGTH,
                f"an Ed25519 public key has {_PUBLIC_KEY_SIZE} bytes, not {len(self.public_key)}",
            )

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read a verifier key ``<name>+<8 hex digits key id>+<base64(0x01 || public key)>``."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise MalformedKeyError(
                NoteReason.BAD_KEY_FORMAT, "a verifier key has three parts: name+id+key"
            )
        name, id_hex, key64 = parts
        _check_key_name(name)
        identifier = _parse_key_id(id_hex)
        verifier = cls(name, _decode_key_material(key64))
        _check_key_id(identifier, verifier.key_id)
        return verifier

    @property
    def key_id(self) -> int:
        """The key id signature lines by this key carry."""
        return ed25519_key_id(self.name, self.public_key)

    @property
    def key_string(self) -> str:
        """The verifier key in the specification's text form (what :meth:`parse` reads)."""
        key64 = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{key64}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key under a key name: signs notes."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Read a signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``.

        The signed-note specification defines no private key format; this is the one of
        ``golang.org/x/mod/sumdb/note``, whose key id is that of the matching public key.
        """
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedKeyError(
                NoteReason.BAD_KEY_FORMAT, "a signer key reads PRIVATE+KEY+name+id+key"
            )
        _, _, name, id_hex, key64 = parts
        _check_key_name(name)
        identifier = _parse_key_id(id_hex)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(_decode_key_material(key64)))
        _check_key_id(identifier, signer.key_id)
        return signer

    def verifier(self) -> Verifier:
        """The verifier for this signer's signatures."""
        public_key = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, public_key)

    @property
    def key_id(self) -> int:
        """The key id this signer's signature lines carry."""
        return self.verifier().key_id

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self.private_key.sign(message)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: who signed (name and key id) and the signature bytes."""

    key_name: str
    key_id: int
    signature: bytes
    """The signature proper, without the 4-byte key id in front of it."""

    @property
    def line(self) -> str:
        """The signature line as it appears in a note, final newline included."""
        raw = self.key_id.to_bytes(_KEY_ID_SIZE, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.key_name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text at least one known key has vouched for."""

    text: str
    """The note text, final newline included, blank separator line excluded."""
    verified: tuple[NoteSignature, ...]
    """Signatures by known keys, all verified, in note order (never empty)."""
    unverified: tuple[NoteSignature, ...]
    """Signatures by keys the caller did not name (witnesses, rotated keys), not checked."""


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """The signed note of ``text``, with one signature line per signer, in the order given."""
    _check_text(text)
    lines = _signature_lines(text.encode(), signers, existing=())
    return (text + "\n" + lines).encode()


def cosign_note(note: bytes, signers: Sequence[Signer]) -> bytes:
    """``note`` with a signature line by each signer appended; text and old lines untouched.

    This checks the note's form, not its signatures: open it with :func:`open_note` first when
    the cosignature is to vouch for anything.
    """
    text, signatures = _split(note)
    return note + _signature_lines(text.encode(), signers, existing=signatures).encode()


def open_note(note: bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Parse ``note`` and check every signature by a key in ``verifiers``.

    Signatures by other keys are returned unchecked. Raises :class:`MalformedNoteError` for a
    note not in the format, :class:`InvalidSignatureError` when a known key's signature fails
    and :class:`UnverifiedNoteError` when no known key signed at all.
    """
    known = _index(verifiers)
    text, signatures = _split(note)
    message = text.encode()
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for signature in dict.fromkeys(signatures):
        verifier = known.get((signature.key_name, signature.key_id))
        if verifier is None:
            unverified.append(signature)
        elif verifier.verify(message, signature.signature):
            verified.append(signature)
        else:
            raise InvalidSignatureError(signature.key_name, signature.key_id)
    if not verified:
        raise UnverifiedNoteError(
            NoteReason.UNKNOWN_KEYS_ONLY, "no signature in the note is by a known key"
        )
    return OpenedNote(text, tuple(verified), tuple(unverified))


def _signature_lines(
    message: bytes, signers: Sequence[Signer], *, existing: Sequence[NoteSignature]
) -> str:
    """One signature line per signer over ``message``; no key may sign twice."""
    if not signers:
        raise SigningError(NoteReason.NO_SIGNERS, "no signer was given")
    if len(existing) + len(signers) > MAX_SIGNATURES:
        raise SigningError(
            NoteReason.TOO_MANY_SIGNATURES, f"a note carries at most {MAX_SIGNATURES} signatures"
        )
    taken = {(signature.key_name, signature.key_id) for signature in existing}
    lines: list[str] = []
    for signer in signers:
        signature = NoteSignature(signer.name, signer.key_id, signer.sign(message))
        identity = (signature.key_name, signature.key_id)
        if identity in taken:
            raise SigningError(
                NoteReason.DUPLICATE_SIGNER,
                f"key {signer.name}+{signature.key_id:08x} has signed this note already",
            )
        taken.add(identity)
        lines.append(signature.line)
    return "".join(lines)


def _index(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    """The verifiers by (name, key id); two different keys under one pair are refused."""
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        identity = (verifier.name, verifier.key_id)
        if known.setdefault(identity, verifier) != verifier:
            raise MalformedKeyError(
                NoteReason.AMBIGUOUS_VERIFIER,
                f"two different keys are named {verifier.name}+{verifier.key_id:08x}",
            )
    return known


def _split(note: bytes) -> tuple[str, list[NoteSignature]]:
    """The text and the signature lines of a note, checked for form only."""
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedNoteError(
            NoteReason.NOT_UTF8, f"a note is UTF-8; byte {error.start} is not"
        ) from None
    _check_characters(decoded)
    separator = decoded.rfind("\n\n")
    if separator < 0:
        raise MalformedNoteError(
            NoteReason.NO_BLANK_LINE, "no blank line separates the text from the signatures"
        )
    block = decoded[separator + 2 :]
    if not block:
        raise MalformedNoteError(
            NoteReason.NO_SIGNATURES, "no signature line follows the last blank line"
        )
    if not block.endswith("\n"):
        raise MalformedNoteError(
            NoteReason.NO_FINAL_NEWLINE, "the last signature line does not end in a newline"
        )
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(
            NoteReason.TOO_MANY_SIGNATURES,
            f"{len(lines)} signature lines; at most {MAX_SIGNATURES} are read",
        )
    signatures = [_parse_signature(line, number) for number, line in enumerate(lines, 1)]
    return decoded[: separator + 1], signatures


def _parse_signature(line: str, number: int) -> NoteSignature:
    """One signature line (without its newline); ``number`` counts from 1, for messages."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError(
            NoteReason.BAD_SIGNATURE_PREFIX,
            f"signature line {number} does not start with an em dash (U+2014) and a space",
        )
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
    if not space:
        raise MalformedNoteError(
            NoteReason.BAD_SIGNATURE_LINE,
            f"signature line {number} has no space between key name and signature",
        )
    _check_key_name(name, error=MalformedNoteError)
    raw = _decode_base64(encoded, error=MalformedNoteError)
    if len(raw) <= _KEY_ID_SIZE:
        raise MalformedNoteError(
            NoteReason.SHORT_SIGNATURE,
            f"signature line {number} holds {len(raw)} bytes: a key id and nothing to verify",
        )
    identifier = int.from_bytes(raw[:_KEY_ID_SIZE], "big")
    return NoteSignature(name, identifier, raw[_KEY_ID_SIZE:])


def _check_text(text: str) -> None:
    """Refuse a note text that is not UTF-8, has control characters or lacks a final newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MalformedNoteError(
            NoteReason.NOT_UTF8, f"character {error.start} of the text has no UTF-8 form"
        ) from None
    _check_characters(text)
    if not text.endswith("\n"):
        raise MalformedNoteError(NoteReason.NO_FINAL_NEWLINE, "a note text ends in a newline")


def _check_characters(text: str) -> None:
    """Refuse ASCII control characters (below U+0020) other than newline."""
    for index, char in enumerate(text):
        if char < " " and char != "\n":
            raise MalformedNoteError(
                NoteReason.CONTROL_CHARACTER,
                f"control character U+{ord(char):04X} at character {index}",
            )


def _check_key_name(name: str, *, error: type[NoteError] = MalformedKeyError) -> None:
    """Refuse an empty key name or one with Unicode spaces, plus signs or control characters."""
    if not name or "+" in name or any(char.isspace() or char < " " for char in name):
        raise error(
            NoteReason.BAD_KEY_NAME,
            f"key name {name!r} is empty or has a space, a plus sign or a control character",
        )


def canonical_base64(encoded: str) -> bytes | None:
    """The bytes behind ``encoded`` when it is their one standard base64 spelling, else None.

    RFC 4648 section 4 with padding; no whitespace, no non-zero pad bits, so that no two
    spellings of one signature, key or hash exist.
    """
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return None
    return raw if base64.b64encode(raw).decode() == encoded else None


def _decode_base64(encoded: str, *, error: type[NoteError]) -> bytes:
    """Canonical standard base64, or ``error`` with reason ``BAD_BASE64``."""
    raw = canonical_base64(encoded)
    if raw is None:
        raise error(NoteReason.BAD_BASE64, f"{encoded!r} is not canonical standard base64")
    return raw


def _decode_key_material(encoded: str) -> bytes:
    """The 32 key bytes behind ``base64(0x01 || key)``; other algorithms are refused."""
    material = _decode_base64(encoded, error=MalformedKeyError)
    if not material:
        raise MalformedKeyError(NoteReason.BAD_KEY_LENGTH, "the key material is empty")
    if material[0] != ED25519:
        raise MalformedKeyError(
            NoteReason.UNKNOWN_ALGORITHM,
            f"signature type 0x{material[0]:02x} is not Ed25519 (0x{ED25519:02x})",
        )
    key = material[1:]
    if len(key) != _PUBLIC_KEY_SIZE:
        raise MalformedKeyError(
            NoteReason.BAD_KEY_LENGTH,
            f"an Ed25519 key has {_PUBLIC_KEY_SIZE} bytes, not {len(key)}",
        )
    return key


def _parse_key_id(id_hex: str) -> int:
    """A key id as a key string spells it: exactly 8 lowercase hex digits."""
    if len(id_hex) != 2 * _KEY_ID_SIZE or not _KEY_ID_HEX_DIGITS.issuperset(id_hex):
        raise MalformedKeyError(
            NoteReason.BAD_KEY_ID, f"key id {id_hex!r} is not 8 lowercase hex digits"
        )
    return int(id_hex, 16)


def _check_key_id(stated: int, actual: int) -> None:
    """Refuse a key string whose stated key id is not the id of its key."""
    if stated != actual:
        raise MalformedKeyError(
            NoteReason.KEY_ID_MISMATCH, f"key id {stated:08x} is not the key's id {actual:08x}"
        )
