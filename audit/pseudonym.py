"""Subject pseudonyms: HMAC-SHA256 of the national ID under the audit authority's key.

The log never holds a national ID. It holds ``HMAC-SHA256(key, national_id)`` (the ID's
ASCII bytes) as 64 lower-case hex digits, with the id of the key that made it. Whoever
holds the key (the audit authority) can recompute a subject's pseudonym for a
subject-access report; nobody else can link an entry to a person, and without the key a
pseudonym cannot be brute-forced over the small space of national IDs. After a key
rotation, old entries keep their old key id: a report builds one :class:`Pseudonymizer`
per key still held and searches for each ``(key_id, pseudonym)`` pair.

Key files hold the key as base64 text (standard alphabet, padded; whitespace and line
breaks ignored) of at least 32 random bytes: ``openssl rand -base64 32 > pseudonym.key``,
then ``chmod 600 pseudonym.key``. Base64 text rather than raw bytes, because it survives
secret stores and editors unchanged and a stray trailing newline cannot silently become part
of the key. A file that its group or others may access is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import stat
from pathlib import Path

from audit.entry import looks_like_national_id
from audit.errors import AuditError

MIN_KEY_BYTES = 32
"""Shortest key accepted: the HMAC-SHA256 output size, as RFC 2104 recommends."""

_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class PseudonymError(AuditError, ValueError):
    """A pseudonym key, key file, key id or input is unusable."""


class Pseudonymizer:
    """Turns national IDs into pseudonyms under one key, named by ``key_id``."""

    __slots__ = ("_hmac", "_key_id")

    def __init__(self, key: bytes, key_id: str) -> None:
        """Use ``key`` (at least :data:`MIN_KEY_BYTES` bytes) under the id ``key_id``.

        Raises:
            PseudonymError: the key is too short, or the key id is not 1-64 of
                ``A-Z a-z 0-9 . _ -`` or has a national ID's shape (an entry would refuse it).
        """
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes")
        if not _KEY_ID.fullmatch(key_id) or looks_like_national_id(key_id):
            raise PseudonymError(
                "pseudonym key id must be 1-64 of A-Z a-z 0-9 . _ -, not shaped like a national ID"
            )
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        """The id recorded next to every pseudonym this key makes."""
        return self._key_id

    def pseudonym(self, national_id: str) -> str:
        """``HMAC-SHA256(key, national_id)`` as 64 lower-case hex digits.

        The ID is not validated here (a refused, mistyped ID still gets a pseudonym) but
        must be non-empty ASCII, so that one ID has exactly one byte form.

        Raises:
            PseudonymError: ``national_id`` is empty or not ASCII.
        """
        if not national_id or not national_id.isascii():
            raise PseudonymError("a national ID to pseudonymise must be non-empty ASCII")
        mac = self._hmac.copy()
        mac.update(national_id.encode("ascii"))
        return mac.hexdigest()

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_id={self._key_id!r})"


def load_pseudonymizer(path: Path, key_id: str) -> Pseudonymizer:
    """The :class:`Pseudonymizer` for the base64 key in ``path``, named ``key_id``.

    Raises:
        PseudonymError: the file is missing or unreadable, its group or others have any
            access to it (whoever reads the key can re-identify every subject in the log),
            it is not base64, or the key is too short.
    """
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise PseudonymError(f"{path}: cannot read the pseudonym key ({error.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PseudonymError(f"{path}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        key = base64.b64decode("".join(path.read_text(encoding="ascii").split()), validate=True)
    except OSError as error:
        raise PseudonymError(f"{path}: cannot read the pseudonym key ({error.strerror})") from None
    except (UnicodeDecodeError, binascii.Error):
        raise PseudonymError(f"{path}: the pseudonym key is not base64 text") from None
    try:
        return Pseudonymizer(key, key_id)
    except PseudonymError as error:
        raise PseudonymError(f"{path}: {error}") from None
