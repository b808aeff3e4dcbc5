"""The connectivity sensor follows the raw link state."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from ipcom.simulator import Simulator

from .conftest import ENTRY_ID, entity_id_of, snapshot_platform, wait_for_state


def connection(hass: HomeAssistant) -> str:
    """The entity id of the connectivity sensor."""
    return entity_id_of(hass, Platform.BINARY_SENSOR, f"{ENTRY_ID}_connection")


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the binary sensor platform."""
    return [Platform.BINARY_SENSOR]


async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Registry entry and state of the connectivity sensor."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_follows_the_link(hass: HomeAssistant, simulator: Simulator) -> None:
    """Off as soon as the link drops (no grace), on again when it is back; always available."""
    assert hass.states.get(connection(hass)).state == STATE_ON
    simulator.freeze()
    await wait_for_state(hass, connection(hass), STATE_OFF)
    simulator.unfreeze()
    await wait_for_state(hass, connection(hass), STATE_ON)
