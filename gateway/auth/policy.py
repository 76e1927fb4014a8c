"""Authorization: which authenticated caller may do what. Deny by default.

A policy raises :class:`PermissionDeniedError` on denial and returns None otherwise, so a
forgotten check cannot read as an allow. :class:`AccessPolicy` decides from the client
registry; :class:`UnsafeAllowAllPolicy` is for tests that are not about authorization, and
says so in the log when it is built.
"""

from __future__ import annotations

import logging
from typing import Protocol

from gateway.auth.errors import PermissionDeniedError, PermissionReason, RegistryError, quoted
from gateway.auth.registry import ClientRegistry, Organisation, Role
from gateway.auth.tokens import Caller

_LOG = logging.getLogger(__name__)


class Policy(Protocol):
    """What the hub asks before serving an authenticated caller; each method raises on denial."""

    def authorize_check(self, caller: Caller, program_id: str, purpose: str) -> None:
        """Allow ``caller`` to run ``program_id`` for ``purpose``, or raise."""
        ...

    def require_role(self, caller: Caller, role: Role) -> None:
        """Allow ``caller`` only if its organisation holds ``role``, or raise."""
        ...


class AccessPolicy:
    """The registry's rules: roles, and program + purpose pairs per organisation.

    Decisions read the policy's own registry by the caller's organisation id (not the
    :class:`Caller`'s copy), so the policy is the one source of what is allowed.

    Raises:
        RegistryError: on construction, when the registry lists no organisation (a policy
            that can allow nobody is a misconfiguration, not a safe default).
    """

    def __init__(self, registry: ClientRegistry) -> None:
        if not registry.organisations:
            raise RegistryError("the client registry lists no organisations: nobody could call")
        self._registry = registry

    def _organisation(self, caller: Caller) -> Organisation:
        try:
            organisation = self._registry.organisation(caller.organisation.id)
        except KeyError:
            raise PermissionDeniedError(
                PermissionReason.ORGANISATION_UNKNOWN,
                f"organisation {caller.organisation.id!r} is not in the client registry",
            ) from None
        if not organisation.enabled:
            raise PermissionDeniedError(
                PermissionReason.ORGANISATION_DISABLED,
                f"organisation {organisation.id!r} is disabled",
            )
        return organisation

    def require_role(self, caller: Caller, role: Role) -> None:
        """Raise PermissionDeniedError(ROLE_MISSING) unless the organisation holds ``role``."""
        organisation = self._organisation(caller)
        if not organisation.has_role(role):
            raise PermissionDeniedError(
                PermissionReason.ROLE_MISSING,
                f"organisation {organisation.id!r} does not hold the role {role.value!r}",
            )

    def authorize_check(self, caller: Caller, program_id: str, purpose: str) -> None:
        """Raise PermissionDeniedError unless the caller may check ``program_id`` for ``purpose``.

        The organisation needs the ``checker`` role and the program listed with that purpose;
        an organisation with no programs may check nothing.
        """
        self.require_role(caller, Role.CHECKER)
        organisation = self._organisation(caller)
        allowed = organisation.programs.get(program_id)
        if allowed is None:
            raise PermissionDeniedError(
                PermissionReason.PROGRAM_NOT_ALLOWED,
                f"organisation {organisation.id!r} may not check program {quoted(program_id)}",
            )
        if purpose not in allowed:
            raise PermissionDeniedError(
                PermissionReason.PURPOSE_NOT_ALLOWED,
                f"organisation {organisation.id!r} may check {program_id!r} only for "
                f"{', '.join(sorted(allowed))}, not {quoted(purpose)}",
            )


class UnsafeAllowAllPolicy:
    """Allows everything. For tests that are not about authorization; never for serving."""

    def __init__(self) -> None:
        _LOG.warning(
            "UnsafeAllowAllPolicy in use: every authenticated caller may do anything. "
            "This must never run outside tests."
        )

    def authorize_check(self, caller: Caller, program_id: str, purpose: str) -> None:
        """Allow."""

    def require_role(self, caller: Caller, role: Role) -> None:
        """Allow."""
