"""fits(): a consent beyond its program's template is refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from consent import (
    FetchType,
    Frequency,
    HouseholdCoverage,
    Providers,
    Scope,
    TemplateViolationError,
    Validity,
    fits,
    refs,
)
from consent.template import most_uses_in
from tests.consent.conftest import DAY, NOW, artefact, one_time, template


def test_the_base_artefact_fits() -> None:
    fits(artefact(), template())
    fits(one_time(), template())


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        pytest.param(
            {"scope": Scope(refs("tax.annual_income", "tax.assets"))},
            "scope.attributes",
            "tax.assets",
            id="attribute-outside",
        ),
        pytest.param(
            {"scope": Scope(refs("tax.business_license"))},
            "scope.attributes",
            "tax.business_license",
            id="predicate-only-attribute-read-as-value",
        ),
        pytest.param(
            {"scope": Scope(predicates=refs("tax.assets"))},
            "scope.predicates",
            "tax.assets",
            id="predicate-outside",
        ),
        pytest.param(
            {"validity": Validity(NOW, NOW + 366 * DAY)}, "validity", "366 days", id="too-long"
        ),
        pytest.param(
            {"frequency": Frequency(5, 30 * DAY)}, "frequency", "at most 4", id="more-uses"
        ),
        pytest.param(
            {"frequency": Frequency(4, 29 * DAY)}, "frequency", "allows 8", id="shorter-period"
        ),
        pytest.param(
            {"frequency": Frequency(1, DAY)}, "frequency", "allows 30", id="daily-beats-monthly"
        ),
        pytest.param({"purpose_code": "marketing"}, "purpose_code", "marketing", id="purpose"),
        pytest.param(
            {"providers": Providers(frozenset({"tax", "civil_registry", "bank_melli"}))},
            "providers",
            "bank_melli",
            id="agency-outside",
        ),
        pytest.param(
            {"providers": Providers(frozenset({"tax", "civil_registry"}), frozenset({"bank"}))},
            "providers",
            "bank",
            id="category-outside",
        ),
        pytest.param({"data_life": 31 * DAY}, "data_life", "31 days", id="data-life"),
    ],
)
def test_beyond_the_template_is_refused(changes: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(TemplateViolationError, match=says) as caught:
        fits(artefact(**changes), template())
    assert caught.value.field == field


def test_another_program_is_refused() -> None:
    with pytest.raises(TemplateViolationError) as caught:
        fits(artefact(), template(program_id="fuel_card"))
    assert caught.value.field == "consumer.program_id"


def test_a_one_time_template_refuses_periodic_consents() -> None:
    strict = template(fetch_type=FetchType.ONE_TIME, max_frequency=None)
    fits(one_time(), strict)
    with pytest.raises(TemplateViolationError) as caught:
        fits(artefact(), strict)
    assert caught.value.field == "fetch_type"


def test_a_subject_only_template_refuses_household_consents() -> None:
    narrow = template(household=False)
    fits(artefact(household=HouseholdCoverage.SUBJECT_ONLY), narrow)
    with pytest.raises(TemplateViolationError) as caught:
        fits(artefact(), narrow)
    assert caught.value.field == "household"


@pytest.mark.parametrize(
    ("uses", "period_days", "window_days", "most"),
    [(4, 30, 30, 4), (4, 30, 7, 4), (1, 1, 7, 7), (2, 60, 30, 2), (4, 29, 30, 8)],
)
def test_most_uses_in_a_window(uses: int, period_days: int, window_days: int, most: int) -> None:
    assert most_uses_in(Frequency(uses, period_days * DAY), window_days * DAY) == most
