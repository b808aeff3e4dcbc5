"""Tests for importing from the Home Anywhere account (ipcom.account, `ipcom import-account`).

They run against a fake of the service (fake_homeanywhere.py) over real TLS on
127.0.0.1, with a test CA made by the openssl command for the test session.
The shapes are the other IPCom integration's, not the vendor's; every name,
address and credential here is invented.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_homeanywhere import (
    Certificates,
    FakeAccount,
    FakeElement,
    FakeHomeAnywhere,
    FakeIPCom,
    FakeModule,
    FakeSite,
    envelope,
    fault_answer,
    login_answer,
    make_certificates,
    openssl_available,
    site_answer,
)

from ipcom import account
from ipcom.cli import main
from ipcom.devices import load_device_map, parse_device_map
from ipcom.errors import IPComError
from ipcom.models import OutputAddress
from ipcom.protocol import BusType

ACCOUNT_USER = "owner@example.invalid"
ACCOUNT_PASSWORD = "acc0unt-Pa55word"
IPCOM_PASSWORD = "ipc0m-Pa55"
MARKUP = "<&>\"'"
"""Every character XML escapes."""

pytestmark = pytest.mark.skipif(not openssl_available(), reason="needs the openssl command")


def home_site(**changes: Any) -> FakeSite:
    """A site with a light, a dimmer, an outlet, a shutter pair and an unknown graphic."""
    ipcom = FakeIPCom(
        password=IPCOM_PASSWORD,
        modules=[
            FakeModule(1, "Exo8", ["Hall", "Socket", "", "", "Fan"]),
            FakeModule(2, "ExoDim", ["Dining table"]),
            FakeModule(3, "ExoStore", ["Kitchen D", "Kitchen M"]),
        ],
    )
    site = FakeSite(
        id=7,
        name="Home",
        ipcoms=[ipcom],
        elements=[
            FakeElement("Hall lamp", "OutputLightBulb", "1,1,1"),
            FakeElement("Terrace socket", "OutputSocket", "1,1,2"),
            FakeElement("Dining table", "OutputLightBulb", "1,2,1", widget_type="Dimmable"),
            FakeElement("Kitchen shutter down", "OutputShutterDown", "1,3,1"),
            FakeElement("Kitchen shutter up", "OutputShutterUp", "1,3,2"),
            FakeElement("Fan", "OutputSomethingNew", "1,1,5"),
        ],
    )
    for name, value in changes.items():
        setattr(site, name, value)
    return site


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("trusted"))


@pytest.fixture(scope="session")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A server certificate from a CA that nothing trusts."""
    return make_certificates(tmp_path_factory.mktemp("untrusted"), "an unknown CA")


