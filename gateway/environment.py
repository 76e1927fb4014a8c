"""Every environment variable the hub reads, one documented constant each.

A variable overrides the matching key of the config file (see :mod:`gateway.config`).
"""

from __future__ import annotations

SAKHA_LISTEN = "SAKHA_LISTEN"
"""Address the hub listens on, ``host:port`` (config key ``listen``)."""

SAKHA_PROGRAMS_DIR = "SAKHA_PROGRAMS_DIR"
"""Folder of program YAML files (config key ``programs_dir``); default: the built-in ones."""

SAKHA_AGENCY_TIMEOUT_MS = "SAKHA_AGENCY_TIMEOUT_MS"
"""Per-agency timeout of one Fetch, in milliseconds (config key ``agency_timeout_ms``)."""

SAKHA_COALESCE_WINDOW_MS = "SAKHA_COALESCE_WINDOW_MS"
"""How long concurrent single checks wait to share agency batches (``coalesce_window_ms``)."""

SAKHA_INSECURE = "SAKHA_INSECURE"
"""Set to 1 to switch every security layer off — client TLS, client tokens, mutual TLS to
agencies, fetch tokens and consent (config key ``insecure``): local debugging only."""

SAKHA_DB_URL = "SAKHA_DB_URL"
"""The consent store's database URL (config key ``db_url``)."""

SAKHA_AUDIT_DB_URL = "SAKHA_AUDIT_DB_URL"
"""The audit log's database URL, when not ``db_url``'s (config key ``audit_db_url``)."""

SAKHA_PROFILE = "SAKHA_PROFILE"
"""Path of the client profile the CLI uses (default: $XDG_CONFIG_HOME/sakha/profile.yaml)."""

SAKHA_LOG_FORMAT = "SAKHA_LOG_FORMAT"
"""``json`` for one JSON object per log line, with the current trace id (default ``text``)."""

SAKHA_LOG_LEVEL = "SAKHA_LOG_LEVEL"
"""Python logging level name for the CLI (default WARNING)."""

ALL = (
    SAKHA_LISTEN,
    SAKHA_PROGRAMS_DIR,
    SAKHA_AGENCY_TIMEOUT_MS,
    SAKHA_COALESCE_WINDOW_MS,
    SAKHA_INSECURE,
    SAKHA_DB_URL,
    SAKHA_AUDIT_DB_URL,
    SAKHA_PROFILE,
    SAKHA_LOG_LEVEL,
    SAKHA_LOG_FORMAT,
)
