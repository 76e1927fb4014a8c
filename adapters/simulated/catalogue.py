"""Where the simulated agencies' adapter configs live."""

from __future__ import annotations

from pathlib import Path

AGENCY_CONFIG_DIR: Path = Path(__file__).resolve().parent / "agencies"
"""One SQL-adapter config per simulated agency, named ``<agency_id>.yaml``."""


def agency_config_paths() -> list[Path]:
    """Every simulated agency's config file, sorted by agency id."""
    return sorted(AGENCY_CONFIG_DIR.glob("*.yaml"))
