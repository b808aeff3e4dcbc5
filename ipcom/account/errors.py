"""The errors of importing from the Home Anywhere account, one class for each cause.

The command line maps each class to its own exit code, so the causes are
kept apart rather than told by the message.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import IPComError


class AccountError(IPComError):
    """Importing from the Home Anywhere account failed; the subclasses say why."""


class AccountAuthenticationError(AccountError):
    """The account service rejected the username or password."""


class AccountNoSiteError(AccountError):
    """The account has no site to import."""


class AccountChoiceError(AccountError):
    """Several sites (or IPComs) and none chosen, or none by the name given.

    `choices` are the names to choose from; `what` is "site" or "IPCom".
    """

    def __init__(self, message: str, choices: Sequence[str], *, what: str = "site") -> None:
        super().__init__(message)
        self.choices = tuple(choices)
        self.what = what


class AccountNoIPComError(AccountError):
    """The site has no IPCom, so there is no installation to import."""


class AccountConnectionError(AccountError):
    """The service cannot be reached, or the exchange with it failed."""


class AccountTimeoutError(AccountConnectionError):
    """The service did not answer within the timeout."""


class AccountCertificateError(AccountConnectionError):
    """The service's TLS certificate could not be verified; nothing was sent."""


class AccountHTTPError(AccountConnectionError):
    """The service answered with an HTTP status other than 200; `status` is that status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AccountResponseError(AccountError):
    """An answer that is not what was expected: the message says what is missing or wrong."""


class AccountRequestError(AccountError, ValueError):
    """A value that a request cannot carry (a character XML cannot hold)."""
