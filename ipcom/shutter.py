"""A shutter on two relays, one per direction: the motor's rules and where it is.

The installation only knows two relays. This module keeps the rules that
protect the motor and follows it:

- never both relays on: on one module a single frame switches the partner
  off and the driving relay on; across two modules the partner is confirmed
  off before the other relay is written on (the client merges writes per
  module, so their order on the wire is not the order they were queued in);
- a rest of `reverse_pause` seconds before the motor turns the other way,
  also after a run that was stopped at a wall switch;
- motion is read from the relays themselves, so a run started or stopped at
  a wall switch is followed like one started here;
- with travel times, the position is estimated from running time
  (`ShutterTravel`): a run to a set position is stopped there, a run to an
  end stop recalibrates the estimate. Without them, the shutter is assumed
  closed after a run down that it was not stopped in, open otherwise.

Everything runs in the installation's context (`ipcom.scheduling`); the
commands may be called from any thread and return a handle at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Final

from .device import Device, Link
from .devices import CoverEntry
from .errors import IPComConnectionError, IPComError
from .models import OutputAddress, value_is_on
from .protocol import RELAY_OFF, RELAY_ON
from .scheduling import Cancel, Scheduler
from .travel import CLOSED, OPEN, POSITION_TOLERANCE, Direction, ShutterTravel, is_end
from .writes import AbandonedWrite, AbandonReason, WriteAbandonedError, WriteHandle, WriteOutcome

_LOGGER = logging.getLogger(__name__)

DEFAULT_REVERSE_PAUSE: Final = 0.5
"""Seconds the motor rests before it turns the other way."""

MOVING_STEP: Final = 25.0
"""Percent: a running shutter tells its listeners each time it passes a quarter of its travel.

Start, stop and each new target are told at once; the quarters keep a shown
position moving without a state change per second of every run (each one is
a row in a recorder).
"""

STOP_RETRY_DELAY: Final = 5.0
"""Seconds before a run that could not be stopped at its end (link down) is stopped again."""

ShutterHandle = Future[WriteOutcome]
"""Completes when the installation shows what a command asked, or fails saying why."""


class ShutterPositionUnknownError(IPComError, ValueError):
    """A position between the ends was asked while the shutter's position is unknown."""

    def __init__(self, shutter: str) -> None:
        super().__init__(f"the position of {shutter} is not known yet: open or close it fully once")
        self.shutter = shutter


class RelayNotReleasedError(IPComError):
    """The relay of the other direction stayed on, so the run was not started."""

    def __init__(self, shutter: str, write: AbandonedWrite) -> None:
        super().__init__(
            f"{shutter}: module {write.module} output {write.output} stayed on, "
            "so the motor was not started the other way"
        )
        self.shutter = shutter
        self.write = write


@dataclass(frozen=True, slots=True)
class _Run:
    """A command to run the motor: its direction, where it stops, its number and its handle."""

    direction: Direction
    target: float
    command: int
    done: ShutterHandle


class _Gather:
    """Waits for several write handles; calls `then` in the context once all have ended."""

    def __init__(
        self,
        scheduler: Scheduler,
        handles: Sequence[WriteHandle],
        then: Callable[[BaseException | None, bool], None],
    ) -> None:
        self._scheduler = scheduler
        self._left = len(handles)
        self._error: BaseException | None = None
        self._superseded = False
        self._then = then
        for handle in handles:
            handle.add_done_callback(self._ended)

    def _ended(self, handle: WriteHandle) -> None:
        self._scheduler.call_soon(partial(self._count, handle))

    def _count(self, handle: WriteHandle) -> None:
        error = handle.exception()
        if error is not None:
            self._error = self._error or error
        elif handle.result() is WriteOutcome.SUPERSEDED:
            self._superseded = True
        self._left -= 1
        if self._left == 0:
            self._then(self._error, self._superseded)


def _finish(
    done: ShutterHandle, error: BaseException | None = None, *, superseded: bool = False
) -> None:
    """End a command's handle once: failed, superseded by a newer command, or confirmed."""
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(WriteOutcome.SUPERSEDED if superseded else WriteOutcome.CONFIRMED)


