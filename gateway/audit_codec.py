"""AuditService pb2 messages to and from the audit package's domain objects.

Decoding refuses what the store could not mean (a malformed filter, an inverted time range, a
negative limit, an unknown enum number, an invalid national ID) with an
:class:`~gateway.errors.InvalidRequestError` naming the field; a refused national ID is never
echoed. Encoding turns a stored entry's canonical bytes into an :class:`AuditEntry` carrying
those bytes verbatim beside the decoded fields, and an entry about a person into one line of
their subject report, told in English or Persian.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from google.protobuf import timestamp_pb2
from sakha.v1 import audit_pb2 as pb2
from sakha.v1 import eligibility_pb2

from adapters.national_id import national_id_defect
from audit import (
    AgencyQuery,
    AgencyStatus,
    Basis,
    BasisKind,
    Decision,
    Entry,
    Failure,
    Pseudonymizer,
    Refusal,
    Result,
    Rpc,
    Verdict,
)
from audit.store import EntryFilter, StoredCheckpoint
from gateway.errors import FieldViolation, InvalidRequestError

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
_OUTCOME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

PB2_RPC = {Rpc.CHECK: pb2.AUDIT_RPC_CHECK, Rpc.CHECK_BATCH: pb2.AUDIT_RPC_CHECK_BATCH}
PB2_BASIS_KIND = {
    BasisKind.CONSENT: pb2.BASIS_KIND_CONSENT,
    BasisKind.MANDATE: pb2.BASIS_KIND_MANDATE,
}
PB2_AGENCY_STATUS = {
    status: pb2.AgencyStatus.Value(f"AGENCY_STATUS_{status.name}") for status in AgencyStatus
}
PB2_DECISION = {
    verdict: eligibility_pb2.Decision.Value(f"DECISION_{verdict.name}") for verdict in Verdict
}
LANGUAGES: Mapping[int, str] = {
    pb2.REPORT_LANGUAGE_UNSPECIFIED: "en",
    pb2.REPORT_LANGUAGE_EN: "en",
    pb2.REPORT_LANGUAGE_FA: "fa",
}
"""The language code each wire value asks for (UNSPECIFIED is English)."""


def invalid(field: str, description: str, reason: str) -> InvalidRequestError:
    """The refusal of one bad request field."""
    return InvalidRequestError(FieldViolation(field, description, reason))


# -- requests -------------------------------------------------------------------------------


def national_id(field: str, value: str) -> str:
    """``value`` if it is a valid national ID; the refusal never repeats it."""
    defect = national_id_defect(value)
    if defect is not None:
        raise invalid(field, "not a valid national ID", defect.value)
    return value


def pseudonyms(national_id_value: str, pseudonymizers: Sequence[Pseudonymizer]) -> tuple[str, ...]:
    """The person's pseudonym under every audit key held (old entries keep old keys)."""
    return tuple(p.pseudonym(national_id_value) for p in pseudonymizers)


def language(value: int) -> str:
    """``en`` or ``fa`` for the wire language ``value``."""
    try:
        return LANGUAGES[value]
    except KeyError:
        raise invalid("lang", f"{value} is not a known value", "UNKNOWN_ENUM_VALUE") from None


def _optional_id(field: str, value: str, pattern: re.Pattern[str], what: str) -> str | None:
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise invalid(field, f"must be {what}", "MALFORMED")
    return value


def _time(field: str, stamp: timestamp_pb2.Timestamp | None) -> dt.datetime | None:
    if stamp is None:
        return None
    try:
        return stamp.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise invalid(field, "is not a representable time", "OUT_OF_RANGE") from None


