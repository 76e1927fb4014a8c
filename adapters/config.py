"""Build an agency's adapter from its YAML file.

A file with ``url:`` builds a :class:`~adapters.sql.SqlAdapter`, one with ``csv:`` a
:class:`~adapters.csv_source.CsvAdapter`::

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
        column: annual_income            # optional, defaults to the attribute name
        type: int64                      # bool | int64 | string | string_list
        unit: IRR                        # optional
        sensitivity: financial           # public | personal | financial | special
        description: Declared annual income  # optional
        predicates: [lt, le, gt, ge]     # optional; bool: eq, ne only; string_list: none
    limits: {max_subjects: 5000}         # optional AdapterLimits overrides

``{name}`` placeholders in ``url`` and ``csv`` are filled from ``variables``; relative file
paths (a CSV file, a SQLite database) are resolved against the YAML file's folder, so nothing
depends on the working directory. Unknown keys are errors, so a typo fails at start-up
instead of being ignored.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Mapping, Set
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import sqlalchemy as sa
import yaml

from adapters.csv_source import CsvAdapter
from adapters.errors import AdapterConfigError
from adapters.sdk import (
    Adapter,
    AdapterLimits,
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    PredicateOperator,
    Sensitivity,
)
from adapters.sql import SqlAdapter, SqlColumn
from adapters.strict_yaml import load_strict

NAME = re.compile(r"[a-z_][a-z0-9_]*")
"""What agency ids, attribute names and query names look like."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})
_E = TypeVar("_E", bound=enum.Enum)

_COMMON_KEYS = frozenset({"agency_id", "name", "name_fa", "attributes", "limits"})
_SQL_KEYS = _COMMON_KEYS | {"url", "subjects_sql", "queries"}
_CSV_KEYS = _COMMON_KEYS | {"csv", "list_separator"}
_ATTRIBUTE_KEYS = frozenset(
    {"query", "column", "type", "unit", "sensitivity", "description", "predicates"}
)
# Operators an attribute type may declare: lists are not compared, bools only for equality.
_OPERATORS_ALLOWED: Mapping[AttributeType, frozenset[PredicateOperator]] = {
    AttributeType.INT64: frozenset(PredicateOperator),
    AttributeType.STRING: frozenset(PredicateOperator),
    AttributeType.BOOL: frozenset({PredicateOperator.EQ, PredicateOperator.NE}),
    AttributeType.STRING_LIST: frozenset(),
}


