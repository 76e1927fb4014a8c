"""docs/configuration.md is generated from the models and must be current."""

from __future__ import annotations

from gateway.config_docs import DOCS_PATH, render


def test_committed_reference_is_current() -> None:
    assert DOCS_PATH.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run python -m gateway.config_docs"
    )
