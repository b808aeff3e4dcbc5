"""The device layer on the simulator over 127.0.0.1: schedulers, devices, installation.

A `Light`, `Switch` or `Dimmer` reads its state from the client's expected
values and is told of its own changes by its `Installation`, in one context
(`ipcom.scheduling`). These tests drive real clients against the simulator
and wait on events and conditions, never on a fixed delay.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest
from client_helpers import FAST_TIMING, WAIT, Connect, Seen, device, drain, expect

from ipcom.client import IPComClient
from ipcom.devices import DeviceMap, parse_device_map
from ipcom.errors import IPComConnectionError
from ipcom.installation import Installation
from ipcom.models import OutputAddress
from ipcom.outputs import Dimmer, Light, Switch
from ipcom.protocol import BusType
from ipcom.scheduling import AsyncioScheduler, Scheduler, ThreadScheduler
from ipcom.simulator import ReceivedWrite, Simulator
from ipcom.writes import AbandonReason, WriteAbandonedError, WriteOutcome

DEVICE_MAP: DeviceMap = parse_device_map(
    {
        "lights": {
            "ceiling": {"module": 1, "output": 1, "type": "light"},
            "hall": {"module": 1, "output": 2},
            "table": {"module": 6, "output": 1, "type": "dimmer"},
        },
        "switches": {"socket": {"module": 2, "output": 1, "device_class": "outlet"}},
    },
    "test_device_layer",
)
"""Two lamps on one relay module, a dimmer on the simulator's dimmer module 6, a socket."""


# Helpers


def undo_writes(simulator: Simulator, module: int, output: int, keep: int) -> Callable[[], None]:
    """Make the installation put an output back to `keep` after every frame that changes it.

    Returns the function that stops it.
    """

    def undo(write: ReceivedWrite) -> None:
        if write.module == module and write.values[output - 1] != keep:
            simulator.set_output(module, output, keep)

    return simulator.on_write(undo)


def frames_of(simulator: Simulator, module: int) -> list[tuple[int, ...]]:
    """The values of every frame the simulator received for `module`, in order."""
    return [write.values for write in simulator.writes() if write.module == module]


# Fixtures


def follow(
    client: IPComClient,
    scheduler: Scheduler,
    installations: list[Installation],
    *,
    unavailable_after: float = 0.0,
) -> Installation:
    """An Installation of `DEVICE_MAP` on `client`, started, and closed after the test."""
    installation = Installation(DEVICE_MAP, client, scheduler, unavailable_after=unavailable_after)
    installations.append(installation)
    installation.start()
    return installation


# ThreadScheduler


def test_thread_scheduler_runs_jobs_in_order_and_timers_after_their_delay() -> None:
    """Jobs run in the order handed over; a timer runs after its delay, a cancelled one never."""
    scheduler = ThreadScheduler("test-scheduler-order")
    try:
        ran: list[object] = []
        for number in range(20):
            scheduler.call_soon(lambda number=number: ran.append(number))
        drain(scheduler)
        assert ran == list(range(20))

        # The thread is kept busy until the timer is cancelled: it cannot be due first.
        busy = threading.Event()
        scheduler.call_soon(lambda: busy.wait(WAIT))
        cancel = scheduler.call_later(0.0, lambda: ran.append("cancelled timer"))
        cancel()
        busy.set()

        timer_ran = threading.Event()
        due_at: list[float] = []
        started = scheduler.time()
        scheduler.call_later(0.3, lambda: (due_at.append(scheduler.time()), timer_ran.set()))
        assert timer_ran.wait(WAIT)
        assert due_at[0] - started >= 0.3
        drain(scheduler)
        assert "cancelled timer" not in ran
    finally:
        scheduler.close()


