"""The coordinator: the one place where the client's threads meet Home Assistant's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from ipcom import BusType
from ipcom.client import IPComClient
from ipcom.device import Device
from ipcom.devices import DeviceMap, DeviceMapError, DeviceMapNotFoundError, load_device_map
from ipcom.errors import IPComError
from ipcom.installation import Installation
from ipcom.models import ClientStatistics, ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.writes import AbandonedWrite

from .const import (
    CONF_BUS_2_TYPE,
    CONF_BUS_TYPE,
    CONF_DEVICES_FILE,
    CONF_REMOTE_HOST,
    CONF_REMOTE_PORT,
    CONF_SERIAL,
    CONF_TRICOM,
    CONNECT_TIMEOUT,
    DEFAULT_DEVICES_FILE,
    DEFAULT_PORT,
    DOMAIN,
    FIRST_BUS,
    ISSUE_BUS_UNREACHABLE,
    NO_SECOND_BUS,
    SECOND_BUS,
)
from .identifiers import hub_identifier

_LOGGER = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT: Final = 10.0
"""Seconds an unload waits for the installation to show a shutter stopped before it lets go."""
UNREACHABLE_ISSUE_AFTER: Final = 300.0
"""Seconds a bus's link may stay down before a repair issue says what to check (ours).

Longer than any reconnect backoff and any restart of the installation, so
only an address that is wrong or an installation that stays off raises it.
"""


_UNREACHABLE_SINCE: Final = f"{DOMAIN}_unreachable_since"
"""hass.data key: when each entry's setups began failing to reach a bus (loop time)."""


def unreachable_issue_id(entry_id: str, bus: int) -> str:
    """The id of the repair issue of a bus that stayed unreachable."""
    return f"{ISSUE_BUS_UNREACHABLE}_{entry_id}_{bus}"


@callback
def async_create_unreachable_issue(
    hass: HomeAssistant, entry: ConfigEntry, client: IPComClient, error: str | None
) -> None:
    """Say that a bus has been unreachable for `UNREACHABLE_ISSUE_AFTER`, and what to check."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        unreachable_issue_id(entry.entry_id, client.bus),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_BUS_UNREACHABLE,
        translation_placeholders={
            "title": entry.title,
            "bus": str(client.bus),
            "address": f"{client.host}:{client.port}",
            "minutes": f"{UNREACHABLE_ISSUE_AFTER / 60:g}",
            "error": error or "-",
        },
    )


@callback
def async_setup_unreachable(
    hass: HomeAssistant, entry: ConfigEntry, clients: Iterable[IPComClient], error: str
) -> None:
    """A setup could not reach `clients`: raise their issues once that has lasted long enough.

    Home Assistant retries a setup that is not ready with growing pauses and
    no coordinator runs meanwhile, so the time of the first failed setup is
    kept across the retries; an installation that is off when Home
    Assistant starts, or an address that is wrong, is then said too.
    """
    since: dict[str, float] = hass.data.setdefault(_UNREACHABLE_SINCE, {})
    first = since.setdefault(entry.entry_id, hass.loop.time())
    if hass.loop.time() - first >= UNREACHABLE_ISSUE_AFTER:
        for client in clients:
            async_create_unreachable_issue(hass, entry, client, error)


@callback
def async_setup_reached(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The setup reached every bus: forget its failures and take their issues away."""
    hass.data.get(_UNREACHABLE_SINCE, {}).pop(entry.entry_id, None)
    for bus in configured_buses(entry.data):
        ir.async_delete_issue(hass, DOMAIN, unreachable_issue_id(entry.entry_id, bus))


