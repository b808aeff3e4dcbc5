"""The account service's SOAP calls: building requests and reading answers safely.

Requests are built as plain values (`SoapRequest`) and answers are read from
their bytes, so that any transport can send them: `AccountClient` here, or
Home Assistant's own aiohttp session.
"""

from __future__ import annotations

import contextlib
import http
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NoReturn
from urllib.parse import urlsplit

from ..protocol import DEFAULT_BUS, DEFAULT_PORT, OUTPUTS_PER_MODULE
from .errors import (
    AccountAuthenticationError,
    AccountError,
    AccountHTTPError,
    AccountRequestError,
    AccountResponseError,
)
from .shown import shown

SERVICE_URL: Final = "https://www.homeanywhere.net/gateway/MyLoginService.asmx"
"""The account service's address (from the other integration's code)."""
SOAP_NAMESPACE: Final = "http://tempuri.org/"
"""The namespace of the service's operations; also the prefix of each SOAPAction."""
SOAP_ENVELOPE_NAMESPACE: Final = "http://schemas.xmlsoap.org/soap/envelope/"
LOGIN_ACTION: Final = "LoginNeo"
"""Logs in and lists the account's sites (`AllowedSites`)."""
SITE_ACTION: Final = "CheckSiteVersion"
"""Returns a site's configuration: its IPComs and its maps."""
MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
"""An answer larger than this is refused (ours: a site's configuration is text, not pictures)."""
_MAP_OUTPUT: Final = "output"
"""`FlashMapElement.Type` of an element that stands for an output (other types are ignored)."""

_ENVELOPE: Final = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<s:Envelope xmlns:s="{SOAP_ENVELOPE_NAMESPACE}">'
    '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    "{body}</s:Body></s:Envelope>"
)
_NOT_XML_CHARACTER: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
_XML_ESCAPE: Final = re.compile("[&<>\"'\r]")
_COOKIE_PAIR: Final = re.compile(
    r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
)
"""A cookie's ``name=value`` as RFC 6265 allows it; anything else is not sent back."""


# Models


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """One SOAP call to POST: `url`, `headers` and `body` (UTF-8 XML).

    The body of a login holds the account's password and the headers the
    session cookie, so neither is in the repr.
    """

    action: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class AccountSite:
    """A site of the account, as the login lists it (`FlashSite`: ID, Name, Version)."""

    id: int
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class AccountModule:
    """An output module of an IPCom (`FlashOutputModule`).

    `outputs` are the names of outputs 1..8 (`Output1`..`Output8`), empty for
    an output without one.
    """

    id: int
    number: int
    type: str
    bus: int
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccountIPCom:
    """An IPCom of the site (`FlashIPCom`), with its own login and its modules."""

    id: int
    registration_id: str
    name: str
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    bus1: str
    bus2: str
    username: str
    password: str = field(repr=False)
    modules: tuple[AccountModule, ...] = ()


@dataclass(frozen=True, slots=True)
class MapElement:
    """An element drawn on one of the site's maps (`FlashMapElement` of `Type` Output).

    `config` is `ElementConfig` read as (bus, module, output); None when it
    does not read so (`raw_config` is then what it said). `element_id` is
    the IPCom the element belongs to, as the other integration reads it.
    """

    id: int
    name: str
    type: str
    graphic_type: str
    widget_type: str
    element_id: int
    raw_config: str
    config: tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class SiteConfiguration:
    """A site's configuration, the answer to ``CheckSiteVersion``."""

    ipcoms: tuple[AccountIPCom, ...]
    map_elements: tuple[MapElement, ...]


# Building requests


def login_request(username: str, password: str, *, url: str = SERVICE_URL) -> SoapRequest:
    """The ``LoginNeo`` call: log in with the account's username and password."""
    body = (
        f'<{LOGIN_ACTION} xmlns="{SOAP_NAMESPACE}">'
        f"<username>{_xml_text(username, 'the account username')}</username>"
        f"<passwordws>{_xml_text(password, 'the account password')}</passwordws>"
        f"</{LOGIN_ACTION}>"
    )
    return _request(LOGIN_ACTION, body, url, cookie=None)


