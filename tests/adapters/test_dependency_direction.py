"""The adapter SDK that agency IT installs imports nothing from the hub."""

from __future__ import annotations

import ast
from pathlib import Path

import adapters

ADAPTERS = Path(adapters.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


PURE_FORBIDDEN = frozenset({"grpc", "grpc_status", "google", "sakha", "gateway"})
"""What a pure domain package (``consent``, ``audit``) may not import."""


def forbidden_imports(
    package: Path, forbidden: frozenset[str] = PURE_FORBIDDEN
) -> dict[str, list[str]]:
    """Each module under ``package`` with the forbidden top-level packages it imports."""
    scanned = {
        str(path.relative_to(package.parent)): sorted(
            name for name in _imported_modules(path) if name.split(".")[0] in forbidden
        )
        for path in sorted(package.rglob("*.py"))
    }
    assert scanned, f"no module found under {package}"
    return {path: names for path, names in scanned.items() if names}


def test_no_module_under_adapters_imports_gateway() -> None:
    offenders = {
        str(path.relative_to(ADAPTERS.parent)): sorted(
            name for name in _imported_modules(path) if name.split(".")[0] == "gateway"
        )
        for path in sorted(ADAPTERS.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert len(offenders) > 20, "the scan must have read the package"
