"""The hub remembers verified tokens until they expire, and only verified ones."""

from __future__ import annotations

import pytest

from gateway.auth.errors import AuthenticationError, AuthenticationReason
from gateway.interceptors import authn
from gateway.interceptors.authn import AuthenticationInterceptor
from tests.unit._relief import relief_registry_and_token

NOW = 1_800_000_000.0


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[AuthenticationInterceptor, Clock, str, list[str]]:
    registry, token = relief_registry_and_token(now=NOW)
    calls: list[str] = []
    real = authn.verify_token  # type: ignore[attr-defined]

    def counting(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(authn, "verify_token", counting)
    clock = Clock()
    interceptor = AuthenticationInterceptor(
        registry, audience="sakha-hub", leeway_s=30, max_lifetime_s=3600, clock=clock
    )
    return interceptor, clock, token, calls


def test_a_reused_token_is_verified_once(
    setup: tuple[AuthenticationInterceptor, Clock, str, list[str]],
) -> None:
    interceptor, _, token, calls = setup
    first = interceptor.authenticate(token)
    second = interceptor.authenticate(token)
    assert first == second
    assert calls == [token]


def test_a_remembered_token_still_expires(
    setup: tuple[AuthenticationInterceptor, Clock, str, list[str]],
) -> None:
    interceptor, clock, token, _ = setup
    interceptor.authenticate(token)
    clock.now = NOW + 600 + 31
    with pytest.raises(AuthenticationError) as caught:
        interceptor.authenticate(token)
    assert caught.value.reason is AuthenticationReason.TOKEN_EXPIRED


def test_a_tampered_token_is_never_taken_from_the_cache(
    setup: tuple[AuthenticationInterceptor, Clock, str, list[str]],
) -> None:
    interceptor, _, token, _ = setup
    interceptor.authenticate(token)
    header, payload, signature = token.split(".")
    # Change one character inside the signature (its last characters carry padding bits, and
    # a fixed replacement can equal the original).
    changed = "B" if signature[10] == "A" else "A"
    forged = f"{header}.{payload}.{signature[:10]}{changed}{signature[11:]}"
    with pytest.raises(AuthenticationError):
        interceptor.authenticate(forged)
