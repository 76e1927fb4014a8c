"""YAML for configuration files: safe, and a repeated key is an error, never a silent win.

PyYAML keeps the last of two equal keys, so a second ``roles:`` or ``url:`` in a file would
quietly replace the first. Every Sakha configuration (programs, client registry, hub,
adapters, client profiles) is read through :func:`load_strict`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping repeats a key."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r}")
        self.key = key
        self.line = line


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate mapping keys."""

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

    yaml_implicit_resolvers = {  # noqa: RUF012 - class-level table PyYAML reads, never mutated
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def load_strict(text: str, *, dates_as_text: bool = False) -> Any:
    """Parse ``text``; raises ``yaml.YAMLError`` (``DuplicateKeyError`` for a repeated key)."""
    loader = StrictTextDatesLoader if dates_as_text else StrictLoader
    return yaml.load(text, Loader=loader)  # noqa: S506 - both loaders are SafeLoader subclasses
