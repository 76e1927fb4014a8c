"""The CSV adapter: an agency's export file, loaded into memory at start-up.

The file has a header row, a ``national_id`` column and one column per attribute. Cells are
parsed by the attribute's type; an empty cell means the agency holds no value. Anything wrong
with the file (missing column, repeated national ID, a cell that does not parse) fails the
start-up with :class:`AdapterConfigError`, never a query.

Cell formats: ``bool`` is ``true``/``false``/``1``/``0`` (any case); ``int64`` is a decimal
integer; ``string`` is taken as is; ``string_list`` is split on a separator (``;`` by
default) and sorted.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from adapters.errors import AdapterConfigError
from adapters.sdk import (
    INT64_MAX,
    INT64_MIN,
    Adapter,
    AdapterLimits,
    AgencyDescription,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    Value,
)

SUBJECT_COLUMN = "national_id"
"""The header of the column holding each row's national ID."""

_BOOLS: Mapping[str, bool] = {"true": True, "false": False, "1": True, "0": False}
_INTEGER = re.compile(r"[+-]?[0-9]+")


class CsvAdapter(Adapter):
    """An agency served from one CSV export, held in memory."""

    def __init__(
        self,
        description: AgencyDescription,
        path: str | Path,
        *,
        columns: Mapping[str, str] | None = None,
        list_separator: str = ";",
        limits: AdapterLimits | None = None,
    ) -> None:
        """Load and parse the whole file.

        Args:
            description: the agency and its attributes.
            path: the CSV file (UTF-8, a byte-order mark is allowed).
            columns: the header of an attribute's column, where it is not the attribute's name.
            list_separator: what separates the elements of a ``string_list`` cell.
            limits: overrides of the default :class:`AdapterLimits`.

        Raises:
            AdapterConfigError: the file cannot be read, lacks a column, repeats a national
                ID or holds a cell that does not parse; the message names the line.
        """
        self._description = description
        if limits is not None:
            self.limits = limits
        if not list_separator:
            raise AdapterConfigError("list_separator: must not be empty")
        headers = {
            spec.name: (columns or {}).get(spec.name, spec.name) for spec in description.attributes
        }
        parsers = {spec.name: _parser(spec.type, list_separator) for spec in description.attributes}
        self._values: dict[str, dict[str, Value]] = {name: {} for name in headers}
        self._known: set[str] = set()
        try:
            with Path(path).open(encoding="utf-8-sig", newline="") as file:
                reader = csv.DictReader(file)
                missing = [
                    h
                    for h in (SUBJECT_COLUMN, *headers.values())
                    if h not in (reader.fieldnames or ())
                ]
                if missing:
                    raise AdapterConfigError(f"{path}: no column {missing}")
                for row in reader:
                    self._load_row(row, headers, parsers, f"{path}:{reader.line_num}")
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise AdapterConfigError(f"{path}: {exc}") from exc

    def _load_row(
        self,
        row: Mapping[str | None, str | None],
        headers: Mapping[str, str],
        parsers: Mapping[str, Callable[[str], Value]],
        where: str,
    ) -> None:
        if None in row:  # DictReader's key for cells beyond the header
            raise AdapterConfigError(f"{where}: more cells than headers")
        subject = row[SUBJECT_COLUMN]
        if not subject:
            raise AdapterConfigError(f"{where}: empty {SUBJECT_COLUMN}")
        if subject in self._known:
            raise AdapterConfigError(f"{where}: {SUBJECT_COLUMN} repeats an earlier row")
        self._known.add(subject)
        for name, header in headers.items():
            cell = row[header]
            if cell is None:
                raise AdapterConfigError(f"{where}: too few cells")
            if cell == "":
                continue
            try:
                self._values[name][subject] = parsers[name](cell)
            except ValueError as exc:
                raise AdapterConfigError(f"{where}: column {header!r}: {exc}") from exc

    def describe(self) -> AgencyDescription:
        """Return the agency's description."""
        return self._description

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        del pushed_down  # none: the SDK evaluates every predicate on the loaded values
        values = {name: _lookup(self._values[name], query.subjects) for name in query.attributes}
        return FetchResult(found=[s in self._known for s in query.subjects], values=values)


def _lookup(column: Mapping[str, Value], subjects: Sequence[str]) -> list[Value | None]:
    get = column.get
    return [get(s) for s in subjects]


def _parser(kind: AttributeType, separator: str) -> Callable[[str], Value]:
    if kind is AttributeType.BOOL:
        return _parse_bool
    if kind is AttributeType.INT64:
        return _parse_int
    if kind is AttributeType.STRING:
        return str
    return lambda cell: tuple(sorted(item for item in cell.split(separator) if item))


def _parse_bool(cell: str) -> bool:
    try:
        return _BOOLS[cell.strip().lower()]
    except KeyError:
        raise ValueError(f"{cell!r} is not true, false, 1 or 0") from None


def _parse_int(cell: str) -> int:
    text = cell.strip()
    if not _INTEGER.fullmatch(text) or not INT64_MIN <= (value := int(text)) <= INT64_MAX:
        raise ValueError(f"{cell!r} is not a 64-bit integer")
    return value
