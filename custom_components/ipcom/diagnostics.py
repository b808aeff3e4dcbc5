"""Diagnostics: the connection, its figures, the latest snapshot and the device map."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .coordinator import IPComConfigEntry

TO_REDACT = {CONF_HOST, CONF_USERNAME, CONF_PASSWORD}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IPComConfigEntry
) -> dict[str, Any]:
    """Everything needed to tell a network problem from a devices file problem.

    The host is redacted in every text too: the entry title is often the
    host, and connection errors name it.
    """
    redacted: dict[str, Any] = _redact_text(_diagnostics(entry), str(entry.data[CONF_HOST]))
    return redacted


def _redact_text(value: Any, host: str) -> Any:
    if isinstance(value, str):
        return value.replace(host, REDACTED)
    if isinstance(value, dict):
        return {key: _redact_text(item, host) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_text(item, host) for item in value]
    return value


def _diagnostics(entry: IPComConfigEntry) -> dict[str, Any]:
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    snapshot = coordinator.data
    device_map = runtime.device_map
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "connection": {
            "state": runtime.client.connection_state,
            "link_up": coordinator.link_up,
            "entities_available": coordinator.available,
        },
        "statistics": asdict(runtime.client.statistics),
        "snapshot": {
            "received": snapshot.timestamp_iso,
            "modules": {
                str(module): list(values) for module, values in snapshot.module_values().items()
            },
        },
        "device_map": {
            "lights": [asdict(light) for light in device_map.lights],
            "switches": [asdict(switch) for switch in device_map.switches],
            "covers": [asdict(cover) for cover in device_map.covers],
            "dimmer_modules": sorted(device_map.dimmer_modules()),
        },
    }
