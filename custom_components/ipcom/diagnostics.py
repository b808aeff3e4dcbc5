"""Diagnostics: the connection, its figures, the latest snapshot and the device map."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_REMOTE_HOST, CONF_SERIAL
from .coordinator import IPComConfigEntry, IPComCoordinator

TO_REDACT = {CONF_HOST, CONF_USERNAME, CONF_PASSWORD, CONF_REMOTE_HOST, CONF_SERIAL}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IPComConfigEntry
) -> dict[str, Any]:
    """Everything needed to tell a network problem from a devices file problem.

    The local and remote hosts are redacted in every text too: the entry
    title is often the host, and connection errors and addresses name them.
    """
    hosts = [str(entry.data[CONF_HOST])]
    if entry.data.get(CONF_REMOTE_HOST):
        hosts.append(str(entry.data[CONF_REMOTE_HOST]))
    redacted: dict[str, Any] = _redact_text(_diagnostics(entry), hosts)
    return redacted


def _redact_text(value: Any, hosts: list[str]) -> Any:
    if isinstance(value, str):
        for host in hosts:
            value = value.replace(host, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _redact_text(item, hosts) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_text(item, hosts) for item in value]
    return value


def _diagnostics(entry: IPComConfigEntry) -> dict[str, Any]:
    runtime = entry.runtime_data
    device_map = runtime.device_map
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "buses": {
            str(bus): _bus_diagnostics(coordinator)
            for bus, coordinator in runtime.coordinators.items()
        },
        "device_map": {
            "lights": [asdict(light) for light in device_map.lights],
            "switches": [asdict(switch) for switch in device_map.switches],
            "covers": [asdict(cover) for cover in device_map.covers],
            "dimmer_modules": {
                str(bus): sorted(device_map.dimmer_modules(bus)) for bus in device_map.buses()
            },
        },
    }


def _bus_diagnostics(coordinator: IPComCoordinator) -> dict[str, Any]:
    """One bus connection: its state, the firmware it reported, its figures and snapshot."""
    client = coordinator.client
    snapshot = coordinator.data
    return {
        "connection": {
            "state": client.connection_state,
            "link_up": coordinator.link_up,
            "entities_available": coordinator.available,
            "firmware_version": client.firmware_version,
        },
        "statistics": asdict(client.statistics),
        "snapshot": {
            "received": snapshot.timestamp_iso,
            "modules": {
                str(module): list(values) for module, values in snapshot.module_values().items()
            },
        },
    }
