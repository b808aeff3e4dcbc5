"""Registry look-ups for the tests that work the same on every supported Home Assistant."""

from __future__ import annotations

from homeassistant.helpers import device_registry as dr

from .conftest import ENTRY_ID


def find_device(
    device_registry: dr.DeviceRegistry, value: str, entry_id: str = ENTRY_ID
) -> dr.DeviceEntry | None:
    """The device of an entry with the identifier ("ipcom", value), if there is one."""
    for device in dr.async_entries_for_config_entry(device_registry, entry_id):
        if ("ipcom", value) in device.identifiers:
            return device
    return None
