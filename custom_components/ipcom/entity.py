"""The base entity: unique id, device info and availability shared by every platform."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import IPComCoordinator
from .identifiers import device_identifier, output_unique_id


class IPComEntity(CoordinatorEntity[IPComCoordinator]):
    """An entity for one device of the device map.

    Each mapped device gets a Home Assistant device of its own, attached to the
    bus module that drives it, so areas can be assigned per device. State is
    written only when the outputs the entity watches, or its availability,
    changed: a snapshot that moves another output leaves this entity alone.
    """

    _attr_has_entity_name = True
    _attr_name = None

    def __init__(  # noqa: PLR0917 - the signature every platform shares
        self,
        coordinator: IPComCoordinator,
        key: str,
        name: str,
        module: int,
        output: int,
        area: str | None,
    ) -> None:
        """Describe the entity of the device `key` driven by (module, output)."""
        super().__init__(coordinator)
        entry_id = coordinator.config_entry.entry_id
        self.key = key
        self.module = module
        self.output = output
        self._attr_unique_id = output_unique_id(entry_id, module, output)
        self._attr_device_info = DeviceInfo(
            identifiers={device_identifier(entry_id, key)}, name=name, suggested_area=area
        )
        self._written: Hashable = None

    @property
    def available(self) -> bool:
        """Unavailable once the link has been down longer than the configured grace."""
        return self.coordinator.connected and super().available

    def _watched_state(self) -> Hashable:
        """What the entity's state depends on; a change of it triggers a state write."""
        return self.coordinator.data.get_value(self.module, self.output)

    def _fingerprint(self) -> Hashable:
        return (self.available, self._watched_state())

    async def async_added_to_hass(self) -> None:
        """Remember what the first state was written from."""
        await super().async_added_to_hass()
        self._written = self._fingerprint()
        self.async_on_remove(
            self.coordinator.async_add_write_abandoned_listener(self._async_write_abandoned)
        )

    @callback
    def _async_write_abandoned(self) -> None:
        """Show the installation's state again: a write given up on no longer counts."""
        self._written = None
        self._handle_coordinator_update()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write state only when something this entity shows has changed."""
        fingerprint = self._fingerprint()
        if fingerprint == self._written:
            return
        self._written = fingerprint
        self._async_update_from_snapshot()
        self.async_write_ha_state()

    @callback
    def _async_update_from_snapshot(self) -> None:
        """Hook for platforms that derive attributes from the new snapshot."""


class IPComRelayEntity(IPComEntity):
    """An entity that switches one relay output on and off (a lamp, a socket)."""

    @property
    def is_on(self) -> bool:
        """Any non-zero value counts as on."""
        return self.coordinator.data.is_on(self.module, self.output)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Energise the relay."""
        await self.coordinator.async_turn_on(self.module, self.output)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Release the relay."""
        await self.coordinator.async_turn_off(self.module, self.output)
