"""Importing from the Home Anywhere account inside Home Assistant: the config flow's account
steps and the `account` subentry flow.

The account service is the fake of the library tests (tests/ipcom/fake_homeanywhere.py)
over real TLS on 127.0.0.1, with a test CA made by the openssl command. Home Assistant's
shared session keeps verifying certificates: it is only made to trust that CA as well. The
IPCom the account gives is the simulator, so the connection check is the real one. Every
name, address and credential here is invented.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    SERVICE_OPEN_COVER,
    SERVICE_STOP_COVER,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.util import ssl as ssl_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import (
    CONF_BUS_2_TYPE,
    CONF_BUS_TYPE,
    CONF_DEVICES_FILE,
    CONF_REMOTE_HOST,
    CONF_REMOTE_PORT,
    CONF_REVERSE_PAUSE,
    CONF_SERIAL,
    CONF_TRICOM,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.ipcom.subentries import entry_records
from ipcom.simulator import Simulator
from tests.ipcom.fake_homeanywhere import (
    Certificates,
    FakeAccount,
    FakeElement,
    FakeHomeAnywhere,
    FakeIPCom,
    FakeModule,
    FakeSite,
    fault_answer,
    make_certificates,
    openssl_available,
)

from .conftest import (
    ENTRY_ID,
    PASSWORD,
    USERNAME,
    assert_written,
    entity_id_of,
    get_installation,
    subentry_id_of,
)

ACCOUNT_USER = "owner@example.invalid"
ACCOUNT_PASSWORD = "acc0unt-Pa55word"
IPCOM_PASSWORD = "ipc0m-Pa55"
"""The IPCom's own password when a test sets the simulator to one that shows in any text."""

pytestmark = pytest.mark.skipif(not openssl_available(), reason="needs the openssl command")


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("account-trusted"))


@pytest.fixture(autouse=True)
def trust_the_test_ca(certificates: Certificates) -> Generator[None]:
    """Home Assistant's shared session verifies TLS with a context that also trusts the test CA.

    The connector of the shared session takes its context from
    `ssl_util.client_context` when it is first made; here that context is a
    fresh verifying one that knows one more CA, so verification stays on.
    """

    def client_context(*args: Any) -> ssl.SSLContext:
        context = ssl_util.create_client_context(*args)
        context.load_verify_locations(cafile=str(certificates.ca))
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
        return context

    with patch("homeassistant.helpers.aiohttp_client.ssl_util.client_context", client_context):
        yield


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep created entries from connecting: these tests are about the flows."""
    with patch("custom_components.ipcom.async_setup_entry", return_value=True) as mock:
        yield mock


@contextmanager
def serving(
    certificates: Certificates, *sites: FakeSite, **options: Any
) -> Iterator[FakeHomeAnywhere]:
    """The fake service with one account holding `sites`, and the integration pointed at it."""
    accounts = {ACCOUNT_USER: FakeAccount(ACCOUNT_PASSWORD, list(sites))}
    with (
        FakeHomeAnywhere(certificates, accounts, **options) as running,
        patch("custom_components.ipcom.account.SERVICE_URL", running.url),
    ):
        yield running


def home_ipcom(simulator: Simulator, **changes: Any) -> FakeIPCom:
    """The simulator as the account knows it: one Minido bus; relay, dimmer and shutter modules."""
    ipcom = FakeIPCom(
        name="Home IPCom",
        local_address=simulator.host,
        local_port=simulator.port,
        remote_address="remote.example.invalid",
        remote_port=5001,
        username=USERNAME,
        password=PASSWORD,
        modules=[
            FakeModule(1, "Exo8", ["Hall", "Socket"]),
            FakeModule(2, "ExoDim", ["Dining table"]),
            FakeModule(3, "ExoStore", ["Kitchen D", "Kitchen M"]),
        ],
    )
    for name, value in changes.items():
        setattr(ipcom, name, value)
    return ipcom


HOME_ELEMENTS = [
    FakeElement("Hall lamp", "OutputLightBulb", "1,1,1"),
    FakeElement("Terrace socket", "OutputSocket", "1,1,2"),
    FakeElement("Dining table", "OutputLightBulb", "1,2,1", widget_type="Dimmable"),
    FakeElement("Kitchen shutter down", "OutputShutterDown", "1,3,1"),
    FakeElement("Kitchen shutter up", "OutputShutterUp", "1,3,2"),
]


def home_site(simulator: Simulator, **changes: Any) -> FakeSite:
    """A site whose one IPCom is the simulator: two lights, a socket and a shutter."""
    return FakeSite(
        id=7, name="Home", ipcoms=[home_ipcom(simulator, **changes)], elements=list(HOME_ELEMENTS)
    )


STORED_INSTALLATION = {
    CONF_BUS_TYPE: "minido",
    CONF_TRICOM: False,
    CONF_BUS_2_TYPE: "none",
    CONF_REMOTE_HOST: "remote.example.invalid",
    CONF_REMOTE_PORT: 5001,
    CONF_SERIAL: "",
}
"""What an entry imported from `home_site` stores besides the address and the login."""


def stored_data(simulator: Simulator, **changes: Any) -> dict[str, Any]:
    """The data of an entry imported from `home_site`."""
    return {
        CONF_HOST: simulator.host,
        CONF_PORT: simulator.port,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        **STORED_INSTALLATION,
        **changes,
    }


async def start_account(hass: HomeAssistant) -> FlowResult:
    """Start the user flow and choose the account in its menu: the account's login form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "account"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "account"
    return result


