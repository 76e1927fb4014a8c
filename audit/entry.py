"""The audit entry: one record per lookup, and its canonical bytes (RFC 8785 JSON).

Every ``Check`` and every ``CheckBatch`` item gets one :class:`Entry`, whether it was decided,
refused in ``admit`` or failed. The entry's JSON form (schema version ``"v": 1``) is
canonicalised with RFC 8785 (JCS) by the ``rfc8785`` library; those bytes are the Merkle
leaf, so they must never change for a given entry: :func:`canonical_bytes` and
:func:`entry_from_json` round-trip exactly.

What an entry holds, and what it never holds:

* The subject only as a keyed pseudonym (:mod:`audit.pseudonym`) with the id of its key; no
  national ID, name or attribute *value* appears anywhere. Agencies are recorded with the
  attribute *names* and the predicates asked (``income_decile le 4``); a predicate's operand
  comes from the program's parameters, never from the request, so it is not personal data.
* As a cheap guard against a raw national ID slipping in through a bug, every text field is
  refused when it contains a run of exactly ten digits (any script's digits) that touches
  no Latin letter and no other digit: see :func:`looks_like_national_id`. Integer operands
  of predicates are exempt (a threshold of 1500000000 rials is a program parameter), and the
  guard cannot catch an ID split by separators or hidden in a longer token; it is a guard,
  not a proof. Callers should refuse such request ids at the edge so recording never fails.
* Error messages name the field (``agencies[1].latency_ms``) but never echo its value.

Times are UTC to the microsecond, written ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

Versioning and erasure (v2, not implemented): a v1 leaf holds the personal fields in clear
(pseudonymised, but linkable for as long as the pseudonym key lives). A v2 entry would carry,
in place of each personal field, a commitment ``SHA-256(salt || value)`` with a fresh 32-byte
random salt per field per entry, ``value`` being the field's UTF-8 text. The fields covered
are ``subject.pseudonym``, every ``subject.members`` pseudonym, ``caller.operator`` and
``request_id`` (a client's request id can encode a case number). The openings (salt and
value) are stored apart from the leaves, keyed by leaf index and field path, and destroyed
when the retention period ends. The leaf bytes, and therefore every Merkle root, proof and
checkpoint, stay valid after erasure: a verifier checks a commitment only while its opening
exists, and an entry whose openings are gone still proves that a lookup happened, when, by
which organisation, for which program and with what result. The parser below refuses any
version other than 1, so a v1 reader can never misread a v2 entry.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, TypeAlias, TypeVar

import rfc8785

from audit.errors import AuditError

JsonValue: TypeAlias = bool | int | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A value of the JSON data model, as :func:`json.loads` returns it."""

SCHEMA_VERSION = 1
"""The ``v`` this module writes and the only one it reads."""

MAX_TEXT = 1000
"""Longest text any field may hold, in characters."""

MAX_LATENCY_MS = 2**53 - 1
"""Largest latency JSON (and so RFC 8785) represents exactly."""

STATUS_CODES = frozenset(
    {
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)
"""gRPC status code names a refusal or failure may carry (every code but OK)."""

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}")
_REASON_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NATIONAL_ID_LIKE = re.compile(r"(?<![A-Za-z\d])\d{10}(?![A-Za-z\d])")
_OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne")
_PREDICATE = re.compile(
    r"(?P<attribute>[a-z][a-z0-9_]{0,63}) (?:lt|le|gt|ge|eq|ne) "
    r'(?P<operand>-?(?:0|[1-9][0-9]*)|true|false|"(?P<text>.*)")',
    re.DOTALL,
)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


class EntryError(AuditError, ValueError):
    """An audit entry, or its JSON form, breaks an invariant; ``path`` names the field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        """The JSON path of the bad field (``agencies[0].status``)."""
        self.problem = problem
        """What is wrong, without the field's value."""


class UnsupportedVersionError(EntryError):
    """The JSON form carries a schema version this reader does not know."""


class Rpc(enum.StrEnum):
    """The method that carried the lookup."""

    CHECK = "Check"
    CHECK_BATCH = "CheckBatch"


