"""A fake Home Anywhere account service for tests: HTTPS on 127.0.0.1. Test-only.

It answers ``LoginNeo`` and ``CheckSiteVersion`` in the shapes that
ipcom.account reads, which come from the other IPCom integration's code
(not from the vendor, and not from a capture). Its certificates are made
at test time with the ``openssl`` command by `make_certificates`; every
host, name and credential in the tests is invented.
"""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

NAMESPACE = "http://tempuri.org/"
ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_PATH = "/gateway/MyLoginService.asmx"
SESSION_COOKIE = "ASP.NET_SessionId=fakesession0123"


# Certificates


@dataclass(frozen=True)
class Certificates:
    """A test CA and a server certificate for 127.0.0.1 signed by it."""

    ca: Path
    server: Path
    server_key: Path


_CA_CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {name}
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
_SERVER_EXTENSIONS = """
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def make_certificates(directory: Path, name: str = "ipcom test CA") -> Certificates:
    """A fresh CA and server certificate in `directory`, made with the openssl command."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.cnf").write_text(_CA_CONFIG.format(name=name))
    (directory / "server.ext").write_text(_SERVER_EXTENSIONS)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*arguments: str) -> None:
        subprocess.run(
            ["openssl", *arguments], cwd=directory, check=True, capture_output=True, timeout=60
        )

    openssl(
        "req", "-x509", *ec, "-config", "ca.cnf", "-extensions", "ca",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
    )  # fmt: skip
    openssl(
        "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "1", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")


# What the service knows


@dataclass
class FakeModule:
    number: int
    type: str
    outputs: Sequence[str] = ()
    bus: int = 1


@dataclass
class FakeElement:
    name: str
    graphic_type: str
    config: str
    element_id: int = 1
    type: str = "Output"
    widget_type: str = "Basic"


@dataclass
class FakeIPCom:
    id: int = 1
    name: str = "IPCom"
    registration_id: str = "TEST-0001"
    local_address: str = "192.0.2.10"
    local_port: int = 5000
    remote_address: str = "example.invalid"
    remote_port: int = 5001
    bus1: str = "Minido"
    bus2: str = "None"
    username: str = "installer"
    password: str = "secret"
    modules: list[FakeModule] = field(default_factory=list)


@dataclass
class FakeSite:
    id: int
    name: str
    version: str = "7"
    ipcoms: list[FakeIPCom] = field(default_factory=list)
    elements: list[FakeElement] = field(default_factory=list)


@dataclass
class FakeAccount:
    password: str
    sites: list[FakeSite]
    user_id: int = 42


@dataclass(frozen=True)
class ReceivedCall:
    """One request as it arrived: its SOAPAction, headers (lower-case names), raw body and
    parsed arguments."""

    action: str
    headers: Mapping[str, str]
    body: bytes
    arguments: Mapping[str, str]


# The answers


