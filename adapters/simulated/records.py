"""How each simulated agency stores its share of the population: tables and rows.

One :class:`AgencyStore` per agency: its tables (created bare, indexed after loading), a
function turning a block of households into that agency's rows, and SQL run once everything
is loaded (derived columns such as the subsidy deciles). A person the agency knows nothing
about gets no row. The agency configs in ``agencies/*.yaml`` query exactly these tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from adapters.simulated.model import (
    AID_AGENCY_NEEDS,
    BANKS,
    Activity,
    Coverage,
    Household,
    PensionFund,
)

Row = tuple[object, ...]
RowsFunction = Callable[[Sequence[Household]], tuple[list[Row], ...]]
"""Turns a block of households into one list of rows per table, in table order."""


@dataclass(frozen=True)
class Table:
    """One table: column definitions and the indexes created once rows are loaded."""

    name: str
    columns: tuple[str, ...]
    unique: tuple[str, ...] = ()
    indexed: tuple[str, ...] = ()

    def create_sql(self) -> str:
        """``CREATE TABLE`` without constraints that would slow the bulk load."""
        return f"CREATE TABLE {self.name} ({', '.join(self.columns)})"

    def insert_sql(self) -> str:
        """A positional ``INSERT`` for :meth:`sqlite3.Cursor.executemany`."""
        placeholders = ", ".join("?" * len(self.columns))
        return f"INSERT INTO {self.name} VALUES ({placeholders})"  # noqa: S608 - our own names

    def index_sql(self) -> list[str]:
        """The ``CREATE INDEX`` statements, run after loading."""
        kinds = [("UNIQUE INDEX", c) for c in self.unique] + [("INDEX", c) for c in self.indexed]
        return [
            f"CREATE {kind} {self.name}_{columns.replace(', ', '_')} ON {self.name} ({columns})"
            for kind, columns in kinds
        ]


@dataclass(frozen=True)
class AgencyStore:
    """One agency's database layout and how the population fills it."""

    agency_id: str
    tables: tuple[Table, ...]
    rows: RowsFunction
    count_subjects_sql: str
    """Counts the distinct persons the agency knows (for the population summary)."""
    finish_sql: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        """The SQLite file name in the data directory."""
        return f"{self.agency_id}.sqlite"


def _person_table(name: str, *columns: str) -> Table:
    return Table(name, ("national_id TEXT NOT NULL", *columns), unique=("national_id",))


def _counted(table: str, column: str = "national_id") -> str:
    return f"SELECT COUNT(DISTINCT {column}) FROM {table}"  # noqa: S608 - our own names


