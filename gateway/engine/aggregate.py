"""Folding a fact's cells (unit members x attributes) into the one value rules see."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

from adapters.sdk import Value
from gateway.programs.model import Aggregate

FactValue = bool | int | str | list[str]
"""A fact's value as CEL sees it (``agencies_true`` yields a sorted list of agency ids)."""

Column = tuple[str, Sequence[Value | None]]
"""One agency's cells for one attribute or predicate, one per member: ``(agency_id, cells)``."""


_FALSE_NEUTRAL = frozenset(
    {Aggregate.ANY, Aggregate.NONE, Aggregate.COUNT_TRUE, Aggregate.AGENCIES_TRUE}
)

Folder = Callable[[Sequence[Column]], FactValue]
"""A function folding a fact's columns into its value."""


def fold(aggregate: Aggregate, columns: Sequence[Column]) -> FactValue:
    """Fold ``columns`` with ``aggregate`` (see :func:`folder`)."""
    return _FOLDS[aggregate](columns)


def absent_is_neutral(aggregate: Aggregate, absent: object) -> bool:
    """Whether an absent cell may simply be skipped instead of replaced by ``absent``.

    True when ``absent`` is the aggregate's neutral element (0 for ``sum``, false for
    ``any``/``none``/``count_true``/``agencies_true``, true for ``all``): the folds here then
    treat None exactly as that value, and the evaluator saves a copy of the cells.
    """
    if aggregate is Aggregate.SUM:
        return type(absent) is int and absent == 0
    if aggregate is Aggregate.ALL:
        return absent is True
    return aggregate in _FALSE_NEUTRAL and absent is False


def folder(aggregate: Aggregate) -> Folder:
    """The function folding columns with ``aggregate`` (looked up once per plan).

    Cells are None only where absence is meaningful: ``count`` counts the cells that are
    not None, and where :func:`absent_is_neutral` holds a None reads as the neutral value.
    Otherwise absent cells must have been replaced by the fact's ``absent`` value already
    (with no such value the evaluator makes the rule UNKNOWN rather than fold a gap).
    ``min`` and ``max`` need at least one cell. Types are not checked here: the catalogue
    checked each attribute's type against the aggregate, and the adapter SDK every value.
    """
    return _FOLDS[aggregate]


def _cells(columns: Sequence[Column]) -> list[Value | None]:
    return [v for _, cells in columns for v in cells]


def _ints(columns: Sequence[Column]) -> list[int]:
    return cast("list[int]", _cells(columns))


def _sum(columns: Sequence[Column]) -> int:
    # filter(None, ...) drops absent cells (and zeros, which add nothing).
    return sum(sum(filter(None, cast("Sequence[int | None]", cells))) for _, cells in columns)


def _count(columns: Sequence[Column]) -> int:
    return sum(len(cells) - list(cells).count(None) for _, cells in columns)


def _agencies_true(columns: Sequence[Column]) -> list[str]:
    return sorted({agency for agency, cells in columns if True in cells})


_FOLDS: Mapping[Aggregate, Folder] = {
    Aggregate.SUM: _sum,
    Aggregate.COUNT: _count,
    Aggregate.MIN: lambda columns: min(_ints(columns)),
    Aggregate.MAX: lambda columns: max(_ints(columns)),
    Aggregate.ANY: lambda columns: True in _cells(columns),
    Aggregate.ALL: lambda columns: False not in _cells(columns),
    Aggregate.NONE: lambda columns: True not in _cells(columns),
    Aggregate.COUNT_TRUE: lambda columns: _cells(columns).count(True),
    Aggregate.AGENCIES_TRUE: _agencies_true,
}
