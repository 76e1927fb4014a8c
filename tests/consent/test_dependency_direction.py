"""The consent package imports nothing of gRPC, the generated types or the gateway."""

from __future__ import annotations

import inspect
from pathlib import Path

import consent
from consent import errors
from tests.adapters.test_dependency_direction import forbidden_imports

CONSENT = Path(consent.__file__).parent


def test_no_module_under_consent_imports_grpc_generated_code_or_gateway() -> None:
    assert forbidden_imports(CONSENT) == {}


def test_one_root_exception_names_ending_in_error_with_one_line_docstrings() -> None:
    classes = [
        value
        for _, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, Exception) and value.__module__ == errors.__name__
    ]
    assert len(classes) > 8
    for exception in classes:
        assert issubclass(exception, errors.ConsentError), exception
        assert exception.__name__.endswith("Error"), exception
        doc = (exception.__doc__ or "").strip()
        assert doc, exception
        assert "\n" not in doc, exception
