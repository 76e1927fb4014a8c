"""Where the shipped programs live (found relative to this package, never the working dir)."""

from __future__ import annotations

from pathlib import Path

BUILTIN_PROGRAMS_DIR = Path(__file__).resolve().parent / "builtin"
"""The folder of the programs Sakha ships (``*.yaml``)."""