@dataclass
class IPComRuntimeData:
    """What a loaded config entry keeps: its devices and one coordinator per bus.

    `settings` is the entry's data and options the connections were made
    with: a change to them reloads the entry, a change to its devices does not.
    `subentry_ids` says which subentry holds the device with each key.
    """

    installation: Installation
    coordinators: dict[int, IPComCoordinator]
    settings: tuple[Mapping[str, Any], Mapping[str, Any]]
    subentry_ids: dict[str, str] = field(default_factory=dict)
    unreached: list[IPComClient] = field(default_factory=list)
    """The clients a failed `async_start` had not connected."""
    _added_listeners: list[Callable[[Iterable[Device]], None]] = field(default_factory=list)

    @callback
    def async_on_devices_added(
        self, listener: Callable[[Iterable[Device]], None]
    ) -> Callable[[], None]:
        """Call `listener` with the devices a change of the device map added."""
        self._added_listeners.append(listener)
        return lambda: self._added_listeners.remove(listener)

    @callback
    def async_devices_added(self, devices: Iterable[Device]) -> None:
        """Tell the platforms of devices the map gained, so each adds its entities."""
        added = list(devices)
        for listener in list(self._added_listeners):
            listener(added)

    @property
    def device_map(self) -> DeviceMap:
        """The device map the devices were built from."""
        return self.installation.device_map

    async def async_start(self) -> None:
        """Connect every bus, wait for each one's first snapshot, and follow the installation.

        Raises the first client error unchanged; the caller turns it into the
        right config entry state. On failure every client is stopped again.
        """
        self.installation.start()
        try:
            await asyncio.gather(
                *(coordinator.async_start() for coordinator in self.coordinators.values())
            )
        except BaseException:
            self.unreached = [
                coordinator.client
                for coordinator in self.coordinators.values()
                if coordinator.client.connection_state is not ConnectionState.CONNECTED
            ]
            await self.async_stop()
            raise
        self.installation.refresh()

    async def async_stop(self) -> None:
        """Stop the devices, then shut every client down, joining all of their threads.

        A shutter running to a set position is stopped where it is first
        (`Installation.close`): nothing would stop it once its client is gone.
        """
        running = [coordinator for coordinator in self.coordinators.values() if coordinator.running]
        for coordinator in running:
            coordinator.async_unsubscribe()
        if running:
            await self._async_close_installation()
        await asyncio.gather(
            *(coordinator.async_stop_client() for coordinator in self.coordinators.values())
        )

    async def _async_close_installation(self) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                await asyncio.wrap_future(self.installation.close())
        except (IPComError, TimeoutError) as err:
            _LOGGER.warning(
                "A shutter running to a set position could not be stopped before the entry "
                "was unloaded; it runs on to its end stop: %s",
                err or "the installation did not show the stop in time",
            )


type IPComConfigEntry = ConfigEntry[IPComRuntimeData]


def configured_buses(data: Mapping[str, Any]) -> dict[int, BusType]:
    """The installation's buses and their types, as the entry's data says: bus 1 always."""
    buses = {FIRST_BUS: BusType(data.get(CONF_BUS_TYPE, BusType.MINIDO))}
    second = data.get(CONF_BUS_2_TYPE, NO_SECOND_BUS)
    if second != NO_SECOND_BUS:
        buses[SECOND_BUS] = BusType(second)
    return buses


def create_clients(data: Mapping[str, Any]) -> dict[int, IPComClient]:
    """One client per configured bus; the config flow and the setup share it so both talk alike.

    Every bus is its own connection to the same installation (PROTOCOL.md
    section 1), at the same local and remote addresses and with the same login,
    polled at the client's own pace: the vendor application's.
    """
    return {
        bus: IPComClient(
            data[CONF_HOST],
            data[CONF_PORT],
            data.get(CONF_USERNAME, ""),
            data.get(CONF_PASSWORD, ""),
            bus=bus,
            bus_type=bus_type,
            tricom=bool(data.get(CONF_TRICOM, False)),
            remote_host=data.get(CONF_REMOTE_HOST) or None,
            remote_port=int(data.get(CONF_REMOTE_PORT) or DEFAULT_PORT),
            serial=data.get(CONF_SERIAL) or None,
            socket_timeout=CONNECT_TIMEOUT,
        )
        for bus, bus_type in configured_buses(data).items()
    }