def test_thread_scheduler_logs_a_job_that_raises_and_runs_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A job that raises is logged with its traceback; the jobs after it still run."""
    scheduler = ThreadScheduler("test-scheduler-raises")

    def broken() -> None:
        raise RuntimeError("job failed")

    try:
        ran = threading.Event()
        with caplog.at_level(logging.ERROR, logger="ipcom.scheduling"):
            scheduler.call_soon(broken)
            scheduler.call_soon(ran.set)
            assert ran.wait(WAIT)
        errors = [r for r in caplog.records if r.name == "ipcom.scheduling"]
        assert len(errors) == 1
        assert errors[0].exc_info is not None
        assert isinstance(errors[0].exc_info[1], RuntimeError)
    finally:
        scheduler.close()


def test_thread_scheduler_close_ends_its_thread_and_drops_later_jobs() -> None:
    """`close` joins the thread; a job handed over afterwards neither runs nor starts one."""
    name = "test-scheduler-close"
    scheduler = ThreadScheduler(name)
    drain(scheduler)
    assert any(thread.name == name for thread in threading.enumerate())
    scheduler.close()
    assert not any(thread.name == name for thread in threading.enumerate())

    ran = threading.Event()
    scheduler.call_soon(ran.set)
    scheduler.call_later(0.0, ran.set)
    assert not any(thread.name == name for thread in threading.enumerate())
    assert not ran.is_set()


# IPComClient.on_outputs_changed


def test_on_outputs_changed_reports_exactly_the_outputs_whose_expected_value_changed(
    simulator: Simulator, client: IPComClient
) -> None:
    """A wall switch reports its output; a write reports its output at once, and only then."""
    events: list[tuple[str, object]] = []
    client.on_outputs_changed(lambda addresses: events.append(("outputs", addresses)))
    client.on_state_snapshot(lambda snapshot: events.append(("shown", snapshot.get_value(2, 5))))

    def reports() -> list[object]:
        return [what for kind, what in list(events) if kind == "outputs"]

    simulator.set_output(1, 3, 255)
    expect(lambda: len(reports()) >= 1, "the report of the wall switch")

    handle = client.turn_on(2, 5)
    assert client.get_expected_value(2, 5) == 255
    assert handle.result(WAIT) is WriteOutcome.CONFIRMED

    # A change after the confirmation: its report comes after any the confirming
    # snapshot would have caused, since the client tells its listeners in order.
    simulator.set_output(1, 4, 255)
    expect(lambda: len(reports()) >= 3, "the report of the last wall switch")
    log = list(events)
    assert reports() == [
        frozenset({OutputAddress(1, 3)}),
        frozenset({OutputAddress(2, 5)}),
        frozenset({OutputAddress(1, 4)}),
    ]
    reported = log.index(("outputs", frozenset({OutputAddress(2, 5)})))
    shown = log.index(("shown", 255))
    assert reported < shown, "the write was reported only once the installation showed it"


def test_on_outputs_changed_reports_a_write_before_the_installation_handles_it(
    simulator: Simulator, client: IPComClient
) -> None:
    """A queued write is reported at once, though a hung installation never handles it."""
    reports: list[frozenset[OutputAddress]] = []
    client.on_outputs_changed(reports.append)
    simulator.freeze()
    try:
        client.turn_on(2, 6)
        expect(lambda: len(reports) >= 1, "the report of the queued write")
        assert reports == [frozenset({OutputAddress(2, 6)})]
        assert frames_of(simulator, 2) == []
    finally:
        simulator.unfreeze()


# Light and Switch


@pytest.mark.parametrize("installation_first", [True, False], ids=["before-client", "after"])
def test_light_and_switch_follow_the_installation_and_hear_only_their_own_outputs(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
    installation_first: bool,
) -> None:
    """is_on follows the installation; a listener hears its own output, not its neighbour's."""
    if installation_first:
        client = connect(start=False)
        installation = follow(client, scheduler, installations)
        ceiling = device(installation, "ceiling", Light)
        assert ceiling.is_on is None
        assert not ceiling.available
        client.start_persistent_connection()
        client.wait_for_snapshot(WAIT)
    else:
        client = connect()
        installation = follow(client, scheduler, installations)
    ceiling = device(installation, "ceiling", Light)
    hall = device(installation, "hall", Light)
    socket = device(installation, "socket", Switch)
    assert socket.device_class == "outlet"
    expect(lambda: ceiling.available and socket.available, "the devices' availability")
    assert ceiling.is_on is False
    assert socket.is_on is False

    ceiling_seen, hall_seen, socket_seen = (
        Seen(lambda: ceiling.is_on),
        Seen(lambda: hall.is_on),
        Seen(lambda: socket.is_on),
    )
    ceiling.subscribe(ceiling_seen)
    hall.subscribe(hall_seen)
    socket.subscribe(socket_seen)

    # Everything from the start is told before this change on another module.
    simulator.set_output(2, 1, 255)
    expect(lambda: True in socket_seen.values, "the socket's listener")
    assert socket.is_on is True
    ceiling_seen.values.clear()

    simulator.set_output(1, 2, 255)
    expect(lambda: True in hall_seen.values, "the hall light's listener")
    assert ceiling_seen.values == [], "the ceiling light was told of the hall light's output"
    assert ceiling.is_on is False

    simulator.set_output(1, 1, 255)
    expect(lambda: ceiling_seen.values == [True], "the ceiling light's listener")
    assert ceiling.is_on is True
    assert all(thread.name == "test-ipcom-devices" for thread in ceiling_seen.threads)


