"""The composition root: builds the hub from its config and returns the running server."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import sqlalchemy as sa
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sakha.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    eligibility_pb2,
    eligibility_pb2_grpc,
)

from adapters.client import ConnectorClient
from adapters.jwk_set import jwk_thumbprint, public_jwk_set, read_jwk_set
from adapters.sdk import AgencyDescription
from adapters.typed_config import read_text
from audit import AuditError, Signer, load_pseudonymizer
from audit.store import AuditStore
from consent import ConsentSigner, JwksVerifier, SchemaError
from consent.database import create_store_engine
from consent.store import ConsentStore
from gateway import metrics
from gateway.audit_log import AuditLog
from gateway.audit_service import AuditServicer
from gateway.auth.policy import AccessPolicy, Policy, UnsafeAllowAllPolicy
from gateway.auth.ratelimit import RateLimiter
from gateway.auth.registry import ClientRegistry, load_client_registry
from gateway.availability import Availability
from gateway.checking import Checker
from gateway.config import (
    AgencyEndpoint,
    ConfigError,
    HubConfig,
    agency_tls_files,
    client_tls_files,
)
from gateway.consent_gate import ConsentGate
from gateway.consent_service import ConsentServicer
from gateway.engine.catalogue import IDENTITY_AGENCY, Catalogue
from gateway.engine.planner import Plan
from gateway.errors import HubUnavailableError
from gateway.fanout import AgencyDirectory, RemoteAgency
from gateway.fetch_tokens import FetchTokenSigner
from gateway.interceptors import hub_interceptors
from gateway.interceptors.authn import AuthenticationInterceptor
from gateway.pipeline import CoalesceSettings, Pipeline
from gateway.pki.tls import agency_channel_options, hub_channel_credentials, hub_server_credentials
from gateway.programs.loader import ProgramRegistry, load_programs
from gateway.programs.model import Program
from gateway.programs.paths import BUILTIN_PROGRAMS_DIR
from gateway.service import EligibilityServicer
from gateway.signing_key import load_hub_signing_key

_log = logging.getLogger(__name__)
SERVICE_NAME = eligibility_pb2.DESCRIPTOR.services_by_name["EligibilityService"].full_name
CONSENT_SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
AUDIT_SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


@dataclass
class Hub:
    """A running hub: its server, bound port and the parts tests may inspect."""

    server: grpc.aio.Server
    port: int
    servicer: EligibilityServicer
    pipeline: Pipeline
    registry: ProgramRegistry
    channels: list[grpc.aio.Channel]
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped in grpc-stubs)
    consent: ConsentLayer | None = None
    audit: AuditLog | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    agencies: tuple[AgencyDescription, ...] = ()
    """The connected agencies, as each described itself at start-up."""

    async def stop(self, grace_s: float | None = 5.0) -> None:
        """Stop taking calls, finish in-flight checks, write the audit appends still pending,
        sign a last checkpoint, close."""
        await self.health.enter_graceful_shutdown()
        await self.servicer.drain()
        await self.server.stop(grace_s)
        for channel in self.channels:
            await channel.close(None)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.audit is not None:
            await self.audit.drain()
            await self.audit.checkpoint()
            self.audit.store.close()
        if self.consent is not None:
            self.consent.store.close()


async def connect_agencies(config: HubConfig) -> tuple[AgencyDirectory, list[grpc.aio.Channel]]:
    """Open a channel to every agency and read its self-description."""
    options = [
        ("grpc.max_receive_message_length", config.agency_max_message_bytes),
        ("grpc.max_send_message_length", config.agency_max_message_bytes),
    ]
    if not config.layers.agency_mtls:
        channels = [grpc.aio.insecure_channel(a.target, options=options) for a in config.agencies]
    else:
        credentials = hub_channel_credentials(agency_tls_files(config))
        channels = [
            grpc.aio.secure_channel(
                a.target, credentials, options=[*options, *agency_channel_options(a.agency_id)]
            )
            for a in config.agencies
        ]
    clients = [ConnectorClient(channel) for channel in channels]
    timeout_s = config.agency_timeout_ms / 1000
    try:
        descriptions = await asyncio.gather(
            *(_describe(e, c, timeout_s) for e, c in zip(config.agencies, clients, strict=True))
        )
    except HubUnavailableError:
        for channel in channels:
            await channel.close(None)
        raise
    agencies = {
        endpoint.agency_id: RemoteAgency(
            description, client, asyncio.Semaphore(config.max_fetches_per_agency)
        )
        for endpoint, client, description in zip(
            config.agencies, clients, descriptions, strict=True
        )
    }
    return AgencyDirectory(agencies), channels


async def _describe(
    endpoint: AgencyEndpoint, client: ConnectorClient, timeout_s: float
) -> AgencyDescription:
    """``endpoint``'s self-description, or an error naming the agency and its address."""
    where = f"agency {endpoint.agency_id} at {endpoint.target}"
    try:
        description = await client.describe(timeout=timeout_s)
    except grpc.aio.AioRpcError as exc:
        hint = (
            " (not listening, or its certificate names another agency)"
            if exc.code() is grpc.StatusCode.UNAVAILABLE
            else ""
        )
        raise HubUnavailableError(
            f"{where} did not describe itself{hint}: {exc.code().name}: {exc.details()}"
        ) from exc
    if description.agency_id != endpoint.agency_id:
        raise HubUnavailableError(f"{where}: that address serves {description.agency_id!r}")
    return description


