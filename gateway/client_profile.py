"""A client profile: where the hub is and how this client proves who it is.

The CLI's ``check`` and ``check-batch`` read it to open a TLS channel (trusting ``ca_file``)
and to mint a short-lived token per command with the organisation's key. ``sakha demo``
writes one to :func:`default_profile_path`, so the commands it prints just work.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, Field
from pydantic.dataclasses import dataclass

from adapters.typed_config import STRICT, load_yaml, read_text, relative_to_file, validate
from gateway import environment
from gateway.auth.tokens import issue_token, load_private_key

TOKEN_TTL_S = 300
"""Lifetime of the token the CLI mints for one command."""


class ProfileError(Exception):
    """The client profile is missing or invalid."""


_FilePath = Annotated[Path, AfterValidator(relative_to_file)]
_Text = Annotated[str, Field(min_length=1)]


def _current_user() -> str:
    return os.environ.get("USER", "operator")


@dataclass(frozen=True, config=STRICT)
class ClientProfile:
    """One client identity for one hub."""

    server: _Text
    """The hub's ``host:port``."""
    ca_file: _FilePath
    """The CA certificate the hub's TLS certificate must chain to."""
    organisation: _Text
    """The organisation's id (the token's ``iss``)."""
    kid: _Text
    """The registered key's id."""
    key_file: _FilePath
    """The organisation's private key (PEM)."""
    operator: _Text = Field(default_factory=_current_user)
    """Who runs the commands (the token's operator); default: ``$USER``."""
    audience: _Text = "sakha-hub"
    """The hub's token audience."""

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
    """Read a profile; every defect is a :class:`ProfileError` naming the file and the key.

    Relative ``ca_file`` and ``key_file`` are read from the profile's folder.
    """
    return validate(
        load_yaml(read_text(path, error=ProfileError), source=str(path), error=ProfileError),
        ClientProfile,
        source=str(path),
        error=ProfileError,
        context={"base": path.absolute().parent},
    )


def save_profile(profile: ClientProfile, path: Path) -> None:
    """Write ``profile`` to ``path`` (readable by its owner only: it points at a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: str(v) for k, v in asdict(profile).items()}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
