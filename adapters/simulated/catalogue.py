"""Where the simulated agencies' adapter configs live, and what fills their placeholders.

Every config names ``{data_dir}``, the population's folder. An agency whose system is a web
service (:data:`WEB_SERVICES`; the welfare organisation) also names its service's address,
``{<agency_id>_service}``: the host starts the service first and fills it in. A config read
only for its description (a program check, the catalogue) gets
:data:`NO_SERVICE`, which nothing ever answers: describing an agency asks no one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from adapters.config import load_adapter_config
from adapters.sdk import Adapter
from adapters.simulated.json_service import JsonService
from adapters.simulated.welfare_service import start_welfare_service

AGENCY_CONFIG_DIR: Path = Path(__file__).resolve().parent / "agencies"
"""One adapter config per simulated agency, named ``<agency_id>.yaml``."""

WEB_SERVICES: Mapping[str, Callable[[Path], JsonService]] = MappingProxyType(
    {"welfare": start_welfare_service}
)
"""Agencies whose own system is a web service, each with what starts it over a population."""

NO_SERVICE = "http://service.invalid"
"""The address given to a web-service agency read only for its description (``.invalid``
never resolves, RFC 2606)."""


def agency_config_paths() -> list[Path]:
    """Every simulated agency's config file, sorted by agency id."""
    return sorted(AGENCY_CONFIG_DIR.glob("*.yaml"))


def load_simulated_agency(
    path: Path, data_dir: Path, services: Mapping[str, str] | None = None
) -> Adapter:
    """The adapter of the agency configured in ``path`` over the population in
    ``data_dir``; ``services`` maps a web-service agency to its service's URL (default:
    :data:`NO_SERVICE`, for a description only)."""
    variables = {"data_dir": str(data_dir)}
    for agency_id in WEB_SERVICES:
        variables[f"{agency_id}_service"] = (services or {}).get(agency_id, NO_SERVICE)
    return load_adapter_config(path, variables=variables)