@dataclass(frozen=True)
class _Security:
    """Who may call and how: the policy, the limiter and the interceptor chain."""

    policy: Policy
    limiter: RateLimiter
    interceptors: tuple[grpc.aio.ServerInterceptor[Any, Any], ...]
    anonymous_allowed: bool
    clients: ClientRegistry | None = None


def _security(config: HubConfig, programs: ProgramRegistry) -> _Security:
    limiter = RateLimiter()
    if not config.layers.client_tokens:
        return _Security(UnsafeAllowAllPolicy(), limiter, _chain(config, None, None), True)
    assert config.clients_file is not None  # noqa: S101 - HubConfig guarantees it with tokens
    clients = load_client_registry(config.clients_file)
    _check_registry_programs(clients, programs)
    authentication = AuthenticationInterceptor(
        clients,
        audience=config.audience,
        leeway_s=config.token_leeway_s,
        max_lifetime_s=config.token_max_lifetime_s,
    )
    return _Security(
        AccessPolicy(clients), limiter, _chain(config, authentication, limiter), False, clients
    )


def _chain(
    config: HubConfig,
    authentication: AuthenticationInterceptor | None,
    limiter: RateLimiter | None,
) -> tuple[grpc.aio.ServerInterceptor[Any, Any], ...]:
    return hub_interceptors(
        max_unary_s=config.max_deadline_ms / 1000,
        max_stream_s=config.max_stream_deadline_ms / 1000,
        authentication=authentication,
        limiter=limiter,
    )


def _check_registry_programs(clients: ClientRegistry, programs: ProgramRegistry) -> None:
    """Every program and purpose the registry grants must exist: a typo must not start."""
    for organisation in clients:
        for program_id, purposes in organisation.programs.items():
            if program_id not in programs:
                raise ConfigError(
                    f"client registry: {organisation.id} is granted unknown program {program_id!r}"
                )
            unknown = set(purposes) - set(programs.get(program_id).purposes)
            if unknown:
                raise ConfigError(
                    f"client registry: {organisation.id} is granted purposes {sorted(unknown)} "
                    f"that {program_id} does not allow"
                )


def _fetch_token_signer(config: HubConfig) -> FetchTokenSigner | None:
    """The signer of every Fetch's token, or None when the layer is off."""
    if not config.layers.fetch_tokens:
        return None
    assert config.fetch_token_key_file is not None  # noqa: S101 - HubConfig guarantees it
    signer = FetchTokenSigner.from_key_file(
        config.fetch_token_key_file, kid=config.fetch_token_kid, ttl_s=config.fetch_token_ttl_s
    )
    _log.info("fetch tokens signed with kid %s", signer.kid)
    return signer


@dataclass(frozen=True)
class ConsentLayer:
    """The consent store the hub decides against, and the key it signs artefacts with."""

    store: ConsentStore
    signer: ConsentSigner
    verifier: JwksVerifier


