"""Config entry migrations.

1.1 -> 1.2: device identifiers get one namespace per kind, rows keep their ids.
Entries of 1.1 name a devices file: the setup after the migration imports it
into subentries, and the migrated rows join the subentries of their devices.

1.2 -> 1.3: the poll interval is no longer an option; the other options stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import (
    CONF_DEVICES_FILE,
    CONF_POLL_INTERVAL,
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.ipcom.migration import CONFIG_MINOR_VERSION
from ipcom.simulator import Simulator

from .conftest import ENTRY_ID, async_add_device, async_write_text, subentry_id_of
from .registries import find_device


def device_subentry(device: dr.DeviceEntry, entry_id: str = ENTRY_ID) -> str | None:
    """The subentry of the entry a device belongs to (2026.10: one; before: a set of them)."""
    if hasattr(device, "config_subentry_id"):
        subentry_id: str | None = device.config_subentry_id
        return subentry_id
    (subentry_id,) = device.config_entries_subentries[entry_id]
    return subentry_id


async def test_old_identifiers_are_rewritten_in_place(
    hass: HomeAssistant, file_config_entry: MockConfigEntry
) -> None:
    """`<entry>_module_<n>` and `<entry>_<key>` become the new identifiers of the same rows.

    The migrated device of a mapped key then belongs to the subentry its device became.
    """
    entry = file_config_entry
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
    assert entry.minor_version == CONFIG_MINOR_VERSION
    assert entry.unique_id is None
    assert CONF_DEVICES_FILE not in entry.data

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
    assert device_subentry(migrated_hall) == subentry_id_of(entry, "hall")
    assert device_subentry(migrated_module) is None
    entity = er.async_get(hass).async_get("light.front")
    assert entity is not None
    assert entity.id == light.id
    assert entity.device_id == hall.id
    assert entity.config_subentry_id == subentry_id_of(entry, "hall")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_key_named_like_a_module_is_its_own_device(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, devices_file: Path
) -> None:
    """A key `module_1` and module 1 are two devices; the lamp hangs off the module.

    The import keeps the file's key, so the lamp's device is `module_1`'s.
    """
    await async_write_text(
        hass,
        devices_file,
        "lights:\n  module_1:\n    module: 1\n    output: 1\n    display_name: Porch lamp\n",
    )
    entry = file_config_entry
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert [subentry.data["key"] for subentry in entry.subentries.values()] == ["module_1"]

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
    assert device_subentry(lamp) == subentry_id_of(entry, "module_1")
    assert len(dr.async_entries_for_config_entry(device_registry, ENTRY_ID)) == 3
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_lamp_added_as_module_1_is_its_own_device(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A lamp named "Module 1" in the UI gets the key `module_1`: a device of its own."""
    connections = simulator.connections_accepted
    result = await async_add_device(
        hass, init_integration, "light", {"name": "Module 1", "module": 1, "output": 3}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()

    device_registry = dr.async_get(hass)
    module = find_device(device_registry, f"{ENTRY_ID}:module:1:1")
    lamp = find_device(device_registry, f"{ENTRY_ID}:device:module_1")
    assert module is not None
    assert lamp is not None
    assert module.id != lamp.id
    assert module.name == "Module 1"
    assert lamp.name == "Module 1"
    assert lamp.via_device_id == module.id
    assert device_subentry(lamp) == subentry_id_of(init_integration, "module_1")
    assert simulator.connections_accepted == connections


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_POLL_INTERVAL: 500, CONF_UNAVAILABLE_AFTER: 30, CONF_REVERSE_PAUSE: 1.5}],
)
async def test_poll_interval_option_is_dropped(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, entry_options: dict[str, Any]
) -> None:
    """An entry of 1.2 loses its poll interval option; the others and its data stay."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, minor_version=2)
    data = dict(entry.data)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == CONFIG_MINOR_VERSION == 3
    assert entry.options == {CONF_UNAVAILABLE_AFTER: 30, CONF_REVERSE_PAUSE: 1.5}
    assert entry.data == data
    assert len(entry.subentries) == len(mock_config_entry.subentries)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_newer_major_version_is_refused(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """An entry of a newer major version is left alone and not set up."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, version=2)

    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.version == 2
