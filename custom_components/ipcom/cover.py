"""Covers: shutters driven by a pair of relays, one for each direction.

The installation only knows two relays. This platform keeps the rules that
protect the motor (never both relays on, a rest before reversing) and, when
the device map gives travel times, estimates the position from running time.
Motion is read from the relays themselves, so a run started or stopped at a
wall switch is followed just like one started from Home Assistant.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Self

from homeassistant.components.cover import (
    ATTR_CURRENT_POSITION,
    ATTR_POSITION,
    CoverDeviceClass,
    CoverEntity,
    CoverEntityFeature,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity

from ipcom.devices import Cover, OutputAddress
from ipcom.models import value_is_on
from ipcom.travel import CLOSED, OPEN, POSITION_TOLERANCE, Direction, ShutterTravel, is_end
from ipcom.writes import AbandonReason, WriteAbandonedError

from .const import CONF_REVERSE_PAUSE, DEFAULT_REVERSE_PAUSE, DOMAIN
from .coordinator import WRITE_NOT_CONFIRMED, IPComConfigEntry, IPComCoordinator, QueuedWrite
from .entity import IPComEntity

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

MOVING_STATE_STEP = 25.0
"""Percent: a running shutter writes its estimate each time it passes a quarter of its travel.

Every write of a changed position is a row in the recorder; a write per
second filled it with one row per second of every run. Start, stop and each
new target are written at once, so the user sees the shutter react as
before, and the quarters keep the position moving in the UI: at most five
writes per full run, whatever the travel time.
"""

RELEASE_TIMEOUT = 10.0
"""Seconds to wait for the installation to show a relay off before its partner may switch on."""

STOP_RETRY_DELAY = 5.0
"""Seconds before a run that could not be stopped at its end (link down) is stopped again."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a cover for every relay pair of the device map."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        IPComCover(coordinator, cover) for cover in entry.runtime_data.device_map.covers
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


