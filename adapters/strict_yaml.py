"""YAML for configuration files: safe, and a repeated key is an error, never a silent win.

PyYAML keeps the last of two equal keys, so a second ``roles:`` or ``url:`` in a file would
quietly replace the first. Every Sakha configuration (programs, client registry, hub,
adapters, client profiles) is read through :func:`load_strict`.

Booleans are YAML 1.2's: only ``true`` and ``false`` (any case). PyYAML follows YAML 1.1,
where ``yes``, ``no``, ``on`` and ``off`` are booleans too; a YAML 1.2 tool reads them as
text, so the same ``insecure: off`` could mean two things. Here they are text, and a
switch given as text is refused by the typed configuration, naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_YAML_1_2_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


def _resolvers(*, keep_dates: bool) -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers with YAML 1.2 booleans (and, if asked, no timestamps)."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [
            (tag, rx)
            for tag, rx in resolvers
            if tag != _BOOL_TAG and (keep_dates or tag != _TIMESTAMP_TAG)
        ]
        if first in "tTfF":
            kept.insert(0, (_BOOL_TAG, _YAML_1_2_BOOL))
        if kept:
            table[first] = kept
    return table


class DuplicateKeyError(yaml.YAMLError):
    """A mapping repeats a key."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r}")
        self.key = key
        self.line = line


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys and knows only YAML 1.2 booleans."""

    yaml_implicit_resolvers = _resolvers(keep_dates=True)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        """Build the mapping after checking no key repeats."""
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise DuplicateKeyError(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class StrictTextDatesLoader(StrictLoader):
    """The same, leaving dates as text for callers that parse them with their own errors."""

    yaml_implicit_resolvers = _resolvers(keep_dates=False)


def load_strict(text: str, *, dates_as_text: bool = False) -> Any:
    """Parse ``text``; raises ``yaml.YAMLError`` (``DuplicateKeyError`` for a repeated key)."""
    loader = StrictTextDatesLoader if dates_as_text else StrictLoader
    return yaml.load(text, Loader=loader)  # noqa: S506 - both loaders are SafeLoader subclasses
