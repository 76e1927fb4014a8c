"""Loading the hub's own signing keys (fetch tokens, consent artefacts): Ed25519, owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.auth.tokens import load_private_key
from gateway.config import ConfigError


def load_hub_signing_key(path: Path, *, role: str) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (unencrypted PKCS#8 PEM), used as the hub's ``role`` key.

    Raises:
        KeyFileError: the file is unreadable or not a PEM private key.
        ConfigError: the key is not Ed25519, or others than its owner may read it (whoever
            holds a hub signing key can speak for the hub).
    """
    key = load_private_key(path)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{path}: the {role} key must be Ed25519")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: readable by others (mode {mode & 0o777:o}); chmod 600 it")
    return key
