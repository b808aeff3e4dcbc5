"""How the command line shows devices and their state, as text and as JSON.

The JSON shapes are documented in the README's command line section and kept
stable: scripts parse them, so fields are only ever added, never renamed or
removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .devices import CoverEntry, DeviceEntry, DeviceMap, LightEntry
from .models import OutputAddress, OutputChange, StateSnapshot
from .protocol import MODULE_COUNT, OUTPUTS_PER_MODULE, RELAY_OFF

COVER_OPENING: Final = "opening"
COVER_CLOSING: Final = "closing"
COVER_STOPPED: Final = "stopped"
COVER_BOTH_ON: Final = "both_on"
"""Both relays energised: a wiring or interlock fault that the motor does not survive long."""


def kind(device: DeviceEntry) -> str:
    """The device type as the command line names it: light, dimmer, switch or cover."""
    if isinstance(device, LightEntry):
        return "dimmer" if device.dimmable else "light"
    return "cover" if isinstance(device, CoverEntry) else "switch"


def address(module: int, output: int) -> str:
    """`MODULE.OUTPUT`, the short form installers read off the bus modules."""
    return f"{module}.{output}"


def outputs(device: DeviceEntry) -> str:
    """The output(s) a device uses, e.g. `1.2` or `3.1 up, 3.2 down`."""
    if isinstance(device, CoverEntry):
        return f"{address(*device.up)} up, {address(*device.down)} down"
    return address(device.module, device.output)


def travel(device: DeviceEntry) -> str:
    """A shutter's travel times in words; empty for other devices or when unknown."""
    if not isinstance(device, CoverEntry):
        return ""
    up, down = device.travel_time_up, device.travel_time_down
    if up == down:
        return "" if up is None else f"{up:g} s"
    times = (("up", up), ("down", down))
    return ", ".join(f"{role} {seconds:g} s" for role, seconds in times if seconds is not None)


def cover_state(cover: CoverEntry, snapshot: StateSnapshot) -> str:
    """What the relays say the shutter is doing."""
    up = snapshot.is_on(*cover.up)
    down = snapshot.is_on(*cover.down)
    if up and down:
        return COVER_BOTH_ON
    if up:
        return COVER_OPENING
    return COVER_CLOSING if down else COVER_STOPPED


def state_text(device: DeviceEntry, snapshot: StateSnapshot) -> str:
    """A device's state for people: `on`, `off`, `40 %`, `opening`..."""
    if isinstance(device, CoverEntry):
        state = cover_state(device, snapshot)
        return "both relays on!" if state == COVER_BOTH_ON else state
    value = snapshot.get_value(device.module, device.output)
    if value == RELAY_OFF:
        return "off"
    return f"{value} %" if isinstance(device, LightEntry) and device.dimmable else "on"


def output_key(device_map: DeviceMap, module: int, output: int) -> str | None:
    """The devices.yaml entry naming this output (for a shutter, its relay's own key)."""
    device = device_map.at(module, output)
    if isinstance(device, CoverEntry):
        return device.up_key if device.up == (module, output) else device.down_key
    return device.key if device is not None else None


def unmapped_on(device_map: DeviceMap, snapshot: StateSnapshot) -> list[tuple[int, int, int]]:
    """(module, output, value) of outputs that are on but not in the map: wiring to check."""
    return [
        (module, output, snapshot.get_value(module, output))
        for module in range(1, MODULE_COUNT + 1)
        for output in range(1, OUTPUTS_PER_MODULE + 1)
        if snapshot.is_on(module, output) and device_map.at(module, output) is None
    ]


