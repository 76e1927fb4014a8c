"""A client profile: where the hub is and how this client proves who it is.

The CLI's ``check`` and ``check-batch`` read it to open a TLS channel (trusting ``ca_file``)
and to mint a short-lived token per command with the organisation's key. ``sakha demo``
writes one to :func:`default_profile_path`, so the commands it prints just work.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from adapters.strict_yaml import load_strict
from gateway import environment
from gateway.auth.tokens import issue_token, load_private_key

TOKEN_TTL_S = 300
"""Lifetime of the token the CLI mints for one command."""


class ProfileError(Exception):
    """The client profile is missing or invalid."""


@dataclass(frozen=True)
class ClientProfile:
    """One client identity for one hub."""

    server: str
    ca_file: Path
    organisation: str
    kid: str
    key_file: Path
    operator: str
    audience: str = "sakha-hub"

    def bearer_token(self) -> str:
        """A fresh token for this profile's organisation and operator."""
        return issue_token(
            organisation_id=self.organisation,
            operator=self.operator,
            private_key=load_private_key(self.key_file),
            kid=self.kid,
            audience=self.audience,
            ttl_s=TOKEN_TTL_S,
        )


def default_profile_path() -> Path:
    """``$SAKHA_PROFILE``, else ``$XDG_CONFIG_HOME/sakha/profile.yaml`` (or ~/.config)."""
    explicit = os.environ.get(environment.SAKHA_PROFILE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sakha" / "profile.yaml"


def load_profile(path: Path) -> ClientProfile:
    """Read a profile; every defect is a :class:`ProfileError` naming the file."""
    try:
        raw = load_strict(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: expected a mapping")
    try:
        return ClientProfile(
            server=str(raw["server"]),
            ca_file=Path(raw["ca_file"]),
            organisation=str(raw["organisation"]),
            kid=str(raw["kid"]),
            key_file=Path(raw["key_file"]),
            operator=str(raw.get("operator", os.environ.get("USER", "operator"))),
            audience=str(raw.get("audience", "sakha-hub")),
        )
    except KeyError as exc:
        raise ProfileError(f"{path}: missing key {exc}") from exc


def save_profile(profile: ClientProfile, path: Path) -> None:
    """Write ``profile`` to ``path`` (readable by its owner only: it points at a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: str(v) for k, v in asdict(profile).items()}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
