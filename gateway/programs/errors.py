"""The programs package's exceptions: one root, one line each.

Loader errors carry the file and the key path in their message (``file.yaml: rules[2].expr:
...``) so an operator can fix the defect without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence


class ProgramError(Exception):
    """Root of every error about program files, their contents and the program registry."""


class ProgramSyntaxError(ProgramError):
    """A program file is unreadable, not UTF-8, not YAML, or not a mapping at the top."""


class UnknownKeyError(ProgramError):
    """A program file holds a key the format does not define (often a typo)."""


class MissingKeyError(ProgramError):
    """A program file lacks a required key."""


class InvalidValueError(ProgramError):
    """A value in a program file has the wrong type, shape or range."""


class InvalidDateError(InvalidValueError):
    """A date is malformed, or effective dates are not strictly increasing."""


class ExpressionError(ProgramError):
    """A rule's CEL expression does not compile or uses a construct programs may not use."""


class UndeclaredNameError(ProgramError):
    """A rule or reason text names something that is neither a declared fact nor a built-in."""


class UndeclaredParameterError(ProgramError):
    """A rule or predicate references a parameter the program does not declare."""


class ParameterNotInForceError(ProgramError):
    """A parameter has no value in force on the date asked."""


class DuplicateIdError(ProgramError):
    """Two programs, rules, test cases or YAML keys share a name where names must be unique."""


class CaseDataError(ProgramError):
    """A program test case holds data the catalogue does not serve or cannot hold."""


class UnknownProgramError(ProgramError):
    """No program with that id is registered; ``program_id`` names it, ``known`` lists the
    ids that are (the message names them, so a typo is one glance away from its fix)."""

    def __init__(self, program_id: str, known: Sequence[str] = ()) -> None:
        served = f"; the programs served are {', '.join(known)}" if known else ""
        super().__init__(f"unknown program {program_id!r}{served}")
        self.program_id = program_id
        self.known = tuple(known)
