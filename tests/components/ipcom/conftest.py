"""The test kit of the integration: a real simulator, a real client, a real Home Assistant.

Every test runs the integration against `ipcom.simulator.Simulator` on
127.0.0.1 over a real socket. The helpers wait on conditions with generous
bounds instead of sleeping for fixed times, and the client runs with short
intervals so that the suite stays fast.

Every bound is real time, counted in sleeps on an executor thread: tests that
freeze the clock (`freezer`) also freeze the event loop's clock, under which an
`asyncio.timeout` or `asyncio.sleep` would never end.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from pathlib import Path
from typing import Any
from unittest.mock import ANY, patch

import pytest
import yaml
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentryData,
    SubentryFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME, Platform
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util.read_only_dict import ReadOnlyDict
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
    HomeAssistantSnapshotSerializer,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.types import SerializableData

from custom_components.ipcom.const import (
    CONF_BUS_2_TYPE,
    CONF_DEVICES_FILE,
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_DEVICES_FILE,
    DOMAIN,
    PLATFORMS,
)
from custom_components.ipcom.coordinator import IPComCoordinator
from custom_components.ipcom.migration import CONFIG_MINOR_VERSION, CONFIG_VERSION
from custom_components.ipcom.subentries import subentry_data
from ipcom import BusType
from ipcom.client import IPComClient
from ipcom.device_records import records_of
from ipcom.devices import load_device_map, parse_device_map
from ipcom.installation import Installation
from ipcom.simulator import Simulator

FIXTURES = Path(__file__).parent / "fixtures"
DEVICES_FIXTURE = FIXTURES / "devices.yaml"

USERNAME = "demo"
PASSWORD = "demo"
ENTRY_ID = "01JIPCOMTESTENTRY0000000000"
ENTRY_TITLE = "IPCom test"

WAIT_TIMEOUT = 10.0
"""Seconds a helper waits for a condition; generous for a loaded two-core machine."""

POLL_INTERVAL = 0.02
"""Seconds between two looks at a condition that nothing announces."""

FAST_CLIENT_TIMING: dict[str, float] = {
    "poll_interval": 0.05,
    "command_interval": 0.02,
    "keepalive_interval": 5.0,
    "socket_timeout": 1.0,
    "stale_after": 0.5,
    "reconnect_base": 0.05,
    "reconnect_max": 0.2,
}
"""Client intervals for tests: polls, writes and reconnects take a fraction of a second."""


class FastIPComClient(IPComClient):
    """The real client with the test timings, whatever the integration asks for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(FAST_CLIENT_TIMING)
        super().__init__(*args, **kwargs)


