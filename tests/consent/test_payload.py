"""The signed payload: explicit JSON, decoded strictly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from consent import Grantor, GuardianRelation, InvalidArtefactError
from consent.payload import (
    artefact_from_payload,
    artefact_payload,
    canonical_json,
    decode_json,
    mandate_from_payload,
    mandate_payload,
)
from tests.consent.conftest import GUARDIAN, artefact, mandate, one_time


@pytest.mark.parametrize(
    "made",
    [
        pytest.param(artefact(), id="periodic"),
        pytest.param(one_time(), id="one-time"),
        pytest.param(artefact(grantor=Grantor(GUARDIAN, GuardianRelation.PARENT)), id="guardian"),
        pytest.param(artefact(id="c-2", supersedes="c-1"), id="superseding"),
    ],
)
def test_artefacts_round_trip_through_json(made: Any) -> None:
    text = canonical_json(artefact_payload(made))
    assert artefact_from_payload(decode_json(text)) == made


def test_mandates_round_trip_through_json() -> None:
    made = mandate()
    assert mandate_from_payload(decode_json(canonical_json(mandate_payload(made)))) == made


def test_the_payload_reads_without_sakha() -> None:
    payload = json.loads(canonical_json(artefact_payload(artefact())))
    assert payload["scope"] == {
        "attributes": ["tax.annual_income"],
        "predicates": ["civil_registry.household_size"],
    }
    assert payload["validity"]["from"].endswith("Z")
    assert payload["frequency"] == {"max_uses": 4, "period_s": 30 * 86400}


def _changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    payload = artefact_payload(artefact())
    change(payload)
    return payload


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        pytest.param(_changed(lambda p: p.update(extra=1)), "unknown extra", id="unknown-member"),
        pytest.param(_changed(lambda p: p.pop("subject")), "missing subject", id="missing"),
        pytest.param(_changed(lambda p: p.update(v=2)), "version 1", id="version"),
        pytest.param(_changed(lambda p: p.update(kind="mandate")), "consent payload", id="kind"),
        pytest.param(
            _changed(lambda p: p["frequency"].update(max_uses=True)), "JSON int", id="bool-as-int"
        ),
        pytest.param(
            _changed(lambda p: p["frequency"].update(max_uses="4")), "int", id="text-as-int"
        ),
        pytest.param(
            _changed(lambda p: p["validity"].update({"from": "2025-03-01T09:00:00+03:30"})),
            "UTC",
            id="not-utc",
        ),
        pytest.param(
            _changed(lambda p: p["validity"].update({"from": "yesterday"})), "ISO", id="not-time"
        ),
        pytest.param(
            _changed(lambda p: p["scope"].update(attributes=["tax.a", "tax.a"])),
            "distinct",
            id="repeated-attribute",
        ),
        pytest.param(_changed(lambda p: p.update(household="everyone")), "known", id="enum"),
        pytest.param([], "JSON object", id="not-an-object"),
    ],
)
def test_bad_payloads_are_refused(payload: Any, says: str) -> None:
    with pytest.raises(InvalidArtefactError, match=says):
        artefact_from_payload(payload)


@pytest.mark.parametrize(
    "data",
    [b'{"a":1,"a":2}', b'{"a":NaN}', b"\xff", b"{"],
    ids=["duplicate-member", "nan", "not-utf8", "truncated"],
)
def test_bad_json_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidArtefactError):
        decode_json(data)