async def log_in(
    hass: HomeAssistant, result: FlowResult, password: str = ACCOUNT_PASSWORD
) -> FlowResult:
    """Send the account's login from its form."""
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: ACCOUNT_USER, CONF_PASSWORD: password}
    )


def options_of(result: FlowResult, field: str) -> dict[str, str]:
    """The choices of a select field, label by value."""
    (selector,) = (
        value for key, value in result["data_schema"].schema.items() if str(key) == field
    )
    return {option["value"]: option["label"] for option in selector.config["options"]}


def devices_of(entry: Any) -> dict[str, tuple[str, str]]:
    """The entry's devices as address: (kind, name)."""
    return {record.unique_id: (record.kind, record.title) for record in entry_records(entry)}


HOME_DEVICES = {
    "1-1-1": ("light", "Hall lamp"),
    "1-2-1": ("light", "Dining table"),
    "1-1-2": ("switch", "Terrace socket"),
    "1-3-2": ("shutter", "Kitchen shutter"),
}
"""The devices `home_site` gives, by address."""


# The config flow


@pytest.mark.usefixtures("devices_file")
async def test_import_creates_the_entry_and_its_devices(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    mock_setup_entry: AsyncMock,
) -> None:
    """One site with one IPCom: login, confirmation, checked connection, entry with subentries.

    A devices file at the default place is not named: the devices come from
    the account.
    """
    with serving(certificates, home_site(simulator)) as service:
        result = await log_in(hass, await start_account(hass))
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "account_confirm"
        placeholders = result["description_placeholders"]
        assert placeholders["site"] == "Home"
        assert placeholders["ipcom"] == "Home IPCom"
        assert placeholders["address"] == f"{simulator.host}:{simulator.port}"
        assert placeholders["remote"] == "remote.example.invalid:5001"
        assert (placeholders["bus_type"], placeholders["bus_2_type"]) == ("minido", "-")
        assert (placeholders["lights"], placeholders["light_names"]) == (
            "2",
            "Hall lamp, Dining table",
        )
        assert (placeholders["switches"], placeholders["switch_names"]) == ("1", "Terrace socket")
        assert (placeholders["shutters"], placeholders["shutter_names"]) == (
            "1",
            "Kitchen shutter",
        )
        assert placeholders["warnings"] == "-"

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IPCom {simulator.host}:{simulator.port}"
    assert result["data"] == stored_data(simulator)
    assert CONF_DEVICES_FILE not in result["data"]
    assert result["options"] == {
        CONF_UNAVAILABLE_AFTER: DEFAULT_UNAVAILABLE_AFTER,
        CONF_REVERSE_PAUSE: DEFAULT_REVERSE_PAUSE,
    }
    entry = result["result"]
    assert devices_of(entry) == HOME_DEVICES
    dining = next(record for record in entry_records(entry) if record.unique_id == "1-2-1")
    assert dining.data["dimmable"] is True
    assert simulator.connections_accepted == 1
    assert len(mock_setup_entry.mock_calls) == 1
    assert [call.action for call in service.calls] == ["LoginNeo", "CheckSiteVersion"]
    assert service.calls[1].headers["cookie"] == "ASP.NET_SessionId=fakesession0123"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_several_sites_and_ipcoms_are_chosen(
    hass: HomeAssistant, simulator: Simulator, certificates: Certificates
) -> None:
    """The site and the IPCom are chosen in turn; a site without IPCom says so at the choice.

    With several IPComs, each has only the map elements that name it.
    """
    other = home_ipcom(simulator, id=2, name="Garage IPCom", local_address="192.0.2.20", modules=[])
    sites = [
        FakeSite(id=1, name="Empty"),
        FakeSite(
            id=7,
            name="Home",
            ipcoms=[other, home_ipcom(simulator, id=3)],
            elements=[
                FakeElement("Garage door", "OutputLightBulb", "1,5,1", element_id=2),
                *(
                    FakeElement(
                        e.name, e.graphic_type, e.config, element_id=3, widget_type=e.widget_type
                    )
                    for e in HOME_ELEMENTS
                ),
            ],
        ),
    ]
    with serving(certificates, *sites):
        result = await log_in(hass, await start_account(hass))
        assert result["step_id"] == "account_site"
        assert options_of(result, "site") == {"0": "Empty", "1": "Home"}

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {"site": "0"})
        assert result["step_id"] == "account_site"
        assert result["errors"] == {"base": "account_no_ipcom"}

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {"site": "1"})
        assert result["step_id"] == "account_ipcom"
        assert result["description_placeholders"]["site"] == "Home"
        assert options_of(result, "ipcom") == {
            "0": "Garage IPCom (192.0.2.20)",
            "1": f"Home IPCom ({simulator.host})",
        }

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {"ipcom": "1"})
        assert result["step_id"] == "account_confirm"
        assert "Garage door" not in result["description_placeholders"]["light_names"]
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == stored_data(simulator)
    assert devices_of(result["result"]) == HOME_DEVICES


