"""Switches: relay outputs that are not lights."""

from __future__ import annotations

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from ipcom.simulator import Simulator

from .conftest import assert_written, lose_link, press_wall_switch, wait_until

SOCKET = "switch.garden_socket"


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the switch platform."""
    return [Platform.SWITCH]


async def call(hass: HomeAssistant, service: str, entity_id: str) -> None:
    """Call a switch service and wait for it."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Registry entries and states of every switch, one of them on."""
    await press_wall_switch(hass, simulator, 2, 2)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_follows_wall_switch(hass: HomeAssistant, simulator: Simulator) -> None:
    """A press on the installation shows in Home Assistant."""
    assert hass.states.get(SOCKET).state == STATE_OFF
    await press_wall_switch(hass, simulator, 2, 1)
    assert hass.states.get(SOCKET).state == STATE_ON
    await press_wall_switch(hass, simulator, 2, 1)
    assert hass.states.get(SOCKET).state == STATE_OFF


@pytest.mark.usefixtures("init_integration")
async def test_commands(hass: HomeAssistant, simulator: Simulator) -> None:
    """Turning on and off writes 255 and 0 to the relay, and the neighbour keeps its state."""
    await press_wall_switch(hass, simulator, 2, 2)
    await call(hass, SERVICE_TURN_ON, SOCKET)
    assert_written(simulator, 2, 1, 255)
    await wait_until(hass, lambda: hass.states.get(SOCKET).state == STATE_ON, "socket on")
    await call(hass, SERVICE_TURN_OFF, SOCKET)
    assert_written(simulator, 2, 1, 0)
    await wait_until(hass, lambda: hass.states.get(SOCKET).state == STATE_OFF, "socket off")
    assert simulator.get_value(2, 2) == 255


@pytest.mark.usefixtures("init_integration")
async def test_command_while_disconnected(hass: HomeAssistant, simulator: Simulator) -> None:
    """Nothing is queued while the link is down."""
    await lose_link(hass, simulator)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, SERVICE_TURN_OFF, SOCKET)
    assert err.value.translation_key == "not_connected"
    assert simulator.writes() == []
