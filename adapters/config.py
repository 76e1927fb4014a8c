"""Build an agency's adapter from its YAML file.

A file with ``url:`` builds a :class:`~adapters.sql.SqlAdapter`, one with ``csv:`` a
:class:`~adapters.csv_source.CsvAdapter`, one with ``http:`` an
:class:`~adapters.http_json.HttpJsonAdapter` (its section: :mod:`adapters.http_config`)::

    agency_id: tax                       # [a-z_][a-z0-9_]*
    name: Iranian National Tax Administration
    name_fa: سازمان امور مالیاتی کشور      # optional
    url: "sqlite:///{data_dir}/tax.sqlite"  # any SQLAlchemy URL ...
    subjects_sql: "SELECT national_id AS subject FROM taxpayers WHERE national_id IN :subjects"
    queries:                             # ... with named queries, each selecting `subject`
      income: "SELECT national_id AS subject, annual_income FROM taxpayers
               WHERE national_id IN :subjects"
    # csv: "{data_dir}/tax.csv"          # ... or a CSV export instead of url/queries
    # list_separator: ";"                # CSV only, optional: splits string_list cells
    attributes:
      annual_income:
        query: income                    # SQL only
        column: annual_income            # SQL and CSV, optional, defaults to the name
        # field: income.annual           # HTTP only: its path in a record (adapters/json_path)
        type: int64                      # bool | int64 | string | string_list
        unit: IRR                        # optional
        sensitivity: financial           # public | personal | financial | special
        description: Declared annual income  # optional
        predicates: [lt, le, gt, ge]     # optional; bool: eq, ne only; string_list: none
    limits: {max_subjects: 5000}         # optional AdapterLimits overrides

``{name}`` placeholders in ``url``, ``csv``, ``http.url`` and ``http.check_url`` are filled
from ``variables``; relative file
paths (a CSV file, a SQLite database) are resolved against the YAML file's folder, so nothing
depends on the working directory. Unknown keys are errors, so a typo fails at start-up
instead of being ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated

import sqlalchemy as sa
from pydantic import Field

from adapters.csv_source import CsvAdapter
from adapters.errors import AdapterConfigError
from adapters.http_config import HttpSection, parse_path
from adapters.http_json import HttpJsonAdapter
from adapters.sdk import (
    OPERATORS_ALLOWED,
    Adapter,
    AdapterLimits,
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    PredicateOperator,
    Sensitivity,
)
from adapters.sql import SqlAdapter, SqlColumn
from adapters.typed_config import ConfigModel, load_yaml, located, read_text, validate

NAME = re.compile(r"[a-z_][a-z0-9_]*")
"""What agency ids, attribute names and query names look like."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})

_Name = Annotated[str, Field(pattern=rf"^{NAME.pattern}$")]
_Text = Annotated[str, Field(min_length=1)]
_Limit = Annotated[int, Field(ge=1, le=10_000_000)]


class _LimitsFile(ConfigModel):
    max_subjects: _Limit = AdapterLimits.max_subjects
    """Most subjects one Fetch may ask about."""
    max_attributes: _Limit = AdapterLimits.max_attributes
    """Most attributes one Fetch may ask for."""
    max_predicates: _Limit = AdapterLimits.max_predicates
    """Most predicates one Fetch may ask to evaluate."""


class _AttributeFile(ConfigModel):
    query: _Name | None = None
    """SQL only: the named query that selects it."""
    column: _Text | None = None
    """SQL and CSV: the column holding it; default: the attribute's name."""
    field: _Text | None = None
    """HTTP only: the path of its value in a record; default: the attribute's name."""
    type: AttributeType
    """``bool``, ``int64``, ``string`` or ``string_list``."""
    unit: str = ""
    """Its unit (``IRR``…)."""
    sensitivity: Sensitivity
    """``public``, ``personal``, ``financial`` or ``special``."""
    description: str = ""
    """What it is."""
    predicates: tuple[PredicateOperator, ...] = ()
    """Comparisons the agency evaluates itself (bool: eq, ne only; string_list: none)."""


