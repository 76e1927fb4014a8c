"""YAML configuration onto typed, frozen models: one helper for every Sakha file.

Every configuration file (hub, client registry, programs, adapters, client profiles) is read
by :func:`load_yaml` (the strict YAML loader: a repeated key is an error) and checked by
:func:`validate` against a pydantic model in strict mode: a quoted ``"false"`` is not a
boolean, ``"3000"`` is not a number, an unknown key or a missing one is an error. Every
error reads ``<file>: <key path>: <what was expected>``, the key path spelled as in
``organisations[0].rate_limit.burst``; :func:`located` writes the same shape for the
semantic checks a model cannot express (a CEL expression that does not compile, a kid used
twice).

The YAML is validated in pydantic's JSON mode, where a date, a path or an enum value is
text and a tuple is a list, so strictness is about what the file says, not Python types.
This module lives in ``adapters/`` because the adapter SDK must not import ``gateway/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, ValidationInfo

from adapters.strict_yaml import load_strict

STRICT = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True)
"""The pydantic configuration of every configuration model: strict types, no unknown keys,
field docstrings as descriptions (pydantic dataclasses add ``frozen=True`` themselves)."""

_T = TypeVar("_T")
_NO_KINDS: Mapping[str, type[Exception]] = {}
_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "unexpected_keyword_argument": "unknown key",
    "missing_keyword_argument": "required key is missing",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "dataclass_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


class ConfigModel(BaseModel):
    """Base of the models of configuration files: strict, no unknown keys, frozen."""

    model_config = ConfigDict(**STRICT, frozen=True)


def located(source: str, key: str, message: str) -> str:
    """``source: key: message`` (``source: message`` for the file as a whole)."""
    return f"{source}: {key}: {message}" if key else f"{source}: {message}"


def key_path(loc: tuple[int | str, ...]) -> str:
    """``("organisations", 0, "rate_limit", "burst")`` as ``organisations[0].rate_limit.burst``."""
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a mapping's key, not a key itself
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def relative_to_file(value: Path, info: ValidationInfo) -> Path:
    """A validator: a relative path is read from the configuration file's folder.

    The folder is the ``base`` of the validation context; without one the path is kept.
    """
    base = (info.context or {}).get("base")
    if base is None or value.is_absolute():
        return value
    return Path(base) / value


def load_yaml(text: str, *, source: str, error: type[Exception]) -> Any:
    """Parse ``text`` with the strict loader, dates kept as text for the model to check.

    Raises:
        error: the text is not YAML, or repeats a key; the message names ``source``.
    """
    try:
        return load_strict(text, dates_as_text=True)
    except yaml.YAMLError as exc:
        raise error(located(source, "", f"not valid YAML: {exc}")) from exc


def read_text(path: Path, *, error: type[Exception]) -> str:
    """The text of the configuration file ``path``.

    Raises:
        error: the file is missing, unreadable or not UTF-8; the message names it.
    """
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(located(str(path), "", f"cannot read: {exc}")) from exc


def validate(
    data: object,
    model: type[_T],
    *,
    source: str,
    error: type[Exception],
    kinds: Mapping[str, type[Exception]] = _NO_KINDS,
    context: Mapping[str, object] | None = None,
    origins: Mapping[str, str] | None = None,
) -> _T:
    """``data`` (as read from YAML) as a ``model`` instance, or one uniform error.

    Args:
        data: the parsed document.
        model: a pydantic model or dataclass configured with :data:`STRICT`.
        source: what the errors name: the file.
        error: the exception raised; ``kinds`` maps a pydantic error type (``missing``,
            ``extra_forbidden``…) to a subclass of it for callers that tell them apart.
        context: the validation context (``base``: the file's folder, for relative paths).
        origins: top-level keys set from somewhere else than ``source`` (an environment
            variable) and what to name instead, e.g. ``SAKHA_LISTEN='x'``.

    Raises:
        error: the first defect's class, the message listing every defect with its key path.
    """
    try:
        document = json.dumps(_json_ready(data, ()), ensure_ascii=False)
    except _NotJsonError as exc:
        raise error(located(source, key_path(exc.loc), exc.message)) from None
    try:
        return TypeAdapter(model).validate_json(document, strict=True, context=context)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        lines = [_describe(problem, source, origins or {}) for problem in problems]
        kind = kinds.get(problems[0]["type"], error)
        raise kind("; ".join(lines)) from None


def _describe(problem: Any, source: str, origins: Mapping[str, str]) -> str:
    loc: tuple[int | str, ...] = problem["loc"]
    kind = problem["type"]
    if kind == "value_error":
        message = problem["msg"].removeprefix("Value error, ")
    elif kind in ("missing", "extra_forbidden", "unexpected_keyword_argument"):
        message = _MESSAGES[kind]
    else:
        message = f"{_MESSAGES.get(kind, problem['msg'])}, got {_shown(problem.get('input'))}"
    if loc and loc[0] in origins:
        return f"{origins[str(loc[0])]}: {message}"
    return located(source, key_path(loc), message)


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


class _NotJsonError(Exception):
    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _json_ready(value: object, loc: tuple[int | str, ...]) -> object:
    """``value`` unchanged, after checking it holds only what JSON can say."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotJsonError(loc, f"key {key!r} is not text")
            _json_ready(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_ready(item, (*loc, index))
    elif value is not None and not isinstance(value, str | int | float):
        raise _NotJsonError(loc, f"{type(value).__name__} values are not accepted here")
    return value
