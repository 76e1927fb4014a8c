"""The hub's configuration: one frozen dataclass with its limits written out.

Loaded from one YAML file plus the ``SAKHA_*`` variables of :mod:`gateway.environment`,
then passed explicitly; nothing reads the environment after start-up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adapters.strict_yaml import load_strict
from gateway import environment
from gateway.pki.ca import TlsFiles


class ConfigError(Exception):
    """The hub's configuration is invalid; raised at start-up."""


@dataclass(frozen=True)
class AgencyEndpoint:
    """Where the hub reaches one agency's ConnectorService."""

    agency_id: str
    target: str


SECURITY_FILES = (
    "tls_cert_file",
    "tls_key_file",
    "clients_file",
    "agency_ca_file",
    "agency_client_cert_file",
    "agency_client_key_file",
)
"""Paths a secure hub needs; relative ones in a config file are read from its folder."""


@dataclass(frozen=True)
class HubConfig:
    """Everything the hub needs to run, with explicit bounds.

    Attributes:
        listen: ``host:port`` for the EligibilityService (port 0 picks a free one).
        agencies: the agencies' endpoints.
        programs_dir: program files; None means the built-in programs.
        agency_timeout_ms: upper bound on one Fetch to one agency.
        max_deadline_ms: a unary call still running after this is ended (DEADLINE_EXCEEDED),
            whatever deadline the caller set.
        max_stream_deadline_ms: the same bound for a CheckBatch stream.
        max_batch_items: most requests one CheckBatch stream may carry.
        fetch_chunk_subjects: most subjects in one Fetch to one agency.
        batch_chunk_items: CheckBatch requests decided together as one unit of work.
        batch_chunks_in_flight: chunks of a CheckBatch stream processed concurrently.
        max_fetches_per_agency: concurrent Fetch calls to one agency, so one slow agency
            cannot exhaust the hub.
        coalesce_window_ms: how long a single check waits for others to share batches.
        coalesce_max_items: a coalesced batch is sent as soon as it holds this many.
        coalesce_max_in_flight: coalesced batches of one program decided at once; a check
            arriving while fewer are in flight is sent at once, without waiting.
        max_message_bytes: largest gRPC message accepted from a client (a check request is
            a few hundred bytes; this bounds what a buffered CheckBatch chunk can hold).
        agency_max_message_bytes: largest gRPC message accepted from an agency.
        grace_s: how long shutdown waits for in-flight checks.
        insecure: no TLS and no tokens — local debugging only; every other security
            setting below is then ignored and the hub says so loudly.
        tls_cert_file, tls_key_file: the hub's TLS certificate and key for clients.
        clients_file: the registry of client organisations (keys, roles, programs).
        audience: the ``aud`` every client token must carry.
        token_leeway_s: clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        token_max_lifetime_s: longest ``exp - iat`` accepted.
        agency_ca_file: the CA that signs agency certificates (mutual TLS to agencies).
        agency_client_cert_file, agency_client_key_file: the hub's client certificate.
    """

    listen: str = "127.0.0.1:50051"
    agencies: tuple[AgencyEndpoint, ...] = ()
    programs_dir: Path | None = None
    agency_timeout_ms: int = 3000
    max_deadline_ms: int = 60_000
    max_batch_items: int = 2_000_000
    fetch_chunk_subjects: int = 1000
    batch_chunk_items: int = 500
    batch_chunks_in_flight: int = 4
    max_fetches_per_agency: int = 16
    coalesce_window_ms: float = 5.0
    coalesce_max_items: int = 256
    coalesce_max_in_flight: int = 1
    max_message_bytes: int = 64 * 1024
    max_stream_deadline_ms: int = 4 * 3600 * 1000
    agency_max_message_bytes: int = 64 * 1024 * 1024
    grace_s: float = 5.0
    insecure: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    clients_file: Path | None = None
    audience: str = "sakha-hub"
    token_leeway_s: int = 30
    token_max_lifetime_s: int = 3600
    agency_ca_file: Path | None = None
    agency_client_cert_file: Path | None = None
    agency_client_key_file: Path | None = None

    def __post_init__(self) -> None:
        positive = (
            "agency_timeout_ms",
            "max_deadline_ms",
            "max_stream_deadline_ms",
            "max_batch_items",
            "fetch_chunk_subjects",
            "batch_chunk_items",
            "batch_chunks_in_flight",
            "max_fetches_per_agency",
            "coalesce_max_items",
            "coalesce_max_in_flight",
            "max_message_bytes",
            "agency_max_message_bytes",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.coalesce_window_ms < 0:
            raise ConfigError("coalesce_window_ms must not be negative")
        if self.token_leeway_s < 0 or self.token_max_lifetime_s <= 0:
            raise ConfigError("token_leeway_s must be >= 0 and token_max_lifetime_s > 0")
        ids = [a.agency_id for a in self.agencies]
        if len(ids) != len(set(ids)):
            raise ConfigError("an agency is listed twice")
        if not self.insecure:
            missing = [name for name in SECURITY_FILES if getattr(self, name) is None]
            if missing:
                raise ConfigError(
                    f"{', '.join(missing)} must be set (or insecure: true, for local debugging)"
                )


def agency_tls_files(config: HubConfig) -> TlsFiles:
    """The files of the hub's mutual TLS towards agencies (a secure config has them all)."""
    ca, cert, key = (
        config.agency_ca_file,
        config.agency_client_cert_file,
        config.agency_client_key_file,
    )
    if ca is None or cert is None or key is None:
        raise ConfigError("agency_ca_file, agency_client_cert_file, agency_client_key_file")
    return TlsFiles(ca, cert, key)


def client_tls_files(config: HubConfig) -> TlsFiles:
    """The hub's certificate and key for its client-facing TLS port."""
    if config.tls_cert_file is None or config.tls_key_file is None or config.agency_ca_file is None:
        raise ConfigError("tls_cert_file and tls_key_file must be set")
    return TlsFiles(config.agency_ca_file, config.tls_cert_file, config.tls_key_file)


_INT_ENV = {
    environment.SAKHA_AGENCY_TIMEOUT_MS: "agency_timeout_ms",
}
_FLOAT_ENV = {environment.SAKHA_COALESCE_WINDOW_MS: "coalesce_window_ms"}


def load_hub_config(path: Path | None, env: Mapping[str, str] | None = None) -> HubConfig:
    """Read ``path`` (YAML; optional) and apply ``SAKHA_*`` overrides from ``env``."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = load_strict(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw = loaded
    known = {f.name for f in dataclasses.fields(HubConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {**raw, **_from_environment(os.environ if env is None else env)}
    agencies = values.pop("agencies", []) or []
    if not isinstance(agencies, list):
        raise ConfigError("agencies must be a list of {agency_id, target}")
    try:
        endpoints = tuple(AgencyEndpoint(str(a["agency_id"]), str(a["target"])) for a in agencies)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"agencies: each entry needs agency_id and target ({exc})") from exc
    for key in ("programs_dir", *SECURITY_FILES):
        if values.get(key) is not None:
            given = Path(values[key])
            values[key] = (
                path.parent / given if path is not None and not given.is_absolute() else given
            )
    try:
        return HubConfig(agencies=endpoints, **values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if environment.SAKHA_LISTEN in env:
        values["listen"] = env[environment.SAKHA_LISTEN]
    if environment.SAKHA_INSECURE in env:
        values["insecure"] = _flag(environment.SAKHA_INSECURE, env[environment.SAKHA_INSECURE])
    if environment.SAKHA_PROGRAMS_DIR in env:
        values["programs_dir"] = env[environment.SAKHA_PROGRAMS_DIR]
    for var, key in _INT_ENV.items():
        if var in env:
            values[key] = _number(var, env[var], int)
    for var, key in _FLOAT_ENV.items():
        if var in env:
            values[key] = _number(var, env[var], float)
    return values


def _flag(var: str, text: str) -> bool:
    """Only an unmistakable yes or no: a typo must never switch security off."""
    word = text.strip().lower()
    if word in ("1", "true", "yes"):
        return True
    if word in ("0", "false", "no", ""):
        return False
    raise ConfigError(f"{var}={text!r}: use 1/true/yes or 0/false/no")


def _number(var: str, text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError as exc:
        raise ConfigError(f"{var}={text!r} is not a number") from exc
