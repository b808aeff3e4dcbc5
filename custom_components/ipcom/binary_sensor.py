"""The connectivity sensor: whether the link to the installation is up right now."""

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

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the connectivity sensor of the installation."""
    async_add_entities([IPComConnectivitySensor(entry.runtime_data.coordinator)])


class IPComConnectivitySensor(CoordinatorEntity[IPComCoordinator], BinarySensorEntity):
    """The raw link state, without the grace period the other entities allow.

    It stays available while the link is down: being off is exactly what it
    has to report then.
    """

    _attr_has_entity_name = True
    _attr_translation_key = "connection"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: IPComCoordinator) -> None:
        """Attach the sensor to the hub device of the entry."""
        super().__init__(coordinator)
        entry_id = coordinator.config_entry.entry_id
        self._attr_unique_id = f"{entry_id}_connection"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry_id)})
        self._attr_is_on = coordinator.link_up

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write state only when the link went up or down."""
        if self.coordinator.link_up == self._attr_is_on:
            return
        self._attr_is_on = self.coordinator.link_up
        self.async_write_ha_state()