def device_json(device: DeviceEntry, snapshot: StateSnapshot | None = None) -> dict[str, Any]:
    """One device as JSON; with a snapshot, its state too (see the README)."""
    document: dict[str, Any] = {
        "key": device.key,
        "type": kind(device),
        "name": device.name,
        "area": device.area,
        "description": device.description,
    }
    if isinstance(device, CoverEntry):
        document["up"] = _relay_json(device.up_key, device.up, snapshot)
        document["down"] = _relay_json(device.down_key, device.down, snapshot)
        document["travel_time_up"] = device.travel_time_up
        document["travel_time_down"] = device.travel_time_down
        if snapshot is not None:
            document["state"] = cover_state(device, snapshot)
        return document
    document["module"] = device.module
    document["output"] = device.output
    if snapshot is not None:
        value = snapshot.get_value(device.module, device.output)
        document["value"] = value
        document["on"] = value != RELAY_OFF
        if isinstance(device, LightEntry) and device.dimmable:
            document["brightness"] = value
    return document


def _relay_json(key: str, relay: OutputAddress, snapshot: StateSnapshot | None) -> dict[str, Any]:
    document: dict[str, Any] = {"key": key, "module": relay.module, "output": relay.output}
    if snapshot is not None:
        value = snapshot.get_value(*relay)
        document["value"] = value
        document["on"] = value != RELAY_OFF
    return document


def map_json(device_map: DeviceMap) -> dict[str, Any]:
    """The `ipcom list --json` document."""
    return {
        "devices": [device_json(device) for device in device_map],
        "dimmer_modules": sorted(device_map.dimmer_modules()),
    }


def status_json(
    device_map: DeviceMap, snapshot: StateSnapshot, host: str, port: int
) -> dict[str, Any]:
    """The `ipcom status --json` document."""
    return {
        "host": host,
        "port": port,
        "timestamp": snapshot.timestamp_iso,
        "devices": [device_json(device, snapshot) for device in device_map],
        "unmapped": [
            {"module": module, "output": output, "value": value}
            for module, output, value in unmapped_on(device_map, snapshot)
        ],
    }


def change_json(device_map: DeviceMap, change: OutputChange, timestamp: str) -> dict[str, Any]:
    """One `ipcom watch --json` line."""
    return {
        "timestamp": timestamp,
        "device": output_key(device_map, change.module, change.output),
        "module": change.module,
        "output": change.output,
        "old": change.old,
        "new": change.new,
    }


def change_text(device_map: DeviceMap, change: OutputChange, timestamp: str) -> str:
    """One `ipcom watch` line: timestamp, device key (or -), MODULE.OUTPUT, old -> new."""
    key = output_key(device_map, change.module, change.output) or "-"
    return f"{timestamp} {key} {address(change.module, change.output)} {change.old} -> {change.new}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, as `ls -l` readers expect."""
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def map_table(device_map: DeviceMap) -> list[str]:
    """The `ipcom list` text."""
    rows = [
        (device.key, kind(device), outputs(device), device.area or "", travel(device), device.name)
        for device in device_map
    ]
    lines = table(("KEY", "TYPE", "OUTPUTS", "AREA", "TRAVEL", "NAME"), rows) if rows else []
    modules = ", ".join(map(str, device_map.modules())) or "none"
    dimmers = ", ".join(map(str, sorted(device_map.dimmer_modules()))) or "none"
    lines.append(
        f"{len(device_map)} devices on {len(device_map.outputs())} outputs; "
        f"modules: {modules}; dimmer modules: {dimmers}"
    )
    lines.extend(f"warning: {warning}" for warning in device_map.warnings)
    return lines


def status_table(device_map: DeviceMap, snapshot: StateSnapshot, where: str) -> list[str]:
    """The `ipcom status` text."""
    lines = [f"{where} at {snapshot.timestamp_iso}"]
    rows = [
        (
            device.key,
            kind(device),
            outputs(device),
            state_text(device, snapshot),
            device.area or "",
            device.name,
        )
        for device in device_map
    ]
    if rows:
        lines += table(("KEY", "TYPE", "OUTPUTS", "STATE", "AREA", "NAME"), rows)
    unmapped = unmapped_on(device_map, snapshot)
    if unmapped:
        listed = ", ".join(
            f"{address(module, output)} = {value}" for module, output, value in unmapped
        )
        lines.append(f"unmapped outputs that are on: {listed}")
    elif not rows:
        lines.append("no devices mapped, and every output is off")
    return lines
