"""ConsentService: grant, change and read consents and mandates, and publish the signing keys.

The servicer decodes, asks the policy, signs and calls the synchronous
:class:`~consent.store.ConsentStore` in a worker thread (``asyncio.to_thread``); every error
is mapped by :mod:`gateway.status`. A grant whose consumer is not in the client registry, or
may not check the program for the purpose, is INVALID_ARGUMENT with a ``BadRequest`` naming
``consumer_organisation_id`` (reasons ``UNKNOWN_CONSUMER``, ``CONSUMER_DISABLED``,
``CONSUMER_NOT_ALLOWED``): the consent manager may grant, but the consent it describes could
never be used, so the request is wrong rather than the caller unauthorised.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from sakha.v1 import consent_pb2 as pb2
from sakha.v1 import consent_pb2_grpc

from consent import (
    ConsentArtefact,
    ConsentSigner,
    ConsentTemplate,
    fits,
)
from consent.model import check_national_id
from consent.store import ConsentRecord, ConsentStore, MandateRecord
from gateway import consent_codec as codec
from gateway.auth.errors import AuthenticationError, AuthenticationReason
from gateway.auth.policy import Policy
from gateway.auth.registry import ClientRegistry, Role
from gateway.auth.tokens import Caller
from gateway.consent_gate import utc_now
from gateway.errors import FieldViolation, InvalidRequestError
from gateway.interceptors import caller_of
from gateway.status import grpc_errors

Context = grpc.aio.ServicerContext[Any, Any]
_CONSUMER_FIELD = "consumer_organisation_id"


def new_consent_id() -> str:
    """A fresh hub-chosen consent id."""
    return f"c-{uuid.uuid4().hex}"


def new_mandate_id() -> str:
    """A fresh hub-chosen mandate id."""
    return f"m-{uuid.uuid4().hex}"


def actor(caller: Caller) -> str:
    """How the history names ``caller``: ``<organisation>/<operator>``."""
    return f"{caller.organisation.id}/{caller.operator}"


def _authenticated(context: Context) -> Caller:
    caller = caller_of(context)
    if caller is None:
        raise AuthenticationError(
            AuthenticationReason.TOKEN_MISSING,
            "ConsentService needs an authenticated caller; this hub runs without client tokens",
        )
    return caller


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    """Consent and mandate management for organisations holding the consent_manager role.

    Args:
        store: where consents and mandates live.
        signer: the gateway's consent key, which signs what Grant and RegisterMandate store.
        templates: the consent template of a program id (raises UnknownProgramError for an
            unknown program, NoConsentTemplateError for a mandate one).
        policy: decides whether a caller holds the consent_manager role.
        consumers: the client registry a consent's consumer must be in.
        clock: the current UTC time (the grant time, and what statuses are read as of).
    """

    def __init__(
        self,
        store: ConsentStore,
        signer: ConsentSigner,
        *,
        templates: Callable[[str], ConsentTemplate],
        policy: Policy,
        consumers: ClientRegistry,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._store = store
        self._signer = signer
        self._templates = templates
        self._policy = policy
        self._consumers = consumers
        self._clock = clock

    def _manager(self, context: Context) -> Caller:
        caller = _authenticated(context)
        self._policy.require_role(caller, Role.CONSENT_MANAGER)
        return caller

    def _check_consumer(self, artefact: ConsentArtefact) -> None:
        consumer = artefact.consumer
        try:
            organisation = self._consumers.organisation(consumer.organisation_id)
        except KeyError:
            raise InvalidRequestError(
                FieldViolation(
                    _CONSUMER_FIELD,
                    f"organisation {consumer.organisation_id!r} is not in the client registry",
                    "UNKNOWN_CONSUMER",
                )
            ) from None
        if not organisation.enabled:
            raise InvalidRequestError(
                FieldViolation(
                    _CONSUMER_FIELD,
                    f"organisation {organisation.id!r} is disabled",
                    "CONSUMER_DISABLED",
                )
            )
        if not organisation.may_check(consumer.program_id, artefact.purpose_code):
            raise InvalidRequestError(
                FieldViolation(
                    _CONSUMER_FIELD,
                    f"organisation {organisation.id!r} may not check program "
                    f"{consumer.program_id!r} for {artefact.purpose_code!r}",
                    "CONSUMER_NOT_ALLOWED",
                )
            )

    def _consent(self, record: ConsentRecord) -> pb2.Consent:
        return codec.consent_message(record, self._store.history(record.artefact.id))

    def _mandate(self, record: MandateRecord) -> pb2.Mandate:
        return codec.mandate_message(record, self._store.mandate_history(record.mandate.id))

    @grpc_errors
    async def Grant(  # noqa: N802 - gRPC method name
        self, request: pb2.GrantRequest, context: Context
    ) -> pb2.Consent:
        """Sign and store a consent; it must fit its program's template and name a consumer
        the registry allows to check the program for the purpose."""
        caller = self._manager(context)
        now = self._clock()
        template = self._templates(codec.required("program_id", request.program_id))
        status = codec.initial_status(request)
        artefact = codec.grant_artefact(
            request,
            consent_id=new_consent_id(),
            organisation_id=request.consumer_organisation_id or caller.organisation.id,
            template=template,
            now=now,
        )
        fits(artefact, template)  # the store checks again; here it comes before the consumer
        self._check_consumer(artefact)
        jws = self._signer.sign_artefact(artefact)
        why = request.why or "consent granted"

        def store() -> pb2.Consent:
            if artefact.supersedes is not None:
                record = self._store.supersede(jws, template, actor=actor(caller), why=why, now=now)
            else:
                record = self._store.grant(
                    jws, template, actor=actor(caller), why=why, status=status, now=now
                )
            return self._consent(record)

        return await asyncio.to_thread(store)

    async def _transition(
        self,
        change: Callable[..., ConsentRecord],
        consent_id: str,
        why: str,
        context: Context,
    ) -> pb2.Consent:
        caller = self._manager(context)
        codec.required("consent_id", consent_id)
        now = self._clock()

        def run() -> pb2.Consent:
            return self._consent(change(consent_id, actor=actor(caller), why=why, now=now))

        return await asyncio.to_thread(run)

    @grpc_errors
    async def Revoke(  # noqa: N802 - gRPC method name
        self, request: pb2.RevokeRequest, context: Context
    ) -> pb2.Consent:
        """ACTIVE or PAUSED → REVOKED, for good."""
        why = request.why or "consent revoked"
        return await self._transition(self._store.revoke, request.consent_id, why, context)

    @grpc_errors
    async def Pause(  # noqa: N802 - gRPC method name
        self, request: pb2.PauseRequest, context: Context
    ) -> pb2.Consent:
        """ACTIVE → PAUSED."""
        why = request.why or "consent paused"
        return await self._transition(self._store.pause, request.consent_id, why, context)

    @grpc_errors
    async def Resume(  # noqa: N802 - gRPC method name
        self, request: pb2.ResumeRequest, context: Context
    ) -> pb2.Consent:
        """PAUSED → ACTIVE."""
        why = request.why or "consent resumed"
        return await self._transition(self._store.resume, request.consent_id, why, context)

    @grpc_errors
    async def Activate(  # noqa: N802 - gRPC method name
        self, request: pb2.ActivateRequest, context: Context
    ) -> pb2.Consent:
        """REQUESTED → ACTIVE: the subject consented."""
        why = request.why or "subject consented"
        return await self._transition(self._store.activate, request.consent_id, why, context)

    @grpc_errors
    async def Refuse(  # noqa: N802 - gRPC method name
        self, request: pb2.RefuseRequest, context: Context
    ) -> pb2.Consent:
        """REQUESTED → REFUSED: the subject declined."""
        why = request.why or "subject declined"
        return await self._transition(self._store.refuse, request.consent_id, why, context)

    @grpc_errors
    async def Get(  # noqa: N802 - gRPC method name
        self, request: pb2.GetConsentRequest, context: Context
    ) -> pb2.Consent:
        """One consent, its status as of now, with its history."""
        self._manager(context)
        consent_id = codec.required("consent_id", request.consent_id)
        now = self._clock()
        return await asyncio.to_thread(lambda: self._consent(self._store.get(consent_id, now=now)))

    @grpc_errors
    async def ListForSubject(  # noqa: N802 - gRPC method name
        self, request: pb2.ListForSubjectRequest, context: Context
    ) -> pb2.ListForSubjectResponse:
        """Every consent of one subject, oldest first."""
        self._manager(context)
        subject = check_national_id("subject", request.subject)
        now = self._clock()

        def run() -> pb2.ListForSubjectResponse:
            records = self._store.list_for_subject(subject, now=now)
            return pb2.ListForSubjectResponse(consents=[self._consent(r) for r in records])

        return await asyncio.to_thread(run)

    @grpc_errors
    async def RegisterMandate(  # noqa: N802 - gRPC method name
        self, request: pb2.RegisterMandateRequest, context: Context
    ) -> pb2.Mandate:
        """Sign and store a mandate, ACTIVE."""
        caller = self._manager(context)
        now = self._clock()
        jws = self._signer.sign_mandate(
            codec.mandate(request, mandate_id=request.mandate_id or new_mandate_id(), now=now)
        )
        why = request.why or "mandate registered"

        def run() -> pb2.Mandate:
            record = self._store.register_mandate(jws, actor=actor(caller), why=why, now=now)
            return self._mandate(record)

        return await asyncio.to_thread(run)

    async def _mandate_transition(
        self,
        change: Callable[..., MandateRecord],
        mandate_id: str,
        why: str,
        context: Context,
    ) -> pb2.Mandate:
        caller = self._manager(context)
        codec.required("mandate_id", mandate_id)
        now = self._clock()

        def run() -> pb2.Mandate:
            return self._mandate(change(mandate_id, actor=actor(caller), why=why, now=now))

        return await asyncio.to_thread(run)

    @grpc_errors
    async def SuspendMandate(  # noqa: N802 - gRPC method name
        self, request: pb2.SuspendMandateRequest, context: Context
    ) -> pb2.Mandate:
        """ACTIVE → SUSPENDED: no check may cite it until it is resumed."""
        why = request.why or "mandate suspended"
        return await self._mandate_transition(
            self._store.suspend_mandate, request.mandate_id, why, context
        )

    @grpc_errors
    async def ResumeMandate(  # noqa: N802 - gRPC method name
        self, request: pb2.ResumeMandateRequest, context: Context
    ) -> pb2.Mandate:
        """SUSPENDED → ACTIVE."""
        why = request.why or "mandate resumed"
        return await self._mandate_transition(
            self._store.resume_mandate, request.mandate_id, why, context
        )

    @grpc_errors
    async def GetMandate(  # noqa: N802 - gRPC method name
        self, request: pb2.GetMandateRequest, context: Context
    ) -> pb2.Mandate:
        """One mandate with its history."""
        self._manager(context)
        mandate_id = codec.required("mandate_id", request.mandate_id)
        return await asyncio.to_thread(lambda: self._mandate(self._store.get_mandate(mandate_id)))

    @grpc_errors
    async def ListMandates(  # noqa: N802 - gRPC method name
        self, request: pb2.ListMandatesRequest, context: Context
    ) -> pb2.ListMandatesResponse:
        """Every registered mandate, oldest first."""
        self._manager(context)

        def run() -> pb2.ListMandatesResponse:
            records = self._store.list_mandates()
            return pb2.ListMandatesResponse(mandates=[self._mandate(r) for r in records])

        return await asyncio.to_thread(run)

    @grpc_errors
    async def GetKeys(  # noqa: N802 - gRPC method name
        self, request: pb2.GetKeysRequest, context: Context
    ) -> pb2.GetKeysResponse:
        """The consent keys as a JWK Set (the current one and any earlier ones still honoured),
        for any authenticated caller."""
        _authenticated(context)
        document = self._store.verifier.document()
        return pb2.GetKeysResponse(jwks_json=json.dumps(document, sort_keys=True))
