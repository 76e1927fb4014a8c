"""Artefacts and mandates as JSON objects: the payload of their signatures.

The encoding is explicit (sorted member names, sorted lists, ISO 8601 UTC times ending in
``Z``, durations in whole seconds) so that any JOSE library's user can read a verified
payload without Sakha's code. Decoding is strict: a missing or unknown member, a wrong type
or a broken invariant is an :class:`~consent.errors.InvalidArtefactError`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from consent.errors import InvalidArtefactError
from consent.mandate import Mandate
from consent.model import (
    AttributeRef,
    CollectionMethod,
    ConsentArtefact,
    DataConsumer,
    FetchType,
    Frequency,
    Grantor,
    GuardianRelation,
    HouseholdCoverage,
    Providers,
    Scope,
    Validity,
    invalid,
)

PAYLOAD_VERSION = 1
"""The version of the payload layout, carried as member ``v``."""

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Any)


def encode_time(value: dt.datetime) -> str:
    """``value`` (UTC) as ISO 8601 ending in ``Z``."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """``value`` as compact UTF-8 JSON with sorted member names."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def artefact_payload(artefact: ConsentArtefact) -> dict[str, Any]:
    """The JSON object an artefact is signed as."""
    frequency = artefact.frequency
    return {
        "v": PAYLOAD_VERSION,
        "kind": "consent",
        "id": artefact.id,
        "subject": artefact.subject,
        "grantor": {
            "national_id": artefact.grantor.national_id,
            "relation": artefact.grantor.relation,
        },
        "consumer": {
            "organisation": artefact.consumer.organisation_id,
            "program": artefact.consumer.program_id,
        },
        "providers": {
            "agencies": sorted(artefact.providers.agencies),
            "categories": sorted(artefact.providers.categories),
        },
        "purpose": {"code": artefact.purpose_code, "text": artefact.purpose_text},
        "scope": {
            "attributes": sorted(str(ref) for ref in artefact.scope.attributes),
            "predicates": sorted(str(ref) for ref in artefact.scope.predicates),
        },
        "household": artefact.household.value,
        "fetch_type": artefact.fetch_type.value,
        "frequency": None
        if frequency is None
        else {"max_uses": frequency.max_uses, "period_s": int(frequency.period.total_seconds())},
        "validity": {
            "from": encode_time(artefact.validity.valid_from),
            "until": encode_time(artefact.validity.valid_until),
        },
        "data_life_s": int(artefact.data_life.total_seconds()),
        "notice_version": artefact.notice_version,
        "collection_method": artefact.collection_method.value,
        "created_at": encode_time(artefact.created_at),
        "supersedes": artefact.supersedes,
    }


def mandate_payload(mandate: Mandate) -> dict[str, Any]:
    """The JSON object a mandate is signed as."""
    return {
        "v": PAYLOAD_VERSION,
        "kind": "mandate",
        "id": mandate.id,
        "legal_reference": mandate.legal_reference,
        "issuing_authority": mandate.issuing_authority,
        "programs": sorted(mandate.programs),
        "purposes": sorted(mandate.purposes),
        "valid_from": encode_time(mandate.valid_from),
        "valid_until": None if mandate.valid_until is None else encode_time(mandate.valid_until),
        "created_at": encode_time(mandate.created_at),
    }


class _Reader:
    """Reads one JSON object member by member, refusing what does not belong."""

    def __init__(self, value: object, where: str, members: frozenset[str]) -> None:
        if not isinstance(value, dict):
            raise invalid(where, "must be a JSON object")
        unknown = sorted(set(value) - members)
        missing = sorted(members - set(value))
        if unknown or missing:
            said = [f"unknown {', '.join(unknown)}" if unknown else ""]
            said.append(f"missing {', '.join(missing)}" if missing else "")
            raise invalid(where, "; ".join(part for part in said if part))
        self._value: dict[str, Any] = value
        self._where = where

    def path(self, name: str) -> str:
        return f"{self._where}.{name}" if self._where else name

    def raw(self, name: str) -> Any:
        return self._value[name]

    def optional(self, name: str, kind: type[_T]) -> _T | None:
        return None if self._value[name] is None else self.of(name, kind)

    def of(self, name: str, kind: type[_T]) -> _T:
        value = self._value[name]
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise invalid(self.path(name), f"must be a JSON {kind.__name__}")
        return value

    def text(self, name: str) -> str:
        return self.of(name, str)

    def time(self, name: str) -> dt.datetime:
        text = self.text(name)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise invalid(self.path(name), "must be an ISO 8601 time") from None
        if value.tzinfo is None or value.utcoffset() != dt.timedelta(0) or not text.endswith("Z"):
            raise invalid(self.path(name), "must be a UTC time ending in Z")
        return value

    def seconds(self, name: str) -> dt.timedelta:
        return dt.timedelta(seconds=self.of(name, int))

    def texts(self, name: str) -> frozenset[str]:
        values = self.of(name, list)
        if not all(isinstance(item, str) for item in values) or len(set(values)) != len(values):
            raise invalid(self.path(name), "must be a list of distinct strings")
        return frozenset(values)

    def choice(self, name: str, kind: Callable[[str], _E]) -> _E:
        text = self.text(name)
        try:
            return kind(text)
        except ValueError:
            raise invalid(self.path(name), f"{text!r} is not a known value") from None


