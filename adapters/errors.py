"""The adapter SDK's exceptions: one root, one line each."""

from __future__ import annotations


class AdapterError(Exception):
    """Root of every error an adapter reports."""


class AdapterConfigError(AdapterError):
    """An adapter's configuration is invalid; raised at start-up, never at query time."""


class UnknownAttributeError(AdapterError):
    """A query named an attribute or predicate the adapter does not serve."""


class QueryLimitError(AdapterError):
    """A query exceeded the adapter's limits (subjects, attributes, predicates)."""


class SourceFailureError(AdapterError):
    """The agency's own system failed while answering (database down, bad data)."""


class MalformedRequestError(AdapterError):
    """A request to an adapter is not well-formed; ``field`` is the offending field's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class MalformedResponseError(AdapterError):
    """An adapter's response is not well-formed; none of it may be used."""


class FetchTokenError(AdapterError):
    """A Fetch's token does not allow it; ``reason`` is the refusal's ``ErrorInfo`` reason."""

    reason = "TOKEN_INVALID"


class FetchTokenMissingError(FetchTokenError):
    """The Fetch carries no ``authorization: Bearer`` token."""

    reason = "TOKEN_MISSING"


class FetchTokenInvalidError(FetchTokenError):
    """The token is malformed, forged, signed by an unknown key, or not the hub's fetch token."""

    reason = "TOKEN_INVALID"


class FetchTokenExpiredError(FetchTokenError):
    """The token's ``exp`` has passed."""

    reason = "TOKEN_EXPIRED"


class FetchTokenNotYetValidError(FetchTokenError):
    """The token's ``iat`` is in the future (the hub's or the agency's clock is wrong)."""

    reason = "TOKEN_NOT_YET_VALID"


class WrongAgencyError(FetchTokenError):
    """The token was signed for another agency (``aud``)."""

    reason = "WRONG_AGENCY"


class WrongAttributesError(FetchTokenError):
    """The request asks attributes or predicates other than those the token allows."""

    reason = "WRONG_ATTRIBUTES"


class WrongSubjectsError(FetchTokenError):
    """The request's subjects are not exactly those the token allows, in order."""

    reason = "WRONG_SUBJECTS"


class WrongFetchError(FetchTokenError):
    """The token was signed for another fetch: another fetch id, purpose or as-of date."""

    reason = "WRONG_FETCH"
