"""The hub's configuration: one frozen, typed model with its limits written out.

Loaded from one YAML file plus the ``SAKHA_*`` variables of :mod:`gateway.environment`,
validated in strict mode (:mod:`adapters.typed_config`), then passed explicitly; nothing
reads the environment after start-up. Security is on unless the file says ``insecure: true``
(a YAML boolean: ``"false"`` is refused, never read as true) or the CLI says ``--insecure``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic.dataclasses import dataclass

from adapters.fetch_token import MAX_LIFETIME_S
from adapters.pki.material import TlsFiles
from adapters.typed_config import STRICT, load_yaml, read_text, relative_to_file, validate
from gateway import environment


class ConfigError(Exception):
    """The hub's configuration is invalid; raised at start-up."""


FilePath = Annotated[Path, AfterValidator(relative_to_file)]
"""A path in the hub's file; a relative one is read from the file's folder."""


@dataclass(frozen=True, config=STRICT)
class AgencyEndpoint:
    """Where the hub reaches one agency's ConnectorService."""

    agency_id: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")]
    """The agency's id, as it describes itself."""
    target: Annotated[str, Field(min_length=1)]
    """``host:port`` of its ConnectorService."""


@dataclass(frozen=True, config=STRICT)
class SecurityLayers:
    """Which security layers the hub runs; each is on unless switched off here.

    A layer that is off is logged as a warning at start-up. ``insecure: true`` switches
    every layer off.
    """

    client_tls: bool = True
    """TLS on the client-facing port (needs ``tls_cert_file``, ``tls_key_file``)."""
    client_tokens: bool = True
    """Bearer tokens, authorization and rate limits for every client (needs
    ``clients_file``)."""
    agency_mtls: bool = True
    """Mutual TLS towards agencies (needs ``agency_ca_file``, ``agency_client_cert_file``,
    ``agency_client_key_file``)."""
    fetch_tokens: bool = True
    """A hub-signed token on every Fetch, which agencies verify (needs
    ``fetch_token_key_file``)."""
    consent: bool = True
    """Every check needs the subject's consent or its program's mandate, decided before any
    agency is asked (needs ``db_url``, ``consent_key_file`` and ``client_tokens``: a consent
    is given to an organisation)."""
    audit: bool = True
    """Every lookup, decided or refused, is recorded in the tamper-evident audit log before
    its reply leaves (needs ``audit_db_url`` or ``db_url``, ``audit_key_file`` and
    ``checkpoint_key_file``)."""

    @model_validator(mode="after")
    def _tokens_need_tls(self) -> Self:
        if self.client_tokens and not self.client_tls:
            raise ValueError(
                "client_tokens needs client_tls: bearer tokens must not travel in clear"
            )
        if self.agency_mtls and not self.fetch_tokens:
            raise ValueError(
                "agency_mtls needs fetch_tokens: agencies serving mutual TLS refuse every "
                "Fetch without a hub-signed token"
            )
        if self.consent and not self.client_tokens:
            raise ValueError(
                "consent needs client_tokens: a consent is given to an organisation, so the "
                "hub must know which organisation asks"
            )
        return self

    def warnings(self) -> tuple[str, ...]:
        """One loud line per layer that is off."""
        off = {
            "client_tls": "SECURITY OFF: no TLS on the client port; requests travel in clear.",
            "client_tokens": (
                "SECURITY OFF: no client authentication, authorization or rate limits; every "
                "caller may run every program."
            ),
            "agency_mtls": "SECURITY OFF: no mutual TLS to agencies; fetches travel in clear.",
            "fetch_tokens": (
                "SECURITY OFF: no fetch tokens; agencies cannot check what the hub asks them."
            ),
            "consent": (
                "SECURITY OFF: no consent or mandate is checked; any subject may be looked up."
            ),
            "audit": "SECURITY OFF: no audit log; lookups are recorded nowhere.",
        }
        return tuple(text for name, text in off.items() if not getattr(self, name))