def agency_stores() -> tuple[AgencyStore, ...]:
    """Every simulated agency's store, sorted by agency id."""
    stores = [
        AgencyStore(
            "civil_registry",
            (
                Table(
                    "persons",
                    (
                        "national_id TEXT NOT NULL",
                        "household_id TEXT",
                        "head_of_household INTEGER NOT NULL",
                        "sex TEXT NOT NULL",
                        "birth_date TEXT NOT NULL",
                        "death_date TEXT",
                        "alive INTEGER NOT NULL",
                        "marital_status TEXT NOT NULL",
                        "province TEXT NOT NULL",
                        "residence TEXT NOT NULL",
                    ),
                    unique=("national_id",),
                    indexed=("household_id",),
                ),
            ),
            _civil_registry,
            _counted("persons"),
        ),
        AgencyStore(
            "tax",
            (_person_table("taxpayers", "annual_income INTEGER", "business_license INTEGER"),),
            _tax,
            _counted("taxpayers"),
        ),
        AgencyStore(
            "social_security",
            (
                _person_table(
                    "insured_persons",
                    "insured INTEGER NOT NULL",
                    "monthly_wage INTEGER",
                    "monthly_pension INTEGER",
                ),
            ),
            _social_security,
            _counted("insured_persons"),
        ),
        AgencyStore(
            "civil_pension_fund",
            (_person_table("pensioners", "monthly_pension INTEGER NOT NULL"),),
            _civil_pension_fund,
            _counted("pensioners"),
        ),
        AgencyStore(
            "health_insurance",
            (_person_table("policies", "insured INTEGER NOT NULL", "coverage_tier TEXT NOT NULL"),),
            _health_insurance,
            _counted("policies"),
        ),
        AgencyStore(
            "special_illness_registry",
            (
                _person_table(
                    "patients", "chronic_illness INTEGER NOT NULL", "illness_category TEXT NOT NULL"
                ),
            ),
            _special_illness_registry,
            _counted("patients"),
        ),
        _aid_store("welfare", "clients", ("disability_severity INTEGER NOT NULL",), _welfare),
        _aid_store(
            "relief_committee",
            "covered_persons",
            ("monthly_aid INTEGER NOT NULL",),
            partial(_supported_with_aid, "relief_committee"),
        ),
        _aid_store("red_crescent", "beneficiaries", (), partial(_supported, "red_crescent")),
        _aid_store(
            "housing_foundation",
            "applicants",
            ("housing_aid_received INTEGER NOT NULL",),
            _housing_foundation,
        ),
        _aid_store("municipality", "clients", (), partial(_supported, "municipality")),
        _aid_store(
            "martyrs_foundation",
            "beneficiaries",
            ("monthly_aid INTEGER NOT NULL",),
            partial(_supported_with_aid, "martyrs_foundation"),
        ),
        AgencyStore(
            "land_registry",
            (
                Table(
                    "deeds",
                    ("owner_national_id TEXT NOT NULL", "kind TEXT NOT NULL", "value INTEGER"),
                    indexed=("owner_national_id",),
                ),
            ),
            partial(_assets, "deeds"),
            _counted("deeds", "owner_national_id"),
        ),
        AgencyStore(
            "vehicle_registry",
            (
                Table(
                    "vehicles",
                    ("owner_national_id TEXT NOT NULL", "kind TEXT NOT NULL", "value INTEGER"),
                    indexed=("owner_national_id",),
                ),
            ),
            partial(_assets, "vehicles"),
            _counted("vehicles", "owner_national_id"),
        ),
        *(
            AgencyStore(
                bank,
                (
                    _person_table(
                        "customers",
                        "deposit_balance INTEGER NOT NULL",
                        "loan_outstanding INTEGER NOT NULL",
                    ),
                ),
                partial(_bank, bank),
                _counted("customers"),
            )
            for bank in BANKS
        ),
        AgencyStore(
            "credit_registry",
            (
                _person_table(
                    "credit_files",
                    "bounced_cheques INTEGER NOT NULL",
                    "total_debt INTEGER NOT NULL",
                ),
            ),
            _credit_registry,
            _counted("credit_files"),
        ),
        AgencyStore(
            "securities_depository",
            (_person_table("holders", "portfolio_value INTEGER NOT NULL"),),
            _securities_depository,
            _counted("holders"),
        ),
        AgencyStore(
            "border_travel",
            (
                _person_table("passports"),
                Table(
                    "trips",
                    ("national_id TEXT NOT NULL", "exit_date TEXT NOT NULL"),
                    indexed=("national_id, exit_date",),
                ),
            ),
            _border_travel,
            _counted("passports"),
        ),
        _meter_store("electricity", "monthly_kwh"),
        _meter_store("gas", "monthly_m3"),
        AgencyStore(
            "employment_service",
            (
                _person_table(
                    "registrations",
                    "registered_unemployed INTEGER NOT NULL",
                    "unemployment_benefit INTEGER NOT NULL",
                ),
            ),
            _employment_service,
            _counted("registrations"),
        ),
        AgencyStore(
            "education",
            (_person_table("students", "enrolled_student INTEGER NOT NULL"),),
            _education,
            _counted("students"),
        ),
        AgencyStore(
            "subsidy_org",
            (
                Table(
                    "households",
                    (
                        "household_id TEXT NOT NULL",
                        "members INTEGER NOT NULL",
                        "income_per_person INTEGER NOT NULL",
                        "appealed INTEGER NOT NULL",
                        "income_decile INTEGER",
                        "cash_subsidy INTEGER",
                    ),
                    unique=("household_id",),
                ),
                _person_table("beneficiaries", "household_id TEXT NOT NULL"),
            ),
            _subsidy_org,
            _counted("beneficiaries"),
            finish_sql=_SUBSIDY_DECILES,
        ),
    ]
    return tuple(sorted(stores, key=lambda store: store.agency_id))


