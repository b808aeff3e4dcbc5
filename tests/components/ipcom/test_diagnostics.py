"""Diagnostics of a config entry."""

from __future__ import annotations

import json

from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from ipcom.simulator import Simulator

from .conftest import (
    PASSWORD,
    async_add_device,
    async_reconfigure_device,
    get_coordinator,
    lose_link,
    set_installation_output,
    subentry_id_of,
    wait_until,
)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
) -> None:
    """Connection, figures, the snapshot grid and the device map; credentials redacted."""
    await set_installation_output(hass, simulator, 1, 1, 255)
    await set_installation_output(hass, simulator, 6, 2, 40)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    assert diagnostics == snapshot(exclude=props("statistics", "received", "port"))
    statistics = diagnostics["buses"]["1"]["statistics"]
    assert statistics["snapshots_received"] >= 1
    assert statistics["polls_sent"] >= 1
    assert PASSWORD not in str({key: value for key, value in diagnostics.items() if key != "entry"})
    assert diagnostics["entry"]["data"]["password"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["username"] == "**REDACTED**"


async def test_diagnostics_redact_the_host_everywhere(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """The host is gone from the data, the title and the last connection error alike."""
    host = init_integration.data[CONF_HOST]
    hass.config_entries.async_update_entry(init_integration, title=f"IPCom ({host})")
    await lose_link(hass, simulator)
    coordinator = get_coordinator(hass)
    await wait_until(
        hass,
        lambda: host in (coordinator.client.statistics.last_error or ""),
        "a connection error that names the host",
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    assert host not in json.dumps(diagnostics)
    assert diagnostics["entry"]["data"][CONF_HOST] == REDACTED
    assert diagnostics["entry"]["title"] == f"IPCom ({REDACTED})"
    assert REDACTED in diagnostics["buses"]["1"]["statistics"]["last_error"]


async def test_diagnostics_follow_the_devices_changed_in_the_ui(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
) -> None:
    """A device added, changed or deleted as a subentry shows in the device map at once."""
    result = await async_add_device(
        hass, init_integration, "switch", {"name": "Porch", "module": 2, "output": 3}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    result = await async_reconfigure_device(
        hass, init_integration, "garage_door", {"reverse_pause": 1.5}
    )
    assert result["type"] is FlowResultType.ABORT, result
    assert result["reason"] == "reconfigure_successful"
    assert hass.config_entries.async_remove_subentry(
        init_integration, subentry_id_of(init_integration, "hall")
    )
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    device_map = diagnostics["device_map"]
    assert "porch" in {switch["key"] for switch in device_map["switches"]}
    assert "hall" not in {light["key"] for light in device_map["lights"]}
    pauses = {cover["key"]: cover["reverse_pause"] for cover in device_map["covers"]}
    assert pauses == {"living_shutter": None, "bedroom_shutter": None, "garage_door": 1.5}