ALL_OFF = SecurityLayers(
    client_tls=False,
    client_tokens=False,
    agency_mtls=False,
    fetch_tokens=False,
    consent=False,
    audit=False,
)
"""Every layer off: what ``insecure: true`` means."""

_LAYER_FILES: Mapping[str, tuple[str, ...]] = {
    "client_tls": ("tls_cert_file", "tls_key_file"),
    "client_tokens": ("clients_file",),
    "agency_mtls": ("agency_ca_file", "agency_client_cert_file", "agency_client_key_file"),
    "fetch_tokens": ("fetch_token_key_file",),
    "consent": ("db_url", "consent_key_file"),
    "audit": ("audit_key_file", "checkpoint_key_file"),
}

Positive = Annotated[int, Field(gt=0)]


@dataclass(frozen=True, config=STRICT)
class HubConfig:
    """Everything the hub needs to run, with explicit bounds."""

    listen: Annotated[str, Field(min_length=1)] = "127.0.0.1:50051"
    """``host:port`` for the EligibilityService (port 0 picks a free one)."""
    agencies: tuple[AgencyEndpoint, ...] = ()
    """The agencies' endpoints: a list of ``{agency_id, target}``."""
    programs_dir: FilePath | None = None
    """Folder of program files; unset means the built-in programs."""
    agency_timeout_ms: Positive = 3000
    """Upper bound on one Fetch to one agency."""
    max_deadline_ms: Positive = 60_000
    """A unary call still running after this is ended (DEADLINE_EXCEEDED), whatever
    deadline the caller set."""
    max_batch_items: Positive = 2_000_000
    """Most requests one CheckBatch stream may carry."""
    fetch_chunk_subjects: Positive = 1000
    """Most subjects in one Fetch to one agency."""
    batch_chunk_items: Positive = 500
    """CheckBatch requests decided together as one unit of work."""
    batch_chunks_in_flight: Positive = 4
    """Chunks of a CheckBatch stream processed concurrently."""
    max_fetches_per_agency: Positive = 16
    """Concurrent Fetch calls to one agency, so one slow agency cannot exhaust the hub."""
    coalesce_window_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 5.0
    """How long a single check waits for others to share batches."""
    coalesce_max_items: Positive = 256
    """A coalesced batch is sent as soon as it holds this many."""
    coalesce_max_in_flight: Positive = 1
    """Coalesced batches of one program decided at once; a check arriving while fewer are
    in flight is sent at once, without waiting."""
    max_message_bytes: Positive = 64 * 1024
    """Largest gRPC message accepted from a client (bounds a buffered CheckBatch chunk)."""
    max_stream_deadline_ms: Positive = 4 * 3600 * 1000
    """The bound of ``max_deadline_ms`` for any streaming call (CheckBatch)."""
    agency_max_message_bytes: Positive = 64 * 1024 * 1024
    """Largest gRPC message accepted from an agency."""
    grace_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 5.0
    """How long shutdown waits for in-flight checks."""
    insecure: bool = False
    """Every security layer off (no TLS, no tokens, no agency mTLS, no fetch tokens, no
    consent, no audit log): local debugging only."""
    security: SecurityLayers = SecurityLayers()
    """Per-layer switches, all on by default (ignored when ``insecure`` is true)."""
    tls_cert_file: FilePath | None = None
    """The hub's TLS certificate for clients."""
    tls_key_file: FilePath | None = None
    """The key of ``tls_cert_file``."""
    clients_file: FilePath | None = None
    """The registry of client organisations (keys, roles, programs)."""
    audience: Annotated[str, Field(min_length=1)] = "sakha-hub"
    """The ``aud`` every client token must carry."""
    token_leeway_s: Annotated[int, Field(ge=0, le=300)] = 30
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
    token_max_lifetime_s: Annotated[int, Field(gt=0, le=86_400)] = 3600
    """Longest ``exp - iat`` accepted."""
    agency_ca_file: FilePath | None = None
    """The CA that signs agency certificates (mutual TLS to agencies)."""
    agency_client_cert_file: FilePath | None = None
    """The hub's client certificate towards agencies."""
    agency_client_key_file: FilePath | None = None
    """The key of ``agency_client_cert_file``."""
    fetch_token_key_file: FilePath | None = None
    """The hub's fetch-token signing key (Ed25519, PKCS#8 PEM); not a TLS or client key."""
    fetch_token_kid: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """The ``kid`` of ``fetch_token_key_file`` in the agencies' JWK Set; null: the key's RFC
    7638 thumbprint (what ``sakha pki init`` publishes)."""
    fetch_token_ttl_s: Annotated[int, Field(gt=0, le=MAX_LIFETIME_S)] = 30
    """Life of each fetch token; must exceed ``agency_timeout_ms`` (a Fetch may wait that long
    for a slot)."""

    db_url: Annotated[str, Field(min_length=1)] | None = None
    """The consent store's database (and the audit log's, unless ``audit_db_url`` is set), an
    SQLAlchemy URL: ``sqlite:////var/lib/sakha/sakha.sqlite`` (the default kind) or
    ``postgresql+psycopg://user@host/sakha``. Migrate it first with ``sakha db upgrade
    --db-url URL``; the hub refuses an unmigrated one."""
    consent_key_file: FilePath | None = None
    """The key that signs consent artefacts and mandates (Ed25519, PKCS#8 PEM; only its
    owner may read it); its public half is published in the consent JWK Set."""
    consent_kid: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """The ``kid`` of ``consent_key_file``; null: the key's RFC 7638 thumbprint."""
    consent_jwks_file: FilePath | None = None
    """Earlier consent keys (a JWK Set of public keys) whose artefacts are still honoured
    and published, after a key rotation; null: none."""

    audit_origin: Annotated[str, Field(pattern=r"^[^\s+]{1,255}$")] = "sakha.local/audit"
    """The audit log's name: the first line of its checkpoints and the name of its checkpoint
    key (C2SP); one per log, e.g. ``audit.sakha.example.ir/v1``."""
    audit_db_url: Annotated[str, Field(min_length=1)] | None = None
    """The audit log's database; null: ``db_url``. Give the log a database of its own to keep
    it apart from the consent store, which holds national IDs (a consent names its subject):
    the log holds none. Migrate it with ``sakha db upgrade --db-url URL --audit-db-url URL``."""
    audit_key_file: FilePath | None = None
    """The audit authority's pseudonym key (base64 text of at least 32 random bytes; only its
    owner may read it): subjects appear in the log as HMAC-SHA256 under it."""
    audit_key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = "audit-1"
    """The id recorded with each pseudonym, so entries stay findable after a key rotation."""
    checkpoint_key_file: FilePath | None = None
    """The key that signs the audit log's checkpoints (Ed25519, PKCS#8 PEM, owner-only)."""
    checkpoint_entries: Positive = 1000
    """A checkpoint is signed once this many entries are new ..."""
    checkpoint_interval_ms: Positive = 1000
    """... or this often while any entry is new (signing never waits on a check)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [a.agency_id for a in self.agencies]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"agencies: {', '.join(repeated)} listed twice")
        layers = self.layers
        missing = list(
            dict.fromkeys(
                name
                for layer, names in _LAYER_FILES.items()
                if getattr(layers, layer)
                for name in names
                if getattr(self, name) is None
            )
        )
        if layers.audit and self.audit_database is None and "db_url" not in missing:
            missing.append("audit_db_url (or db_url)")
        if missing:
            raise ValueError(
                f"{', '.join(missing)} must be set (or the layer switched off under "
                "security:, or insecure: true for local debugging)"
            )
        if layers.fetch_tokens and self.fetch_token_ttl_s * 1000 <= self.agency_timeout_ms:
            raise ValueError(
                f"fetch_token_ttl_s ({self.fetch_token_ttl_s} s) must exceed agency_timeout_ms "
                f"({self.agency_timeout_ms} ms): a token must outlive the Fetch it allows"
            )
        return self

    @property
    def audit_database(self) -> str | None:
        """The audit log's database URL: ``audit_db_url``, else ``db_url``."""
        return self.audit_db_url or self.db_url

    @property
    def layers(self) -> SecurityLayers:
        """The security layers in force: none when ``insecure``, else ``security``."""
        return ALL_OFF if self.insecure else self.security