def _header(value: object, kind: str, members: frozenset[str]) -> _Reader:
    top = _Reader(value, "", members | {"v", "kind"})
    if top.raw("v") != PAYLOAD_VERSION or top.raw("kind") != kind:
        raise invalid("v", f"expected a version {PAYLOAD_VERSION} {kind} payload")
    return top


_ARTEFACT_MEMBERS = frozenset(
    [
        "id",
        "subject",
        "grantor",
        "consumer",
        "providers",
        "purpose",
        "scope",
        "household",
        "fetch_type",
        "frequency",
        "validity",
        "data_life_s",
        "notice_version",
        "collection_method",
        "created_at",
        "supersedes",
    ]
)
_MANDATE_MEMBERS = frozenset(
    [
        "id",
        "legal_reference",
        "issuing_authority",
        "programs",
        "purposes",
        "valid_from",
        "valid_until",
        "created_at",
    ]
)


def artefact_from_payload(value: object) -> ConsentArtefact:
    """The artefact a JSON object describes.

    Raises:
        InvalidArtefactError: a member is missing, unknown, ill-typed or breaks an invariant.
    """
    top = _header(value, "consent", _ARTEFACT_MEMBERS)
    grantor = _Reader(top.raw("grantor"), "grantor", frozenset({"national_id", "relation"}))
    consumer = _Reader(top.raw("consumer"), "consumer", frozenset({"organisation", "program"}))
    providers = _Reader(top.raw("providers"), "providers", frozenset({"agencies", "categories"}))
    purpose = _Reader(top.raw("purpose"), "purpose", frozenset({"code", "text"}))
    scope = _Reader(top.raw("scope"), "scope", frozenset({"attributes", "predicates"}))
    validity = _Reader(top.raw("validity"), "validity", frozenset({"from", "until"}))
    frequency = None
    if top.raw("frequency") is not None:
        reader = _Reader(top.raw("frequency"), "frequency", frozenset({"max_uses", "period_s"}))
        frequency = Frequency(reader.of("max_uses", int), reader.seconds("period_s"))
    relation = grantor.optional("relation", str)
    return ConsentArtefact(
        id=top.text("id"),
        subject=top.text("subject"),
        grantor=Grantor(
            grantor.text("national_id"),
            None if relation is None else grantor.choice("relation", GuardianRelation),
        ),
        consumer=DataConsumer(consumer.text("organisation"), consumer.text("program")),
        providers=Providers(providers.texts("agencies"), providers.texts("categories")),
        purpose_code=purpose.text("code"),
        purpose_text=purpose.text("text"),
        scope=Scope(
            frozenset(AttributeRef.parse(text) for text in scope.texts("attributes")),
            frozenset(AttributeRef.parse(text) for text in scope.texts("predicates")),
        ),
        household=top.choice("household", HouseholdCoverage),
        fetch_type=top.choice("fetch_type", FetchType),
        frequency=frequency,
        validity=Validity(validity.time("from"), validity.time("until")),
        data_life=top.seconds("data_life_s"),
        notice_version=top.text("notice_version"),
        collection_method=top.choice("collection_method", CollectionMethod),
        created_at=top.time("created_at"),
        supersedes=top.optional("supersedes", str),
    )


def mandate_from_payload(value: object) -> Mandate:
    """The mandate a JSON object describes (strict, like :func:`artefact_from_payload`)."""
    top = _header(value, "mandate", _MANDATE_MEMBERS)
    until = top.optional("valid_until", str)
    return Mandate(
        id=top.text("id"),
        legal_reference=top.text("legal_reference"),
        issuing_authority=top.text("issuing_authority"),
        programs=top.texts("programs"),
        purposes=top.texts("purposes"),
        valid_from=top.time("valid_from"),
        valid_until=None if until is None else top.time("valid_until"),
        created_at=top.time("created_at"),
    )


def decode_json(data: bytes) -> object:
    """``data`` as JSON, refusing duplicate members, NaN and non-UTF-8 bytes."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise InvalidArtefactError("the payload repeats a member name")
        return result

    def no_constants(name: str) -> object:
        raise InvalidArtefactError(f"the payload holds {name}, which is not JSON")

    try:
        return json.loads(data.decode(), object_pairs_hook=unique, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidArtefactError("the payload is not UTF-8 JSON") from None