class BasisKind(enum.StrEnum):
    """What a lookup went ahead under."""

    CONSENT = "consent"
    MANDATE = "mandate"


class AgencyStatus(enum.StrEnum):
    """How one agency's Fetch ended."""

    OK = "OK"
    NOT_FOUND = "NOT_FOUND"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"
    ERROR = "ERROR"
    REFUSED = "REFUSED"
    """The agency refused the hub's fetch token."""
    CANCELLED = "CANCELLED"
    """The caller went away before the agency answered."""


class Verdict(enum.StrEnum):
    """An eligibility decision."""

    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    UNDETERMINED = "UNDETERMINED"


class Stage(enum.StrEnum):
    """Where in the pipeline a lookup was refused."""

    ADMIT = "admit"


def looks_like_national_id(text: str) -> bool:
    """True when ``text`` holds a run of exactly ten digits: a national ID's shape.

    Digits of any script count (Persian ``۰``-``۹`` too). A run touching another digit (a
    phone number) or a Latin letter (inside a hex id such as ``ab1234567890cd``) does not;
    one touching punctuation, an underscore or a Persian letter does. The check digit is
    ignored: a mistyped ID is still someone's personal data.
    """
    return _NATIONAL_ID_LIKE.search(text) is not None


def predicate_text(attribute: str, operator: str, operand: bool | int | str) -> str:
    """The text form of a predicate an agency was asked: ``income_decile le 4``.

    ``operator`` is one of ``lt le gt ge eq ne``; the operand is written as JSON (``true``,
    ``4``, ``"tehran"``).

    Raises:
        EntryError: the attribute is not an identifier or the operator is unknown.
    """
    if not _IDENTIFIER.fullmatch(attribute):
        raise EntryError("attribute", "not an identifier (a-z, 0-9, _)")
    if operator not in _OPERATORS:
        raise EntryError("operator", f"not one of {', '.join(_OPERATORS)}")
    return f"{attribute} {operator} {json.dumps(operand, ensure_ascii=False)}"


# -- field checks shared by the classes below ---------------------------------------------


def _check_text(path: str, value: object, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str):
        raise EntryError(path, "must be a string")
    if not value and not empty_ok:
        raise EntryError(path, "must not be empty")
    defect = _text_defect(value)
    if defect is not None:
        raise EntryError(path, defect)


