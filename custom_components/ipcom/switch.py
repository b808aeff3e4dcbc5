"""Switches: relay outputs that are not lights, such as sockets, pumps and fans."""

from __future__ import annotations

from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ipcom.outputs import Switch

from .coordinator import IPComConfigEntry
from .entity import IPComRelayEntity, async_add_device_entities

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch for every switch of the device map, and for each one added later."""
    async_add_device_entities(
        entry,
        async_add_entities,
        lambda entry_id, device: (
            IPComSwitch(entry_id, device) if isinstance(device, Switch) else None
        ),
    )


class IPComSwitch(IPComRelayEntity[Switch], SwitchEntity):
    """A relay output."""

    def __init__(self, entry_id: str, switch: Switch) -> None:
        """Describe the relay `switch`."""
        super().__init__(entry_id, switch)
        if switch.device_class is not None:
            self._attr_device_class = SwitchDeviceClass(switch.device_class)