_SUBSIDY_DECILES = (
    # Person-weighted deciles of income per person: a household falls in the decile that
    # holds the midpoint of its members in the ranking, so a household is never split.
    """
    UPDATE households SET income_decile = ranked.decile
    FROM (
        SELECT household_id,
               MIN(10, 1 + (2 * (SUM(members) OVER ranking - members) + members) * 10
                           / (2 * (SELECT SUM(members) FROM households))) AS decile
        FROM households
        WINDOW ranking AS (ORDER BY income_per_person, household_id ROWS UNBOUNDED PRECEDING)
    ) AS ranked
    WHERE households.household_id = ranked.household_id
    """,
    # The three richest deciles lost the cash subsidy; some won it back on appeal.
    "UPDATE households SET cash_subsidy = (income_decile <= 7 OR appealed)",
)


def _civil_registry(households: Sequence[Household]) -> tuple[list[Row], ...]:
    rows: list[Row] = []
    for household in households:
        residence = "rural" if household.rural else "urban"
        province, household_id = household.province, household.household_id
        rows.extend(
            (
                p.national_id,
                household_id,
                int(p.head),
                p.sex,
                p.birth_date.isoformat(),
                None,
                1,
                p.marital_status,
                province,
                residence,
            )
            for p in household.members
        )
        rows.extend(
            (
                p.national_id,
                None,
                0,
                p.sex,
                p.birth_date.isoformat(),
                p.death_date.isoformat() if p.death_date else None,
                0,
                p.marital_status,
                province,
                residence,
            )
            for p in household.deceased
        )
    return (rows,)


def _tax(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (p.national_id, p.annual_taxable_income, int(p.business_income > 0))
            for h in households
            for p in h.members
            if p.monthly_wage or p.business_income
        ],
    )


def _social_security(households: Sequence[Household]) -> tuple[list[Row], ...]:
    rows: list[Row] = []
    for household in households:
        for p in household.members:
            if p.coverage is Coverage.SOCIAL_SECURITY:
                wage = p.monthly_wage if p.activity is Activity.EMPLOYEE else None
                sso_pension = p.pension_fund is PensionFund.SOCIAL_SECURITY
                rows.append((p.national_id, 1, wage, p.monthly_pension if sso_pension else None))
            elif p.social_security_lapsed:
                rows.append((p.national_id, 0, None, None))
    return (rows,)


def _civil_pension_fund(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (p.national_id, p.monthly_pension)
            for h in households
            for p in h.members
            if p.pension_fund is PensionFund.CIVIL
        ],
    )


def _health_insurance(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (p.national_id, int(not p.coverage_lapsed), p.coverage.value)
            for h in households
            for p in h.members
            if p.coverage in (Coverage.BASIC, Coverage.RURAL, Coverage.UNIVERSAL)
        ],
    )


def _special_illness_registry(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (p.national_id, int(not p.illness_cleared), "none" if p.illness_cleared else p.illness)
            for h in households
            for p in h.members
            if p.illness != "none"
        ],
    )


def _aid_store(
    agency_id: str, table: str, extra: tuple[str, ...], rows: RowsFunction
) -> AgencyStore:
    columns = [f"supports_{need} INTEGER NOT NULL" for need in AID_AGENCY_NEEDS[agency_id]]
    return AgencyStore(agency_id, (_person_table(table, *columns, *extra),), rows, _counted(table))


def _support_flags(agency_id: str, household: Household) -> tuple[int, ...]:
    """The household's ``supports_<need>`` flags at this agency (all 0 when not supported)."""
    supported = household.support.get(agency_id, frozenset())
    return tuple(int(need in supported) for need in AID_AGENCY_NEEDS[agency_id])


def _supported(agency_id: str, households: Sequence[Household]) -> tuple[list[Row], ...]:
    """Every member of a supported household is on the agency's case file."""
    return (
        [
            (p.national_id, *_support_flags(agency_id, h))
            for h in households
            if agency_id in h.support
            for p in h.members
        ],
    )


