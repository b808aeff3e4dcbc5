"""`AccountClient`: the account service over `urllib`, blocking; the command line's transport.

TLS is verified, redirects are not followed, and each request is bounded in
time and in size, so a slow or hostile service cannot hang or flood the
command line.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from .errors import (
    AccountCertificateError,
    AccountConnectionError,
    AccountError,
    AccountResponseError,
    AccountTimeoutError,
)
from .shown import shown
from .soap import (
    MAX_RESPONSE_BYTES,
    SERVICE_URL,
    AccountSite,
    SiteConfiguration,
    SoapRequest,
    check_status,
    login_request,
    parse_login_response,
    parse_site_response,
    session_cookie,
    site_request,
)

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT: Final = 20.0
"""Seconds `AccountClient` waits to connect, for each read, and for a whole answer (ours)."""
_READ_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class SoapResponse:
    """What `AccountClient.post` received: the status, the body and any Set-Cookie values."""

    status: int
    body: bytes = field(repr=False)
    set_cookies: tuple[str, ...] = field(default=(), repr=False)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the error it is here: following it could leave TLS."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class AccountClient:
    """The account service over `urllib`, blocking; the command line's transport.

    TLS is verified with `ssl_context`, by default the system's trusted
    certificates (`ssl.create_default_context()`); redirects are not
    followed. Each request waits at most `timeout` seconds to connect and
    for each read, and at most that long for the whole answer after its
    start. The session cookie of the login is sent with the calls after it.
    """

    def __init__(
        self,
        *,
        url: str = SERVICE_URL,
        timeout: float = REQUEST_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        context = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirect()
        )
        self._cookie: str | None = None

    def login(self, username: str, password: str) -> tuple[AccountSite, ...]:
        """Log in and return the account's sites; keeps the session cookie for what follows."""
        response = self.post(login_request(username, password, url=self.url))
        sites = parse_login_response(response.body)
        self._cookie = session_cookie(response.set_cookies)
        _LOGGER.debug("logged in to the Home Anywhere account service: %d site(s)", len(sites))
        return sites

    def site_configuration(self, site: AccountSite) -> SiteConfiguration:
        """The configuration of a site that `login` listed."""
        response = self.post(site_request(site, cookie=self._cookie, url=self.url))
        return parse_site_response(response.body)

    def post(self, request: SoapRequest) -> SoapResponse:
        """Send one call; a status other than 200 raises `AccountHTTPError`."""
        _LOGGER.debug("POST %s to %s", request.action, request.url)
        host = urlsplit(request.url).hostname or request.url
        where = f"the Home Anywhere account service at {host}"
        prepared = urllib.request.Request(
            request.url, data=request.body, headers=dict(request.headers), method="POST"
        )
        try:
            with self._opener.open(prepared, timeout=self.timeout) as answer:
                body = self._read(answer, request.action, where)
                return SoapResponse(
                    answer.status, body, tuple(answer.headers.get_all("Set-Cookie") or ())
                )
        except urllib.error.HTTPError as err:
            body = b""
            try:
                with contextlib.suppress(OSError, http.client.HTTPException, AccountError):
                    body = self._read(err, request.action, where)
            finally:
                err.close()
            check_status(request.action, err.code, body)
            raise AssertionError("an HTTP error has a status other than 200") from None
        except urllib.error.URLError as err:
            raise _connection_error(err.reason, where) from None
        except (OSError, http.client.HTTPException) as err:
            raise _connection_error(err, where) from None

    def _read(self, answer: Any, action: str, where: str) -> bytes:
        length = answer.headers.get("Content-Length")
        if length is not None and length.strip().isdecimal() and int(length) > MAX_RESPONSE_BYTES:
            raise AccountResponseError(
                f"the answer to {action} is larger than {MAX_RESPONSE_BYTES} bytes; refused"
            )
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk: bytes = answer.read1(_READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise AccountResponseError(
                    f"the answer to {action} is larger than {MAX_RESPONSE_BYTES} bytes; refused"
                )
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise AccountTimeoutError(
                    f"{where} did not finish its answer to {action} within {self.timeout:g} s"
                )


def _connection_error(reason: object, where: str) -> AccountConnectionError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return AccountCertificateError(
            f"{where} could not be verified ({reason.verify_message}); nothing was sent"
        )
    if isinstance(reason, TimeoutError):
        return AccountTimeoutError(f"{where} did not answer in time")
    if isinstance(reason, ssl.SSLError):
        return AccountConnectionError(f"{where}: the TLS connection failed ({reason.reason})")
    if isinstance(reason, OSError):
        return AccountConnectionError(
            f"cannot reach {where}: {reason.strerror or type(reason).__name__}"
        )
    return AccountConnectionError(f"cannot reach {where}: {shown(str(reason))}")