@pytest.mark.usefixtures("mock_setup_entry")
async def test_a_wrong_account_login_is_said_and_can_be_corrected(
    hass: HomeAssistant, simulator: Simulator, certificates: Certificates
) -> None:
    """The service's refusal shows at the login form, which keeps the username."""
    with serving(certificates, home_site(simulator)):
        result = await log_in(hass, await start_account(hass), password="wrong")
        assert result["step_id"] == "account"
        assert result["errors"] == {"base": "invalid_account_auth"}
        (username,) = (key for key in result["data_schema"].schema if str(key) == CONF_USERNAME)
        assert username.description == {"suggested_value": ACCOUNT_USER}

        result = await log_in(hass, result)
        assert result["step_id"] == "account_confirm"


@pytest.mark.parametrize(
    ("sites", "error"),
    [
        ([], "account_no_site"),
        ([FakeSite(id=7, name="Home")], "account_no_ipcom"),
    ],
)
async def test_nothing_to_import(
    hass: HomeAssistant,
    certificates: Certificates,
    sites: list[FakeSite],
    error: str,
) -> None:
    """An account without a site, or whose one site has no IPCom, is said at the login."""
    with serving(certificates, *sites):
        result = await log_in(hass, await start_account(hass))
    assert result["step_id"] == "account"
    assert result["errors"] == {"base": error}


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_service(hass: HomeAssistant, closed_port: int) -> None:
    """Nothing listening is said at the login form, with where it was tried."""
    url = f"https://127.0.0.1:{closed_port}/gateway/MyLoginService.asmx"
    with patch("custom_components.ipcom.account.SERVICE_URL", url):
        result = await log_in(hass, await start_account(hass))
    assert result["errors"] == {"base": "account_unreachable"}
    assert "127.0.0.1" in result["description_placeholders"]["error"]