def _supported_with_aid(agency_id: str, households: Sequence[Household]) -> tuple[list[Row], ...]:
    """As :func:`_supported`, plus the monthly cash aid, which is paid to the head alone."""
    rows: list[Row] = []
    for household in households:
        if agency_id in household.support:
            flags = _support_flags(agency_id, household)
            aid = household.monthly_aid.get(agency_id, 0)
            rows.extend((p.national_id, *flags, aid if p.head else 0) for p in household.members)
    return (rows,)


def _welfare(households: Sequence[Household]) -> tuple[list[Row], ...]:
    """Supported households' members, and every person with an assessed disability."""
    rows: list[Row] = []
    for household in households:
        supported = "welfare" in household.support
        flags = _support_flags("welfare", household)
        rows.extend(
            (p.national_id, *flags, p.disability)
            for p in household.members
            if supported or p.disability
        )
    return (rows,)


def _housing_foundation(households: Sequence[Household]) -> tuple[list[Row], ...]:
    """Households it supports now or has ever helped to build or repair a home."""
    rows: list[Row] = []
    for household in households:
        received = household.housing_aid_received
        if received or "housing_foundation" in household.support:
            flags = _support_flags("housing_foundation", household)
            rows.extend((p.national_id, *flags, int(received)) for p in household.members)
    return (rows,)


def _assets(kind: str, households: Sequence[Household]) -> tuple[list[Row], ...]:
    rows: list[Row] = []
    for household in households:
        for p in household.members:
            assets = p.deeds if kind == "deeds" else p.vehicles
            rows.extend((p.national_id, asset.kind, asset.value) for asset in assets)
    return (rows,)


def _bank(bank: str, households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (p.national_id, account.deposit, account.loan)
            for h in households
            for p in h.members
            for account in p.accounts
            if account.bank == bank
        ],
    )


def _credit_registry(households: Sequence[Household]) -> tuple[list[Row], ...]:
    rows: list[Row] = []
    for household in households:
        for p in household.members:
            debt = p.total_loans
            if debt or p.cheque_book:
                rows.append((p.national_id, p.bounced_cheques, debt))
    return (rows,)


def _securities_depository(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return ([(p.national_id, p.portfolio) for h in households for p in h.members if p.portfolio],)


def _border_travel(households: Sequence[Household]) -> tuple[list[Row], ...]:
    passports: list[Row] = []
    trips: list[Row] = []
    for household in households:
        for p in household.members:
            if p.has_passport:
                passports.append((p.national_id,))
                trips.extend((p.national_id, day.isoformat()) for day in p.trips)
    return passports, trips


def _meter_store(agency_id: str, column: str) -> AgencyStore:
    return AgencyStore(
        agency_id,
        (
            Table(
                "meters",
                ("meter_id TEXT NOT NULL", f"{column} INTEGER NOT NULL"),
                unique=("meter_id",),
            ),
            _person_table("subscribers", "meter_id TEXT NOT NULL"),
        ),
        partial(_meter_rows, agency_id),
        _counted("subscribers"),
    )


def _meter_rows(agency_id: str, households: Sequence[Household]) -> tuple[list[Row], ...]:
    """One meter per dwelling; every member is a registered occupant of it."""
    meters: list[Row] = []
    subscribers: list[Row] = []
    prefix = "EL" if agency_id == "electricity" else "GS"
    for household in households:
        reading = household.electricity_kwh if agency_id == "electricity" else household.gas_m3
        if reading is None:
            continue
        meter_id = f"{prefix}{household.household_id[2:]}"
        meters.append((meter_id, reading))
        subscribers.extend((p.national_id, meter_id) for p in household.members)
    return meters, subscribers


def _employment_service(households: Sequence[Household]) -> tuple[list[Row], ...]:
    rows: list[Row] = []
    for household in households:
        for p in household.members:
            if p.registered_unemployed:
                rows.append((p.national_id, 1, p.unemployment_benefit))
            elif p.formerly_unemployed:
                rows.append((p.national_id, 0, 0))
    return (rows,)


def _education(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (p.national_id, int(p.enrolled))
            for h in households
            for p in h.members
            if p.enrolled is not None
        ],
    )


def _subsidy_org(households: Sequence[Household]) -> tuple[list[Row], ...]:
    return (
        [
            (h.household_id, h.size, h.income_per_person, int(h.subsidy_appeal), None, None)
            for h in households
        ],
        [(p.national_id, h.household_id) for h in households for p in h.members],
    )