@functools.lru_cache(maxsize=4096)
def _text_defect(value: str) -> str | None:
    """What is wrong with ``value`` as recorded text, or None.

    Cached: most texts recur in every entry (agency ids, attribute names, purposes), and
    this check was a third of the cost of building an entry.
    """
    if len(value) > MAX_TEXT:
        return f"longer than {MAX_TEXT} characters"
    if _CONTROL.search(value):
        return "contains a control character"
    if not _encodable(value):
        return "is not valid Unicode text (lone surrogate)"
    if looks_like_national_id(value):
        return "looks like a national ID (ten digits); none may be recorded"
    return None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_pattern(path: str, value: object, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise EntryError(path, f"must be {what}")


def _check_string(
    path: str, value: object, defect_of: Callable[[str], str | None], not_a_string: str
) -> None:
    defect = defect_of(value) if isinstance(value, str) else not_a_string
    if defect is not None:
        raise EntryError(path, defect)


def _check_identifier(path: str, value: object) -> None:
    _check_string(path, value, _identifier_defect, _NOT_IDENTIFIER)


_NOT_IDENTIFIER = "must be an identifier (a-z, 0-9, _; at most 64)"


@functools.lru_cache(maxsize=4096)
def _identifier_defect(value: str) -> str | None:
    """What is wrong with ``value`` as an identifier, or None (cached: ids recur)."""
    if not _IDENTIFIER.fullmatch(value):
        return _NOT_IDENTIFIER
    return _text_defect(value)


def _check_optional_text(path: str, value: object) -> None:
    if value is not None:
        _check_text(path, value)


def _check_enum(path: str, value: object, kind: type[enum.StrEnum]) -> None:
    if not isinstance(value, kind):
        raise EntryError(path, f"must be a {kind.__name__}")


def _check_tuple(path: str, value: object, check: Callable[[str, object], None]) -> None:
    if not isinstance(value, tuple):
        raise EntryError(path, "must be a tuple")
    try:
        _checked_tuple(path, value, check)
    except TypeError:  # an unhashable item: not a string, so the check below refuses it
        _check_items(path, value, check)


@functools.lru_cache(maxsize=4096)
def _checked_tuple(
    path: str, value: tuple[object, ...], check: Callable[[str, object], None]
) -> None:
    """:func:`_check_items`, remembered for tuples that passed (cached: the attributes and
    predicates asked of an agency recur in every entry of a program)."""
    _check_items(path, value, check)


def _check_items(
    path: str, value: tuple[object, ...], check: Callable[[str, object], None]
) -> None:
    for index, item in enumerate(value):
        check(f"{path}[{index}]", item)


def _check_instance(path: str, value: object, kind: type | tuple[type, ...]) -> None:
    if not isinstance(value, kind):
        names = kind if isinstance(kind, tuple) else (kind,)
        raise EntryError(path, f"must be a {' or '.join(k.__name__ for k in names)}")


def _check_predicate(path: str, value: object) -> None:
    _check_string(path, value, _predicate_defect, _NOT_PREDICATE)


_NOT_PREDICATE = "must be '<attribute> <lt|le|gt|ge|eq|ne> <JSON operand>'"


@functools.lru_cache(maxsize=4096)
def _predicate_defect(value: str) -> str | None:
    """What is wrong with ``value`` as a predicate's text, or None (cached: they recur)."""
    if (match := _PREDICATE.fullmatch(value)) is None:
        return _NOT_PREDICATE
    defect = _identifier_defect(match["attribute"])
    if defect is not None:
        return defect
    if len(value) > MAX_TEXT:
        return f"longer than {MAX_TEXT} characters"
    if match["text"] is not None:  # an integer or boolean operand is a program parameter
        return _text_defect(value)
    return None


def _check_status_code(path: str, value: object) -> None:
    if value not in STATUS_CODES:
        raise EntryError(path, "must be a gRPC status code name other than OK")


# -- the entry's parts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who asked: the authenticated organisation and its operator (the token's ``sub``)."""

    org: str
    operator: str

    def __post_init__(self) -> None:
        _check_identifier("org", self.org)
        _check_text("operator", self.operator)


@dataclass(frozen=True)
class Program:
    """The program asked for and, once resolved, the exact rules that decided.

    ``id`` is the id the caller sent ("" when it was missing or malformed); ``version`` and
    ``digest`` (the rule-set digest) are None until the program was resolved.
    """

    id: str
    version: str | None
    digest: str | None

    def __post_init__(self) -> None:
        _check_text("id", self.id, empty_ok=True)
        _check_optional_text("version", self.version)
        _check_optional_text("digest", self.digest)


@dataclass(frozen=True)
class Subject:
    """The subject as a keyed pseudonym, plus household members the lookup read.

    ``members`` are the pseudonyms, under the same key, of the other household members whose
    data the hub fetched (empty for person programs), so that a member's subject-access
    report finds the lookup too.
    """

    pseudonym: str
    key_id: str
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_pattern("pseudonym", self.pseudonym, _PSEUDONYM, "64 lower-case hex digits")
        _check_pattern("key_id", self.key_id, _KEY_ID, "1-64 of A-Z a-z 0-9 . _ -")
        _check_text("key_id", self.key_id)
        _check_tuple("members", self.members, _check_member)


def _check_member(path: str, value: object) -> None:
    _check_pattern(path, value, _PSEUDONYM, "64 lower-case hex digits")


@dataclass(frozen=True)
class Basis:
    """The consent or mandate the lookup went ahead under (``ref`` is its id)."""

    kind: BasisKind
    ref: str

    def __post_init__(self) -> None:
        _check_enum("kind", self.kind, BasisKind)
        _check_text("ref", self.ref)


@dataclass(frozen=True)
class AgencyQuery:
    """One Fetch to one agency: what was asked (names, never values) and how it ended.

    ``predicates`` are in :func:`predicate_text` form. An agency asked in two phases (a
    household program's registry call, then its member call) appears twice, once per fetch.
    """

    agency: str
    fetch_id: str
    attributes: tuple[str, ...]
    predicates: tuple[str, ...]
    status: AgencyStatus
    latency_ms: int

    def __post_init__(self) -> None:
        _check_identifier("agency", self.agency)
        _check_text("fetch_id", self.fetch_id)
        _check_tuple("attributes", self.attributes, _check_identifier)
        _check_tuple("predicates", self.predicates, _check_predicate)
        _check_enum("status", self.status, AgencyStatus)
        if type(self.latency_ms) is not int or not 0 <= self.latency_ms <= MAX_LATENCY_MS:
            raise EntryError("latency_ms", f"must be an integer from 0 to {MAX_LATENCY_MS}")


@dataclass(frozen=True)
class Decision:
    """The lookup was decided: the verdict and its reason codes."""

    KIND: ClassVar[str] = "decision"
    verdict: Verdict
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_enum("verdict", self.verdict, Verdict)
        _check_tuple("reasons", self.reasons, _check_text)

    @property
    def outcome(self) -> str:
        """The one word queries select on: the verdict (``ELIGIBLE``…)."""
        return self.verdict.value


@dataclass(frozen=True)
class Refusal:
    """The lookup was refused before any agency heard of it.

    ``code`` is the gRPC status code name (``PERMISSION_DENIED``); ``reason`` the stable
    reason (``NO_CONSENT``, ``REVOKED``, ``ROLE_MISSING``…).
    """

    KIND: ClassVar[str] = "refusal"
    stage: Stage
    code: str
    reason: str

    def __post_init__(self) -> None:
        _check_enum("stage", self.stage, Stage)
        _check_status_code("code", self.code)
        _check_pattern("reason", self.reason, _REASON_CODE, "a reason code (A-Z, 0-9, _)")

    @property
    def outcome(self) -> str:
        """The one word queries select on: the reason (``NO_CONSENT``…)."""
        return self.reason


@dataclass(frozen=True)
class Failure:
    """The lookup could not be completed (``code`` such as ``UNAVAILABLE``; stable ``reason``)."""

    KIND: ClassVar[str] = "failure"
    code: str
    reason: str

    def __post_init__(self) -> None:
        _check_status_code("code", self.code)
        _check_pattern("reason", self.reason, _REASON_CODE, "a reason code (A-Z, 0-9, _)")

    @property
    def outcome(self) -> str:
        """The one word queries select on: the reason (``AGENCY_UNAVAILABLE``…)."""
        return self.reason


Result: TypeAlias = Decision | Refusal | Failure
"""How a lookup ended."""


@dataclass(frozen=True)
class Entry:
    """One lookup, as the audit log records it (schema version :data:`SCHEMA_VERSION`).

    Attributes:
        time: when the lookup was recorded, timezone-aware UTC.
        request_id: the caller's (or the hub's) id for the check; "" when it was malformed.
        trace_id: the W3C trace id, 32 lower-case hex digits.
        rpc: ``Check`` or ``CheckBatch``.
        caller: who asked; None when authentication is switched off.
        purpose: the purpose code given; "" when it was missing or malformed.
        program: the program asked for and the rules that decided.
        subject: the subject's pseudonym; None when the request held no ASCII national ID.
        basis: the consent or mandate used; None when the consent layer is off or none was
            found.
        agencies: every Fetch made for this lookup, in the order they were made.
        result: a :class:`Decision`, :class:`Refusal` or :class:`Failure`.
    """

    VERSION: ClassVar[int] = SCHEMA_VERSION
    time: dt.datetime
    request_id: str
    trace_id: str
    rpc: Rpc
    caller: Caller | None
    purpose: str
    program: Program
    subject: Subject | None
    basis: Basis | None
    agencies: tuple[AgencyQuery, ...]
    result: Result

    def __post_init__(self) -> None:
        _check_time(self.time)
        _check_text("request_id", self.request_id, empty_ok=True)
        _check_pattern("trace_id", self.trace_id, _TRACE_ID, "32 lower-case hex digits")
        _check_enum("rpc", self.rpc, Rpc)
        _check_instance("caller", self.caller, (Caller, type(None)))
        _check_text("purpose", self.purpose, empty_ok=True)
        _check_instance("program", self.program, Program)
        _check_instance("subject", self.subject, (Subject, type(None)))
        _check_instance("basis", self.basis, (Basis, type(None)))
        _check_tuple("agencies", self.agencies, _check_agency_query)
        _check_instance("result", self.result, (Decision, Refusal, Failure))
        if isinstance(self.result, Refusal) and self.agencies:
            raise EntryError("agencies", "must be empty: a refused lookup reaches no agency")
        if isinstance(self.result, Decision) and None in (
            self.program.version,
            self.program.digest,
        ):
            raise EntryError("program", "a decision needs the program's version and digest")


def _check_time(value: object) -> None:
    if not isinstance(value, dt.datetime) or value.utcoffset() != dt.timedelta(0):
        raise EntryError("time", "must be a timezone-aware UTC datetime")


def _check_agency_query(path: str, value: object) -> None:
    _check_instance(path, value, AgencyQuery)


# -- JSON form --------------------------------------------------------------------------------


def entry_to_json(entry: Entry) -> dict[str, JsonValue]:
    """The entry's versioned JSON form (``"v": 1``), as plain dicts, lists and scalars."""
    return {
        "v": SCHEMA_VERSION,
        "time": _time_text(entry.time),
        "request_id": entry.request_id,
        "trace_id": entry.trace_id,
        "rpc": entry.rpc.value,
        "caller": None if entry.caller is None else _caller_json(entry.caller),
        "purpose": entry.purpose,
        "program": {
            "id": entry.program.id,
            "version": entry.program.version,
            "digest": entry.program.digest,
        },
        "subject": None if entry.subject is None else _subject_json(entry.subject),
        "basis": None if entry.basis is None else _basis_json(entry.basis),
        "agencies": [_agency_json(query) for query in entry.agencies],
        "result": _result_json(entry.result),
    }


def canonical_bytes(entry: Entry) -> bytes:
    """The entry's RFC 8785 canonical JSON: the exact bytes hashed into the Merkle tree.

    Written with the standard library's encoder, which gives RFC 8785's bytes for every
    value an entry can hold: object keys are fixed ASCII names, so code-point order is RFC
    8785's UTF-16 order; numbers are small integers, never floats; strings are valid Unicode
    without control characters (both refused), so the only escapes are ``\\"`` and
    ``\\\\``, and nothing else is escaped in either. The ``rfc8785`` library stays the
    arbiter: :func:`entry_from_canonical`, and so every verification, re-encodes each entry
    with it and refuses bytes that differ, and the tests compare the two on generated
    entries. The library is five times slower, too slow for the hub's record step.
    """
    return _JCS_SUBSET.encode(entry_to_json(entry)).encode("utf-8")


_JCS_SUBSET = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def _time_text(time: dt.datetime) -> str:
    return time.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _caller_json(caller: Caller) -> dict[str, JsonValue]:
    return {"org": caller.org, "operator": caller.operator}


def _subject_json(subject: Subject) -> dict[str, JsonValue]:
    return {
        "pseudonym": subject.pseudonym,
        "key_id": subject.key_id,
        "members": list(subject.members),
    }


def _basis_json(basis: Basis) -> dict[str, JsonValue]:
    return {"kind": basis.kind.value, "ref": basis.ref}


def _agency_json(query: AgencyQuery) -> dict[str, JsonValue]:
    return {
        "agency": query.agency,
        "fetch_id": query.fetch_id,
        "attributes": list(query.attributes),
        "predicates": list(query.predicates),
        "status": query.status.value,
        "latency_ms": query.latency_ms,
    }


def _result_json(result: Result) -> dict[str, JsonValue]:
    match result:
        case Decision(verdict=verdict, reasons=reasons):
            return {"kind": Decision.KIND, "verdict": verdict.value, "reasons": list(reasons)}
        case Refusal(stage=stage, code=code, reason=reason):
            return {"kind": Refusal.KIND, "stage": stage.value, "code": code, "reason": reason}
        case Failure(code=code, reason=reason):
            return {"kind": Failure.KIND, "code": code, "reason": reason}


# -- parsing ------------------------------------------------------------------------------------

_E = TypeVar("_E", bound=enum.StrEnum)
_T = TypeVar("_T")
_ENTRY_KEYS = (
    "v",
    "time",
    "request_id",
    "trace_id",
    "rpc",
    "caller",
    "purpose",
    "program",
    "subject",
    "basis",
    "agencies",
    "result",
)


def entry_from_json(data: object) -> Entry:
    """Parse and validate an entry's JSON form (as :func:`json.loads` returns it).

    Strict: every key must be present, no other key may be, and every value must have its
    JSON type (``true`` is not an integer).

    Raises:
        UnsupportedVersionError: ``v`` is not 1.
        EntryError: anything else is wrong; ``path`` names the field.
    """
    if not isinstance(data, dict):
        raise EntryError("$", "must be a JSON object")
    version = data.get("v")
    if type(version) is not int:
        raise EntryError("v", "must be present and an integer")
    if version != SCHEMA_VERSION:
        raise UnsupportedVersionError(
            "v", f"unsupported schema version; this reader knows {SCHEMA_VERSION}"
        )
    fields = _members(data, "", _ENTRY_KEYS)
    return Entry(
        time=_parse_time(fields["time"]),
        request_id=_string(fields, "", "request_id"),
        trace_id=_string(fields, "", "trace_id"),
        rpc=_enum(fields, "", "rpc", Rpc),
        caller=_optional(fields, "", "caller", _parse_caller),
        purpose=_string(fields, "", "purpose"),
        program=_parse_program(fields["program"], "program."),
        subject=_optional(fields, "", "subject", _parse_subject),
        basis=_optional(fields, "", "basis", _parse_basis),
        agencies=tuple(
            _parse_agency(item, f"agencies[{index}].")
            for index, item in enumerate(_array(fields, "", "agencies"))
        ),
        result=_parse_result(fields["result"], "result."),
    )


def entry_from_canonical(raw: bytes) -> Entry:
    """Parse stored leaf bytes, refusing any that are not the entry's exact canonical form.

    Duplicate object members, invalid UTF-8 and non-canonical spacing or ordering are all
    refused, so an entry read back always hashes to the leaf it was read from.

    Raises:
        EntryError: the bytes are not an entry's canonical JSON.
    """
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, json.JSONDecodeError, _DuplicateMemberError) as error:
        raise EntryError("$", f"not JSON: {type(error).__name__}") from None
    entry = entry_from_json(data)
    if rfc8785.dumps(entry_to_json(entry)) != raw:
        raise EntryError("$", "not in RFC 8785 canonical form")
    return entry


