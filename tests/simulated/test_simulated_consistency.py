"""The agencies' databases agree with one another, as records about the same people would."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from adapters.national_id import is_valid_national_id
from adapters.simulated.build import PopulationSummary
from adapters.simulated.model import BANKS, REFERENCE_DATE, age_on
from adapters.simulated.records import agency_stores

Query = Callable[..., list[tuple[Any, ...]]]


def _column(query: Query, agency_id: str, sql: str) -> dict[str, Any]:
    return {str(row[0]): row[1] for row in query(agency_id, sql)}


def _households(query: Query) -> dict[str, list[str]]:
    members: dict[str, list[str]] = defaultdict(list)
    rows = query("civil_registry", "SELECT household_id, national_id FROM persons WHERE alive = 1")
    for household_id, national_id in rows:
        members[household_id].append(national_id)
    return members


def _deciles(query: Query) -> dict[str, int]:
    return _column(
        query,
        "subsidy_org",
        "SELECT b.national_id, h.income_decile FROM beneficiaries AS b"
        " JOIN households AS h ON h.household_id = b.household_id",
    )


def test_civil_registry_ids_are_valid_and_unique(query: Query) -> None:
    ids = [row[0] for row in query("civil_registry", "SELECT national_id FROM persons")]
    assert len(ids) == len(set(ids))
    assert all(is_valid_national_id(i) for i in ids)


def test_agencies_know_only_living_registered_persons(
    population: PopulationSummary, query: Query
) -> None:
    living = {
        row[0] for row in query("civil_registry", "SELECT national_id FROM persons WHERE alive = 1")
    }
    for store in agency_stores():
        if store.agency_id == "civil_registry":
            continue
        for table in store.tables:
            column = table.columns[0].split()[0]
            if not column.endswith("national_id"):
                continue
            known = {row[0] for row in query(store.agency_id, f"SELECT {column} FROM {table.name}")}  # noqa: S608
            assert known <= living, store.agency_id
    assert population.found["civil_registry"] > len(living)  # the deceased are registered too


def test_households_have_one_head_and_the_registry_agrees(query: Query) -> None:
    heads = _column(
        query,
        "civil_registry",
        "SELECT national_id, head_of_household FROM persons WHERE alive = 1",
    )
    for members in _households(query).values():
        assert sum(heads[m] for m in members) == 1
    assert not query(
        "civil_registry", "SELECT 1 FROM persons WHERE alive = 0 AND household_id IS NOT NULL"
    )


def test_wages_times_twelve_match_declared_income(query: Query) -> None:
    wages = _column(
        query,
        "social_security",
        "SELECT national_id, monthly_wage FROM insured_persons WHERE monthly_wage IS NOT NULL",
    )
    declared = {
        row[0]: (row[1], row[2])
        for row in query(
            "tax", "SELECT national_id, annual_income, business_license FROM taxpayers"
        )
    }
    assert wages
    for national_id, wage in wages.items():
        income, business = declared[national_id]
        assert income >= 12 * wage
        if not business:
            # Twelve months' pay and the year-end bonus (at most two months' pay).
            assert income <= 14 * wage


def test_a_pensioner_draws_from_one_fund(query: Query) -> None:
    social = {
        r[0]
        for r in query(
            "social_security",
            "SELECT national_id FROM insured_persons WHERE monthly_pension IS NOT NULL",
        )
    }
    civil = {r[0] for r in query("civil_pension_fund", "SELECT national_id FROM pensioners")}
    assert social
    assert civil
    assert not social & civil


def test_health_cover_comes_from_one_insurer(query: Query) -> None:
    social = {
        r[0]
        for r in query(
            "social_security", "SELECT national_id FROM insured_persons WHERE insured = 1"
        )
    }
    health = {
        r[0]
        for r in query("health_insurance", "SELECT national_id FROM policies WHERE insured = 1")
    }
    assert not social & health


def test_household_meters_are_shared_and_scale_with_size(query: Query) -> None:
    for agency_id, column in (("electricity", "monthly_kwh"), ("gas", "monthly_m3")):
        use = _column(
            query,
            agency_id,
            f"SELECT s.national_id, m.{column} FROM subscribers AS s"  # noqa: S608
            " JOIN meters AS m ON m.meter_id = s.meter_id",
        )
        meter = _column(query, agency_id, "SELECT national_id, meter_id FROM subscribers")
        by_size: dict[bool, list[int]] = defaultdict(list)
        for members in _households(query).values():
            assert len({meter.get(m) for m in members}) == 1, agency_id
            assert len({use.get(m) for m in members}) == 1
            if members[0] in use:
                by_size[len(members) >= 4].append(use[members[0]])
        assert sum(by_size[True]) / len(by_size[True]) > sum(by_size[False]) / len(by_size[False])
    meters = query("electricity", "SELECT COUNT(*) FROM meters")[0][0]
    assert meters == len(_households(query))


def test_household_members_query_matches_household_ids(query: Query) -> None:
    rows = query(
        "civil_registry",
        "SELECT p.national_id, m.national_id FROM persons AS p"
        " JOIN persons AS m ON m.household_id = p.household_id"
        " ORDER BY p.national_id, m.national_id",
    )
    lists: dict[str, list[str]] = defaultdict(list)
    for subject, member in rows:
        lists[subject].append(member)
    for members in _households(query).values():
        for member in members:
            assert lists[member] == sorted(members)


def test_total_debt_is_the_sum_of_bank_loans(query: Query) -> None:
    loans: dict[str, int] = defaultdict(int)
    for bank in BANKS:
        for national_id, loan in query(bank, "SELECT national_id, loan_outstanding FROM customers"):
            loans[national_id] += loan
    debt = _column(query, "credit_registry", "SELECT national_id, total_debt FROM credit_files")
    for national_id, total in loans.items():
        assert debt.get(national_id, 0) == total


def test_students_are_school_age_children(query: Query) -> None:
    births = _column(query, "civil_registry", "SELECT national_id, birth_date FROM persons")
    students = query("education", "SELECT national_id, enrolled_student FROM students")
    assert students
    assert {enrolled for _, enrolled in students} <= {0, 1}
    for national_id, _ in students:
        born = births[national_id]
        assert 6 <= age_on(type(REFERENCE_DATE).fromisoformat(born), REFERENCE_DATE) < 18


def test_deciles_follow_income_per_person(query: Query) -> None:
    rows = query(
        "subsidy_org",
        "SELECT income_per_person, income_decile, cash_subsidy, appealed FROM households"
        " ORDER BY income_per_person, household_id",
    )
    deciles = [row[1] for row in rows]
    assert deciles == sorted(deciles)
    assert set(deciles) == set(range(1, 11))
    for _, decile, cash, appealed in rows:
        assert cash == (decile <= 7 or appealed)


def test_aid_goes_mostly_to_the_poor_with_overlaps(
    population: PopulationSummary, query: Query
) -> None:
    deciles = _deciles(query)
    for agency_id, table in (("relief_committee", "covered_persons"), ("welfare", "clients")):
        supported = [
            r[0]
            for r in query(
                agency_id,
                f"SELECT national_id FROM {table} WHERE supports_financial = 1",  # noqa: S608
            )
        ]
        assert supported, agency_id
        poor = sum(deciles[s] <= 3 for s in supported)
        assert poor / len(supported) >= 0.7, agency_id
    assert population.overlap_households > 0


def test_disability_and_illness_come_with_support(query: Query) -> None:
    severe = query(
        "welfare",
        "SELECT national_id, supports_medical FROM clients WHERE disability_severity >= 3",
    )
    everyone = query("civil_registry", "SELECT COUNT(*) FROM persons WHERE alive = 1")[0][0]
    disabled = query("welfare", "SELECT COUNT(*) FROM clients WHERE disability_severity > 0")[0][0]
    ill = query(
        "special_illness_registry", "SELECT COUNT(*) FROM patients WHERE chronic_illness = 1"
    )[0][0]
    assert 0.01 <= disabled / everyone <= 0.05
    assert 0.001 <= ill / everyone <= 0.03
    assert severe
    assert sum(medical for _, medical in severe) / len(severe) >= 0.3


def test_the_rich_own_more_and_travel_more(query: Query) -> None:
    deciles = _deciles(query)
    heads = [
        r[0]
        for r in query(
            "civil_registry",
            "SELECT national_id FROM persons WHERE head_of_household = 1 AND alive = 1",
        )
    ]
    facts = {
        "property": _column(
            query,
            "land_registry",
            "SELECT owner_national_id, SUM(value) FROM deeds GROUP BY owner_national_id",
        ),
        "vehicles": _column(
            query,
            "vehicle_registry",
            "SELECT owner_national_id, SUM(value) FROM vehicles GROUP BY owner_national_id",
        ),
        "deposits": _column(
            query, "bank_melli", "SELECT national_id, deposit_balance FROM customers"
        ),
        "portfolio": _column(
            query, "securities_depository", "SELECT national_id, portfolio_value FROM holders"
        ),
    }
    for name, values in facts.items():
        rich = [values.get(h, 0) for h in heads if deciles[h] >= 9]
        poor = [values.get(h, 0) for h in heads if deciles[h] <= 2]
        assert sum(rich) / len(rich) > 2 * sum(poor) / len(poor), name
