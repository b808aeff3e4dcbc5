"""An installation with two buses: one connection per bus, each bus's outage its own."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import CONF_BUS_2_TYPE, CONF_UNAVAILABLE_AFTER, DOMAIN
from custom_components.ipcom.identifiers import (
    connection_unique_id,
    hub_identifier,
    module_identifier,
    output_unique_id,
)
from ipcom import BusType
from ipcom.simulator import Simulator

from .conftest import (
    DEVICES_FIXTURE,
    ENTRY_ID,
    PASSWORD,
    USERNAME,
    entity_id_of,
    get_coordinator,
    wait_for_state,
    wait_until,
)
from .registries import find_device

SECOND_BUS_DEVICES = """
  barn_lamp:
    bus: 2
    module: 1
    output: 2
    display_name: Barn lamp
  stable_dimmer:
    bus: 2
    module: 4
    output: 1
    type: dimmer
    display_name: Stable
"""
"""Bus 2's lamps: module 1 output 2 is also the hall's address on bus 1."""


@pytest.fixture
def simulator() -> Generator[Simulator]:
    """A two-bus installation: bus 1 Minido, bus 2 BiBus, with its own dimmer module 4."""
    sim = Simulator(
        username=USERNAME,
        password=PASSWORD,
        buses={1: BusType.MINIDO, 2: BusType.BIBUS},
        dimmer_modules={6},
        dimmer_modules_by_bus={2: {4}},
        firmware_version="2.31",
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def devices_file(devices_file: Path) -> Path:
    """The shared test installation plus two lamps on bus 2."""
    text = DEVICES_FIXTURE.read_text(encoding="utf-8")
    devices_file.write_text(
        text.replace("\nlights:\n", f"\nlights:\n{SECOND_BUS_DEVICES}", 1), encoding="utf-8"
    )
    return devices_file


@pytest.fixture
def entry_options(entry_options: dict[str, Any]) -> dict[str, Any]:
    """No grace: a bus's outage shows at once, so the other bus's steadiness is visible."""
    return entry_options | {CONF_UNAVAILABLE_AFTER: 0}


@pytest.fixture
def mock_config_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The test entry, for an installation whose second bus is a BiBus."""
    return with_data(mock_config_entry, {**mock_config_entry.data, CONF_BUS_2_TYPE: "bibus"})


def with_data(entry: MockConfigEntry, data: dict[str, Any]) -> MockConfigEntry:
    """A copy of a test entry (not added yet) with other data."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        entry_id=entry.entry_id,
        version=entry.version,
        minor_version=entry.minor_version,
        data=data,
        options=dict(entry.options),
    )


@pytest.fixture
def platforms() -> list[Platform]:
    """Lights and the connectivity sensors."""
    return [Platform.BINARY_SENSOR, Platform.LIGHT]


def light(hass: HomeAssistant, module: int, output: int, bus: int = 1) -> str:
    """The entity id of the light on an output of a bus."""
    return entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, module, output, bus))


def connection(hass: HomeAssistant, bus: int) -> str:
    """The entity id of a bus's connectivity sensor."""
    return entity_id_of(hass, Platform.BINARY_SENSOR, connection_unique_id(ENTRY_ID, bus))


@pytest.mark.usefixtures("init_integration")
async def test_each_bus_has_its_connection_entities_and_modules(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, device_registry: dr.DeviceRegistry
) -> None:
    """Bus 1 keeps the unique ids of old; bus 2's name their bus; the hub shows the firmware."""
    assert get_coordinator(hass, 1).client.connected
    assert get_coordinator(hass, 2).client.connected
    assert hass.states.get(light(hass, 1, 2)).state == STATE_OFF
    assert hass.states.get(light(hass, 1, 2, bus=2)).state == STATE_OFF
    assert entity_registry.async_get_entity_id(Platform.LIGHT, DOMAIN, f"{ENTRY_ID}_1_2")
    assert entity_registry.async_get_entity_id(Platform.LIGHT, DOMAIN, f"{ENTRY_ID}_bus2_1_2")
    for bus in (1, 2):
        sensor = hass.states.get(connection(hass, bus))
        assert sensor.state == STATE_ON
        assert sensor.name.endswith(f"Connection bus {bus}")

    hub = find_device(device_registry, hub_identifier(ENTRY_ID)[1])
    assert hub is not None
    assert hub.sw_version == "2.31"
    stable_module = find_device(device_registry, module_identifier(ENTRY_ID, 4, 2)[1])
    assert stable_module is not None
    assert stable_module.model == "EXO DIM"
    assert stable_module.name == "Bus 2 module 4"