class Shutter(Device):
    """A shutter on an up relay and a down relay, with its position when travel times are known."""

    entry: CoverEntry

    def __init__(
        self,
        entry: CoverEntry,
        link: Link,
        scheduler: Scheduler,
        *,
        reverse_pause: float = DEFAULT_REVERSE_PAUSE,
    ) -> None:
        if not math.isfinite(reverse_pause) or reverse_pause < 0:
            raise ValueError(f"reverse_pause must be 0 or more seconds, got {reverse_pause}")
        super().__init__(entry, (entry.up, entry.down), link)
        self._scheduler = scheduler
        self._reverse_pause = reverse_pause
        self._travel = ShutterTravel(
            entry.travel_time_up, entry.travel_time_down, clock=scheduler.time
        )
        self._target: float | None = None
        self._command = 0
        self._pending_start: tuple[Cancel, ShutterHandle] | None = None
        self._cancel_travel_end: Cancel | None = None
        self._cancel_step: Cancel | None = None
        self._released_here = False
        """The current or last run was stopped by this shutter's own release, not by itself."""
        self._assumed_closed: bool | None = None
        self._both_on = False
        self._closed = False

    # State

    @property
    def device_class(self) -> str:
        """What kind of cover the map says it is (`COVER_DEVICE_CLASSES`)."""
        return self.entry.device_class

    @property
    def positionable(self) -> bool:
        """Whether travel times are known, so positions are estimated and can be set."""
        return self._travel.positionable

    @property
    def direction(self) -> Direction | None:
        """Where the motor runs, None while it stands still."""
        return self._travel.direction

    @property
    def is_opening(self) -> bool:
        """The up relay is on (or about to be, by this client's write)."""
        return self._travel.direction is Direction.UP

    @property
    def is_closing(self) -> bool:
        """The down relay is on (or about to be)."""
        return self._travel.direction is Direction.DOWN

    @property
    def waiting_to_start(self) -> bool:
        """A run waits for the motor's reversal rest to end before it starts."""
        return self._pending_start is not None

    @property
    def position(self) -> float | None:
        """The estimated position, 0 closed .. 100 open; None while unknown (or no travel times)."""
        return self._travel.position

    @property
    def is_closed(self) -> bool | None:
        """Closed at position 0; without travel times, after a run down it was not stopped in.

        None while nothing tells: no position yet, or no run seen nor restored.
        """
        if self._travel.positionable:
            position = self.position
            return None if position is None else round(position) == CLOSED
        return self._assumed_closed

    # Commands

    def open(self) -> ShutterHandle:
        """Run up to the end stop."""
        return self._post(partial(self._run, Direction.UP, OPEN))

    def close(self) -> ShutterHandle:
        """Run down to the end stop."""
        return self._post(partial(self._run, Direction.DOWN, CLOSED))

    def stop(self) -> ShutterHandle:
        """Release both relays; a start waiting for its rest is dropped."""
        return self._post(self._stop)

    def set_position(self, position: float) -> ShutterHandle:
        """Run to `position` (0 closed .. 100 open) and stop there; the ends run to the end stop.

        Raises `ShutterPositionUnknownError` for a position between the ends
        while the shutter's own position is unknown or cannot be estimated.
        """
        if not CLOSED <= position <= OPEN:
            raise ValueError(f"a position must be {CLOSED:g}..{OPEN:g}, got {position}")
        if not is_end(position) and self.position is None:
            raise ShutterPositionUnknownError(self.name)
        return self._post(partial(self._set_position, float(position)))

    def restore_position(self, position: float | None) -> None:
        """Take a position known from outside (before a restart) while the shutter's is unknown.

        Without travel times only the ends mean something: closed or open.
        """
        if position is not None and not CLOSED <= position <= OPEN:
            raise ValueError(f"a position must be {CLOSED:g}..{OPEN:g}, got {position}")
        self._scheduler.call_soon(partial(self._restore, position))

    def shutdown(self) -> Future[None]:
        """Stop following: cancel timers and a waiting start; stop a run to a set position.

        A run to a set position would otherwise go on to the end stop with
        nothing to stop it; it is stopped where it is and the handle ends
        once the installation shows it (or the stop failed). A run to an end
        stop goes on: the installation's own end stop timing ends it.
        """
        done: Future[None] = Future()
        done.set_running_or_notify_cancel()
        self._scheduler.call_soon(partial(self._shutdown, done))
        return done

    # In the context

    def outputs_changed(self) -> None:
        """Follow the relays, whoever switched them, then tell the listeners."""
        self._sync_motion()
        super().outputs_changed()

    def _post(self, command: Callable[[ShutterHandle], None]) -> ShutterHandle:
        done: ShutterHandle = Future()
        done.set_running_or_notify_cancel()
        self._scheduler.call_soon(partial(self._carry_out, command, done))
        return done

    def _carry_out(self, command: Callable[[ShutterHandle], None], done: ShutterHandle) -> None:
        """Run a command on the relays as the client knows them now.

        The news of a change may still be on its way to this context: a
        command right after a client's first snapshot must still see a motor
        that runs, or it would reverse it without a rest.
        """
        self._sync_motion()
        try:
            command(done)
        except (IPComError, ValueError) as err:
            _finish(done, err)

    def _set_position(self, target: float, done: ShutterHandle) -> None:
        direction = self._travel.direction_to(target)
        if direction is not None:
            self._run(direction, target, done)
        elif self._travel.direction is not None:
            self._stop(done)
        else:
            self._supersede()
            _finish(done)

    def _stop(self, done: ShutterHandle) -> None:
        self._supersede()
        releases = self._release_both()
        self._changed()
        self._after(releases, partial(self._ended, done))

    def _run(self, direction: Direction, target: float, done: ShutterHandle) -> None:
        """Run towards `target`; stop first and rest when that reverses the motor."""
        run = _Run(direction, target, self._supersede(), done)
        if self._travel.direction is direction:
            self._target = target
            self._schedule_run_timers()
            self._changed()
            _finish(done)
            return
        if self._travel.direction is not None and self._reverse_pause > 0:
            releases = self._release_both()
            self._changed()
            self._after(releases, partial(self._rest_after_stop, run))
            return
        self._start_after(self._travel.rest_before(direction, self._reverse_pause), run)

    def _rest_after_stop(self, run: _Run, error: BaseException | None, _superseded: bool) -> None:
        """The installation showed the motor stopped: rest the whole pause from now, then start.

        The motor stopped somewhere between the release leaving and the
        snapshot that showed it; counting from the snapshot is never too short.
        """
        if run.command != self._command:
            _finish(run.done, superseded=True)
        elif error is not None:
            _finish(run.done, self._not_released(error))
        else:
            self._start_after(self._reverse_pause, run)

    def _start_after(self, rest: float, run: _Run) -> None:
        if rest <= 0:
            self._start(run)
            return
        cancel = self._scheduler.call_later(rest, partial(self._start, run))
        self._pending_start = (cancel, run.done)

    def _start(self, run: _Run) -> None:
        """Switch the relay of the run's direction on and its partner off; never both on."""
        if self._pending_start is not None and self._pending_start[1] is run.done:
            self._pending_start = None
        if run.command != self._command:
            _finish(run.done, superseded=True)
            return
        on, off = self._relays(run.direction)
        try:
            if on.module == off.module:
                handle = self._client.set_outputs(
                    on.module, {off.output: RELAY_OFF, on.output: RELAY_ON}
                )
            elif self._relay_on(off) or self._shown_on(off):
                release = self._client.turn_off(*off)
                self._changed()
                self._after([release], partial(self._partner_released, run))
                return
            else:
                handle = self._client.turn_on(*on)
        except IPComError as err:
            _finish(run.done, err)
            return
        self._started(run.target, handle, run.done)

    def _partner_released(self, run: _Run, error: BaseException | None, _superseded: bool) -> None:
        """The partner relay went off, or did not: switch the driving relay on, or fail."""
        if run.command != self._command:
            _finish(run.done, superseded=True)
            return
        if error is not None:
            _finish(run.done, self._not_released(error))
            return
        on, _ = self._relays(run.direction)
        try:
            handle = self._client.turn_on(*on)
        except IPComError as err:
            _finish(run.done, err)
            return
        self._started(run.target, handle, run.done)

    def _not_released(self, error: BaseException) -> BaseException:
        """Say so when a release failed because the installation kept the relay on."""
        if isinstance(error, WriteAbandonedError) and error.reason is AbandonReason.NOT_CONFIRMED:
            return RelayNotReleasedError(self.name, error.write)
        return error

    def _started(self, target: float, handle: WriteHandle, done: ShutterHandle) -> None:
        self._target = target
        self._changed()
        self._after([handle], partial(self._ended, done))

    @staticmethod
    def _ended(done: ShutterHandle, error: BaseException | None, superseded: bool) -> None:
        _finish(done, error, superseded=superseded)

    def _release_both(self) -> list[WriteHandle]:
        """Queue the release of both relays, both before waiting for either.

        One frame on one module; across modules a failure of one must not
        keep the other from being switched off. Raises `IPComConnectionError`
        while the link is down, with nothing queued.
        """
        up, down = self.entry.up, self.entry.down
        self._released_here = True
        if up.module == down.module:
            return [
                self._client.set_outputs(up.module, {up.output: RELAY_OFF, down.output: RELAY_OFF})
            ]
        return [self._client.turn_off(*up), self._client.turn_off(*down)]

    def _supersede(self) -> int:
        """Make way for a new command: drop a start waiting for its rest; return its number."""
        self._command += 1
        if self._pending_start is not None:
            cancel, waiting = self._pending_start
            self._pending_start = None
            cancel()
            _finish(waiting, superseded=True)
        return self._command

    def _after(
        self,
        handles: Sequence[WriteHandle],
        then: Callable[[BaseException | None, bool], None],
    ) -> None:
        _Gather(self._scheduler, handles, then)

    def _changed(self) -> None:
        """Follow the writes just queued and tell the listeners."""
        self._sync_motion()
        self._listeners.call()

    def _restore(self, position: float | None) -> None:
        if position is None:
            return
        if not self._travel.positionable:
            if self._assumed_closed is None:
                self._assumed_closed = position == CLOSED
                self._listeners.call()
            return
        if self._travel.position is None:
            self._travel.set_position(position)
            self._schedule_run_timers()
            self._listeners.call()

    def _shutdown(self, done: Future[None]) -> None:
        target = self._target
        stop = self._travel.direction is not None and target is not None and not is_end(target)
        self._supersede()
        self._cancel_run_timers()
        self._closed = True
        if not stop:
            done.set_result(None)
            return
        try:
            releases = self._release_both()
        except IPComConnectionError as err:
            done.set_exception(err)
            return
        self._sync_motion()

        def released(error: BaseException | None, _superseded: bool) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        self._after(releases, released)

    # Motion

    def _relays(self, direction: Direction) -> tuple[OutputAddress, OutputAddress]:
        """The relay that drives `direction`, then its partner."""
        if direction is Direction.UP:
            return self.entry.up, self.entry.down
        return self.entry.down, self.entry.up

    def _relay_on(self, relay: OutputAddress) -> bool:
        """Whether the relay is, or is about to be after this client's writes, on."""
        value = self._expected(relay)
        return value is not None and value_is_on(value)

    def _shown_on(self, relay: OutputAddress) -> bool:
        """Whether the installation's newest snapshot shows the relay on."""
        snapshot = self._client.get_latest_snapshot()
        return snapshot is not None and snapshot.is_on(*relay)

    def _relay_direction(self) -> Direction | None:
        up, down = self._relay_on(self.entry.up), self._relay_on(self.entry.down)
        if up and down:
            if not self._both_on:
                _LOGGER.warning(
                    "The installation has both relays of %s on; the motor is not tracked", self.key
                )
            self._both_on = True
            return None
        self._both_on = False
        if up:
            return Direction.UP
        return Direction.DOWN if down else None

    def _sync_motion(self) -> None:
        """Follow what the relays do now, whoever switched them."""
        direction = self._relay_direction()
        if direction is self._travel.direction:
            return
        self._cancel_run_timers()
        if direction is None:
            ended = self._travel.direction
            self._travel.stop()
            self._target = None
            self._assumed_closed = ended is Direction.DOWN and not self._released_here
            return
        self._released_here = False
        self._travel.start(direction)
        if self._target is None or self._travel.direction_to(self._target) is not direction:
            self._target = direction.end
        self._schedule_run_timers()

    def _schedule_run_timers(self) -> None:
        """Stop the motor when the run reaches its target; tell the motion meanwhile."""
        if self._closed or not self._travel.positionable or self._target is None:
            return
        if self._travel.direction is None:
            return
        if self._cancel_travel_end is not None:
            self._cancel_travel_end()
        self._cancel_travel_end = self._scheduler.call_later(
            self._travel.seconds_until(self._target), self._travel_ended
        )
        self._schedule_step()

    def _schedule_step(self) -> None:
        """Tell the listeners when the run next passes a quarter short of its target.

        A run from an unknown position is told once, when the estimate becomes known.
        """
        if self._cancel_step is not None:
            self._cancel_step()
            self._cancel_step = None
        position, direction, target = self._travel.position, self._travel.direction, self._target
        if position is None:
            if (seconds := self._travel.seconds_until_known()) is not None:
                self._cancel_step = self._scheduler.call_later(seconds, self._step)
            return
        if direction is None or target is None:
            return
        if direction is Direction.UP:
            step = (math.floor((position + POSITION_TOLERANCE) / MOVING_STEP) + 1) * MOVING_STEP
            if step >= target:
                return
        else:
            step = (math.ceil((position - POSITION_TOLERANCE) / MOVING_STEP) - 1) * MOVING_STEP
            if step <= target:
                return
        self._cancel_step = self._scheduler.call_later(self._travel.seconds_until(step), self._step)

    def _step(self) -> None:
        self._cancel_step = None
        self._listeners.call()
        self._schedule_step()

    def _travel_ended(self, *, on_time: bool = True) -> None:
        """Stop the motor at the end of its run, and again every few seconds while the link is down.

        A stop made on time leaves the shutter at its target; one made late,
        after an outage, leaves it where the running time says it got to.
        Nobody waits for this stop, so a failure is logged. A stop the
        installation did not carry out leaves the shutter following its
        relays again: a relay still on is a run, timed to its end stop.
        """
        self._cancel_travel_end = None
        target = self._target
        try:
            releases = self._release_both()
        except IPComConnectionError as err:
            _LOGGER.log(
                logging.WARNING if on_time else logging.DEBUG,
                "%s could not be stopped at the end of its run, retrying every %s s: %s",
                self.key,
                STOP_RETRY_DELAY,
                err,
            )
            self._cancel_travel_end = self._scheduler.call_later(
                STOP_RETRY_DELAY, partial(self._travel_ended, on_time=False)
            )
            return
        self._sync_motion()
        if on_time and target is not None:
            self._travel.set_position(target)
        self._listeners.call()
        self._after(releases, self._stop_at_end_ended)

    def _stop_at_end_ended(self, error: BaseException | None, _superseded: bool) -> None:
        if error is None:
            return
        stopped = isinstance(error, WriteAbandonedError) and error.reason is AbandonReason.STOPPED
        _LOGGER.log(
            logging.DEBUG if stopped else logging.WARNING,
            "%s was not stopped at the end of its run; it follows its relays again: %s",
            self.key,
            error,
        )

    def _cancel_run_timers(self) -> None:
        if self._cancel_travel_end is not None:
            self._cancel_travel_end()
            self._cancel_travel_end = None
        if self._cancel_step is not None:
            self._cancel_step()
            self._cancel_step = None