class IPComCover(IPComEntity, CoverEntity, RestoreEntity):
    """A shutter on two relays, with an estimated position when its travel times are known.

    Without travel times nothing tells when a run ends, so the state stays
    unknown and only open, close and stop are offered; the relay then runs
    until the installation or a stop releases it.

    An estimated position is an assumed state: the frontend then keeps open
    and close enabled at the ends, so a run that recalibrates the estimate
    stays one tap away.
    """

    def __init__(self, coordinator: IPComCoordinator, cover: Cover) -> None:
        """Describe the shutter `cover` of the device map; it is identified by its up relay."""
        super().__init__(
            coordinator, cover.key, cover.name, cover.up.module, cover.up.output, cover.area
        )
        self._cover = cover
        self._attr_icon = cover.icon
        self._attr_device_class = CoverDeviceClass(cover.device_class)
        self._travel = ShutterTravel(
            cover.travel_time_up, cover.travel_time_down, clock=coordinator.hass.loop.time
        )
        self._attr_supported_features = (
            CoverEntityFeature.OPEN | CoverEntityFeature.CLOSE | CoverEntityFeature.STOP
        )
        if self._travel.positionable:
            self._attr_supported_features |= CoverEntityFeature.SET_POSITION
            self._attr_assumed_state = True
        self._target: float | None = None
        self._commands = 0
        self._snapshot_seen = asyncio.Event()
        self._cancel_pending_start: CALLBACK_TYPE | None = None
        self._cancel_travel_end: CALLBACK_TYPE | None = None
        self._cancel_moving_state: CALLBACK_TYPE | None = None

    # State

    @property
    def current_cover_position(self) -> int | None:
        """The estimated position, 0 closed .. 100 open; None while unknown."""
        position = self._travel.position
        return None if position is None else round(position)

    @property
    def is_closed(self) -> bool | None:
        """Closed at position 0; unknown while the position is."""
        position = self.current_cover_position
        return None if position is None else position == CLOSED

    @property
    def is_opening(self) -> bool:
        """The up relay is on."""
        return self._travel.direction is Direction.UP

    @property
    def is_closing(self) -> bool:
        """The down relay is on."""
        return self._travel.direction is Direction.DOWN

    async def async_added_to_hass(self) -> None:
        """Restore the last estimated position and pick up a run already going on."""
        await super().async_added_to_hass()
        if self._travel.positionable:
            self._travel.set_position(await self._async_restored_position())
        self._sync_motion()

    async def _async_restored_position(self) -> float | None:
        if (extra := await self.async_get_last_extra_data()) and (
            restored := CoverExtraData.from_dict(extra.as_dict())
        ):
            return restored.position
        if last_state := await self.async_get_last_state():
            position = last_state.attributes.get(ATTR_CURRENT_POSITION)
            if isinstance(position, int | float) and CLOSED <= position <= OPEN:
                return float(position)
        return None

    @property
    def extra_restore_state_data(self) -> CoverExtraData:
        """Keep the estimate as it is right now, also in the middle of a run."""
        return CoverExtraData(self._travel.position)

    async def async_will_remove_from_hass(self) -> None:
        """Stop a run to a set position; cancel every timer and a start that waits.

        Removal is a reload (options, reauthentication, reconfiguration,
        `ipcom.reload_devices`) or the entry going away. Nothing would stop
        a run to a set position after it: the relay would stay on and the
        shutter end at its end stop. Stopping it keeps it where it is, with
        its position saved, and is what the user sees happen; the new entity
        cannot finish it reliably, since the reload can fail or take long,
        and a reload to change the travel time must not finish with the old
        one. A run to an end stop goes on: the relay is released by the
        installation's own end stop timing or, once reloaded, by the new
        entity, which follows the relays.
        """
        stop = (
            self._travel.direction is not None
            and self._target is not None
            and not is_end(self._target)
        )
        self._supersede()
        self._cancel_run_timers()
        if stop:
            await self._async_stop_before_removal()
        await super().async_will_remove_from_hass()

    async def _async_stop_before_removal(self) -> None:
        """Release both relays and wait until the installation shows it.

        The client drops writes it has not sent when it stops, which follows
        the removal at once, so the release must be confirmed first. The
        entity no longer listens to the coordinator by now, hence a listener
        of its own.
        """
        released = asyncio.Event()
        unsubscribe = self.coordinator.async_add_listener(released.set)
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT):
                await self.coordinator.async_confirm(*self._release_both())
                while self._relay_direction_seen() is not None:
                    released.clear()
                    await released.wait()
        except (HomeAssistantError, TimeoutError) as err:
            _LOGGER.warning(
                "%s could not be stopped before it was reloaded; it runs on to its end stop: %s",
                self.entity_id,
                err or "the installation did not confirm the stop",
            )
        finally:
            unsubscribe()

    def _relay_direction_seen(self) -> Direction | None:
        """The direction the installation itself shows, ignoring writes on their way."""
        data = self.coordinator.data
        if data.is_on(*self._cover.up):
            return Direction.UP
        return Direction.DOWN if data.is_on(*self._cover.down) else None

    def _watched_state(self) -> tuple[int, int]:
        data = self.coordinator.data
        return (data.get_value(*self._cover.up), data.get_value(*self._cover.down))

    @callback
    def _handle_coordinator_update(self) -> None:
        self._snapshot_seen.set()
        super()._handle_coordinator_update()

    @callback
    def _async_update_from_snapshot(self) -> None:
        self._sync_motion()

    # Commands

    async def async_open_cover(self, **kwargs: Any) -> None:
        """Run up to the end stop."""
        await self._async_run(Direction.UP, OPEN)

    async def async_close_cover(self, **kwargs: Any) -> None:
        """Run down to the end stop."""
        await self._async_run(Direction.DOWN, CLOSED)

    async def async_stop_cover(self, **kwargs: Any) -> None:
        """Release both relays; a start waiting for its reversal rest is dropped."""
        self._supersede()
        await self._async_stop_motor()

    async def async_set_cover_position(self, **kwargs: Any) -> None:
        """Run to a position and stop there; the ends run on to the end stop."""
        target = float(kwargs[ATTR_POSITION])
        if not is_end(target) and self._travel.position is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="cover_position_unknown",
                translation_placeholders={"name": self._cover.name},
            )
        direction = self._travel.direction_to(target)
        if direction is None:
            if self._travel.direction is None:
                self._supersede()
            else:
                await self.async_stop_cover()
            return
        await self._async_run(direction, target)

    async def _async_run(self, direction: Direction, target: float) -> None:
        """Run in `direction` until `target`, resting first when that reverses the motor."""
        ticket = self._supersede()
        if self._travel.direction is direction:
            self._target = target
            self._schedule_run_timers()
            return
        pause = float(
            self.coordinator.config_entry.options.get(CONF_REVERSE_PAUSE, DEFAULT_REVERSE_PAUSE)
        )
        if self._travel.direction is not None and pause > 0:
            await self._async_stop_motor()
            if ticket != self._commands:
                return
        if (rest := self._travel.rest_before(direction, pause)) > 0:
            self._cancel_pending_start = async_call_later(
                self.hass, rest, partial(self._async_start_after_rest, direction, target, ticket)
            )
            self.async_write_ha_state()
            return
        await self._async_start(direction, target, ticket)
        self.async_write_ha_state()

    async def _async_start_after_rest(
        self, direction: Direction, target: float, ticket: int, _now: datetime
    ) -> None:
        self._cancel_pending_start = None
        try:
            await self._async_start(direction, target, ticket)
        except HomeAssistantError as err:
            _LOGGER.warning("%s did not start after its reversal rest: %s", self.entity_id, err)
        self.async_write_ha_state()

    async def _async_start(self, direction: Direction, target: float, ticket: int) -> None:
        """Switch the relay of `direction` on, its partner off first; never both on.

        On one module a single frame does both, so the installation never sees
        both relays on. Across modules the on is written only once a snapshot
        shows the partner off, rather than trusting the client's frame order:
        it merges writes per module, so a write queued earlier for the on
        relay's module could otherwise leave before the partner's off.

        The run is followed from the moment its write is queued, as the
        client's expected values show it; the command returns once the
        installation shows it, and fails if the installation does not.
        """
        on, off = self._relays(direction)
        if on.module == off.module:
            write = self.coordinator.async_write_relays(
                on.module, {off.output: False, on.output: True}
            )
        else:
            if not await self._async_release(off, ticket):
                return
            write = self.coordinator.async_write_relay(on.module, on.output, on=True)
        self._target = target
        self._sync_motion()
        self.async_write_ha_state()
        await self.coordinator.async_confirm(write)

    async def _async_release(self, relay: OutputAddress, ticket: int) -> bool:
        """Switch `relay` off and wait until the installation shows it off.

        Returns False when a newer command took over while waiting. A release
        the installation did not carry out (it still shows the relay on) fails
        as `cover_relay_not_released`, unless a newer command took over.
        """
        if self._relay_on(relay):
            write = self.coordinator.async_write_relay(relay.module, relay.output, on=False)
            self._sync_motion()
            try:
                await self.coordinator.async_confirm(write)
            except HomeAssistantError as err:
                if ticket != self._commands:
                    return False
                if err.translation_key == WRITE_NOT_CONFIRMED:
                    raise self._relay_not_released() from err
                raise
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT):
                while self.coordinator.data.is_on(*relay):
                    if ticket != self._commands:
                        return False
                    self._snapshot_seen.clear()
                    await self._snapshot_seen.wait()
        except TimeoutError as err:
            raise self._relay_not_released() from err
        return ticket == self._commands

    def _relay_not_released(self) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="cover_relay_not_released",
            translation_placeholders={"name": self._cover.name},
        )

    async def _async_stop_motor(self) -> None:
        """Release both relays, show the motor stopped, and wait until the installation does."""
        writes = self._release_both()
        self._sync_motion()
        self.async_write_ha_state()
        await self.coordinator.async_confirm(*writes)

    def _release_both(self) -> list[QueuedWrite]:
        """Queue the release of both relays, both before waiting for either.

        One frame on one module; across modules a failure of one must not keep
        the other from being switched off. Fails at once while disconnected.
        """
        up, down = self._cover.up, self._cover.down
        if up.module == down.module:
            return [
                self.coordinator.async_write_relays(
                    up.module, {up.output: False, down.output: False}
                )
            ]
        return [
            self.coordinator.async_write_relay(up.module, up.output, on=False),
            self.coordinator.async_write_relay(down.module, down.output, on=False),
        ]

    # Motion

    def _relays(self, direction: Direction) -> tuple[OutputAddress, OutputAddress]:
        """The relay that drives `direction`, then its partner."""
        if direction is Direction.UP:
            return self._cover.up, self._cover.down
        return self._cover.down, self._cover.up

    def _relay_on(self, relay: OutputAddress) -> bool:
        """Whether the relay is, or is about to be after this client's own writes, on."""
        expected = self.coordinator.expected_value(*relay)
        if expected is None:
            return self.coordinator.data.is_on(*relay)
        return value_is_on(expected)

    def _relay_direction(self) -> Direction | None:
        up = self._relay_on(self._cover.up)
        down = self._relay_on(self._cover.down)
        if up and down:
            _LOGGER.warning(
                "The installation has both relays of %s on; the motor is not tracked",
                self.entity_id,
            )
            return None
        if up:
            return Direction.UP
        return Direction.DOWN if down else None

    @callback
    def _sync_motion(self) -> None:
        """Follow what the relays do now, whoever switched them."""
        direction = self._relay_direction()
        if direction is self._travel.direction:
            return
        self._cancel_run_timers()
        if direction is None:
            self._travel.stop()
            self._target = None
            return
        self._travel.start(direction)
        if self._target is None or self._travel.direction_to(self._target) is not direction:
            self._target = direction.end
        self._schedule_run_timers()

    @callback
    def _schedule_run_timers(self) -> None:
        """Stop the motor when the run reaches its target; show the motion meanwhile."""
        if not self._travel.positionable or self._target is None:
            return
        if self._cancel_travel_end is not None:
            self._cancel_travel_end()
        self._cancel_travel_end = async_call_later(
            self.hass, self._travel.seconds_until(self._target), self._async_travel_ended
        )
        self._schedule_moving_state()

    @callback
    def _schedule_moving_state(self) -> None:
        """Write the estimate when the run next passes a quarter short of its target.

        A run from an unknown position is written once, when the estimate becomes known.
        """
        if self._cancel_moving_state is not None:
            self._cancel_moving_state()
            self._cancel_moving_state = None
        position, direction, target = self._travel.position, self._travel.direction, self._target
        if position is None:
            if (seconds := self._travel.seconds_until_known()) is not None:
                self._cancel_moving_state = async_call_later(
                    self.hass, seconds, self._async_write_moving_state
                )
            return
        if direction is None or target is None:
            return
        if direction is Direction.UP:
            step = (
                math.floor((position + POSITION_TOLERANCE) / MOVING_STATE_STEP) + 1
            ) * MOVING_STATE_STEP
            if step >= target:
                return
        else:
            step = (
                math.ceil((position - POSITION_TOLERANCE) / MOVING_STATE_STEP) - 1
            ) * MOVING_STATE_STEP
            if step <= target:
                return
        self._cancel_moving_state = async_call_later(
            self.hass, self._travel.seconds_until(step), self._async_write_moving_state
        )

    async def _async_travel_ended(self, _now: datetime, *, retry: bool = False) -> None:
        """Stop the motor at the end of its run, and again every few seconds while disconnected.

        Nobody waits for this stop, so a failure is logged, never raised into
        the timer. A stop the installation did not carry out leaves the entity
        following the relays again: a relay still on is a run, timed to its
        end stop and stopped there.
        """
        self._cancel_travel_end = None
        target = self._target
        try:
            writes = self._release_both()
        except HomeAssistantError as err:
            _LOGGER.log(
                logging.DEBUG if retry else logging.WARNING,
                "%s could not be stopped at the end of its run, retrying every %s s: %s",
                self.entity_id,
                STOP_RETRY_DELAY,
                err,
            )
            self._cancel_travel_end = async_call_later(
                self.hass, STOP_RETRY_DELAY, partial(self._async_travel_ended, retry=True)
            )
            return
        self._sync_motion()
        if target is not None:
            self._travel.set_position(target)
        self.async_write_ha_state()
        try:
            await self.coordinator.async_confirm(*writes)
        except HomeAssistantError as err:
            cause = err.__cause__
            stopped = (
                isinstance(cause, WriteAbandonedError) and cause.reason is AbandonReason.STOPPED
            )
            _LOGGER.log(
                logging.DEBUG if stopped else logging.WARNING,
                "%s was not stopped at the end of its run; it follows its relays again: %s",
                self.entity_id,
                err,
            )
            self._async_write_abandoned()

    @callback
    def _async_write_moving_state(self, _now: datetime) -> None:
        self._cancel_moving_state = None
        self.async_write_ha_state()
        self._schedule_moving_state()

    def _supersede(self) -> int:
        """Make way for a new command: drop a pending start, wake a start that waits.

        Returns the new command's ticket; a start holding an older one gives up.
        """
        self._commands += 1
        self._snapshot_seen.set()
        if self._cancel_pending_start is not None:
            self._cancel_pending_start()
            self._cancel_pending_start = None
        return self._commands

    def _cancel_run_timers(self) -> None:
        if self._cancel_travel_end is not None:
            self._cancel_travel_end()
            self._cancel_travel_end = None
        if self._cancel_moving_state is not None:
            self._cancel_moving_state()
            self._cancel_moving_state = None
