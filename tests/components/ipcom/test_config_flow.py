"""The config flow against the simulator: every step, every error, and the YAML import."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Generator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_IMPORT, SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import (
    CONF_DEVICES_FILE,
    CONF_POLL_INTERVAL,
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_DEVICES_FILE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
)
from ipcom.simulator import Simulator

from .conftest import DEVICES_FIXTURE, PASSWORD, USERNAME, async_write_text


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
        CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
        **changes,
    }


DEFAULT_OPTIONS = {
    CONF_POLL_INTERVAL: DEFAULT_POLL_INTERVAL,
    CONF_UNAVAILABLE_AFTER: DEFAULT_UNAVAILABLE_AFTER,
    CONF_REVERSE_PAUSE: DEFAULT_REVERSE_PAUSE,
}


@pytest.mark.usefixtures("devices_file")
async def test_user_flow(
    hass: HomeAssistant, simulator: Simulator, mock_setup_entry: AsyncMock
) -> None:
    """A reachable installation with good credentials and a valid file becomes an entry."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IPCom {simulator.host}:{simulator.port}"
    assert result["data"] == user_input(simulator)
    assert result["options"] == DEFAULT_OPTIONS
    assert result["result"].unique_id is None
    assert result["result"].minor_version == 2
    assert len(mock_setup_entry.mock_calls) == 1
    assert simulator.active_connections == 0


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_default_port_title(hass: HomeAssistant, simulator: Simulator) -> None:
    """On the usual port the title is just the host."""
    with patch("custom_components.ipcom.config_flow.DEFAULT_PORT", simulator.port):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], user_input(simulator)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"IPCom {simulator.host}"


@pytest.mark.parametrize(
    ("changes", "error_field", "error"),
    [
        ({CONF_PASSWORD: "wrong"}, "base", "invalid_auth"),
        ({CONF_USERNAME: "u" * 22}, "base", "invalid_credentials_format"),
        ({CONF_PASSWORD: "pässword"}, "base", "invalid_credentials_format"),
        ({CONF_DEVICES_FILE: "missing.yaml"}, CONF_DEVICES_FILE, "invalid_devices_file"),
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
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {error_field: error}
    assert PASSWORD not in str(result["description_placeholders"])

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_invalid_devices_file_names_the_problem(
    hass: HomeAssistant, simulator: Simulator, config_dir: Path
) -> None:
    """The validation message of the devices file reaches the form."""
    await async_write_text(
        hass, config_dir / "broken.yaml", "lights:\n  hall:\n    module: 17\n    output: 1\n"
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator, **{CONF_DEVICES_FILE: "broken.yaml"})
    )
    assert result["errors"] == {CONF_DEVICES_FILE: "invalid_devices_file"}
    assert "lights.hall.module" in result["description_placeholders"]["error"]
    assert simulator.connections_accepted == 0


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_cannot_connect(
    hass: HomeAssistant, simulator: Simulator, closed_port: int
) -> None:
    """Nothing listening on the port is a connection error."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator, **{CONF_PORT: closed_port})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_no_snapshot(hass: HomeAssistant, simulator: Simulator) -> None:
    """An installation that accepts the connection but never answers cannot be set up."""
    simulator.freeze()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["errors"] == {"base": "cannot_connect"}
    simulator.unfreeze()


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_unknown_error(hass: HomeAssistant, simulator: Simulator) -> None:
    """An unexpected exception is reported as unknown, not as a crash."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(
        "custom_components.ipcom.config_flow._check_connection", side_effect=RuntimeError("boom")
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], user_input(simulator)
        )
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("devices_file", "mock_setup_entry")
async def test_user_flow_already_configured(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """One entry per host and port."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
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
    mock_config_entry: MockConfigEntry,
    config_dir: Path,
) -> None:
    """Host, port and devices file can change; the stored credentials are checked."""
    mock_config_entry.add_to_hass(hass)
    await hass.async_add_executor_job(shutil.copyfile, DEVICES_FIXTURE, config_dir / "other.yaml")
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_DEVICES_FILE: "bad.yaml",
        },
    )
    assert result["errors"] == {CONF_DEVICES_FILE: "invalid_devices_file"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_DEVICES_FILE: str(config_dir / "other.yaml"),
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_DEVICES_FILE] == str(config_dir / "other.yaml")
    assert mock_config_entry.data[CONF_PASSWORD] == PASSWORD


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
            result["flow_id"],
            {
                CONF_HOST: other.host,
                CONF_PORT: other.port,
                CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
            },
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"

    with Simulator(username=USERNAME, password=PASSWORD) as moved:
        result = await mock_config_entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: moved.host,
                CONF_PORT: moved.port,
                CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
            },
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
        result["flow_id"],
        {
            CONF_HOST: simulator.host,
            CONF_PORT: closed_port,
            CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
        },
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
        result["flow_id"],
        {
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
        },
    )
    assert result["errors"] == {"base": "invalid_credentials_format"}
    assert result["description_placeholders"]["max_username"] == "21"
    assert result["description_placeholders"]["max_password"] == "22"
    assert simulator.connections_accepted == 0


async def test_options_flow(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Options are stored and the entry reloads with them."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"

    client_before = init_integration.runtime_data.client
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_POLL_INTERVAL: 500, CONF_UNAVAILABLE_AFTER: 30, CONF_REVERSE_PAUSE: 1.5},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        CONF_POLL_INTERVAL: 500,
        CONF_UNAVAILABLE_AFTER: 30,
        CONF_REVERSE_PAUSE: 1.5,
    }
    assert init_integration.runtime_data.client is not client_before


@pytest.mark.parametrize(
    "value",
    [
        {CONF_POLL_INTERVAL: 200, CONF_UNAVAILABLE_AFTER: 10, CONF_REVERSE_PAUSE: 0.5},
        {CONF_POLL_INTERVAL: 350, CONF_UNAVAILABLE_AFTER: 10, CONF_REVERSE_PAUSE: 6},
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
    assert entry.data == user_input(simulator)
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
    assert result["data"] == user_input(simulator)


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
