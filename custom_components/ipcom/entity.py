"""The base entity: one library device, its registry ids, availability and state updates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ipcom.device import Device
from ipcom.outputs import RelayDevice
from ipcom.writes import WriteOutcome

from .command import async_carry_out
from .coordinator import IPComConfigEntry
from .identifiers import device_identifier, output_unique_id


@callback
def async_add_device_entities(
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entity_of: Callable[[str, Device], Entity | None],
) -> None:
    """Add the platform's entity of each device, now and for each device added later.

    `entity_of` returns the platform's entity of a device, or None for a
    device of another platform. Each entity joins its device's subentry.
    """
    runtime = entry.runtime_data

    @callback
    def add(devices: Iterable[Device]) -> None:
        for device in devices:
            if (entity := entity_of(entry.entry_id, device)) is not None:
                async_add_entities(
                    [entity], config_subentry_id=runtime.subentry_ids.get(device.key)
                )

    add(runtime.installation)
    entry.async_on_unload(runtime.async_on_devices_added(add))


class IPComEntity[DeviceT: Device](Entity):
    """The entity of one device of the device map, wrapping its library device.

    Each mapped device gets a Home Assistant device of its own, attached to
    the bus module that drives it, so areas can be assigned per device. The
    library device tells the entity when its own outputs or its availability
    changed, on the event loop; a change elsewhere on the bus leaves it alone.
    """

    _attr_has_entity_name = True
    _attr_name = None
    _attr_should_poll = False

    def __init__(self, entry_id: str, device: DeviceT) -> None:
        """Describe the entity of `device`; it is identified by its first output."""
        self._device = device
        self._attr_unique_id = output_unique_id(entry_id, *device.outputs[0], device.entry.bus)
        self._attr_device_info = DeviceInfo(
            identifiers={device_identifier(entry_id, device.key)},
            name=device.name,
            suggested_area=device.entry.area,
        )
        if device.entry.icon:
            # Only an icon given to the device: `icon:` in a devices.yaml, or the account
            # import's, from the Home Anywhere drawing of a light or a switch (never of a
            # shutter). Without one the frontend shows the icons of the device class,
            # which follow the state (a shutter open, closed, opening, closing).
            self._attr_icon = device.entry.icon

    @property
    def available(self) -> bool:
        """The device's bus link is up, or has been down for less than the configured grace."""
        return self._device.available

    async def async_added_to_hass(self) -> None:
        """Write the state each time the device says it changed."""
        await super().async_added_to_hass()
        self.async_on_remove(self._device.subscribe(self._async_device_changed))

    @callback
    def _async_device_changed(self) -> None:
        """Show the device's new state; leave when it left the device map.

        A device that was changed or deleted in the UI leaves; a changed one
        comes back as a new entity with the same unique id, so its entity id,
        area and history stay.
        """
        if self._device.removed:
            self.hass.async_create_task(self.async_remove(force_remove=True), eager_start=True)
            return
        self.async_write_ha_state()

    async def _async_carry_out(self, command: Callable[[], Future[WriteOutcome]]) -> None:
        """Run a device command and return once the installation shows it; raise if it does not."""
        await async_carry_out(command, self._device.name, self._device.link.target)


class IPComRelayEntity[RelayT: RelayDevice](IPComEntity[RelayT]):
    """An entity that switches one relay output on and off (a lamp, a socket)."""

    @property
    def is_on(self) -> bool | None:
        """Any non-zero value counts as on."""
        return self._device.is_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Energise the relay."""
        await self._async_carry_out(self._device.turn_on)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Release the relay."""
        await self._async_carry_out(self._device.turn_off)
