"""The consent store: grant, read, change status, supersede, and record uses by group.

Synchronous SQLAlchemy 2 over an engine from :func:`consent.database.create_store_engine`.
Every method is one transaction and blocks on the database: asyncio callers (the hub) run
them with ``asyncio.to_thread``. One store may be shared by threads; several hub replicas
may share one PostgreSQL database.

Concurrency: every write locks what it reads first (``SELECT … FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), and the UPDATE that spends a use is conditional on the use
count and status it read, so concurrent uses of a one-time consent spend it exactly once and
a revocation can never race a use into being allowed after it.

The artefacts read back are parsed from their stored JWS without checking the signature
again: it was checked on the way in, and whoever can rewrite the table can rewrite the
status too. Export the JWS to verify it offline.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from jwt.utils import base64url_decode

from consent.database import EngineStore, create_store_engine
from consent.decision import (
    Allowed,
    Basis,
    ConsentState,
    UseRequest,
    decide_consent,
    decide_mandate,
)
from consent.errors import (
    ConsentDeniedError,
    ConsentError,
    DenialReason,
    DuplicateError,
    IllegalTransitionError,
    InvalidArtefactError,
    UnknownConsentError,
    UnknownMandateError,
)
from consent.migrations import require_schema
from consent.model import ConsentArtefact, FetchType, check_utc
from consent.payload import artefact_from_payload, decode_json, mandate_from_payload
from consent.signing import JwksVerifier
from consent.status import (
    CONSENT_TRANSITIONS,
    MANDATE_TRANSITIONS,
    ConsentStatus,
    HistoryEvent,
    MandateStatus,
    check_transition,
    effective_status,
)
from consent.store.records import ConsentRecord, MandateRecord
from consent.store.tables import consent_history, consent_uses, consents, mandate_history, mandates
from consent.template import ConsentTemplate, fits

_S = TypeVar("_S", ConsentStatus, MandateStatus)


class ConcurrentChangeError(ConsentError):
    """A row changed under a transaction that had locked it (a locking bug): retry."""


def _now(now: dt.datetime | None) -> dt.datetime:
    return dt.datetime.now(dt.UTC) if now is None else check_utc("now", now)


def _payload(jws: str) -> object:
    return decode_json(base64url_decode(jws.split(".")[1]))


ARTEFACT_CACHE_SIZE = 4096
"""Parsed artefacts kept in memory, by their JWS. An artefact never changes (a change is a
new artefact), so this can serve nothing stale: status and uses are read afresh each time.
An entry holds about 10 KB (the JWS and the parsed scope): 65,536 of them grew a hub that
re-assessed 100,000 households by 690 MiB, and a caseload larger than the cache gains
nothing from it (each consent is used once per pass), so it is kept small."""


@functools.lru_cache(maxsize=ARTEFACT_CACHE_SIZE)
def _artefact(jws: str) -> ConsentArtefact:
    return artefact_from_payload(_payload(jws))


def _consent_record(row: sa.Row[Any], now: dt.datetime) -> ConsentRecord:
    stored = ConsentStatus(row.status)
    return ConsentRecord(
        artefact=_artefact(row.jws),
        jws=row.jws,
        status=effective_status(stored, row.valid_until, now),
        stored_status=stored,
        use_count=row.use_count,
        last_used_at=row.last_used_at,
        status_changed_at=row.status_changed_at,
    )


def _mandate_record(row: sa.Row[Any]) -> MandateRecord:
    return MandateRecord(
        mandate=mandate_from_payload(_payload(row.jws)),
        jws=row.jws,
        status=MandateStatus(row.status),
        status_changed_at=row.status_changed_at,
    )


def _history_row(event: HistoryEvent[Any]) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor": event.actor,
        "why": event.why,
        "from_status": None if event.from_status is None else str(event.from_status),
        "to_status": str(event.to_status),
    }


class ConsentStore(EngineStore):
    """Consents and mandates in one database.

    Args:
        engine: from :func:`~consent.database.create_store_engine`, migrated to head.
        verifier: the JWK Set verifier every granted artefact and mandate must pass.
        check_schema: refuse (``SchemaError``) a database that is not at the head revision.
    """

    def __init__(
        self, engine: sa.Engine, verifier: JwksVerifier, *, check_schema: bool = True
    ) -> None:
        if check_schema:
            require_schema(engine)
        super().__init__(engine)
        self._verifier = verifier

    @property
    def verifier(self) -> JwksVerifier:
        """The keys every stored artefact and mandate was verified against."""
        return self._verifier

    @classmethod
    def open(cls, url: str | sa.URL, verifier: JwksVerifier) -> ConsentStore:
        """A store on the (migrated) database at ``url``."""
        return cls(create_store_engine(url), verifier)

    # --- consents --------------------------------------------------------------------------

    def _insert(
        self,
        connection: sa.Connection,
        artefact: ConsentArtefact,
        jws: str,
        status: ConsentStatus,
        event: HistoryEvent[ConsentStatus],
    ) -> None:
        self._insert_many(connection, [(artefact, jws)], status, event)

    def _insert_many(
        self,
        connection: sa.Connection,
        granted: Sequence[tuple[ConsentArtefact, str]],
        status: ConsentStatus,
        event: HistoryEvent[ConsentStatus],
    ) -> None:
        connection.execute(
            sa.insert(consents),
            [
                {
                    "id": artefact.id,
                    "subject": artefact.subject,
                    "organisation_id": artefact.consumer.organisation_id,
                    "program_id": artefact.consumer.program_id,
                    "purpose_code": artefact.purpose_code,
                    "fetch_type": str(artefact.fetch_type),
                    "valid_from": artefact.validity.valid_from,
                    "valid_until": artefact.validity.valid_until,
                    "kid": _kid(jws),
                    "jws": jws,
                    "status": str(status),
                    "use_count": 0,
                    "last_used_at": None,
                    "supersedes": artefact.supersedes,
                    "created_at": artefact.created_at,
                    "status_changed_at": event.at,
                }
                for artefact, jws in granted
            ],
        )
        history = _history_row(event)
        connection.execute(
            sa.insert(consent_history),
            [{"consent_id": artefact.id, **history} for artefact, _ in granted],
        )

    def _checked(self, jws: str, template: ConsentTemplate, now: dt.datetime) -> ConsentArtefact:
        artefact = self._verifier.verify_artefact(jws)
        fits(artefact, template)
        if now >= artefact.validity.valid_until:
            raise InvalidArtefactError(
                f"validity: consent {artefact.id!r} expired at "
                f"{artefact.validity.valid_until.isoformat()}; it cannot be granted"
            )
        return artefact

    def grant(
        self,
        jws: str,
        template: ConsentTemplate,
        *,
        actor: str,
        why: str = "consent granted",
        status: ConsentStatus = ConsentStatus.ACTIVE,
        now: dt.datetime | None = None,
    ) -> ConsentRecord:
        """Store a new consent, signed as ``jws``, once it verifies and fits ``template``.

        ``status`` is ACTIVE (the subject consented) or REQUESTED (awaiting them). The row
        and its first history event are written in one transaction: a failed grant leaves
        nothing.

        Raises:
            SignatureError: ``jws`` does not verify against the published keys.
            TemplateViolationError: the consent goes beyond its program's template.
            InvalidArtefactError: it has already expired, or it supersedes another (use
                :meth:`supersede`).
            DuplicateError: a consent with its id exists.
        """
        now = _now(now)
        if status not in (ConsentStatus.ACTIVE, ConsentStatus.REQUESTED):
            raise IllegalTransitionError(f"a consent is granted ACTIVE or REQUESTED, not {status}")
        artefact = self._checked(jws, template, now)
        if artefact.supersedes is not None:
            raise InvalidArtefactError(
                f"supersedes: consent {artefact.id!r} replaces {artefact.supersedes!r}: "
                "store it with supersede()"
            )
        event: HistoryEvent[ConsentStatus] = HistoryEvent(actor, now, why, None, status)
        try:
            with self._write() as connection:
                self._insert(connection, artefact, jws, status, event)
        except sa.exc.IntegrityError:
            raise DuplicateError(f"a consent with id {artefact.id!r} exists already") from None
        return self.get(artefact.id, now=now)

    def grant_many(
        self,
        granted: Sequence[tuple[str, ConsentTemplate]],
        *,
        actor: str,
        why: str = "consent granted",
        now: dt.datetime | None = None,
    ) -> int:
        """Store many new ACTIVE consents, each ``(jws, template)``, in one transaction.

        For importing the consents a registry already holds: every one is checked as
        :meth:`grant` checks it, and either all are stored or, when one fails, none is.

        Returns:
            How many were stored.

        Raises:
            The errors of :meth:`grant`, for the first consent that fails (its id named).
        """
        now = _now(now)
        checked = []
        for jws, template in granted:
            artefact = self._checked(jws, template, now)
            if artefact.supersedes is not None:
                raise InvalidArtefactError(
                    f"supersedes: consent {artefact.id!r} replaces {artefact.supersedes!r}: "
                    "store it with supersede()"
                )
            checked.append((artefact, jws))
        event: HistoryEvent[ConsentStatus] = HistoryEvent(
            actor, now, why, None, ConsentStatus.ACTIVE
        )
        try:
            with self._write() as connection:
                self._insert_many(connection, checked, ConsentStatus.ACTIVE, event)
        except sa.exc.IntegrityError as exc:
            raise DuplicateError(
                f"a consent with one of these {len(checked)} ids exists already "
                f"(or an id repeats): {exc.orig}"
            ) from None
        return len(checked)

    def supersede(
        self,
        jws: str,
        template: ConsentTemplate,
        *,
        actor: str,
        why: str,
        now: dt.datetime | None = None,
    ) -> ConsentRecord:
        """Store a new consent that replaces the one its ``supersedes`` names.

        The old consent becomes SUPERSEDED (a history event says by which), the new one
        ACTIVE, in one transaction; neither artefact is edited. The new one must be for the
        same subject and the same consumer.

        Raises:
            UnknownConsentError: the consent it supersedes does not exist.
            IllegalTransitionError: that consent is no longer live (revoked, expired…).
            InvalidArtefactError: it names no consent to supersede, or another subject or
                consumer.
            and what :meth:`grant` raises.
        """
        now = _now(now)
        artefact = self._checked(jws, template, now)
        old_id = artefact.supersedes
        if old_id is None:
            raise InvalidArtefactError(
                f"supersedes: consent {artefact.id!r} names no consent to replace: use grant()"
            )
        new_event = HistoryEvent(
            actor, now, f"{why} (supersedes {old_id})", None, ConsentStatus.ACTIVE
        )
        try:
            with self._write() as connection:
                old = self._locked_consent(connection, old_id, now)
                if (old.artefact.subject, old.artefact.consumer) != (
                    artefact.subject,
                    artefact.consumer,
                ):
                    raise InvalidArtefactError(
                        f"supersedes: consent {old_id!r} is for another subject or consumer"
                    )
                self._change(
                    connection,
                    old,
                    ConsentStatus.SUPERSEDED,
                    HistoryEvent(
                        actor,
                        now,
                        f"{why} (superseded by {artefact.id})",
                        old.status,
                        ConsentStatus.SUPERSEDED,
                    ),
                )
                self._insert(connection, artefact, jws, ConsentStatus.ACTIVE, new_event)
        except sa.exc.IntegrityError:
            raise DuplicateError(
                f"consent {artefact.id!r} exists already, or {old_id!r} was superseded"
            ) from None
        return self.get(artefact.id, now=now)

    def get(self, consent_id: str, *, now: dt.datetime | None = None) -> ConsentRecord:
        """The consent stored as ``consent_id``, its status as of ``now``.

        Raises:
            UnknownConsentError: there is none.
        """
        found = self.get_many([consent_id], now=now)
        if consent_id not in found:
            raise UnknownConsentError(f"no consent has id {consent_id!r}")
        return found[consent_id]

    def get_many(
        self, consent_ids: Collection[str], *, now: dt.datetime | None = None
    ) -> dict[str, ConsentRecord]:
        """The consents of ``consent_ids`` that exist, by id, in one query."""
        now = _now(now)
        if not consent_ids:
            return {}
        with self._read() as connection:
            rows = connection.execute(
                sa.select(consents).where(consents.c.id.in_(set(consent_ids)))
            ).all()
        return {row.id: _consent_record(row, now) for row in rows}

    def list_for_subject(
        self, subject: str, *, now: dt.datetime | None = None
    ) -> list[ConsentRecord]:
        """Every consent of ``subject``, oldest first, each with its status as of ``now``."""
        now = _now(now)
        with self._read() as connection:
            rows = connection.execute(
                sa.select(consents)
                .where(consents.c.subject == subject)
                .order_by(consents.c.created_at, consents.c.id)
            ).all()
        return [_consent_record(row, now) for row in rows]

    def history(self, consent_id: str) -> list[HistoryEvent[ConsentStatus]]:
        """The consent's status changes, oldest first (empty for an unknown id)."""
        return self._events(consent_history.c.consent_id, consent_id, ConsentStatus)

    def uses(self, consent_id: str) -> list[dt.datetime]:
        """When the consent was used, oldest first."""
        with self._read() as connection:
            return list(
                connection.execute(
                    sa.select(consent_uses.c.used_at)
                    .where(consent_uses.c.consent_id == consent_id)
                    .order_by(consent_uses.c.seq)
                ).scalars()
            )

    def _locked_consent(
        self, connection: sa.Connection, consent_id: str, now: dt.datetime
    ) -> ConsentRecord:
        row = connection.execute(
            sa.select(consents).where(consents.c.id == consent_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise UnknownConsentError(f"no consent has id {consent_id!r}")
        return _consent_record(row, now)

    def _change(
        self,
        connection: sa.Connection,
        record: ConsentRecord,
        target: ConsentStatus,
        event: HistoryEvent[ConsentStatus],
    ) -> None:
        check_transition(
            CONSENT_TRANSITIONS, f"consent {record.artefact.id!r}", record.status, target
        )
        result = connection.execute(
            sa.update(consents)
            .where(
                consents.c.id == record.artefact.id,
                consents.c.status == str(record.stored_status),
            )
            .values(status=str(target), status_changed_at=event.at)
        )
        if result.rowcount != 1:
            raise ConcurrentChangeError(f"consent {record.artefact.id!r} changed meanwhile")
        connection.execute(
            sa.insert(consent_history).values(consent_id=record.artefact.id, **_history_row(event))
        )

    def _transition(
        self,
        consent_id: str,
        target: ConsentStatus,
        *,
        actor: str,
        why: str,
        now: dt.datetime | None,
        only_from: ConsentStatus | None = None,
    ) -> ConsentRecord:
        now = _now(now)
        with self._write() as connection:
            record = self._locked_consent(connection, consent_id, now)
            if only_from is not None and record.status is not only_from:
                raise IllegalTransitionError(
                    f"consent {consent_id!r} is {record.status}: only a {only_from} consent "
                    f"can become {target} this way"
                )
            event = HistoryEvent(actor, now, why, record.status, target)
            self._change(connection, record, target, event)
        return self.get(consent_id, now=now)

    def activate(
        self, consent_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> ConsentRecord:
        """REQUESTED → ACTIVE: the subject consented.

        Raises:
            UnknownConsentError: no such consent.
            IllegalTransitionError: it is not REQUESTED (or it has expired).
        """
        return self._transition(
            consent_id,
            ConsentStatus.ACTIVE,
            actor=actor,
            why=why,
            now=now,
            only_from=ConsentStatus.REQUESTED,
        )

    def refuse(
        self, consent_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> ConsentRecord:
        """REQUESTED → REFUSED: the subject declined (raises like :meth:`activate`)."""
        return self._transition(consent_id, ConsentStatus.REFUSED, actor=actor, why=why, now=now)

    def pause(
        self, consent_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> ConsentRecord:
        """ACTIVE → PAUSED (raises like :meth:`activate`)."""
        return self._transition(consent_id, ConsentStatus.PAUSED, actor=actor, why=why, now=now)

    def resume(
        self, consent_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> ConsentRecord:
        """PAUSED → ACTIVE; a revoked consent is never resumed (raises like :meth:`activate`)."""
        return self._transition(
            consent_id,
            ConsentStatus.ACTIVE,
            actor=actor,
            why=why,
            now=now,
            only_from=ConsentStatus.PAUSED,
        )

    def revoke(
        self, consent_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> ConsentRecord:
        """ACTIVE or PAUSED → REVOKED, for good (raises like :meth:`activate`)."""
        return self._transition(consent_id, ConsentStatus.REVOKED, actor=actor, why=why, now=now)

    # --- mandates --------------------------------------------------------------------------

    def register_mandate(
        self,
        jws: str,
        *,
        actor: str,
        why: str = "mandate registered",
        now: dt.datetime | None = None,
    ) -> MandateRecord:
        """Store a mandate, signed as ``jws``, ACTIVE.

        Raises:
            SignatureError: ``jws`` does not verify.
            DuplicateError: a mandate with its id exists.
        """
        now = _now(now)
        mandate = self._verifier.verify_mandate(jws)
        event = HistoryEvent(actor, now, why, None, MandateStatus.ACTIVE)
        try:
            with self._write() as connection:
                connection.execute(
                    sa.insert(mandates).values(
                        id=mandate.id,
                        legal_reference=mandate.legal_reference,
                        issuing_authority=mandate.issuing_authority,
                        valid_from=mandate.valid_from,
                        valid_until=mandate.valid_until,
                        kid=_kid(jws),
                        jws=jws,
                        status=str(MandateStatus.ACTIVE),
                        created_at=mandate.created_at,
                        status_changed_at=now,
                    )
                )
                connection.execute(
                    sa.insert(mandate_history).values(mandate_id=mandate.id, **_history_row(event))
                )
        except sa.exc.IntegrityError:
            raise DuplicateError(f"a mandate with id {mandate.id!r} exists already") from None
        return self.get_mandate(mandate.id)

    def get_mandate(self, mandate_id: str) -> MandateRecord:
        """The mandate stored as ``mandate_id``.

        Raises:
            UnknownMandateError: there is none.
        """
        found = self.get_mandates([mandate_id])
        if mandate_id not in found:
            raise UnknownMandateError(f"no mandate has id {mandate_id!r}")
        return found[mandate_id]

    def get_mandates(self, mandate_ids: Collection[str]) -> dict[str, MandateRecord]:
        """The mandates of ``mandate_ids`` that exist, by id, in one query."""
        if not mandate_ids:
            return {}
        with self._read() as connection:
            rows = connection.execute(
                sa.select(mandates).where(mandates.c.id.in_(set(mandate_ids)))
            ).all()
        return {row.id: _mandate_record(row) for row in rows}

    def list_mandates(self) -> list[MandateRecord]:
        """Every registered mandate, oldest first."""
        with self._read() as connection:
            rows = connection.execute(
                sa.select(mandates).order_by(mandates.c.created_at, mandates.c.id)
            ).all()
        return [_mandate_record(row) for row in rows]

    def mandate_history(self, mandate_id: str) -> list[HistoryEvent[MandateStatus]]:
        """The mandate's status changes, oldest first (empty for an unknown id)."""
        return self._events(mandate_history.c.mandate_id, mandate_id, MandateStatus)

    def _events(
        self, owner: sa.Column[str], owner_id: str, status: type[_S]
    ) -> list[HistoryEvent[_S]]:
        history = owner.table
        with self._read() as connection:
            rows = connection.execute(
                sa.select(history).where(owner == owner_id).order_by(history.c.seq)
            ).all()
        return [
            HistoryEvent(
                row.actor,
                row.at,
                row.why,
                None if row.from_status is None else status(row.from_status),
                status(row.to_status),
            )
            for row in rows
        ]

    def _mandate_transition(
        self, mandate_id: str, target: MandateStatus, actor: str, why: str, now: dt.datetime | None
    ) -> MandateRecord:
        now = _now(now)
        with self._write() as connection:
            row = connection.execute(
                sa.select(mandates).where(mandates.c.id == mandate_id).with_for_update()
            ).one_or_none()
            if row is None:
                raise UnknownMandateError(f"no mandate has id {mandate_id!r}")
            current = MandateStatus(row.status)
            check_transition(MANDATE_TRANSITIONS, f"mandate {mandate_id!r}", current, target)
            event = HistoryEvent(actor, now, why, current, target)
            connection.execute(
                sa.update(mandates)
                .where(mandates.c.id == mandate_id)
                .values(status=str(target), status_changed_at=now)
            )
            connection.execute(
                sa.insert(mandate_history).values(mandate_id=mandate_id, **_history_row(event))
            )
        return self.get_mandate(mandate_id)

    def suspend_mandate(
        self, mandate_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> MandateRecord:
        """ACTIVE → SUSPENDED: no check may cite it until it is resumed."""
        return self._mandate_transition(mandate_id, MandateStatus.SUSPENDED, actor, why, now)

    def resume_mandate(
        self, mandate_id: str, *, actor: str, why: str, now: dt.datetime | None = None
    ) -> MandateRecord:
        """SUSPENDED → ACTIVE."""
        return self._mandate_transition(mandate_id, MandateStatus.ACTIVE, actor, why, now)

    # --- uses ------------------------------------------------------------------------------

    def authorize_group(
        self, requests: Sequence[UseRequest], *, now: dt.datetime | None = None
    ) -> list[Allowed | ConsentDeniedError]:
        """Decide and record the uses of one group, in one transaction.

        A request cites a consent, a mandate, or neither: then the subject's own consents
        for the request's organisation and program are candidates, newest first, and the
        first that allows the use is used (when none does, the newest one's refusal is
        given). The consents the group cites or may use are read (and locked) in one query,
        their recent uses in another, the mandates in a third; each request is decided in
        order against the state as the requests before it left it (a one-time consent used
        twice in a group is spent by the first); the allowed uses are written, and the use
        counts updated conditionally, before the one commit.

        Returns:
            One outcome per request, in order: :class:`Allowed` (what to record in the audit
            entry) or the :class:`ConsentDeniedError` that refuses it.
        """
        now = _now(now)
        consent_ids = {r.consent_id for r in requests if r.consent_id}
        mandate_ids = {r.mandate_id for r in requests if r.mandate_id}
        lookups = [r for r in requests if not r.consent_id and not r.mandate_id]
        outcomes: list[Allowed | ConsentDeniedError] = []
        with self._write() as connection:
            states = self._locked_states(connection, consent_ids, lookups, now)
            found_mandates = self._mandates_in(connection, mandate_ids)
            seen = {cid: state.use_count for cid, state in states.items()}
            candidates = _candidates(states)
            used: list[dict[str, Any]] = []
            for request in requests:
                try:
                    allowed = _decide(request, states, candidates, found_mandates, now)
                except ConsentDeniedError as denied:
                    outcomes.append(denied)
                    continue
                outcomes.append(allowed)
                if allowed.basis is Basis.CONSENT:
                    state = states[allowed.reference]
                    states[allowed.reference] = ConsentState(
                        state.artefact,
                        state.status,
                        state.use_count + 1,
                        (*state.recent_uses, now),
                    )
                    used.append(
                        {
                            "consent_id": allowed.reference,
                            "used_at": now,
                            "organisation_id": request.organisation_id,
                            "program_id": request.program_id,
                            "purpose_code": request.purpose,
                        }
                    )
            if used:
                connection.execute(sa.insert(consent_uses), used)
                _count_uses(connection, seen, states, now)
        return outcomes

    def _locked_states(
        self,
        connection: sa.Connection,
        consent_ids: set[str],
        lookups: Sequence[UseRequest],
        now: dt.datetime,
    ) -> dict[str, ConsentState]:
        if not consent_ids and not lookups:
            return {}
        wanted: sa.ColumnElement[bool] = consents.c.id.in_(consent_ids)
        if lookups:
            wanted = sa.or_(
                wanted,
                sa.and_(
                    consents.c.subject.in_({r.subject for r in lookups}),
                    consents.c.program_id.in_({r.program_id for r in lookups}),
                    consents.c.organisation_id.in_({r.organisation_id for r in lookups}),
                ),
            )
        rows = connection.execute(
            sa.select(consents)
            .where(wanted)
            .order_by(consents.c.id)  # one lock order for every transaction: no deadlock
            .with_for_update()
        ).all()
        records = {row.id: _consent_record(row, now) for row in rows}
        periods = [
            r.artefact.frequency.period
            for r in records.values()
            if r.artefact.fetch_type is FetchType.PERIODIC and r.artefact.frequency is not None
        ]
        recent: dict[str, list[dt.datetime]] = {}
        if periods:
            since = now - max(periods)
            for consent_id, used_at in connection.execute(
                sa.select(consent_uses.c.consent_id, consent_uses.c.used_at).where(
                    consent_uses.c.consent_id.in_(
                        [cid for cid, r in records.items() if r.artefact.frequency is not None]
                    ),
                    consent_uses.c.used_at > since,
                )
            ):
                recent.setdefault(consent_id, []).append(used_at)
        return {cid: record.state(tuple(recent.get(cid, ()))) for cid, record in records.items()}

    def _mandates_in(
        self, connection: sa.Connection, mandate_ids: set[str]
    ) -> dict[str, MandateRecord]:
        if not mandate_ids:
            return {}
        rows = connection.execute(sa.select(mandates).where(mandates.c.id.in_(mandate_ids))).all()
        return {row.id: _mandate_record(row) for row in rows}


def _count_uses(
    connection: sa.Connection,
    before: dict[str, int],
    states: dict[str, ConsentState],
    now: dt.datetime,
) -> None:
    """Each used consent's count moves from what was read (and locked) to what the group
    left, in one executemany of one cached statement; a row that changed meanwhile fails
    the whole group."""
    changed = [
        {"consent": cid, "was": n, "count": states[cid].use_count, "now": now}
        for cid, n in before.items()
        if states[cid].use_count != n
    ]
    if not changed:
        return
    result = connection.execute(_COUNT_USES, changed)
    if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(changed):
        raise ConcurrentChangeError(
            f"{len(changed) - result.rowcount} of the group's consents changed meanwhile"
        )


_COUNT_USES = (
    sa.update(consents)
    .where(
        consents.c.id == sa.bindparam("consent"),
        consents.c.use_count == sa.bindparam("was"),
        consents.c.status == str(ConsentStatus.ACTIVE),
    )
    .values(use_count=sa.bindparam("count"), last_used_at=sa.bindparam("now"))
)


_Consumer = tuple[str, str, str]
"""(subject, organisation, program): whose consents a request without a citation may use."""


def _candidates(states: dict[str, ConsentState]) -> dict[_Consumer, list[str]]:
    """The consents of each subject and consumer, newest first."""
    found: dict[_Consumer, list[ConsentState]] = {}
    for state in states.values():
        artefact = state.artefact
        key = (artefact.subject, artefact.consumer.organisation_id, artefact.consumer.program_id)
        found.setdefault(key, []).append(state)
    return {
        key: [
            s.artefact.id
            for s in sorted(
                group, key=lambda s: (s.artefact.created_at, s.artefact.id), reverse=True
            )
        ]
        for key, group in found.items()
    }


def _decide(
    request: UseRequest,
    states: dict[str, ConsentState],
    candidates: dict[_Consumer, list[str]],
    found_mandates: dict[str, MandateRecord],
    now: dt.datetime,
) -> Allowed:
    if request.consent_id:
        state = states.get(request.consent_id)
        if state is None:
            raise ConsentDeniedError(
                DenialReason.NO_CONSENT, f"no consent has id {request.consent_id!r}"
            )
        return decide_consent(state, request, now)
    if request.mandate_id:
        record = found_mandates.get(request.mandate_id)
        if record is None:
            raise ConsentDeniedError(
                DenialReason.NO_MANDATE, f"no mandate has id {request.mandate_id!r}"
            )
        return decide_mandate(record.mandate, record.status, request, now)
    own = candidates.get((request.subject, request.organisation_id, request.program_id), [])
    if not own:
        raise ConsentDeniedError(
            DenialReason.NO_CONSENT,
            f"the subject has given {request.organisation_id!r} no consent for program "
            f"{request.program_id!r}",
        )
    refusal: ConsentDeniedError | None = None
    for consent_id in own:
        try:
            return decide_consent(states[consent_id], request, now)
        except ConsentDeniedError as denied:
            refusal = refusal or denied
    assert refusal is not None  # noqa: S101 - own is not empty
    raise refusal


def _kid(jws: str) -> str:
    header = decode_json(base64url_decode(jws.split(".", maxsplit=1)[0]))
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else ""
