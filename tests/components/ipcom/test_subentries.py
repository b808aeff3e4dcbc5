"""Devices added, changed and deleted from the integration's page, while the installation runs.

Each test works through the subentry flows, as the UI does, on a loaded
entry connected to the simulator, and checks what a user sees (entities,
devices, errors at their field) and what the installation sees (no
reconnect, writes that land).
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType

import pytest
from homeassistant.components.light import ATTR_BRIGHTNESS, ATTR_SUPPORTED_COLOR_MODES, ColorMode
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import ATTR_ENTITY_ID, ATTR_FRIENDLY_NAME, SERVICE_TURN_ON, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import CONF_UNAVAILABLE_AFTER, DOMAIN
from custom_components.ipcom.unmapped import unmapped_output_issue_id
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    assert_written,
    async_add_device,
    async_reconfigure_device,
    get_installation,
    subentry_id_of,
    wait_for_state,
    wait_until,
)
from .registries import find_device

FREE_RELAY = {"module": 1, "output": 5}
"""An output of relay module 1 that the test devices do not use."""


def entity_of(entity_registry: er.EntityRegistry, domain: str, module: int, output: int) -> str:
    """The entity id of the entity on an output; fails when there is none."""
    entity_id = entity_registry.async_get_entity_id(domain, DOMAIN, f"{ENTRY_ID}_{module}_{output}")
    assert entity_id is not None, f"no {domain} on output {module}.{output}"
    return entity_id


@pytest.mark.usefixtures("init_integration")
async def test_a_light_added_in_the_ui_works_at_once_without_a_reconnect(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The new light joins its subentry and switches the output; the connection stays up."""
    entry = init_integration
    result = await async_add_device(hass, entry, "light", {"name": "Desk", **FREE_RELAY})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["unique_id"] == "1-1-5"
    await hass.async_block_till_done()

    entity_id = entity_of(entity_registry, "light", 1, 5)
    subentry_id = subentry_id_of(entry, "desk")
    assert entity_registry.async_get(entity_id).config_subentry_id == subentry_id
    device = find_device(device_registry, f"{ENTRY_ID}:device:desk")
    assert device is not None
    assert device.name == "Desk"
    assert device.via_device_id == find_device(device_registry, f"{ENTRY_ID}:module:1:1").id

    await hass.services.async_call(
        "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert simulator.get_value(1, 5) == 255
    assert hass.states.get(entity_id).state == STATE_ON
    assert simulator.connections_accepted == 1
    assert entry.state is ConfigEntryState.LOADED


async def test_a_write_under_way_lands_while_devices_change(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An action still waiting for its confirmation completes across a device change."""
    action = asyncio.create_task(
        hass.services.async_call(
            "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: "light.hall"}, blocking=True
        )
    )
    result = await async_add_device(hass, init_integration, "switch", {"name": "Fan", **FREE_RELAY})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await action
    assert_written(simulator, 1, 2, 255)
    assert hass.states.get("light.hall").state == STATE_ON
    assert simulator.connections_accepted == 1


async def test_a_dimmer_and_a_shutter_added_in_the_ui(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
) -> None:
    """A dimmable light on a dimmer module takes a brightness; a shutter with times a position."""
    entry = init_integration
    result = await async_add_device(
        hass, entry, "light", {"name": "Sofa", "module": 6, "output": 3, "dimmable": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await async_add_device(
        hass,
        entry,
        "shutter",
        {
            "name": "Kitchen shutter",
            "up_module": 7,
            "up_output": 1,
            "down_module": 7,
            "down_output": 2,
            "device_class": "blind",
            "travel_time_up": 15,
            "travel_time_down": 12.5,
            "reverse_pause": 0.2,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["up_key"] == "kitchen_shutter_up"
    await hass.async_block_till_done()

    sofa = entity_of(entity_registry, "light", 6, 3)
    assert hass.states.get(sofa).attributes[ATTR_SUPPORTED_COLOR_MODES] == [ColorMode.BRIGHTNESS]
    await hass.services.async_call(
        "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: sofa, ATTR_BRIGHTNESS: 128}, blocking=True
    )
    assert simulator.get_value(6, 3) == 50

    shutter = entity_of(entity_registry, "cover", 7, 1)
    state = hass.states.get(shutter)
    assert state.attributes["device_class"] == "blind"
    device = get_installation(hass).get("kitchen_shutter")
    assert device is not None
    assert device.entry.travel_time_down == 12.5
    assert device.entry.reverse_pause == 0.2


@pytest.mark.parametrize(
    ("kind", "user_input", "field", "error", "device"),
    [
        ("light", {"name": "Twin", "module": 1, "output": 2}, "output", "output_in_use", "Hall"),
        (
            "light",
            {"name": "Dim", "module": 1, "output": 6, "dimmable": True},
            "module",
            "module_is_relay",
            "Ceiling",
        ),
        (
            "switch",
            {"name": "Plug", "module": 6, "output": 4},
            "module",
            "module_is_dimmer",
            "Table",
        ),
        (
            "shutter",
            {"name": "Same", "up_module": 7, "up_output": 1, "down_module": 7, "down_output": 1},
            "down_output",
            "same_relay",
            "",
        ),
        (
            "shutter",
            {"name": "Over", "up_module": 7, "up_output": 1, "down_module": 3, "down_output": 1},
            "down_output",
            "output_in_use",
            "Shutter",
        ),
    ],
)
async def test_a_device_that_does_not_fit_is_refused_at_its_field(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    kind: str,
    user_input: dict[str, object],
    field: str,
    error: str,
    device: str,
) -> None:
    """The devices.yaml rules, each shown next to the field that breaks it; nothing is added."""
    before = len(init_integration.subentries)
    result = await async_add_device(hass, init_integration, kind, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert result["description_placeholders"]["device"] == device
    assert len(init_integration.subentries) == before


async def test_renaming_a_device_keeps_its_entity_and_moves_its_area(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    area_registry: ar.AreaRegistry,
) -> None:
    """A new name and area show at once; entity id, unique id and key stay."""
    kitchen = area_registry.async_create("Kitchen")
    result = await async_reconfigure_device(
        hass, init_integration, "hall", {"name": "Hallway", "area": kitchen.id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await wait_until(
        hass,
        lambda: (
            (state := hass.states.get("light.hall")) is not None
            and state.attributes.get(ATTR_FRIENDLY_NAME) == "Hallway"
        ),
        "the new name",
    )
    assert entity_of(entity_registry, "light", 1, 2) == "light.hall"
    device = find_device(device_registry, f"{ENTRY_ID}:device:hall")
    assert device is not None
    assert device.name == "Hallway"
    assert device.area_id == kitchen.id
    subentry = init_integration.subentries[subentry_id_of(init_integration, "hall")]
    assert subentry.title == "Hallway"
    assert subentry.data["area"] == "Kitchen"
    assert simulator.connections_accepted == 1


async def test_a_change_keeps_what_the_form_does_not_show(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An imported device's icon and description survive a rename in the UI."""
    entry = init_integration
    subentry = entry.subentries[subentry_id_of(entry, "hall")]
    hass.config_entries.async_update_subentry(
        entry,
        subentry,
        data={**subentry.data, "icon": "mdi:ceiling-light", "description": "By the door"},
    )
    await hass.async_block_till_done()
    result = await async_reconfigure_device(hass, entry, "hall", {"name": "Hallway"})
    assert result["type"] is FlowResultType.ABORT
    assert entry.subentries[subentry.subentry_id].data["icon"] == "mdi:ceiling-light"
    assert entry.subentries[subentry.subentry_id].data["description"] == "By the door"
    assert get_installation(hass).get("hall").entry.icon == "mdi:ceiling-light"


async def test_moving_a_device_to_another_output(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
) -> None:
    """The entity of the old output goes, the new output's comes and works."""
    result = await async_reconfigure_device(hass, init_integration, "hall", {"output": 7})
    assert result["type"] is FlowResultType.ABORT
    await hass.async_block_till_done()
    assert entity_registry.async_get_entity_id("light", DOMAIN, f"{ENTRY_ID}_1_2") is None
    entity_id = entity_of(entity_registry, "light", 1, 7)
    subentry = init_integration.subentries[subentry_id_of(init_integration, "hall")]
    assert subentry.unique_id == "1-1-7"
    await hass.services.async_call(
        "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert simulator.get_value(1, 7) == 255
    assert simulator.get_value(1, 2) == 0
    assert simulator.connections_accepted == 1


async def test_a_reconfigured_device_may_keep_its_own_output(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Its own output is not "in use" by itself."""
    result = await async_reconfigure_device(hass, init_integration, "dining_dimmer", {})
    assert result["type"] is FlowResultType.ABORT
    result = await async_reconfigure_device(hass, init_integration, "hall", {"output": 1})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"output": "output_in_use"}


async def test_deleting_a_device_removes_its_entity_and_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Deleting the subentry deletes the device; the others keep working, connected."""
    entry = init_integration
    assert hass.config_entries.async_remove_subentry(entry, subentry_id_of(entry, "hall"))
    await hass.async_block_till_done()
    assert entity_registry.async_get_entity_id("light", DOMAIN, f"{ENTRY_ID}_1_2") is None
    assert hass.states.get("light.hall") is None
    assert find_device(device_registry, f"{ENTRY_ID}:device:hall") is None
    assert get_installation(hass).get("hall") is None

    ceiling = entity_of(entity_registry, "light", 1, 1)
    await hass.services.async_call(
        "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: ceiling}, blocking=True
    )
    assert simulator.get_value(1, 1) == 255
    assert simulator.connections_accepted == 1


async def test_new_options_reconnect(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Options are how the entry connects: changing them reloads it (the update listener)."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**init_integration.options, CONF_UNAVAILABLE_AFTER: 5}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    simulator.wait_until(lambda sim: sim.connections_accepted == 2, description="a reconnect")
    await wait_for_state(hass, "light.hall", "off")


async def test_the_fix_flow_of_an_entry_whose_devices_no_longer_fit(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Devices that stopped making a valid map do not break the fix flow of an unmapped output.

    No flow of the integration stores such devices: here a subentry is
    written past the checks, through Home Assistant's own API, giving a
    second device the key of the hall light. The entry cannot run with them;
    the issues of outputs offered before stay. A fix flow cannot tell a
    dimmer module then, so it asks for the kind of a dimmer's output too;
    either way it says why the output cannot be added, and adds nothing.
    """
    entry = init_integration
    assert await async_setup_component(hass, "repairs", {})
    issues = ir.async_get(hass)
    relay, dimmer = (
        unmapped_output_issue_id(ENTRY_ID, 1, 1, 6),
        unmapped_output_issue_id(ENTRY_ID, 1, 6, 3),
    )
    simulator.press(1, 6)
    simulator.press(6, 3)
    await wait_until(
        hass,
        lambda: all(issues.async_get_issue(DOMAIN, issue_id) for issue_id in (relay, dimmer)),
        "the offers of 1.6 and 6.3",
    )

    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(
                {"key": "hall", "name": "Twin", "bus": 1, "module": 1, "output": 5}
            ),
            subentry_type="switch",
            title="Twin",
            unique_id="1-1-5",
        ),
    )
    await wait_until(hass, lambda: entry.state is ConfigEntryState.SETUP_ERROR, "the failed reload")
    manager = repairs_flow_manager(hass)
    assert manager is not None
    before = {subentry.unique_id for subentry in entry.subentries.values()}

    result = await manager.async_init(DOMAIN, data={"issue_id": relay})
    assert result["type"] is FlowResultType.FORM
    result = await manager.async_configure(result["flow_id"], {"name": "Fan", "kind": "switch"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_setting"}
    assert "the key hall of Twin is already Hall's" in result["description_placeholders"]["reason"]

    result = await manager.async_init(DOMAIN, data={"issue_id": dimmer})
    assert {str(marker) for marker in result["data_schema"].schema} == {"name", "kind", "area"}
    result = await manager.async_configure(result["flow_id"], {"name": "Sofa", "kind": "light"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "module_is_dimmer"}
    assert result["description_placeholders"]["device"] == "Table"

    assert {subentry.unique_id for subentry in entry.subentries.values()} == before
    assert all(issues.async_get_issue(DOMAIN, issue_id) for issue_id in (relay, dimmer))
