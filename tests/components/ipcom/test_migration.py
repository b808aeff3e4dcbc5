"""Config entry 1.1 -> 1.2: device identifiers get one namespace per kind, rows keep their ids."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import DOMAIN

from .conftest import ENTRY_ID, async_write_text
from .registries import find_device


async def test_old_identifiers_are_rewritten_in_place(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """`<entry>_module_<n>` and `<entry>_<key>` become the new identifiers of the same rows."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, minor_version=1, unique_id="127.0.0.1:5000")
    device_registry = dr.async_get(hass)
    porch = ar.async_get(hass).async_get_or_create("Porch")
    hub = device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, ENTRY_ID)}, name="IPCom test"
    )
    module = device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"{ENTRY_ID}_module_1")}, name="Module 1"
    )
    hall = device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"{ENTRY_ID}_hall")}, name="Hall"
    )
    device_registry.async_update_device(hall.id, area_id=porch.id, name_by_user="Front hall")
    light = er.async_get(hass).async_get_or_create(
        "light",
        DOMAIN,
        f"{ENTRY_ID}_1_2",
        config_entry=entry,
        device_id=hall.id,
        suggested_object_id="front",
    )

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == 2
    assert entry.unique_id is None

    assert find_device(device_registry, ENTRY_ID) == device_registry.async_get(hub.id)
    migrated_module = find_device(device_registry, f"{ENTRY_ID}:module:1:1")
    assert migrated_module is not None
    assert migrated_module.id == module.id
    assert migrated_module.via_device_id == hub.id
    migrated_hall = find_device(device_registry, f"{ENTRY_ID}:device:hall")
    assert migrated_hall is not None
    assert migrated_hall.id == hall.id
    assert migrated_hall.area_id == porch.id
    assert migrated_hall.name_by_user == "Front hall"
    assert migrated_hall.via_device_id == module.id
    entity = er.async_get(hass).async_get("light.front")
    assert entity is not None
    assert entity.id == light.id
    assert entity.device_id == hall.id
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_key_named_like_a_module_is_its_own_device(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, devices_file: Path
) -> None:
    """A key `module_1` and module 1 are two devices; the lamp hangs off the module."""
    await async_write_text(
        hass,
        devices_file,
        "lights:\n  module_1:\n    module: 1\n    output: 1\n    display_name: Porch lamp\n",
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    device_registry = dr.async_get(hass)
    hub = find_device(device_registry, ENTRY_ID)
    module = find_device(device_registry, f"{ENTRY_ID}:module:1:1")
    lamp = find_device(device_registry, f"{ENTRY_ID}:device:module_1")
    assert hub is not None
    assert module is not None
    assert lamp is not None
    assert module.id != lamp.id
    assert module.name == "Module 1"
    assert module.via_device_id == hub.id
    assert lamp.name == "Porch lamp"
    assert lamp.via_device_id == module.id
    assert len(dr.async_entries_for_config_entry(device_registry, ENTRY_ID)) == 3
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