@pytest.mark.usefixtures("init_integration")
async def test_an_action_on_a_bus_2_lamp_writes_bus_2_only(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """Module 1 output 2 exists on both buses: the barn lamp's action reaches bus 2's."""
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: light(hass, 1, 2, bus=2)}, blocking=True
    )

    assert simulator.get_value(1, 2, bus=2) == 255
    assert simulator.get_value(1, 2) == 0
    assert [write.module for write in simulator.writes(bus=2)] == [1]
    assert simulator.writes() == []
    assert hass.states.get(light(hass, 1, 2, bus=2)).state == STATE_ON
    assert hass.states.get(light(hass, 1, 2)).state == STATE_OFF


@pytest.mark.usefixtures("init_integration")
async def test_a_wall_switch_on_bus_2_shows_on_its_own_lamp(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A press on bus 2 is followed through bus 2's connection."""
    simulator.press(4, 1, bus=2)

    await wait_for_state(hass, light(hass, 4, 1, bus=2), STATE_ON)
    assert hass.states.get(light(hass, 1, 2)).state == STATE_OFF


@pytest.mark.usefixtures("init_integration")
async def test_an_outage_of_bus_2_leaves_bus_1_available(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """Bus 2's lamps and sensor go; bus 1's lamps stay available and keep working."""
    bus_1 = get_coordinator(hass, 1)
    simulator.set_bus_reachable(2, False)

    await wait_for_state(hass, light(hass, 1, 2, bus=2), STATE_UNAVAILABLE)
    assert hass.states.get(connection(hass, 2)).state == STATE_OFF
    assert hass.states.get(connection(hass, 1)).state == STATE_ON
    assert hass.states.get(light(hass, 1, 2)).state == STATE_OFF
    assert bus_1.link_up
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: light(hass, 1, 2)}, blocking=True
    )
    assert simulator.get_value(1, 2) == 255

    simulator.set_bus_reachable(2, True)
    await wait_for_state(hass, light(hass, 1, 2, bus=2), STATE_OFF)
    await wait_until(hass, lambda: get_coordinator(hass, 2).link_up, "bus 2 back")
    assert hass.states.get(connection(hass, 2)).state == STATE_ON


async def test_a_map_with_bus_2_devices_needs_the_second_bus_configured(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Without a bus 2 type the frames cannot be addressed: setup stops and says why."""
    data = dict(mock_config_entry.data)
    del data[CONF_BUS_2_TYPE]
    entry = with_data(mock_config_entry, data)
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.reason is not None
    assert "bus 2" in entry.reason
    assert simulator.connections_accepted == 0


@pytest.mark.usefixtures("init_integration")
async def test_a_firmware_update_shows_on_the_hub_after_the_next_connect(
    hass: HomeAssistant, simulator: Simulator, device_registry: dr.DeviceRegistry
) -> None:
    """The connect response names the firmware every time; the hub follows it without a reload."""
    simulator.firmware_version = "2.40"
    simulator.drop_connections()

    def hub_firmware() -> str | None:
        hub = find_device(device_registry, hub_identifier(ENTRY_ID)[1])
        return None if hub is None else hub.sw_version

    await wait_until(hass, lambda: hub_firmware() == "2.40", "the hub showing 2.40")
