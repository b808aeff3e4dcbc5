"""The diagnostic sensors of each bus connection follow the client's figures."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime
from unittest.mock import PropertyMock, patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN, EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from syrupy.assertion import SnapshotAssertion

from custom_components.ipcom.const import DOMAIN, STATISTIC_SENSORS
from custom_components.ipcom.coordinator import IPComCoordinator
from custom_components.ipcom.identifiers import hub_identifier, statistic_unique_id
from custom_components.ipcom.sensor import REFRESH_INTERVAL, SENSORS
from ipcom.models import ClientStatistics
from ipcom.simulator import ReceivedWrite, Simulator

from .conftest import (
    ENTRY_ID,
    entity_id_of,
    get_coordinator,
    press_wall_switch,
    snapshot_platform,
    two_bus_entry,
    wait_for_state,
    wait_until,
)
from .registries import find_device

REPLY_DELAY = 0.05
"""Seconds the simulated installation holds each reply, so every round trip is at least this."""

FIGURES = ClientStatistics(
    snapshots_received=120,
    polls_sent=118,
    writes_sent=7,
    writes_confirmed=4,
    writes_superseded=1,
    writes_abandoned=2,
    reconnects=3,
    dropped_bytes=0,
    unknown_messages=0,
    last_error="the installation closed the connection",
    connected_since=datetime(2026, 2, 1, 12, 0, tzinfo=UTC).timestamp(),
    poll_round_trip=0.01234,
)
"""Figures a client might have after a while: the snapshot does not depend on timing."""


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the sensor platform."""
    return [Platform.SENSOR]


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Every entity enabled when it is registered, as core's test fixture of that name does."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


def sensor(hass: HomeAssistant, key: str, bus: int = 1) -> str:
    """The entity id of a bus's diagnostic sensor."""
    return entity_id_of(hass, Platform.SENSOR, statistic_unique_id(ENTRY_ID, key, bus))


def state_of(hass: HomeAssistant, key: str, bus: int = 1) -> str:
    """The state of a bus's diagnostic sensor."""
    state = hass.states.get(sensor(hass, key, bus))
    assert state is not None
    return state.state