async def test_a_service_that_does_not_answer_in_time(hass: HomeAssistant) -> None:
    """A service that takes the connection but never answers is given up after the timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/gateway/MyLoginService.asmx"
        with (
            patch("custom_components.ipcom.account.SERVICE_URL", url),
            patch("custom_components.ipcom.account.REQUEST_TIMEOUT", 0.5),
        ):
            result = await log_in(hass, await start_account(hass))
    assert result["errors"] == {"base": "account_unreachable"}
    assert "did not answer" in result["description_placeholders"]["error"]


async def test_an_untrusted_certificate_is_refused(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    """A service whose certificate no trusted CA signed is not talked to: verification is on."""
    untrusted = make_certificates(tmp_path / "untrusted", "an unknown CA")
    with serving(untrusted, home_site(simulator)) as service:
        result = await log_in(hass, await start_account(hass))
    assert result["errors"] == {"base": "account_unreachable"}
    assert "not trusted" in result["description_placeholders"]["error"]
    assert not service.calls


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((500, fault_answer("soap:Server", "Server was unable to process")), "account_unreachable"),
        ((302, b""), "account_unreachable"),
        ((200, b"<not xml"), "account_bad_answer"),
        ((200, b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), "account_bad_answer"),
    ],
)
async def test_answers_that_cannot_be_used(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    answer: tuple[int, bytes],
    error: str,
) -> None:
    """An HTTP error or a redirect (not followed) cannot be used; nor can an answer that is not
    the service's."""
    with serving(certificates, home_site(simulator), answers={"LoginNeo": answer}):
        result = await log_in(hass, await start_account(hass))
    assert result["errors"] == {"base": error}


async def test_an_oversized_answer_is_refused(
    hass: HomeAssistant, simulator: Simulator, certificates: Certificates
) -> None:
    """An answer larger than the library allows is refused, not read to its end."""
    with (
        serving(certificates, home_site(simulator)),
        patch("custom_components.ipcom.account.MAX_RESPONSE_BYTES", 100),
    ):
        result = await log_in(hass, await start_account(hass))
    assert result["errors"] == {"base": "account_bad_answer"}
    assert "larger than 100 bytes" in result["description_placeholders"]["error"]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_missing_ipcom_credentials_are_asked_for(
    hass: HomeAssistant, simulator: Simulator, certificates: Certificates
) -> None:
    """Without the IPCom's login in the account, the flow asks for it and checks it."""
    simulator.set_credentials("installer", IPCOM_PASSWORD)
    with serving(certificates, home_site(simulator, username="", password="")):
        result = await log_in(hass, await start_account(hass))
        assert "enter them" in result["description_placeholders"]["warnings"]
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "account_connection"
    assert result["errors"] == {}
    schema = result["data_schema"].schema
    assert [str(key) for key in schema] == [CONF_HOST, CONF_PORT, CONF_USERNAME, CONF_PASSWORD]
    suggested = {str(key): key.description for key in schema if key.description}
    assert suggested == {
        CONF_HOST: {"suggested_value": simulator.host},
        CONF_PORT: {"suggested_value": simulator.port},
    }

    address = {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**address, CONF_USERNAME: "installer", CONF_PASSWORD: "wrong"}
    )
    assert result["step_id"] == "account_connection"
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**address, CONF_USERNAME: "installer", CONF_PASSWORD: IPCOM_PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == stored_data(
        simulator, **{CONF_USERNAME: "installer", CONF_PASSWORD: IPCOM_PASSWORD}
    )
    assert devices_of(result["result"]) == HOME_DEVICES


