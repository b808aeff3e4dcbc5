"""Shutters driven through an Installation against the simulator over 127.0.0.1.

Three shutters: `living` on one module (3.1 up, 3.2 down), `bedroom` across
two modules (4.1 up, 5.1 down), both with travel times, and `garage`
(3.3 up, 3.4 down) without. The tests check the motor's rules (never both
relays on, a rest before reversing), that runs started anywhere are
followed, and the position estimate, by what the simulator received and
shows, waiting on conditions rather than on fixed delays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import pytest
from client_helpers import WAIT, drain, expect, make_client

from ipcom.client import IPComClient
from ipcom.devices import DeviceMap, parse_device_map
from ipcom.installation import Installation
from ipcom.models import OutputAddress
from ipcom.scheduling import Cancel, Job, Scheduler, ThreadScheduler
from ipcom.shutter import RelayNotReleasedError, Shutter, ShutterPositionUnknownError
from ipcom.simulator import ReceivedWrite, Simulator
from ipcom.writes import WriteOutcome

LIVING = (OutputAddress(3, 1), OutputAddress(3, 2))
BEDROOM = (OutputAddress(4, 1), OutputAddress(5, 1))
GARAGE = (OutputAddress(3, 3), OutputAddress(3, 4))
PAIRS = (LIVING, BEDROOM, GARAGE)
"""Every shutter's (up, down) relays."""

SETTLED = frozenset({WriteOutcome.CONFIRMED, WriteOutcome.SUPERSEDED})


def shutter_map(travel_time: float) -> DeviceMap:
    """`living` and `bedroom` taking `travel_time` seconds for a full travel; `garage` untimed."""

    def relay(address: OutputAddress, role: str, partner: str, timed: bool) -> dict[str, object]:
        entry: dict[str, object] = {
            "module": address.module,
            "output": address.output,
            "relay_role": role,
            "paired_device": partner,
        }
        if timed:
            entry["travel_time"] = travel_time
        return entry

    shutters: dict[str, object] = {}
    for name, (up, down), timed in (
        ("living", LIVING, True),
        ("bedroom", BEDROOM, True),
        ("garage", GARAGE, False),
    ):
        shutters[f"{name}_up"] = relay(up, "up", f"{name}_down", timed)
        shutters[f"{name}_down"] = relay(down, "down", f"{name}_up", timed)
    return parse_device_map({"shutters": shutters}, "test_shutter")


# Helpers


def frames_of(simulator: Simulator, module: int) -> list[ReceivedWrite]:
    """The frames the simulator received for `module`, in order."""
    return [write for write in simulator.writes() if write.module == module]


def writes_on(simulator: Simulator, relay: OutputAddress) -> list[ReceivedWrite]:
    """The frames that switched `relay` on."""
    return [
        write for write in frames_of(simulator, relay.module) if write.values[relay.output - 1] != 0
    ]


def writes_off(simulator: Simulator, relay: OutputAddress) -> ReceivedWrite:
    """The first frame that switched `relay` off after a frame had switched it on."""
    was_on = False
    for write in frames_of(simulator, relay.module):
        value = write.values[relay.output - 1]
        if was_on and value == 0:
            return write
        was_on = was_on or value != 0
    raise AssertionError(f"no frame switched {relay} off after switching it on")


def first_index(writes: list[ReceivedWrite], relay: OutputAddress, value: int) -> int:
    """Where in `writes` the first frame setting `relay` to `value` is."""
    for index, write in enumerate(writes):
        if write.module == relay.module and write.values[relay.output - 1] == value:
            return index
    raise AssertionError(f"no frame set {relay} to {value}")


def keep_relay(simulator: Simulator, relay: OutputAddress, value: int) -> Callable[[], None]:
    """Make the installation put `relay` back to `value` after every frame that changes it."""

    def undo(write: ReceivedWrite) -> None:
        if write.module == relay.module and write.values[relay.output - 1] != value:
            simulator.set_output(*relay, value)

    return simulator.on_write(undo)


