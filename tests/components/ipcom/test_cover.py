"""The cover platform against the simulator: relay interlock, reversal rest, position estimate.

The test clock is frozen (`freezer`) so that travel times of 20 s pass in an
instant: `advance` moves Home Assistant's clock and fires the timers that are
due. The client library and the simulator are left on real time
(`REAL_TIME_MODULES`), so polls, writes and the staleness watchdog behave as
in production while the shutters' clock jumps. Waits use the executor, whose
threads sleep in real time, because the frozen event loop clock never lets
an `asyncio` timeout expire.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.cover import (
    ATTR_CURRENT_POSITION,
    ATTR_POSITION,
    DOMAIN as COVER_DOMAIN,
    SERVICE_CLOSE_COVER,
    SERVICE_OPEN_COVER,
    SERVICE_SET_COVER_POSITION,
    SERVICE_STOP_COVER,
    CoverDeviceClass,
    CoverEntity,
    CoverEntityFeature,
    CoverState,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ASSUMED_STATE,
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_ICON,
    ATTR_SUPPORTED_FEATURES,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_component import EntityComponent
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
    mock_restore_cache,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.ipcom.const import (
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.ipcom.identifiers import output_unique_id
from ipcom.devices import COVER_DEVICE_CLASSES
from ipcom.shutter import Shutter
from ipcom.simulator import ReceivedWrite, Simulator

from .conftest import (
    ENTRY_ID,
    WAIT_TIMEOUT,
    entity_id_of,
    get_coordinator,
    get_installation,
    snapshot_platform,
    subentry_id_of,
    wait_until,
)

REAL_TIME_MODULES = (
    "ipcom.client",
    "ipcom.dispatch",
    "ipcom.lifecycle",
    "ipcom.pacing",
    "ipcom.session",
    "ipcom.simulator",
)
"""The client and the simulator keep real time; `ipcom.travel` runs on Home Assistant's clock."""

pytestmark = pytest.mark.freeze_time("2026-02-01 12:00:00+00:00", ignore=list(REAL_TIME_MODULES))

LIVING = output_unique_id(ENTRY_ID, 3, 1)
BEDROOM = output_unique_id(ENTRY_ID, 4, 1)
GARAGE = output_unique_id(ENTRY_ID, 3, 3)
"""Covers by unique id (their up relay): Home Assistant's entity ids differ between releases."""

LIVING_UP, LIVING_DOWN = (3, 1), (3, 2)
BEDROOM_UP, BEDROOM_DOWN = (4, 1), (5, 1)
GARAGE_UP, GARAGE_DOWN = (3, 3), (3, 4)
PAIRS = {
    LIVING: (LIVING_UP, LIVING_DOWN),
    BEDROOM: (BEDROOM_UP, BEDROOM_DOWN),
    GARAGE: (GARAGE_UP, GARAGE_DOWN),
}

PAIRS_KEYS = {LIVING: "living_shutter_up", BEDROOM: "bedroom_shutter_up", GARAGE: "garage_door_up"}
"""A key each cover answers to in the device map (that of its up relay)."""

ON = 255
OFF = 0

Address = tuple[int, int]


def options(reverse_pause: float) -> dict[str, Any]:
    """Entry options with a given reversal pause."""
    return {CONF_UNAVAILABLE_AFTER: 1, CONF_REVERSE_PAUSE: reverse_pause}


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the cover platform, so the snapshot holds covers alone."""
    return [Platform.COVER]


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """A reversal pause longer than the fire-time jitter, so the rest is observable."""
    return options(2.0)


class Interlock:
    """Watches every write the simulator applies: never may both relays of a pair be on."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.violations: list[str] = []
        self._unsubscribe = simulator.on_write(self._applied)

    def _applied(self, write: ReceivedWrite) -> None:
        for cover, (up, down) in PAIRS.items():
            if self.simulator.get_value(*up) and self.simulator.get_value(*down):
                self.violations.append(f"{cover}: both relays on after {write}")

    def check(self) -> None:
        """Fail if a write left a pair with both relays on, or a frame carried both on."""
        assert not self.violations
        for write in self.simulator.writes():
            for up, down in PAIRS.values():
                if up[0] == down[0] == write.module:
                    assert not (write.values[up[1] - 1] and write.values[down[1] - 1]), write

    def close(self) -> None:
        self._unsubscribe()


@pytest.fixture
def interlock(simulator: Simulator) -> Generator[Interlock]:
    """The relay interlock, checked once more when the test ends."""
    watcher = Interlock(simulator)
    yield watcher
    watcher.close()
    watcher.check()


@pytest.fixture
def stuck_bedroom_down_relay(simulator: Simulator) -> Generator[None]:
    """The bedroom's down relay is held on at the installation: switching it off never lasts."""

    def hold(write: ReceivedWrite) -> None:
        if write.module == BEDROOM_DOWN[0] and not simulator.get_value(*BEDROOM_DOWN):
            simulator.set_output(*BEDROOM_DOWN, ON)

    unsubscribe = simulator.on_write(hold)
    yield
    unsubscribe()


