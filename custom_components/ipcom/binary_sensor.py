"""The connectivity sensors: whether each bus's link to the installation is up right now."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import IPComConfigEntry, IPComCoordinator
from .identifiers import connection_unique_id

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add one connectivity sensor per bus connection."""
    coordinators = entry.runtime_data.coordinators
    async_add_entities(
        IPComConnectivitySensor(coordinator, named_by_bus=len(coordinators) > 1)
        for coordinator in coordinators.values()
    )


class IPComConnectivitySensor(CoordinatorEntity[IPComCoordinator], BinarySensorEntity):
    """The raw link state, without the grace period the other entities allow.

    It stays available while the link is down: being off is exactly what it
    has to report then.
    """

    _attr_has_entity_name = True
    _attr_translation_key = "connection"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: IPComCoordinator, *, named_by_bus: bool) -> None:
        """Attach the sensor to the hub device of the entry; name its bus when there are two."""
        super().__init__(coordinator)
        entry_id = coordinator.config_entry.entry_id
        self._attr_unique_id = connection_unique_id(entry_id, coordinator.bus)
        if named_by_bus:
            self._attr_translation_key = "connection_bus"
            self._attr_translation_placeholders = {"bus": str(coordinator.bus)}
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry_id)})
        self._attr_is_on = coordinator.link_up

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write state only when the link went up or down."""
        if self.coordinator.link_up == self._attr_is_on:
            return
        self._attr_is_on = self.coordinator.link_up
        self.async_write_ha_state()