def flush_writes(client: IPComClient) -> None:
    """Send a frame of the client's own and see it confirmed: any write queued before it went."""
    assert client.turn_on(16, 8).result(WAIT) is WriteOutcome.CONFIRMED


class Interlock:
    """Records every frame after which the simulator had both relays of a shutter on."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self.violations: list[tuple[ReceivedWrite, OutputAddress, OutputAddress]] = []
        self.stop = simulator.on_write(self._check)

    def _check(self, write: ReceivedWrite) -> None:
        for up, down in PAIRS:
            if self._simulator.get_value(*up) and self._simulator.get_value(*down):
                self.violations.append((write, up, down))


@dataclass
class _Held:
    delay: float
    job: Job
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class HeldTimers:
    """A thread scheduler whose timers the test may hold back, then release.

    While `hold` is set, `call_later` keeps the timer (and sets `timer_held`)
    instead of starting its delay; `release` starts the delays of those not
    cancelled. This puts a test in a shutter's rest for as long as it needs.
    """

    inner: ThreadScheduler
    hold: bool = False
    held: list[_Held] = field(default_factory=list)
    timer_held: threading.Event = field(default_factory=threading.Event)

    def time(self) -> float:
        """The inner scheduler's clock."""
        return self.inner.time()

    def call_soon(self, job: Job) -> None:
        """Run `job` on the inner scheduler."""
        self.inner.call_soon(job)

    def call_later(self, delay: float, job: Job) -> Cancel:
        """Keep the timer while held, otherwise start it."""
        if not self.hold:
            return self.inner.call_later(delay, job)
        timer = _Held(delay, job)
        self.held.append(timer)
        self.timer_held.set()
        return timer.cancel

    def release(self) -> None:
        """Start the delays of the held timers that were not cancelled (in the context)."""
        done = threading.Event()

        def start() -> None:
            self.hold = False
            for timer in self.held:
                if not timer.cancelled:
                    self.inner.call_later(timer.delay, timer.job)
            done.set()

        self.inner.call_soon(start)
        assert done.wait(WAIT)


@dataclass
class Rig:
    """A started installation of `shutter_map` on its own client and scheduler."""

    simulator: Simulator
    client: IPComClient
    scheduler: Scheduler
    installation: Installation

    def shutter(self, key: str) -> Shutter:
        """The installation's shutter `key`."""
        found = self.installation.get(key)
        assert isinstance(found, Shutter), f"{key} is {found!r}"
        return found

    def drain(self) -> None:
        """Let the shutters' context run every job handed to it so far."""
        drain(self.scheduler)


class MakeRig(Protocol):
    """Builds a Rig; everything it starts is stopped after the test."""

    def __call__(
        self, *, travel_time: float = 1.0, reverse_pause: float = 0.3, held: bool = False
    ) -> Rig: ...


@pytest.fixture
def make_rig(simulator: Simulator) -> Iterator[MakeRig]:
    """Build rigs; each is closed, its client stopped and its scheduler closed after the test."""
    teardown: list[Callable[[], None]] = []

    def make(*, travel_time: float = 1.0, reverse_pause: float = 0.3, held: bool = False) -> Rig:
        client = make_client(simulator)
        threads = ThreadScheduler("test-ipcom-shutters")
        teardown.append(threads.close)
        teardown.append(client.stop_persistent_connection)
        scheduler: Scheduler = HeldTimers(threads) if held else threads
        client.start_persistent_connection()
        client.wait_for_snapshot(WAIT)
        installation = Installation(
            shutter_map(travel_time), client, scheduler, reverse_pause=reverse_pause
        )
        teardown.append(lambda: installation.close().result(WAIT))
        installation.start()
        rig = Rig(simulator, client, scheduler, installation)
        rig.drain()
        return rig

    try:
        yield make
    finally:
        for step in reversed(teardown):
            step()


def confirmed(handle: Future[WriteOutcome]) -> None:
    """Wait for a shutter command's handle and check it was confirmed."""
    assert handle.result(WAIT) is WriteOutcome.CONFIRMED


