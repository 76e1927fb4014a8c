"""Fetch tokens over real gRPC: the hub reads; whoever holds only its TLS key reads nothing.

Every refusal is PERMISSION_DENIED with its ``ErrorInfo`` reason, is logged by the adapter,
and leaves the adapter's query unrun. The whole table of token defects is checked
in-process in tests/adapters/test_fetch_token.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.client import ConnectorClient
from adapters.errors import AdapterConfigError
from adapters.pki.material import PkiLayout
from adapters.sdk import FetchQuery, FetchResult, Predicate
from adapters.server import create_adapter_server
from gateway.auth.tokens import load_private_key, private_key_pem
from gateway.config import ConfigError
from gateway.fetch_tokens import FetchTokenSigner
from gateway.pki.tls import agency_channel_options, hub_channel_credentials
from tests.e2e.test_security import error_reason
from tests.pki.conftest import TIMEOUT, Dial, EchoAdapter, Serve

QUERY = FetchQuery(
    subjects=("0012345679", "0045678911"),
    attributes=("size",),
    as_of=dt.date(2026, 6, 1),
    fetch_id="a1b2c3d4e5f6a1b2c3d4e5f6",
    purpose="caseload_review",
)


class CountingEcho(EchoAdapter):
    """:class:`EchoAdapter` that counts the queries it ran."""

    def __init__(self, agency_id: str) -> None:
        super().__init__(agency_id)
        self.ran = 0

    async def _fetch(self, query: FetchQuery, pushed_down: Sequence[Predicate]) -> FetchResult:
        self.ran += 1
        return await super()._fetch(query, pushed_down)


def hub_signer(pki: PkiLayout) -> FetchTokenSigner:
    """The hub's own signer, from the development PKI."""
    return FetchTokenSigner.from_key_file(pki.fetch_token_key)


async def _tax(pki: PkiLayout, serve: Serve, dial: Dial) -> tuple[CountingEcho, ConnectorClient]:
    """Agency ``tax`` as it runs in production, and a client holding the hub's TLS key."""
    adapter = CountingEcho("tax")
    port = await serve(adapter, tls=pki)
    channel = dial(port, hub_channel_credentials(pki), options=agency_channel_options("tax"))
    return adapter, ConnectorClient(channel)


async def test_the_hub_reads_with_its_token(pki: PkiLayout, serve: Serve, dial: Dial) -> None:
    adapter, client = await _tax(pki, serve, dial)
    description = await client.describe(TIMEOUT)  # Describe needs no token
    token = hub_signer(pki).mint(QUERY, agency_id="tax", basis=["consent-1"])
    result = await client.fetch(QUERY, description, TIMEOUT, token=token)
    assert result.values == {"size": [10, 10]}
    assert adapter.ran == 1


def _forged(pki: PkiLayout) -> str | None:
    thief = FetchTokenSigner(ed25519.Ed25519PrivateKey.generate(), kid=hub_signer(pki).kid)
    return thief.mint(QUERY, agency_id="tax")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param((lambda pki: None, "TOKEN_MISSING"), id="no-token"),
        pytest.param((_forged, "TOKEN_INVALID"), id="own-key-with-the-hubs-kid"),
        pytest.param(
            (lambda pki: hub_signer(pki).mint(QUERY, agency_id="bank_melli"), "WRONG_AGENCY"),
            id="a-captured-token-for-another-agency",
        ),
        pytest.param(
            (
                lambda pki: hub_signer(pki).mint(
                    dataclasses.replace(QUERY, subjects=("0078912342",)), agency_id="tax"
                ),
                "WRONG_SUBJECTS",
            ),
            id="a-captured-token-for-other-subjects",
        ),
        pytest.param(
            (
                lambda pki: hub_signer(pki).mint(
                    dataclasses.replace(QUERY, attributes=()), agency_id="tax"
                ),
                "WRONG_ATTRIBUTES",
            ),
            id="a-captured-token-for-other-attributes",
        ),
        pytest.param(
            (
                lambda pki: hub_signer(pki).mint(
                    dataclasses.replace(QUERY, fetch_id="0" * 24), agency_id="tax"
                ),
                "WRONG_FETCH",
            ),
            id="a-captured-token-for-another-fetch",
        ),
    ],
)
async def test_the_hubs_tls_key_without_its_signing_key_reads_nothing(
    pki: PkiLayout,
    serve: Serve,
    dial: Dial,
    caplog: pytest.LogCaptureFixture,
    case: tuple[Callable[[PkiLayout], str | None], str],
) -> None:
    token, reason = case
    adapter, client = await _tax(pki, serve, dial)
    description = await client.describe(TIMEOUT)
    with (
        caplog.at_level(logging.WARNING, logger="adapters.server"),
        pytest.raises(grpc.aio.AioRpcError) as caught,
    ):
        await client.fetch(QUERY, description, TIMEOUT, token=token(pki))
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(caught.value) == reason
    assert adapter.ran == 0, "the adapter's query must not run"
    assert any(
        f"refused Fetch '{QUERY.fetch_id}'" in r.getMessage() and reason in r.getMessage()
        for r in caplog.records
    )


async def test_an_expired_token_is_refused_over_the_wire(
    pki: PkiLayout, serve: Serve, dial: Dial
) -> None:
    adapter, client = await _tax(pki, serve, dial)
    description = await client.describe(TIMEOUT)
    key = load_private_key(pki.fetch_token_key)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    old = FetchTokenSigner(key, clock=lambda: 1_000_000_000.0)  # the hub's key, in 2001
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.fetch(QUERY, description, TIMEOUT, token=old.mint(QUERY, agency_id="tax"))
    assert error_reason(caught.value) == "TOKEN_EXPIRED"
    assert adapter.ran == 0


async def test_a_tls_adapter_does_not_start_without_the_hubs_keys(pki: PkiLayout) -> None:
    with pytest.raises(AdapterConfigError, match="fetch-token keys"):
        await create_adapter_server(EchoAdapter("tax"), tls=pki.agency_files("tax"))
    pki.fetch_token_jwks.unlink()
    with pytest.raises(AdapterConfigError, match="JWK Set"):
        await create_adapter_server(EchoAdapter("tax"), tls=pki)


async def test_a_plaintext_adapter_checks_tokens_only_when_given_keys(
    pki: PkiLayout, serve: Serve, dial: Dial
) -> None:
    checking = CountingEcho("tax")
    open_door = CountingEcho("tax")
    checked = ConnectorClient(dial(await serve(checking, hub_keys=pki.fetch_token_jwks), None))
    unchecked = ConnectorClient(dial(await serve(open_door), None))
    description = await checked.describe(TIMEOUT)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await checked.fetch(QUERY, description, TIMEOUT)
    assert error_reason(caught.value) == "TOKEN_MISSING"
    token = hub_signer(pki).mint(QUERY, agency_id="tax")
    await checked.fetch(QUERY, description, TIMEOUT, token=token)
    await unchecked.fetch(QUERY, description, TIMEOUT)  # local debugging: anyone may ask
    assert (checking.ran, open_door.ran) == (1, 1)


def test_a_fetch_token_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fetch-token.key"
    path.write_bytes(private_key_pem(ed25519.Ed25519PrivateKey.generate()))
    path.chmod(0o640)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 640\)"):
        FetchTokenSigner.from_key_file(path)
    path.chmod(0o600)
    assert FetchTokenSigner.from_key_file(path).kid