def _plain_keys(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping with plain string keys: 2026.10 names attributes with StrEnum members."""
    return {str(key): value for key, value in mapping.items()}


class IPComSnapshotSerializer(HomeAssistantSnapshotSerializer):
    """Home Assistant's serializer, with registry entries reduced to what every release has.

    Releases add fields to registry entries (2026.10: `compat_aliases` and
    `original_name_unprefixed` on entities, the composite-device bookkeeping on
    devices), change how aliases are stored and name attributes with StrEnum
    members instead of strings; one set of snapshot files
    holds on every supported release because only the fields below are kept.
    Entity ids are Home Assistant's choice and differ between releases
    (2026.10 prefixes the area), so they are masked wherever they show; the
    snapshots are named by unique id instead (see `snapshot_platform`).
    """

    MASKED_ENTITY_FIELDS = frozenset({"entity_id", "suggested_object_id"})
    RELEASE_ATTRIBUTES = frozenset({"is_closed"})
    """State attributes only some releases write (2026.10 adds `is_closed` to covers)."""

    ENTITY_FIELDS = frozenset(
        {
            "area_id",
            "capabilities",
            "config_entry_id",
            "config_subentry_id",
            "device_class",
            "device_id",
            "disabled_by",
            "domain",
            "entity_category",
            "entity_id",
            "has_entity_name",
            "hidden_by",
            "icon",
            "id",
            "labels",
            "name",
            "object_id_base",
            "options",
            "original_device_class",
            "original_icon",
            "original_name",
            "platform",
            "previous_unique_id",
            "suggested_object_id",
            "supported_features",
            "translation_key",
            "unique_id",
            "unit_of_measurement",
        }
    )
    DEVICE_FIELDS = frozenset(
        {
            "area_id",
            "configuration_url",
            "connections",
            "disabled_by",
            "entry_type",
            "hw_version",
            "id",
            "identifiers",
            "labels",
            "manufacturer",
            "model",
            "model_id",
            "name",
            "name_by_user",
            "serial_number",
            "sw_version",
            "via_device_id",
        }
    )

    @classmethod
    def _serializable_entity_registry_entry(cls, data: er.RegistryEntry) -> SerializableData:
        serialized = super()._serializable_entity_registry_entry(data)
        for field in set(serialized) - cls.ENTITY_FIELDS:
            del serialized[field]
        if serialized["capabilities"]:
            serialized["capabilities"] = _plain_keys(serialized["capabilities"])
        for field in cls.MASKED_ENTITY_FIELDS:
            serialized[field] = ANY
        return serialized

    @classmethod
    def _serializable_state(cls, data: State) -> SerializableData:
        serialized = super()._serializable_state(data)
        attributes = _plain_keys(serialized["attributes"])
        for attribute in cls.RELEASE_ATTRIBUTES & set(attributes):
            del attributes[attribute]
        serialized["attributes"] = ReadOnlyDict(attributes)
        serialized["entity_id"] = ANY
        return serialized

    @classmethod
    def _serializable_device_registry_entry(cls, data: dr.DeviceEntry) -> SerializableData:
        serialized = super()._serializable_device_registry_entry(data)
        for field in set(serialized) - cls.DEVICE_FIELDS:
            del serialized[field]
        return serialized


class IPComSnapshotExtension(HomeAssistantSnapshotExtension):
    """Snapshots in `snapshots/`, through the release-independent serializer."""

    serializer_class = IPComSnapshotSerializer


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Syrupy's snapshot with this suite's extension.

    The test plugin defines the same fixture, but from 0.13.375 on syrupy's own
    wins over it, so snapshots would land in `__snapshots__/`, unserialized.
    """
    return snapshot.use_extension(IPComSnapshotExtension)


async def snapshot_platform(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    config_entry_id: str,
) -> None:
    """Snapshot every entity of one platform, named by unique id.

    The test plugin's helper names snapshots after entity ids, which differ
    between releases; unique ids are the integration's own and hold on all.
    """
    entity_entries = sorted(
        er.async_entries_for_config_entry(entity_registry, config_entry_id),
        key=lambda entity_entry: entity_entry.unique_id,
    )
    assert entity_entries
    assert len({entity_entry.domain for entity_entry in entity_entries}) == 1, (
        "limit the loaded platforms to one"
    )
    for entity_entry in entity_entries:
        assert entity_entry == snapshot(name=f"{entity_entry.unique_id}-entry")
        assert entity_entry.disabled_by is None, f"{entity_entry.entity_id} is disabled"
        state = hass.states.get(entity_entry.entity_id)
        assert state, f"no state for {entity_entry.entity_id}"
        assert state == snapshot(name=f"{entity_entry.unique_id}-state")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ipcom."""


@pytest.fixture(autouse=True)
def _allow_loopback_sockets(socket_enabled: None) -> None:
    """The test plugin blocks sockets; the client and the simulator talk on 127.0.0.1."""


@pytest.fixture(autouse=True)
def fast_client() -> Generator[None]:
    """Run every client the integration builds with the short test timings."""
    with patch("custom_components.ipcom.coordinator.IPComClient", FastIPComClient):
        yield


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A fresh Home Assistant configuration directory per test, so files never leak."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


@pytest.fixture
def devices_file(config_dir: Path) -> Path:
    """The test devices.yaml, at the default place under the configuration directory."""
    target = config_dir / DEFAULT_DEVICES_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEVICES_FIXTURE, target)
    return target


@pytest.fixture
def simulator() -> Generator[Simulator]:
    """A started simulator serving the test installation; stopped (threads joined) after."""
    dimmers = load_device_map(DEVICES_FIXTURE).dimmer_modules()
    sim = Simulator(username=USERNAME, password=PASSWORD, dimmer_modules=dimmers)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


SECOND_BUS_DEVICES = """
  barn_lamp:
    bus: 2
    module: 1
    output: 2
    display_name: Barn lamp
  stable_dimmer:
    bus: 2
    module: 4
    output: 1
    type: dimmer
    display_name: Stable
"""
"""Bus 2's lamps: module 1 output 2 is also the hall's address on bus 1."""

TWO_BUS_DEVICES = DEVICES_FIXTURE.read_text(encoding="utf-8").replace(
    "\nlights:\n", f"\nlights:\n{SECOND_BUS_DEVICES}", 1
)
"""The shared test installation plus two lamps on bus 2, as a devices.yaml."""


@pytest.fixture
def two_bus_simulator() -> Generator[Simulator]:
    """A two-bus installation: bus 1 Minido, bus 2 BiBus, with its own dimmer module 4."""
    sim = Simulator(
        username=USERNAME,
        password=PASSWORD,
        buses={1: BusType.MINIDO, 2: BusType.BIBUS},
        dimmer_modules={6},
        dimmer_modules_by_bus={2: {4}},
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Options of the test entry; override in a test module to change them.

    Polls are fast without an option: `fast_client` gives every client FAST_CLIENT_TIMING.
    """
    return {CONF_UNAVAILABLE_AFTER: 1, CONF_REVERSE_PAUSE: 0.1}


def fixture_subentries() -> list[ConfigSubentryData]:
    """One subentry per device of the test devices.yaml, as an import of it makes them."""
    return [subentry_data(record) for record in records_of(load_device_map(DEVICES_FIXTURE))]


@pytest.fixture
def mock_config_entry(simulator: Simulator, entry_options: dict[str, Any]) -> MockConfigEntry:
    """A config entry for the simulator with credentials demo/demo, short options and devices.

    Its devices are those of the test devices.yaml, as subentries.
    """
    return MockConfigEntry(
        domain=DOMAIN,
        title=ENTRY_TITLE,
        entry_id=ENTRY_ID,
        version=CONFIG_VERSION,
        minor_version=CONFIG_MINOR_VERSION,
        data={
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
        },
        options=entry_options,
        subentries_data=fixture_subentries(),
    )


@pytest.fixture
def file_config_entry(
    simulator: Simulator, devices_file: Path, entry_options: dict[str, Any]
) -> MockConfigEntry:
    """An entry made before devices were subentries: it names the test devices.yaml."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=ENTRY_TITLE,
        entry_id=ENTRY_ID,
        version=CONFIG_VERSION,
        minor_version=CONFIG_MINOR_VERSION,
        data={
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
            CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE,
        },
        options=entry_options,
    )


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to set up; a test module overrides it to snapshot one platform."""
    return list(PLATFORMS)


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, platforms: list[Platform]
) -> AsyncGenerator[MockConfigEntry]:
    """Set the entry up against the simulator; the first snapshot is in by the time it returns."""
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.ipcom.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        yield mock_config_entry
        if mock_config_entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def async_write_text(hass: HomeAssistant, path: Path, text: str) -> None:
    """Write a file without blocking the event loop."""
    await hass.async_add_executor_job(path.write_text, text)


