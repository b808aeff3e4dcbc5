"""Lights: relay outputs switch on and off, dimmer outputs also take a brightness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from homeassistant.components.light import ATTR_BRIGHTNESS, LightEntity
from homeassistant.components.light.const import ColorMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity
from homeassistant.util.color import brightness_to_value, value_to_brightness

from ipcom.device import Device
from ipcom.limits import DIMMER_MAX
from ipcom.outputs import Dimmer, Light

from .coordinator import IPComConfigEntry
from .entity import IPComRelayEntity, async_add_device_entities

PARALLEL_UPDATES = 0

PERCENT_SCALE = (1, DIMMER_MAX)
"""A dimmer output reads 0..100 %; 0 is off, so brightness maps onto 1..100."""


def percent_to_brightness(percent: int) -> int:
    """Home Assistant brightness (1..255) of a dimmer level (1..100 %)."""
    return value_to_brightness(PERCENT_SCALE, min(percent, DIMMER_MAX))


def brightness_to_percent(brightness: int) -> int:
    """Dimmer level of a brightness; every percent survives a round trip, and 1..255 stays on."""
    return max(1, round(brightness_to_value(PERCENT_SCALE, brightness)))


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a light for every light of the device map, and for each one added later."""
    async_add_device_entities(entry, async_add_entities, _light_entity)


def _light_entity(entry_id: str, device: Device) -> IPComRelayLight | IPComDimmerLight | None:
    if isinstance(device, Dimmer):
        return IPComDimmerLight(entry_id, device)
    if isinstance(device, Light):
        return IPComRelayLight(entry_id, device)
    return None


class IPComRelayLight(IPComRelayEntity[Light], LightEntity):
    """A lamp on a relay output."""

    _attr_color_mode = ColorMode.ONOFF

    def __init__(self, entry_id: str, light: Light) -> None:
        """Describe the lamp `light`."""
        super().__init__(entry_id, light)
        self._attr_supported_color_modes = {ColorMode.ONOFF}


@dataclass
class DimmerExtraData(ExtraStoredData):
    """The level a dimmer returns to when it is turned on without a brightness."""

    last_level: int | None

    def as_dict(self) -> dict[str, Any]:
        """Serialise for the restore state store."""
        return {"last_level": self.last_level}

    @classmethod
    def from_dict(cls, restored: dict[str, Any]) -> Self | None:
        """Read what `as_dict` stored; None if it does not fit."""
        level = restored.get("last_level")
        if level is None or (isinstance(level, int) and 1 <= level <= DIMMER_MAX):
            return cls(level)
        return None


class IPComDimmerLight(IPComRelayEntity[Dimmer], LightEntity, RestoreEntity):
    """A lamp on a dimmer output, whose value is its level in percent."""

    _attr_color_mode = ColorMode.BRIGHTNESS

    def __init__(self, entry_id: str, dimmer: Dimmer) -> None:
        """Describe the dimmable lamp `dimmer`."""
        super().__init__(entry_id, dimmer)
        self._attr_supported_color_modes = {ColorMode.BRIGHTNESS}

    async def async_added_to_hass(self) -> None:
        """Give the dimmer the level it was last lit at before a restart."""
        await super().async_added_to_hass()
        if (extra := await self.async_get_last_extra_data()) and (
            restored := DimmerExtraData.from_dict(extra.as_dict())
        ):
            self._device.restore_last_level(restored.last_level)

    @property
    def extra_restore_state_data(self) -> DimmerExtraData:
        """Keep the last level for the next start."""
        return DimmerExtraData(self._device.last_level)

    @property
    def brightness(self) -> int | None:
        """The level of the dimmer as a Home Assistant brightness."""
        level = self._device.level
        return percent_to_brightness(level) if level else None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Dim to the requested brightness, or back to the last level (full if none)."""
        level = (
            brightness_to_percent(kwargs[ATTR_BRIGHTNESS]) if ATTR_BRIGHTNESS in kwargs else None
        )
        await self._async_carry_out(lambda: self._device.turn_on(level))
