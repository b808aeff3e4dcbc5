"""A bus that stays unreachable raises a repair issue; the issue goes once the link is back."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from datetime import timedelta
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ipcom.const import DOMAIN
from custom_components.ipcom.coordinator import UNREACHABLE_ISSUE_AFTER, unreachable_issue_id
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    ENTRY_TITLE,
    PASSWORD,
    USERNAME,
    get_coordinator,
    two_bus_entry,
    wait_until,
)

SHORT_DELAY = 0.3
"""Seconds the tests let a link stay down before the issue, instead of five minutes."""


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the connectivity sensor: the issue needs no entity at all."""
    return [Platform.BINARY_SENSOR]


@pytest.fixture
def short_delay() -> Generator[None]:
    """Raise the issue after SHORT_DELAY seconds of outage."""
    with patch("custom_components.ipcom.coordinator.UNREACHABLE_ISSUE_AFTER", SHORT_DELAY):
        yield


def issue(hass: HomeAssistant, bus: int = 1) -> ir.IssueEntry | None:
    """The unreachable issue of a bus of the test entry, if there is one."""
    return ir.async_get(hass).async_get_issue(DOMAIN, unreachable_issue_id(ENTRY_ID, bus))


async def wait_for_issue(hass: HomeAssistant, bus: int = 1) -> ir.IssueEntry:
    """Wait until a bus's unreachable issue is raised."""
    await wait_until(hass, lambda: issue(hass, bus) is not None, f"bus {bus}'s issue")
    entry = issue(hass, bus)
    assert entry is not None
    return entry


async def link_down(hass: HomeAssistant, simulator: Simulator) -> None:
    """Make the installation's address refuse connections, as a wrong address or power cut does."""
    simulator.local_reachable = False
    coordinator = get_coordinator(hass)
    await wait_until(hass, lambda: not coordinator.link_up, "the link going down")


async def link_back(hass: HomeAssistant, simulator: Simulator) -> None:
    """Let the installation take connections again and wait until the link is up."""
    simulator.local_reachable = True
    coordinator = get_coordinator(hass)
    await wait_until(hass, lambda: coordinator.link_up, "the link coming back")


def five_minutes_later(hass: HomeAssistant) -> None:
    """Fire every timer due by the time the issue's delay passed."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=UNREACHABLE_ISSUE_AFTER + 1))


@pytest.mark.usefixtures("short_delay", "init_integration")
async def test_issue_while_unreachable_gone_when_back(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """An error that says where to look, raised after the delay; it goes by itself."""
    assert issue(hass) is None
    await link_down(hass, simulator)

    raised = await wait_for_issue(hass)
    assert raised.severity is ir.IssueSeverity.ERROR
    assert not raised.is_fixable
    assert raised.translation_key == "bus_unreachable"
    assert raised.translation_placeholders is not None
    placeholders = dict(raised.translation_placeholders)
    assert placeholders.pop("error")
    assert placeholders == {
        "title": ENTRY_TITLE,
        "bus": "1",
        "address": f"{simulator.host}:{simulator.port}",
        "minutes": f"{SHORT_DELAY / 60:g}",
    }

    await link_back(hass, simulator)
    await wait_until(hass, lambda: issue(hass) is None, "the issue going away")


@pytest.mark.usefixtures("init_integration")
async def test_five_minutes_of_outage(hass: HomeAssistant, simulator: Simulator) -> None:
    """Without the patch the timer runs five minutes; a link back in time raises nothing."""
    await link_down(hass, simulator)
    await link_back(hass, simulator)
    five_minutes_later(hass)
    await hass.async_block_till_done()
    assert issue(hass) is None

    await link_down(hass, simulator)
    assert issue(hass) is None
    five_minutes_later(hass)
    await hass.async_block_till_done()
    assert issue(hass) is not None


@pytest.mark.usefixtures("short_delay")
async def test_unload_removes_the_issue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An unloaded entry leaves no issue behind; a reload starts counting afresh."""
    await link_down(hass, simulator)
    await wait_for_issue(hass)

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert issue(hass) is None


@pytest.mark.usefixtures("short_delay")
async def test_removal_removes_the_issue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A deleted entry leaves no issue behind."""
    await link_down(hass, simulator)
    await wait_for_issue(hass)

    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert issue(hass) is None


@pytest.mark.usefixtures("init_integration")
async def test_rejected_credentials_ask_for_them_instead(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A link down because the login was refused is no unreachable installation."""
    simulator.set_credentials(USERNAME, f"{PASSWORD}-changed")
    simulator.drop_connections()
    await wait_until(
        hass,
        lambda: any(
            flow["context"]["source"] == SOURCE_REAUTH
            for flow in hass.config_entries.flow.async_progress()
        ),
        "the reauthentication flow",
    )
    five_minutes_later(hass)
    await hass.async_block_till_done()
    assert issue(hass) is None


@pytest.fixture
async def two_buses(
    hass: HomeAssistant, two_bus_simulator: Simulator, short_delay: None
) -> AsyncGenerator[MockConfigEntry]:
    """The two-bus entry set up with its connectivity sensors."""
    entry = two_bus_entry(two_bus_simulator, {})
    entry.add_to_hass(hass)
    with patch("custom_components.ipcom.PLATFORMS", [Platform.BINARY_SENSOR]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield entry
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("two_buses")
async def test_each_bus_its_own_issue(hass: HomeAssistant, two_bus_simulator: Simulator) -> None:
    """Bus 2 cut off: bus 2's issue only, gone once bus 2 is back."""
    two_bus_simulator.set_bus_reachable(2, False)
    raised = await wait_for_issue(hass, 2)
    assert raised.translation_placeholders is not None
    assert raised.translation_placeholders["bus"] == "2"
    assert issue(hass, 1) is None
    assert get_coordinator(hass, 1).link_up

    two_bus_simulator.set_bus_reachable(2, True)
    await wait_until(hass, lambda: issue(hass, 2) is None, "bus 2's issue going away")


async def test_an_installation_unreachable_at_start_is_said_after_the_delay(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Setups retried for as long as the delay raise the issue; the setup that connects clears it.

    No coordinator runs while Home Assistant retries a setup, so the time of
    the first failed setup is what counts.
    """
    simulator.local_reachable = False
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.ipcom.coordinator.UNREACHABLE_ISSUE_AFTER", 0.0):
        await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
        raised = issue(hass)
        assert raised is not None
        assert raised.severity is ir.IssueSeverity.ERROR
        assert raised.translation_placeholders["address"] == f"{simulator.host}:{simulator.port}"

        simulator.local_reachable = True
        assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert issue(hass) is None
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_a_first_failed_start_raises_nothing_yet(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """One setup that cannot connect is a retry, not yet a problem to report."""
    simulator.local_reachable = False
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert issue(hass) is None
    assert await hass.config_entries.async_remove(mock_config_entry.entry_id)