def test_relay_commands_confirm_and_an_undone_write_fails_not_confirmed(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """turn_on/turn_off confirm; a write the installation undoes fails and is_on shows it."""
    installation = follow(client, scheduler, installations)
    ceiling = device(installation, "ceiling", Light)
    socket = device(installation, "socket", Switch)

    assert ceiling.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(1, 1) == 255
    assert ceiling.is_on is True
    assert ceiling.turn_off().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(1, 1) == 0
    assert ceiling.is_on is False

    seen = Seen(lambda: socket.is_on)
    socket.subscribe(seen)
    stop_undoing = undo_writes(simulator, 2, 1, keep=0)
    try:
        handle = socket.turn_on()
        with pytest.raises(WriteAbandonedError) as failure:
            handle.result(WAIT)
    finally:
        stop_undoing()
    assert failure.value.reason is AbandonReason.NOT_CONFIRMED
    assert (failure.value.write.module, failure.value.write.output) == (2, 1)
    assert socket.is_on is False
    assert simulator.get_value(2, 1) == 0
    expect(lambda: seen.values[-1:] == [False], "the socket's listener showing it off")


# Dimmer


def test_dimmer_levels_and_the_last_level_it_was_lit_at(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """A level confirms; turn_on() returns to the last level shown, never to a refused one."""
    installation = follow(client, scheduler, installations)
    table = device(installation, "table", Dimmer)
    drain(scheduler)
    assert table.level == 0
    assert table.last_level is None

    assert table.turn_on(40).result(WAIT) is WriteOutcome.CONFIRMED
    assert table.level == 40
    assert simulator.get_value(6, 1) == 40
    assert table.turn_off().result(WAIT) is WriteOutcome.CONFIRMED
    assert table.level == 0
    assert table.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(6, 1) == 40
    assert table.level == 40

    assert table.turn_off().result(WAIT) is WriteOutcome.CONFIRMED

    # The installation keeps the lamp off: 70 was only asked for, never shown.
    stop_undoing = undo_writes(simulator, 6, 1, keep=0)
    try:
        with pytest.raises(WriteAbandonedError) as failure:
            table.turn_on(70).result(WAIT)
    finally:
        stop_undoing()
    assert failure.value.reason is AbandonReason.NOT_CONFIRMED
    assert table.level == 0
    drain(scheduler)
    assert table.last_level == 40

    table.restore_last_level(30)
    assert table.last_level == 40, "a restored level replaced one the installation showed"
    assert table.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(6, 1) == 40


def test_dimmer_remembers_its_own_confirmed_level_after_a_wall_switch_turned_it_off(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """A level set here and shown by the installation is the last level, however it went off."""
    installation = follow(client, scheduler, installations)
    table = device(installation, "table", Dimmer)
    assert table.turn_on(40).result(WAIT) is WriteOutcome.CONFIRMED
    drain(scheduler)
    assert table.last_level == 40

    simulator.set_output(6, 1, 0)
    expect(lambda: table.level == 0, "the wall switch turning the dimmer off")
    drain(scheduler)
    assert table.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(6, 1) == 40


def test_dimmer_uses_a_restored_level_only_while_it_knows_none(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """restore_last_level fills in an unknown last level; turn_on() then dims to it."""
    installation = follow(client, scheduler, installations)
    table = device(installation, "table", Dimmer)
    drain(scheduler)
    assert table.last_level is None
    table.restore_last_level(None)
    table.restore_last_level(0)
    assert table.last_level is None
    table.restore_last_level(30)
    assert table.last_level == 30
    table.restore_last_level(60)
    assert table.last_level == 30
    assert table.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(6, 1) == 30
    assert table.level == 30


# Availability


def test_a_device_becomes_unavailable_when_the_link_drops_without_a_grace(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    """With no grace a silent installation makes the device unavailable and tells it."""
    client = connect(stale_after=0.5)
    installation = follow(client, scheduler, installations, unavailable_after=0)
    ceiling = device(installation, "ceiling", Light)
    expect(lambda: ceiling.available, "the device becoming available")
    seen = Seen(lambda: (ceiling.available, installation.links[1].link_up))
    ceiling.subscribe(seen)

    simulator.freeze()
    try:
        expect(lambda: (False, False) in seen.values, "the device becoming unavailable")
        assert not ceiling.available
        assert not installation.links[1].link_up
    finally:
        simulator.unfreeze()
    expect(lambda: seen.values[-1:] == [(True, True)], "the device becoming available again")
    assert ceiling.available


def test_a_short_outage_within_the_grace_leaves_the_device_available(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    """Within the grace only link_up (the raw state) drops; the device stays available."""
    client = connect(stale_after=0.5)
    installation = follow(client, scheduler, installations, unavailable_after=30.0)
    ceiling = device(installation, "ceiling", Light)
    expect(lambda: ceiling.available, "the device becoming available")
    seen = Seen(lambda: ceiling.available)
    ceiling.subscribe(seen)
    link_seen = Seen(lambda: (installation.links[1].link_up, installation.links[1].available))
    installation.links[1].subscribe(link_seen)

    simulator.freeze()
    try:
        expect(lambda: not installation.links[1].link_up, "the link going down")
        assert installation.links[1].available
        assert ceiling.available
    finally:
        simulator.unfreeze()
    expect(lambda: link_seen.values[-1:] == [(True, True)], "the link coming back")
    assert (False, True) in link_seen.values
    assert all(available for _, available in link_seen.values)
    assert False not in seen.values
    assert ceiling.available


# asyncio


def test_handles_are_awaited_from_asyncio_and_listeners_run_on_the_loop(
    simulator: Simulator, client: IPComClient
) -> None:
    """A handle is awaited without a thread per command; the loop's thread calls listeners."""

    async def main() -> None:
        loop_thread = threading.current_thread()
        installation = Installation(
            DEVICE_MAP, client, AsyncioScheduler(asyncio.get_running_loop())
        )
        installation.start()
        try:
            ceiling = device(installation, "ceiling", Light)
            hall = device(installation, "hall", Light)
            socket = device(installation, "socket", Switch)
            seen = Seen(lambda: ceiling.is_on)
            off = asyncio.Event()

            def listener() -> None:
                seen()
                if seen.values[-1] is False:
                    off.set()

            ceiling.subscribe(listener)
            outcome = await asyncio.wait_for(asyncio.wrap_future(ceiling.turn_on()), WAIT)
            assert outcome is WriteOutcome.CONFIRMED
            assert simulator.get_value(1, 1) == 255
            assert seen.values[-1] is True
            off.clear()

            threads = set(threading.enumerate())
            outcomes = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        asyncio.wrap_future(command())
                        for command in (ceiling.turn_off, hall.turn_on, socket.turn_on)
                    )
                ),
                WAIT,
            )
            assert set(threading.enumerate()) <= threads, "awaiting a command started a thread"
            assert outcomes == [WriteOutcome.CONFIRMED] * 3
            await asyncio.wait_for(off.wait(), WAIT)
            assert seen.threads
            assert all(thread is loop_thread for thread in seen.threads)
        finally:
            await asyncio.wrap_future(installation.close())

    asyncio.run(asyncio.wait_for(main(), 3 * WAIT))


class HeldJobs:
    """A context that runs nothing until the test says so, to order its jobs by hand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[Callable[[], None]] = []

    def time(self) -> float:
        return 0.0

    def call_soon(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.append(job)

    def call_later(self, delay: float, job: Callable[[], None]) -> Callable[[], None]:
        raise AssertionError("no device of this test keeps a timer")

    def run_held(self) -> None:
        """Run every job handed over so far, in order."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            job()


def test_a_handle_completes_in_the_context_after_the_device_heard_of_the_change(
    simulator: Simulator, client: IPComClient
) -> None:
    """Whoever waits for a command finds the device's listeners already told of its effect.

    The client confirms the write on its own thread; the news of the change
    reaches the device only when its context runs. A handle that completed
    on the client's thread would let an action return before its entity
    showed the new state.
    """
    context = HeldJobs()
    installation = Installation(DEVICE_MAP, client, context)
    installation.start()
    context.run_held()
    ceiling = device(installation, "ceiling", Light)
    events: list[object] = []
    ceiling.subscribe(lambda: events.append(ceiling.is_on))

    handle = ceiling.turn_on()
    handle.add_done_callback(lambda _: events.append("done"))
    expect(lambda: simulator.get_value(1, 1) == 255, "the write to arrive")
    # The client ends handles in order: once this later one has, ours has on its side.
    assert client.turn_on(3, 8).result(WAIT) is WriteOutcome.CONFIRMED
    assert not handle.done(), "the handle completed outside the device's context"

    expect(lambda: (context.run_held(), handle.done())[1], "the handle to complete")
    assert handle.result() is WriteOutcome.CONFIRMED
    assert events.index(True) < events.index("done"), events


# Commands without a link


def test_a_command_while_not_connected_raises_and_queues_nothing(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    """Before the client runs and after it stopped, commands raise and nothing is sent later."""
    client = connect(start=False)
    installation = follow(client, scheduler, installations)
    ceiling = device(installation, "ceiling", Light)
    socket = device(installation, "socket", Switch)
    table = device(installation, "table", Dimmer)
    for command in (ceiling.turn_on, socket.turn_on, table.turn_on, table.turn_off):
        with pytest.raises(IPComConnectionError):
            command()

    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    simulator.wait_for_polls(3, timeout=WAIT)
    assert client.turn_on(3, 8).result(WAIT) is WriteOutcome.CONFIRMED
    assert [write.module for write in simulator.writes()] == [3]
    assert ceiling.is_on is False
    assert socket.is_on is False
    assert table.level == 0

    client.stop_persistent_connection()
    with pytest.raises(IPComConnectionError):
        ceiling.turn_on()
    assert frames_of(simulator, 1) == []


# Two buses


TWO_BUS_MAP: DeviceMap = parse_device_map(
    {
        "lights": {
            "hall": {"module": 1, "output": 2},
            "barn": {"bus": 2, "module": 1, "output": 2},
        },
    },
    "test_device_layer",
)
"""The same module and output on each bus: two lamps."""


def test_each_bus_has_its_client_and_an_outage_of_one_leaves_the_other_available(
    simulator: Simulator, scheduler: ThreadScheduler, installations: list[Installation]
) -> None:
    """Bus 2's lamp is switched through bus 2's connection; its outage is its own."""
    second = Simulator(bus=2, bus_type=BusType.BIBUS)
    second.start()
    clients = {
        bus: IPComClient(
            device.host,
            device.port,
            "demo",
            "demo",
            bus=bus,
            bus_type=bus_type,
            poll_interval=FAST_TIMING["poll_interval"],
            command_interval=FAST_TIMING["command_interval"],
            socket_timeout=FAST_TIMING["socket_timeout"],
            stale_after=FAST_TIMING["stale_after"],
            reconnect_base=FAST_TIMING["reconnect_base"],
            reconnect_max=FAST_TIMING["reconnect_max"],
        )
        for bus, device, bus_type in ((1, simulator, BusType.MINIDO), (2, second, BusType.BIBUS))
    }
    try:
        for client in clients.values():
            client.start_persistent_connection()
            client.wait_for_snapshot(WAIT)
        installation = Installation(TWO_BUS_MAP, clients, scheduler)
        installations.append(installation)
        installation.start()
        drain(scheduler)
        hall = device(installation, "hall", Light)
        barn = device(installation, "barn", Light)
        assert hall.link is installation.links[1]
        assert barn.link is installation.links[2]

        assert barn.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
        assert second.get_value(1, 2) == 255
        assert simulator.get_value(1, 2) == 0
        assert hall.is_on is False
        assert barn.is_on is True

        barn_seen = Seen(lambda: barn.available)
        hall_seen = Seen(lambda: hall.available)
        barn.subscribe(barn_seen)
        hall.subscribe(hall_seen)
        second.stop()
        expect(lambda: not barn.available, "bus 2's lamp becoming unavailable")
        assert hall.available
        assert hall.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
        drain(scheduler)
        assert False in barn_seen.values
        assert False not in hall_seen.values
    finally:
        for client in clients.values():
            client.stop_persistent_connection()
        second.stop()


def test_a_map_with_a_bus_that_has_no_client_is_refused(client: IPComClient) -> None:
    """Devices on a bus nobody connected to could never be switched: say so at once."""
    with pytest.raises(ValueError, match="bus 2"):
        Installation(TWO_BUS_MAP, client, ThreadScheduler())
