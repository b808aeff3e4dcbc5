"""Write a device map back out as devices.yaml: for the command line, the simulator, a backup.

A map read from a file, or built elsewhere (Home Assistant's configuration,
the Home Anywhere account), is written in the format `load_device_map` reads,
so that reading the output gives the same map again. Only what the map holds
is written: settings it never kept (and files' comments) are not.
"""

from __future__ import annotations

from typing import Any

import yaml

from .devices import (
    DEFAULT_COVER_DEVICE_CLASS,
    LIGHTS,
    ROLE_DOWN,
    ROLE_UP,
    SHUTTERS,
    SWITCHES,
    TYPE_DIMMER,
    TYPE_LIGHT,
    CoverEntry,
    DeviceMap,
    LightEntry,
    SwitchEntry,
)
from .models import OutputAddress
from .protocol import DEFAULT_BUS

HEADER = "# Written by ipcom from a device map; `ipcom list` reads it back.\n"


def device_map_document(device_map: DeviceMap) -> dict[str, dict[str, dict[str, Any]]]:
    """The map as devices.yaml's sections of entries, each entry's settings in file order.

    `bus` is written only for bus 2, so a one-bus map reads as files always did.
    """
    document: dict[str, dict[str, dict[str, Any]]] = {}
    if device_map.lights:
        document[LIGHTS] = {light.key: _light(light) for light in device_map.lights}
    if device_map.switches:
        document[SWITCHES] = {switch.key: _switch(switch) for switch in device_map.switches}
    if device_map.covers:
        document[SHUTTERS] = {}
        for cover in device_map.covers:
            document[SHUTTERS][cover.up_key] = _relay(cover, cover.up, ROLE_UP, cover.down_key)
            document[SHUTTERS][cover.down_key] = _relay(cover, cover.down, ROLE_DOWN, cover.up_key)
    return document


def dump_device_map(device_map: DeviceMap) -> str:
    """The map as devices.yaml text, with a header line saying where it came from."""
    body = yaml.safe_dump(
        device_map_document(device_map), sort_keys=False, allow_unicode=True, width=100
    )
    return HEADER + body


def _address(bus: int, address: OutputAddress) -> dict[str, Any]:
    where: dict[str, Any] = {} if bus == DEFAULT_BUS else {"bus": bus}
    return where | {"module": address.module, "output": address.output}


def _labels(
    name: str, description: str | None, area: str | None, icon: str | None
) -> dict[str, Any]:
    labels: dict[str, Any] = {"display_name": name}
    for setting, value in (("description", description), ("area", area), ("icon", icon)):
        if value is not None:
            labels[setting] = value
    return labels


def _light(light: LightEntry) -> dict[str, Any]:
    kind = {"type": TYPE_DIMMER if light.dimmable else TYPE_LIGHT}
    return (
        _address(light.bus, light.address)
        | kind
        | _labels(light.name, light.description, light.area, light.icon)
    )


def _switch(switch: SwitchEntry) -> dict[str, Any]:
    entry = _address(switch.bus, switch.address) | _labels(
        switch.name, switch.description, switch.area, switch.icon
    )
    if switch.device_class is not None:
        entry["device_class"] = switch.device_class
    return entry


def _relay(cover: CoverEntry, relay: OutputAddress, role: str, partner: str) -> dict[str, Any]:
    """One relay of a shutter; the shutter's own settings go on both, as they must agree."""
    entry = _address(cover.bus, relay) | {"relay_role": role, "paired_device": partner}
    entry["cover_name"] = cover.name
    if cover.travel_time_up is not None:
        entry["travel_time_up"] = cover.travel_time_up
    if cover.travel_time_down is not None:
        entry["travel_time_down"] = cover.travel_time_down
    if cover.device_class != DEFAULT_COVER_DEVICE_CLASS:
        entry["device_class"] = cover.device_class
    if cover.reverse_pause is not None:
        entry["reverse_pause"] = cover.reverse_pause
    return entry | _labels(cover.name, cover.description, cover.area, cover.icon)
