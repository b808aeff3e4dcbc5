"""The exceptions the library raises, so callers can tell failures apart."""

from __future__ import annotations


class IPComError(Exception):
    """Base class of every error the library raises on purpose."""


class IPComConnectionError(IPComError):
    """The installation cannot be reached, or the link to it is down."""


class IPComAuthenticationError(IPComError):
    """The installation rejected the username or password.

    Retrying with the same credentials cannot succeed, so nothing retries it.
    """


class IPComProtocolError(IPComError):
    """Bytes arrived that do not fit the protocol where they must."""
