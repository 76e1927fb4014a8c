"""The ``http:`` section of an adapter file: how to reach an agency's HTTP/JSON service.

::

    http:
      url: "https://lookup.food-bank.internal/v2/households"  # {name} placeholders allowed
      method: POST                    # POST (a JSON body) or GET (the IDs as parameters)
      ids_field: national_ids         # the body key, or the repeated query parameter
      as_of_field: as_of              # optional: also send the as-of date (YYYY-MM-DD)
      records: results                # optional path to the list of records (default: the
                                      #   whole answer is the list)
      subject_field: national_id      # path, in each record, to its national ID
      max_subjects_per_request: 100
      max_concurrent_requests: 4
      timeout_s: 5                    # per attempt
      retries: 2                      # GET, or POST with idempotent: true
      idempotent: true                # POST only: the lookup changes nothing
      headers: {Accept: application/json}
      ca_file: /etc/sakha/food-bank-ca.pem        # optional: trust only this CA
      client_cert_file: /etc/sakha/client.pem     # optional: mutual TLS to the service
      client_key_file: /etc/sakha/client.key
      auth:                           # optional; secrets come from the environment
        bearer_token_env: FOOD_BANK_TOKEN
        # basic_user: sakha
        # basic_password_env: FOOD_BANK_PASSWORD
      check_url: "https://lookup.food-bank.internal/health"  # optional, GET at start-up

Each attribute then names ``field:``, the path of its value in a record
(:mod:`adapters.json_path`), by default its own name.
"""

from __future__ import annotations

import ssl
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import Field, model_validator

from adapters.errors import AdapterConfigError
from adapters.http_json import HttpSource
from adapters.json_path import JsonPath, PathSyntaxError
from adapters.typed_config import ConfigModel

_Text = Annotated[str, Field(min_length=1)]
_EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class HttpAuthSection(ConfigModel):
    """Credentials for the service, read from environment variables (never the file)."""

    bearer_token_env: _EnvName | None = None
    """The variable holding a bearer token, sent as ``Authorization: Bearer …``."""
    basic_user: _Text | None = None
    """The user name for HTTP basic authentication."""
    basic_password_env: _EnvName | None = None
    """The variable holding the basic-authentication password."""

    @model_validator(mode="after")
    def _one_kind(self) -> HttpAuthSection:
        basic = (self.basic_user is None, self.basic_password_env is None)
        if basic[0] != basic[1]:
            raise ValueError("basic_user and basic_password_env go together")
        if self.bearer_token_env is not None and self.basic_user is not None:
            raise ValueError("bearer or basic, not both")
        if self.bearer_token_env is None and self.basic_user is None:
            raise ValueError("give bearer_token_env, or basic_user and basic_password_env")
        return self

    def build(self, environ: Mapping[str, str]) -> httpx.Auth:
        """The httpx authentication, with the secret read from ``environ``."""
        if self.bearer_token_env is not None:
            return _Bearer(_secret(environ, self.bearer_token_env, "bearer_token_env"))
        assert self.basic_user is not None  # noqa: S101 - the validator requires one kind
        assert self.basic_password_env is not None  # noqa: S101
        password = _secret(environ, self.basic_password_env, "basic_password_env")
        return httpx.BasicAuth(self.basic_user, password)