def entry_filter(request: pb2.QueryRequest, pseudonymizers: Sequence[Pseudonymizer]) -> EntryFilter:
    """What a Query request selects.

    Raises:
        InvalidRequestError: a malformed id or outcome, ``until`` before ``since``, an
            unrepresentable time or an invalid subject national ID.
    """
    since = _time("since", request.since if request.HasField("since") else None)
    until = _time("until", request.until if request.HasField("until") else None)
    if since is not None and until is not None and until < since:
        raise invalid("until", "is before since", "INVERTED_RANGE")
    identifier = "an identifier (a-z, 0-9, _; at most 64)"
    subject = request.subject_national_id
    return EntryFilter(
        since=since,
        until=until,
        organisation_id=_optional_id(
            "organisation_id", request.organisation_id, _IDENTIFIER, identifier
        ),
        program_id=_optional_id("program_id", request.program_id, _IDENTIFIER, identifier),
        agency_id=_optional_id("agency_id", request.agency_id, _IDENTIFIER, identifier),
        outcome=_optional_id(
            "outcome", request.outcome, _OUTCOME, "a decision or reason code (A-Z, 0-9, _)"
        ),
        subjects=pseudonyms(national_id("subject_national_id", subject), pseudonymizers)
        if subject
        else None,
    )


def limit(value: int) -> int | None:
    """The query's row limit; None for 0 (no limit)."""
    if value < 0:
        raise invalid("limit", "must not be negative (0 is no limit)", "OUT_OF_RANGE")
    return value or None