def open_consent_layer(config: HubConfig) -> ConsentLayer | None:
    """Open the consent store at ``db_url`` (migrated, or the hub refuses to start).

    Raises:
        ConfigError: the key is unusable, or the database is not at the code's revision
            (the message names the command to run).
        HubUnavailableError: the database cannot be reached.
    """
    if not config.layers.consent:
        return None
    assert config.consent_key_file is not None  # noqa: S101 - HubConfig guarantees both
    assert config.db_url is not None  # noqa: S101
    key = load_hub_signing_key(config.consent_key_file, role="consent")
    signer = ConsentSigner(key, config.consent_kid or jwk_thumbprint(key.public_key()))
    keys = {signer.kid: key.public_key()}
    if config.consent_jwks_file is not None:
        source = str(config.consent_jwks_file)
        text = read_text(config.consent_jwks_file, error=ConfigError)
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: not JSON: {exc}") from None
        earlier = read_jwk_set(document, source, error=ConfigError)
        if signer.kid in earlier:
            raise ConfigError(f"{source}: lists kid {signer.kid!r}, the current consent key's")
        keys.update(earlier)
    verifier = JwksVerifier(public_jwk_set(keys))
    try:
        store = ConsentStore(create_store_engine(config.db_url), verifier)
    except SchemaError as exc:
        raise ConfigError(f"db_url: {exc}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise HubUnavailableError(f"db_url: the consent database cannot be reached: {exc}") from exc
    _log.info("consent store ready; artefacts signed with kid %s", signer.kid)
    return ConsentLayer(store, signer, verifier)


def open_audit_log(config: HubConfig, plan_for: Callable[[Program], Plan]) -> AuditLog | None:
    """Open the audit log at ``audit_db_url`` or ``db_url`` (migrated, or the hub refuses).

    Raises:
        ConfigError: a key is unusable, or the database is not at the code's revision.
        HubUnavailableError: the database cannot be reached.
    """
    if not config.layers.audit:
        return None
    assert config.audit_key_file is not None  # noqa: S101 - HubConfig guarantees all three
    assert config.checkpoint_key_file is not None  # noqa: S101
    url = config.audit_database
    assert url is not None  # noqa: S101
    key_name = "audit_db_url" if config.audit_db_url else "db_url"
    try:
        pseudonymizer = load_pseudonymizer(config.audit_key_file, config.audit_key_id)
    except AuditError as exc:
        raise ConfigError(f"audit_key_file: {exc}") from None
    key = load_hub_signing_key(config.checkpoint_key_file, role="checkpoint")
    signer = Signer(config.audit_origin, key)
    try:
        store = AuditStore(create_store_engine(url), origin=config.audit_origin)
    except SchemaError as exc:
        raise ConfigError(f"{key_name}: {exc}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise HubUnavailableError(
            f"{key_name}: the audit database cannot be reached: {exc}"
        ) from exc
    _log.info("audit log %s; checkpoint key %s", config.audit_origin, signer.verifier().key_string)
    return AuditLog(
        store,
        pseudonymizer,
        signer,
        plan_for,
        checkpoint_entries=config.checkpoint_entries,
        checkpoint_interval_s=config.checkpoint_interval_ms / 1000,
    )


def _warn_unregistered_mandates(layer: ConsentLayer, programs: ProgramRegistry) -> None:
    cited = {p.legal_basis.mandate_id: p.id for p in programs.all() if p.legal_basis.mandate_id}
    registered = layer.store.get_mandates(cited)
    for mandate_id, program_id in sorted(cited.items()):
        if mandate_id not in registered:
            _log.warning(
                "program %s rests on mandate %s, which is not registered: its checks are "
                "refused (NO_MANDATE) until `sakha mandate register` records it",
                program_id,
                mandate_id,
            )


async def _agencies_serving(
    config: HubConfig, programs: ProgramRegistry
) -> tuple[AgencyDirectory, list[grpc.aio.Channel], Catalogue]:
    """Connect the agencies and check that they can answer every program."""
    directory, channels = await connect_agencies(config)
    try:
        catalogue = Catalogue.from_descriptions(directory.descriptions())
        for program in programs.all():
            catalogue.validate(program)
    except BaseException:
        for channel in channels:
            await channel.close(None)
        raise
    return directory, channels, catalogue


def _grpc_server(
    config: HubConfig,
    security: _Security,
    servicer: EligibilityServicer,
    pipeline: Pipeline,
    *,
    consent: ConsentLayer | None,
    audit: AuditLog | None,
) -> tuple[grpc.aio.Server, Any]:
    """The server with every service the hub offers, health and reflection (not yet bound)."""
    server = grpc.aio.server(
        interceptors=security.interceptors,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.agency_max_message_bytes),
        ],
    )
    eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(servicer, server)
    services = [SERVICE_NAME]
    if consent is not None:
        assert security.clients is not None  # noqa: S101 - the consent layer needs client tokens
        consent_pb2_grpc.add_ConsentServiceServicer_to_server(
            ConsentServicer(
                consent.store,
                consent.signer,
                templates=pipeline.consent_template,
                policy=security.policy,
                consumers=security.clients,
            ),
            server,
        )
        services.append(CONSENT_SERVICE_NAME)
    if audit is not None:
        audit_pb2_grpc.add_AuditServiceServicer_to_server(
            AuditServicer(
                audit.store,
                pseudonymizers=[audit.pseudonymizer],
                verifier_key=audit.verifier_key,
                policy=security.policy,
            ),
            server,
        )
        services.append(AUDIT_SERVICE_NAME)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer


