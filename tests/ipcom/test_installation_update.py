"""An Installation follows a new device map, and tells of outputs no device uses.

Against the simulator over 127.0.0.1, as the device layer's tests: a device
the new map keeps is the same object with the same listeners and writes; an
added one works at once on the connection already up; a removed one is told
once that it left, then nothing more; a removed shutter running to a set
position is stopped.
`on_unmapped_output` reports a change of an output nobody mapped, never the
first snapshot and never a mapped output. A shutter's own `reverse_pause`
wins over the installation's default. Every wait is on an event or a
condition, never on a fixed delay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import replace

import pytest
from client_helpers import FAST_TIMING, WAIT, Connect, Seen, device, drain, expect

from ipcom.client import IPComClient
from ipcom.devices import (
    CoverEntry,
    DeviceEntry,
    DeviceMap,
    LightEntry,
    SwitchEntry,
    parse_device_map,
)
from ipcom.installation import Installation, MapChange
from ipcom.models import OutputAddress
from ipcom.outputs import Dimmer, Light, Switch
from ipcom.protocol import BusType
from ipcom.scheduling import Scheduler, ThreadScheduler
from ipcom.shutter import Shutter
from ipcom.simulator import ReceivedWrite, Simulator
from ipcom.writes import WriteOutcome


def relay(module: int, output: int, role: str, partner: str, **extra: object) -> dict[str, object]:
    """One shutter relay entry of a devices.yaml document."""
    return {
        "module": module,
        "output": output,
        "relay_role": role,
        "paired_device": partner,
        **extra,
    }


DEVICE_MAP: DeviceMap = parse_device_map(
    {
        "lights": {
            "ceiling": {"module": 1, "output": 1},
            "hall": {"module": 1, "output": 2},
            "table": {"module": 6, "output": 1, "type": "dimmer"},
        },
        "switches": {"socket": {"module": 2, "output": 1}},
        "shutters": {
            # Slow enough that a run to 50 % is still running when the test removes it.
            "living_up": relay(3, 1, "up", "living_down", travel_time=120),
            "living_down": relay(3, 2, "down", "living_up"),
        },
    },
    "test_installation_update",
)
"""Two lamps on module 1, a dimmer on the simulator's dimmer module 6, a socket, a shutter.

Module 7 is nobody's: its outputs are the unmapped ones.
"""

PORCH = LightEntry(key="porch", name="Porch", module=1, output=3, dimmable=False)
LAMP = LightEntry(key="lamp", name="Lamp", module=6, output=2, dimmable=True)


# Helpers


class Unmapped:
    """An `on_unmapped_output` listener: every (bus, address) it was called with, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, OutputAddress]] = []

    def __call__(self, bus: int, address: OutputAddress) -> None:
        self.calls.append((bus, address))


def in_context[T](scheduler: Scheduler, job: Callable[[], T]) -> T:
    """Run `job` in the installation's context and return what it returned (or raise)."""
    outcome: Future[T] = Future()

    def run() -> None:
        try:
            outcome.set_result(job())
        except BaseException as err:
            outcome.set_exception(err)

    scheduler.call_soon(run)
    return outcome.result(WAIT)


def update(installation: Installation, scheduler: Scheduler, device_map: DeviceMap) -> MapChange:
    """`installation.update(device_map)` in its context."""
    return in_context(scheduler, lambda: installation.update(device_map))


def changed(
    device_map: DeviceMap,
    *,
    drop: Iterable[str] = (),
    add: Iterable[DeviceEntry] = (),
    replacing: Mapping[str, DeviceEntry] | None = None,
) -> DeviceMap:
    """`device_map` without the entries `drop`, with `replacing`'s in place and `add`'s last."""
    dropped, replacing = set(drop), replacing or {}
    entries = [replacing.get(entry.key, entry) for entry in device_map if entry.key not in dropped]
    entries += add
    return DeviceMap(
        tuple(entry for entry in entries if isinstance(entry, LightEntry)),
        tuple(entry for entry in entries if isinstance(entry, SwitchEntry)),
        tuple(entry for entry in entries if isinstance(entry, CoverEntry)),
    )