class _DuplicateMemberError(ValueError):
    """A JSON object repeats a member name."""


def _unique_members(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    result: dict[str, JsonValue] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateMemberError
        result[name] = value
    return result


@contextmanager
def _within(prefix: str) -> Iterator[None]:
    """Re-raise a nested constructor's EntryError with its path under ``prefix``."""
    try:
        yield
    except EntryError as error:
        raise type(error)(prefix + error.path, error.problem) from None


def _members(data: object, prefix: str, keys: Sequence[str]) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise EntryError(prefix.rstrip(".") or "$", "must be a JSON object")
    for key in data:
        if key not in keys:
            raise EntryError(f"{prefix}{key}", "unknown key")
    for key in keys:
        if key not in data:
            raise EntryError(f"{prefix}{key}", "missing")
    return data


def _string(fields: Mapping[str, object], prefix: str, key: str) -> str:
    value = fields[key]
    if not isinstance(value, str):
        raise EntryError(prefix + key, "must be a string")
    return value


def _optional_string(fields: Mapping[str, object], prefix: str, key: str) -> str | None:
    return None if fields[key] is None else _string(fields, prefix, key)


def _strings(fields: Mapping[str, object], prefix: str, key: str) -> tuple[str, ...]:
    strings: list[str] = []
    for index, value in enumerate(_array(fields, prefix, key)):
        if not isinstance(value, str):
            raise EntryError(f"{prefix}{key}[{index}]", "must be a string")
        strings.append(value)
    return tuple(strings)


def _array(fields: Mapping[str, object], prefix: str, key: str) -> list[object]:
    value = fields[key]
    if not isinstance(value, list):
        raise EntryError(prefix + key, "must be an array")
    return value


def _enum(fields: Mapping[str, object], prefix: str, key: str, kind: type[_E]) -> _E:
    value = fields[key]
    if isinstance(value, str) and value in kind.__members__.values():
        return kind(value)
    allowed = ", ".join(member.value for member in kind)
    raise EntryError(prefix + key, f"must be one of {allowed}")


def _optional(
    fields: Mapping[str, object], prefix: str, key: str, parse: Callable[[object, str], _T]
) -> _T | None:
    value = fields[key]
    return None if value is None else parse(value, f"{prefix}{key}.")


def _parse_time(value: object) -> dt.datetime:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise EntryError("time", "must be UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise EntryError("time", "is not a valid date and time") from None


def _parse_caller(data: object, prefix: str) -> Caller:
    fields = _members(data, prefix, ("org", "operator"))
    with _within(prefix):
        return Caller(org=_string(fields, "", "org"), operator=_string(fields, "", "operator"))


def _parse_program(data: object, prefix: str) -> Program:
    fields = _members(data, prefix, ("id", "version", "digest"))
    with _within(prefix):
        return Program(
            id=_string(fields, "", "id"),
            version=_optional_string(fields, "", "version"),
            digest=_optional_string(fields, "", "digest"),
        )


def _parse_subject(data: object, prefix: str) -> Subject:
    fields = _members(data, prefix, ("pseudonym", "key_id", "members"))
    with _within(prefix):
        return Subject(
            pseudonym=_string(fields, "", "pseudonym"),
            key_id=_string(fields, "", "key_id"),
            members=_strings(fields, "", "members"),
        )


def _parse_basis(data: object, prefix: str) -> Basis:
    fields = _members(data, prefix, ("kind", "ref"))
    with _within(prefix):
        return Basis(kind=_enum(fields, "", "kind", BasisKind), ref=_string(fields, "", "ref"))


_AGENCY_KEYS = ("agency", "fetch_id", "attributes", "predicates", "status", "latency_ms")


def _parse_agency(data: object, prefix: str) -> AgencyQuery:
    fields = _members(data, prefix, _AGENCY_KEYS)
    latency = fields["latency_ms"]
    if type(latency) is not int:
        raise EntryError(prefix + "latency_ms", "must be an integer")
    with _within(prefix):
        return AgencyQuery(
            agency=_string(fields, "", "agency"),
            fetch_id=_string(fields, "", "fetch_id"),
            attributes=_strings(fields, "", "attributes"),
            predicates=_strings(fields, "", "predicates"),
            status=_enum(fields, "", "status", AgencyStatus),
            latency_ms=latency,
        )


def _parse_result(data: object, prefix: str) -> Result:
    if not isinstance(data, dict):
        raise EntryError(prefix.rstrip("."), "must be a JSON object")
    kind = data.get("kind")
    with _within(prefix):
        if kind == Decision.KIND:
            fields = _members(data, "", ("kind", "verdict", "reasons"))
            return Decision(
                verdict=_enum(fields, "", "verdict", Verdict),
                reasons=_strings(fields, "", "reasons"),
            )
        if kind == Refusal.KIND:
            fields = _members(data, "", ("kind", "stage", "code", "reason"))
            return Refusal(
                stage=_enum(fields, "", "stage", Stage),
                code=_string(fields, "", "code"),
                reason=_string(fields, "", "reason"),
            )
        if kind == Failure.KIND:
            fields = _members(data, "", ("kind", "code", "reason"))
            return Failure(code=_string(fields, "", "code"), reason=_string(fields, "", "reason"))
    raise EntryError(prefix + "kind", "must be one of decision, refusal, failure")
