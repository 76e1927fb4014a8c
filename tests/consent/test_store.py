"""The consent store on SQLite and PostgreSQL: grants, status changes, supersession, mandates,
and the uses of a group. Every bad input is a ConsentError subclass and writes nothing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from jwt import api_jws

from consent import (
    Allowed,
    Basis,
    ConsentDeniedError,
    ConsentError,
    ConsentSigner,
    ConsentStatus,
    DenialReason,
    DuplicateError,
    Grantor,
    IllegalTransitionError,
    InvalidArtefactError,
    MandateStatus,
    Scope,
    SignatureError,
    TemplateViolationError,
    UnknownConsentError,
    UnknownMandateError,
    Validity,
    refs,
)
from consent.payload import artefact_payload, canonical_json
from consent.signing import CONSENT_TYPE
from consent.store import ConsentStore
from tests.consent.conftest import (
    DAY,
    NOW,
    OTHER,
    SUBJECT,
    artefact,
    mandate,
    one_time,
    template,
    use_request,
)

R = DenialReason


use = use_request


def grant(store: ConsentStore, signer: ConsentSigner, **changes: Any) -> str:
    """Grant :func:`artefact` with ``changes``; its id."""
    made = artefact(**changes)
    store.grant(signer.sign_artefact(made), template(), actor="clerk", now=NOW)
    return made.id


def _signed_raw(signer: ConsentSigner, change: Callable[[dict[str, Any]], None]) -> str:
    payload = artefact_payload(artefact())
    change(payload)
    return api_jws.encode(
        canonical_json(payload),
        signer.private_key,
        algorithm="EdDSA",
        headers={"kid": signer.kid, "typ": CONSENT_TYPE},
    )


def _rows(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in ("consents", "consent_history", "consent_uses", "mandates")
        }


def test_a_grant_is_stored_with_its_history(store: ConsentStore, signer: ConsentSigner) -> None:
    made = artefact()
    token = signer.sign_artefact(made)
    record = store.grant(token, template(), actor="clerk-7", why="paper form 12", now=NOW)
    assert (record.artefact, record.jws, record.status, record.use_count) == (
        made,
        token,
        ConsentStatus.ACTIVE,
        0,
    )
    assert store.get("c-1", now=NOW) == record
    [event] = store.history("c-1")
    assert (event.actor, event.why, event.from_status, event.to_status, event.at) == (
        "clerk-7",
        "paper form 12",
        None,
        ConsentStatus.ACTIVE,
        NOW,
    )


def _tampered(signer: ConsentSigner) -> str:
    head, payload, signature = signer.sign_artefact(artefact()).split(".")
    return f"{head}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"


BAD_GRANTS = [
    pytest.param(
        lambda s: _signed_raw(s, lambda p: p.update(subject="0012345670")),
        InvalidArtefactError,
        "subject: not a valid national ID",
        id="invalid-national-id",
    ),
    pytest.param(
        lambda s: _signed_raw(s, lambda p: p["grantor"].update(national_id=OTHER, relation=None)),
        InvalidArtefactError,
        "grantor.relation",
        id="guardian-without-relation",
    ),
    pytest.param(
        lambda s: s.sign_artefact(artefact(scope=Scope(refs("tax.assets")))),
        TemplateViolationError,
        "tax.assets",
        id="scope-beyond-template",
    ),
    pytest.param(
        lambda s: s.sign_artefact(artefact(validity=Validity(NOW, NOW + 400 * DAY))),
        TemplateViolationError,
        "validity",
        id="validity-beyond-template",
    ),
    pytest.param(
        lambda s: s.sign_artefact(artefact(purpose_code="marketing")),
        TemplateViolationError,
        "marketing",
        id="purpose-not-allowed",
    ),
    pytest.param(
        lambda s: s.sign_artefact(artefact(validity=Validity(NOW - 9 * DAY, NOW))),
        InvalidArtefactError,
        "expired",
        id="already-expired",
    ),
    pytest.param(
        lambda s: s.sign_artefact(artefact(supersedes="c-0")),
        InvalidArtefactError,
        "supersede",
        id="supersedes-through-grant",
    ),
    pytest.param(_tampered, SignatureError, "altered", id="tampered"),
    pytest.param(lambda s: s.sign_mandate(mandate()), SignatureError, "typ", id="a-mandate"),
]
"""Grants the store refuses: (token of the signer, error, what its message says)."""


@pytest.mark.parametrize(("token", "error", "says"), BAD_GRANTS)
def test_bad_grants_write_nothing(  # noqa: PLR0917 - parametrized
    store: ConsentStore,
    engine: sa.Engine,
    signer: ConsentSigner,
    token: Callable[[ConsentSigner], str],
    error: type[ConsentError],
    says: str,
) -> None:
    with pytest.raises(error, match=says):
        store.grant(token(signer), template(), actor="clerk", now=NOW)
    assert _rows(engine) == {"consents": 0, "consent_history": 0, "consent_uses": 0, "mandates": 0}


def test_a_second_grant_of_the_same_id_is_refused(
    store: ConsentStore, engine: sa.Engine, signer: ConsentSigner
) -> None:
    grant(store, signer)
    with pytest.raises(DuplicateError, match="c-1"):
        grant(store, signer)
    assert _rows(engine)["consent_history"] == 1


def test_many_grants_are_stored_in_one_transaction(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    made = [artefact(id=f"c-{n}") for n in range(3)]
    stored = store.grant_many(
        [(signer.sign_artefact(a), template()) for a in made], actor="import", now=NOW
    )
    assert stored == 3
    assert [store.get(a.id, now=NOW).artefact for a in made] == made
    assert [e.actor for a in made for e in store.history(a.id)] == ["import"] * 3


@pytest.mark.parametrize(("token", "error", "says"), BAD_GRANTS)
def test_one_bad_grant_among_many_writes_none(  # noqa: PLR0917 - parametrized
    store: ConsentStore,
    engine: sa.Engine,
    signer: ConsentSigner,
    token: Callable[[ConsentSigner], str],
    error: type[ConsentError],
    says: str,
) -> None:
    good = signer.sign_artefact(artefact(id="c-good"))
    with pytest.raises(error, match=says):
        store.grant_many([(good, template()), (token(signer), template())], actor="import", now=NOW)
    assert _rows(engine) == {"consents": 0, "consent_history": 0, "consent_uses": 0, "mandates": 0}


def test_many_grants_with_a_repeated_or_existing_id_write_none(
    store: ConsentStore, engine: sa.Engine, signer: ConsentSigner
) -> None:
    grant(store, signer)
    fresh = signer.sign_artefact(artefact(id="c-2"))
    again = signer.sign_artefact(artefact())
    for batch in ([(fresh, template()), (again, template())], [(fresh, template())] * 2):
        with pytest.raises(DuplicateError, match="exists already"):
            store.grant_many(batch, actor="import", now=NOW)
    assert _rows(engine)["consents"] == 1


def test_a_bad_actor_is_refused_before_anything_is_written(
    store: ConsentStore, engine: sa.Engine, signer: ConsentSigner
) -> None:
    with pytest.raises(InvalidArtefactError, match="actor"):
        store.grant(signer.sign_artefact(artefact()), template(), actor="", now=NOW)
    assert _rows(engine)["consents"] == 0


def test_the_lifecycle_writes_one_event_per_change(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    made = artefact()
    store.grant(
        signer.sign_artefact(made),
        template(),
        actor="clerk",
        status=ConsentStatus.REQUESTED,
        now=NOW,
    )
    assert store.activate("c-1", actor="subject", why="confirmed by SMS", now=NOW).status is (
        ConsentStatus.ACTIVE
    )
    assert store.pause("c-1", actor="subject", why="travel", now=NOW).status is ConsentStatus.PAUSED
    assert store.resume("c-1", actor="subject", why="back", now=NOW).status is ConsentStatus.ACTIVE
    assert store.revoke("c-1", actor="subject", why="no longer", now=NOW).status is (
        ConsentStatus.REVOKED
    )
    assert [(e.from_status, e.to_status) for e in store.history("c-1")] == [
        (None, ConsentStatus.REQUESTED),
        (ConsentStatus.REQUESTED, ConsentStatus.ACTIVE),
        (ConsentStatus.ACTIVE, ConsentStatus.PAUSED),
        (ConsentStatus.PAUSED, ConsentStatus.ACTIVE),
        (ConsentStatus.ACTIVE, ConsentStatus.REVOKED),
    ]


def test_a_requested_consent_may_be_refused(store: ConsentStore, signer: ConsentSigner) -> None:
    store.grant(
        signer.sign_artefact(artefact()),
        template(),
        actor="clerk",
        status=ConsentStatus.REQUESTED,
        now=NOW,
    )
    assert store.refuse("c-1", actor="subject", why="declined", now=NOW).status is (
        ConsentStatus.REFUSED
    )


@pytest.mark.parametrize(
    ("steps", "error", "says"),
    [
        pytest.param(["revoke"], UnknownConsentError, "c-9", id="revoke-unknown"),
        pytest.param(["grant", "revoke", "revoke"], IllegalTransitionError, "REVOKED", id="twice"),
        pytest.param(["grant", "revoke", "resume"], IllegalTransitionError, "REVOKED", id="resume"),
        pytest.param(["grant", "resume"], IllegalTransitionError, "only a PAUSED", id="not-paused"),
        pytest.param(["grant", "activate"], IllegalTransitionError, "REQUESTED", id="activate"),
        pytest.param(["grant", "refuse"], IllegalTransitionError, "ACTIVE", id="refuse-active"),
    ],
)
def test_illegal_changes_are_refused_and_leave_the_history_alone(
    store: ConsentStore,
    signer: ConsentSigner,
    steps: list[str],
    error: type[ConsentError],
    says: str,
) -> None:
    consent_id = "c-9"
    for step in steps[:-1]:
        if step == "grant":
            consent_id = grant(store, signer)
        else:
            getattr(store, step)(consent_id, actor="subject", why=step, now=NOW)
    before = store.history(consent_id)
    with pytest.raises(error, match=says):
        getattr(store, steps[-1])(consent_id, actor="subject", why="again", now=NOW)
    assert store.history(consent_id) == before


def test_an_expired_consent_lists_as_expired_and_cannot_be_resumed(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    grant(store, signer)
    store.pause("c-1", actor="subject", why="travel", now=NOW)
    later = NOW + 100 * DAY
    [listed] = store.list_for_subject(SUBJECT, now=later)
    assert (listed.status, listed.stored_status) == (ConsentStatus.EXPIRED, ConsentStatus.PAUSED)
    with pytest.raises(IllegalTransitionError, match="EXPIRED"):
        store.resume("c-1", actor="subject", why="back", now=later)
    assert store.list_for_subject(OTHER, now=later) == []


def test_get_many_reads_in_one_query(
    store: ConsentStore, engine: sa.Engine, signer: ConsentSigner
) -> None:
    for n in range(5):
        grant(store, signer, id=f"c-{n}")
    with _counted(engine) as statements:
        found = store.get_many([f"c-{n}" for n in range(7)], now=NOW)
    assert sorted(found) == [f"c-{n}" for n in range(5)]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


@contextmanager
def _counted(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)


# --- supersession ----------------------------------------------------------------------------


def test_a_new_artefact_supersedes_the_old_one(store: ConsentStore, signer: ConsentSigner) -> None:
    grant(store, signer)
    new = artefact(id="c-2", supersedes="c-1", purpose_text="Housing aid, wider notice")
    record = store.supersede(
        signer.sign_artefact(new), template(), actor="clerk", why="new notice", now=NOW
    )
    assert record.status is ConsentStatus.ACTIVE
    assert record.artefact.supersedes == "c-1"
    old = store.get("c-1", now=NOW)
    assert old.status is ConsentStatus.SUPERSEDED
    assert old.artefact == artefact()  # nothing edited in place
    assert "superseded by c-2" in store.history("c-1")[-1].why
    [outcome] = store.authorize_group([use()], now=NOW)
    assert isinstance(outcome, ConsentDeniedError)
    assert outcome.reason is R.SUPERSEDED


@pytest.mark.parametrize(
    ("prepare", "new", "error", "says"),
    [
        pytest.param("nothing", {}, UnknownConsentError, "c-1", id="unknown-old"),
        pytest.param("revoke", {}, IllegalTransitionError, "REVOKED", id="old-revoked"),
        pytest.param("supersede", {"id": "c-3"}, IllegalTransitionError, "SUPERSEDED", id="twice"),
        pytest.param(
            "grant",
            {"subject": OTHER, "grantor": Grantor(OTHER)},
            InvalidArtefactError,
            "another subject",
            id="other-subject",
        ),
    ],
)
def test_bad_supersessions_write_nothing(  # noqa: PLR0917 - parametrized
    store: ConsentStore,
    engine: sa.Engine,
    signer: ConsentSigner,
    prepare: str,
    new: dict[str, Any],
    error: type[ConsentError],
    says: str,
) -> None:
    if prepare != "nothing":
        grant(store, signer)
    if prepare == "revoke":
        store.revoke("c-1", actor="subject", why="no", now=NOW)
    if prepare == "supersede":
        store.supersede(
            signer.sign_artefact(artefact(id="c-2", supersedes="c-1")),
            template(),
            actor="clerk",
            why="first",
            now=NOW,
        )
    before = _rows(engine)
    replacement = artefact(**{"id": "c-2", "supersedes": "c-1", **new})
    with pytest.raises(error, match=says):
        store.supersede(
            signer.sign_artefact(replacement), template(), actor="clerk", why="x", now=NOW
        )
    assert _rows(engine) == before


def test_supersede_needs_an_artefact_that_names_the_old_one(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    with pytest.raises(InvalidArtefactError, match="grant"):
        store.supersede(signer.sign_artefact(artefact()), template(), actor="c", why="x", now=NOW)


# --- mandates --------------------------------------------------------------------------------


def test_a_mandate_is_registered_suspended_and_resumed(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    made = mandate()
    record = store.register_mandate(signer.sign_mandate(made), actor="registrar", now=NOW)
    assert (record.mandate, record.status) == (made, MandateStatus.ACTIVE)
    assert store.get_mandate("m-1") == record
    assert store.suspend_mandate("m-1", actor="court", why="appeal", now=NOW).status is (
        MandateStatus.SUSPENDED
    )
    with pytest.raises(IllegalTransitionError, match="SUSPENDED"):
        store.suspend_mandate("m-1", actor="court", why="again", now=NOW)
    assert store.resume_mandate("m-1", actor="court", why="upheld", now=NOW).status is (
        MandateStatus.ACTIVE
    )
    assert [e.to_status for e in store.mandate_history("m-1")] == [
        MandateStatus.ACTIVE,
        MandateStatus.SUSPENDED,
        MandateStatus.ACTIVE,
    ]


def test_bad_mandates_are_refused(store: ConsentStore, signer: ConsentSigner) -> None:
    with pytest.raises(UnknownMandateError, match="m-9"):
        store.get_mandate("m-9")
    with pytest.raises(UnknownMandateError):
        store.suspend_mandate("m-9", actor="court", why="x", now=NOW)
    with pytest.raises(SignatureError):
        store.register_mandate(signer.sign_artefact(artefact()), actor="registrar", now=NOW)
    store.register_mandate(signer.sign_mandate(mandate()), actor="registrar", now=NOW)
    with pytest.raises(DuplicateError):
        store.register_mandate(signer.sign_mandate(mandate()), actor="registrar", now=NOW)


# --- uses ------------------------------------------------------------------------------------


def test_a_group_is_decided_and_recorded_in_one_go(
    store: ConsentStore, engine: sa.Engine, signer: ConsentSigner
) -> None:
    grant(store, signer)
    store.grant(signer.sign_artefact(one_time(id="c-once")), template(), actor="c", now=NOW)
    grant(
        store,
        signer,
        id="c-other",
        subject=OTHER,
        grantor=Grantor(OTHER),
    )
    store.register_mandate(signer.sign_mandate(mandate()), actor="registrar", now=NOW)
    store.register_mandate(signer.sign_mandate(mandate(id="m-2")), actor="registrar", now=NOW)
    store.suspend_mandate("m-2", actor="court", why="appeal", now=NOW)
    under_mandate = use(program_id="subsidy", consent_id="", mandate_id="m-1")
    group = [
        use(),
        use(consent_id="c-once"),
        use(consent_id="c-once"),
        use(consent_id="c-other"),
        use(organisation_id="bank_melli"),
        use(consent_id="c-404"),
        use(attributes=refs("tax.assets")),
        under_mandate,
        dataclasses.replace(under_mandate, mandate_id="m-2"),
        dataclasses.replace(under_mandate, mandate_id="m-404"),
        use(consent_id=""),
        use(consent_id="", organisation_id="bank_melli"),
    ]
    outcomes = store.authorize_group(group, now=NOW)
    assert [o if isinstance(o, Allowed) else o.reason for o in outcomes] == [
        Allowed(Basis.CONSENT, "c-1"),
        Allowed(Basis.CONSENT, "c-once"),
        R.SPENT,
        R.WRONG_SUBJECT,
        R.WRONG_CONSUMER,
        R.NO_CONSENT,
        R.OUT_OF_SCOPE,
        Allowed(Basis.MANDATE, "m-1"),
        R.MANDATE_SUSPENDED,
        R.NO_MANDATE,
        Allowed(Basis.CONSENT, "c-1"),  # found by subject: c-once is spent, c-1 allows it
        R.NO_CONSENT,
    ]
    assert _rows(engine)["consent_uses"] == 3
    assert store.get("c-once", now=NOW).use_count == 1
    assert store.get("c-1", now=NOW).last_used_at == NOW
    assert store.uses("c-1") == [NOW, NOW]


def test_a_check_citing_no_consent_uses_the_subjects_own_newest_first(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    grant(store, signer, id="c-old")
    grant(store, signer, id="c-new", created_at=NOW + DAY)
    grant(store, signer, id="c-else", subject=OTHER, grantor=Grantor(OTHER))
    later = NOW + 2 * DAY
    [outcome] = store.authorize_group([use(consent_id="")], now=later)
    assert outcome == Allowed(Basis.CONSENT, "c-new")
    store.revoke("c-new", actor="subject", why="changed my mind", now=later)
    [outcome] = store.authorize_group([use(consent_id="")], now=later)
    assert outcome == Allowed(Basis.CONSENT, "c-old")
    store.pause("c-old", actor="subject", why="travelling", now=later)
    [outcome] = store.authorize_group([use(consent_id="")], now=later)
    assert isinstance(outcome, ConsentDeniedError)
    assert outcome.reason is R.REVOKED  # the newest consent's refusal
    [outcome] = store.authorize_group([use(consent_id="", purpose="other")], now=later)
    assert isinstance(outcome, ConsentDeniedError)


def test_a_periodic_consent_refuses_uses_beyond_its_frequency(
    store: ConsentStore, signer: ConsentSigner
) -> None:
    grant(store, signer)
    times = [NOW + n * DAY for n in range(6)]
    reasons = []
    for at in times:
        [outcome] = store.authorize_group([use()], now=at)
        reasons.append(None if isinstance(outcome, Allowed) else outcome.reason)
    assert reasons == [None, None, None, None, R.FREQUENCY_EXCEEDED, R.FREQUENCY_EXCEEDED]
    [outcome] = store.authorize_group([use()], now=NOW + 30 * DAY + DAY / 2)
    assert isinstance(outcome, Allowed)  # the first use has left the window
    assert store.get("c-1", now=NOW).use_count == 5


def test_a_revoked_consent_is_refused_at_once(store: ConsentStore, signer: ConsentSigner) -> None:
    grant(store, signer)
    store.revoke("c-1", actor="subject", why="no", now=NOW)
    [outcome] = store.authorize_group([use()], now=NOW)
    assert isinstance(outcome, ConsentDeniedError)
    assert outcome.reason is R.REVOKED
    assert json.dumps(str(outcome))  # a message for the operator