async def async_edit_devices_file(hass: HomeAssistant, path: Path, old: str, new: str) -> None:
    """Replace `old` (which must be there) with `new` in a devices file."""
    text = await hass.async_add_executor_job(path.read_text)
    assert old in text
    await async_write_text(hass, path, text.replace(old, new))


def two_bus_entry(
    simulator: Simulator, options: dict[str, Any], *, bus_2_type: str | None = "bibus"
) -> MockConfigEntry:
    """An entry whose devices (subentries) are the test installation's plus bus 2's lamps.

    `bus_2_type` None: the entry is set up with one bus although it has bus 2 devices.
    """
    data: dict[str, Any] = {
        CONF_HOST: simulator.host,
        CONF_PORT: simulator.port,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
    }
    if bus_2_type is not None:
        data[CONF_BUS_2_TYPE] = bus_2_type
    device_map = parse_device_map(yaml.safe_load(TWO_BUS_DEVICES), "two buses")
    return MockConfigEntry(
        domain=DOMAIN,
        title=ENTRY_TITLE,
        entry_id=ENTRY_ID,
        version=CONFIG_VERSION,
        minor_version=CONFIG_MINOR_VERSION,
        data=data,
        options=options,
        subentries_data=[subentry_data(record) for record in records_of(device_map)],
    )


