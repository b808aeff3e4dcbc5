"""Setting up, unloading and reloading an entry; its failures; its devices."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant import config_entries
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_PORT, CONF_USERNAME, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components
from custom_components.ipcom import async_remove_config_entry_device
from custom_components.ipcom.const import CONF_DEVICES_FILE, DOMAIN
from ipcom.client import IPComClient
from ipcom.models import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    ENTRY_TITLE,
    WAIT_TIMEOUT,
    async_write_text,
    get_coordinator,
    subentry_id_of,
    wait_until,
)
from .registries import find_device


def client_threads() -> list[threading.Thread]:
    """The threads of every running ipcom client."""
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-")]


def client_loop_threads() -> list[threading.Thread]:
    """Threads of clients: receive, requests and listeners (the simulator's have other names)."""
    return [thread for thread in client_threads() if not thread.name.startswith("ipcom-simulator")]


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Setup connects and holds the first snapshot; unload joins every client thread."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    assert runtime.coordinators[1].client.connected
    assert runtime.coordinators[1].data is not None
    assert runtime.installation.clients == {1: runtime.coordinators[1].client}
    assert len(client_loop_threads()) == 3
    assert simulator.active_connections == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert client_loop_threads() == []
    assert runtime.coordinators[1].client.connection_state is ConnectionState.DISCONNECTED
    simulator.wait_until(lambda sim: sim.active_connections == 0, description="disconnect")


async def test_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A reload replaces the client with a new one and leaves one connection."""
    first = init_integration.runtime_data.coordinators[1].client
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data.coordinators[1].client is not first
    assert len(client_loop_threads()) == 3
    simulator.wait_until(lambda sim: sim.active_connections == 1, description="one connection")


@pytest.mark.usefixtures("simulator")
async def test_not_ready_when_unreachable(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A network failure at start lets Home Assistant retry later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, data={**mock_config_entry.data, CONF_PORT: closed_port}
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert client_loop_threads() == []


async def test_not_ready_without_snapshot(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """An installation that never answers a poll is not ready; the client is stopped again."""
    simulator.freeze()
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert client_loop_threads() == []
    simulator.unfreeze()


@pytest.mark.parametrize(
    ("username", "password"),
    [("demo", "wrong"), ("a-username-far-too-long-for-ipcom", "demo")],
)
async def test_auth_failed_starts_reauth(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    username: str,
    password: str,
) -> None:
    """Rejected (or impossible) credentials stop the setup and ask for new ones."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        data={**mock_config_entry.data, CONF_USERNAME: username, CONF_PASSWORD: password},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["context"]["entry_id"] == mock_config_entry.entry_id
    assert client_loop_threads() == []


async def test_rejected_on_reconnect_starts_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Credentials changed on the installation while running: ask for new ones, once."""
    simulator.set_credentials("admin", "changed")
    simulator.drop_connections()
    simulator.wait_until(lambda sim: sim.auth_failures >= 1, description="a rejected login")
    client = init_integration.runtime_data.coordinators[1].client
    await wait_until(
        hass,
        lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)),
        "a reauth flow",
    )
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert client.connection_state is ConnectionState.DISCONNECTED
    assert simulator.auth_failures == 1


async def test_rejected_while_starting_starts_reauth(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Credentials rejected on a reconnect before the setup finished still ask for new ones."""
    wait_for_snapshot = IPComClient.wait_for_snapshot

    def snapshot_then_lose_credentials(client: IPComClient, timeout: float) -> StateSnapshot:
        snapshot = wait_for_snapshot(client, timeout)
        gave_up = threading.Event()

        def note(event: ConnectionEvent) -> None:
            if event.authentication_failed:
                gave_up.set()

        client.on_connection_state(note)
        simulator.set_credentials("admin", "changed")
        simulator.drop_connections()
        assert gave_up.wait(WAIT_TIMEOUT)
        return snapshot

    mock_config_entry.add_to_hass(hass)
    with patch.object(IPComClient, "wait_for_snapshot", snapshot_then_lose_credentials):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()

    coordinator = get_coordinator(hass)
    assert not coordinator.link_up
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    await wait_until(hass, lambda: not coordinator.available, "the grace running out")
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_failed_setup_after_start_stops_the_client(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A setup that fails once the client runs leaves no thread and no connection behind."""
    mock_config_entry.add_to_hass(hass)
    with patch(
        "custom_components.ipcom.registry.async_register_devices",
        side_effect=RuntimeError("boom"),
    ):
        assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert simulator.connections_accepted == 1
    assert client_loop_threads() == []
    simulator.wait_until(lambda sim: sim.active_connections == 0, description="disconnect")


async def test_invalid_devices_file(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    simulator: Simulator,
    devices_file: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A broken devices file is a setup error with a repair issue naming the problem."""
    await async_write_text(hass, devices_file, "lights:\n  hall:\n    module: 1\n")
    file_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(file_config_entry.entry_id)
    await hass.async_block_till_done()
    assert file_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert file_config_entry.reason is not None
    assert simulator.connections_accepted == 0
    issue = issue_registry.async_get_issue(DOMAIN, f"invalid_devices_file_{ENTRY_ID}")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["title"] == ENTRY_TITLE
    assert "lights.hall.output: is required" in issue.translation_placeholders["error"]

    await async_write_text(hass, devices_file, "lights:\n  hall:\n    module: 1\n    output: 2\n")
    assert await hass.config_entries.async_reload(file_config_entry.entry_id)
    await hass.async_block_till_done()
    assert file_config_entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, f"invalid_devices_file_{ENTRY_ID}") is None


async def test_removing_the_entry_removes_its_issue(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    devices_file: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The devices file issue goes away with the entry."""
    await async_write_text(hass, devices_file, "switches: 3\n")
    file_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(file_config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"invalid_devices_file_{ENTRY_ID}") is not None

    await hass.config_entries.async_remove(file_config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"invalid_devices_file_{ENTRY_ID}") is None


async def test_homeassistant_stop_stops_the_client(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Shutting Home Assistant down closes the connection and joins the client's threads."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert client_loop_threads() == []
    assert not init_integration.runtime_data.coordinators[1].client.connected
    simulator.wait_until(lambda sim: sim.disconnects_received == 1, description="a goodbye")


async def test_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """A hub, one device per used module (via the hub), one per mapped device (via its module)."""
    hub = find_device(device_registry, ENTRY_ID)
    assert hub is not None
    assert hub.name == ENTRY_TITLE
    assert hub.manufacturer == "IPCom"

    module_6 = find_device(device_registry, f"{ENTRY_ID}:module:1:6")
    assert module_6 is not None
    assert module_6.via_device_id == hub.id
    assert module_6.model == "EXO DIM"
    assert module_6.name == "Module 6"
    module_1 = find_device(device_registry, f"{ENTRY_ID}:module:1:1")
    assert module_1 is not None
    assert module_1.model == "EXO 8"

    dimmer = find_device(device_registry, f"{ENTRY_ID}:device:dining_dimmer")
    assert dimmer is not None
    assert dimmer.name == "Table"
    assert dimmer.via_device_id == module_6.id
    assert dimmer.area_id == "dining_room"

    devices = dr.async_entries_for_config_entry(device_registry, ENTRY_ID)
    # hub + modules 1..6 + 4 lights + 2 switches + 3 covers
    assert len(devices) == 1 + 6 + 4 + 2 + 3


async def test_devices_leaving_the_map_are_removed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Only devices that left the map may be deleted; a mapped one goes with its subentry."""
    entry = init_integration
    hall = find_device(device_registry, f"{ENTRY_ID}:device:hall")
    assert hall is not None
    assert not await async_remove_config_entry_device(hass, entry, hall)
    stray = device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"{ENTRY_ID}:device:gone")}, name="Gone"
    )
    assert await async_remove_config_entry_device(hass, entry, stray)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert find_device(device_registry, f"{ENTRY_ID}:device:gone") is None
    assert find_device(device_registry, f"{ENTRY_ID}:device:hall") is not None


