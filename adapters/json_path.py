"""Field paths into JSON documents: where an HTTP/JSON adapter finds a value in a response.

The syntax, for agency IT writing a configuration::

    household.size          key ``size`` of the object under key ``household``
    incomes.0.amount        ``amount`` of the first element of the list ``incomes``
    programmes[].name       ``name`` of every element of ``programmes``: a list of texts
    "a.b"                   not supported: keys are ``[A-Za-z0-9_-]+``, one per segment

A path is segments separated by ``.``: a key, or a decimal index into a list. The last
segment may end in ``[]`` only in the form ``list[].key…``: each element of the list is
followed down the rest of the path, which makes a ``string_list``. A missing key, an index
past the end or a JSON ``null`` anywhere on the way is *no value* — never an error; a key
asked of something that is not an object (or an index of something that is not a list) is
a :class:`PathTypeError`, because then the service answers in a shape the configuration
does not describe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+(?:\[\])?")
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")


class PathSyntaxError(ValueError):
    """A path does not follow the syntax in this module's docstring."""


class PathTypeError(ValueError):
    """A path goes through a value of another kind than it expects (a key of a list)."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; :meth:`find` follows it in a decoded JSON document."""

    text: str
    steps: tuple[str | int, ...]
    spread_at: int | None
    """Index of the step whose list is spread (``list[]``), or None."""

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        """Parse ``text``.

        Raises:
            PathSyntaxError: an empty path or segment, a character outside
                ``[A-Za-z0-9_-]``, or more than one ``[]``.
        """
        if not text:
            raise PathSyntaxError("an empty path")
        steps: list[str | int] = []
        spread_at: int | None = None
        for segment in text.split("."):
            if not _SEGMENT.fullmatch(segment):
                raise PathSyntaxError(
                    f"{text!r}: segment {segment!r} is not a key of [A-Za-z0-9_-], "
                    "an index, or key[]"
                )
            name = segment.removesuffix("[]")
            if name != segment:
                if spread_at is not None:
                    raise PathSyntaxError(f"{text!r}: only one [] is allowed")
                spread_at = len(steps)
            steps.append(int(name) if _INDEX.fullmatch(name) else name)
        return cls(text, tuple(steps), spread_at)

    @property
    def spreads(self) -> bool:
        """Whether the path collects one value per element of a list (``list[]``)."""
        return self.spread_at is not None

    def find(self, document: object) -> object:
        """The value at this path in ``document``; None when there is none. A spreading
        path gives a list (elements with no value left out), or None when the list is.

        Raises:
            PathTypeError: a step meets a value of another kind than it needs.
        """
        if self.spread_at is None:
            return _follow(document, self.steps, self.text)
        head = _follow(document, self.steps[: self.spread_at + 1], self.text)
        if head is None:
            return None
        if not isinstance(head, list):
            raise PathTypeError(f"{self.text}: [] of a {_kind(head)}, not a list")
        rest = self.steps[self.spread_at + 1 :]
        found = (_follow(item, rest, self.text) for item in head)
        return [item for item in found if item is not None]


def _follow(value: object, steps: tuple[str | int, ...], text: str) -> object:
    for step in steps:
        if value is None:
            return None
        if isinstance(step, int) and isinstance(value, list):
            value = value[step] if step < len(value) else None
        elif isinstance(value, dict):
            value = value.get(str(step))
        else:
            raise PathTypeError(f"{text}: key {step!r} of a {_kind(value)}")
    return value


def _kind(value: object) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean"}
    return kinds.get(type(value), "number")