async def wait_for(hass: HomeAssistant, condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition` holds after a coordinator update, in real time."""
    coordinator = get_coordinator(hass)
    reached = threading.Event()

    @callback
    def check() -> None:
        if condition():
            reached.set()

    check()
    unsubscribe = coordinator.async_add_listener(check)
    try:
        if not reached.is_set() and not await hass.async_add_executor_job(
            reached.wait, WAIT_TIMEOUT
        ):
            pytest.fail(f"timed out after {WAIT_TIMEOUT} s waiting for {what}")
    finally:
        unsubscribe()
    await hass.async_block_till_done()


async def freeze_link(hass: HomeAssistant, simulator: Simulator) -> None:
    """Silence the installation and wait until Home Assistant sees the link down."""
    coordinator = get_coordinator(hass)
    simulator.freeze()
    await wait_for(hass, lambda: not coordinator.link_up, "the link to drop")


async def thaw_link(hass: HomeAssistant, simulator: Simulator) -> None:
    """Let the installation answer again and wait until the link is back up."""
    coordinator = get_coordinator(hass)
    simulator.unfreeze()
    await wait_for(hass, lambda: coordinator.link_up, "the link to return")


async def settle(hass: HomeAssistant, simulator: Simulator, values: dict[Address, int]) -> None:
    """Wait until the installation shows `values` and Home Assistant has seen them."""
    for (module, output), value in values.items():
        try:
            await hass.async_add_executor_job(
                simulator.wait_for_value, module, output, value, WAIT_TIMEOUT
            )
        except TimeoutError as err:
            pytest.fail(str(err))
    coordinator = get_coordinator(hass)
    await wait_for(
        hass,
        lambda: all(coordinator.data.get_value(*address) == v for address, v in values.items()),
        f"Home Assistant to see {values}",
    )


async def installation_sets(
    hass: HomeAssistant, simulator: Simulator, address: Address, value: int
) -> None:
    """A wall switch (or the installation's own logic) changes a relay."""
    simulator.set_output(*address, value)
    await settle(hass, simulator, {address: value})


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Let `seconds` pass on Home Assistant's clock and run the timers due by then."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed_exact(hass)
    await hass.async_block_till_done()


def cover_id(hass: HomeAssistant, cover: str) -> str:
    """The entity id Home Assistant gave the cover with this unique id."""
    return entity_id_of(hass, Platform.COVER, cover)


def register_cover(hass: HomeAssistant, cover: str) -> str:
    """Register a cover before setup, as an existing installation has it; its entity id."""
    return er.async_get(hass).async_get_or_create(Platform.COVER, DOMAIN, cover).entity_id


async def call(hass: HomeAssistant, service: str, cover: str, **data: Any) -> None:
    """Call a cover service and wait for it."""
    await hass.services.async_call(
        COVER_DOMAIN, service, {ATTR_ENTITY_ID: cover_id(hass, cover), **data}, blocking=True
    )


def begin(hass: HomeAssistant, service: str, cover: str, **data: Any) -> asyncio.Task[None]:
    """Start a cover action that rests before it runs; await the task once the run started.

    The action returns when the installation shows the run, which is after
    the reversal rest: on the frozen clock, only after `advance`. The entity
    is called directly, in a task of the test's own, because Home
    Assistant's `async_block_till_done` (which `settle` and `advance` use)
    waits for every action its service layer runs.
    """
    component: EntityComponent[CoverEntity] = hass.data[COVER_DOMAIN]
    entity = component.get_entity(cover_id(hass, cover))
    assert entity is not None
    method = {
        SERVICE_OPEN_COVER: entity.async_open_cover,
        SERVICE_CLOSE_COVER: entity.async_close_cover,
        SERVICE_SET_COVER_POSITION: entity.async_set_cover_position,
    }[service]
    return asyncio.create_task(method(**data))


async def resting(hass: HomeAssistant, cover: str) -> None:
    """Wait until the shutter rests before its reversal: the installation showed it stopped.

    The rest is counted from that moment, which comes from the client's
    threads in real time, while the test's clock only moves by `advance`.
    """
    shutter = get_installation(hass).get(PAIRS_KEYS[cover])
    assert isinstance(shutter, Shutter)
    await wait_until(hass, lambda: shutter.waiting_to_start, f"{cover} to rest")


def state_of(hass: HomeAssistant, cover: str) -> State:
    state = hass.states.get(cover_id(hass, cover))
    assert state is not None
    return state


def position_of(hass: HomeAssistant, cover: str) -> int | None:
    return state_of(hass, cover).attributes.get(ATTR_CURRENT_POSITION)


async def nothing_written(hass: HomeAssistant, simulator: Simulator, after: int = 0) -> bool:
    """Whether the installation received no write beyond the first `after`.

    A few polls go by first: the client sends a queued write at once, so a
    write the integration made would have arrived by then.
    """
    await hass.async_block_till_done()
    await hass.async_add_executor_job(simulator.wait_for_polls, 3, WAIT_TIMEOUT)
    return len(simulator.writes()) == after


def writes_to(simulator: Simulator, *modules: int) -> list[ReceivedWrite]:
    return [write for write in simulator.writes() if write.module in modules]


def relay_in(write: ReceivedWrite, address: Address) -> int:
    return write.values[address[1] - 1]


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the entry up by hand, for tests that must prepare Home Assistant first."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def run_to_end(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    cover: str,
    direction: str,
) -> None:
    """Drive a cover to an end stop by a full travel, which makes its position known.

    The clock runs on past the end of the run, so the motor's reversal rest is over.
    """
    up, down = PAIRS[cover]
    await call(hass, SERVICE_OPEN_COVER if direction == "up" else SERVICE_CLOSE_COVER, cover)
    relay = up if direction == "up" else down
    await settle(hass, simulator, {relay: ON})
    before_stop = len(simulator.writes())
    await advance(hass, freezer, 60)
    await settle(hass, simulator, {up: OFF, down: OFF})
    await stop_written(hass, simulator, cover, before_stop)
    await advance(hass, freezer, 5)


async def stop_written(hass: HomeAssistant, simulator: Simulator, cover: str, since: int) -> None:
    """Wait until every module of the cover received a frame with its relay off.

    The client sends one frame per tick: across two modules the second relay's
    off arrives a tick after the first, and would undo a wall switch pressed
    in between.
    """
    relays = PAIRS[cover]

    def written(sim: Simulator) -> bool:
        stops = sim.writes()[since:]
        return all(
            any(write.module == module and not relay_in(write, (module, output)) for write in stops)
            for module, output in relays
        )

    try:
        await hass.async_add_executor_job(
            simulator.wait_until, written, WAIT_TIMEOUT, f"the stop of {cover} to be written"
        )
    except TimeoutError as err:
        pytest.fail(str(err))


@pytest.mark.usefixtures("init_integration")
async def test_entities(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, snapshot: SnapshotAssertion
) -> None:
    """One shutter per relay pair, identified by its up relay."""
    entry = hass.config_entries.async_entries("ipcom")[0]
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_device_class_comes_from_the_device_map(hass: HomeAssistant) -> None:
    """`device_class` on either relay entry reaches the cover; without it, a shutter."""
    assert state_of(hass, BEDROOM).attributes[ATTR_DEVICE_CLASS] == CoverDeviceClass.BLIND
    assert state_of(hass, LIVING).attributes[ATTR_DEVICE_CLASS] == CoverDeviceClass.SHUTTER
    assert state_of(hass, GARAGE).attributes[ATTR_DEVICE_CLASS] == CoverDeviceClass.SHUTTER


async def test_a_cover_shows_its_state_icons_unless_given_an_icon(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """A shutter sets no icon, so the frontend shows its device class's state icons.

    Only an icon given to the device (devices.yaml `icon:`, kept in its
    subentry) replaces them.
    """
    for cover in PAIRS:
        assert ATTR_ICON not in state_of(hass, cover).attributes
        registry_entry = entity_registry.async_get(cover_id(hass, cover))
        assert registry_entry is not None
        assert registry_entry.original_icon is None

    entry = init_integration
    subentry = entry.subentries[subentry_id_of(entry, "living_shutter")]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "icon": "mdi:window-shutter-cog"}
    )
    await wait_until(
        hass,
        lambda: (
            (state := hass.states.get(cover_id(hass, LIVING))) is not None
            and state.attributes.get(ATTR_ICON) == "mdi:window-shutter-cog"
        ),
        "the living room shutter taking its icon",
    )
    assert ATTR_ICON not in state_of(hass, BEDROOM).attributes


def test_every_device_class_of_the_map_is_a_cover_device_class() -> None:
    """The library names Home Assistant's cover device classes without importing them."""
    assert {CoverDeviceClass(value) for value in COVER_DEVICE_CLASSES} <= set(CoverDeviceClass)


@pytest.mark.usefixtures("init_integration")
async def test_features_follow_the_travel_time(hass: HomeAssistant) -> None:
    """Only a shutter with a travel time can be sent to a position."""
    basic = CoverEntityFeature.OPEN | CoverEntityFeature.CLOSE | CoverEntityFeature.STOP
    positioned = basic | CoverEntityFeature.SET_POSITION
    assert state_of(hass, LIVING).attributes[ATTR_SUPPORTED_FEATURES] == positioned
    assert state_of(hass, BEDROOM).attributes[ATTR_SUPPORTED_FEATURES] == positioned
    assert state_of(hass, GARAGE).attributes[ATTR_SUPPORTED_FEATURES] == basic


@pytest.mark.usefixtures("init_integration")
async def test_open_stop_close_on_one_module(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Each command is one frame that sets both relays of the pair."""
    simulator.clear_writes()
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    assert state_of(hass, LIVING).state == CoverState.OPENING
    await settle(hass, simulator, {LIVING_UP: ON, LIVING_DOWN: OFF})
    interlock.check()
    (write,) = simulator.writes()
    assert (write.module, relay_in(write, LIVING_UP), relay_in(write, LIVING_DOWN)) == (3, ON, OFF)

    simulator.clear_writes()
    await call(hass, SERVICE_STOP_COVER, LIVING)
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    await settle(hass, simulator, {LIVING_UP: OFF, LIVING_DOWN: OFF})
    interlock.check()
    (write,) = simulator.writes()
    assert (relay_in(write, LIVING_UP), relay_in(write, LIVING_DOWN)) == (OFF, OFF)

    await advance(hass, freezer, 2)
    await call(hass, SERVICE_CLOSE_COVER, LIVING)
    assert state_of(hass, LIVING).state == CoverState.CLOSING
    await settle(hass, simulator, {LIVING_UP: OFF, LIVING_DOWN: ON})
    interlock.check()
    assert simulator.get_value(*GARAGE_UP) == simulator.get_value(*GARAGE_DOWN) == OFF


@pytest.mark.parametrize("entry_options", [options(0)])
@pytest.mark.usefixtures("init_integration")
async def test_direction_change_on_one_module_is_one_frame(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """Without a rest, a reversal on one module swaps the relays in a single frame."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    simulator.clear_writes()

    await call(hass, SERVICE_CLOSE_COVER, LIVING)
    assert state_of(hass, LIVING).state == CoverState.CLOSING
    await settle(hass, simulator, {LIVING_UP: OFF, LIVING_DOWN: ON})
    interlock.check()
    (write,) = simulator.writes()
    assert (write.module, relay_in(write, LIVING_UP), relay_in(write, LIVING_DOWN)) == (3, OFF, ON)


@pytest.mark.parametrize("entry_options", [options(0)])
@pytest.mark.usefixtures("init_integration")
async def test_direction_change_across_modules_switches_off_before_on(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """The running relay is off, as the installation confirms, before its partner goes on."""
    await installation_sets(hass, simulator, BEDROOM_DOWN, ON)
    assert state_of(hass, BEDROOM).state == CoverState.CLOSING
    simulator.clear_writes()

    await call(hass, SERVICE_OPEN_COVER, BEDROOM)
    await settle(hass, simulator, {BEDROOM_DOWN: OFF, BEDROOM_UP: ON})
    assert state_of(hass, BEDROOM).state == CoverState.OPENING
    interlock.check()
    # Both relays are output 1 of their module.
    changes = [(write.module, write.values[0]) for write in writes_to(simulator, 4, 5)]
    assert changes.index((5, OFF)) < changes.index((4, ON))


@pytest.mark.usefixtures("init_integration")
async def test_start_across_modules_writes_only_the_relay_needed(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """From rest, with the partner already off, starting is a single write."""
    simulator.clear_writes()
    await call(hass, SERVICE_CLOSE_COVER, BEDROOM)
    await settle(hass, simulator, {BEDROOM_DOWN: ON})
    interlock.check()
    (write,) = simulator.writes()
    assert (write.module, relay_in(write, BEDROOM_DOWN)) == (5, ON)

    simulator.clear_writes()
    await call(hass, SERVICE_STOP_COVER, BEDROOM)
    await settle(hass, simulator, {BEDROOM_DOWN: OFF})
    assert sorted(write.module for write in simulator.writes()) == [4, 5]
    assert state_of(hass, BEDROOM).state == STATE_UNKNOWN


@pytest.mark.usefixtures("init_integration")
async def test_reversal_stops_then_rests_then_starts(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Reversing stops the motor, waits the configured pause, then runs the other way."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    simulator.clear_writes()

    closing = begin(hass, SERVICE_CLOSE_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: OFF, LIVING_DOWN: OFF})
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    (stop,) = simulator.writes()
    assert (relay_in(stop, LIVING_UP), relay_in(stop, LIVING_DOWN)) == (OFF, OFF)

    await resting(hass, LIVING)
    await advance(hass, freezer, 1.9)
    assert await nothing_written(hass, simulator, after=1)
    assert simulator.get_value(*LIVING_DOWN) == OFF

    await advance(hass, freezer, 0.1)
    await settle(hass, simulator, {LIVING_DOWN: ON})
    await closing
    assert state_of(hass, LIVING).state == CoverState.CLOSING
    interlock.check()
    _, start = simulator.writes()
    assert (relay_in(start, LIVING_UP), relay_in(start, LIVING_DOWN)) == (OFF, ON)


@pytest.mark.usefixtures("init_integration")
async def test_reversal_across_modules(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Across two modules the rest comes between the stop and the start as well."""
    await call(hass, SERVICE_OPEN_COVER, BEDROOM)
    await settle(hass, simulator, {BEDROOM_UP: ON})
    simulator.clear_writes()

    closing = begin(hass, SERVICE_CLOSE_COVER, BEDROOM)
    await settle(hass, simulator, {BEDROOM_UP: OFF})
    interlock.check()
    assert all(write.values[0] == OFF for write in writes_to(simulator, 4, 5))

    await resting(hass, BEDROOM)
    await advance(hass, freezer, 2)
    await settle(hass, simulator, {BEDROOM_DOWN: ON})
    await closing
    assert state_of(hass, BEDROOM).state == CoverState.CLOSING
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_a_rest_is_kept_after_a_wall_switch_stop(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A motor stopped at the wall a moment ago still rests before running the other way."""
    await installation_sets(hass, simulator, LIVING_DOWN, ON)
    await advance(hass, freezer, 1)
    await installation_sets(hass, simulator, LIVING_DOWN, OFF)
    await advance(hass, freezer, 0.5)
    simulator.clear_writes()

    opening = begin(hass, SERVICE_OPEN_COVER, LIVING)
    assert await nothing_written(hass, simulator)
    assert state_of(hass, LIVING).state == STATE_UNKNOWN

    await advance(hass, freezer, 1.5)
    await settle(hass, simulator, {LIVING_UP: ON})
    await opening
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_stop_during_the_rest_cancels_the_start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A stop while the motor rests drops the pending start."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    closing = begin(hass, SERVICE_CLOSE_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: OFF})
    await call(hass, SERVICE_STOP_COVER, LIVING)
    await closing
    simulator.clear_writes()

    await advance(hass, freezer, 5)
    assert await nothing_written(hass, simulator)
    assert simulator.get_value(*LIVING_DOWN) == OFF
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_new_command_during_the_rest_replaces_the_start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Going back to the first direction during the rest starts at once and drops the reversal."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    closing = begin(hass, SERVICE_CLOSE_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: OFF})

    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await closing
    await settle(hass, simulator, {LIVING_UP: ON})
    await advance(hass, freezer, 3)
    assert simulator.get_value(*LIVING_DOWN) == OFF
    assert state_of(hass, LIVING).state == CoverState.OPENING
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_full_travel_from_unknown_position_reaches_the_end_stop(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Unknown at first; a full travel plus the overrun makes it known and stops the motor."""
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    await call(hass, SERVICE_CLOSE_COVER, LIVING)
    await settle(hass, simulator, {LIVING_DOWN: ON})

    await advance(hass, freezer, 10)
    assert position_of(hass, LIVING) is None
    await advance(hass, freezer, 10)
    assert position_of(hass, LIVING) == 0
    assert state_of(hass, LIVING).state == CoverState.CLOSING
    assert simulator.get_value(*LIVING_DOWN) == ON

    await advance(hass, freezer, 2)
    await settle(hass, simulator, {LIVING_DOWN: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.CLOSED, 0)
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_open_runs_past_the_estimate_then_stops(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A move to an end runs on for 10 % of the travel time so the end stop recalibrates."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})

    await advance(hass, freezer, 5)
    assert position_of(hass, LIVING) == 25
    await advance(hass, freezer, 15)
    assert position_of(hass, LIVING) == 100
    assert state_of(hass, LIVING).state == CoverState.OPENING
    await advance(hass, freezer, 1.9)
    assert simulator.get_value(*LIVING_UP) == ON

    await advance(hass, freezer, 0.1)
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 100)
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_set_position_stops_at_the_target(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """The motor runs for the share of the travel time the distance needs, then stops."""
    await run_to_end(hass, freezer, simulator, BEDROOM, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, BEDROOM, **{ATTR_POSITION: 50})
    await settle(hass, simulator, {BEDROOM_UP: ON})
    assert state_of(hass, BEDROOM).state == CoverState.OPENING

    await advance(hass, freezer, 6)
    assert position_of(hass, BEDROOM) == 25
    await advance(hass, freezer, 5.9)
    assert simulator.get_value(*BEDROOM_UP) == ON
    await advance(hass, freezer, 0.1)
    await settle(hass, simulator, {BEDROOM_UP: OFF})
    state = state_of(hass, BEDROOM)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 50)

    lowering = begin(hass, SERVICE_SET_COVER_POSITION, BEDROOM, **{ATTR_POSITION: 40})
    await hass.async_block_till_done()
    assert state_of(hass, BEDROOM).state == CoverState.OPEN
    await advance(hass, freezer, 2)
    await settle(hass, simulator, {BEDROOM_DOWN: ON})
    await lowering
    assert state_of(hass, BEDROOM).state == CoverState.CLOSING
    await advance(hass, freezer, 2)
    await settle(hass, simulator, {BEDROOM_DOWN: OFF})
    assert position_of(hass, BEDROOM) == 40
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_set_position_while_running_retargets(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A new target ahead keeps the motor running and moves the stop."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    await advance(hass, freezer, 4)
    simulator.clear_writes()

    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 30})
    assert await nothing_written(hass, simulator)
    await advance(hass, freezer, 2)
    await settle(hass, simulator, {LIVING_UP: OFF})
    assert position_of(hass, LIVING) == 30

    written = len(simulator.writes())
    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 30})
    assert await nothing_written(hass, simulator, after=written)
    assert state_of(hass, LIVING).state == CoverState.OPEN
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_set_position_at_the_estimate_while_running_stops(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Asking for the position the shutter is passing just stops it there."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    await advance(hass, freezer, 4)

    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 20})
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 20)
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_set_position_at_the_estimate_during_the_rest_cancels_the_start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Asking for where the shutter stands while it rests drops the pending reversal."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 50})
    await settle(hass, simulator, {LIVING_UP: ON})
    await advance(hass, freezer, 10)
    await settle(hass, simulator, {LIVING_UP: OFF})
    lowering = begin(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 20})
    await hass.async_block_till_done()
    simulator.clear_writes()

    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 50})
    await lowering
    await advance(hass, freezer, 5)
    assert await nothing_written(hass, simulator)
    assert position_of(hass, LIVING) == 50
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_set_position_needs_a_known_position(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """In the middle, an unknown position cannot be aimed at; the ends always can."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 50})
    assert err.value.translation_key == "cover_position_unknown"
    assert await nothing_written(hass, simulator)

    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 100})
    await settle(hass, simulator, {LIVING_UP: ON})
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_wall_switch_run_is_tracked(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Runs started and stopped at the wall move the estimate; Home Assistant writes nothing."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    simulator.clear_writes()

    simulator.press(*LIVING_UP)
    await settle(hass, simulator, {LIVING_UP: ON})
    assert state_of(hass, LIVING).state == CoverState.OPENING
    await advance(hass, freezer, 5)
    simulator.press(*LIVING_UP)
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 25)
    assert await nothing_written(hass, simulator)
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_wall_switch_run_is_stopped_at_the_end(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A run started at the wall is switched off by the integration once its travel is done."""
    await run_to_end(hass, freezer, simulator, BEDROOM, "up")
    await installation_sets(hass, simulator, BEDROOM_DOWN, ON)
    assert state_of(hass, BEDROOM).state == CoverState.CLOSING

    await advance(hass, freezer, 10)
    assert position_of(hass, BEDROOM) == 50
    await advance(hass, freezer, 12)
    await settle(hass, simulator, {BEDROOM_DOWN: OFF})
    state = state_of(hass, BEDROOM)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.CLOSED, 0)
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_wall_switch_stop_ends_a_commanded_run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A run Home Assistant started and the wall stopped leaves no timer behind."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 80})
    await settle(hass, simulator, {LIVING_UP: ON})
    await advance(hass, freezer, 2)
    await installation_sets(hass, simulator, LIVING_UP, OFF)
    simulator.clear_writes()

    await advance(hass, freezer, 30)
    assert await nothing_written(hass, simulator)
    assert position_of(hass, LIVING) == 10
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_both_relays_on_at_the_installation_is_not_tracked(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault of the installation is reported, not taken for a run."""
    simulator.set_output(*LIVING_UP, ON)
    simulator.set_output(*LIVING_DOWN, ON)
    await settle(hass, simulator, {LIVING_UP: ON, LIVING_DOWN: ON})
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    assert "both relays of living_shutter on" in caplog.text


async def test_position_is_restored(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """The estimated position survives a restart and nonsense is ignored.

    Without travel times, the last open or closed state is kept.
    """
    mock_restore_cache(
        hass,
        [
            State(register_cover(hass, LIVING), CoverState.OPEN, {ATTR_CURRENT_POSITION: 40}),
            State(register_cover(hass, BEDROOM), CoverState.OPEN, {ATTR_CURRENT_POSITION: "high"}),
            State(register_cover(hass, GARAGE), CoverState.OPEN, {ATTR_CURRENT_POSITION: 70}),
        ],
    )
    await setup_entry(hass, mock_config_entry)
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 40)
    assert state_of(hass, BEDROOM).state == STATE_UNKNOWN
    assert state_of(hass, GARAGE).state == CoverState.OPEN

    await call(hass, SERVICE_CLOSE_COVER, LIVING)
    await settle(hass, simulator, {LIVING_DOWN: ON})
    await advance(hass, freezer, 4)
    assert position_of(hass, LIVING) == 20
    await advance(hass, freezer, 6)
    await settle(hass, simulator, {LIVING_DOWN: OFF})
    assert state_of(hass, LIVING).state == CoverState.CLOSED
    interlock.check()

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_a_run_going_on_at_startup_is_followed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A relay already on when Home Assistant starts is a run, timed from the restored position."""
    mock_restore_cache(
        hass, [State(register_cover(hass, LIVING), CoverState.OPEN, {ATTR_CURRENT_POSITION: 90})]
    )
    simulator.set_output(*LIVING_UP, ON)
    await setup_entry(hass, mock_config_entry)
    assert state_of(hass, LIVING).state == CoverState.OPENING

    await advance(hass, freezer, 4)
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 100)
    interlock.check()

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_cover_without_travel_time(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Nothing tells when its run ends: the relay is not timed, and the state is assumed.

    Unknown until a run was seen; closed after a run down that the
    installation ended (its end stop timing), open after a run up or a
    run stopped on the way.
    """
    state = state_of(hass, GARAGE)
    assert state.state == STATE_UNKNOWN
    assert ATTR_CURRENT_POSITION not in state.attributes

    await call(hass, SERVICE_OPEN_COVER, GARAGE)
    await settle(hass, simulator, {GARAGE_UP: ON, GARAGE_DOWN: OFF})
    assert state_of(hass, GARAGE).state == CoverState.OPENING
    await advance(hass, freezer, 600)
    assert simulator.get_value(*GARAGE_UP) == ON

    await call(hass, SERVICE_STOP_COVER, GARAGE)
    await settle(hass, simulator, {GARAGE_UP: OFF})
    state = state_of(hass, GARAGE)
    assert state.state == CoverState.OPEN
    assert ATTR_CURRENT_POSITION not in state.attributes

    await advance(hass, freezer, 5)
    await call(hass, SERVICE_CLOSE_COVER, GARAGE)
    await settle(hass, simulator, {GARAGE_DOWN: ON})
    await call(hass, SERVICE_STOP_COVER, GARAGE)
    await settle(hass, simulator, {GARAGE_DOWN: OFF})
    assert state_of(hass, GARAGE).state == CoverState.OPEN

    await advance(hass, freezer, 5)
    await call(hass, SERVICE_CLOSE_COVER, GARAGE)
    await settle(hass, simulator, {GARAGE_DOWN: ON})
    await installation_sets(hass, simulator, GARAGE_DOWN, OFF)
    assert state_of(hass, GARAGE).state == CoverState.CLOSED
    assert state_of(hass, GARAGE).attributes[ATTR_ASSUMED_STATE] is True
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_unavailable_while_disconnected(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Covers follow the connection; commands fail while it is down, nothing is queued."""
    await freeze_link(hass, simulator)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, SERVICE_OPEN_COVER, LIVING)
    assert err.value.translation_key == "not_connected"

    await advance(hass, freezer, 2)
    assert state_of(hass, LIVING).state == STATE_UNAVAILABLE

    await thaw_link(hass, simulator)
    assert get_coordinator(hass).available
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    assert simulator.get_value(*LIVING_UP) == OFF
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_end_of_run_stop_is_retried_after_a_lost_link(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run whose end falls in a connection loss is stopped once the link is back."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    await freeze_link(hass, simulator)

    with caplog.at_level(logging.WARNING):
        await advance(hass, freezer, 22)
    assert "could not be stopped at the end of its run" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        await advance(hass, freezer, 5)
    assert "could not be stopped" not in caplog.text

    await thaw_link(hass, simulator)
    await advance(hass, freezer, 5)
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 100)
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_a_stop_delayed_by_an_outage_keeps_the_running_time_estimate(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """The motor ran on while the link was down: the position is where it got to, not the target."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 30})
    await settle(hass, simulator, {LIVING_UP: ON})
    await freeze_link(hass, simulator)

    await advance(hass, freezer, 6)
    assert simulator.get_value(*LIVING_UP) == ON
    await thaw_link(hass, simulator)
    await advance(hass, freezer, 5)
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 55)
    interlock.check()


async def test_unload_while_running_leaves_no_timer(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """Unloading in the middle of a run and of a reversal rest cancels every timer."""
    await setup_entry(hass, mock_config_entry)
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await call(hass, SERVICE_OPEN_COVER, BEDROOM)
    await settle(hass, simulator, {LIVING_UP: ON, BEDROOM_UP: ON})
    closing = begin(hass, SERVICE_CLOSE_COVER, BEDROOM)
    await settle(hass, simulator, {BEDROOM_UP: OFF})

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    await closing
    await advance(hass, freezer, 60)
    interlock.check()


async def start_waiting_for_the_partner_relay(
    hass: HomeAssistant, simulator: Simulator
) -> asyncio.Task[None]:
    """Open the bedroom shutter while its held down relay keeps running.

    Returns once the integration has asked for the down relay to go off and
    waits for the installation to show it, before it may switch the up relay on.
    """
    await installation_sets(hass, simulator, BEDROOM_DOWN, ON)
    simulator.clear_writes()
    opening = hass.async_create_task(call(hass, SERVICE_OPEN_COVER, BEDROOM))
    await hass.async_add_executor_job(
        simulator.wait_for_write, lambda write: write.module == BEDROOM_DOWN[0], WAIT_TIMEOUT
    )
    return opening


@pytest.mark.parametrize("entry_options", [options(0)])
@pytest.mark.usefixtures("init_integration", "stuck_bedroom_down_relay")
async def test_stop_abandons_a_start_waiting_for_the_partner_relay(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """The up relay is never switched on while the down relay still shows on.

    The stop itself fails: the installation keeps the down relay on.
    """
    opening = await start_waiting_for_the_partner_relay(hass, simulator)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, SERVICE_STOP_COVER, BEDROOM)
    assert err.value.translation_key == "write_not_confirmed"
    assert err.value.translation_placeholders == {"name": "Shutter"}
    await opening
    await hass.async_block_till_done()
    assert simulator.get_value(*BEDROOM_UP) == OFF
    assert not any(
        write.module == BEDROOM_UP[0] and relay_in(write, BEDROOM_UP) == ON
        for write in simulator.writes()
    )
    interlock.check()


@pytest.mark.parametrize("entry_options", [options(0)])
@pytest.mark.usefixtures("init_integration", "stuck_bedroom_down_relay")
async def test_start_fails_when_the_partner_relay_stays_on(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A partner relay the installation keeps on makes the command fail, not both relays run."""
    opening = await start_waiting_for_the_partner_relay(hass, simulator)
    await advance(hass, freezer, 10)
    with pytest.raises(HomeAssistantError) as err:
        await opening
    assert err.value.translation_key == "cover_relay_not_released"
    assert simulator.get_value(*BEDROOM_UP) == OFF
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_start_after_the_rest_needs_the_link(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reversal whose rest ends while the link is down is dropped, and its action fails."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    closing = begin(hass, SERVICE_CLOSE_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: OFF})
    await resting(hass, LIVING)
    await freeze_link(hass, simulator)

    await advance(hass, freezer, 2)
    with pytest.raises(HomeAssistantError) as err:
        await closing
    assert err.value.translation_key == "not_connected"

    await thaw_link(hass, simulator)
    await advance(hass, freezer, 5)
    assert simulator.get_value(*LIVING_DOWN) == OFF
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_a_shutter_state_is_an_assumed_state(hass: HomeAssistant) -> None:
    """Estimated or assumed, open and close stay enabled at the ends (the frontend's rule)."""
    for cover in (LIVING, BEDROOM, GARAGE):
        assert state_of(hass, cover).attributes[ATTR_ASSUMED_STATE] is True


async def test_reload_stops_a_run_to_a_position_where_it_is(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A reload in the middle of a run to a set position releases the relay and keeps the estimate.

    Without the stop, the relay stayed on and the new entity ran the shutter to its end stop.
    """
    await setup_entry(hass, mock_config_entry)
    await run_to_end(hass, freezer, simulator, BEDROOM, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, BEDROOM, **{ATTR_POSITION: 50})
    await settle(hass, simulator, {BEDROOM_UP: ON})
    await advance(hass, freezer, 6)

    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert simulator.get_value(*BEDROOM_UP) == OFF
    assert simulator.get_value(*BEDROOM_DOWN) == OFF
    state = state_of(hass, BEDROOM)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 25)
    await advance(hass, freezer, 60)
    assert simulator.get_value(*BEDROOM_UP) == OFF
    assert position_of(hass, BEDROOM) == 25
    interlock.check()


async def test_deleting_a_shutter_stops_its_run_where_it_is(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A shutter deleted in the middle of a run to a set position is stopped, not left running."""
    await setup_entry(hass, mock_config_entry)
    await run_to_end(hass, freezer, simulator, BEDROOM, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, BEDROOM, **{ATTR_POSITION: 50})
    await settle(hass, simulator, {BEDROOM_UP: ON})

    assert hass.config_entries.async_remove_subentry(
        mock_config_entry, subentry_id_of(mock_config_entry, "bedroom_shutter")
    )
    await hass.async_block_till_done()
    await settle(hass, simulator, {BEDROOM_UP: OFF})
    assert simulator.get_value(*BEDROOM_DOWN) == OFF
    assert er.async_get(hass).async_get_entity_id("cover", DOMAIN, BEDROOM) is None
    assert simulator.connections_accepted == 1
    interlock.check()


async def test_reload_lets_a_run_to_an_end_stop_go_on(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A run to an end stop is picked up from the relays by the new entity and ended there."""
    await setup_entry(hass, mock_config_entry)
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})

    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert simulator.get_value(*LIVING_UP) == ON
    assert state_of(hass, LIVING).state == CoverState.OPENING

    await advance(hass, freezer, 60)
    await settle(hass, simulator, {LIVING_UP: OFF})
    assert state_of(hass, LIVING).state == CoverState.OPEN
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_a_run_writes_its_state_at_start_quarters_and_stop(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
) -> None:
    """A full run of 20 s writes five states, not one a second, and still shows the motion."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    written: list[tuple[str, int | None]] = []

    @callback
    def record(event: Any) -> None:
        state = event.data["new_state"]
        written.append((state.state, state.attributes.get(ATTR_CURRENT_POSITION)))

    unsubscribe = async_track_state_change_event(hass, [cover_id(hass, LIVING)], record)
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    await settle(hass, simulator, {LIVING_UP: ON})
    for _ in range(25):
        await advance(hass, freezer, 1)
    await settle(hass, simulator, {LIVING_UP: OFF})
    unsubscribe()

    assert written == [
        (CoverState.OPENING, 0),
        (CoverState.OPENING, 25),
        (CoverState.OPENING, 50),
        (CoverState.OPENING, 75),
        (CoverState.OPEN, 100),
    ]
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_a_start_the_installation_never_showed_fails_and_is_not_tracked(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """A relay write given up on fails the action and ends the run the cover counted on."""

    def undo(write: ReceivedWrite) -> None:
        if write.module == LIVING_UP[0]:
            simulator.set_output(*LIVING_UP, OFF)

    unsubscribe = simulator.on_write(undo)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, SERVICE_OPEN_COVER, LIVING)
    unsubscribe()

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "write_not_confirmed"
    assert err.value.translation_placeholders == {"name": "Shutter"}
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    assert simulator.get_value(*LIVING_UP) == OFF
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_an_action_returns_once_the_installation_shows_it(
    hass: HomeAssistant, simulator: Simulator, interlock: Interlock
) -> None:
    """Open and stop return when the installation shows the relays, and the shutter shows it."""
    await call(hass, SERVICE_OPEN_COVER, LIVING)
    assert (simulator.get_value(*LIVING_UP), simulator.get_value(*LIVING_DOWN)) == (ON, OFF)
    assert state_of(hass, LIVING).state == CoverState.OPENING

    await call(hass, SERVICE_STOP_COVER, LIVING)
    assert (simulator.get_value(*LIVING_UP), simulator.get_value(*LIVING_DOWN)) == (OFF, OFF)
    assert state_of(hass, LIVING).state == STATE_UNKNOWN
    interlock.check()


@pytest.mark.usefixtures("init_integration")
async def test_an_end_of_run_stop_the_installation_undoes_is_logged_and_followed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: Simulator,
    interlock: Interlock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The timer's own stop raises nowhere: it is logged, and the relay still on is followed."""
    await run_to_end(hass, freezer, simulator, LIVING, "down")
    await call(hass, SERVICE_SET_COVER_POSITION, LIVING, **{ATTR_POSITION: 50})
    await settle(hass, simulator, {LIVING_UP: ON})

    def hold(write: ReceivedWrite) -> None:
        if write.module == LIVING_UP[0] and not simulator.get_value(*LIVING_UP):
            simulator.set_output(*LIVING_UP, ON)

    unsubscribe = simulator.on_write(hold)
    with caplog.at_level(logging.WARNING):
        await advance(hass, freezer, 10)
        await wait_until(
            hass,
            lambda: "was not stopped at the end of its run" in caplog.text,
            "the failed stop to be logged",
        )
    unsubscribe()
    await hass.async_block_till_done()
    assert simulator.get_value(*LIVING_UP) == ON
    assert state_of(hass, LIVING).state == CoverState.OPENING

    await advance(hass, freezer, 30)
    await settle(hass, simulator, {LIVING_UP: OFF})
    state = state_of(hass, LIVING)
    assert (state.state, state.attributes[ATTR_CURRENT_POSITION]) == (CoverState.OPEN, 100)
    interlock.check()
