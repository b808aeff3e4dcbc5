"""An installation with two buses: one connection per bus, each bus's outage its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import (
    CONF_BUS_2_TYPE,
    CONF_DEVICES_FILE,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.ipcom.identifiers import (
    connection_unique_id,
    device_identifier,
    hub_identifier,
    module_identifier,
    output_unique_id,
)
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    TWO_BUS_DEVICES,
    async_add_device,
    entity_id_of,
    get_coordinator,
    subentry_id_of,
    two_bus_entry,
    wait_for_state,
    wait_until,
)
from .registries import find_device


@pytest.fixture
def simulator(two_bus_simulator: Simulator) -> Simulator:
    """Every test here runs on the two-bus installation, with firmware 2.31."""
    two_bus_simulator.firmware_version = "2.31"
    return two_bus_simulator


@pytest.fixture
def entry_options(entry_options: dict[str, Any]) -> dict[str, Any]:
    """No grace: a bus's outage shows at once, so the other bus's steadiness is visible."""
    return entry_options | {CONF_UNAVAILABLE_AFTER: 0}


@pytest.fixture
def mock_config_entry(simulator: Simulator, entry_options: dict[str, Any]) -> MockConfigEntry:
    """The test entry, for an installation whose second bus is a BiBus, with bus 2's lamps."""
    return two_bus_entry(simulator, entry_options)


@pytest.fixture
def devices_file(devices_file: Path) -> Path:
    """The shared test installation plus two lamps on bus 2, as a file to import."""
    devices_file.write_text(TWO_BUS_DEVICES, encoding="utf-8")
    return devices_file


@pytest.fixture
def file_config_entry(file_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The old-style entry naming the two-bus devices file, for an installation with a BiBus."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=file_config_entry.title,
        entry_id=file_config_entry.entry_id,
        version=file_config_entry.version,
        minor_version=file_config_entry.minor_version,
        data={**file_config_entry.data, CONF_BUS_2_TYPE: "bibus"},
        options=dict(file_config_entry.options),
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
    hass: HomeAssistant, simulator: Simulator, entry_options: dict[str, Any]
) -> None:
    """Without a bus 2 type the frames cannot be addressed: setup stops and says why."""
    entry = two_bus_entry(simulator, entry_options, bus_2_type=None)
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "bus 2" in entry.reason
    assert simulator.connections_accepted == 0


@pytest.mark.usefixtures("init_integration")
async def test_a_lamp_added_on_bus_2_works_without_reconnecting(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A lamp added in the UI on bus 2 drives bus 2's output; both connections stay up."""
    connections = simulator.connections_accepted
    assert connections == 2

    result = await async_add_device(
        hass,
        init_integration,
        "light",
        {"name": "Hayloft", "bus": "2", "module": 1, "output": 3, "dimmable": False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()

    subentry = init_integration.subentries[subentry_id_of(init_integration, "hayloft")]
    assert subentry.unique_id == "2-1-3"
    assert subentry.data["bus"] == 2
    lamp = light(hass, 1, 3, bus=2)
    await wait_for_state(hass, lamp, STATE_OFF)
    assert entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, 1, 3, 2)) == lamp
    device = find_device(device_registry, device_identifier(ENTRY_ID, "hayloft")[1])
    assert device is not None
    module = find_device(device_registry, module_identifier(ENTRY_ID, 1, 2)[1])
    assert module is not None
    assert device.via_device_id == module.id

    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: lamp}, blocking=True
    )
    assert simulator.get_value(1, 3, bus=2) == 255
    assert simulator.get_value(1, 3) == 0
    assert simulator.writes() == []
    assert hass.states.get(lamp).state == STATE_ON
    assert init_integration.state is ConfigEntryState.LOADED
    assert simulator.connections_accepted == connections


async def test_a_lamp_added_without_choosing_a_bus_is_on_bus_1(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The bus field's default is a valid choice: a form left as shown adds to bus 1."""
    result = await async_add_device(
        hass, init_integration, "light", {"name": "Porch", "module": 1, "output": 7}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["unique_id"] == "1-1-7"
    assert result["data"]["bus"] == 1


async def test_a_two_bus_devices_file_is_imported_with_its_buses(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Bus 2's lamps of a devices file become subentries on bus 2, with bus 2's unique ids."""
    file_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(file_config_entry.entry_id)
    await hass.async_block_till_done()

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert CONF_DEVICES_FILE not in file_config_entry.data
    imported = {
        subentry.data["key"]: (subentry.unique_id, subentry.data["bus"])
        for subentry in file_config_entry.subentries.values()
    }
    assert imported["barn_lamp"] == ("2-1-2", 2)
    assert imported["stable_dimmer"] == ("2-4-1", 2)
    assert imported["hall"] == ("1-1-2", 1)
    assert entity_registry.async_get_entity_id(Platform.LIGHT, DOMAIN, f"{ENTRY_ID}_bus2_1_2")
    assert entity_registry.async_get_entity_id(Platform.LIGHT, DOMAIN, f"{ENTRY_ID}_bus2_4_1")
    assert entity_registry.async_get_entity_id(Platform.LIGHT, DOMAIN, f"{ENTRY_ID}_1_2")
    assert await hass.config_entries.async_unload(file_config_entry.entry_id)


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
