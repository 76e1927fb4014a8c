"""The audit package imports nothing of gRPC, the generated types or the gateway, and every
error it raises is an :class:`~audit.errors.AuditError`."""

from __future__ import annotations

import inspect
from pathlib import Path

import audit
from audit import bundle, checkpoint, entry, merkle, merkle_store, note, pseudonym, verify
from audit.errors import AuditError
from tests.adapters.test_dependency_direction import forbidden_imports

AUDIT = Path(audit.__file__).parent


def test_no_module_under_audit_imports_grpc_generated_code_or_gateway() -> None:
    assert forbidden_imports(AUDIT) == {}


def test_every_exception_of_the_package_is_an_audit_error() -> None:
    classes = [
        value
        for module in (bundle, checkpoint, entry, merkle, merkle_store, note, pseudonym, verify)
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, Exception)
        and value.__module__ == module.__name__
        and not value.__name__.startswith("_")  # raised and caught inside the module
    ]
    assert len(classes) > 8
    for exception in classes:
        assert issubclass(exception, AuditError), exception
