"""The coordinator: push updates, the unavailability grace, and quiet when nothing changes."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import (
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.ipcom.identifiers import output_unique_id
from ipcom.installation import Installation
from ipcom.models import ConnectionEvent, ConnectionState
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    entity_id_of,
    get_coordinator,
    press_wall_switch,
    wait_for_state,
    wait_until,
)


def relay(hass: HomeAssistant) -> str:
    """The entity id of the relay light on output 1.1."""
    return entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, 1, 1))


def socket(hass: HomeAssistant) -> str:
    """The entity id of the switch on output 2.1."""
    return entity_id_of(hass, Platform.SWITCH, output_unique_id(ENTRY_ID, 2, 1))


def connection(hass: HomeAssistant) -> str:
    """The entity id of the connectivity sensor."""
    return entity_id_of(hass, Platform.BINARY_SENSOR, f"{ENTRY_ID}_connection")


LINK_LOGGER = "ipcom.device"
"""The library follows the link and logs its losses and returns."""


@pytest.fixture
def platforms() -> list[Platform]:
    """Lights, switches and the connectivity sensor."""
    return [Platform.BINARY_SENSOR, Platform.LIGHT, Platform.SWITCH]


def link_messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """What the coordinator logged at exactly `level`."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LINK_LOGGER and record.levelno == level
    ]


@pytest.mark.usefixtures("init_integration")
async def test_unavailable_after_grace_and_back(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A silent installation makes entities unavailable after the grace; they return with it.

    The log says so once each way at info level, however often the client retries meanwhile.
    """
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    simulator.freeze()
    await wait_for_state(hass, connection(hass), STATE_OFF)
    assert hass.states.get(relay(hass)).state == STATE_OFF
    await wait_for_state(hass, relay(hass), STATE_UNAVAILABLE)
    assert hass.states.get(socket(hass)).state == STATE_UNAVAILABLE
    assert hass.states.get(connection(hass)).state == STATE_OFF
    assert not get_coordinator(hass).available

    simulator.set_output(1, 1, 255)
    simulator.unfreeze()
    await wait_for_state(hass, relay(hass), STATE_ON)
    assert hass.states.get(socket(hass)).state == STATE_OFF
    assert hass.states.get(connection(hass)).state == STATE_ON

    assert link_messages(caplog, logging.WARNING) == []
    lost, restored = link_messages(caplog, logging.INFO)
    assert "unavailable" in lost
    assert "restored" in restored


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_UNAVAILABLE_AFTER: 600, CONF_REVERSE_PAUSE: 0.1}],
)
@pytest.mark.usefixtures("init_integration")
async def test_short_outage_within_grace(
    hass: HomeAssistant,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    entry_options: dict[str, Any],
) -> None:
    """A link lost for less than the grace never makes entities unavailable, and logs nothing."""
    caplog.set_level(logging.INFO, logger=LINK_LOGGER)
    states: dict[str, list[str]] = {relay(hass): [], connection(hass): []}

    @callback
    def record(event: Event) -> None:
        if event.data["entity_id"] in states:
            states[event.data["entity_id"]].append(event.data["new_state"].state)

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    simulator.drop_connections()
    await wait_until(
        hass,
        lambda: states[connection(hass)] == [STATE_OFF, STATE_ON],
        "the link sensor going off and on again",
    )
    await press_wall_switch(hass, simulator, 1, 1)
    unsubscribe()

    assert states[relay(hass)] == [STATE_ON]
    assert link_messages(caplog, logging.WARNING) == []
    assert link_messages(caplog, logging.INFO) == []


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_UNAVAILABLE_AFTER: 0, CONF_REVERSE_PAUSE: 0.1}],
)
@pytest.mark.usefixtures("init_integration")
async def test_no_grace(
    hass: HomeAssistant, simulator: Simulator, entry_options: dict[str, Any]
) -> None:
    """With a grace of 0 s the entities turn unavailable as soon as the link drops."""
    simulator.stop()
    await wait_for_state(hass, relay(hass), STATE_UNAVAILABLE)


async def test_entities_are_available_once_set_up_however_late_the_news_of_the_link(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, platforms: list[Platform]
) -> None:
    """Setup waits for the first snapshot, so the entities it adds are available at once.

    The client's own news that the link is up comes from its thread and may
    reach the event loop after the entities were added; here it never does.
    """
    mock_config_entry.add_to_hass(hass)
    with (
        patch("custom_components.ipcom.PLATFORMS", platforms),
        patch.object(Installation, "_connection_from_client"),
    ):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(relay(hass)).state == STATE_OFF
        assert hass.states.get(connection(hass)).state == STATE_ON
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_no_state_writes_without_changes(hass: HomeAssistant, simulator: Simulator) -> None:
    """Polls that bring nothing new write no state; a change writes only its own entity."""
    written: list[str] = []

    @callback
    def record(event: Event) -> None:
        written.append(event.data["entity_id"])

    @callback
    def every_event(_data: Any) -> bool:
        return True

    unsubscribe_changed = hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    unsubscribe_reported = hass.bus.async_listen(
        EVENT_STATE_REPORTED, record, event_filter=every_event
    )
    await hass.async_add_executor_job(simulator.wait_for_polls, 10)
    await hass.async_block_till_done()
    assert written == []

    await press_wall_switch(hass, simulator, 2, 1)
    await hass.async_add_executor_job(simulator.wait_for_polls, 10)
    await hass.async_block_till_done()
    unsubscribe_changed()
    unsubscribe_reported()
    assert written == [socket(hass)]


@pytest.mark.usefixtures("init_integration")
async def test_manual_refresh(hass: HomeAssistant, simulator: Simulator) -> None:
    """homeassistant.update_entity answers from the client's latest snapshot."""
    assert await async_setup_component(hass, "homeassistant", {})
    simulator.set_output(1, 1, 255)
    await hass.async_add_executor_job(simulator.wait_for_polls, 3)
    await hass.services.async_call(
        "homeassistant", "update_entity", {ATTR_ENTITY_ID: relay(hass)}, blocking=True
    )
    await wait_for_state(hass, relay(hass), STATE_ON)


async def test_refresh_without_snapshot(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Before any snapshot a refresh fails instead of inventing a state."""
    coordinator = get_coordinator(hass)
    with (
        patch.object(coordinator.client, "get_latest_snapshot", return_value=None),
        pytest.raises(UpdateFailed),
    ):
        await coordinator._async_update_data()


async def test_news_arriving_after_stop_is_ignored(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """What client threads sent just before the stop changes nothing once it has begun."""
    coordinator = get_coordinator(hass)
    before = coordinator.data
    coordinator._connection_event_from_client_thread(
        ConnectionEvent(ConnectionState.DISCONNECTED, "rejected", authentication_failed=True)
    )
    coordinator._snapshot_from_client_thread(before.with_value(1, 1, 255))
    await init_integration.runtime_data.async_stop()
    await hass.async_block_till_done()

    assert coordinator.link_up
    assert coordinator.data is before
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
