"""Who may ask: client authentication, authorization and rate limits.

Pure code, no gRPC: the hub's interceptors call :func:`verify_token`, a :class:`Policy` and a
:class:`RateLimiter`, and map :class:`AuthError` subclasses to status codes in one table.

- :mod:`~gateway.auth.registry`: the client organisations, their keys, roles and programs;
- :mod:`~gateway.auth.tokens`: verifying bearer JWTs, and minting them for development;
- :mod:`~gateway.auth.policy`: what an authenticated caller may do;
- :mod:`~gateway.auth.ratelimit`: per-organisation token buckets;
- :mod:`~gateway.auth.errors`: the exceptions and their reason codes.
"""

from __future__ import annotations

from gateway.auth.errors import (
    AuthenticationError,
    AuthenticationReason,
    AuthError,
    KeyFileError,
    PermissionDeniedError,
    PermissionReason,
    RateLimitedError,
    RegistryError,
)
from gateway.auth.policy import AccessPolicy, Policy, UnsafeAllowAllPolicy
from gateway.auth.ratelimit import RateLimiter
from gateway.auth.registry import (
    ClientKey,
    ClientRegistry,
    Organisation,
    RateLimit,
    Role,
    dump_client_registry,
    load_client_registry,
)
from gateway.auth.tokens import (
    ALLOWED_ALGORITHMS,
    Caller,
    generate_client_key,
    issue_token,
    load_private_key,
    private_key_pem,
    verify_token,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AccessPolicy",
    "AuthError",
    "AuthenticationError",
    "AuthenticationReason",
    "Caller",
    "ClientKey",
    "ClientRegistry",
    "KeyFileError",
    "Organisation",
    "PermissionDeniedError",
    "PermissionReason",
    "Policy",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RegistryError",
    "Role",
    "UnsafeAllowAllPolicy",
    "dump_client_registry",
    "generate_client_key",
    "issue_token",
    "load_client_registry",
    "load_private_key",
    "private_key_pem",
    "verify_token",
]
