"""The eligibility engine's exceptions: one root, one line each."""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error the eligibility engine raises."""


class CatalogueError(EngineError):
    """The agencies' descriptions cannot form a catalogue (e.g. two agencies share an id)."""


class UnservedAttributeError(CatalogueError):
    """A program names an attribute (or agency) that no connected agency serves."""


class UnsupportedOperationError(CatalogueError):
    """A program applies an operator, operand or aggregate to a type that cannot take it."""


class InconsistentFactsError(EngineError):
    """The facts handed to the evaluator do not match its plan (a bug in the caller)."""