async def test_device_removal_while_not_loaded(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """An entry that is not loaded decides from its subentries."""
    entry = init_integration
    hall = find_device(device_registry, f"{ENTRY_ID}:device:hall")
    assert hall is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert not await async_remove_config_entry_device(hass, entry, hall)

    hass.config_entries.async_remove_subentry(entry, subentry_id_of(entry, "hall"))
    await hass.async_block_till_done()
    assert find_device(device_registry, f"{ENTRY_ID}:device:hall") is None
    ceiling = find_device(device_registry, f"{ENTRY_ID}:device:living_ceiling")
    assert ceiling is not None
    assert not await async_remove_config_entry_device(hass, entry, ceiling)


async def test_absolute_devices_file(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, devices_file: Path, tmp_path: Path
) -> None:
    """An absolute path is used as it is."""
    elsewhere = tmp_path / "elsewhere.yaml"
    await hass.async_add_executor_job(devices_file.rename, elsewhere)
    file_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        file_config_entry, data={**file_config_entry.data, CONF_DEVICES_FILE: str(elsewhere)}
    )
    assert await hass.config_entries.async_setup(file_config_entry.entry_id)
    await hass.async_block_till_done()
    assert file_config_entry.state is ConfigEntryState.LOADED
    assert len(file_config_entry.subentries) == 9


async def test_shadowing_package_is_reported(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    config_dir: Path,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An old `ipcom` package in the config folder: a repair issue naming it, no import error.

    The folder is a real package, on the path as Home Assistant's working
    directory puts it, and the integration and the library are imported
    afresh, as after a restart.
    """
    old_package = config_dir / "ipcom"
    old_package.mkdir(exist_ok=True)
    await async_write_text(hass, old_package / "__init__.py", "")
    await async_write_text(hass, old_package / "ipcom_cli.py", "")
    monkeypatch.syspath_prepend(str(config_dir))
    # What a fresh import replaces, restored afterwards for the other tests.
    monkeypatch.setitem(config_entries.HANDLERS, DOMAIN, config_entries.HANDLERS[DOMAIN])
    monkeypatch.setattr(custom_components, "ipcom", custom_components.ipcom)
    for name in list(sys.modules):
        if name.split(".")[0] == "ipcom" or name.startswith("custom_components.ipcom"):
            monkeypatch.delitem(sys.modules, name)
    mock_config_entry.add_to_hass(hass)

    assert not await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    issue = issue_registry.async_get_issue(DOMAIN, "shadowing_package")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {
        "folder": str(old_package),
        "file": str(old_package / "__init__.py"),
    }
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert client_loop_threads() == []