def load_adapter_config(
    path: str | os.PathLike[str], *, variables: Mapping[str, str] = _NO_VARIABLES
) -> Adapter:
    """Read an agency's YAML file and build its adapter.

    Args:
        path: the YAML file.
        variables: values for ``{name}`` placeholders in ``url`` and ``csv``.

    Raises:
        AdapterConfigError: the file cannot be read or parsed, or a key is missing, unknown
            or invalid; the message names the file and the key. A CSV file that does not
            load is reported the same way.
    """
    file = Path(path)
    try:
        data = load_strict(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AdapterConfigError(f"{file}: cannot read: {exc}") from exc
    try:
        return _build(_Node(data, ""), file.absolute().parent, variables)
    except AdapterConfigError as exc:
        raise AdapterConfigError(f"{file}: {exc}") from exc


def _build(root: _Node, base: Path, variables: Mapping[str, str]) -> Adapter:
    is_sql = "url" in root.mapping()
    root.only(_SQL_KEYS if is_sql else _CSV_KEYS)
    description = AgencyDescription(
        agency_id=root.name("agency_id"),
        name=root.text("name"),
        name_fa=root.text("name_fa", ""),
        attributes=tuple(
            _attribute(name, node, is_sql) for name, node in root.child("attributes").items()
        ),
    )
    if not description.attributes:
        raise AdapterConfigError("attributes: the agency serves no attribute")
    limits = _limits(root.child("limits")) if "limits" in root.mapping() else None
    if is_sql:
        columns = {
            name: SqlColumn(query=node.name("query"), column=node.text("column", name))
            for name, node in root.child("attributes").items()
        }
        return SqlAdapter(
            description,
            url=_database_url(root.text("url"), base, variables),
            subjects_sql=root.text("subjects_sql"),
            queries={name: node.string() for name, node in root.child("queries").items()},
            columns=columns,
            limits=limits,
        )
    if "csv" not in root.mapping():
        raise AdapterConfigError("url or csv: missing (a database URL or a CSV file)")
    csv_path = Path(_substitute(root.text("csv"), variables, "csv"))
    return CsvAdapter(
        description,
        csv_path if csv_path.is_absolute() else base / csv_path,
        columns={
            name: node.text("column", name) for name, node in root.child("attributes").items()
        },
        list_separator=root.text("list_separator", ";"),
        limits=limits,
    )


def _attribute(name: str, node: _Node, is_sql: bool) -> AttributeSpec:
    if not NAME.fullmatch(name):
        raise AdapterConfigError(f"attributes.{name}: name does not match {NAME.pattern}")
    node.only(_ATTRIBUTE_KEYS if is_sql else _ATTRIBUTE_KEYS - {"query"})
    kind = node.child("type").choice(AttributeType)
    operators = frozenset(
        op.choice(PredicateOperator) for op in node.child("predicates", []).elements()
    )
    refused = operators - _OPERATORS_ALLOWED[kind]
    if refused:
        raise AdapterConfigError(
            f"{node.key}.predicates: {sorted(op.value for op in refused)} "
            f"cannot be evaluated on a {kind.value}"
        )
    return AttributeSpec(
        name=name,
        type=kind,
        sensitivity=node.child("sensitivity").choice(Sensitivity),
        unit=node.text("unit", ""),
        description=node.text("description", ""),
        predicate_operators=operators,
    )


def _limits(node: _Node) -> AdapterLimits:
    fields = {f.name for f in dataclasses.fields(AdapterLimits)}
    node.only(fields)
    overrides: dict[str, int] = {}
    for key, value in node.mapping().items():
        if type(value) is not int or value < 1:
            raise AdapterConfigError(f"{node.key}.{key}: {value!r} is not a positive integer")
        overrides[key] = value
    return dataclasses.replace(AdapterLimits(), **overrides)


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


class _Node:
    """A value in the YAML tree and its dotted key, so every error names where it is."""

    def __init__(self, value: Any, key: str) -> None:
        self.value = value
        self.key = key

    def _at(self, key: str) -> str:
        return f"{self.key}.{key}" if self.key else key

    def mapping(self) -> Mapping[str, Any]:
        if not isinstance(self.value, Mapping) or not all(isinstance(k, str) for k in self.value):
            raise AdapterConfigError(f"{self.key or 'the file'}: expected a mapping")
        return self.value

    def only(self, allowed: Set[str]) -> None:
        unknown = sorted(set(self.mapping()) - allowed)
        if unknown:
            raise AdapterConfigError(f"{self._at(unknown[0])}: unknown key")

    def child(self, key: str, default: Any = None) -> _Node:
        mapping = self.mapping()
        if key not in mapping and default is None:
            raise AdapterConfigError(f"{self._at(key)}: missing")
        return _Node(mapping.get(key, default), self._at(key))

    def items(self) -> list[tuple[str, _Node]]:
        return [(k, _Node(v, self._at(k))) for k, v in self.mapping().items()]

    def elements(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise AdapterConfigError(f"{self.key}: expected a list")
        return [_Node(v, f"{self.key}[{i}]") for i, v in enumerate(self.value)]

    def string(self, *, may_be_empty: bool = False) -> str:
        if not isinstance(self.value, str) or not (self.value or may_be_empty):
            raise AdapterConfigError(f"{self.key}: expected a non-empty string")
        return self.value

    def text(self, key: str, default: str | None = None) -> str:
        """The string at ``key``; required (and non-empty) unless a default is given."""
        if default is not None and key not in self.mapping():
            return default
        return self.child(key).string(may_be_empty=default is not None)

    def name(self, key: str) -> str:
        text = self.text(key)
        if not NAME.fullmatch(text):
            raise AdapterConfigError(f"{self._at(key)}: {text!r} does not match {NAME.pattern}")
        return text

    def choice(self, kind: type[_E]) -> _E:
        try:
            return kind(self.value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in kind)
            raise AdapterConfigError(
                f"{self.key}: {self.value!r} is not one of {allowed}"
            ) from None