def test_the_keys_are_those_the_registry_keeps() -> None:
    """registry.py keeps the rows of `STATISTIC_SENSORS`: the same keys as the sensors'."""
    assert tuple(description.key for description in SENSORS) == STATISTIC_SENSORS


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Registry entries and states of the four sensors of a one-bus installation."""
    mock_config_entry.add_to_hass(hass)
    with (
        patch("custom_components.ipcom.PLATFORMS", [Platform.SENSOR]),
        patch.object(
            IPComCoordinator, "statistics", new_callable=PropertyMock, return_value=FIGURES
        ),
    ):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_disabled_by_default_on_the_hub(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, device_registry: dr.DeviceRegistry
) -> None:
    """Diagnostic figures: registered on the hub device, disabled until the user enables them."""
    hub = find_device(device_registry, hub_identifier(ENTRY_ID)[1])
    assert hub is not None
    entries = er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    assert sorted(entry.unique_id for entry in entries) == sorted(
        statistic_unique_id(ENTRY_ID, key) for key in STATISTIC_SENSORS
    )
    for entry in entries:
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert entry.entity_category is EntityCategory.DIAGNOSTIC
        assert entry.device_id == hub.id
        assert hass.states.get(entry.entity_id) is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_figures_follow_a_reconnect(hass: HomeAssistant, simulator: Simulator) -> None:
    """Connected since: set on connect, unknown while down, later after a reconnect, counted."""
    assert state_of(hass, "reconnects") == "0"
    first = dt_util.parse_datetime(state_of(hass, "connected_since"))
    assert first is not None
    assert first <= dt_util.utcnow()
    assert float(state_of(hass, "round_trip")) >= 0

    simulator.local_reachable = False
    await wait_for_state(hass, sensor(hass, "connected_since"), STATE_UNKNOWN)
    assert state_of(hass, "round_trip") == STATE_UNKNOWN
    simulator.local_reachable = True
    await wait_for_state(hass, sensor(hass, "reconnects"), "1")

    again = dt_util.parse_datetime(state_of(hass, "connected_since"))
    assert again is not None
    assert again >= first


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_round_trip_in_milliseconds(hass: HomeAssistant, simulator: Simulator) -> None:
    """The median poll round trip, shown the next time the coordinator has news."""
    coordinator = get_coordinator(hass)
    simulator.reply_delay = REPLY_DELAY
    await wait_until(
        hass,
        lambda: (coordinator.statistics.poll_round_trip or 0.0) >= REPLY_DELAY,
        "the median round trip growing past the reply delay",
    )
    await press_wall_switch(hass, simulator, 1, 1)

    await wait_until(
        hass,
        lambda: float(state_of(hass, "round_trip")) >= REPLY_DELAY * 1000,
        "the round-trip sensor showing the slower replies",
    )
    state = hass.states.get(sensor(hass, "round_trip"))
    assert state is not None
    assert state.attributes["unit_of_measurement"] == "ms"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_round_trip_refreshes_on_a_quiet_bus(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """With nothing changing on the bus, the figure is still looked at every refresh interval."""
    coordinator = get_coordinator(hass)
    simulator.reply_delay = REPLY_DELAY
    await wait_until(
        hass,
        lambda: (coordinator.statistics.poll_round_trip or 0.0) >= REPLY_DELAY,
        "the median round trip growing past the reply delay",
    )
    assert float(state_of(hass, "round_trip")) < REPLY_DELAY * 1000

    async_fire_time_changed(hass, dt_util.utcnow() + REFRESH_INTERVAL)
    await hass.async_block_till_done()
    assert float(state_of(hass, "round_trip")) >= REPLY_DELAY * 1000


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_commands_given_up(hass: HomeAssistant, simulator: Simulator) -> None:
    """A write the installation never shows counts as given up, without any snapshot change."""
    assert state_of(hass, "writes_abandoned") == "0"

    def undo(write: ReceivedWrite) -> None:
        if write.module == 9:
            simulator.set_output(9, 3, 0)

    unsubscribe = simulator.on_write(undo)
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN,
            "set_output",
            {"config_entry_id": ENTRY_ID, "module": 9, "output": 3, "value": 255},
            blocking=True,
        )
    unsubscribe()

    await wait_for_state(hass, sensor(hass, "writes_abandoned"), "1")


@pytest.fixture
async def two_buses(
    hass: HomeAssistant, two_bus_simulator: Simulator
) -> AsyncGenerator[MockConfigEntry]:
    """The two-bus entry set up with only its sensors."""
    entry = two_bus_entry(two_bus_simulator, {})
    entry.add_to_hass(hass)
    with patch("custom_components.ipcom.PLATFORMS", [Platform.SENSOR]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield entry
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "two_buses")
async def test_two_buses_name_their_bus(hass: HomeAssistant, two_bus_simulator: Simulator) -> None:
    """Each bus has its four sensors, named by bus; a bus's reconnect is its own."""
    names = {
        "reconnects": "reconnects",
        "connected_since": "connected since",
        "round_trip": "round-trip time",
        "writes_abandoned": "commands given up",
    }
    for bus in (1, 2):
        for key, name in names.items():
            state = hass.states.get(sensor(hass, key, bus))
            assert state is not None
            assert state.name.endswith(f"Bus {bus} {name}")

    two_bus_simulator.set_bus_reachable(2, False)
    await wait_for_state(hass, sensor(hass, "connected_since", 2), STATE_UNKNOWN)
    two_bus_simulator.set_bus_reachable(2, True)
    await wait_for_state(hass, sensor(hass, "reconnects", 2), "1")
    assert state_of(hass, "reconnects", 1) == "0"
    assert state_of(hass, "connected_since", 1) != STATE_UNKNOWN
