"""The coordinator: the one place where the client's threads meet Home Assistant's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, NamedTuple

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from ipcom.client import IPComClient
from ipcom.devices import DeviceMap, DeviceMapError, DeviceMapNotFoundError, load_device_map
from ipcom.errors import IPComConnectionError
from ipcom.models import ConnectionEvent, ConnectionState, StateSnapshot, relay_value
from ipcom.writes import AbandonedWrite, AbandonReason, WriteAbandonedError, WriteHandle

from .const import CONF_DEVICES_FILE, CONNECT_TIMEOUT, DEFAULT_DEVICES_FILE, DOMAIN

_LOGGER = logging.getLogger(__name__)

WRITE_CONFIRM_TIMEOUT: Final = 30.0
"""Seconds an action waits for the installation to show its write before it fails.

A confirmation takes one round trip plus at most a poll period, well under a
second; a write may also wait up to the library's `WRITE_RETAIN_SECONDS` for
a link that dropped, and the client ends it by then. The bound is only for a
write the client never ends, so that no action waits for ever.
"""

WRITE_NOT_CONFIRMED: Final = "write_not_confirmed"
"""Translation key: the installation did not show the write (or did not in time)."""
WRITE_CHANGED_AT_INSTALLATION: Final = "write_changed_at_installation"
"""Translation key: the output was changed at the installation before the write left."""
WRITE_LOST_WITH_LINK: Final = "write_lost_with_link"
"""Translation key: the link was down, or ended, before the write could be carried out."""

_ABANDON_TRANSLATION_KEYS: Final[Mapping[AbandonReason, str]] = {
    AbandonReason.NOT_CONFIRMED: WRITE_NOT_CONFIRMED,
    AbandonReason.LINK_DROPPED: WRITE_NOT_CONFIRMED,
    AbandonReason.CHANGED_AT_INSTALLATION: WRITE_CHANGED_AT_INSTALLATION,
    AbandonReason.OUTAGE: WRITE_LOST_WITH_LINK,
    AbandonReason.LINK_ENDED: WRITE_LOST_WITH_LINK,
    AbandonReason.STOPPED: WRITE_LOST_WITH_LINK,
}


class QueuedWrite(NamedTuple):
    """A write the client accepted, and the output that names its device if it fails."""

    handle: WriteHandle
    module: int
    output: int


@dataclass
class IPComRuntimeData:
    """What a loaded config entry keeps: the client, its device map and the coordinator."""

    client: IPComClient
    device_map: DeviceMap
    coordinator: IPComCoordinator


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
    """Holds the latest snapshot and the connection state, fed by the client's listeners.

    Nothing is polled from Home Assistant's side: the client polls the
    installation and calls back only when a snapshot differs from the one
    before, so the entities hear about changes and nothing else.
    """

    config_entry: IPComConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: IPComConfigEntry,
        client: IPComClient,
        device_map: DeviceMap,
        unavailable_after: float,
    ) -> None:
        """Wire the coordinator to a client that has not been started yet."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} {client.host}:{client.port}",
            always_update=False,
        )
        self.client = client
        self.device_map = device_map
        self.connected = True
        self.link_up = False
        self._unavailable_after = unavailable_after
        self._cancel_grace: CALLBACK_TYPE | None = None
        self._running = False
        self._unsubscribe: list[Callable[[], None]] = []
        self._abandoned_listeners: list[Callable[[], None]] = []

    async def async_start(self) -> None:
        """Connect, wait for the first snapshot and start following the installation.

        Raises the client's errors unchanged; the caller turns them into the
        right config entry state. On failure the client is stopped again.

        Connection events count from the very start: a link lost, or
        credentials rejected on reconnect, while the first snapshot is awaited
        must still start the grace timer or the reauthentication.
        """
        self._running = True
        self._unsubscribe = [
            self.client.on_state_snapshot(self._snapshot_from_client_thread),
            self.client.on_connection_state(self._connection_event_from_client_thread),
            self.client.on_write_abandoned(self._write_abandoned_from_client_thread),
        ]
        try:
            await self.hass.async_add_executor_job(self.client.start_persistent_connection)
            snapshot = await self.hass.async_add_executor_job(
                self.client.wait_for_snapshot, CONNECT_TIMEOUT
            )
        except BaseException:
            await self.async_stop()
            raise
        self.async_set_updated_data(snapshot)

    async def async_stop(self) -> None:
        """Stop listening and shut the client down, joining all of its threads."""
        self._running = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._cancel_grace_timer()
        await self.hass.async_add_executor_job(self.client.stop_persistent_connection)

    async def _async_update_data(self) -> StateSnapshot:
        """Answer a manual refresh with what the client already knows."""
        snapshot = self.client.get_latest_snapshot()
        if snapshot is None:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="no_snapshot")
        return snapshot

    def _snapshot_from_client_thread(self, snapshot: StateSnapshot) -> None:
        self._call_in_loop(self._async_handle_snapshot, snapshot)

    def _connection_event_from_client_thread(self, event: ConnectionEvent) -> None:
        self._call_in_loop(self._async_handle_connection_event, event)

    def _write_abandoned_from_client_thread(self, write: AbandonedWrite) -> None:
        self._call_in_loop(self._async_handle_write_abandoned, write)

    @callback
    def async_add_write_abandoned_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` when a write was given up on, so entities show the real state again.

        A given-up write no longer overlays the snapshot: a shutter that
        counted on its relay being switched on must see that it is not.
        """
        self._abandoned_listeners.append(listener)
        return partial(self._abandoned_listeners.remove, listener)

    @callback
    def _async_handle_write_abandoned(self, _write: AbandonedWrite) -> None:
        """Make the entities show the installation's state again.

        The action that made the write fails with the reason
        (`async_confirm`); a write nobody waits for is logged by the library.
        """
        if not self._running:
            return
        for listener in list(self._abandoned_listeners):
            listener()

    def _call_in_loop(self, target: Callable[..., Any], *args: Any) -> None:
        """The single bridge from client threads into Home Assistant's event loop."""
        self.hass.loop.call_soon_threadsafe(target, *args)

    @callback
    def _async_handle_snapshot(self, snapshot: StateSnapshot) -> None:
        """Ignore a snapshot that was still on its way to the loop when the client stopped."""
        if self._running:
            self.async_set_updated_data(snapshot)

    @callback
    def _async_handle_connection_event(self, event: ConnectionEvent) -> None:
        if not self._running:
            return
        if event.authentication_failed:
            self.config_entry.async_start_reauth(self.hass)
        link_up = event.state is ConnectionState.CONNECTED
        if link_up == self.link_up:
            return
        self.link_up = link_up
        if link_up:
            self._cancel_grace_timer()
            if not self.connected:
                self.connected = True
                _LOGGER.info("Connection to %s restored", self._target)
        elif self.connected and self._cancel_grace is None:
            _LOGGER.debug("Connection to %s lost: %s", self._target, event.reason)
            self._cancel_grace = async_call_later(
                self.hass, self._unavailable_after, self._async_grace_expired
            )
        self.async_update_listeners()

    @callback
    def _async_grace_expired(self, _now: Any) -> None:
        self._cancel_grace = None
        self.connected = False
        _LOGGER.info(
            "Connection to %s lost for more than %s s; its entities are unavailable",
            self._target,
            self._unavailable_after,
        )
        self.async_update_listeners()

    def _cancel_grace_timer(self) -> None:
        if self._cancel_grace is not None:
            self._cancel_grace()
            self._cancel_grace = None

    @property
    def _target(self) -> str:
        return f"{self.client.host}:{self.client.port}"

    async def async_set_value(self, module: int, output: int, value: int) -> None:
        """Write one output and wait until the installation shows it.

        A command made while disconnected fails at once, nothing is queued;
        one the installation does not carry out fails with the reason.
        """
        await self.async_confirm(self.async_write_value(module, output, value))

    async def async_turn_on(self, module: int, output: int) -> None:
        """Switch a relay output on and wait until the installation shows it."""
        await self.async_confirm(self.async_write_relay(module, output, on=True))

    async def async_turn_off(self, module: int, output: int) -> None:
        """Switch an output off and wait until the installation shows it."""
        await self.async_confirm(self.async_write_relay(module, output, on=False))

    async def async_set_dimmer(self, module: int, output: int, percent: int) -> None:
        """Set a dimmer output to a level in percent and wait until the installation shows it."""
        await self.async_confirm(self._queued(module, output, self.client.set_dimmer, percent))

    @callback
    def async_write_relay(self, module: int, output: int, *, on: bool) -> QueuedWrite:
        """Queue switching one relay on or off without waiting; fails at once while disconnected."""
        if on:
            return self._queued(module, output, self.client.turn_on)
        return self._queued(module, output, self.client.turn_off)

    @callback
    def async_write_relays(self, module: int, relays: Mapping[int, bool]) -> QueuedWrite:
        """Queue switching several relays of one module (one frame) on or off without waiting."""
        values = {output: relay_value(on) for output, on in relays.items()}
        try:
            handle = self.client.set_outputs(module, values)
        except IPComConnectionError as err:
            raise self._not_connected() from err
        return QueuedWrite(handle, module, next(iter(values)))

    def _queued(
        self, module: int, output: int, write: Callable[..., WriteHandle], *args: int
    ) -> QueuedWrite:
        """Queue one output's write through `write`; fails at once while disconnected."""
        try:
            return QueuedWrite(write(module, output, *args), module, output)
        except IPComConnectionError as err:
            raise self._not_connected() from err

    @callback
    def async_write_value(self, module: int, output: int, value: int) -> QueuedWrite:
        """Queue a write of one output without waiting; fails at once while disconnected."""
        return self._queued(module, output, self.client.set_value, value)

    async def async_confirm(self, *writes: QueuedWrite) -> None:
        """Wait until every write has ended; raise the first failure once all have.

        A write superseded by a later one to the same output is no failure:
        the later one is someone's newer intent. The handles complete on a
        client thread and are awaited here without a thread of their own.
        """
        deadline = self.hass.loop.time() + WRITE_CONFIRM_TIMEOUT
        failure: HomeAssistantError | None = None
        for write in writes:
            error: HomeAssistantError | None = None
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.wrap_future(write.handle)
            except WriteAbandonedError as err:
                error = self._write_failed(
                    _ABANDON_TRANSLATION_KEYS.get(err.reason, WRITE_NOT_CONFIRMED),
                    err.write.module,
                    err.write.output,
                )
                error.__cause__ = err
            except TimeoutError as err:
                error = self._write_failed(WRITE_NOT_CONFIRMED, write.module, write.output)
                error.__cause__ = err
            failure = failure or error
        if failure is not None:
            raise failure
        await self._async_caught_up(deadline)

    async def _async_caught_up(self, deadline: float) -> None:
        """Wait until the newest snapshot the client holds has reached the entities.

        A handle's completion and the snapshot that confirmed it reach the
        event loop as two separate callbacks, and the loop has been seen to
        run the first before the second; waiting here means an action never
        returns before its entity shows what it did.
        """
        updated = asyncio.Event()
        unsubscribe = self.async_add_listener(updated.set)
        try:
            async with asyncio.timeout_at(deadline):
                while self._behind_client():
                    updated.clear()
                    await updated.wait()
        except TimeoutError:
            _LOGGER.debug("The newest snapshot did not reach %s in time", self.name)
        finally:
            unsubscribe()

    def _behind_client(self) -> bool:
        latest = self.client.get_latest_snapshot()
        return self._running and latest is not None and latest != self.data

    def device_name(self, module: int, output: int) -> str:
        """The device map's name for an output, or its address when the map has none."""
        device = self.device_map.at(module, output)
        return device.name if device is not None else f"module {module} output {output}"

    def _write_failed(self, translation_key: str, module: int, output: int) -> HomeAssistantError:
        placeholders = {"name": self.device_name(module, output)}
        if translation_key == WRITE_LOST_WITH_LINK:
            placeholders["target"] = self._target
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )

    def expected_value(self, module: int, output: int) -> int | None:
        """The snapshot value overlaid with this client's writes not yet confirmed."""
        return self.client.get_expected_value(module, output)

    def _not_connected(self) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="not_connected",
            translation_placeholders={"target": self._target},
        )