@pytest.fixture
def trust(certificates: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates.ca))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IPCOM_* or proxy settings from the developer's shell; a scratch working directory."""
    for name in list(os.environ):
        if name.startswith("IPCOM_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def serve(certificates: Certificates, *sites: FakeSite, **options: Any) -> FakeHomeAnywhere:
    accounts = {ACCOUNT_USER: FakeAccount(ACCOUNT_PASSWORD, list(sites))}
    return FakeHomeAnywhere(certificates, accounts, **options)


@pytest.fixture
def service(certificates: Certificates) -> Iterator[FakeHomeAnywhere]:
    with serve(certificates, home_site()) as running:
        yield running


def fetch(
    running: FakeHomeAnywhere,
    trust: ssl.SSLContext,
    user: str = ACCOUNT_USER,
    password: str = ACCOUNT_PASSWORD,
) -> account.ImportedInstallation:
    client = account.AccountClient(url=running.url, ssl_context=trust, timeout=10)
    site = account.select_site(client.login(user, password))
    return account.select_installation(
        account.import_installations(site, client.site_configuration(site))
    )


# A full import


def test_a_full_import_gives_the_connection_settings_and_a_device_map(
    service: FakeHomeAnywhere, trust: ssl.SSLContext
) -> None:
    installation = fetch(service, trust)

    assert (installation.site_id, installation.site_name, installation.name) == (7, "Home", "IPCom")
    assert (installation.host, installation.port) == ("192.0.2.10", 5000)
    assert (installation.remote_host, installation.remote_port) == ("example.invalid", 5001)
    assert installation.bus_types == {1: BusType.MINIDO}
    assert installation.tricom is False
    assert (installation.username, installation.password) == ("installer", IPCOM_PASSWORD)
    assert installation.registration_id == "TEST-0001"

    device_map = parse_device_map(installation.devices, "imported")
    hall = device_map.get("hall_lamp")
    assert hall is not None and hall.name == "Hall lamp"
    assert device_map.at(1, 1) is hall and not hall.dimmable  # type: ignore[union-attr]
    dining = device_map.at(2, 1)
    assert dining is not None and dining.dimmable  # type: ignore[union-attr]
    assert device_map.dimmer_modules() == {2}
    socket_entry = device_map.get("terrace_socket")
    assert socket_entry in device_map.switches
    assert socket_entry.device_class == "outlet"  # type: ignore[union-attr]
    (cover,) = device_map.covers
    assert (cover.up, cover.down) == (OutputAddress(3, 2), OutputAddress(3, 1))
    assert (cover.key, cover.name, cover.device_class) == (
        "kitchen_shutter",
        "Kitchen shutter",
        "shutter",
    )
    fan = device_map.at(1, 5)
    assert fan in device_map.switches
    assert any("OutputSomethingNew" in warning for warning in installation.warnings)
    assert installation.device_map == device_map


def test_the_requests_are_the_soap_calls_the_reference_code_sends(
    service: FakeHomeAnywhere, trust: ssl.SSLContext
) -> None:
    fetch(service, trust)

    login, site = service.calls
    assert login.action == "LoginNeo"
    assert login.headers["soapaction"] == '"http://tempuri.org/LoginNeo"'
    assert login.headers["content-type"] == "text/xml; charset=utf-8"
    assert login.arguments == {"username": ACCOUNT_USER, "passwordws": ACCOUNT_PASSWORD}
    assert site.action == "CheckSiteVersion"
    assert site.arguments == {"siteID": "7", "version": "7"}
    assert site.headers["cookie"] == "ASP.NET_SessionId=fakesession0123"


def test_two_buses_and_several_ipcoms() -> None:
    first = FakeIPCom(
        id=1,
        name="Main",
        bus2="BiBus",
        modules=[FakeModule(1, "Exo8", ["Hall"]), FakeModule(1, "Exo8", ["Barn"], bus=2)],
    )
    second = FakeIPCom(id=2, name="Annex", bus1="Other", modules=[FakeModule(1, "Exo8")])
    site = FakeSite(
        7,
        "Home",
        ipcoms=[first, second],
        elements=[
            FakeElement("Hall", "OutputLightBulb", "1,1,1", element_id=1),
            FakeElement("Barn", "OutputSocket", "2,1,1", element_id=1),
            FakeElement("Annex lamp", "OutputLightBulb", "1,1,3", element_id=2),
        ],
    )
    sites = account.parse_login_response(login_answer(42, [site]))
    installations = account.import_installations(
        sites[0], account.parse_site_response(site_answer(site))
    )

    with pytest.raises(account.AccountChoiceError) as choice:
        account.select_installation(installations)
    assert choice.value.choices == ("Main", "Annex") and choice.value.what == "IPCom"
    main_ipcom = account.select_installation(installations, "main")
    assert main_ipcom.bus_types == {1: BusType.MINIDO, 2: BusType.BIBUS}
    assert main_ipcom.devices["switches"]["barn"] == {
        "bus": 2,
        "module": 1,
        "output": 1,
        "display_name": "Barn",
        "device_class": "outlet",
    }
    assert main_ipcom.device_map.at(1, 1, bus=2) is not None
    annex = account.select_installation(installations, "2")
    assert annex.bus_types == {1: BusType.OTHER}
    assert list(annex.devices["lights"]) == ["annex_lamp"]


def test_shutter_relays_pair_by_name_across_modules_and_a_lone_relay_is_left_out() -> None:
    ipcom = FakeIPCom(modules=[FakeModule(4, "Exo8"), FakeModule(5, "Exo8")])
    site = FakeSite(
        7,
        "Home",
        ipcoms=[ipcom],
        elements=[
            FakeElement("Patio blind up", "OutputBlindUp", "1,4,8"),
            FakeElement("Patio blind down", "OutputBlindDown", "1,5,1"),
            FakeElement("Attic up", "OutputShutterUp", "1,5,4"),
        ],
    )
    (installation,) = account.import_installations(
        account.AccountSite(7, "Home", "7"), account.parse_site_response(site_answer(site))
    )

    (cover,) = installation.device_map.covers
    assert (cover.up, cover.down, cover.device_class) == (
        OutputAddress(4, 8),
        OutputAddress(5, 1),
        "blind",
    )
    assert cover.name == "Patio blind"
    assert any("Attic up" in warning and "left out" in warning for warning in installation.warnings)
    assert installation.device_map.at(5, 4) is None


# Escaping


def test_every_value_is_escaped_in_the_requests_and_survives_the_round_trip(
    certificates: Certificates, trust: ssl.SSLContext
) -> None:
    user, password = f"o{MARKUP}wner", f"p{MARKUP}w\rd"
    site = home_site(name=f"Home {MARKUP}", version=f"v{MARKUP}1")
    site.elements[0].name = f"Hall {MARKUP} lamp"
    accounts = {user: FakeAccount(password, [site])}
    with FakeHomeAnywhere(certificates, accounts) as running:
        installation = fetch(running, trust, user, password)

    login, site_call = running.calls
    assert login.arguments == {"username": user, "passwordws": password}
    assert b"o&lt;&amp;&gt;&quot;&apos;wner" in login.body
    assert b"p&lt;&amp;&gt;&quot;&apos;w&#13;d" in login.body
    assert site_call.arguments["version"] == f"v{MARKUP}1"
    assert installation.site_name == f"Home {MARKUP}"
    assert installation.device_map.get("hall_lamp").name == f"Hall {MARKUP} lamp"  # type: ignore[union-attr]


def test_a_value_xml_cannot_carry_is_refused_without_showing_it() -> None:
    with pytest.raises(account.AccountRequestError) as refused:
        account.login_request(ACCOUNT_USER, "bad\x01secret")
    assert "secret" not in str(refused.value)
    assert "position 4" in str(refused.value)


def test_the_login_request_parses_back_to_its_values() -> None:
    request = account.login_request(f"u{MARKUP}", f"p{MARKUP}")
    body = ET.fromstring(request.body).find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body/{http://tempuri.org/}LoginNeo"
    )
    assert body is not None
    assert [child.text for child in body] == [f"u{MARKUP}", f"p{MARKUP}"]
    assert request.url == account.SERVICE_URL
    assert "p<&>" not in repr(request)


def test_only_https_is_accepted() -> None:
    with pytest.raises(account.AccountRequestError, match="https"):
        account.login_request("u", "p", url="http://example.invalid/service.asmx")


def test_a_session_cookie_that_a_header_cannot_carry_is_dropped() -> None:
    assert account.session_cookie(["a=1; path=/", "b=2; HttpOnly"]) == "a=1; b=2"
    assert account.session_cookie(["evil=1\r\nX-Injected: 1"]) is None
    assert account.session_cookie([]) is None


# Answers that are refused


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<lolz>&lol3;</lolz>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY file SYSTEM "file:///etc/hostname">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<LoginNeoResponse xmlns="http://tempuri.org/"><LoginNeoResult><ID>&file;</ID>'
    b"</LoginNeoResult></LoginNeoResponse></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize("answer", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["expansion", "external"])
def test_an_answer_with_a_doctype_or_entity_is_refused(answer: bytes) -> None:
    with pytest.raises(account.AccountResponseError, match="DOCTYPE"):
        account.parse_login_response(answer)


def test_an_answer_with_a_doctype_is_refused_from_the_service(
    certificates: Certificates, trust: ssl.SSLContext
) -> None:
    with (
        serve(
            certificates, home_site(), answers={"CheckSiteVersion": (200, EXTERNAL_ENTITY)}
        ) as running,
        pytest.raises(account.AccountResponseError, match="DOCTYPE"),
    ):
        fetch(running, trust)


def test_an_oversized_answer_is_refused(certificates: Certificates, trust: ssl.SSLContext) -> None:
    huge = b"<a>" + b" " * account.MAX_RESPONSE_BYTES + b"</a>"
    with pytest.raises(account.AccountResponseError, match="larger than"):
        account.parse_site_response(huge)
    with (
        serve(certificates, home_site(), answers={"LoginNeo": (200, huge)}) as running,
        pytest.raises(account.AccountResponseError, match="larger than"),
    ):
        fetch(running, trust)


@pytest.mark.parametrize(
    ("action", "answer", "missing"),
    [
        ("CheckSiteVersion", envelope('<CheckSiteVersionResponse xmlns="http://tempuri.org/"/>'),
         "no CheckSiteVersionResult"),
        ("CheckSiteVersion", envelope("<Other/>"), "no CheckSiteVersionResponse"),
        ("LoginNeo", b"<html>maintenance</html>", "not a SOAP envelope"),
        ("LoginNeo", b"not xml at all", "not well-formed XML"),
        ("LoginNeo", login_answer(42, [FakeSite(0, "x")]).replace(b"<ID>0</ID>", b"<ID>x</ID>"),
         "FlashSite.ID is not a whole number"),
        ("CheckSiteVersion", fault_answer("soap:Server", IPCOM_PASSWORD),
         "SOAP fault 'soap:Server'"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_what_was_expected_says_what_is_missing(
    certificates: Certificates, trust: ssl.SSLContext, action: str, answer: bytes, missing: str
) -> None:
    with (
        serve(certificates, home_site(), answers={action: (200, answer)}) as running,
        pytest.raises(account.AccountResponseError) as failure,
    ):
        fetch(running, trust)
    assert missing in str(failure.value)
    assert IPCOM_PASSWORD not in str(failure.value)


def test_an_http_error_names_its_status_and_fault_code(
    certificates: Certificates, trust: ssl.SSLContext
) -> None:
    answer = (500, fault_answer("soap:Server", f"no such password {ACCOUNT_PASSWORD}"))
    with (
        serve(certificates, home_site(), answers={"LoginNeo": answer}) as running,
        pytest.raises(account.AccountHTTPError) as failure,
    ):
        fetch(running, trust)
    assert failure.value.status == 500
    assert "HTTP 500" in str(failure.value) and "soap:Server" in str(failure.value)
    assert ACCOUNT_PASSWORD not in str(failure.value)
    assert isinstance(failure.value, account.AccountConnectionError)


# The account's answers


def test_a_wrong_login_is_its_own_error(service: FakeHomeAnywhere, trust: ssl.SSLContext) -> None:
    with pytest.raises(account.AccountAuthenticationError) as failure:
        fetch(service, trust, password="wrong-Pa55")
    assert "wrong-Pa55" not in str(failure.value)
    assert isinstance(failure.value, IPComError)


def test_an_account_without_sites(certificates: Certificates, trust: ssl.SSLContext) -> None:
    with serve(certificates) as running, pytest.raises(account.AccountNoSiteError):
        fetch(running, trust)


def test_a_site_without_an_ipcom(certificates: Certificates, trust: ssl.SSLContext) -> None:
    with (
        serve(certificates, home_site(ipcoms=[])) as running,
        pytest.raises(account.AccountNoIPComError, match="'Home' has no IPCom"),
    ):
        fetch(running, trust)


def test_a_site_is_chosen_by_name_or_id() -> None:
    sites = (account.AccountSite(7, "Home", "1"), account.AccountSite(8, "Holiday home", "1"))
    with pytest.raises(account.AccountChoiceError) as choice:
        account.select_site(sites)
    assert choice.value.choices == ("Home", "Holiday home")
    assert account.select_site(sites, "holiday HOME").id == 8
    assert account.select_site(sites, "7").name == "Home"
    with pytest.raises(account.AccountChoiceError, match="no site named 'Office'"):
        account.select_site(sites, "Office")


# The transport


def test_an_unreachable_service(trust: ssl.SSLContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = account.AccountClient(url=f"https://127.0.0.1:{port}/x", ssl_context=trust, timeout=5)
    with pytest.raises(account.AccountConnectionError, match="cannot reach") as failure:
        client.login(ACCOUNT_USER, ACCOUNT_PASSWORD)
    assert not isinstance(failure.value, account.AccountTimeoutError)


def test_a_service_that_never_answers_times_out(trust: ssl.SSLContext) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/x"
        client = account.AccountClient(url=url, ssl_context=trust, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(account.AccountTimeoutError):
            client.login(ACCOUNT_USER, ACCOUNT_PASSWORD)
    assert time.monotonic() - started < 5


def test_an_untrusted_certificate_is_refused(
    untrusted: Certificates, trust: ssl.SSLContext
) -> None:
    with serve(untrusted, home_site()) as running:
        for context in (trust, None):
            client = account.AccountClient(url=running.url, ssl_context=context, timeout=5)
            with pytest.raises(account.AccountCertificateError, match="could not be verified"):
                client.login(ACCOUNT_USER, ACCOUNT_PASSWORD)
    assert running.calls == []


# No password anywhere


def test_no_password_in_reprs_errors_or_logs(
    service: FakeHomeAnywhere, trust: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    installation = fetch(service, trust)

    shown = [repr(installation), str(installation), *installation.warnings, caplog.text]
    shown.append(repr(account.login_request(ACCOUNT_USER, ACCOUNT_PASSWORD)))
    for text in shown:
        assert ACCOUNT_PASSWORD not in text
        assert IPCOM_PASSWORD not in text


# The command line


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"Run(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    certificates: Certificates,
) -> Any:
    """`ipcom` in-process, trusting the test CA (SSL_CERT_FILE), with the account's password
    in the environment; checks that no password reaches stdout, stderr or the log."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    monkeypatch.setenv("IPCOM_ACCOUNT_PASSWORD", ACCOUNT_PASSWORD)
    caplog.set_level(logging.DEBUG)

    def invoke(url: str, *argv: str, secrets: tuple[str, ...] = (IPCOM_PASSWORD,)) -> Run:
        monkeypatch.setenv("IPCOM_ACCOUNT_URL", url)
        code = main(["-v", "import-account", *argv])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        for secret in (ACCOUNT_PASSWORD, *secrets):
            assert secret not in captured.out
            assert secret not in captured.err
            assert secret not in caplog.text
        return Run(code, captured.out, captured.err)

    return invoke


def test_the_command_prints_a_devices_yaml_that_loads(
    run: Any, service: FakeHomeAnywhere, tmp_path: Path
) -> None:
    result = run(service.url, "--account-user", ACCOUNT_USER)

    assert result.code == 0, result
    path = tmp_path / "devices.yaml"
    path.write_text(result.out, encoding="utf-8")
    device_map = load_device_map(path)
    assert {entry.key for entry in device_map} == {
        "hall_lamp",
        "dining_table",
        "terrace_socket",
        "fan",
        "kitchen_shutter",
    }
    header = [line for line in result.out.splitlines() if line.startswith("#")]
    assert "#   --host 192.0.2.10 --port 5000" in header
    assert "#   --remote-host example.invalid --remote-port 5001" in header
    assert "#   --bus-type minido" in header
    assert "#   --username installer" in header
    assert any("not shown" in line and "--show-credentials" in line for line in header)
    assert "ipcom: warning:" in result.err and "OutputSomethingNew" in result.err


def test_the_command_shows_the_ipcom_password_only_when_asked(
    run: Any, service: FakeHomeAnywhere, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPCOM_ACCOUNT_USERNAME", ACCOUNT_USER)

    result = run(service.url, "--show-credentials", secrets=())

    assert result.code == 0, result
    assert f"#   password (IPCOM_PASSWORD): {IPCOM_PASSWORD}" in result.out.splitlines()


def test_the_command_lists_the_sites_without_site(run: Any, certificates: Certificates) -> None:
    sites = (home_site(), home_site(id=8, name=f"Holiday {MARKUP}"))
    with serve(certificates, *sites) as running:
        listed = run(running.url, "--account-user", ACCOUNT_USER)
        chosen = run(running.url, "--account-user", ACCOUNT_USER, "--site", f"Holiday {MARKUP}")

    assert listed.code == 2 and listed.out == ""
    assert "'Home'" in listed.err and "Holiday <&>" in listed.err and "--site" in listed.err
    assert chosen.code == 0, chosen
    assert "Holiday <&>" in chosen.out.splitlines()[0]
    assert "(ID 8)" in chosen.out.splitlines()[0]


def test_the_command_keeps_names_to_one_comment_line(
    run: Any, certificates: Certificates, tmp_path: Path
) -> None:
    site = home_site(name="Home\nlights: {evil: 1}\u2028x")
    site.ipcoms[0].name = "IPCom\r\nswitches: 1"
    with serve(certificates, site) as running:
        result = run(running.url, "--account-user", ACCOUNT_USER)

    assert result.code == 0, result
    document = yaml.safe_load(result.out)
    assert "evil" not in str(document) and set(document) == {"lights", "switches", "shutters"}


@pytest.mark.parametrize(
    ("sites", "password", "code", "message"),
    [
        ((home_site(),), "wrong-Pa55", 4, "rejected the username or password"),
        ((), ACCOUNT_PASSWORD, 2, "nothing to import: the Home Anywhere account has no site"),
        ((home_site(ipcoms=[]),), ACCOUNT_PASSWORD, 2, "nothing to import: the site 'Home'"),
    ],
    ids=["wrong-login", "no-site", "no-ipcom"],
)
def test_the_command_exit_codes(
    run: Any,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    sites: tuple[FakeSite, ...],
    password: str,
    code: int,
    message: str,
) -> None:
    monkeypatch.setenv("IPCOM_ACCOUNT_PASSWORD", password)
    with serve(certificates, *sites) as running:
        result = run(running.url, "--account-user", ACCOUNT_USER, secrets=(password,))

    assert result.code == code, result
    assert message in result.err
    assert result.out == ""


def test_the_command_cannot_reach_the_service(run: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(f"https://127.0.0.1:{port}/x", "--account-user", ACCOUNT_USER)
    assert result.code == 3 and "cannot reach" in result.err


def test_the_command_needs_the_user_and_the_password(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    result = run("https://127.0.0.1:9/x")
    assert result.code == 2 and "--account-user" in result.err
    monkeypatch.delenv("IPCOM_ACCOUNT_PASSWORD")
    result = run("https://127.0.0.1:9/x", "--account-user", ACCOUNT_USER)
    assert result.code == 2 and "IPCOM_ACCOUNT_PASSWORD" in result.err
