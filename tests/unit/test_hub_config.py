"""Hub configuration: file, environment overrides and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import AgencyEndpoint, ConfigError, HubConfig, load_hub_config


def write(tmp_path: Path, text: str) -> Path:
    """A config file holding ``text``."""
    path = tmp_path / "hub.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_and_environment_are_combined(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "listen: 0.0.0.0:6000\nprograms_dir: programs\nagency_timeout_ms: 900\ninsecure: true\n"
        "agencies:\n  - {agency_id: tax, target: 'tax.internal:443'}\n",
    )
    config = load_hub_config(path, env={"SAKHA_AGENCY_TIMEOUT_MS": "1500"})
    assert config.listen == "0.0.0.0:6000"
    assert config.agencies == (AgencyEndpoint("tax", "tax.internal:443"),)
    assert config.programs_dir == tmp_path / "programs"
    assert config.agency_timeout_ms == 1500


def test_security_files_are_required_unless_insecure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_cert_file, tls_key_file, clients_file"):
        load_hub_config(None, env={})
    with pytest.raises(
        ConfigError, match="db_url, consent_key_file, audit_key_file, checkpoint_key_file must"
    ):
        load_hub_config(
            write(tmp_path, _ALL_FILES.split("consent_key_file", maxsplit=1)[0]), env={}
        )
    config = load_hub_config(write(tmp_path, _ALL_FILES), env={})
    assert config.tls_cert_file == tmp_path / "pki" / "hub.pem"
    assert config.clients_file == tmp_path / "clients.yaml"
    assert config.consent_key_file == tmp_path / "pki" / "consent.key"
    assert config.db_url == "sqlite:////var/lib/sakha/sakha.sqlite"
    assert config.layers.consent


def test_the_audit_log_has_its_own_database_or_the_consent_stores(tmp_path: Path) -> None:
    without_db = _ALL_FILES.replace("db_url: sqlite:////var/lib/sakha/sakha.sqlite\n", "")
    audit_only = without_db + "security: {consent: false}\n"
    with pytest.raises(ConfigError, match=r"audit_db_url \(or db_url\) must be set"):
        load_hub_config(write(tmp_path, audit_only), env={})
    apart = load_hub_config(
        write(tmp_path, _ALL_FILES + "audit_db_url: sqlite:////var/lib/sakha/audit.sqlite\n"),
        env={},
    )
    assert apart.audit_database == "sqlite:////var/lib/sakha/audit.sqlite"
    shared = load_hub_config(write(tmp_path, _ALL_FILES), env={})
    assert shared.audit_database == shared.db_url
    overridden = load_hub_config(
        write(tmp_path, audit_only), env={"SAKHA_AUDIT_DB_URL": "sqlite:////tmp/audit.sqlite"}
    )
    assert overridden.audit_database == "sqlite:////tmp/audit.sqlite"
    assert overridden.db_url is None


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_hub_config(None, env={"SAKHA_INSECURE": "1"}) == HubConfig(insecure=True)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        pytest.param("listne: x\n", {}, "hub.yaml: listne: unknown key", id="typo-key"),
        pytest.param("- a\n", {}, "mapping", id="not-a-mapping"),
        pytest.param(
            "agencies: [{agency_id: tax}]\n", {}, r"agencies\[0\].target: req", id="no-target"
        ),
        pytest.param("agencies: tax\n", {}, "agencies: .* array", id="agencies-not-list"),
        pytest.param(
            "max_batch_items: 0\n",
            {},
            "max_batch_items: .* than 0",
            id="zero-limit",
        ),
        pytest.param(
            "coalesce_window_ms: -1\n",
            {},
            "coalesce_window_ms: .* or equal to 0",
            id="negative-window",
        ),
        pytest.param(
            "{}\n",
            {"SAKHA_AGENCY_TIMEOUT_MS": "soon"},
            "SAKHA_AGENCY_TIMEOUT_MS='soon'",
            id="bad-env",
        ),
        pytest.param(
            "agencies: [{agency_id: a, target: x}, {agency_id: a, target: y}]\n",
            {},
            "twice",
            id="duplicate-agency",
        ),
        pytest.param("a: [\n", {}, "hub.yaml", id="bad-yaml"),
    ],
)
def test_bad_configs_fail_at_start_up(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_hub_config(write(tmp_path, text), env=env)


@pytest.mark.parametrize(
    ("value", "insecure"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("false", False), ("no", False)],
)
def test_sakha_insecure_takes_only_unmistakable_values(value: str, insecure: bool) -> None:
    env = {"SAKHA_INSECURE": value}
    if insecure:
        assert load_hub_config(None, env=env).insecure
    else:
        with pytest.raises(ConfigError, match="must be set"):
            load_hub_config(None, env=env)


@pytest.mark.parametrize("value", ["disable", "off", "n", "tru"])
def test_a_typo_in_sakha_insecure_is_an_error_not_insecure(value: str) -> None:
    with pytest.raises(ConfigError, match="SAKHA_INSECURE"):
        load_hub_config(None, env={"SAKHA_INSECURE": value})


_ALL_FILES = (
    "tls_cert_file: pki/hub.pem\ntls_key_file: pki/hub.key\nclients_file: clients.yaml\n"
    "agency_ca_file: pki/ca.pem\nagency_client_cert_file: pki/hub-client.pem\n"
    "agency_client_key_file: pki/hub-client.key\nfetch_token_key_file: pki/fetch-token.key\n"
    "consent_key_file: pki/consent.key\ndb_url: sqlite:////var/lib/sakha/sakha.sqlite\n"
    "audit_key_file: pki/audit-pseudonym.key\ncheckpoint_key_file: pki/checkpoint.key\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "security: {fetch_tokens: false}\n",
            "agency_mtls needs fetch_tokens",
            id="mtls-without-fetch-tokens",
        ),
        pytest.param(
            "agency_timeout_ms: 30000\n",
            r"fetch_token_ttl_s \(30 s\) must exceed agency_timeout_ms",
            id="token-dies-before-the-fetch",
        ),
        pytest.param("fetch_token_ttl_s: 301\n", "fetch_token_ttl_s", id="ttl-too-long"),
        pytest.param("fetch_token_ttl_s: 0\n", "fetch_token_ttl_s", id="ttl-zero"),
        pytest.param("fetch_token_kid: ''\n", "fetch_token_kid", id="empty-kid"),
    ],
)
def test_fetch_token_settings_are_bounded(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_hub_config(write(tmp_path, _ALL_FILES + text), env={})


def test_fetch_tokens_are_on_by_default_and_off_only_when_asked(tmp_path: Path) -> None:
    config = load_hub_config(write(tmp_path, _ALL_FILES), env={})
    assert config.layers.fetch_tokens
    assert config.fetch_token_key_file == tmp_path / "pki" / "fetch-token.key"
    assert (config.fetch_token_kid, config.fetch_token_ttl_s) == (None, 30)
    plaintext = load_hub_config(
        write(tmp_path, "security: {agency_mtls: false, fetch_tokens: false}\n" + _ALL_FILES),
        env={},
    )
    assert any("no fetch tokens" in line for line in plaintext.layers.warnings())
    assert not load_hub_config(None, env={"SAKHA_INSECURE": "1"}).layers.fetch_tokens
