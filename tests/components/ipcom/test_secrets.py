"""The password never shows in Home Assistant: logs, flow errors, diagnostics.

One session, logged at DEBUG, goes through the config flow's failures (a
wrong password, credentials the protocol cannot carry), the import of the
devices file it finds, a running entry that loses its link and its device,
devices added and changed in the UI, credentials changed on the
installation, and a reauthentication that is first wrong and then right.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ipcom.const import CONF_DEVICES_FILE, DOMAIN
from ipcom.models import ConnectionState
from ipcom.simulator import Simulator

from .conftest import async_add_device, async_reconfigure_device, wait_until

USERNAME = "installer"
SECRET = "Hidden-Pw-2718"
NEW_SECRET = "Changed-Pw-3141"
WRONG_SECRET = "Wrong-Pw-1618"
TOO_LONG_SECRET = "Far-Too-Long-Secret-Pw-0577"
SECRETS = (SECRET, NEW_SECRET, WRONG_SECRET, TOO_LONG_SECRET)


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"{secret!r} leaked into {text!r}"


def user_input(simulator: Simulator, **changes: Any) -> dict[str, Any]:
    return {
        CONF_HOST: simulator.host,
        CONF_PORT: simulator.port,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: SECRET,
        **changes,
    }


@pytest.mark.usefixtures("devices_file")
async def test_a_whole_session_never_shows_the_password(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.set_credentials(USERNAME, SECRET)
    shown: list[object] = []

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "manual"}
    )
    assert result["step_id"] == "manual"
    for changes, error in (
        ({CONF_PASSWORD: WRONG_SECRET}, "invalid_auth"),
        ({CONF_PASSWORD: TOO_LONG_SECRET}, "invalid_credentials_format"),
        ({CONF_USERNAME: "u" * 22}, "invalid_credentials_format"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], user_input(simulator, **changes)
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": error}
        assert result["description_placeholders"]["max_username"] == "21"
        assert result["description_placeholders"]["max_password"] == "22"
        shown.append(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert CONF_DEVICES_FILE not in entry.data, "the devices file found was imported"
    assert entry.subentries
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"devices_file_imported_{entry.entry_id}")
    shown += [*entry.subentries.values(), *ir.async_get(hass).issues.values()]
    client = entry.runtime_data.coordinators[1].client

    result = await async_add_device(
        hass, entry, "switch", {"name": "Porch", "module": 2, "output": 3}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    shown.append(result)
    result = await async_reconfigure_device(hass, entry, "hall", {"name": "Front hall"})
    assert result["reason"] == "reconfigure_successful"
    shown.append(result)

    simulator.drop_connections()
    simulator.wait_until(lambda sim: sim.connections_accepted >= 2, description="a reconnect")
    await wait_until(hass, lambda: client.connected, "the link back")
    simulator.freeze()
    await wait_until(hass, lambda: not client.connected, "a frozen link noticed")
    simulator.unfreeze()
    await wait_until(hass, lambda: client.connected, "the link back after the freeze")
    shown.append(await get_diagnostics_for_config_entry(hass, hass_client, entry))

    simulator.set_credentials(USERNAME, NEW_SECRET)
    simulator.drop_connections()
    await wait_until(
        hass,
        lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)),
        "a reauth flow",
    )
    assert client.connection_state is ConnectionState.DISCONNECTED
    shown += [repr(client), client.statistics]
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: WRONG_SECRET}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    shown.append(result)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: NEW_SECRET}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    shown.append(await get_diagnostics_for_config_entry(hass, hass_client, entry))
    shown += [*entry.subentries.values(), *ir.async_get(hass).issues.values()]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    records = caplog.get_records("call")
    assert any(record.levelno == logging.DEBUG for record in records)
    assert_no_secret(*shown, *(formatter.format(record) for record in records))