# The interlock


@pytest.mark.parametrize("reverse_pause", [0.0, 0.2], ids=["no-rest", "rest"])
def test_many_commands_and_reversals_never_have_both_relays_on(
    simulator: Simulator, make_rig: MakeRig, reverse_pause: float
) -> None:
    """Across open/close/stop, waited for or in bursts, no frame leaves both relays on."""
    interlock = Interlock(simulator)
    rig = make_rig(travel_time=1.0, reverse_pause=reverse_pause)
    try:
        for key in ("living", "bedroom", "garage"):
            shutter = rig.shutter(key)
            commands = (
                shutter.open,
                shutter.close,
                shutter.stop,
                shutter.close,
                shutter.open,
                shutter.open,
                shutter.close,
                shutter.stop,
            )
            for command in commands:
                assert command().result(WAIT) in SETTLED
            burst = [command() for command in commands * 2]
            assert all(handle.result(WAIT) in SETTLED for handle in burst)
            confirmed(shutter.close())
            confirmed(shutter.open())
            confirmed(shutter.stop())
        assert writes_on(simulator, LIVING[1]), "the test never drove a shutter down"
        assert interlock.violations == []
    finally:
        interlock.stop()


def test_a_reversal_on_one_module_is_one_frame(simulator: Simulator, make_rig: MakeRig) -> None:
    """Without a rest, reversing on one module writes the partner off and the relay on at once."""
    rig = make_rig(reverse_pause=0.0)
    garage = rig.shutter("garage")
    confirmed(garage.open())
    assert simulator.get_value(*GARAGE[0]) == 255
    simulator.clear_writes()

    confirmed(garage.close())
    frames = frames_of(simulator, 3)
    assert len(frames) == 1
    assert frames[0].values[GARAGE[0].output - 1] == 0
    assert frames[0].values[GARAGE[1].output - 1] == 255
    assert garage.is_closing


