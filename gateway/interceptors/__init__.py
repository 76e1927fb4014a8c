"""The hub's server interceptors, composed by :func:`hub_interceptors`.

Each is a :class:`adapters.interceptors.CallInterceptor` (the one wrapper, shared with the
adapter server) in a module of its own: :mod:`.authn`, :mod:`.deadline`, :mod:`.ratelimit`;
the malformed-input guard is shared with adapters and lives in :mod:`adapters.interceptors`.
:func:`caller_of` gives the servicer the caller authentication verified.
"""

from __future__ import annotations

from gateway.interceptors.caller import caller_of
from gateway.interceptors.chain import hub_interceptors

__all__ = ["caller_of", "hub_interceptors"]