def site_request(
    site: AccountSite, *, cookie: str | None = None, url: str = SERVICE_URL
) -> SoapRequest:
    """The ``CheckSiteVersion`` call for a site the login listed.

    `cookie` is `session_cookie` of the login's answer: the other
    integration sends it back, so this does too. The site's version from the
    login is sent as it came.
    """
    body = (
        f'<{SITE_ACTION} xmlns="{SOAP_NAMESPACE}">'
        f"<siteID>{site.id:d}</siteID>"
        f"<version>{_xml_text(site.version, 'the site version')}</version>"
        f"</{SITE_ACTION}>"
    )
    return _request(SITE_ACTION, body, url, cookie=cookie)


def session_cookie(set_cookies: Iterable[str]) -> str | None:
    """The ``Cookie`` header to send after a login, from its ``Set-Cookie`` values.

    Each cookie's ``name=value`` is kept (its attributes are not); a value
    that a header cannot carry is dropped. None when there is none.
    """
    pairs: dict[str, str] = {}
    for header in set_cookies:
        pair = header.split(";", 1)[0].strip()
        if _COOKIE_PAIR.fullmatch(pair):
            name, value = pair.split("=", 1)
            pairs[name] = value
    return "; ".join(f"{name}={value}" for name, value in pairs.items()) or None


def _request(action: str, body: str, url: str, *, cookie: str | None) -> SoapRequest:
    if urlsplit(url).scheme != "https":
        raise AccountRequestError(f"the account service's address must be https://, got {url!r}")
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": f'"{SOAP_NAMESPACE}{action}"',
        "Cache-Control": "no-cache, max-age=0",
    }
    if cookie is not None:
        if session_cookie(cookie.split("; ")) != cookie:
            raise AccountRequestError("the session cookie cannot be carried in a header")
        headers["Cookie"] = cookie
    return SoapRequest(action, url, headers, _ENVELOPE.format(body=body).encode("utf-8"))


def _xml_text(value: str, what: str) -> str:
    """`value` as XML character data: every markup character escaped.

    A carriage return is written as a reference, since parsers turn a raw
    one into a line feed. A character XML 1.0 cannot hold at all is refused;
    the message names its position, never the value.
    """
    bad = _NOT_XML_CHARACTER.search(value)
    if bad is not None:
        raise AccountRequestError(
            f"{what} holds a character that XML cannot carry (at position {bad.start() + 1})"
        )
    return _XML_ESCAPE.sub(lambda match: _XML_ESCAPES.get(match[0], "&#13;"), value)


# Reading answers


def check_status(action: str, status: int, body: bytes = b"") -> None:
    """Raise `AccountHTTPError` for any status but 200, with the body's SOAP fault code if any."""
    if status == http.HTTPStatus.OK:
        return
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "unknown status"
    fault = _fault_code(body)
    detail = f", SOAP fault {fault}" if fault else ""
    raise AccountHTTPError(
        f"the Home Anywhere account service answered {action} with HTTP {status} "
        f"({reason}{detail})",
        status,
    )


def parse_login_response(body: bytes) -> tuple[AccountSite, ...]:
    """The account's sites from the answer to ``LoginNeo``.

    ``LoginNeoResult`` holds the user's `ID` and `AllowedSites`, a list of
    `FlashSite` (ID, Name, Version). The other integration reads an ID that
    is missing or 0 as a rejected login; so does this, and also a missing or
    nil result (how such services answer a null; assumed).
    """
    response = _operation_response(body, LOGIN_ACTION)
    result = _child(response, f"{LOGIN_ACTION}Result")
    user_id = None if result is None or _is_nil(result) else _child_text(result, "ID")
    if user_id is None or user_id in ("", "0"):
        raise AccountAuthenticationError(
            "the Home Anywhere account service rejected the username or password"
        )
    assert result is not None
    sites = []
    for element in _children(_child(result, "AllowedSites"), "FlashSite"):
        where = "LoginNeoResult.AllowedSites.FlashSite"
        site_id = _int(element, "ID", None, where)
        name = (_child_text(element, "Name") or "").strip() or f"site {site_id}"
        sites.append(AccountSite(site_id, name, _child_text(element, "Version") or ""))
    return tuple(sites)