# -- responses ------------------------------------------------------------------------------


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    """``value`` as a wire Timestamp."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _agency(query: AgencyQuery) -> pb2.AgencyQuery:
    return pb2.AgencyQuery(
        agency_id=query.agency,
        fetch_id=query.fetch_id,
        attributes=query.attributes,
        predicates=query.predicates,
        status=PB2_AGENCY_STATUS[query.status],
        latency_ms=query.latency_ms,
    )


def _basis(basis: Basis) -> pb2.AuditBasis:
    return pb2.AuditBasis(kind=PB2_BASIS_KIND[basis.kind], ref=basis.ref)


def _set_result(message: pb2.AuditEntry, result: Result) -> None:
    match result:
        case Decision(verdict=verdict, reasons=reasons):
            message.decision.CopyFrom(
                pb2.DecisionResult(decision=PB2_DECISION[verdict], reason_codes=reasons)
            )
        case Refusal(stage=stage, code=code, reason=reason):
            message.refusal.CopyFrom(pb2.RefusalResult(stage=stage.value, code=code, reason=reason))
        case Failure(code=code, reason=reason):
            message.failure.CopyFrom(pb2.FailureResult(code=code, reason=reason))


def entry_message(index: int, data: bytes, entry: Entry) -> pb2.AuditEntry:
    """The stored entry ``index``: its leaf ``data`` verbatim and ``entry`` decoded from it."""
    message = pb2.AuditEntry(
        index=index,
        canonical_json=data.decode("utf-8"),
        time=timestamp(entry.time),
        request_id=entry.request_id,
        trace_id=entry.trace_id,
        rpc=PB2_RPC[entry.rpc],
        purpose=entry.purpose,
        program=pb2.AuditProgram(
            id=entry.program.id,
            version=entry.program.version or "",
            digest=entry.program.digest or "",
        ),
        agencies=[_agency(query) for query in entry.agencies],
    )
    if entry.caller is not None:
        message.caller.CopyFrom(
            pb2.AuditCaller(organisation_id=entry.caller.org, operator=entry.caller.operator)
        )
    if entry.subject is not None:
        message.subject.CopyFrom(
            pb2.AuditSubject(
                pseudonym=entry.subject.pseudonym,
                key_id=entry.subject.key_id,
                member_pseudonyms=entry.subject.members,
            )
        )
    if entry.basis is not None:
        message.basis.CopyFrom(_basis(entry.basis))
    _set_result(message, entry.result)
    return message


def checkpoint_message(checkpoint: StoredCheckpoint) -> pb2.Checkpoint:
    """A stored checkpoint as its wire message."""
    return pb2.Checkpoint(
        size=checkpoint.size,
        root_hash=checkpoint.root,
        note=checkpoint.note.decode("utf-8"),
        issued_at=timestamp(checkpoint.issued_at),
    )


# -- subject reports ------------------------------------------------------------------------

_TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "line": "{when}: {who} looked up this person's data {role}for {purpose} "
        "(program {program}) under {basis}; {agencies}; {result}.",
        "operator": "{org} (operator {operator})",
        "nobody": "an unauthenticated caller",
        "subject": "",
        "member": "as a household member ",
        "consent": "consent {ref}",
        "mandate": "mandate {ref}",
        "no_basis": "no recorded consent or mandate",
        "agencies": "agencies asked: {names}",
        "separator": ", ",
        "no_agency": "no agency was asked",
        "decision": "decision: {outcome}",
        "refusal": "refused: {outcome}",
        "failure": "failed: {outcome}",
        "unknown": "unknown",
    },
    "fa": {
        "line": "{when}: {who} داده‌های این شخص را {role}برای {purpose} "
        "(برنامهٔ {program}) بر پایهٔ {basis} بررسی کرد؛ {agencies}؛ {result}.",
        "operator": "{org} (کاربر {operator})",
        "nobody": "درخواست‌کننده‌ای احرازنشده",
        "subject": "",
        "member": "به‌عنوان عضو خانوار ",
        "consent": "رضایت {ref}",
        "mandate": "مجوز قانونی {ref}",
        "no_basis": "بدون رضایت یا مجوز ثبت‌شده",
        "agencies": "دستگاه‌های پرسیده‌شده: {names}",
        "separator": "، ",
        "no_agency": "از هیچ دستگاهی پرسیده نشد",
        "decision": "نتیجه: {outcome}",
        "refusal": "رد شد: {outcome}",
        "failure": "ناموفق: {outcome}",
        "unknown": "نامشخص",
    },
}
_RESULT_KEY: Mapping[type, str] = {Decision: "decision", Refusal: "refusal", Failure: "failure"}


def _who(entry: Entry, words: Mapping[str, str]) -> str:
    if entry.caller is None:
        return words["nobody"]
    return words["operator"].format(org=entry.caller.org, operator=entry.caller.operator)


def _basis_text(basis: Basis | None, words: Mapping[str, str]) -> str:
    if basis is None:
        return words["no_basis"]
    return words[basis.kind.value].format(ref=basis.ref)


def _agencies_text(agencies: Sequence[str], words: Mapping[str, str]) -> str:
    if not agencies:
        return words["no_agency"]
    return words["agencies"].format(names=words["separator"].join(agencies))


def report_text(entry: Entry, *, as_member: bool, lang: str) -> str:
    """One lookup of a person's data as a sentence in ``lang`` (``en`` or ``fa``)."""
    words = _TEXT[lang]
    result = _RESULT_KEY[type(entry.result)]
    return words["line"].format(
        when=entry.time.strftime("%Y-%m-%d %H:%M UTC"),
        who=_who(entry, words),
        role=words["member" if as_member else "subject"],
        purpose=entry.purpose or words["unknown"],
        program=entry.program.id or words["unknown"],
        basis=_basis_text(entry.basis, words),
        agencies=_agencies_text(_agency_names(entry), words),
        result=words[result].format(outcome=entry.result.outcome),
    )


def _agency_names(entry: Entry) -> list[str]:
    """Each agency asked, once, in the order first asked."""
    return list(dict.fromkeys(query.agency for query in entry.agencies))


def report_line(
    index: int, entry: Entry, subject_pseudonyms: Sequence[str], lang: str
) -> pb2.ReportLine:
    """Entry ``index`` as a line of the report about the person with ``subject_pseudonyms``."""
    as_member = entry.subject is not None and entry.subject.pseudonym not in subject_pseudonyms
    line = pb2.ReportLine(
        index=index,
        time=timestamp(entry.time),
        organisation_id=entry.caller.org if entry.caller is not None else "",
        operator=entry.caller.operator if entry.caller is not None else "",
        purpose=entry.purpose,
        program_id=entry.program.id,
        agencies=_agency_names(entry),
        outcome=entry.result.outcome,
        as_household_member=as_member,
        text=report_text(entry, as_member=as_member, lang=lang),
    )
    if entry.basis is not None:
        line.basis.CopyFrom(_basis(entry.basis))
    return line
