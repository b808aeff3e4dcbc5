"""Diagnostics of a config entry."""

from __future__ import annotations

import json

from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from ipcom.simulator import Simulator

from .conftest import PASSWORD, get_coordinator, lose_link, set_installation_output, wait_until


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
