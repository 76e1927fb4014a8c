"""Methods any peer may call without a token: health probes and server reflection."""

from __future__ import annotations

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def is_open(method: str) -> bool:
    """True for health checks and reflection, which carry no personal data."""
    return method.startswith(OPEN_PREFIXES)