def subentry_id_of(entry: ConfigEntry, key: str) -> str:
    """The id of the subentry holding the device with `key`."""
    for subentry_id, subentry in entry.subentries.items():
        if subentry.data.get("key") == key:
            return subentry_id
    raise AssertionError(f"no subentry holds the device {key}")


async def async_add_device(
    hass: HomeAssistant, entry: ConfigEntry, kind: str, user_input: Mapping[str, Any]
) -> SubentryFlowResult:
    """Add a device through its subentry flow, as the integration's page does."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM, result
    return await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)


async def async_reconfigure_device(
    hass: HomeAssistant, entry: ConfigEntry, key: str, changes: Mapping[str, Any]
) -> SubentryFlowResult:
    """Change a device through its subentry's reconfigure flow: the form as shown, changed."""
    subentry_id = subentry_id_of(entry, key)
    kind = entry.subentries[subentry_id].subentry_type
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id}
    )
    assert result["type"] is FlowResultType.FORM, result
    shown = {
        str(marker): marker.description["suggested_value"]
        for marker in result["data_schema"].schema
        if marker.description and "suggested_value" in marker.description
    }
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**shown, **changes}
    )


def get_installation(hass: HomeAssistant) -> Installation:
    """The library devices of the (only) loaded ipcom entry."""
    (entry,) = hass.config_entries.async_loaded_entries(DOMAIN)
    installation: Installation = entry.runtime_data.installation
    return installation


def get_coordinator(hass: HomeAssistant, bus: int = 1) -> IPComCoordinator:
    """The coordinator of `bus` of the (only) loaded ipcom entry."""
    (entry,) = hass.config_entries.async_loaded_entries(DOMAIN)
    coordinator: IPComCoordinator = entry.runtime_data.coordinators[bus]
    return coordinator


def entity_id_of(hass: HomeAssistant, platform: Platform, unique_id: str) -> str:
    """The entity id Home Assistant gave the ipcom entity with this unique id.

    Entity ids are Home Assistant's choice (2026.10 builds them from the area
    and the device name), so tests find entities the way the integration
    knows them: by unique id.
    """
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id, f"no {platform} entity with unique id {unique_id}"
    return entity_id


async def real_sleep(hass: HomeAssistant, seconds: float) -> None:
    """Sleep in real time, whatever the test did to the clock (see the module docstring)."""
    await hass.loop.run_in_executor(None, time.sleep, seconds)


