"""Switches: relay outputs that are not lights, such as sockets, pumps and fans."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ipcom.devices import Switch
from ipcom.protocol import RELAY_OFF, RELAY_ON

from .coordinator import IPComConfigEntry, IPComCoordinator
from .entity import IPComEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for every switch of the device map."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        IPComSwitch(coordinator, switch) for switch in entry.runtime_data.device_map.switches
    )


class IPComSwitch(IPComEntity, SwitchEntity):
    """A relay output."""

    def __init__(self, coordinator: IPComCoordinator, switch: Switch) -> None:
        """Describe the relay `switch` of the device map."""
        super().__init__(
            coordinator, switch.key, switch.name, switch.module, switch.output, switch.area
        )

    @property
    def is_on(self) -> bool:
        """Any non-zero value counts as on."""
        return self.coordinator.data.is_on(self.module, self.output)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Energise the relay."""
        await self.coordinator.async_set_value(self.module, self.output, RELAY_ON)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Release the relay."""
        await self.coordinator.async_set_value(self.module, self.output, RELAY_OFF)