def agency_tls_files(config: HubConfig) -> TlsFiles:
    """The files of the hub's mutual TLS towards agencies (required when the layer is on)."""
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
    if config.tls_cert_file is None or config.tls_key_file is None:
        raise ConfigError("tls_cert_file and tls_key_file must be set")
    # One-way TLS: the CA slot is not read for the client port.
    return TlsFiles(
        config.agency_ca_file or config.tls_cert_file, config.tls_cert_file, config.tls_key_file
    )


def _flag(text: str) -> bool:
    """Only an unmistakable yes or no: a typo must never switch security off."""
    word = text.strip().lower()
    if word in ("1", "true", "yes"):
        return True
    if word in ("0", "false", "no"):
        return False
    raise ValueError("use 1/true/yes or 0/false/no")


def _integer(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError("expected a whole number")
    return int(text)


def _decimal(text: str) -> float:
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)", text.strip()):
        raise ValueError("expected a number")
    return float(text)


def _text(text: str) -> str:
    return text


def _path(text: str) -> str:
    if not text:
        raise ValueError("expected a path")
    return str(Path(text).absolute())


ENVIRONMENT: Mapping[str, tuple[str, Callable[[str], object]]] = {
    environment.SAKHA_LISTEN: ("listen", _text),
    environment.SAKHA_PROGRAMS_DIR: ("programs_dir", _path),
    environment.SAKHA_AGENCY_TIMEOUT_MS: ("agency_timeout_ms", _integer),
    environment.SAKHA_COALESCE_WINDOW_MS: ("coalesce_window_ms", _decimal),
    environment.SAKHA_INSECURE: ("insecure", _flag),
    environment.SAKHA_DB_URL: ("db_url", _text),
    environment.SAKHA_AUDIT_DB_URL: ("audit_db_url", _text),
}
"""Each hub variable: the config key it overrides and how its text is read."""