def frames_of(simulator: Simulator, module: int) -> list[ReceivedWrite]:
    """The frames the simulator received for `module`, in order."""
    return [write for write in simulator.writes() if write.module == module]


def flush_writes(client: IPComClient) -> None:
    """Send a frame of the client's own and see it confirmed: any write queued before it went."""
    assert client.turn_on(16, 8).result(WAIT) is WriteOutcome.CONFIRMED


def heard(
    simulator: Simulator, scheduler: Scheduler, light: Light, value: int, *, bus: int = 1
) -> None:
    """Set `light`'s output at the installation and wait until the light has heard of it.

    The client reports changes in order and the installation passes them on
    in order, so whatever the installation was told before has been handled
    once this returns: a test can then check what did not happen.
    """
    seen = Seen(lambda: light.is_on)
    unsubscribe = light.subscribe(seen)
    try:
        simulator.set_output(*light.address, value, bus=bus)
        expect(lambda: (value != 0) in seen.values, f"{light.key} hearing of its output")
    finally:
        unsubscribe()
    drain(scheduler)


# Fixtures


def follow(
    client: IPComClient | Mapping[int, IPComClient],
    scheduler: Scheduler,
    installations: list[Installation],
    device_map: DeviceMap = DEVICE_MAP,
    **settings: float,
) -> Installation:
    """An Installation of `device_map`, started, its first jobs run, and closed after the test."""
    installation = Installation(device_map, client, scheduler, **settings)
    installations.append(installation)
    installation.start()
    drain(scheduler)
    return installation