async def _wait_for(
    hass: HomeAssistant,
    condition: Callable[[], bool],
    subscribe: Callable[[Callable[..., None]], Callable[[], None]] | None,
    deadline: float,
) -> bool:
    """Wait up to `deadline` seconds of real time until `condition()` holds.

    The condition is looked at every POLL_INTERVAL and, when `subscribe` is
    given, at once whenever it reports a change.
    """
    changed = asyncio.Event()

    @callback
    def _changed(*_: Any) -> None:
        changed.set()

    unsubscribe = subscribe(_changed) if subscribe else None
    nap: asyncio.Task[None] | None = None
    waited = 0.0
    try:
        while not condition():
            if waited >= deadline:
                return False
            if nap is None:
                nap = asyncio.ensure_future(real_sleep(hass, POLL_INTERVAL))
            woken = asyncio.ensure_future(changed.wait())
            done, _ = await asyncio.wait({nap, woken}, return_when=asyncio.FIRST_COMPLETED)
            await _cancelled(woken)
            changed.clear()
            if nap in done:
                nap = None
                waited += POLL_INTERVAL
    finally:
        if unsubscribe:
            unsubscribe()
        if nap:
            await _cancelled(nap)
    await hass.async_block_till_done()
    return True


async def _cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel a task and let it end, so that none outlives the test."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_until_output(
    hass: HomeAssistant, module: int, output: int, value: int, deadline: float = WAIT_TIMEOUT
) -> None:
    """Wait until Home Assistant's coordinator holds `value` for an output."""
    coordinator = get_coordinator(hass)
    if not await _wait_for(
        hass,
        lambda: coordinator.data.get_value(module, output) == value,
        coordinator.async_add_listener,
        deadline,
    ):
        pytest.fail(
            f"Home Assistant saw {coordinator.data.get_value(module, output)} on output "
            f"{module}.{output}, not {value}, within {deadline} s"
        )


async def wait_until(
    hass: HomeAssistant,
    condition: Callable[[], bool],
    description: str,
    deadline: float = WAIT_TIMEOUT,
) -> None:
    """Wait for a condition that client threads bring about and nothing announces."""
    if not await _wait_for(hass, condition, None, deadline):
        pytest.fail(f"{description} did not happen within {deadline} s")


async def lose_link(hass: HomeAssistant, simulator: Simulator) -> None:
    """Stop the installation and wait until Home Assistant knows the link is down."""
    coordinator = get_coordinator(hass)
    simulator.stop()
    await wait_until(hass, lambda: not coordinator.link_up, "the link going down")


async def press_wall_switch(
    hass: HomeAssistant, simulator: Simulator, module: int, output: int
) -> int:
    """Press a wall switch on the installation and wait until Home Assistant has seen it.

    Returns the output's new value.
    """
    simulator.press(module, output)
    value = simulator.get_value(module, output)
    await wait_until_output(hass, module, output, value)
    return value


async def set_installation_output(
    hass: HomeAssistant, simulator: Simulator, module: int, output: int, value: int
) -> None:
    """Change an output on the installation's side and wait until Home Assistant has seen it."""
    simulator.set_output(module, output, value)
    await wait_until_output(hass, module, output, value)


def assert_written(
    simulator: Simulator, module: int, output: int, value: int, timeout: float = 5.0
) -> None:
    """Wait until the installation shows `value` on an output (fails the test otherwise)."""
    try:
        simulator.wait_for_value(module, output, value, timeout)
    except TimeoutError as err:
        pytest.fail(str(err))


async def wait_for_state(
    hass: HomeAssistant,
    entity_id: str,
    state: str,
    timeout: float = WAIT_TIMEOUT,  # noqa: ASYNC109 - the kit's agreed signature
) -> None:
    """Wait until an entity reaches `state`; fail with the last state seen otherwise."""

    def reached() -> bool:
        current = hass.states.get(entity_id)
        return current is not None and current.state == state

    if not await _wait_for(
        hass,
        reached,
        lambda action: async_track_state_change_event(hass, [entity_id], action),
        timeout,
    ):
        current = hass.states.get(entity_id)
        pytest.fail(
            f"{entity_id} is {current.state if current else 'missing'}, "
            f"not {state}, after {timeout} s"
        )
