"""The config flow against the simulator: every step, every error, and the YAML import."""

from __future__ import annotations

import socket
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_IMPORT, SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, InvalidData, section
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import (
    CONF_BUS_2_TYPE,
    CONF_BUS_TYPE,
    CONF_DEVICES_FILE,
    CONF_POLL_INTERVAL,
    CONF_REMOTE_HOST,
    CONF_REMOTE_PORT,
    CONF_REVERSE_PAUSE,
    CONF_SERIAL,
    CONF_TRICOM,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_DEVICES_FILE,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.ipcom.migration import CONFIG_MINOR_VERSION
from ipcom import BusType
from ipcom.simulator import Simulator

from .conftest import PASSWORD, USERNAME, async_write_text


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep created entries from connecting: these tests are about the flow."""
    with patch("custom_components.ipcom.async_setup_entry", return_value=True) as mock:
        yield mock


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def user_input(simulator: Simulator, **changes: Any) -> dict[str, Any]:
    """What a user types for the simulator, with `changes` applied."""
    return {
        CONF_HOST: simulator.host,
        CONF_PORT: simulator.port,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        **changes,
    }


WITH_DEVICES_FILE = {CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE}
"""What an entry also stores when the default devices file exists: the setup imports it."""


INSTALLATION = "installation"
REMOTE = "remote"
SECTIONS = {
    INSTALLATION: (CONF_BUS_TYPE, CONF_TRICOM, CONF_BUS_2_TYPE),
    REMOTE: (CONF_REMOTE_HOST, CONF_REMOTE_PORT, CONF_SERIAL),
}
"""The form's collapsed sections and the fields in each."""

STORED_DEFAULTS: dict[str, Any] = {
    CONF_BUS_TYPE: "minido",
    CONF_TRICOM: False,
    CONF_BUS_2_TYPE: "none",
    CONF_REMOTE_HOST: "",
    CONF_REMOTE_PORT: 5000,
    CONF_SERIAL: "",
}
"""What an entry stores, flat, when the sections were left alone: one Minido bus, no remote."""


def sectioned(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat values as the form sends them: the section fields inside their sections.

    Every section is sent, as the frontend does; fields left out of `flat` take
    the form's defaults, and an empty optional field is left out, as the
    frontend leaves it out.
    """
    nested = {
        key: value for key, value in flat.items() if not any(key in f for f in SECTIONS.values())
    }
    for name, fields in SECTIONS.items():
        nested[name] = {field: flat[field] for field in fields if flat.get(field, "") != ""}
    return nested


def form_input(simulator: Simulator, **changes: Any) -> dict[str, Any]:
    """What a user types into the manual step for the simulator, with `changes` applied."""
    return sectioned(user_input(simulator, **changes))


async def start_manual(hass: HomeAssistant) -> FlowResult:
    """Start the user flow and choose the manual setup in its menu: the manual form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["manual", "account"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "manual"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    return result


def reconfigure_input(host: str, port: int, **changes: Any) -> dict[str, Any]:
    """What a user submits in the reconfigure step, with `changes` applied."""
    return sectioned({CONF_HOST: host, CONF_PORT: port, **changes})


def form_sections(result: FlowResult) -> dict[str, section]:
    """The sections of a form, by name."""
    return {
        str(key): value
        for key, value in result["data_schema"].schema.items()
        if isinstance(value, section)
    }


def wait_until_closed(simulator: Simulator) -> None:
    """Wait for the installation to see the flow's connections closed.

    The flow closes its sockets before it returns; the installation notices on its own thread.
    """
    simulator.wait_until(
        lambda installation: installation.active_connections == 0,
        description="the flow's connections closed",
    )


def collapsed(result: FlowResult) -> dict[str, bool]:
    """Whether each section of a form starts collapsed."""
    return {name: value.options["collapsed"] for name, value in form_sections(result).items()}


def suggested(result: FlowResult, name: str) -> dict[str, Any]:
    """The values a form suggests in section `name`."""
    return {
        str(key): key.description["suggested_value"]
        for key in form_sections(result)[name].schema.schema
        if key.description and "suggested_value" in key.description
    }


DEFAULT_OPTIONS = {
    CONF_UNAVAILABLE_AFTER: DEFAULT_UNAVAILABLE_AFTER,
    CONF_REVERSE_PAUSE: DEFAULT_REVERSE_PAUSE,
}


@pytest.mark.usefixtures("devices_file")
async def test_user_flow(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A reachable installation with good credentials and a valid file becomes an entry.

    The installation type and remote access stay collapsed and at their
    defaults; the entry stores those defaults flat.
    """
    result = await start_manual(hass)
    assert result["errors"] == {}
    assert collapsed(result) == {INSTALLATION: True, REMOTE: True}
    assert CONF_DEVICES_FILE not in result["data_schema"].schema

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IPCom {simulator.host}:{simulator.port}"
    assert result["data"] == {**user_input(simulator), **WITH_DEVICES_FILE, **STORED_DEFAULTS}
    assert result["options"] == DEFAULT_OPTIONS
    assert result["result"].unique_id is None
    assert result["result"].minor_version == CONFIG_MINOR_VERSION
    assert len(mock_setup_entry.mock_calls) == 1
    wait_until_closed(simulator)


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_default_port_title(hass: HomeAssistant, simulator: Simulator) -> None:
    """On the usual port the title is just the host."""
    with patch("custom_components.ipcom.config_flow.DEFAULT_PORT", simulator.port):
        result = await start_manual(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form_input(simulator)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IPCom {simulator.host}"


@pytest.mark.parametrize(
    ("changes", "error_field", "error"),
    [
        ({CONF_PASSWORD: "wrong"}, "base", "invalid_auth"),
        ({CONF_USERNAME: "u" * 22}, "base", "invalid_credentials_format"),
        ({CONF_PASSWORD: "pässword"}, "base", "invalid_credentials_format"),
    ],
)
@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_errors(
    hass: HomeAssistant,
    simulator: Simulator,
    changes: dict[str, Any],
    error_field: str,
    error: str,
) -> None:
    """Each problem shows in the form, and the user can correct it."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {error_field: error}
    assert PASSWORD not in str(result["description_placeholders"])

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_without_a_devices_file(hass: HomeAssistant, simulator: Simulator) -> None:
    """Without a file at the default place the entry names none: devices are subentries."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {**user_input(simulator), **STORED_DEFAULTS}
    assert not result["result"].subentries


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_invalid_devices_file_names_the_problem(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path
) -> None:
    """A file at the default place is checked before the setup imports it; its problem shows."""
    await async_write_text(hass, devices_file, "lights:\n  hall:\n    module: 17\n    output: 1\n")
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["errors"] == {"base": "invalid_devices_file"}
    assert "lights.hall.module" in result["description_placeholders"]["error"]
    assert simulator.connections_accepted == 0


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_cannot_connect(
    hass: HomeAssistant, simulator: Simulator, closed_port: int
) -> None:
    """Nothing listening on the port is a connection error."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator, **{CONF_PORT: closed_port})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_no_snapshot(hass: HomeAssistant, simulator: Simulator) -> None:
    """An installation that accepts the connection but never answers cannot be set up."""
    simulator.freeze()
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["errors"] == {"base": "cannot_connect"}
    simulator.unfreeze()


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_unknown_error(hass: HomeAssistant, simulator: Simulator) -> None:
    """An unexpected exception is reported as unknown, not as a crash."""
    result = await start_manual(hass)
    with patch(
        "custom_components.ipcom.config_flow._check_connection", side_effect=RuntimeError("boom")
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form_input(simulator)
        )
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_already_configured(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """One entry per host and port."""
    mock_config_entry.add_to_hass(hass)
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """New credentials are checked against the installation before they are stored."""
    mock_config_entry.add_to_hass(hass)
    simulator.set_credentials("admin", "s3cret")
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"][CONF_HOST] == simulator.host
    assert [str(key) for key in result["data_schema"].schema] == [CONF_USERNAME, CONF_PASSWORD]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "admin", CONF_PASSWORD: "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "admin", CONF_PASSWORD: "s3cret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_USERNAME] == "admin"
    assert mock_config_entry.data[CONF_PASSWORD] == "s3cret"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure(
    hass: HomeAssistant,
    simulator: Simulator,
    file_config_entry: MockConfigEntry,
    devices_file: Path,
) -> None:
    """The address can change, checked with the stored credentials.

    A devices file the entry still names is neither shown nor read, and
    stays as it is: the setup imports it into subentries.
    """
    file_config_entry.add_to_hass(hass)
    await hass.async_add_executor_job(devices_file.unlink)
    result = await file_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert CONF_DEVICES_FILE not in result["data_schema"].schema

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], reconfigure_input(simulator.host, simulator.port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert file_config_entry.data[CONF_DEVICES_FILE] == DEFAULT_DEVICES_FILE
    assert file_config_entry.data[CONF_PASSWORD] == PASSWORD


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_to_another_installation(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """Moving to a new host:port is allowed, but never onto another entry's."""
    mock_config_entry.add_to_hass(hass)
    with Simulator(username=USERNAME, password=PASSWORD) as other:
        MockConfigEntry(
            domain=DOMAIN, data={CONF_HOST: other.host, CONF_PORT: other.port}
        ).add_to_hass(hass)
        result = await mock_config_entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], reconfigure_input(other.host, other.port)
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"

    with Simulator(username=USERNAME, password=PASSWORD) as moved:
        result = await mock_config_entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], reconfigure_input(moved.host, moved.port)
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert mock_config_entry.unique_id is None
        assert mock_config_entry.data[CONF_PORT] == moved.port


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_cannot_connect(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    closed_port: int,
) -> None:
    """A new address that does not answer is refused."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], reconfigure_input(simulator.host, closed_port)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert mock_config_entry.data[CONF_PORT] == simulator.port


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_with_unusable_stored_credentials(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """Stored credentials the protocol cannot carry are named with the limits in the message."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, data={**mock_config_entry.data, CONF_USERNAME: "u" * 22}
    )
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], reconfigure_input(simulator.host, simulator.port)
    )
    assert result["errors"] == {"base": "invalid_credentials_format"}
    assert result["description_placeholders"]["max_username"] == "21"
    assert result["description_placeholders"]["max_password"] == "22"
    assert simulator.connections_accepted == 0


