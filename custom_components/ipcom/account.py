"""The Home Anywhere account service, reached with Home Assistant's shared HTTP session.

The library builds the SOAP calls and reads their answers (`ipcom.account`);
this module only carries them, under the same rules as the command line's
`AccountClient`: TLS verified, no redirect followed, each call bounded in
time (`REQUEST_TIMEOUT`) and in size (`MAX_RESPONSE_BYTES`), so a slow or
hostile service can neither hang a flow nor fill the memory. Failures are
the library's `AccountError`s, so the flows tell them apart by class, and
`error_key` names the form error of each.

The account's password is only ever in a request's body; no log line or
error text here holds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from ipcom.account import (
    MAX_RESPONSE_BYTES,
    REQUEST_TIMEOUT,
    SERVICE_URL,
    AccountAuthenticationError,
    AccountCertificateError,
    AccountConnectionError,
    AccountError,
    AccountNoIPComError,
    AccountNoSiteError,
    AccountRequestError,
    AccountResponseError,
    AccountSite,
    AccountTimeoutError,
    ImportedInstallation,
    SoapRequest,
    check_status,
    import_installations,
    login_request,
    parse_login_response,
    parse_site_response,
    session_cookie,
    site_request,
)

_LOGGER = logging.getLogger(__name__)

_READ_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class AccountLogin:
    """A login to the account: its sites, and the session cookie the site calls send back."""

    sites: tuple[AccountSite, ...]
    cookie: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Answer:
    body: bytes = field(repr=False)
    set_cookies: tuple[str, ...] = field(repr=False)


async def async_login(hass: HomeAssistant, username: str, password: str) -> AccountLogin:
    """Log in to the account and list its sites (`AccountAuthenticationError` if refused)."""
    answer = await _async_post(hass, login_request(username, password, url=SERVICE_URL))
    sites = await hass.async_add_executor_job(parse_login_response, answer.body)
    _LOGGER.debug("Logged in to the Home Anywhere account service: %d site(s)", len(sites))
    return AccountLogin(sites, session_cookie(answer.set_cookies))


async def async_site_installations(
    hass: HomeAssistant, login: AccountLogin, site: AccountSite
) -> tuple[ImportedInstallation, ...]:
    """The IPComs of a site the login listed, each with its settings and device map.

    Reading the answer and building the device maps is the library's work,
    done in the executor: a site's configuration may be megabytes of XML.
    """
    answer = await _async_post(hass, site_request(site, cookie=login.cookie, url=SERVICE_URL))
    return await hass.async_add_executor_job(_installations, site, answer.body)


def _installations(site: AccountSite, body: bytes) -> tuple[ImportedInstallation, ...]:
    return import_installations(site, parse_site_response(body))


def error_key(err: AccountError) -> str:
    """The form error for an account failure.

    A value that a request cannot carry can only be a username or password
    that the service would not know either.
    """
    if isinstance(err, AccountAuthenticationError | AccountRequestError):
        return "invalid_account_auth"
    if isinstance(err, AccountNoSiteError):
        return "account_no_site"
    if isinstance(err, AccountNoIPComError):
        return "account_no_ipcom"
    if isinstance(err, AccountConnectionError):
        return "account_unreachable"
    return "account_bad_answer"


async def _async_post(hass: HomeAssistant, request: SoapRequest) -> _Answer:
    """Send one call; any status but 200, and any transport failure, raises an `AccountError`."""
    where = f"the Home Anywhere account service at {urlsplit(request.url).hostname}"
    _LOGGER.debug("POST %s to %s", request.action, request.url)
    session = async_get_clientsession(hass)
    try:
        async with session.post(
            request.url,
            data=request.body,
            headers=dict(request.headers),
            allow_redirects=False,
            # The whole call, from connecting to the last byte; the shared session waits longer.
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        ) as response:
            if response.status != HTTPStatus.OK:
                check_status(request.action, response.status, await _async_error_body(response))
            return _Answer(
                await _async_read(response, request.action),
                tuple(response.headers.getall(aiohttp.hdrs.SET_COOKIE, ())),
            )
    except TimeoutError:
        raise AccountTimeoutError(
            f"{where} did not answer {request.action} within {REQUEST_TIMEOUT:g} s"
        ) from None
    except aiohttp.ClientConnectorCertificateError:
        raise AccountCertificateError(
            f"{where} could not be verified: its TLS certificate is not trusted; nothing was sent"
        ) from None
    except aiohttp.ClientSSLError:
        raise AccountConnectionError(f"{where}: the TLS connection failed") from None
    except aiohttp.ClientError as err:
        raise AccountConnectionError(f"cannot reach {where} ({type(err).__name__})") from None


async def _async_read(response: aiohttp.ClientResponse, action: str) -> bytes:
    """The answer's body, refused as soon as it is known to be larger than allowed."""
    too_large = AccountResponseError(
        f"the answer to {action} is larger than {MAX_RESPONSE_BYTES} bytes; refused"
    )
    if (response.content_length or 0) > MAX_RESPONSE_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise too_large
    return bytes(body)


async def _async_error_body(response: aiohttp.ClientResponse) -> bytes:
    """The body of an error answer, for its SOAP fault code; empty when it cannot be read."""
    try:
        return await _async_read(response, "an error answer")
    except (AccountError, aiohttp.ClientError):
        return b""