class _AdapterFile(ConfigModel):
    agency_id: _Name
    """The agency's id."""
    name: _Text
    """The agency's name."""
    name_fa: str = ""
    """Its Persian name."""
    attributes: Annotated[dict[_Name, _AttributeFile], Field(min_length=1)]
    """Attribute name to its description; at least one."""
    limits: _LimitsFile = _LimitsFile()
    """Bounds on every query."""


class SqlAdapterFile(_AdapterFile):
    """An agency served from a database (a file with ``url:``)."""

    url: _Text
    """A SQLAlchemy URL; ``{name}`` placeholders filled from the variables."""
    subjects_sql: _Text
    """Selects the subjects the agency holds (``subject``), given ``:subjects``."""
    queries: Annotated[dict[_Name, _Text], Field(min_length=1)]
    """Named queries, each selecting ``subject`` and attribute columns."""


class CsvAdapterFile(_AdapterFile):
    """An agency served from a CSV export (a file with ``csv:``)."""

    csv: _Text
    """The CSV file; relative to the YAML file's folder; ``{name}`` placeholders allowed."""
    list_separator: _Text = ";"
    """Splits ``string_list`` cells."""


class HttpAdapterFile(_AdapterFile):
    """An agency served from its HTTP/JSON service (a file with ``http:``)."""

    http: HttpSection
    """How to ask the service."""


def load_adapter_config(
    path: str | os.PathLike[str],
    *,
    variables: Mapping[str, str] = _NO_VARIABLES,
    environ: Mapping[str, str] = os.environ,
) -> Adapter:
    """Read an agency's YAML file and build its adapter.

    Args:
        path: the YAML file.
        variables: values for ``{name}`` placeholders in ``url``, ``csv`` and ``http``.
        environ: where an HTTP service's secrets are read from.

    Raises:
        AdapterConfigError: the file cannot be read or parsed, or a key is missing, unknown
            or invalid; the message names the file and the key. A CSV file that does not
            load is reported the same way.
    """
    file = Path(path)
    parsed = _parsed(file)
    try:
        return _build(parsed, file.absolute().parent, variables, environ)
    except AdapterConfigError as exc:
        raise AdapterConfigError(f"{file}: {exc}") from exc


def describe_adapter_config(path: str | os.PathLike[str]) -> AgencyDescription:
    """The agency an adapter file describes, without building its adapter: no placeholder,
    secret, database, export or service is needed (``sakha programs test --agencies``).

    Raises:
        AdapterConfigError: as :func:`load_adapter_config`, for the file's keys.
    """
    file = Path(path)
    try:
        return _description(_parsed(file))
    except AdapterConfigError as exc:
        raise AdapterConfigError(f"{file}: {exc}") from exc


def _parsed(file: Path) -> _AdapterFile:
    source = str(file)
    text = read_text(file, error=AdapterConfigError)
    data = load_yaml(text, source=source, error=AdapterConfigError)
    kinds = [key for key in _FILE_KINDS if isinstance(data, dict) and key in data]
    if len(kinds) != 1 and isinstance(data, dict):
        problem = "missing" if not kinds else f"give one, not {' and '.join(kinds)}"
        raise AdapterConfigError(
            located(source, "url, csv or http", f"{problem} (a database, a CSV file or a service)")
        )
    model = _FILE_KINDS[kinds[0]] if kinds else SqlAdapterFile
    return validate(data, model, source=source, error=AdapterConfigError)


_FILE_KINDS: Mapping[str, type[_AdapterFile]] = {
    "url": SqlAdapterFile,
    "csv": CsvAdapterFile,
    "http": HttpAdapterFile,
}


