"""Write ``docs/configuration.md``: every key of every configuration file, from the models.

    python -m gateway.config_docs            # rewrite the file
    python -m gateway.config_docs --check    # exit 1 when the file is stale

A test runs the check, so the reference never drifts from the models it describes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from adapters.config import CsvAdapterFile, HttpAdapterFile, SqlAdapterFile
from gateway import environment
from gateway.auth.registry import RegistryFile
from gateway.client_profile import ClientProfile
from gateway.config import ENVIRONMENT, HubConfig
from gateway.programs.file_model import ProgramFile

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
"""Where the reference lives in the repository."""

FILE_KINDS: tuple[tuple[str, str, type[Any]], ...] = (
    ("Hub", "`sakha serve --config hub.yaml`", HubConfig),
    ("Client registry", "the hub's `clients_file`", RegistryFile),
    ("Adapter (SQL)", "`sakha adapter serve --config agency.yaml`, with `url:`", SqlAdapterFile),
    ("Adapter (CSV)", "`sakha adapter serve --config agency.yaml`, with `csv:`", CsvAdapterFile),
    (
        "Adapter (HTTP/JSON)",
        "`sakha adapter serve --config agency.yaml`, with `http:`",
        HttpAdapterFile,
    ),
    ("Client profile", "the CLI's `--profile` (default `$SAKHA_PROFILE`)", ClientProfile),
    ("Program", "the hub's `programs_dir`: every `<id>.yaml` in it", ProgramFile),
)
"""Each file kind: its title, who reads it and its model."""

_INTRO = """\
# Configuration reference

Generated from the configuration models by `python -m gateway.config_docs`; do not edit by
hand. Every file is YAML, read strictly: a wrong type (`"false"` for a boolean, `"3000"` for
a number), an unknown key, a repeated key, a value out of bounds or a missing required key
stops the start with an error naming the file, the key path (`organisations[0].keys[0].kid`)
and what was expected. Relative paths in the hub's file and in a client profile are read
from the file's folder. What a program's keys mean (facts, rules, CEL, decisions) and the
checks beyond types are explained in [programs.md](programs.md).
"""


def render() -> str:
    """The whole reference, as Markdown."""
    parts = [_INTRO]
    for title, reader, model in FILE_KINDS:
        schema = TypeAdapter(model).json_schema()
        parts.append(f"## {title}\n\nRead by {reader}.\n")
        parts.append("| key | type | default | bounds | description |")
        parts.append("| --- | --- | --- | --- | --- |")
        parts.extend(_rows(schema, schema.get("$defs", {}), ""))
        parts.append("")
    parts.append("## Environment variables\n")
    parts.append("Each is read with explicit rules; a bad value is refused naming the variable.\n")
    parts.append("| variable | overrides | read as | description |")
    parts.append("| --- | --- | --- | --- |")
    for name in environment.ALL:
        key, read = ENVIRONMENT.get(name, ("", None))
        kind = _ENV_KINDS.get(getattr(read, "__name__", ""), "text")
        parts.append(
            f"| `{name}` | {f'`{key}`' if key else '—'} | {kind} | {_cell(_env_doc(name))} |"
        )
    return "\n".join(parts) + "\n"


_ENV_KINDS = {
    "_flag": "1/true/yes or 0/false/no",
    "_integer": "whole number",
    "_decimal": "number",
    "_path": "path (relative to the working folder)",
    "_text": "text",
}


def _env_doc(name: str) -> str:
    source = Path(environment.__file__).read_text(encoding="utf-8")
    after = source.split(f'{name} = "{name}"\n', 1)[1]
    return " ".join(after.split('"""')[1].split())


def _rows(schema: Mapping[str, Any], defs: Mapping[str, Any], prefix: str) -> Iterator[str]:
    required = set(schema.get("required", ()))
    for key, spec in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        target = _target(spec, defs)
        default = "required" if key in required else _shown(spec.get("default"))
        description = _cell(" ".join(str(spec.get("description", "")).split()))
        bounds = _cell(_bounds(target))
        yield f"| `{path}` | {_type(spec, defs)} | {default} | {bounds} | {description} |"
        if "properties" in target:
            yield from _rows(target, defs, f"{path}.")
        elif target.get("type") == "array" and "properties" in _target(target["items"], defs):
            yield from _rows(_target(target["items"], defs), defs, f"{path}[].")
        elif (values := _values(target)) is not None:
            value = _target(values, defs)
            if "properties" in value:
                yield from _rows(value, defs, f"{path}.<name>.")


def _cell(text: str) -> str:
    """A docstring as one Markdown table cell: reST ``code`` as Markdown `code`, pipes escaped."""
    return text.replace("``", "`").replace("|", "\\|")


def _target(spec: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in spec:
        found: Mapping[str, Any] = defs[spec["$ref"].rsplit("/", 1)[1]]
        return found
    options = [o for o in spec.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        return _target(options[0], defs)
    return spec


def _type(spec: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    optional = any(o.get("type") == "null" for o in spec.get("anyOf", ()))
    target = _target(spec, defs)
    options = [o for o in target.get("anyOf", ()) if o.get("type") != "null"]
    if "enum" in target:
        text = " \\| ".join(f"`{v}`" for v in target["enum"])
    elif len(options) > 1:
        text = " or ".join(_type(option, defs) for option in options)
    elif target.get("type") == "array":
        text = f"list of {_type(target['items'], defs)}"
    elif target.get("type") == "object" and "properties" not in target:
        value = _values(target)
        text = "mapping" if value is None else f"mapping to {_type(value, defs)}"
    elif "properties" in target:
        text = "mapping"
    else:
        text = {"integer": "integer", "number": "number", "boolean": "boolean"}.get(
            target.get("type", ""), _FORMATS.get(target.get("format", ""), "text")
        )
    return f"{text} or null" if optional else text


_FORMATS = {"path": "path", "date": "date `YYYY-MM-DD`"}


def _values(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The schema of a mapping's values: ``additionalProperties``, or the one entry of
    ``patternProperties`` when the keys have a pattern; None for a mapping of named keys."""
    value = spec.get("additionalProperties")
    if isinstance(value, dict):
        return value
    patterns: Mapping[str, Any] = spec.get("patternProperties", {})
    return next(iter(patterns.values())) if len(patterns) == 1 else None


def _bounds(spec: Mapping[str, Any]) -> str:
    words = {
        "minimum": "≥ {}",
        "exclusiveMinimum": "> {}",
        "maximum": "≤ {}",
        "exclusiveMaximum": "< {}",
        "minLength": "length ≥ {}",
        "minItems": "at least {} item(s)",
        "minProperties": "at least {} entry(ies)",
        "pattern": "matches `{}`",
    }
    bounds = [text.format(spec[key]) for key, text in words.items() if key in spec]
    bounds.extend(f"keys match `{pattern}`" for pattern in spec.get("patternProperties", ()))
    items = spec.get("items")
    if isinstance(items, dict) and (each := _bounds(items)) != "—":
        bounds.append(f"each: {each}")
    return ", ".join(bounds) or "—"


def _shown(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in ({}, [], ""):
        return "empty"
    if isinstance(value, dict):
        return "see below"
    return f"`{value}`"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the reference, or with ``--check`` say whether it is stale."""
    parser = argparse.ArgumentParser(prog="python -m gateway.config_docs")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.exists() else ""
        if current != text:
            print(f"{DOCS_PATH} is stale: run python -m gateway.config_docs", file=sys.stderr)
            return 1
        return 0
    DOCS_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
