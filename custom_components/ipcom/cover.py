"""Covers: shutters driven by a pair of relays, one for each direction.

The library's `Shutter` keeps the motor's rules, follows the relays and
estimates the position; this entity shows it, passes the commands on and
keeps the estimate across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from homeassistant.components.cover import (
    ATTR_CURRENT_POSITION,
    ATTR_POSITION,
    CoverDeviceClass,
    CoverEntity,
    CoverEntityFeature,
    CoverState,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity

from ipcom.shutter import Shutter
from ipcom.travel import CLOSED, OPEN

from .coordinator import IPComConfigEntry
from .entity import IPComEntity, async_add_device_entities

PARALLEL_UPDATES = 0

_END_OF_STATE: dict[str, float] = {CoverState.CLOSED: CLOSED, CoverState.OPEN: OPEN}
"""What a shutter without travel times restores: closed, or open, as it last showed."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a cover for every shutter of the device map, and for each one added later."""
    async_add_device_entities(
        entry,
        async_add_entities,
        lambda entry_id, device: (
            IPComCover(entry_id, device) if isinstance(device, Shutter) else None
        ),
    )


@dataclass
class CoverExtraData(ExtraStoredData):
    """The estimated position at the moment the entity went away.

    Read from the running estimate when Home Assistant saves it, so a reload
    in the middle of a run restores where the shutter was stopped, not the
    last quarter it wrote.
    """

    position: float | None

    def as_dict(self) -> dict[str, Any]:
        """Serialise for the restore state store."""
        return {"position": self.position}

    @classmethod
    def from_dict(cls, restored: dict[str, Any]) -> Self | None:
        """Read what `as_dict` stored; None if it does not fit."""
        position = restored.get("position")
        if isinstance(position, int | float) and CLOSED <= position <= OPEN:
            return cls(float(position))
        return None


class IPComCover(IPComEntity[Shutter], CoverEntity, RestoreEntity):
    """A shutter on two relays, with an estimated position when its travel times are known.

    Without travel times only open, close and stop are offered, and the
    shutter shows closed or open from its last run to an end stop. Both
    kinds are an assumed state: the frontend then keeps open and close
    enabled at the ends, so a run that recalibrates the state stays one
    tap away.
    """

    _attr_assumed_state = True

    def __init__(self, entry_id: str, shutter: Shutter) -> None:
        """Describe `shutter`; it is identified by its up relay."""
        super().__init__(entry_id, shutter)
        self._attr_device_class = CoverDeviceClass(shutter.device_class)
        self._attr_supported_features = (
            CoverEntityFeature.OPEN | CoverEntityFeature.CLOSE | CoverEntityFeature.STOP
        )
        if shutter.positionable:
            self._attr_supported_features |= CoverEntityFeature.SET_POSITION

    @property
    def current_cover_position(self) -> int | None:
        """The estimated position, 0 closed .. 100 open; None while unknown."""
        position = self._device.position
        return None if position is None else round(position)

    @property
    def is_closed(self) -> bool | None:
        """Closed at position 0, or after a run down to the end stop; None while unknown."""
        return self._device.is_closed

    @property
    def is_opening(self) -> bool:
        """The up relay is on."""
        return self._device.is_opening

    @property
    def is_closing(self) -> bool:
        """The down relay is on."""
        return self._device.is_closing

    async def async_added_to_hass(self) -> None:
        """Give the shutter the position it had before a restart."""
        await super().async_added_to_hass()
        self._device.restore_position(await self._async_restored_position())

    async def _async_restored_position(self) -> float | None:
        if (extra := await self.async_get_last_extra_data()) and (
            restored := CoverExtraData.from_dict(extra.as_dict())
        ):
            return restored.position
        if (last_state := await self.async_get_last_state()) is None:
            return None
        if not self._device.positionable:
            return _END_OF_STATE.get(last_state.state)
        position = last_state.attributes.get(ATTR_CURRENT_POSITION)
        if isinstance(position, int | float) and CLOSED <= position <= OPEN:
            return float(position)
        return None

    @property
    def extra_restore_state_data(self) -> CoverExtraData:
        """Keep the estimate as it is right now, also in the middle of a run."""
        return CoverExtraData(self._device.position)

    async def async_open_cover(self, **kwargs: Any) -> None:
        """Run up to the end stop."""
        await self._async_carry_out(self._device.open)

    async def async_close_cover(self, **kwargs: Any) -> None:
        """Run down to the end stop."""
        await self._async_carry_out(self._device.close)

    async def async_stop_cover(self, **kwargs: Any) -> None:
        """Release both relays; a start waiting for its reversal rest is dropped."""
        await self._async_carry_out(self._device.stop)

    async def async_set_cover_position(self, **kwargs: Any) -> None:
        """Run to a position and stop there; the ends run on to the end stop."""
        position = float(kwargs[ATTR_POSITION])
        await self._async_carry_out(lambda: self._device.set_position(position))