def _listen(config: HubConfig, server: grpc.aio.Server) -> int:
    """Bind the client-facing port (TLS unless switched off); the port bound."""
    try:
        if not config.layers.client_tls:
            return server.add_insecure_port(config.listen)
        return server.add_secure_port(
            config.listen, hub_server_credentials(client_tls_files(config))
        )
    except RuntimeError as exc:  # grpc reports a failed bind as RuntimeError
        raise HubUnavailableError(f"cannot listen on {config.listen}") from exc


async def start_hub(config: HubConfig) -> Hub:
    """Load programs, connect the agencies, check programs against them and serve."""
    for warning in config.layers.warnings():
        _log.warning("%s Never expose this hub.", warning)
    if IDENTITY_AGENCY not in {a.agency_id for a in config.agencies}:
        raise ConfigError(
            f"agencies: no {IDENTITY_AGENCY!r} is configured; every check asks the civil "
            "registry first (who is alive, who lives together), so add its address"
        )
    registry = load_programs(config.programs_dir or BUILTIN_PROGRAMS_DIR)
    security = _security(config, registry)
    fetch_tokens = _fetch_token_signer(config)
    consent = open_consent_layer(config)
    try:
        directory, channels, catalogue = await _agencies_serving(config, registry)
    except BaseException:
        if consent is not None:
            consent.store.close()
        raise
    if consent is not None:
        _warn_unregistered_mandates(consent, registry)
    checker = Checker(
        directory,
        catalogue,
        agency_timeout_s=config.agency_timeout_ms / 1000,
        fetch_chunk_subjects=config.fetch_chunk_subjects,
        fetch_tokens=fetch_tokens,
    )

    def plan_for(program: Program) -> Plan:
        return checker.plan_for(program, checker.today())

    try:
        audit = open_audit_log(config, plan_for)
    except BaseException:
        for channel in channels:
            await channel.close(None)
        if consent is not None:
            consent.store.close()
        raise
    gate = None if consent is None else ConsentGate(consent.store, plan_for)
    pipeline = Pipeline(
        registry,
        checker,
        policy=security.policy,
        limiter=security.limiter,
        coalescing=CoalesceSettings(
            window_s=config.coalesce_window_ms / 1000,
            max_items=config.coalesce_max_items,
            max_in_flight=config.coalesce_max_in_flight,
        ),
        anonymous_allowed=security.anonymous_allowed,
        consent=gate,
        audit=audit,
    )
    servicer = EligibilityServicer(pipeline, config)
    server, health_servicer = _grpc_server(
        config, security, servicer, pipeline, consent=consent, audit=audit
    )
    port = _listen(config, server)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    tasks = []
    _health_follows(
        health_servicer,
        [layer.availability for layer in (audit, gate) if layer is not None],
    )
    if audit is not None:
        metrics.observe_audit_backlog(lambda: audit.unsigned)
        tasks.append(asyncio.get_running_loop().create_task(audit.checkpoints()))
    _log.info("hub serving on port %d with %d agencies", port, len(channels))
    return Hub(
        server,
        port,
        servicer,
        pipeline,
        registry,
        channels,
        health_servicer,
        consent,
        audit,
        tasks,
        tuple(directory.descriptions()),
    )


def _health_follows(health_servicer: Any, stores: Sequence[Availability]) -> None:
    """Report NOT_SERVING while any of ``stores`` is down, SERVING once all are up again."""
    pending: set[asyncio.Task[None]] = set()

    def changed(store: Availability) -> None:
        serving = all(s.up for s in stores)
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        _log.warning(
            "%s %s: %s",
            store.name,
            "usable again" if store.up else "unusable",
            "SERVING" if serving else "NOT_SERVING",
        )

        async def report() -> None:
            for name in ("", SERVICE_NAME):
                await health_servicer.set(name, status)

        task = asyncio.get_running_loop().create_task(report())
        pending.add(task)
        task.add_done_callback(pending.discard)

    for store in stores:
        store.on_change = changed