def load_hub_config(
    path: Path | None, env: Mapping[str, str] | None = None, *, insecure: bool = False
) -> HubConfig:
    """Read ``path`` (YAML; optional) and apply ``SAKHA_*`` overrides from ``env``.

    Args:
        path: the hub's file; None for the defaults.
        env: the environment (default: ``os.environ``).
        insecure: the CLI's ``--insecure``: every security layer off.

    Raises:
        ConfigError: the file is unreadable or invalid, or a variable's value is; the
            message names the file and the key, or the variable.
    """
    source = str(path) if path is not None else "hub config"
    data: object = {}
    if path is not None:
        data = load_yaml(read_text(path, error=ConfigError), source=source, error=ConfigError)
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    overrides, origins = _from_environment(os.environ if env is None else env)
    if insecure:
        overrides["insecure"] = True
        origins["insecure"] = "--insecure"
    context = {"base": path.absolute().parent} if path is not None else None
    return validate(
        {**data, **overrides},
        HubConfig,
        source=source,
        error=ConfigError,
        context=context,
        origins=origins,
    )


def _from_environment(env: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    for variable, (key, read) in ENVIRONMENT.items():
        if variable not in env:
            continue
        shown = f"{variable}={env[variable]!r}"
        try:
            values[key] = read(env[variable])
        except ValueError as exc:
            raise ConfigError(f"{shown}: {exc}") from None
        origins[key] = shown
    return values, origins
