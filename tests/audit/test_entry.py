"""The audit entry: canonical bytes that never drift, a strict parser, no raw national ID."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import audit.entry
import audit.pseudonym
from audit import (
    AgencyQuery,
    AgencyStatus,
    Basis,
    BasisKind,
    Caller,
    Decision,
    Entry,
    EntryError,
    Failure,
    Program,
    Refusal,
    Result,
    Rpc,
    Stage,
    Subject,
    UnsupportedVersionError,
    Verdict,
    canonical_bytes,
    entry_from_canonical,
    entry_from_json,
    entry_to_json,
    looks_like_national_id,
    predicate_text,
)
from tests.adapters.test_dependency_direction import _imported_modules

PSEUDONYM = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
MEMBER = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
WHEN = dt.datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=dt.UTC)
RAW_ID = "0499370899"
"""A well-formed national ID (check digit correct): it must never be recordable."""


def decided(**changes: Any) -> Entry:
    """A household check decided after asking two agencies."""
    fields: dict[str, Any] = {
        "time": WHEN,
        "request_id": "req-7f3a",
        "trace_id": TRACE,
        "rpc": Rpc.CHECK,
        "caller": Caller(org="welfare_org", operator="operator-17"),
        "purpose": "livelihood_support",
        "program": Program(id="livelihood_basket", version="2025.1", digest="sha256:ab12"),
        "subject": Subject(pseudonym=PSEUDONYM, key_id="k2025", members=(MEMBER,)),
        "basis": Basis(kind=BasisKind.CONSENT, ref="c-0f2e"),
        "agencies": (
            AgencyQuery(
                agency="civil_registry",
                fetch_id="9a1b2c3d4e5f60718293a4b5",
                attributes=("household",),
                predicates=(),
                status=AgencyStatus.OK,
                latency_ms=12,
            ),
            AgencyQuery(
                agency="tax",
                fetch_id="0a1b2c3d4e5f60718293a4b6",
                attributes=("employment_status",),
                predicates=(predicate_text("income_decile", "le", 4),),
                status=AgencyStatus.TIMEOUT,
                latency_ms=800,
            ),
        ),
        "result": Decision(verdict=Verdict.UNDETERMINED, reasons=("SOURCE_FAILED",)),
    }
    return Entry(**(fields | changes))


def refused(**changes: Any) -> Entry:
    """A CheckBatch item refused in admit, before any agency: consent layer off, no caller."""
    fields: dict[str, Any] = {
        "time": WHEN,
        "request_id": "",
        "trace_id": TRACE,
        "rpc": Rpc.CHECK_BATCH,
        "caller": None,
        "purpose": "",
        "program": Program(id="", version=None, digest=None),
        "subject": None,
        "basis": None,
        "agencies": (),
        "result": Refusal(stage=Stage.ADMIT, code="PERMISSION_DENIED", reason="NO_CONSENT"),
    }
    return Entry(**(fields | changes))


def failed() -> Entry:
    """A check whose decide step failed."""
    return decided(result=Failure(code="UNAVAILABLE", reason="AGENCIES_UNREACHABLE"))


EXAMPLES = [
    pytest.param(decided(), id="decided"),
    pytest.param(refused(), id="refused"),
    pytest.param(failed(), id="failed"),
    pytest.param(
        decided(result=Decision(verdict=Verdict.INELIGIBLE, reasons=("درآمد_بالاتر_از_سقف",))),
        id="persian-reason",
    ),
]

GOLDEN = (
    b'{"agencies":[{"agency":"civil_registry","attributes":["household"],'
    b'"fetch_id":"9a1b2c3d4e5f60718293a4b5","latency_ms":12,"predicates":[],"status":"OK"},'
    b'{"agency":"tax","attributes":["employment_status"],"fetch_id":"0a1b2c3d4e5f60718293a4b6",'
    b'"latency_ms":800,"predicates":["income_decile le 4"],"status":"TIMEOUT"}],'
    b'"basis":{"kind":"consent","ref":"c-0f2e"},'
    b'"caller":{"operator":"operator-17","org":"welfare_org"},'
    b'"program":{"digest":"sha256:ab12","id":"livelihood_basket","version":"2025.1"},'
    b'"purpose":"livelihood_support","request_id":"req-7f3a",'
    b'"result":{"kind":"decision","reasons":["SOURCE_FAILED"],"verdict":"UNDETERMINED"},'
    b'"rpc":"Check","subject":{"key_id":"k2025","members":['
    b'"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],'
    b'"pseudonym":"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},'
    b'"time":"2025-03-01T08:30:00.123456Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","v":1}'
)
"""The canonical bytes of ``decided()``, pinned: a leaf written today must hash the same forever."""


# -- canonical bytes ------------------------------------------------------------------------


def test_canonical_bytes_are_pinned() -> None:
    assert canonical_bytes(decided()) == GOLDEN


@pytest.mark.parametrize("entry", EXAMPLES)
def test_an_entry_round_trips_through_its_canonical_bytes(entry: Entry) -> None:
    raw = canonical_bytes(entry)
    again = entry_from_json(json.loads(raw))
    assert again == entry
    assert canonical_bytes(again) == raw
    assert entry_from_canonical(raw) == entry


def test_members_are_sorted_by_utf16_key_and_unicode_is_written_raw() -> None:
    persian = "درآمد_بالاتر_از_سقف"
    entry = decided(
        request_id="درخواست-۱۲",
        result=Decision(verdict=Verdict.INELIGIBLE, reasons=(persian, "A_CODE")),
    )
    raw = canonical_bytes(entry)
    assert persian.encode("utf-8") in raw
    assert "درخواست-۱۲".encode() in raw
    assert b"\\u" not in raw
    keys = list(json.loads(raw))
    assert keys == sorted(keys, key=lambda key: key.encode("utf-16-be"))
    assert b'"reasons":["\xd8\xaf' in raw  # array order is kept; only members are sorted


def test_the_library_sorts_members_as_rfc_8785_section_3_2_3_shows() -> None:
    # RFC 8785 section 3.2.3, the sorting example: members ordered by UTF-16 code units,
    # so the emoji (a surrogate pair, 0xD83D...) sorts before U+FB33.
    rfc_input = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert rfc8785.dumps(rfc_input) == expected.encode("utf-8")


def test_the_json_form_carries_version_1() -> None:
    assert entry_to_json(decided())["v"] == 1
    assert Entry.VERSION == 1


def test_time_is_written_in_utc_to_the_microsecond() -> None:
    tehran = dt.timezone(dt.timedelta(hours=3, minutes=30))
    with pytest.raises(EntryError, match=r"^time: "):
        decided(time=WHEN.astimezone(tehran))
    with pytest.raises(EntryError, match=r"^time: "):
        decided(time=WHEN.replace(tzinfo=None))
    assert entry_to_json(decided(time=WHEN.replace(microsecond=0)))["time"] == (
        "2025-03-01T08:30:00.000000Z"
    )


# -- the parser refuses every bad input, naming the field ----------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return mutate


def _json(entry: Entry) -> dict[str, Any]:
    return copy.deepcopy(json.loads(canonical_bytes(entry)))


BAD_INPUTS = [
    pytest.param(_set("extra", 1), "extra", id="unknown-key"),
    pytest.param(_set("program.extra", 1), "program.extra", id="unknown-nested-key"),
    pytest.param(_set("agencies.0.value", 3), "agencies[0].value", id="attribute-value-key"),
    pytest.param(_set("result.stage", "admit"), "result.stage", id="unknown-result-key"),
    pytest.param(_delete("v"), "v", id="missing-version"),
    pytest.param(_delete("caller.operator"), "caller.operator", id="missing-nested-key"),
    pytest.param(_delete("agencies.1.latency_ms"), "agencies[1].latency_ms", id="missing-ms"),
    pytest.param(_delete("subject.members"), "subject.members", id="missing-members"),
    pytest.param(_delete("result.kind"), "result.kind", id="missing-result-kind"),
    pytest.param(_set("v", "1"), "v", id="version-as-string"),
    pytest.param(_set("v", True), "v", id="version-as-boolean"),
    pytest.param(_set("time", "2025-03-01T08:30:00Z"), "time", id="time-without-micros"),
    pytest.param(_set("time", "2025-03-01T08:30:00.123456+00:00"), "time", id="time-offset"),
    pytest.param(_set("time", "2025-02-30T08:30:00.123456Z"), "time", id="time-no-such-day"),
    pytest.param(_set("time", 1740817800), "time", id="time-as-number"),
    pytest.param(_set("request_id", 7), "request_id", id="request-id-number"),
    pytest.param(_set("trace_id", TRACE.upper()), "trace_id", id="trace-id-upper"),
    pytest.param(_set("rpc", "check"), "rpc", id="rpc-unknown"),
    pytest.param(_set("caller", ["welfare_org"]), "caller", id="caller-array"),
    pytest.param(_set("caller.org", "Welfare Org"), "caller.org", id="org-not-identifier"),
    pytest.param(_set("caller.operator", ""), "caller.operator", id="operator-empty"),
    pytest.param(_set("purpose", "a\nb"), "purpose", id="purpose-control-char"),
    pytest.param(_set("purpose", "x" * 1001), "purpose", id="purpose-too-long"),
    pytest.param(_set("program", None), "program", id="program-null"),
    pytest.param(_set("program.version", 2025), "program.version", id="version-number"),
    pytest.param(_set("subject.pseudonym", PSEUDONYM.upper()), "subject.pseudonym", id="pn-up"),
    pytest.param(_set("subject.pseudonym", PSEUDONYM[:-1]), "subject.pseudonym", id="pn-short"),
    pytest.param(_set("subject.key_id", "k 1"), "subject.key_id", id="key-id-space"),
    pytest.param(_set("subject.members", MEMBER), "subject.members", id="members-not-array"),
    pytest.param(_set("subject.members.0", "x"), "subject.members[0]", id="member-bad"),
    pytest.param(_set("basis.kind", "contract"), "basis.kind", id="basis-kind-unknown"),
    pytest.param(_set("basis.ref", ""), "basis.ref", id="basis-ref-empty"),
    pytest.param(_set("agencies", {}), "agencies", id="agencies-object"),
    pytest.param(_set("agencies.0", "tax"), "agencies[0]", id="agency-not-object"),
    pytest.param(_set("agencies.0.agency", "Tax"), "agencies[0].agency", id="agency-upper"),
    pytest.param(_set("agencies.0.attributes", "household"), "agencies[0].attributes", id="at"),
    pytest.param(_set("agencies.0.attributes.0", 5), "agencies[0].attributes[0]", id="attr-num"),
    pytest.param(
        _set("agencies.1.predicates.0", "income < 4"), "agencies[1].predicates[0]", id="p"
    ),
    pytest.param(
        _set("agencies.1.predicates.0", "income_decile le x"),
        "agencies[1].predicates[0]",
        id="predicate-bare-operand",
    ),
    pytest.param(_set("agencies.0.status", "ok"), "agencies[0].status", id="status-unknown"),
    pytest.param(_set("agencies.0.latency_ms", "12"), "agencies[0].latency_ms", id="ms-string"),
    pytest.param(_set("agencies.0.latency_ms", True), "agencies[0].latency_ms", id="ms-boolean"),
    pytest.param(_set("agencies.0.latency_ms", 1.5), "agencies[0].latency_ms", id="ms-float"),
    pytest.param(_set("agencies.0.latency_ms", -1), "agencies[0].latency_ms", id="ms-negative"),
    pytest.param(_set("result", "ELIGIBLE"), "result", id="result-not-object"),
    pytest.param(_set("result.kind", "verdict"), "result.kind", id="result-kind-unknown"),
    pytest.param(_set("result.verdict", "YES"), "result.verdict", id="verdict-unknown"),
    pytest.param(_set("result.reasons", []), None, id="no-reasons-is-fine"),
    pytest.param(_set("result.reasons.0", ""), "result.reasons[0]", id="reason-empty"),
    pytest.param(_set("program.version", None), "program", id="decision-without-rules"),
]


@pytest.mark.parametrize(("mutate", "path"), BAD_INPUTS)
def test_the_parser_names_the_bad_field(mutate: Mutation, path: str | None) -> None:
    data = _json(decided())
    mutate(data)
    if path is None:
        assert canonical_bytes(entry_from_json(data)) == rfc8785.dumps(data)
        return
    with pytest.raises(EntryError) as caught:
        entry_from_json(data)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


REFUSAL_INPUTS = [
    pytest.param(_set("result.stage", "decide"), "result.stage", id="stage-unknown"),
    pytest.param(_set("result.code", "OK"), "result.code", id="code-ok"),
    pytest.param(_set("result.code", "permission_denied"), "result.code", id="code-lower"),
    pytest.param(_set("result.reason", "no consent"), "result.reason", id="reason-not-code"),
    pytest.param(_delete("result.stage"), "result.stage", id="stage-missing"),
    pytest.param(
        _set("agencies", _json(decided())["agencies"]), "agencies", id="refused-yet-asked"
    ),
]


@pytest.mark.parametrize(("mutate", "path"), REFUSAL_INPUTS)
def test_the_parser_names_the_bad_refusal_field(mutate: Mutation, path: str) -> None:
    data = _json(refused())
    mutate(data)
    with pytest.raises(EntryError) as caught:
        entry_from_json(data)
    assert caught.value.path == path


@pytest.mark.parametrize("version", [0, 2, 99])
def test_an_unknown_version_is_refused_clearly(version: int) -> None:
    data = _json(decided()) | {"v": version}
    with pytest.raises(UnsupportedVersionError, match=r"^v: unsupported schema version"):
        entry_from_json(data)


@pytest.mark.parametrize("key", sorted(_json(decided())))
def test_every_key_is_required(key: str) -> None:
    data = _json(decided())
    del data[key]
    with pytest.raises(EntryError) as caught:
        entry_from_json(data)
    assert caught.value.path == key


@pytest.mark.parametrize("data", [[], "entry", None, 1])
def test_the_json_form_must_be_an_object(data: object) -> None:
    with pytest.raises(EntryError, match=r"^\$: must be a JSON object"):
        entry_from_json(data)


# -- stored leaves ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(json.dumps(_json(decided())).encode(), id="spaced"),
        pytest.param(json.dumps(_json(decided()), sort_keys=True).encode(), id="sort-keys"),
        pytest.param(GOLDEN.replace(b'"v":1}', b'"v":1,"v":1}'), id="duplicate-member"),
        pytest.param(GOLDEN.replace(b"welfare_org", b"welfare_\xff"), id="invalid-utf8"),
        pytest.param(GOLDEN[:-1], id="truncated"),
    ],
)
def test_a_stored_leaf_must_be_exactly_canonical(raw: bytes) -> None:
    with pytest.raises(EntryError, match=r"^\$: "):
        entry_from_canonical(raw)


# -- no raw national ID ---------------------------------------------------------------------


def _string_leaves(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _string_leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _string_leaves(v, f"{path}.{i}")]
    return [path[1:]] if isinstance(value, str) else []


def _display(path: str) -> str:
    parts = path.split(".")
    return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)[1:]


@pytest.mark.parametrize("entry", EXAMPLES[:2])
@pytest.mark.parametrize("wrap", ["{}", "nid {}", "{}-x", "id_{}", "ک{}"])
def test_no_text_field_can_carry_a_national_id(entry: Entry, wrap: str) -> None:
    data = _json(entry)
    leaves = _string_leaves(data)
    assert len(leaves) >= 5
    for leaf in leaves:
        mutated = copy.deepcopy(data)
        _set(leaf, wrap.format(RAW_ID))(mutated)
        with pytest.raises(EntryError) as caught:
            entry_from_json(mutated)
        assert caught.value.path == _display(leaf)
        assert RAW_ID not in str(caught.value)


NATIONAL_ID_IN_FREE_FIELDS = [
    pytest.param("request_id", RAW_ID, id="request-id"),
    pytest.param("request_id", f"req:{RAW_ID}", id="request-id-with-prefix"),
    pytest.param("caller.operator", f"operator {RAW_ID}", id="operator"),
    pytest.param("purpose", f"for_{RAW_ID}", id="purpose"),
    pytest.param("program.id", RAW_ID, id="program-id"),
    pytest.param("basis.ref", f"c-{RAW_ID}", id="consent-ref"),
    pytest.param("agencies.0.fetch_id", f"{RAW_ID}.1", id="fetch-id"),
    pytest.param("result.reasons.0", "۰۴۹۹۳۷۰۸۹۹", id="persian-digits-in-reason"),
    pytest.param("result.reasons.0", "٠٤٩٩٣٧٠٨٩٩", id="arabic-indic-digits-in-reason"),
    pytest.param("agencies.1.predicates.0", f'national_id eq "{RAW_ID}"', id="string-operand"),
    pytest.param("agencies.0.attributes.0", f"n_{RAW_ID}", id="attribute"),
]


@pytest.mark.parametrize(("path", "value"), NATIONAL_ID_IN_FREE_FIELDS)
def test_a_national_id_in_a_free_field_is_refused(path: str, value: str) -> None:
    data = _json(decided())
    _set(path, value)(data)
    with pytest.raises(EntryError, match="looks like a national ID") as caught:
        entry_from_json(data)
    assert caught.value.path == _display(path)
    assert value not in str(caught.value)


def test_constructing_an_entry_runs_the_same_guard() -> None:
    with pytest.raises(EntryError, match=r"^request_id: looks like a national ID"):
        decided(request_id=RAW_ID)
    with pytest.raises(EntryError, match=r"^operator: looks like a national ID"):
        Caller(org="welfare_org", operator=RAW_ID)


def test_an_integer_operand_is_a_parameter_not_an_id() -> None:
    threshold = predicate_text("monthly_income", "lt", 1_500_000_000)
    assert threshold == "monthly_income lt 1500000000"
    query = dataclasses.replace(decided().agencies[1], predicates=(threshold,))
    assert query.predicates == (threshold,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0499370899", True),
        ("id 0499370899 seen", True),
        ("x_0499370899", True),
        ("۰۴۹۹۳۷۰۸۹۹", True),
        ("0499370898", True),  # a wrong check digit is still someone's mistyped ID
        ("049937089", False),
        ("04993708991", False),  # eleven digits: a phone number's shape, not an ID's
        ("کد0499370899", True),
        ("ab0499370899cd", False),  # inside a hex token
        ("4bf92f3577b34da6a3ce929d0e0e4736", False),
        ("req-7f3a", False),
    ],
)
def test_what_looks_like_a_national_id(text: str, expected: bool) -> None:
    assert looks_like_national_id(text) is expected


# -- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "path"),
    [
        pytest.param(lambda: decided(agencies=list(decided().agencies)), "agencies", id="list"),
        pytest.param(lambda: decided(rpc="Check"), "rpc", id="rpc-as-plain-string"),
        pytest.param(lambda: decided(caller="welfare_org"), "caller", id="caller-as-string"),
        pytest.param(lambda: decided(result=None), "result", id="no-result"),
        pytest.param(
            lambda: Decision(verdict=Verdict.ELIGIBLE, reasons=["A"]),  # type: ignore[arg-type]
            "reasons",
            id="reasons-as-list",
        ),
        pytest.param(
            lambda: Subject(pseudonym=PSEUDONYM, key_id="k", members=("x",)),
            "members[0]",
            id="member",
        ),
        pytest.param(
            lambda: dataclasses.replace(decided().agencies[0], latency_ms=2**53),
            "latency_ms",
            id="latency-beyond-json",
        ),
        pytest.param(
            lambda: decided(
                result=Refusal(stage=Stage.ADMIT, code="PERMISSION_DENIED", reason="REVOKED")
            ),
            "agencies",
            id="refusal-with-agencies",
        ),
        pytest.param(lambda: decided(purpose="bad \udc80"), "purpose", id="lone-surrogate"),
    ],
)
def test_constructors_check_their_invariants(build: Callable[[], object], path: str) -> None:
    with pytest.raises(EntryError) as caught:
        build()
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("income_decile", "le", 4), "income_decile le 4"),
        (("is_insured", "eq", True), "is_insured eq true"),
        (("province", "ne", "تهران"), 'province ne "تهران"'),
        (("debt", "gt", -3), "debt gt -3"),
    ],
)
def test_predicate_text(args: tuple[str, str, bool | int | str], expected: str) -> None:
    assert predicate_text(*args) == expected
    assert dataclasses.replace(decided().agencies[1], predicates=(expected,))


@pytest.mark.parametrize(
    ("args", "path"),
    [(("Income", "le", 4), "attribute"), (("income", "<=", 4), "operator")],
)
def test_predicate_text_refuses_bad_parts(args: tuple[str, str, int], path: str) -> None:
    with pytest.raises(EntryError) as caught:
        predicate_text(*args)
    assert caught.value.path == path


# -- property: random entries round-trip ------------------------------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24
).filter(lambda text: not looks_like_national_id(text))
_identifier = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda text: not looks_like_national_id(text)
)
_pseudonym = st.binary(min_size=32, max_size=32).map(bytes.hex)
_codes = st.sampled_from(["PERMISSION_DENIED", "UNAVAILABLE", "INTERNAL", "INVALID_ARGUMENT"])
_reason = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True)
_operand = st.one_of(st.booleans(), st.integers(-(2**60), 2**60), _text)
_predicate = st.builds(
    predicate_text, _identifier, st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne"]), _operand
)
_query = st.builds(
    AgencyQuery,
    agency=_identifier,
    fetch_id=_text,
    attributes=st.lists(_identifier, max_size=3).map(tuple),
    predicates=st.lists(_predicate, max_size=3).map(tuple),
    status=st.sampled_from(AgencyStatus),
    latency_ms=st.integers(0, 2**53 - 1),
)
_decision = st.builds(
    Decision, verdict=st.sampled_from(Verdict), reasons=st.lists(_text, max_size=3).map(tuple)
)
_refusal = st.builds(Refusal, stage=st.just(Stage.ADMIT), code=_codes, reason=_reason)
_failure = st.builds(Failure, code=_codes, reason=_reason)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    """Any valid entry: refusals ask no agency; decisions name their rules."""
    result: Result = draw(st.one_of(_decision, _refusal, _failure))
    decided_ = isinstance(result, Decision)
    maybe_text = _text if decided_ else st.none() | _text
    return Entry(
        time=draw(st.datetimes(timezones=st.just(dt.UTC))),
        request_id=draw(_text | st.just("")),
        trace_id=draw(st.binary(min_size=16, max_size=16).map(bytes.hex)),
        rpc=draw(st.sampled_from(Rpc)),
        caller=draw(st.none() | st.builds(Caller, org=_identifier, operator=_text)),
        purpose=draw(_text | st.just("")),
        program=Program(id=draw(_text), version=draw(maybe_text), digest=draw(maybe_text)),
        subject=draw(
            st.none()
            | st.builds(
                Subject,
                pseudonym=_pseudonym,
                key_id=st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True),
                members=st.lists(_pseudonym, max_size=3).map(tuple),
            )
        ),
        basis=draw(st.none() | st.builds(Basis, kind=st.sampled_from(BasisKind), ref=_text)),
        agencies=() if isinstance(result, Refusal) else tuple(draw(st.lists(_query, max_size=3))),
        result=result,
    )


@given(entries())
def test_any_entry_round_trips_byte_for_byte(entry: Entry) -> None:
    raw = canonical_bytes(entry)
    again = entry_from_json(json.loads(raw))
    assert again == entry
    assert canonical_bytes(again) == raw
    assert entry_from_canonical(raw) == entry


@settings(max_examples=500)
@given(entries())
def test_the_fast_encoder_writes_exactly_what_the_rfc8785_library_does(entry: Entry) -> None:
    assert canonical_bytes(entry) == rfc8785.dumps(entry_to_json(entry))


def test_the_encoders_agree_on_escapes_and_characters_beyond_the_basic_plane() -> None:
    tricky = decided(request_id='q"\\u2028\u2028\u00e9\U0001f600\ufb01 \u0627\u06f1 end')
    assert canonical_bytes(tricky) == rfc8785.dumps(entry_to_json(tricky))


@given(entries(), entries())
def test_different_entries_have_different_bytes(first: Entry, second: Entry) -> None:
    assert (canonical_bytes(first) == canonical_bytes(second)) == (first == second)


# -- dependency direction ----------------------------------------------------------------------

_FORBIDDEN = {"grpc", "grpc_status", "google", "sakha", "gateway"}


@pytest.mark.parametrize("module", [audit.entry, audit.pseudonym])
def test_entry_and_pseudonym_import_no_grpc_generated_code_or_gateway(module: ModuleType) -> None:
    assert module.__file__ is not None
    imported = _imported_modules(Path(module.__file__))
    assert "rfc8785" in imported or "hmac" in imported, "the scan must have read the module"
    assert {name for name in imported if name.split(".")[0] in _FORBIDDEN} == set()
