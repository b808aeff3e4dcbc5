"""Switches: relay outputs that are not lights, such as sockets, pumps and fans."""

from __future__ import annotations

from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ipcom.devices import Switch

from .coordinator import IPComConfigEntry, IPComCoordinator
from .entity import IPComRelayEntity

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


class IPComSwitch(IPComRelayEntity, SwitchEntity):
    """A relay output."""

    def __init__(self, coordinator: IPComCoordinator, switch: Switch) -> None:
        """Describe the relay `switch` of the device map."""
        super().__init__(
            coordinator, switch.key, switch.name, switch.module, switch.output, switch.area
        )
        self._attr_icon = switch.icon
        if switch.device_class is not None:
            self._attr_device_class = SwitchDeviceClass(switch.device_class)
