"""The integration's rows in the device and entity registries, kept in step with the device map.

The hub, one device per bus module and one per mapped device, each linked
to its parent; a mapped device belongs to the subentry that holds it, so
deleting the subentry deletes it. Rows of outputs that left the map go.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)

from .const import (
    DIMMER_MODULE_MODEL,
    DOMAIN,
    FIRST_BUS,
    HUB_MODEL,
    MANUFACTURER,
    RELAY_MODULE_MODEL,
    STATISTIC_SENSORS,
)
from .identifiers import (
    connection_unique_id,
    device_identifier,
    hub_identifier,
    is_own_identifier,
    is_own_unique_id,
    module_identifier,
    output_unique_id,
    statistic_unique_id,
)

if TYPE_CHECKING:
    from ipcom.devices import DeviceEntry, DeviceMap

    from .coordinator import IPComConfigEntry, IPComRuntimeData

_LOGGER = logging.getLogger(__name__)


@callback
def async_register_devices(
    hass: HomeAssistant, entry: IPComConfigEntry, runtime: IPComRuntimeData
) -> None:
    """Register the hub, the modules and the mapped devices, each linked to its parent.

    The hub shows the firmware the installation named when it connected.
    Links are set by registry id with `async_update_device`, the one way every
    supported Home Assistant release accepts; entities then only name their device.
    """
    device_registry = dr.async_get(hass)
    entry_id = entry.entry_id
    device_map = runtime.device_map
    hub = device_registry.async_get_or_create(
        config_entry_id=entry_id,
        identifiers={hub_identifier(entry_id)},
        manufacturer=MANUFACTURER,
        model=HUB_MODEL,
        name=entry.title,
        sw_version=next(
            (
                client.firmware_version
                for client in runtime.installation.clients.values()
                if client.firmware_version
            ),
            None,
        ),
    )
    module_ids: dict[tuple[int, int], str] = {}
    for bus in device_map.buses():
        dimmer_modules = device_map.dimmer_modules(bus)
        for module in device_map.modules(bus):
            device = device_registry.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={module_identifier(entry_id, module, bus)},
                manufacturer=MANUFACTURER,
                model=DIMMER_MODULE_MODEL if module in dimmer_modules else RELAY_MODULE_MODEL,
                translation_key="module" if bus == FIRST_BUS else "module_on_bus",
                translation_placeholders={"module": str(module), "bus": str(bus)},
            )
            _async_link(device_registry, device, hub.id)
            module_ids[bus, module] = device.id
    mapped: list[tuple[DeviceEntry, int]] = [(light, light.module) for light in device_map.lights]
    mapped += [(switch, switch.module) for switch in device_map.switches]
    mapped += [(cover, cover.up.module) for cover in device_map.covers]
    registered = {
        identifier: device
        for device in dr.async_entries_for_config_entry(device_registry, entry_id)
        for identifier in device.identifiers
    }
    for device_of_map, module in mapped:
        subentry_id = runtime.subentry_ids.get(device_of_map.key)
        identifier = device_identifier(entry_id, device_of_map.key)
        if (existing := registered.get(identifier)) is not None:
            _async_move_to_subentry(device_registry, existing, entry_id, subentry_id)
        device = device_registry.async_get_or_create(
            config_entry_id=entry_id,
            config_subentry_id=subentry_id,
            identifiers={identifier},
            name=device_of_map.name,
            suggested_area=device_of_map.area,
        )
        _async_link(device_registry, device, module_ids[device_of_map.bus, module])


_ONE_SUBENTRY_PER_DEVICE: Final = (
    "new_config_subentry_id" in inspect.signature(dr.DeviceRegistry.async_update_device).parameters
)
"""Since Home Assistant 2026.10 a device belongs to one subentry and moves explicitly.