@pytest.mark.usefixtures("mock_setup_entry")
async def test_a_missing_or_wrong_address_is_asked_for(
    hass: HomeAssistant, simulator: Simulator, certificates: Certificates, closed_port: int
) -> None:
    """Without a local address the flow asks for it alone; one that does not answer is asked
    again, and the login the account gave is kept.

    The account gives no remote address here: the check would try it when
    the local one fails.
    """
    with serving(certificates, home_site(simulator, local_address="", remote_address="")):
        result = await log_in(hass, await start_account(hass))
        assert result["description_placeholders"]["address"] == "-"
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "account_connection"
    assert [str(key) for key in result["data_schema"].schema] == [CONF_HOST, CONF_PORT]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: simulator.host, CONF_PORT: closed_port}
    )
    assert result["step_id"] == "account_connection"
    assert result["errors"] == {"base": "cannot_connect"}
    assert [str(key) for key in result["data_schema"].schema] == [CONF_HOST, CONF_PORT]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == stored_data(
        simulator, **{CONF_REMOTE_HOST: "", CONF_REMOTE_PORT: 5000}
    )


async def test_an_installation_set_up_already_is_refused(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The same host and port as an entry's abort, before the confirmation."""
    mock_config_entry.add_to_hass(hass)
    with serving(certificates, home_site(simulator)):
        result = await log_in(hass, await start_account(hass))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert simulator.connections_accepted == 0


@pytest.mark.usefixtures("mock_setup_entry")
async def test_no_password_in_logs_or_results(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither the account's password nor the IPCom's shows in a log line or a flow result."""
    caplog.set_level(logging.DEBUG)
    simulator.set_credentials("installer", IPCOM_PASSWORD)
    results: list[FlowResult] = []
    with serving(certificates, home_site(simulator, username="installer", password=IPCOM_PASSWORD)):
        results.append(await log_in(hass, await start_account(hass), password="wrong"))
        results.append(await log_in(hass, results[-1]))
        results.append(await hass.config_entries.flow.async_configure(results[-1]["flow_id"], {}))
    assert results[-1]["type"] is FlowResultType.CREATE_ENTRY
    assert results[-1]["data"][CONF_PASSWORD] == IPCOM_PASSWORD
    for secret in (ACCOUNT_PASSWORD, IPCOM_PASSWORD):
        assert secret not in caplog.text
        for result in results[:-1]:
            assert secret not in str(result)
    assert ACCOUNT_PASSWORD not in str(results[-1]["result"].as_dict())
    assert "LoginNeo" in caplog.text, "the exchange was logged, without the passwords"


async def reopen(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """Open a config flow in progress again, as the frontend does when it shows one anew.

    The frontend fetches the flow (`GET /api/config/config_entries/flow/<id>`),
    which continues it without input: its current step runs with `None`.
    """
    return await hass.config_entries.flow.async_configure(result["flow_id"])


def suggested_values(result: FlowResult) -> dict[str, Any]:
    """What a form fills in for the user, by field."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


@pytest.mark.usefixtures("mock_setup_entry")
async def test_a_reopened_account_flow_shows_the_same_form(
    hass: HomeAssistant, simulator: Simulator, certificates: Certificates
) -> None:
    """Each step of the account import, opened again, is the form it was, and goes on from there.

    The site and IPCom choices list the same sites and IPComs, without the
    error of an earlier choice; the confirmation shows the same import; the
    form asking for the IPCom's login keeps the address the account gave and,
    after a refused login, the username typed (never the password). Nothing
    is fetched from the account again, and the entry made at the end is the
    one the choices described.
    """
    simulator.set_credentials("installer", IPCOM_PASSWORD)
    garage = home_ipcom(
        simulator, id=2, name="Garage IPCom", local_address="192.0.2.20", modules=[]
    )
    home = home_ipcom(simulator, id=3, username="", password="")
    sites = [
        FakeSite(id=1, name="Empty"),
        FakeSite(
            id=7,
            name="Home",
            ipcoms=[garage, home],
            elements=[
                FakeElement(
                    e.name, e.graphic_type, e.config, element_id=3, widget_type=e.widget_type
                )
                for e in HOME_ELEMENTS
            ],
        ),
    ]
    with serving(certificates, *sites) as service:
        result = await log_in(hass, await start_account(hass))
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {"site": "0"})
        assert result["errors"] == {"base": "account_no_ipcom"}

        again = await reopen(hass, result)
        assert again["type"] is FlowResultType.FORM
        assert again["step_id"] == "account_site"
        assert again["errors"] == {}
        assert again["description_placeholders"] == {"error": ""}
        assert options_of(again, "site") == {"0": "Empty", "1": "Home"}

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {"site": "1"})
        assert result["step_id"] == "account_ipcom"
        again = await reopen(hass, result)
        assert again["step_id"] == "account_ipcom"
        assert again["description_placeholders"] == {"site": "Home"}
        assert options_of(again, "ipcom") == options_of(result, "ipcom")
        assert options_of(again, "ipcom") == {
            "0": "Garage IPCom (192.0.2.20)",
            "1": f"Home IPCom ({simulator.host})",
        }

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {"ipcom": "1"})
        assert result["step_id"] == "account_confirm"
        again = await reopen(hass, result)
        assert again["step_id"] == "account_confirm"
        assert again["description_placeholders"] == result["description_placeholders"]
        assert again["description_placeholders"]["shutter_names"] == "Kitchen shutter"

        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        assert result["step_id"] == "account_connection"
        again = await reopen(hass, result)
        assert again["step_id"] == "account_connection"
        assert [str(key) for key in again["data_schema"].schema] == [
            CONF_HOST,
            CONF_PORT,
            CONF_USERNAME,
            CONF_PASSWORD,
        ]
        assert suggested_values(again) == {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
        assert again["description_placeholders"]["ipcom"] == "Home IPCom"

    address = {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**address, CONF_USERNAME: "installer", CONF_PASSWORD: "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    again = await reopen(hass, result)
    assert again["step_id"] == "account_connection"
    assert again["errors"] == {}
    assert suggested_values(again) == {**address, CONF_USERNAME: "installer"}, (
        "the address and the username typed are kept; the password is never shown"
    )

    fetched = [(call.action, call.arguments.get("siteID")) for call in service.calls]
    assert fetched == [("LoginNeo", None), ("CheckSiteVersion", "1"), ("CheckSiteVersion", "7")], (
        "one fetch per choice of site, none per form opened again"
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**address, CONF_USERNAME: "installer", CONF_PASSWORD: IPCOM_PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == stored_data(
        simulator, **{CONF_USERNAME: "installer", CONF_PASSWORD: IPCOM_PASSWORD}
    )
    assert devices_of(result["result"]) == HOME_DEVICES


# The subentry flow


ACCOUNT_FOR_REIMPORT = [
    FakeElement("Kitchen ceiling", "OutputLightBulb", "1,1,1"),
    FakeElement("Hall", "OutputLightBulb", "1,1,5"),
    FakeElement("Pond light", "OutputLightBulb", "1,3,2"),
    FakeElement("Garden socket", "OutputSocket", "1,7,1"),
]
"""What the account knows of the test installation: the ceiling (known here under another
name), a new hall light whose name is a key here already, a light on the output of a shutter
relay here, and a new socket."""


async def start_reimport(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "account"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_USERNAME: ACCOUNT_USER, CONF_PASSWORD: ACCOUNT_PASSWORD}
    )


async def test_reimport_adds_only_the_new_devices(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The subentry flow lists and adds the devices on new addresses; what is there stays.

    A new device whose name gives a key the entry uses gets another key; one
    on an output a device here uses is left out and named.
    """
    mock_config_entry.add_to_hass(hass)
    before = {subentry.unique_id: subentry for subentry in mock_config_entry.subentries.values()}
    modules = [FakeModule(1, "Exo8"), FakeModule(3, "Exo8"), FakeModule(7, "Exo8")]
    site = FakeSite(
        id=7,
        name="Home",
        ipcoms=[home_ipcom(simulator, modules=modules)],
        elements=ACCOUNT_FOR_REIMPORT,
    )
    with serving(certificates, site):
        result = await start_reimport(hass, mock_config_entry)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "confirm"
        placeholders = result["description_placeholders"]
        assert placeholders["count"] == "2"
        assert placeholders["light_names"] == "Hall"
        assert placeholders["switch_names"] == "Garden socket"
        assert placeholders["shutters"] == "0"
        assert placeholders["left_out"] == "Pond light"
        assert placeholders["entry_address"] == placeholders["address"]

        result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "account_imported"
        assert result["description_placeholders"] == {"count": "2"}

        after = {subentry.unique_id: subentry for subentry in mock_config_entry.subentries.values()}
        assert set(after) == {*before, "1-1-5", "1-7-1"}
        for address, subentry in before.items():
            assert after[address] is subentry, f"{address} changed"
        assert after["1-1-1"].title == "Ceiling"
        assert after["1-1-5"].title == "Hall"
        assert after["1-1-5"].data["key"] != after["1-1-2"].data["key"]
        assert after["1-7-1"].subentry_type == "switch"

        result = await start_reimport(hass, mock_config_entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_up_to_date"
    assert result["description_placeholders"] == {"left_out": "Pond light"}


async def test_reimport_login_errors_show_at_its_form(
    hass: HomeAssistant, certificates: Certificates, mock_config_entry: MockConfigEntry
) -> None:
    """The subentry flow maps the account's failures as the config flow does."""
    mock_config_entry.add_to_hass(hass)
    with serving(certificates):
        result = await start_reimport(hass, mock_config_entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "account_no_site"}


async def reopen_subentry_flow(hass: HomeAssistant, result: dict[str, Any]) -> dict[str, Any]:
    """Open a subentry flow in progress again, as the frontend does when it shows one anew."""
    return await hass.config_entries.subentries.async_configure(result["flow_id"])


def two_sites_for_reimport(simulator: Simulator) -> list[FakeSite]:
    """A holiday home's site, and the home's site with two IPComs: the garage's and the entry's.

    The entry's IPCom brings one new device, a socket on a free output; the
    garage's a workbench light, on an output free here as well.
    """
    entry_ipcom = home_ipcom(simulator, id=3, modules=[FakeModule(7, "Exo8")])
    garage = home_ipcom(
        simulator, id=2, name="Garage IPCom", local_address="192.0.2.20", modules=[]
    )
    holiday = home_ipcom(simulator, id=4, name="Holiday IPCom", local_address="192.0.2.40")
    return [
        FakeSite(id=5, name="Holiday home", ipcoms=[holiday]),
        FakeSite(
            id=7,
            name="Home",
            ipcoms=[garage, entry_ipcom],
            elements=[
                FakeElement("Workbench", "OutputLightBulb", "1,7,2", element_id=2),
                FakeElement("Garden socket", "OutputSocket", "1,7,1", element_id=3),
            ],
        ),
    ]


async def test_reimport_chooses_the_site_and_the_ipcom(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The import into an entry asks for the site and the IPCom when the account has several.

    A wrong IPCom shows at the confirmation (its address is not the entry's),
    and leaving there adds nothing; the right one adds its new devices. Each
    choice, opened again, lists the same sites and IPComs.
    """
    mock_config_entry.add_to_hass(hass)
    before = set(devices_of(mock_config_entry))
    entry_address = f"{simulator.host}:{simulator.port}"
    with serving(certificates, *two_sites_for_reimport(simulator)):
        result = await start_reimport(hass, mock_config_entry)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "site"
        assert options_of(result, "site") == {"0": "Holiday home", "1": "Home"}
        again = await reopen_subentry_flow(hass, result)
        assert again["step_id"] == "site"
        assert options_of(again, "site") == {"0": "Holiday home", "1": "Home"}

        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"site": "1"}
        )
        assert result["step_id"] == "ipcom"
        assert result["description_placeholders"] == {"site": "Home"}
        ipcoms = {"0": "Garage IPCom (192.0.2.20)", "1": f"Home IPCom ({simulator.host})"}
        assert options_of(result, "ipcom") == ipcoms
        again = await reopen_subentry_flow(hass, result)
        assert again["step_id"] == "ipcom"
        assert options_of(again, "ipcom") == ipcoms

        wrong = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"ipcom": "0"}
        )
        assert wrong["step_id"] == "confirm"
        placeholders = wrong["description_placeholders"]
        assert placeholders["ipcom"] == "Garage IPCom"
        assert (placeholders["address"], placeholders["entry_address"]) == (
            f"192.0.2.20:{simulator.port}",
            entry_address,
        )
        assert placeholders["light_names"] == "Workbench"
        hass.config_entries.subentries.async_abort(wrong["flow_id"])
        assert set(devices_of(mock_config_entry)) == before

        result = await start_reimport(hass, mock_config_entry)
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"site": "1"}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {"ipcom": "1"}
        )
        assert result["step_id"] == "confirm"
        placeholders = result["description_placeholders"]
        assert placeholders["address"] == placeholders["entry_address"] == entry_address
        assert (placeholders["count"], placeholders["switch_names"]) == ("1", "Garden socket")
        again = await reopen_subentry_flow(hass, result)
        assert again["step_id"] == "confirm"
        assert again["description_placeholders"] == placeholders

        result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_imported"
    assert result["description_placeholders"] == {"count": "1"}
    assert set(devices_of(mock_config_entry)) == {*before, "1-7-1"}
    assert devices_of(mock_config_entry)["1-7-1"] == ("switch", "Garden socket")


async def test_reimport_renames_a_shutter_whose_keys_are_taken(
    hass: HomeAssistant,
    simulator: Simulator,
    certificates: Certificates,
    init_integration: MockConfigEntry,
) -> None:
    """A new shutter named like one of the entry's takes a free key; its relays take keys after it.

    The running entry gets its cover at once, on its own relays, and the
    entry's garage door keeps its key, its relays and its subentry.
    """
    entry = init_integration
    garage = entry.subentries[subentry_id_of(entry, "garage_door")]
    site = FakeSite(
        id=7,
        name="Home",
        ipcoms=[home_ipcom(simulator, modules=[FakeModule(7, "ExoStore")])],
        elements=[
            FakeElement("Garage door down", "OutputShutterDown", "1,7,2"),
            FakeElement("Garage door up", "OutputShutterUp", "1,7,1"),
        ],
    )
    with serving(certificates, site):
        result = await start_reimport(hass, entry)
        assert result["step_id"] == "confirm"
        assert result["description_placeholders"]["shutter_names"] == "Garage door"
        assert result["description_placeholders"]["left_out"] == "-"
        result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["reason"] == "account_imported"
    await hass.async_block_till_done()

    (added,) = (subentry for subentry in entry.subentries.values() if subentry.unique_id == "1-7-1")
    key = added.data["key"]
    assert key not in {"garage_door", "garage_door_up", "garage_door_down"}
    assert (added.data["up_key"], added.data["down_key"]) == (f"{key}_up", f"{key}_down")
    assert (added.title, added.subentry_type) == ("Garage door", "shutter")
    assert entry.subentries[garage.subentry_id] is garage

    installation = get_installation(hass)
    new_door, old_door = installation.get(key), installation.get("garage_door")
    assert new_door is not None
    assert old_door is not None
    assert (new_door.entry.up.module, new_door.entry.up.output) == (7, 1)
    assert (old_door.entry.up.module, old_door.entry.up.output) == (3, 3)
    cover = entity_id_of(hass, Platform.COVER, f"{ENTRY_ID}_7_1")
    await hass.services.async_call(
        "cover", SERVICE_OPEN_COVER, {ATTR_ENTITY_ID: cover}, blocking=True
    )
    assert_written(simulator, 7, 1, 255)
    assert simulator.get_value(3, 3) == 0, "the entry's garage door did not move"
    await hass.services.async_call(
        "cover", SERVICE_STOP_COVER, {ATTR_ENTITY_ID: cover}, blocking=True
    )
    assert_written(simulator, 7, 1, 0)
    assert simulator.connections_accepted == 1
