"""Constants of the IPCom Home Anywhere Blue integration."""

from __future__ import annotations

from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "ipcom"

PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.COVER,
    Platform.LIGHT,
    Platform.SENSOR,
    Platform.SWITCH,
]

DEFAULT_PORT: Final = 5000

CONF_BUS_TYPE: Final = "bus_type"
"""The type of bus 1 (`ipcom.BusType` value: minido, bibus, other); minido by default."""
CONF_BUS_2_TYPE: Final = "bus_2_type"
"""The type of bus 2, or `NO_SECOND_BUS` when the installation has one bus."""
NO_SECOND_BUS: Final = "none"
FIRST_BUS: Final = 1
SECOND_BUS: Final = 2
CONF_TRICOM: Final = "tricom"
"""Whether the installation is a TriCom (PROTOCOL.md section 6); False by default."""
CONF_REMOTE_HOST: Final = "remote_host"
CONF_REMOTE_PORT: Final = "remote_port"
"""The installation's address from outside the home, tried when the local one fails."""
CONF_SERIAL: Final = "serial"
"""A TriCom's serial number: its remote login sends it before the username."""

CONF_DEVICES_FILE: Final = "devices_file"
CONF_CLI_PATH: Final = "cli_path"
"""The other integration's folder of its command-line client, which also held devices.yaml."""
DEFAULT_DEVICES_FILE: Final = "ipcom/devices.yaml"
"""Relative to the Home Assistant configuration directory."""

CONF_POLL_INTERVAL: Final = "poll_interval"
"""The former poll interval option (ms); migration.py drops it. The client polls at the
vendor application's pace, its default."""

CONF_UNAVAILABLE_AFTER: Final = "unavailable_after"
DEFAULT_UNAVAILABLE_AFTER: Final = 10
MIN_UNAVAILABLE_AFTER: Final = 0
MAX_UNAVAILABLE_AFTER: Final = 600
"""Seconds a lost connection may last before the entities turn unavailable."""

CONF_REVERSE_PAUSE: Final = "reverse_pause"
DEFAULT_REVERSE_PAUSE: Final = 0.5
MIN_REVERSE_PAUSE: Final = 0.0
MAX_REVERSE_PAUSE: Final = 5.0
"""Seconds a shutter motor rests before it runs the other way."""

CONNECT_TIMEOUT: Final = 5.0
"""Seconds the config flow and the setup wait for the socket and for the first snapshot."""

CONF_CONFIG_ENTRY_ID: Final = "config_entry_id"
CONF_BUS: Final = "bus"
CONF_MODULE: Final = "module"
CONF_OUTPUT: Final = "output"
CONF_VALUE: Final = "value"
SERVICE_SET_OUTPUT: Final = "set_output"
SERVICE_EXPORT_DEVICES: Final = "export_devices"
ATTR_DEVICES_YAML: Final = "devices_yaml"
"""The export action's answer: the device map in devices.yaml's format."""

MANUFACTURER: Final = "IPCom"
HUB_MODEL: Final = "Home Anywhere Blue"
RELAY_MODULE_MODEL: Final = "EXO 8"
DIMMER_MODULE_MODEL: Final = "EXO DIM"

ISSUE_DEPRECATED_YAML: Final = "deprecated_yaml"
ISSUE_INVALID_DEVICES_FILE: Final = "invalid_devices_file"
ISSUE_ADOPTION_CONFLICTS: Final = "adoption_conflicts"
ISSUE_SHADOWING_PACKAGE: Final = "shadowing_package"
ISSUE_DEVICES_FILE_WARNINGS: Final = "devices_file_warnings"
ISSUE_DEVICES_FILE_IMPORTED: Final = "devices_file_imported"
ISSUE_UNMAPPED_OUTPUT: Final = "unmapped_output"
"""A wall switch changed an output no device uses: the fixable issue offers to add it."""

ISSUE_BUS_UNREACHABLE: Final = "bus_unreachable"
"""A bus's link has stayed down for minutes: check the address, the power, the network."""
STATISTIC_SENSORS: Final = ("reconnects", "connected_since", "round_trip", "writes_abandoned")
"""The keys of each bus's diagnostic sensors (sensor.py); registry.py keeps their rows."""