LEGACY_DEVICES_FILE: Final = "custom_components/ipcom/cli/devices.yaml"
"""Where versions 3.1.0-3.1.1 of the other IPCom integration kept the file: inside its folder."""


async def async_load_device_map(hass: HomeAssistant, devices_file: str) -> DeviceMap:
    """Read and validate a devices file without blocking the event loop.

    A relative path starts at the configuration directory; an absolute one is kept.
    """
    return await hass.async_add_executor_job(
        _load_device_map, hass.config.path(devices_file), hass.config.path(LEGACY_DEVICES_FILE)
    )


def _load_device_map(path: str, legacy_path: str) -> DeviceMap:
    """Load the file; when it is missing, say where it was looked for and where it may be.

    Installing this integration replaces the other integration's folder, and
    with it a devices.yaml kept there, so the usual answer is a backup.
    """
    try:
        return load_device_map(path)
    except DeviceMapNotFoundError as err:
        if Path(legacy_path).is_file():
            hint = f"a devices.yaml was found at {legacy_path}: move it to {path}"
        else:
            hint = (
                f"put it there and reload the integration; versions 3.1.0 and 3.1.1 "
                f"of the other IPCom integration kept it at {legacy_path}, which installing "
                "this integration replaces: restore it from a backup"
            )
        raise DeviceMapError([f"{path}: file not found; {hint}"]) from err


async def async_load_entry_device_map(hass: HomeAssistant, entry: IPComConfigEntry) -> DeviceMap:
    """Read and validate the devices file a config entry names."""
    return await async_load_device_map(
        hass, entry.data.get(CONF_DEVICES_FILE, DEFAULT_DEVICES_FILE)
    )