def parse_site_response(body: bytes) -> SiteConfiguration:
    """A site's configuration from the answer to ``CheckSiteVersion``.

    ``CheckSiteVersionResult`` holds `IPComs` (a list of `FlashIPCom`) and
    `Maps` (a list of `FlashMap`, each with `Elements`, a list of
    `FlashMapElement`); only the elements of `Type` Output are kept.
    """
    response = _operation_response(body, SITE_ACTION)
    result = _child(response, f"{SITE_ACTION}Result")
    if result is None or _is_nil(result):
        raise AccountResponseError(
            f"the answer to {SITE_ACTION} has no {SITE_ACTION}Result: no site configuration"
        )
    ipcoms = tuple(
        _read_ipcom(element) for element in _children(_child(result, "IPComs"), "FlashIPCom")
    )
    elements: list[MapElement] = []
    for site_map in _children(_child(result, "Maps"), "FlashMap"):
        for element in _children(_child(site_map, "Elements"), "FlashMapElement"):
            if (_child_text(element, "Type") or "").strip().lower() == _MAP_OUTPUT:
                elements.append(_read_map_element(element))
    return SiteConfiguration(ipcoms, tuple(elements))


def _read_ipcom(element: ET.Element) -> AccountIPCom:
    where = "FlashIPCom"
    modules = []
    for module in _children(_child(element, "Modules"), "FlashOutputModule"):
        at = f"{where}.Modules.FlashOutputModule"
        modules.append(
            AccountModule(
                id=_int(module, "ID", 0, at),
                number=_int(module, "Number", None, at),
                type=(_child_text(module, "Type") or "").strip(),
                bus=_int(module, "BusNumber", DEFAULT_BUS, at),
                outputs=tuple(
                    (_child_text(module, f"Output{number}") or "").strip()
                    for number in range(1, OUTPUTS_PER_MODULE + 1)
                ),
            )
        )
    return AccountIPCom(
        id=_int(element, "ID", 0, where),
        registration_id=(_child_text(element, "RegistrationID") or "").strip(),
        name=(_child_text(element, "Name") or "").strip(),
        local_host=(_child_text(element, "LocalAddress") or "").strip(),
        local_port=_port(element, "LocalPort", where),
        remote_host=(_child_text(element, "RemoteAddress") or "").strip(),
        remote_port=_port(element, "RemotePort", where),
        bus1=(_child_text(element, "Bus1") or "").strip(),
        bus2=(_child_text(element, "Bus2") or "").strip(),
        username=_child_text(element, "Username") or "",
        password=_child_text(element, "Password") or "",
        modules=tuple(modules),
    )


def _read_map_element(element: ET.Element) -> MapElement:
    where = "FlashMapElement"
    raw_config = (_child_text(element, "ElementConfig") or "").strip()
    config: tuple[int, int, int] | None = None
    parts = [part.strip() for part in raw_config.split(",")]
    if len(parts) == 3 and all(part.isdecimal() and len(part) <= 3 for part in parts):
        config = (int(parts[0]), int(parts[1]), int(parts[2]))
    return MapElement(
        id=_int(element, "ID", 0, where),
        name=(_child_text(element, "Name") or "").strip(),
        type=(_child_text(element, "Type") or "").strip(),
        graphic_type=(_child_text(element, "GraphicType") or "").strip(),
        widget_type=(_child_text(element, "WidgetType") or "").strip(),
        element_id=_int(element, "ElementID", 0, where),
        raw_config=raw_config,
        config=config,
    )