def _text(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def envelope(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{ENVELOPE}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{inner}</soap:Body></soap:Envelope>"
    ).encode()


def login_answer(user_id: int, sites: Sequence[FakeSite]) -> bytes:
    listed = "".join(
        "<FlashSite>"
        + _text("ID", site.id)
        + _text("Name", site.name)
        + _text("Version", site.version)
        + "</FlashSite>"
        for site in sites
    )
    return envelope(
        f'<LoginNeoResponse xmlns="{NAMESPACE}"><LoginNeoResult>'
        f"{_text('ID', user_id)}<AllowedSites>{listed}</AllowedSites>"
        "</LoginNeoResult></LoginNeoResponse>"
    )


def _module(module: FakeModule) -> str:
    outputs = "".join(
        _text(f"Output{number}", name) for number, name in enumerate(module.outputs, start=1)
    )
    return (
        "<FlashOutputModule>"
        + _text("ID", 100 + module.number)
        + _text("Number", module.number)
        + _text("Type", module.type)
        + _text("BusNumber", module.bus)
        + outputs
        + "</FlashOutputModule>"
    )


def _ipcom(ipcom: FakeIPCom) -> str:
    fields = {
        "ID": ipcom.id,
        "RegistrationID": ipcom.registration_id,
        "Name": ipcom.name,
        "LocalAddress": ipcom.local_address,
        "LocalPort": ipcom.local_port,
        "RemoteAddress": ipcom.remote_address,
        "RemotePort": ipcom.remote_port,
        "Bus1": ipcom.bus1,
        "Bus2": ipcom.bus2,
        "Username": ipcom.username,
        "Password": ipcom.password,
    }
    return (
        "<FlashIPCom>"
        + "".join(_text(tag, value) for tag, value in fields.items())
        + "<Modules>"
        + "".join(_module(module) for module in ipcom.modules)
        + "</Modules></FlashIPCom>"
    )


def _element(number: int, element: FakeElement) -> str:
    fields = {
        "ID": number,
        "Name": element.name,
        "Type": element.type,
        "GraphicType": element.graphic_type,
        "WidgetType": element.widget_type,
        "ElementID": element.element_id,
        "ElementConfig": element.config,
    }
    return (
        "<FlashMapElement>"
        + "".join(_text(tag, value) for tag, value in fields.items())
        + "</FlashMapElement>"
    )


def site_answer(site: FakeSite) -> bytes:
    elements = "".join(
        _element(number, element) for number, element in enumerate(site.elements, start=1)
    )
    return envelope(
        f'<CheckSiteVersionResponse xmlns="{NAMESPACE}"><CheckSiteVersionResult>'
        f"{_text('ID', site.id)}<IPComs>{''.join(_ipcom(ipcom) for ipcom in site.ipcoms)}</IPComs>"
        f"<Maps><FlashMap>{_text('Name', 'Ground floor')}<Elements>{elements}</Elements>"
        "</FlashMap></Maps></CheckSiteVersionResult></CheckSiteVersionResponse>"
    )


def fault_answer(code: str, text: str) -> bytes:
    return envelope(
        f"<soap:Fault>{_text('faultcode', code)}{_text('faultstring', text)}</soap:Fault>"
    )


# The server


class FakeHomeAnywhere:
    """The service on 127.0.0.1 over TLS, answering from `accounts`; start() and stop().

    `answers` replaces the answer to an action with (status, body), for
    answers the service should not give. `calls` records every request.
    """

    def __init__(
        self,
        certificates: Certificates,
        accounts: Mapping[str, FakeAccount],
        *,
        answers: Mapping[str, tuple[int, bytes]] | None = None,
    ) -> None:
        self.accounts = dict(accounts)
        self.answers = dict(answers or {})
        self.calls: list[ReceivedCall] = []
        self.errors: list[BaseException] = []
        self._sessions: dict[str, FakeAccount] = {}
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates.server, certificates.server_key)
        self._server = _Server(self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}{SERVICE_PATH}"

    def start(self) -> FakeHomeAnywhere:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()

    def __enter__(self) -> FakeHomeAnywhere:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def answer(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes, list[str]]:
        """The status, body and Set-Cookie headers for one request."""
        headers = {name.lower(): value for name, value in headers.items()}
        action = headers.get("soapaction", "").strip('"').removeprefix(NAMESPACE)
        call_element = ET.fromstring(body).find(f"{{{ENVELOPE}}}Body/{{{NAMESPACE}}}{action}")
        if call_element is None:
            return 500, fault_answer("soap:Client", "Server did not recognize the action"), []
        arguments = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in call_element}
        self.calls.append(ReceivedCall(action, dict(headers), body, arguments))
        if action in self.answers:
            status, answer = self.answers[action]
            return status, answer, []
        if action == "LoginNeo":
            account = self.accounts.get(arguments.get("username", ""))
            if account is None or account.password != arguments.get("passwordws"):
                return 200, login_answer(0, []), []
            self._sessions[SESSION_COOKIE] = account
            return (
                200,
                login_answer(account.user_id, account.sites),
                [f"{SESSION_COOKIE}; path=/; HttpOnly"],
            )
        if action == "CheckSiteVersion":
            account = self._sessions.get(headers.get("cookie", ""))
            if account is None:
                return 500, fault_answer("soap:Client", "Not logged in"), []
            for site in account.sites:
                if str(site.id) == arguments.get("siteID"):
                    return 200, site_answer(site), []
            return 500, fault_answer("soap:Server", "Unknown site"), []
        return 500, fault_answer("soap:Client", "Unknown action"), []


class _Server(http.server.HTTPServer):
    """One request at a time, each on its own TLS connection (HTTP/1.0 closes it)."""

    def __init__(self, service: FakeHomeAnywhere, context: ssl.SSLContext) -> None:
        self.service = service
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[Any, Any]:
        connection, address = super().get_request()
        connection.settimeout(5)
        wrapped = self.context.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A refused handshake (the client distrusts the certificate) is expected; keep it."""
        error = sys.exc_info()[1]
        if error is not None:
            self.service.errors.append(error)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.do_handshake()
        super().setup()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        status, answer, cookies = self.server.service.answer(dict(self.headers.items()), body)
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `calls`."""
