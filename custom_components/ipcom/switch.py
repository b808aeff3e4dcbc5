"""Switches: relay outputs that are not lights, such as sockets, pumps and fans."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ipcom.outputs import Switch

from .coordinator import IPComConfigEntry
from .entity import IPComEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for every switch of the device map."""
    async_add_entities(
        IPComSwitch(entry.entry_id, switch) for switch in entry.runtime_data.installation.switches
    )


class IPComSwitch(IPComEntity[Switch], SwitchEntity):
    """A relay output."""

    def __init__(self, entry_id: str, switch: Switch) -> None:
        """Describe the relay `switch`."""
        super().__init__(entry_id, switch)
        if switch.device_class is not None:
            self._attr_device_class = SwitchDeviceClass(switch.device_class)

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
