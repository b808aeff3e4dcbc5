"""Config entry migration: entries of older versions, and of the other integration, made current.

Minor version 2:
- the entry has no unique id: the installation sends no serial number or MAC
  (PROTOCOL.md section 3), and a host or IP address is not an acceptable one;
  duplicates are refused on host and port by the config flow instead;
- the data holds exactly our keys: entries of the other `ipcom` integration
  also carry `cli_path` and `scan_interval`, and may lack the credentials and
  the devices file (its CLI read `devices.yaml` from the `cli_path` folder);
- device identifiers have one namespace per kind (`<entry>:module:<bus>:<n>`,
  `<entry>:device:<key>`), so a devices file key such as `module_1` no longer
  names the same device as module 1.

Entries without credentials stay without them: the setup then asks for them
through a reauthentication.

Minor version 3:
- the options no longer hold `poll_interval`: the library polls at the vendor
  application's pace (350 ms), and polling intervals are not user options in
  Home Assistant. The other options stay as they were.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import (
    CONF_CLI_PATH,
    CONF_DEVICES_FILE,
    CONF_POLL_INTERVAL,
    DEFAULT_DEVICES_FILE,
    DEFAULT_PORT,
    DOMAIN,
)
from .identifiers import device_identifier, module_identifier

_LOGGER = logging.getLogger(__name__)

CONFIG_VERSION = 1
CONFIG_MINOR_VERSION = 3

_KEPT_KEYS = (CONF_HOST, CONF_PORT, CONF_USERNAME, CONF_PASSWORD, CONF_DEVICES_FILE)
_DROPPED_OPTIONS = (CONF_POLL_INTERVAL,)
"""Options that are no longer options (minor version 3)."""


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Migrate an entry to the current minor version; refuse entries of a newer major one."""
    if entry.version > CONFIG_VERSION:
        return False
    if entry.minor_version >= CONFIG_MINOR_VERSION:
        return True
    if entry.minor_version < 2:
        _async_migrate_device_identifiers(hass, entry)
        hass.config_entries.async_update_entry(
            entry, data=migrated_data(hass, entry.data), unique_id=None, minor_version=2
        )
    hass.config_entries.async_update_entry(
        entry,
        options={key: value for key, value in entry.options.items() if key not in _DROPPED_OPTIONS},
        minor_version=CONFIG_MINOR_VERSION,
    )
    _LOGGER.debug("Migrated %s to version %s.%s", entry.title, entry.version, CONFIG_MINOR_VERSION)
    return True


def migrated_data(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, Any]:
    """Our keys of an entry's data, with the devices file found where the old CLI read it."""
    migrated = {key: data[key] for key in _KEPT_KEYS if key in data}
    migrated.setdefault(CONF_PORT, DEFAULT_PORT)
    if CONF_DEVICES_FILE not in migrated:
        migrated[CONF_DEVICES_FILE] = _devices_file_of(hass, data.get(CONF_CLI_PATH))
    return migrated


def _devices_file_of(hass: HomeAssistant, cli_path: str | None) -> str:
    """The devices file next to the old CLI, relative to the config folder when inside it."""
    if not cli_path:
        return DEFAULT_DEVICES_FILE
    devices_file = Path(hass.config.path(cli_path), "devices.yaml")
    config_dir = Path(hass.config.config_dir)
    if devices_file.is_relative_to(config_dir):
        return devices_file.relative_to(config_dir).as_posix()
    return str(devices_file)


_OLD_MODULE = re.compile(r"module_(\d+)")


@callback
def _async_migrate_device_identifiers(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Rewrite `<entry>_module_<n>` and `<entry>_<key>` identifiers in place.

    The registry ids, and with them areas, names and device automations, stay.
    An old `<entry>_module_<n>` is always the module: a key of that name shared
    the module's row, and its device is created anew by the setup.
    """
    device_registry = dr.async_get(hass)
    prefix = f"{entry.entry_id}_"
    taken = {
        value
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        for domain, value in device.identifiers
        if domain == DOMAIN
    }
    for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
        identifiers = set(device.identifiers)
        for identifier in device.identifiers:
            domain, value = identifier
            if domain != DOMAIN or not value.startswith(prefix):
                continue
            rest = value.removeprefix(prefix)
            if match := _OLD_MODULE.fullmatch(rest):
                new = module_identifier(entry.entry_id, int(match.group(1)))
            else:
                new = device_identifier(entry.entry_id, rest)
            if new[1] in taken:
                continue
            identifiers.discard(identifier)
            identifiers.add(new)
            taken.add(new[1])
        if identifiers != device.identifiers:
            device_registry.async_update_device(device.id, new_identifiers=identifiers)