def _build(
    parsed: _AdapterFile, base: Path, variables: Mapping[str, str], environ: Mapping[str, str]
) -> Adapter:
    description = _description(parsed)
    limits = AdapterLimits(**parsed.limits.model_dump())
    columns = {name: spec.column or name for name, spec in parsed.attributes.items()}
    if isinstance(parsed, HttpAdapterFile):
        section = parsed.http
        check_url = section.check_url
        source = section.source(
            url=_substitute(section.url, variables, "http.url"),
            check_url=None
            if check_url is None
            else _substitute(check_url, variables, "http.check_url"),
            base=base,
            environ=environ,
        )
        fields = {
            name: parse_path(spec.field or name, f"attributes.{name}.field")
            for name, spec in parsed.attributes.items()
        }
        return HttpJsonAdapter(description, source, fields, limits=limits)
    if isinstance(parsed, SqlAdapterFile):
        return SqlAdapter(
            description,
            url=_database_url(parsed.url, base, variables),
            subjects_sql=parsed.subjects_sql,
            queries=dict(parsed.queries),
            columns={
                name: SqlColumn(_query(name, spec), columns[name])
                for name, spec in parsed.attributes.items()
            },
            limits=limits,
        )
    assert isinstance(parsed, CsvAdapterFile)  # noqa: S101 - the three file kinds
    csv_path = Path(_substitute(parsed.csv, variables, "csv"))
    return CsvAdapter(
        description,
        csv_path if csv_path.is_absolute() else base / csv_path,
        columns=columns,
        list_separator=parsed.list_separator,
        limits=limits,
    )


def _description(parsed: _AdapterFile) -> AgencyDescription:
    _only_keys(parsed)
    return AgencyDescription(
        agency_id=parsed.agency_id,
        name=parsed.name,
        name_fa=parsed.name_fa,
        attributes=tuple(_attribute(name, spec) for name, spec in parsed.attributes.items()),
    )


def _only_keys(parsed: _AdapterFile) -> None:
    """Refuse an attribute key that belongs to another kind of file."""
    kind = next(k for k, model in _FILE_KINDS.items() if isinstance(parsed, model))
    for name, spec in parsed.attributes.items():
        if kind != "url" and spec.query is not None:
            raise AdapterConfigError(f"attributes.{name}.query: unknown key (SQL only)")
        if kind != "http" and spec.field is not None:
            raise AdapterConfigError(f"attributes.{name}.field: unknown key (HTTP only)")
        if kind == "http" and spec.column is not None:
            raise AdapterConfigError(
                f"attributes.{name}.column: unknown key (SQL and CSV; HTTP uses field)"
            )


def _query(name: str, spec: _AttributeFile) -> str:
    if spec.query is None:
        raise AdapterConfigError(f"attributes.{name}.query: missing")
    return spec.query


def _attribute(name: str, spec: _AttributeFile) -> AttributeSpec:
    operators = frozenset(spec.predicates)
    refused = operators - OPERATORS_ALLOWED[spec.type]
    if refused:
        raise AdapterConfigError(
            f"attributes.{name}.predicates: {sorted(op.value for op in refused)} "
            f"cannot be evaluated on a {spec.type.value}"
        )
    return AttributeSpec(
        name=name,
        type=spec.type,
        sensitivity=spec.sensitivity,
        unit=spec.unit,
        description=spec.description,
        predicate_operators=operators,
    )


def _substitute(text: str, variables: Mapping[str, str], key: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise AdapterConfigError(f"{key}: no value for placeholder {{{name}}}")
        return variables[name]

    return _PLACEHOLDER.sub(value, text)


def _database_url(text: str, base: Path, variables: Mapping[str, str]) -> sa.URL:
    try:
        url = sa.make_url(_substitute(text, variables, "url"))
    except sa.exc.ArgumentError as exc:
        raise AdapterConfigError(f"url: {exc}") from exc
    database = url.database
    if (
        url.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).is_absolute()
    ):
        return url.set(database=str(base / database))
    return url