def bus_client(simulator: Simulator, bus: int, bus_type: BusType) -> IPComClient:
    """A client with fast timing for `bus` of `simulator`, not started yet."""
    return IPComClient(
        simulator.host,
        simulator.port,
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


# Installation.update


def test_a_kept_device_is_the_same_object_with_its_listeners(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """Only what changed is built or let go; the rest keeps its object, listeners and keys."""
    installation = follow(client, scheduler, installations)
    before = {each.key: each for each in installation}
    ceiling = device(installation, "ceiling", Light)
    living = device(installation, "living", Shutter)
    seen = Seen(lambda: ceiling.is_on)
    ceiling.subscribe(seen)
    new_map = changed(DEVICE_MAP, drop=["hall"], add=[PORCH])

    change = update(installation, scheduler, new_map)

    assert change.removed == (before["hall"],)
    assert [each.key for each in change.added] == ["porch"]
    assert installation.device_map is new_map
    assert [each.key for each in installation] == ["ceiling", "table", "porch", "socket", "living"]
    for key in ("ceiling", "table", "socket", "living"):
        assert installation.get(key) is before[key], key
        assert not before[key].removed, key
    assert installation.get("living_up") is living
    assert installation.get("living_down") is living
    assert installation.get("hall") is None
    assert len(installation) == 5

    simulator.set_output(1, 1, 255)
    expect(lambda: True in seen.values, "the kept light's listener")
    assert ceiling.is_on is True


def test_an_added_light_works_at_once_on_the_connection_already_up(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """No reconnect: the new lamp and dimmer read the client's state and switch at once."""
    installation = follow(client, scheduler, installations)
    accepted = simulator.connections_accepted
    simulator.set_output(6, 2, 20)
    expect(lambda: client.get_expected_value(6, 2) == 20, "the client seeing the dimmer at 20")

    change = update(installation, scheduler, changed(DEVICE_MAP, add=[PORCH, LAMP]))

    porch = device(installation, "porch", Light)
    lamp = device(installation, "lamp", Dimmer)
    assert set(change.added) == {porch, lamp}
    assert change.removed == ()
    assert porch.link is installation.links[1]
    assert porch.available and lamp.available
    assert porch.is_on is False
    assert lamp.level == 20
    seen = Seen(lambda: porch.is_on)
    porch.subscribe(seen)

    assert porch.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(1, 3) == 255
    assert porch.is_on is True
    assert True in seen.values
    assert lamp.turn_on(30).result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(6, 2) == 30

    simulator.set_output(1, 3, 0)
    expect(lambda: seen.values[-1:] == [False], "the added light hearing a wall switch")
    assert simulator.connections_accepted == accepted
    assert simulator.active_connections == 1


def test_a_write_under_way_on_a_kept_device_completes_across_an_update(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """A write started in the context just before update() is neither lost nor failed."""
    installation = follow(client, scheduler, installations)
    ceiling = device(installation, "ceiling", Light)
    new_map = changed(DEVICE_MAP, drop=["hall"], add=[PORCH])

    def write_then_update() -> tuple[Future[WriteOutcome], bool, MapChange]:
        handle = ceiling.turn_on()
        # The handle ends in this context, which is busy here: it cannot have ended yet.
        return handle, handle.done(), installation.update(new_map)

    handle, done_before_update, change = in_context(scheduler, write_then_update)

    assert not done_before_update
    assert ceiling not in change.added + change.removed
    assert handle.result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(1, 1) == 255
    assert ceiling.is_on is True
    assert installation.get("ceiling") is ceiling


def test_a_removed_light_is_told_once_then_hears_nothing_more(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """Its listeners hear that it left (removed, unavailable), then never of its output."""
    installation = follow(client, scheduler, installations)
    hall = device(installation, "hall", Light)
    ceiling = device(installation, "ceiling", Light)
    seen = Seen(lambda: (hall.removed, hall.available))
    hall.subscribe(seen)

    change = update(installation, scheduler, changed(DEVICE_MAP, drop=["hall"]))

    assert change == MapChange(added=(), removed=(hall,))
    assert seen.values == [(True, False)]
    simulator.set_output(1, 2, 255)
    heard(simulator, scheduler, ceiling, 255)
    assert seen.values == [(True, False)]
    assert not ceiling.removed
    assert installation.get("hall") is None
    assert hall not in list(installation)


def test_a_changed_entry_is_removed_and_added_again(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """A renamed light is a new device on the same output; the old one is let go."""
    installation = follow(client, scheduler, installations)
    old = device(installation, "ceiling", Light)
    old_seen = Seen(lambda: (old.removed, old.is_on))
    old.subscribe(old_seen)
    renamed = replace(old.entry, name="Pendant")

    change = update(installation, scheduler, changed(DEVICE_MAP, replacing={"ceiling": renamed}))

    new = device(installation, "ceiling", Light)
    assert new is not old
    assert change == MapChange(added=(new,), removed=(old,))
    assert old_seen.values == [(True, False)], "the old light was not told once that it left"
    assert not new.removed
    assert new.name == "Pendant"
    assert new.entry == renamed
    assert next(iter(installation)) is new
    new_seen = Seen(lambda: new.is_on)
    new.subscribe(new_seen)

    assert new.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(1, 1) == 255
    assert new_seen.values[-1:] == [True]
    drain(scheduler)
    assert old_seen.values == [(True, False)]


def test_a_light_that_becomes_a_dimmer_is_a_new_dimmer(
    scheduler: ThreadScheduler, client: IPComClient, installations: list[Installation]
) -> None:
    dimmers = DeviceMap(lights=(replace(LAMP, key="spot", dimmable=False),))
    installation = follow(client, scheduler, installations, dimmers)
    old = device(installation, "spot", Light)
    assert not isinstance(old, Dimmer)

    change = update(installation, scheduler, DeviceMap(lights=(replace(LAMP, key="spot"),)))

    new = device(installation, "spot", Dimmer)
    assert change == MapChange(added=(new,), removed=(old,))


def test_a_removed_shutter_running_to_a_position_is_stopped(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """Nothing would stop it at its target any more: it is stopped where it is."""
    installation = follow(client, scheduler, installations)
    living = device(installation, "living", Shutter)
    up, down = living.entry.up, living.entry.down
    living.restore_position(0)
    drain(scheduler)
    # 120 s of travel: 50 % is a minute away, far beyond any wait of this test.
    assert living.set_position(50).result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(*up) == 255

    change = update(installation, scheduler, changed(DEVICE_MAP, drop=["living"]))

    assert change.removed == (living,)
    simulator.wait_for_value(*up, 0, timeout=WAIT)
    assert simulator.get_value(*down) == 0
    expect(lambda: living.direction is None, "the removed shutter stopping")
    flush_writes(client)
    assert simulator.get_value(*up) == 0
    assert simulator.get_value(*down) == 0
    position = living.position
    assert position is not None
    assert position < 50
    assert installation.get("living_up") is None


def test_a_map_with_a_bus_without_a_client_is_refused_and_changes_nothing(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    installation = follow(client, scheduler, installations)
    before = list(installation)
    hall = device(installation, "hall", Light)
    barn = LightEntry(key="barn", name="Barn", module=1, output=2, dimmable=False, bus=2)

    with pytest.raises(ValueError, match="bus 2"):
        update(installation, scheduler, changed(DEVICE_MAP, drop=["hall"], add=[PORCH, barn]))

    assert installation.device_map is DEVICE_MAP
    after = list(installation)
    assert len(after) == len(before)
    assert all(now is then for now, then in zip(after, before, strict=True))
    assert installation.get("hall") is hall
    assert installation.get("porch") is None
    assert installation.get("barn") is None
    heard(simulator, scheduler, hall, 255)
    assert hall.is_on is True


# on_unmapped_output


def test_unmapped_outputs_fire_on_a_change_never_on_the_first_snapshot(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    """As Home Assistant starts: the installation follows the client before it connects."""
    client = connect(start=False)
    installation = follow(client, scheduler, installations)
    unmapped = Unmapped()
    installation.on_unmapped_output(unmapped)
    hall = device(installation, "hall", Light)
    # On before the first snapshot: that snapshot shows them, it does not change them.
    simulator.set_output(7, 1, 255)
    simulator.set_output(7, 2, 255)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    heard(simulator, scheduler, hall, 255)
    assert unmapped.calls == []

    simulator.press(7, 3)
    expect(lambda: len(unmapped.calls) >= 1, "the unmapped output's report")
    heard(simulator, scheduler, hall, 0)
    assert unmapped.calls == [(1, OutputAddress(7, 3))]
    bus, address = unmapped.calls[0]
    assert type(address) is OutputAddress
    assert type(bus) is int

    simulator.press(7, 1)
    expect(lambda: len(unmapped.calls) >= 2, "the second report")
    assert unmapped.calls[1] == (1, OutputAddress(7, 1))


def test_a_mapped_output_never_fires(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    client = connect(start=False)
    installation = follow(client, scheduler, installations)
    unmapped = Unmapped()
    installation.on_unmapped_output(unmapped)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    ceiling = device(installation, "ceiling", Light)
    socket = device(installation, "socket", Switch)
    table = device(installation, "table", Dimmer)

    simulator.press(6, 1)
    expect(lambda: table.level == 100, "the dimmer's wall switch")
    simulator.press(2, 1)
    expect(lambda: socket.is_on is True, "the socket's wall switch")
    simulator.press(1, 2)
    assert ceiling.turn_on().result(WAIT) is WriteOutcome.CONFIRMED
    heard(simulator, scheduler, ceiling, 0)

    assert unmapped.calls == []


def test_an_output_mapped_by_an_update_no_longer_fires(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    client = connect(start=False)
    installation = follow(client, scheduler, installations)
    unmapped = Unmapped()
    installation.on_unmapped_output(unmapped)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    heard(simulator, scheduler, device(installation, "hall", Light), 255)

    simulator.press(7, 4)
    expect(lambda: unmapped.calls == [(1, OutputAddress(7, 4))], "the unmapped output's report")

    garage = LightEntry(key="garage", name="Garage", module=7, output=4, dimmable=False)
    update(installation, scheduler, changed(DEVICE_MAP, add=[garage]))
    light = device(installation, "garage", Light)
    assert light.is_on is True

    heard(simulator, scheduler, light, 0)
    heard(simulator, scheduler, light, 255)
    assert unmapped.calls == [(1, OutputAddress(7, 4))]


def test_a_second_bus_reports_its_own_bus_number(
    simulator: Simulator, scheduler: ThreadScheduler, installations: list[Installation]
) -> None:
    """The same module and output on bus 1 and bus 2 are two outputs, each reported as its own."""
    second = Simulator(bus=2, bus_type=BusType.BIBUS)
    second.start()
    clients = {1: bus_client(simulator, 1, BusType.MINIDO), 2: bus_client(second, 2, BusType.BIBUS)}
    two_buses = DeviceMap(
        lights=(
            LightEntry(key="hall", name="Hall", module=1, output=2, dimmable=False),
            LightEntry(key="barn", name="Barn", module=1, output=2, dimmable=False, bus=2),
        )
    )
    try:
        installation = follow(clients, scheduler, installations, two_buses)
        unmapped = Unmapped()
        installation.on_unmapped_output(unmapped)
        for client in clients.values():
            client.start_persistent_connection()
            client.wait_for_snapshot(WAIT)
        hall = device(installation, "hall", Light)
        barn = device(installation, "barn", Light)
        heard(simulator, scheduler, hall, 255)
        heard(second, scheduler, barn, 255, bus=2)
        assert unmapped.calls == []

        second.press(1, 3)
        expect(lambda: unmapped.calls == [(2, OutputAddress(1, 3))], "bus 2's report")
        simulator.press(1, 3)
        expect(lambda: len(unmapped.calls) >= 2, "bus 1's report")
        assert unmapped.calls == [(2, OutputAddress(1, 3)), (1, OutputAddress(1, 3))]
    finally:
        for client in clients.values():
            client.stop_persistent_connection()
        second.stop()


def test_a_listener_unsubscribed_hears_nothing_more(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    client = connect(start=False)
    installation = follow(client, scheduler, installations)
    kept, dropped = Unmapped(), Unmapped()
    installation.on_unmapped_output(kept)
    unsubscribe = installation.on_unmapped_output(dropped)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    heard(simulator, scheduler, device(installation, "hall", Light), 255)

    unsubscribe()
    simulator.press(7, 5)
    expect(lambda: kept.calls == [(1, OutputAddress(7, 5))], "the kept listener's report")
    assert dropped.calls == []


def test_the_first_change_after_a_late_start_fires(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """Installation started once the client is connected, as the command line and
    test_device_layer do: the first wall-switch press on an unmapped output is lost."""
    installation = follow(client, scheduler, installations)
    unmapped = Unmapped()
    installation.on_unmapped_output(unmapped)
    hall = device(installation, "hall", Light)

    simulator.press(7, 6)
    heard(simulator, scheduler, hall, 255)

    assert unmapped.calls == [(1, OutputAddress(7, 6))]


def test_an_output_unmapped_by_an_update_fires_on_its_first_change(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    connect: Connect,
    installations: list[Installation],
) -> None:
    client = connect(start=False)
    installation = follow(client, scheduler, installations)
    unmapped = Unmapped()
    installation.on_unmapped_output(unmapped)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    ceiling = device(installation, "ceiling", Light)
    # The first snapshot has been handled, while the hall light still used 1.2.
    heard(simulator, scheduler, ceiling, 255)

    update(installation, scheduler, changed(DEVICE_MAP, drop=["hall"]))
    simulator.press(1, 2)
    heard(simulator, scheduler, ceiling, 0)

    assert unmapped.calls == [(1, OutputAddress(1, 2))]


# A shutter's own reversal pause


def pause_map(*, slow: float | None, plain: float | None, quick: float | None) -> DeviceMap:
    """Three shutters without travel times on modules 3, 4 and 5, with these pauses of their own."""
    shutters: dict[str, object] = {}
    for name, module, pause in (("slow", 3, slow), ("plain", 4, plain), ("quick", 5, quick)):
        extra = {} if pause is None else {"reverse_pause": pause}
        shutters[f"{name}_up"] = relay(module, 1, "up", f"{name}_down", **extra)
        shutters[f"{name}_down"] = relay(module, 2, "down", f"{name}_up", **extra)
    return parse_device_map({"shutters": shutters}, "test_installation_update")


def reverse(simulator: Simulator, shutter: Shutter) -> list[tuple[int, int]]:
    """Open `shutter`, then close it while it runs: the (up, down) of each frame of the close."""
    assert shutter.open().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(*shutter.entry.up) == 255
    simulator.clear_writes()
    assert shutter.close().result(WAIT) is WriteOutcome.CONFIRMED
    assert simulator.get_value(*shutter.entry.down) == 255
    assert simulator.get_value(*shutter.entry.up) == 0
    return [
        (write.values[0], write.values[1])
        for write in frames_of(simulator, shutter.entry.up.module)
    ]


def rest_of(simulator: Simulator, module: int) -> float:
    """Seconds from the stop taking effect to the start arriving (both time.monotonic)."""
    stop, start = frames_of(simulator, module)
    return start.received_at - stop.applied_at


def test_a_shutters_own_pause_is_rested_where_the_default_would_not(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """Default 0: `plain` reverses in one frame; `slow` (0.4 s of its own) stops and rests."""
    installation = follow(
        client,
        scheduler,
        installations,
        pause_map(slow=0.4, plain=None, quick=None),
        reverse_pause=0.0,
    )
    plain = device(installation, "plain", Shutter)
    slow = device(installation, "slow", Shutter)

    assert reverse(simulator, plain) == [(0, 255)]
    assert reverse(simulator, slow) == [(0, 0), (0, 255)]
    assert rest_of(simulator, 3) >= 0.4


def test_a_shutter_with_a_pause_of_0_reverses_at_once_whatever_the_default(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    """Default 0.6 s: `quick` (0 of its own) reverses in one frame, `plain` rests the default.

    An update that gives `plain` a pause of its own replaces it, and the new
    shutter uses that pause.
    """
    device_map = pause_map(slow=None, plain=None, quick=0)
    installation = follow(client, scheduler, installations, device_map, reverse_pause=0.6)
    quick = device(installation, "quick", Shutter)
    plain = device(installation, "plain", Shutter)

    assert reverse(simulator, quick) == [(0, 255)]
    assert reverse(simulator, plain) == [(0, 0), (0, 255)]
    assert rest_of(simulator, 4) >= 0.6

    assert plain.entry.reverse_pause is None
    no_rest = replace(plain.entry, reverse_pause=0.0)
    change = update(installation, scheduler, changed(device_map, replacing={"plain": no_rest}))
    new_plain = device(installation, "plain", Shutter)
    assert change == MapChange(added=(new_plain,), removed=(plain,))
    # The motor still runs down from before the update: the new shutter reverses it at once.
    simulator.clear_writes()
    assert new_plain.open().result(WAIT) is WriteOutcome.CONFIRMED
    assert [(w.values[0], w.values[1]) for w in frames_of(simulator, 4)] == [(255, 0)]


def test_a_shutter_added_by_an_update_uses_its_own_pause(
    simulator: Simulator,
    scheduler: ThreadScheduler,
    client: IPComClient,
    installations: list[Installation],
) -> None:
    device_map = pause_map(slow=None, plain=None, quick=0)
    installation = follow(
        client,
        scheduler,
        installations,
        DeviceMap(covers=device_map.covers[:1]),
        reverse_pause=5.0,
    )
    assert installation.get("quick") is None

    update(installation, scheduler, device_map)

    assert reverse(simulator, device(installation, "quick", Shutter)) == [(0, 255)]
