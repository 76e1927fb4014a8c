"""Reading a guide in ``docs/`` the way its tests need: sections, tables, command lines.

Fenced examples are found by tag with :func:`tests.docs.test_docs_examples.example`; these
helpers read the prose around them.
"""

from __future__ import annotations

import re
import shlex

import click

from gateway.cli import main
from tests.docs.test_docs_examples import DOCS, example


def section(guide: str, heading: str) -> str:
    """The text of ``guide`` under ``heading`` (any level), up to the next heading."""
    text = (DOCS / guide).read_text(encoding="utf-8")
    match = re.search(
        rf"^#+ {re.escape(heading)}\n(?P<body>.*?)(?=^#+ |\Z)", text, re.MULTILINE | re.DOTALL
    )
    assert match is not None, f"{guide} has no section {heading!r}"
    return match["body"]


def table(guide: str, heading: str) -> list[list[str]]:
    """The body rows of the one table under ``heading``, each a list of cell texts."""
    lines = [line for line in section(guide, heading).splitlines() if line.startswith("|")]
    assert len(lines) > 2, f"no table under {heading!r}"
    assert re.fullmatch(r"\|(?: -+ \||-+\|)+", lines[1]), lines[1]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def code(cell: str) -> str:
    """The text of a cell written as one code span: `` `REVOKED` `` -> ``REVOKED``."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match is not None, f"{cell!r} is not a code span"
    return match[1]


def commands(guide: str, tag: str) -> list[list[str]]:
    """The ``sakha …`` command lines of a tagged shell block, split as a shell would,
    without the leading ``sakha``."""
    body = example(guide, tag).replace("\\\n", " ")
    lines = [shlex.split(line) for line in body.splitlines() if line.strip()]
    assert lines
    assert all(words[0] == "sakha" for words in lines), lines
    return [words[1:] for words in lines]


def parses(words: list[str]) -> None:
    """Parse ``sakha <words>`` as the CLI would, down to the command, without running it."""
    group: click.Command = main
    while isinstance(group, click.Group):
        name, words = words[0], words[1:]
        found = group.get_command(click.Context(group), name)
        assert found is not None, f"no command {name!r}"
        group = found
    context = group.make_context(group.name, list(words))
    assert context.params
