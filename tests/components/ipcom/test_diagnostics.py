"""Diagnostics of a config entry."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from ipcom.simulator import Simulator

from .conftest import PASSWORD, set_installation_output


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
    statistics = diagnostics["statistics"]
    assert statistics["snapshots_received"] >= 1
    assert statistics["polls_sent"] >= 1
    assert PASSWORD not in str({key: value for key, value in diagnostics.items() if key != "entry"})
    assert diagnostics["entry"]["data"]["password"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["username"] == "**REDACTED**"