class _DeclarationRefusedError(Exception):
    """Raised by the expat handlers to stop at a DOCTYPE or an entity declaration."""


def _refuse(*_args: object) -> NoReturn:
    raise _DeclarationRefusedError


def _parse_xml(body: bytes, action: str) -> ET.Element:
    """Parse an answer that declares no DOCTYPE and no entity, of bounded size.

    A first pass with expat stops at the start of a DOCTYPE (before any
    entity could be declared, let alone expanded); only a document without
    one is parsed into elements, so the second pass sees no entities but
    XML's five predefined ones and character references.
    """
    if len(body) > MAX_RESPONSE_BYTES:
        raise AccountResponseError(
            f"the answer to {action} is larger than {MAX_RESPONSE_BYTES} bytes; refused"
        )
    checker = xml.parsers.expat.ParserCreate()
    checker.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    checker.StartDoctypeDeclHandler = _refuse
    checker.EntityDeclHandler = _refuse
    checker.ExternalEntityRefHandler = _refuse
    try:
        checker.Parse(body, True)
    except _DeclarationRefusedError:
        raise AccountResponseError(
            f"the answer to {action} declares a DOCTYPE or an entity; refused unread"
        ) from None
    except xml.parsers.expat.ExpatError as err:
        raise AccountResponseError(
            f"the answer to {action} is not well-formed XML ({err})"
        ) from None
    return ET.fromstring(body)


def _operation_response(body: bytes, action: str) -> ET.Element:
    """The ``<action>Response`` element in the SOAP body; a fault or its absence raises."""
    root = _parse_xml(body, action)
    if _local(root.tag) != "Envelope":
        raise AccountResponseError(f"the answer to {action} is not a SOAP envelope")
    soap_body = _child(root, "Body")
    if soap_body is None:
        raise AccountResponseError(f"the answer to {action} has no SOAP Body")
    fault = _child(soap_body, "Fault")
    if fault is not None:
        code = shown((_child_text(fault, "faultcode") or "").strip() or "without a code")
        raise AccountResponseError(f"the service answered {action} with a SOAP fault {code}")
    response = _child(soap_body, f"{action}Response")
    if response is None:
        raise AccountResponseError(f"the answer to {action} has no {action}Response")
    return response


def _fault_code(body: bytes) -> str | None:
    """The SOAP fault code in an error answer, if it is one (its text is not shown)."""
    if not body:
        return None
    with contextlib.suppress(AccountError, ET.ParseError):
        root = _parse_xml(body, "a request")
        fault = _child(_child(root, "Body"), "Fault")
        if fault is not None:
            return shown((_child_text(fault, "faultcode") or "").strip())
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    """The first child of `element` with this local name, whatever its namespace."""
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: ET.Element, name: str) -> str | None:
    child = _child(element, name)
    if child is None or _is_nil(child):
        return None
    return child.text or ""


def _is_nil(element: ET.Element) -> bool:
    return any(
        _local(name) == "nil" and value.strip() == "true" for name, value in element.attrib.items()
    )


def _int(element: ET.Element, name: str, default: int | None, where: str) -> int:
    text = (_child_text(element, name) or "").strip()
    if not text:
        if default is None:
            raise AccountResponseError(f"the answer has a {where} without {name}")
        return default
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise AccountResponseError(f"{where}.{name} is not a whole number: {shown(text)}")
    return int(text)


def _port(element: ET.Element, name: str, where: str) -> int:
    """A port; the other integration's default 5000 when the answer gives none."""
    port = _int(element, name, DEFAULT_PORT, where)
    if not 1 <= port <= 65535:
        raise AccountResponseError(f"{where}.{name} is not a port 1..65535: {port}")
    return port