class HttpSection(ConfigModel):
    """How to ask the agency's HTTP/JSON service (see this module's docstring)."""

    url: _Text
    """The lookup endpoint; ``{name}`` placeholders filled from the variables."""
    method: Literal["GET", "POST"] = "POST"
    """``POST`` (a JSON body) or ``GET`` (the IDs as query parameters)."""
    ids_field: _Text = "national_ids"
    """The body key, or the repeated query parameter, carrying the IDs."""
    as_of_field: _Text | None = None
    """Also send the as-of date under this key or parameter."""
    records: _Text | None = None
    """Path to the list of records in the answer; default: the answer is the list."""
    subject_field: _Text = "national_id"
    """Path, in each record, to its national ID."""
    max_subjects_per_request: Annotated[int, Field(ge=1, le=100_000)] = 100
    """Most IDs in one request; a larger Fetch is split."""
    max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] = 4
    """Most requests in flight to the service at once."""
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    """Per attempt: connecting, and each wait for the answer."""
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    """Attempts after the first, for an idempotent request."""
    idempotent: bool = False
    """POST only: the lookup changes nothing, so it may be retried."""
    headers: dict[_Text, str] = {}  # noqa: RUF012 - pydantic copies a default per instance
    """Headers sent with every request."""
    ca_file: _Text | None = None
    """Trust only this CA (PEM) for the service's certificate; default: the system's."""
    client_cert_file: _Text | None = None
    """A client certificate (PEM) for mutual TLS to the service."""
    client_key_file: _Text | None = None
    """Its private key (PEM)."""
    auth: HttpAuthSection | None = None
    """Credentials, from the environment."""
    check_url: _Text | None = None
    """GET at start-up, expecting a 2xx; ``{name}`` placeholders allowed."""

    @model_validator(mode="after")
    def _consistent(self) -> HttpSection:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together")
        if self.method == "GET" and self.idempotent:
            raise ValueError("idempotent is for POST: a GET is always retried")
        return self

    def source(
        self, *, url: str, check_url: str | None, base: Path, environ: Mapping[str, str]
    ) -> HttpSource:
        """The adapter's settings, with placeholders already filled in ``url`` and
        ``check_url``; relative files are resolved against ``base``.

        Raises:
            AdapterConfigError: a path that does not parse, an unreadable TLS file, or a
                secret's environment variable that is not set.
        """
        if not url.startswith(("http://", "https://")):
            raise AdapterConfigError(f"http.url: {url!r} is not an http:// or https:// URL")
        return HttpSource(
            url=url,
            method=self.method,
            ids_field=self.ids_field,
            as_of_field=self.as_of_field,
            records=None if self.records is None else parse_path(self.records, "http.records"),
            subject_field=parse_path(self.subject_field, "http.subject_field"),
            max_subjects_per_request=self.max_subjects_per_request,
            max_concurrent_requests=self.max_concurrent_requests,
            timeout_s=self.timeout_s,
            retries=self.retries,
            idempotent=self.idempotent,
            headers=dict(self.headers),
            auth=None if self.auth is None else self.auth.build(environ),
            tls=self._tls(base),
            check_url=check_url,
        )

    def _tls(self, base: Path) -> ssl.SSLContext | None:
        if self.ca_file is None and self.client_cert_file is None:
            return None
        context = ssl.create_default_context(
            cafile=None if self.ca_file is None else _file(base, self.ca_file)
        )
        if self.client_cert_file is not None and self.client_key_file is not None:
            try:
                context.load_cert_chain(
                    _file(base, self.client_cert_file), _file(base, self.client_key_file)
                )
            except (OSError, ssl.SSLError) as exc:
                raise AdapterConfigError(f"http.client_cert_file: {exc}") from exc
        return context


def parse_path(text: str, key: str) -> JsonPath:
    """``text`` as a :class:`JsonPath`; a syntax error names ``key``."""
    try:
        return JsonPath.parse(text)
    except PathSyntaxError as exc:
        raise AdapterConfigError(f"{key}: {exc}") from exc


def _file(base: Path, name: str) -> str:
    path = Path(name) if Path(name).is_absolute() else base / name
    if not path.is_file():
        raise AdapterConfigError(f"http: {path} is not a file")
    return str(path)


def _secret(environ: Mapping[str, str], variable: str, key: str) -> str:
    value = environ.get(variable, "")
    if not value:
        raise AdapterConfigError(f"http.auth.{key}: the environment variable {variable} is not set")
    return value


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request