def test_across_two_modules_the_partner_is_shown_off_before_the_relay_goes_on(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """Reversing across modules: partner off, the installation shows it, then the relay on."""
    interlock = Interlock(simulator)
    rig = make_rig(travel_time=20.0, reverse_pause=0.0)
    bedroom = rig.shutter("bedroom")
    up, down = BEDROOM
    try:
        confirmed(bedroom.open())
        simulator.clear_writes()
        confirmed(bedroom.close())
        writes = simulator.writes()
        released, started = first_index(writes, up, 0), first_index(writes, down, 255)
        assert released < started
        release, start = writes[released], writes[started]
        assert any(
            shown.taken_at >= release.applied_at and shown.connection == start.connection
            for shown in start.snapshots
        ), "the down relay was written before a snapshot could show the up relay off"
        assert simulator.get_value(*up) == 0
        assert bedroom.is_closing
        assert interlock.violations == []
    finally:
        interlock.stop()


@pytest.mark.parametrize("reverse_pause", [0.0, 0.2], ids=["no-rest", "rest"])
def test_a_partner_relay_the_installation_keeps_on_stops_the_run(
    simulator: Simulator, make_rig: MakeRig, reverse_pause: float
) -> None:
    """When the down relay stays on, open() fails with RelayNotReleasedError; up never goes on."""
    rig = make_rig(travel_time=20.0, reverse_pause=reverse_pause)
    bedroom = rig.shutter("bedroom")
    up, down = BEDROOM
    confirmed(bedroom.close())
    simulator.clear_writes()
    stop_keeping = keep_relay(simulator, down, 255)
    try:
        error = bedroom.open().exception(WAIT)
        assert isinstance(error, RelayNotReleasedError), repr(error)
        assert (error.write.module, error.write.output) == down
        rig.drain()
        flush_writes(rig.client)
    finally:
        stop_keeping()
    assert writes_on(simulator, up) == []
    assert simulator.get_value(*up) == 0


# The rest before reversing


def test_reversing_a_running_shutter_stops_it_and_rests_before_starting_back(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """close() while opening: both off, a rest, then down on; confirmed once down shows on."""
    pause = 0.3
    rig = make_rig(reverse_pause=pause)
    garage = rig.shutter("garage")
    confirmed(garage.open())
    simulator.clear_writes()

    shown_at_end: list[int | None] = []
    handle = garage.close()

    def ended(_: Future[WriteOutcome]) -> None:
        snapshot = rig.client.get_latest_snapshot()
        shown_at_end.append(None if snapshot is None else snapshot.get_value(*GARAGE[1]))

    handle.add_done_callback(ended)
    confirmed(handle)
    assert shown_at_end == [255], "the command ended before the installation showed the relay on"

    frames = frames_of(simulator, 3)
    assert [(write.values[2], write.values[3]) for write in frames] == [(0, 0), (0, 255)]
    stop, start = frames
    # Both clocks are time.monotonic: the motor rested from the stop taking effect.
    assert start.received_at - stop.applied_at >= pause


def test_a_stop_during_the_rest_supersedes_the_waiting_command(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """stop() while a reversal rests: the waiting close() is SUPERSEDED and nothing starts."""
    rig = make_rig(reverse_pause=0.3, held=True)
    timers = rig.scheduler
    assert isinstance(timers, HeldTimers)
    garage = rig.shutter("garage")
    up, down = GARAGE
    confirmed(garage.open())
    simulator.clear_writes()

    timers.hold = True
    waiting = garage.close()
    assert timers.timer_held.wait(WAIT), "the reversal never began its rest"
    assert 0 < timers.held[0].delay <= 0.3
    assert not waiting.done()
    assert simulator.get_value(*up) == 0
    assert simulator.get_value(*down) == 0

    stop = garage.stop()
    assert waiting.result(WAIT) is WriteOutcome.SUPERSEDED
    confirmed(stop)
    timers.release()
    rig.drain()
    flush_writes(rig.client)
    assert writes_on(simulator, down) == []
    assert writes_on(simulator, up) == []
    assert garage.direction is None


# The position estimate


def test_close_from_an_unknown_position_runs_to_the_end_stop(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """close() runs for the travel time and overrun, then the shutter itself stops at 0."""
    rig = make_rig(travel_time=1.0)
    living = rig.shutter("living")
    up, down = LIVING
    assert living.positionable
    assert living.position is None
    assert living.is_closed is None

    commanded = time.monotonic()
    confirmed(living.close())
    assert simulator.get_value(*down) == 255
    simulator.wait_for_value(*down, 0, timeout=WAIT)
    expect(lambda: living.direction is None, "the shutter stopping")
    assert living.position == 0
    assert living.is_closed is True
    assert simulator.get_value(*up) == 0

    # From an unknown position: the whole travel time (1 s) and the overrun (0.1 s).
    # The simulator's times are time.monotonic too, as is the scheduler's clock.
    release = writes_off(simulator, down)
    assert release.received_at - commanded >= 1.1 - 1e-3

    confirmed(living.set_position(50))
    simulator.wait_for_value(*up, 0, timeout=WAIT)
    expect(lambda: living.direction is None, "the shutter stopping at 50")
    assert writes_on(simulator, up), "the shutter never ran up"
    assert living.position == 50
    assert living.is_closed is False
    assert simulator.get_value(*down) == 0


def test_a_position_between_the_ends_needs_a_known_position(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """set_position(50) raises while unknown; restore_position makes an unknown position known."""
    rig = make_rig(travel_time=1.0)
    living, garage = rig.shutter("living"), rig.shutter("garage")
    for shutter in (living, garage):
        with pytest.raises(ShutterPositionUnknownError):
            shutter.set_position(50)
    rig.drain()
    assert simulator.writes() == []

    living.restore_position(70)
    rig.drain()
    assert living.position == 70
    living.restore_position(20)
    rig.drain()
    assert living.position == 70, "a restored position replaced a known one"

    confirmed(living.set_position(50))
    simulator.wait_for_value(*LIVING[1], 0, timeout=WAIT)
    expect(lambda: living.direction is None, "the shutter stopping at 50")
    assert living.position == 50


def test_a_run_started_at_the_wall_is_followed_and_ended_at_its_end_stop(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """A wall switch's run up shows as opening; the shutter releases it after the travel time."""
    rig = make_rig(travel_time=1.0)
    living = rig.shutter("living")
    up, _ = LIVING
    simulator.set_output(*up, 255)
    expect(lambda: living.is_opening, "the shutter following the wall switch")
    simulator.wait_for_value(*up, 0, timeout=WAIT)
    assert any(write.values[up.output - 1] == 0 for write in frames_of(simulator, up.module))
    expect(lambda: living.direction is None, "the shutter stopping")
    assert living.position == 100
    assert living.is_closed is False


# Without travel times


def test_a_shutter_without_travel_times_assumes_closed_after_a_full_run_down(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """is_closed: None at first, True after a run down the installation ended, False if stopped."""
    rig = make_rig(reverse_pause=0.2)
    garage = rig.shutter("garage")
    _, down = GARAGE
    assert not garage.positionable
    assert garage.is_closed is None

    confirmed(garage.close())
    assert garage.is_closing
    simulator.set_output(*down, 0)
    expect(lambda: garage.direction is None, "the shutter following its end stop")
    assert garage.is_closed is True

    confirmed(garage.close())
    confirmed(garage.stop())
    assert garage.direction is None
    assert garage.is_closed is False


def test_a_shutter_without_travel_times_takes_a_restored_end(make_rig: MakeRig) -> None:
    """restore_position(0.0) while nothing is known makes it closed; later ones are ignored."""
    rig = make_rig()
    garage = rig.shutter("garage")
    assert garage.is_closed is None
    garage.restore_position(0.0)
    rig.drain()
    assert garage.is_closed is True
    assert garage.position is None
    garage.restore_position(100.0)
    rig.drain()
    assert garage.is_closed is True


# Closing the installation


def test_closing_the_installation_stops_a_run_to_a_position_but_not_to_an_end_stop(
    simulator: Simulator, make_rig: MakeRig
) -> None:
    """close() stops a run to a set position where it is; a run to an end stop goes on."""
    rig = make_rig(travel_time=20.0)
    living, bedroom = rig.shutter("living"), rig.shutter("bedroom")
    living.restore_position(0)
    rig.drain()
    confirmed(living.set_position(50))
    confirmed(bedroom.close())

    assert rig.installation.close().result(WAIT) is None
    assert simulator.get_value(*LIVING[0]) == 0
    assert living.direction is None
    position = living.position
    assert position is not None
    assert position < 50

    rig.drain()
    flush_writes(rig.client)
    assert simulator.get_value(*BEDROOM[1]) == 255
    assert [write.values[0] for write in frames_of(simulator, 5)] == [255]
    assert bedroom.is_closing


def test_a_command_before_the_news_of_a_running_motor_still_rests_before_reversing(
    simulator: Simulator,
) -> None:
    """The relays are read afresh for every command, not only when the news arrives.

    Here no news ever arrives (the installation is not started): the motor
    runs down at the installation, and open() must still stop it, rest, and
    only then switch up on, never reverse it in one frame.
    """
    pause = 0.2
    simulator.set_output(*GARAGE[1], 255)
    client = make_client(simulator)
    scheduler = ThreadScheduler("test-ipcom-shutters")
    client.start_persistent_connection()
    try:
        client.wait_for_snapshot(WAIT)
        installation = Installation(shutter_map(1.0), client, scheduler, reverse_pause=pause)
        found = installation.get("garage")
        assert isinstance(found, Shutter)
        confirmed(found.open())
        frames = frames_of(simulator, 3)
        assert [(write.values[2], write.values[3]) for write in frames] == [(0, 0), (255, 0)]
        stop, start = frames
        assert start.received_at - stop.applied_at >= pause
    finally:
        scheduler.close()
        client.stop_persistent_connection()