async def test_options_flow(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Options are stored and the entry reloads with them; the poll interval is not one."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert {str(key) for key in result["data_schema"].schema} == {
        CONF_UNAVAILABLE_AFTER,
        CONF_REVERSE_PAUSE,
    }

    client_before = init_integration.runtime_data.coordinators[1].client
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UNAVAILABLE_AFTER: 30, CONF_REVERSE_PAUSE: 1.5}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {CONF_UNAVAILABLE_AFTER: 30, CONF_REVERSE_PAUSE: 1.5}
    assert init_integration.runtime_data.coordinators[1].client is not client_before


async def test_options_flow_refuses_a_poll_interval(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A poll interval sent to the options flow is refused, not stored."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_POLL_INTERVAL: 500, CONF_UNAVAILABLE_AFTER: 10, CONF_REVERSE_PAUSE: 0.5},
        )
    assert CONF_POLL_INTERVAL not in init_integration.options


@pytest.mark.parametrize(
    "value",
    [
        {CONF_UNAVAILABLE_AFTER: -1, CONF_REVERSE_PAUSE: 0.5},
        {CONF_UNAVAILABLE_AFTER: 601, CONF_REVERSE_PAUSE: 0.5},
        {CONF_UNAVAILABLE_AFTER: 10, CONF_REVERSE_PAUSE: -0.1},
        {CONF_UNAVAILABLE_AFTER: 10, CONF_REVERSE_PAUSE: 6},
    ],
)
async def test_options_flow_limits(
    hass: HomeAssistant, init_integration: MockConfigEntry, value: dict[str, Any]
) -> None:
    """Values outside the allowed ranges are refused."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(result["flow_id"], value)


def yaml_config(simulator: Simulator, **extra: Any) -> dict[str, Any]:
    """An old-style `ipcom:` block for the simulator."""
    return {DOMAIN: {CONF_HOST: simulator.host, CONF_PORT: simulator.port, **extra}}


@pytest.mark.usefixtures("devices_file")
async def test_import_with_credentials(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A complete YAML block becomes an entry once, and a repair issue asks to remove it."""
    config = yaml_config(
        simulator,
        username=USERNAME,
        password=PASSWORD,
        cli_path="/usr/local/bin/ipcom",
        scan_interval=5,
    )
    assert await async_setup_component(hass, DOMAIN, config)
    await hass.async_block_till_done()

    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert entry.source == SOURCE_IMPORT
    assert entry.data == {**user_input(simulator), **WITH_DEVICES_FILE, **STORED_DEFAULTS}
    assert "cli_path" not in entry.data
    issue = issue_registry.async_get_issue(DOMAIN, "deprecated_yaml")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.breaks_in_ha_version is None
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_import_already_imported(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """On the next start the block is not imported again, and the issue stays."""
    mock_config_entry.add_to_hass(hass)
    config = yaml_config(simulator, username=USERNAME, password=PASSWORD)
    assert await async_setup_component(hass, DOMAIN, config)
    await hass.async_block_till_done()
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    assert issue_registry.async_get_issue(DOMAIN, "deprecated_yaml") is not None


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_import_without_credentials(
    hass: HomeAssistant, simulator: Simulator, issue_registry: ir.IssueRegistry
) -> None:
    """A block without credentials asks for them instead of failing."""
    assert await async_setup_component(hass, DOMAIN, yaml_config(simulator))
    await hass.async_block_till_done()
    assert not hass.config_entries.async_entries(DOMAIN)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "import_credentials"
    assert issue_registry.async_get_issue(DOMAIN, "deprecated_yaml") is not None

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {**user_input(simulator), **WITH_DEVICES_FILE, **STORED_DEFAULTS}


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_import_rejected_credentials(hass: HomeAssistant, simulator: Simulator) -> None:
    """Credentials in the YAML that the installation rejects are asked for again."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_IMPORT},
        data={
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: "wrong",
            CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "import_credentials"
    assert result["errors"] == {"base": "invalid_auth"}
    assert result["description_placeholders"][CONF_HOST] == simulator.host


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_import_cannot_connect(
    hass: HomeAssistant, closed_port: int, issue_registry: ir.IssueRegistry
) -> None:
    """An installation that cannot be reached is not imported; an issue says why."""
    config = {
        DOMAIN: {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: closed_port,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
        }
    }
    assert await async_setup_component(hass, DOMAIN, config)
    await hass.async_block_till_done()
    assert not hass.config_entries.async_entries(DOMAIN)
    assert issue_registry.async_get_issue(DOMAIN, "deprecated_yaml") is None
    issue = issue_registry.async_get_issue(DOMAIN, "deprecated_yaml_import_failed")
    assert issue is not None
    assert issue.translation_placeholders == {"host": "127.0.0.1"}


@pytest.mark.usefixtures("mock_setup_entry")
async def test_import_invalid_devices_file(hass: HomeAssistant, simulator: Simulator) -> None:
    """A YAML block pointing at a broken devices file aborts with the reason."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_IMPORT},
        data={
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_DEVICES_FILE: "nowhere.yaml",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_devices_file"
    assert "file not found" in result["description_placeholders"]["error"]


@pytest.mark.usefixtures("devices_file")
async def test_user_flow_whole_installation_stored_flat(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    """A BiBus with a second bus, a remote address and a TriCom serial: all stored flat.

    Every configured bus is logged in to once during the check, and nothing
    stays connected after it. The local address answers, so the remote one
    (which does not exist) is never tried.
    """
    with Simulator(
        username=USERNAME,
        password=PASSWORD,
        buses={1: BusType.BIBUS, 2: BusType.MINIDO},
        tricom=True,
    ) as installation:
        result = await start_manual(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            form_input(
                installation,
                **{
                    CONF_BUS_TYPE: "bibus",
                    CONF_TRICOM: True,
                    CONF_BUS_2_TYPE: "minido",
                    CONF_REMOTE_HOST: " remote.example.invalid ",
                    CONF_REMOTE_PORT: 5001,
                    CONF_SERIAL: " SN0042 ",
                },
            ),
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"] == {
            **user_input(installation),
            **WITH_DEVICES_FILE,
            CONF_BUS_TYPE: "bibus",
            CONF_TRICOM: True,
            CONF_BUS_2_TYPE: "minido",
            CONF_REMOTE_HOST: "remote.example.invalid",
            CONF_REMOTE_PORT: 5001,
            CONF_SERIAL: "SN0042",
        }
        assert installation.connections_accepted == 2
        wait_until_closed(installation)
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_sections_may_be_left_out(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A caller of the flow API that sends no sections gets the defaults."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {**user_input(simulator), **WITH_DEVICES_FILE, **STORED_DEFAULTS}


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_remote_port_without_remote_host_is_ignored(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A remote port alone has nothing to connect to: it is stored as the default."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator, **{CONF_REMOTE_PORT: 6000})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_REMOTE_HOST] == ""
    assert result["data"][CONF_REMOTE_PORT] == 5000


@pytest.mark.parametrize(
    ("changes", "error_key", "error"),
    [
        (
            {CONF_TRICOM: True, CONF_REMOTE_HOST: "remote.example.invalid"},
            REMOTE,
            "serial_required",
        ),
        ({CONF_SERIAL: "SN0042"}, REMOTE, "serial_without_tricom"),
        (
            {CONF_TRICOM: True, CONF_REMOTE_HOST: "remote.example.invalid", CONF_SERIAL: "S" * 18},
            REMOTE,
            "serial_too_long",
        ),
        ({CONF_TRICOM: True, CONF_SERIAL: "SN\u00e90042"}, REMOTE, "invalid_serial"),
    ],
)
@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_installation_errors(
    hass: HomeAssistant,
    simulator: Simulator,
    changes: dict[str, Any],
    error_key: str,
    error: str,
) -> None:
    """Settings that do not fit together show at their section, before any connection.

    Home Assistant shows the error of a field inside a section at the
    section, which the form opens again.
    """
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {error_key: error}
    assert collapsed(result)[error_key] is False
    assert suggested(result, error_key)
    assert simulator.connections_accepted == 0

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_serial_too_long_names_the_limit(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """The serial number and the username share the 21 characters of the username field."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form_input(simulator, **{CONF_TRICOM: True, CONF_SERIAL: "S" * (22 - len(USERNAME))}),
    )
    assert result["errors"] == {REMOTE: "serial_too_long"}
    assert result["description_placeholders"]["max_username"] == "21"
    assert result["description_placeholders"]["login_length"] == "22"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form_input(simulator, **{CONF_TRICOM: True, CONF_SERIAL: "S" * (21 - len(USERNAME))}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIAL] == "S" * (21 - len(USERNAME))


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_two_buses(hass: HomeAssistant) -> None:
    """An installation with two buses is checked on both: one connection each."""
    with Simulator(
        username=USERNAME, password=PASSWORD, buses={1: BusType.MINIDO, 2: BusType.BIBUS}
    ) as installation:
        result = await start_manual(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form_input(installation, **{CONF_BUS_2_TYPE: "bibus"})
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_BUS_TYPE] == "minido"
        assert result["data"][CONF_BUS_2_TYPE] == "bibus"
        assert installation.connections_accepted == 2
        wait_until_closed(installation)


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_second_bus_missing(hass: HomeAssistant, simulator: Simulator) -> None:
    """A second bus the installation does not have is refused at the installation type."""
    result = await start_manual(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator, **{CONF_BUS_2_TYPE: "minido"})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {INSTALLATION: "second_bus_rejected"}
    assert collapsed(result) == {INSTALLATION: False, REMOTE: True}
    wait_until_closed(simulator)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_remote_address_when_local_fails(hass: HomeAssistant) -> None:
    """When the local address does not answer, the remote one is tried and accepted."""
    with Simulator(username=USERNAME, password=PASSWORD, remote_port=0) as installation:
        installation.local_reachable = False
        remote_port = installation.remote_port
        assert remote_port is not None
        result = await start_manual(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form_input(installation)
        )
        assert result["errors"] == {"base": "cannot_connect"}

        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            form_input(
                installation,
                **{CONF_REMOTE_HOST: installation.host, CONF_REMOTE_PORT: remote_port},
            ),
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_PORT] == installation.port
        assert result["data"][CONF_REMOTE_HOST] == installation.host
        assert result["data"][CONF_REMOTE_PORT] == remote_port


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_installation_type_and_remote(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    closed_port: int,
) -> None:
    """An entry without the new keys gets them; the form shows what is stored.

    The sections open when they hold more than the defaults, and clearing
    the remote host clears the remote address.
    """
    mock_config_entry.add_to_hass(hass)
    assert CONF_BUS_TYPE not in mock_config_entry.data
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert collapsed(result) == {INSTALLATION: True, REMOTE: True}
    assert suggested(result, INSTALLATION) == {
        CONF_BUS_TYPE: "minido",
        CONF_TRICOM: False,
        CONF_BUS_2_TYPE: "none",
    }

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        reconfigure_input(
            simulator.host,
            simulator.port,
            **{
                CONF_BUS_TYPE: "other",
                CONF_REMOTE_HOST: "remote.example.invalid",
                CONF_REMOTE_PORT: 6000,
            },
        ),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data == {
        CONF_HOST: simulator.host,
        CONF_PORT: simulator.port,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        **STORED_DEFAULTS,
        CONF_BUS_TYPE: "other",
        CONF_REMOTE_HOST: "remote.example.invalid",
        CONF_REMOTE_PORT: 6000,
    }

    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert collapsed(result) == {INSTALLATION: False, REMOTE: False}
    assert suggested(result, REMOTE) == {
        CONF_REMOTE_HOST: "remote.example.invalid",
        CONF_REMOTE_PORT: 6000,
        CONF_SERIAL: "",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        reconfigure_input(simulator.host, simulator.port, **{CONF_BUS_TYPE: "other"}),
    )
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_BUS_TYPE] == "other"
    assert mock_config_entry.data[CONF_REMOTE_HOST] == ""
    assert mock_config_entry.data[CONF_REMOTE_PORT] == 5000

    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert collapsed(result) == {INSTALLATION: False, REMOTE: True}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: simulator.host, CONF_PORT: closed_port}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert suggested(result, INSTALLATION)[CONF_BUS_TYPE] == "other"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
    )
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_BUS_TYPE] == "other", "left-out sections are kept"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_second_bus(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """Adding a second bus is checked against the installation, with the stored login."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        reconfigure_input(simulator.host, simulator.port, **{CONF_BUS_2_TYPE: "bibus"}),
    )
    assert result["errors"] == {INSTALLATION: "second_bus_rejected"}
    assert CONF_BUS_2_TYPE not in mock_config_entry.data

    with Simulator(
        username=USERNAME, password=PASSWORD, buses={1: BusType.MINIDO, 2: BusType.BIBUS}
    ) as installation:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            reconfigure_input(installation.host, installation.port, **{CONF_BUS_2_TYPE: "bibus"}),
        )
        assert result["reason"] == "reconfigure_successful"
        assert installation.connections_accepted == 2
    assert mock_config_entry.data[CONF_BUS_2_TYPE] == "bibus"
    assert mock_config_entry.data[CONF_PORT] == installation.port


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_tricom_remote_needs_serial(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """Reconfigure checks the serial number against the stored username."""
    mock_config_entry.add_to_hass(hass)
    tricom_remote = {CONF_TRICOM: True, CONF_REMOTE_HOST: "remote.example.invalid"}
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], reconfigure_input(simulator.host, simulator.port, **tricom_remote)
    )
    assert result["errors"] == {REMOTE: "serial_required"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        reconfigure_input(simulator.host, simulator.port, **tricom_remote, serial="S" * 20),
    )
    assert result["errors"] == {REMOTE: "serial_too_long"}
    assert result["description_placeholders"]["login_length"] == str(20 + len(USERNAME))

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        reconfigure_input(simulator.host, simulator.port, **tricom_remote, serial="SN0042"),
    )
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_SERIAL] == "SN0042"
    assert simulator.connections_accepted == 1


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_tricom_with_remote_asks_for_the_serial(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """A TriCom's remote login needs its serial number, so reauthentication asks for it too."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        data={
            **mock_config_entry.data,
            **STORED_DEFAULTS,
            CONF_TRICOM: True,
            CONF_REMOTE_HOST: "remote.example.invalid",
            CONF_SERIAL: "SN0042",
        },
    )
    simulator.set_credentials("admin", "s3cret")
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    schema = result["data_schema"].schema
    assert [str(key) for key in schema] == [CONF_USERNAME, CONF_PASSWORD, CONF_SERIAL]
    serial_key = next(key for key in schema if str(key) == CONF_SERIAL)
    assert serial_key.description == {"suggested_value": "SN0042"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_USERNAME: "admin", CONF_PASSWORD: "s3cret", CONF_SERIAL: "S" * 17},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SERIAL: "serial_too_long"}
    assert result["description_placeholders"]["login_length"] == "22"
    assert simulator.connections_accepted == 0

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_USERNAME: "admin", CONF_PASSWORD: "s3cret", CONF_SERIAL: " SN0043 "},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_USERNAME] == "admin"
    assert mock_config_entry.data[CONF_PASSWORD] == "s3cret"
    assert mock_config_entry.data[CONF_SERIAL] == "SN0043"
    result = await mock_config_entry.start_reauth_flow(hass)
    with pytest.raises(InvalidData):
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_USERNAME: "admin", CONF_PASSWORD: "s3cret"}
        )
