"""A repeated key in any configuration file is an error, never a silent win."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.config import load_adapter_config
from adapters.errors import AdapterConfigError
from adapters.strict_yaml import DuplicateKeyError, load_strict
from gateway.client_profile import ProfileError, load_profile
from gateway.config import ConfigError, load_hub_config


def test_load_strict_names_the_key_and_line() -> None:
    with pytest.raises(DuplicateKeyError, match=r"line 3: duplicate key 'url'"):
        load_strict("url: a\nname: x\nurl: b\n")


def test_dates_stay_text_when_asked() -> None:
    assert load_strict("d: 2026-03-21", dates_as_text=True) == {"d": "2026-03-21"}


@pytest.mark.parametrize(
    ("text", "load", "error"),
    [
        pytest.param(
            "insecure: true\ninsecure: false\n",
            lambda p: load_hub_config(p, env={}),
            ConfigError,
            id="hub-config",
        ),
        pytest.param(
            "agency_id: a\nagency_id: b\n", load_adapter_config, AdapterConfigError, id="adapter"
        ),
        pytest.param("server: a\nserver: b\n", load_profile, ProfileError, id="client-profile"),
    ],
)
def test_every_config_refuses_a_repeated_key(
    tmp_path: Path, text: str, load: object, error: type[Exception]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error, match="duplicate key"):
        load(path)  # type: ignore[operator]


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_yaml_1_1_booleans_are_text(word: str) -> None:
    assert load_strict(f"insecure: {word}") == {"insecure": word}


@pytest.mark.parametrize(("word", "value"), [("true", True), ("False", False), ("TRUE", True)])
def test_yaml_1_2_booleans_are_booleans(word: str, value: bool) -> None:
    assert load_strict(f"insecure: {word}") == {"insecure": value}
