"""Where a shutter is, estimated from how long its motor has run.

An IPCom shutter is two plain relays: the installation reports which one is
on, never where the shutter is. This module keeps the arithmetic that turns
running time into a position (0 closed .. 100 open), and remembers when the
motor last ran so it can rest before turning the other way. It knows nothing
of Home Assistant; the clock is injected so tests can drive it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

CLOSED: Final = 0.0
OPEN: Final = 100.0

OVERRUN_RATIO: Final = 0.1
"""A run to an end stop lasts this share of a full travel longer than the estimate needs."""

OVERRUN_MAX: Final = 10.0
"""Seconds: the overrun of a very slow shutter stays short all the same."""

POSITION_TOLERANCE: Final = 0.5
"""Percent: a target this close to the estimate is already reached (positions are shown rounded)."""


class Direction(enum.StrEnum):
    """Which relay drives the motor."""

    UP = "up"
    DOWN = "down"

    @property
    def opposite(self) -> Direction:
        """The direction a reversal turns to."""
        return Direction.DOWN if self is Direction.UP else Direction.UP

    @property
    def end(self) -> float:
        """The end stop a run in this direction finishes at."""
        return OPEN if self is Direction.UP else CLOSED


def is_end(position: float) -> bool:
    """Whether `position` is fully open or fully closed."""
    return position in (CLOSED, OPEN)


class ShutterTravel:
    """The motion of one shutter: its direction, its estimated position, its last run.

    Without travel times the position stays unknown and only the direction and
    the reversal rest are tracked. With them, the position is known once it
    was restored or set, or once the motor ran long enough to reach an end stop
    from anywhere. A run that started at an unknown position is timed as if it
    started at the far end, so "open" and "close" always reach the end stop.
    """

    def __init__(
        self,
        travel_time_up: float | None,
        travel_time_down: float | None,
        *,
        clock: Callable[[], float],
    ) -> None:
        """Track a shutter taking `travel_time_up`/`_down` seconds for a full travel.

        When only one of the two times is given it serves both directions; with
        neither the position is never estimated. `clock` returns monotonic seconds.
        """
        travel_up = travel_time_up if travel_time_up is not None else travel_time_down
        travel_down = travel_time_down if travel_time_down is not None else travel_time_up
        for travel_time in (travel_up, travel_down):
            if travel_time is not None and travel_time <= 0:
                raise ValueError(f"a travel time must be positive, got {travel_time}")
        self._travel_times: dict[Direction, float] | None = (
            None
            if travel_up is None or travel_down is None
            else {Direction.UP: travel_up, Direction.DOWN: travel_down}
        )
        self._clock = clock
        self._direction: Direction | None = None
        self._position: float | None = None
        self._started = 0.0
        self._last_direction: Direction | None = None
        self._stopped = 0.0

    @property
    def positionable(self) -> bool:
        """Whether travel times are known, so that positions can be estimated."""
        return self._travel_times is not None

    @property
    def direction(self) -> Direction | None:
        """The direction the motor runs in, None while it stands still."""
        return self._direction

    @property
    def position(self) -> float | None:
        """The estimated position now, None while it is unknown."""
        if self._direction is None:
            return self._position
        moved = self._moved(self._direction)
        if self._position is None:
            return self._direction.end if moved >= OPEN else None
        if self._direction is Direction.UP:
            return min(OPEN, self._position + moved)
        return max(CLOSED, self._position - moved)

    def set_position(self, position: float | None) -> None:
        """Take `position` as the truth now: a restored state or a completed run."""
        if position is not None and not CLOSED <= position <= OPEN:
            raise ValueError(f"a position must be {CLOSED:g}..{OPEN:g}, got {position}")
        if self._travel_times is None:
            return
        self._position = position
        self._started = self._clock()

    def start(self, direction: Direction) -> None:
        """Note that the motor started running in `direction`."""
        if direction is self._direction:
            return
        if self._direction is not None:
            self.stop()
        self._position = self.position
        self._direction = direction
        self._started = self._clock()

    def stop(self) -> None:
        """Note that the motor stopped; the position freezes at the estimate."""
        if self._direction is None:
            return
        self._position = self.position
        self._last_direction = self._direction
        self._direction = None
        self._stopped = self._clock()

    def direction_to(self, target: float) -> Direction | None:
        """The direction that brings the shutter to `target`; None when it is there already.

        An end stop is always reached by running towards it, even when the
        estimate says the shutter is there: the run recalibrates the estimate.
        """
        if target == OPEN:
            return Direction.UP
        if target == CLOSED:
            return Direction.DOWN
        position = self.position
        if position is None:
            raise ValueError("the position is unknown")
        if abs(target - position) < POSITION_TOLERANCE:
            return None
        return Direction.UP if target > position else Direction.DOWN

    def seconds_until(self, target: float) -> float:
        """How long the motor must run from now to bring the shutter to `target`.

        A run to an end stop gets the overrun on top, so the real end stop is
        reached even when the estimate has drifted.
        """
        if self._travel_times is None:
            raise ValueError("a shutter without travel times has no position")
        direction = self.direction_to(target)
        if direction is None:
            return 0.0
        travel_time = self._travel_times[direction]
        position = self.position
        if position is None:
            moved = self._moved(direction) if self._direction is direction else CLOSED
            distance = max(CLOSED, OPEN - moved)
        else:
            distance = abs(target - position)
        seconds = distance / OPEN * travel_time
        if is_end(target):
            seconds += min(OVERRUN_RATIO * travel_time, OVERRUN_MAX)
        return seconds

    def seconds_until_known(self) -> float | None:
        """How long the current run must go on for an unknown position to become known.

        None when nothing is running, the position is known or cannot be estimated.
        """
        if self._travel_times is None or self._direction is None or self.position is not None:
            return None
        remaining = OPEN - self._moved(self._direction)
        return max(0.0, remaining / OPEN * self._travel_times[self._direction])

    def rest_before(self, direction: Direction, pause: float) -> float:
        """Seconds the motor must still rest before it may run in `direction`.

        A motor that runs, or ran less than `pause` seconds ago, the other
        way must rest first; starting again the same way needs no rest.
        """
        if self._direction is direction.opposite:
            return pause
        if self._direction is None and self._last_direction is direction.opposite:
            return max(0.0, pause - (self._clock() - self._stopped))
        return 0.0

    def _moved(self, direction: Direction) -> float:
        """Percent of a full travel covered since the current run (in `direction`) started."""
        if self._travel_times is None:
            return CLOSED
        elapsed = self._clock() - self._started
        return elapsed / self._travel_times[direction] * OPEN