class IPComCoordinator(DataUpdateCoordinator[StateSnapshot]):
    """Starts and stops one bus's client, and holds its newest snapshot and link state.

    The devices themselves (`runtime_data.installation`) tell their entities
    of their own changes; a coordinator serves what concerns a whole bus
    connection: its connectivity and diagnostic sensors, diagnostics,
    reauthentication, and the repair issue of a link that stays down.
    Nothing is polled from Home Assistant's side: the client calls back when
    a snapshot differs from the one before, when the link goes up or down and
    when a write is given up on, and the listeners are told each time.
    """

    config_entry: IPComConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: IPComConfigEntry,
        installation: Installation,
        bus: int,
    ) -> None:
        """Wire the coordinator to the installation's client of `bus`, not started yet."""
        client = installation.clients[bus]
        super().__init__(
            hass,
            _LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} {client.host}:{client.port} bus {bus}",
            always_update=False,
        )
        self.bus = bus
        self.client = client
        self.link = installation.links[bus]
        self.running = False
        self._unsubscribe: list[Callable[[], None]] = []
        self._cancel_unreachable: CALLBACK_TYPE | None = None
        self._authentication_failed = False

    @property
    def link_up(self) -> bool:
        """Whether the bus's link is up right now, without the grace."""
        return self.link.link_up

    @property
    def available(self) -> bool:
        """Whether the bus's devices are available: link up, or down for less than the grace."""
        return self.link.available

    @property
    def statistics(self) -> ClientStatistics:
        """The client's figures as they are now (reconnects, round trips, writes given up)."""
        return self.client.statistics

    @property
    def unreachable_issue_id(self) -> str:
        """The id of this bus's repair issue of a link that stayed down."""
        return unreachable_issue_id(self.config_entry.entry_id, self.bus)

    async def async_start(self) -> None:
        """Connect and wait for the first snapshot.

        Connection events count from the very start: a link lost, or
        credentials rejected on reconnect, while the first snapshot is awaited
        must still start the grace timer or the reauthentication.
        """
        self.running = True
        self._unsubscribe = [
            self.client.on_state_snapshot(self._snapshot_from_client_thread),
            self.client.on_connection_state(self._connection_event_from_client_thread),
            self.client.on_write_abandoned(self._write_abandoned_from_client_thread),
            self.link.subscribe(self._async_link_changed),
        ]
        await self.hass.async_add_executor_job(self.client.start_persistent_connection)
        snapshot = await self.hass.async_add_executor_job(
            self.client.wait_for_snapshot, CONNECT_TIMEOUT
        )
        self.async_set_updated_data(snapshot)

    @callback
    def async_unsubscribe(self) -> None:
        """Stop following the client; news still on its way to the loop is ignored.

        The link's repair issue goes with it: an unload or a removal of the
        entry leaves none behind, and a reload starts counting afresh.
        """
        self.running = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._async_link_reachable()

    async def async_stop_client(self) -> None:
        """Shut the client down, joining all of its threads."""
        self.async_unsubscribe()
        await self.hass.async_add_executor_job(self.client.stop_persistent_connection)

    async def _async_update_data(self) -> StateSnapshot:
        """Answer a manual refresh with what the client already knows."""
        snapshot = self.client.get_latest_snapshot()
        if snapshot is None:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="no_snapshot")
        return snapshot

    def _snapshot_from_client_thread(self, snapshot: StateSnapshot) -> None:
        self.hass.loop.call_soon_threadsafe(self._async_handle_snapshot, snapshot)

    def _write_abandoned_from_client_thread(self, _write: AbandonedWrite) -> None:
        self.hass.loop.call_soon_threadsafe(self._async_write_abandoned)

    def _connection_event_from_client_thread(self, event: ConnectionEvent) -> None:
        if event.authentication_failed:
            self.hass.loop.call_soon_threadsafe(self._async_authentication_failed)
        elif event.state is ConnectionState.CONNECTED:
            self.hass.loop.call_soon_threadsafe(self._async_connected)

    @callback
    def _async_connected(self) -> None:
        """Show the firmware the installation names on each connect: it may have been updated."""
        firmware = self.client.firmware_version
        if self.running and firmware:
            dr.async_get(self.hass).async_get_or_create(
                config_entry_id=self.config_entry.entry_id,
                identifiers={hub_identifier(self.config_entry.entry_id)},
                sw_version=firmware,
            )

    @callback
    def _async_handle_snapshot(self, snapshot: StateSnapshot) -> None:
        """Ignore a snapshot that was still on its way to the loop when the client stopped."""
        if self.running:
            self.async_set_updated_data(snapshot)

    @callback
    def _async_write_abandoned(self) -> None:
        """Let the sensors show the count of writes given up on; no snapshot need follow."""
        if self.running:
            self.async_update_listeners()

    @callback
    def _async_link_changed(self) -> None:
        """Follow the link up and down (in the installation's context: the event loop).

        A link that goes down starts the timer of its repair issue; one that
        comes back stops it and takes the issue away.
        """
        if self.running:
            if self.link.link_up:
                self._authentication_failed = False
                self._async_link_reachable()
            elif self._cancel_unreachable is None and not self._authentication_failed:
                self._cancel_unreachable = async_call_later(
                    self.hass, UNREACHABLE_ISSUE_AFTER, self._async_unreachable_too_long
                )
        self.async_update_listeners()

    @callback
    def _async_link_reachable(self) -> None:
        """Stop the timer of the link's repair issue and take the issue away."""
        if self._cancel_unreachable is not None:
            self._cancel_unreachable()
            self._cancel_unreachable = None
        ir.async_delete_issue(self.hass, DOMAIN, self.unreachable_issue_id)

    @callback
    def _async_unreachable_too_long(self, _now: datetime) -> None:
        """Raise the repair issue: the link has been down since the timer started.

        The link coming back, rejected credentials and the coordinator's stop
        each cancel the timer, so none of them can have happened meanwhile.
        """
        self._cancel_unreachable = None
        async_create_unreachable_issue(
            self.hass, self.config_entry, self.client, self.client.statistics.last_error
        )

    @callback
    def _async_authentication_failed(self) -> None:
        """Ask for the credentials again; the link is down for them, not for its address."""
        if self.running:
            self._authentication_failed = True
            self._async_link_reachable()
            self.config_entry.async_start_reauth(self.hass)
