"""The coordinator: the one place where the client's threads meet Home Assistant's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from ipcom.client import IPComClient
from ipcom.devices import DeviceMap, DeviceMapError, DeviceMapNotFoundError, load_device_map
from ipcom.errors import IPComError
from ipcom.installation import Installation
from ipcom.models import ConnectionEvent, StateSnapshot

from .const import CONF_DEVICES_FILE, CONNECT_TIMEOUT, DEFAULT_DEVICES_FILE, DOMAIN

_LOGGER = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT: Final = 10.0
"""Seconds an unload waits for the installation to show a shutter stopped before it lets go."""


@dataclass
class IPComRuntimeData:
    """What a loaded config entry keeps: the client, its devices and the coordinator."""

    client: IPComClient
    installation: Installation
    coordinator: IPComCoordinator

    @property
    def device_map(self) -> DeviceMap:
        """The device map the devices were built from."""
        return self.installation.device_map


type IPComConfigEntry = ConfigEntry[IPComRuntimeData]


def create_client(
    host: str, port: int, username: str, password: str, *, poll_interval: float
) -> IPComClient:
    """Build a client; the config flow and the setup share it so both talk alike."""
    return IPComClient(
        host,
        port,
        username,
        password,
        poll_interval=poll_interval,
        socket_timeout=CONNECT_TIMEOUT,
    )


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
                f"put it there or give its path with Reconfigure; versions 3.1.0 and 3.1.1 "
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
    """Starts and stops the client, and holds its newest snapshot and link state.

    The devices themselves (`runtime_data.installation`) tell their entities
    of their own changes; this coordinator serves what concerns the whole
    installation: the connectivity sensor, diagnostics and reauthentication.
    Nothing is polled from Home Assistant's side: the client calls back when
    a snapshot differs from the one before.
    """

    config_entry: IPComConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: IPComConfigEntry,
        installation: Installation,
    ) -> None:
        """Wire the coordinator to an installation whose client has not been started yet."""
        client = installation.client
        super().__init__(
            hass,
            _LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} {client.host}:{client.port}",
            always_update=False,
        )
        self.client = client
        self.installation = installation
        self._running = False
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def link_up(self) -> bool:
        """Whether the link is up right now, without the grace."""
        return self.installation.link.link_up

    @property
    def available(self) -> bool:
        """Whether the devices are available: the link is up or down for less than the grace."""
        return self.installation.link.available

    async def async_start(self) -> None:
        """Connect, wait for the first snapshot and start following the installation.

        Raises the client's errors unchanged; the caller turns them into the
        right config entry state. On failure the client is stopped again.

        Connection events count from the very start: a link lost, or
        credentials rejected on reconnect, while the first snapshot is awaited
        must still start the grace timer or the reauthentication.
        """
        self._running = True
        self.installation.start()
        self._unsubscribe = [
            self.client.on_state_snapshot(self._snapshot_from_client_thread),
            self.client.on_connection_state(self._connection_event_from_client_thread),
            self.installation.link.subscribe(self.async_update_listeners),
        ]
        try:
            await self.hass.async_add_executor_job(self.client.start_persistent_connection)
            snapshot = await self.hass.async_add_executor_job(
                self.client.wait_for_snapshot, CONNECT_TIMEOUT
            )
        except BaseException:
            await self.async_stop()
            raise
        self.installation.refresh()
        self.async_set_updated_data(snapshot)

    async def async_stop(self) -> None:
        """Stop the devices, then shut the client down, joining all of its threads.

        A shutter running to a set position is stopped where it is first
        (`Installation.close`): nothing would stop it once the client is gone.
        """
        if self._running:
            self._running = False
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe = []
            await self._async_close_installation()
        await self.hass.async_add_executor_job(self.client.stop_persistent_connection)

    async def _async_close_installation(self) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                await asyncio.wrap_future(self.installation.close())
        except (IPComError, TimeoutError) as err:
            _LOGGER.warning(
                "A shutter running to a set position could not be stopped before %s was "
                "unloaded; it runs on to its end stop: %s",
                self.name,
                err or "the installation did not show the stop in time",
            )

    async def _async_update_data(self) -> StateSnapshot:
        """Answer a manual refresh with what the client already knows."""
        snapshot = self.client.get_latest_snapshot()
        if snapshot is None:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="no_snapshot")
        return snapshot

    def _snapshot_from_client_thread(self, snapshot: StateSnapshot) -> None:
        self.hass.loop.call_soon_threadsafe(self._async_handle_snapshot, snapshot)

    def _connection_event_from_client_thread(self, event: ConnectionEvent) -> None:
        if event.authentication_failed:
            self.hass.loop.call_soon_threadsafe(self._async_authentication_failed)

    @callback
    def _async_handle_snapshot(self, snapshot: StateSnapshot) -> None:
        """Ignore a snapshot that was still on its way to the loop when the client stopped."""
        if self._running:
            self.async_set_updated_data(snapshot)

    @callback
    def _async_authentication_failed(self) -> None:
        if self._running:
            self.config_entry.async_start_reauth(self.hass)