Before, a device could belong to several subentries of an entry at once.
"""


def _async_move_to_subentry(
    device_registry: dr.DeviceRegistry,
    device: dr.DeviceEntry,
    entry_id: str,
    subentry_id: str | None,
) -> None:
    """Make `subentry_id` the only subentry of the entry that `device` belongs to.

    A device registered before devices were subentries belongs to the entry
    itself; moved into its subentry, it goes when the subentry is deleted.
    """
    if _ONE_SUBENTRY_PER_DEVICE:
        if getattr(device, "config_subentry_id", None) != subentry_id:
            moved: dict[str, Any] = {"new_config_subentry_id": subentry_id}
            device_registry.async_update_device(device.id, **moved)
        return
    current = device.config_entries_subentries.get(entry_id, set())
    if subentry_id not in current:
        device_registry.async_update_device(
            device.id, add_config_entry_id=entry_id, add_config_subentry_id=subentry_id
        )
    for other in current - {subentry_id}:
        device_registry.async_update_device(
            device.id, remove_config_entry_id=entry_id, remove_config_subentry_id=other
        )


def _async_link(device_registry: dr.DeviceRegistry, device: dr.DeviceEntry, via_id: str) -> None:
    if device.via_device_id != via_id:
        device_registry.async_update_device(device.id, via_device_id=via_id)


def expected_device_identifiers(entry_id: str, device_map: DeviceMap) -> set[tuple[str, str]]:
    """The device registry identifiers the current device map accounts for."""
    identifiers = {hub_identifier(entry_id)}
    identifiers.update(
        module_identifier(entry_id, module, bus)
        for bus in device_map.buses()
        for module in device_map.modules(bus)
    )
    identifiers.update(device_identifier(entry_id, device.key) for device in device_map)
    return identifiers


def _expected_entities(
    entry_id: str, device_map: DeviceMap, buses: Iterable[int]
) -> set[tuple[str, str]]:
    """The (entity domain, unique id) pairs the current device map accounts for.

    The domain counts: an output moved from `lights:` to `switches:` keeps its
    unique id but is a different entity.
    """
    buses = tuple(buses)
    expected = {
        (Platform.BINARY_SENSOR.value, connection_unique_id(entry_id, bus)) for bus in buses
    }
    expected.update(
        (Platform.SENSOR.value, statistic_unique_id(entry_id, key, bus))
        for bus in buses
        for key in STATISTIC_SENSORS
    )
    expected.update(
        (Platform.LIGHT.value, output_unique_id(entry_id, light.module, light.output, light.bus))
        for light in device_map.lights
    )
    expected.update(
        (
            Platform.SWITCH.value,
            output_unique_id(entry_id, switch.module, switch.output, switch.bus),
        )
        for switch in device_map.switches
    )
    expected.update(
        (
            Platform.COVER.value,
            output_unique_id(entry_id, cover.up.module, cover.up.output, cover.bus),
        )
        for cover in device_map.covers
    )
    return expected


@callback
def async_remove_stale_entries(
    hass: HomeAssistant, entry: IPComConfigEntry, device_map: DeviceMap, buses: Iterable[int]
) -> None:
    """Forget this integration's devices and entities of outputs that left the device map.

    Only rows of this entry with this integration's id shapes are looked at:
    rows of the other `ipcom` integration that could not be adopted stay for
    the user to inspect.
    """
    entry_id = entry.entry_id
    entity_registry = er.async_get(hass)
    expected = _expected_entities(entry_id, device_map, buses)
    for entity_entry in er.async_entries_for_config_entry(entity_registry, entry_id):
        if (
            entity_entry.platform == DOMAIN
            and is_own_unique_id(entry_id, entity_entry.unique_id)
            and (entity_entry.domain, entity_entry.unique_id) not in expected
        ):
            _LOGGER.debug("Removing %s: its output left the device map", entity_entry.entity_id)
            entity_registry.async_remove(entity_entry.entity_id)

    device_registry = dr.async_get(hass)
    identifiers = expected_device_identifiers(entry_id, device_map)
    for device in dr.async_entries_for_config_entry(device_registry, entry_id):
        own = {
            identifier
            for identifier in device.identifiers
            if identifier[0] == DOMAIN and is_own_identifier(entry_id, identifier[1])
        }
        if own and not own & identifiers:
            _LOGGER.debug("Removing device %s: it left the device map", device.name)
            device_registry.async_remove_device(device.id)


@callback
def async_update_areas(
    hass: HomeAssistant, entry: IPComConfigEntry, before: DeviceMap, after: DeviceMap
) -> None:
    """Move a device to the area its subentry now names.

    A device's area is suggested only when the device is created; a changed
    area in the subentry's form is the user's choice, so it is applied.
    """
    device_registry = dr.async_get(hass)
    area_registry = ar.async_get(hass)
    registered = {
        identifier: device
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        for identifier in device.identifiers
    }
    for device_of_map in after:
        old = before.get(device_of_map.key)
        if old is None or old.key != device_of_map.key or old.area == device_of_map.area:
            continue
        device = registered.get(device_identifier(entry.entry_id, device_of_map.key))
        if device is None:
            continue
        area_id = (
            area_registry.async_get_or_create(device_of_map.area).id if device_of_map.area else None
        )
        device_registry.async_update_device(device.id, area_id=area_id)
