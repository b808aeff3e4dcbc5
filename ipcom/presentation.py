"""How the command line shows devices and their state, as text and as JSON.

The JSON shapes are documented in the README's command line section and kept
stable: scripts parse them, so fields are only ever added, never renamed or
removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from .devices import CoverEntry, DeviceEntry, DeviceMap, LightEntry
from .models import OutputAddress, OutputChange, StateSnapshot
from .protocol import DEFAULT_BUS, MODULE_COUNT, OUTPUTS_PER_MODULE, RELAY_OFF

COVER_OPENING: Final = "opening"
COVER_CLOSING: Final = "closing"
COVER_STOPPED: Final = "stopped"
COVER_BOTH_ON: Final = "both_on"
"""Both relays energised: a wiring or interlock fault that the motor does not survive long."""
FIRMWARE_UNKNOWN: Final = "unknown"
"""The firmware version shown when the connect response named none (its short form)."""


@dataclass(frozen=True)
class BusState:
    """One bus of a connected installation as `ipcom status` shows it.

    `address` is the "host:port" its connection ran on and `via_remote`
    whether that was the installation's remote address (PROTOCOL.md section 1).
    """

    bus: int
    bus_type: str
    snapshot: StateSnapshot
    address: str
    via_remote: bool = False


def two_buses(device_map: DeviceMap) -> bool:
    """Whether the map has devices on bus 2, so that what it shows names each output's bus."""
    return any(bus != DEFAULT_BUS for bus in device_map.buses())


def kind(device: DeviceEntry) -> str:
    """The device type as the command line names it: light, dimmer, switch or cover."""
    if isinstance(device, LightEntry):
        return "dimmer" if device.dimmable else "light"
    return "cover" if isinstance(device, CoverEntry) else "switch"


def address(module: int, output: int, bus: int | None = None) -> str:
    """`MODULE.OUTPUT`, the short form installers read off the bus modules.

    With a bus, `BUS:MODULE.OUTPUT`: how an installation with two buses
    writes every output, since module 3 of bus 2 is not module 3 of bus 1.
    """
    text = f"{module}.{output}"
    return text if bus is None else f"{bus}:{text}"


def outputs(device: DeviceEntry, *, with_bus: bool = False) -> str:
    """The output(s) a device uses, e.g. `1.2` or `3.1 up, 3.2 down` (`2:1.2` with the bus)."""
    bus = device.bus if with_bus else None
    if isinstance(device, CoverEntry):
        return f"{address(*device.up, bus)} up, {address(*device.down, bus)} down"
    return address(device.module, device.output, bus)


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


def output_key(
    device_map: DeviceMap, module: int, output: int, bus: int = DEFAULT_BUS
) -> str | None:
    """The devices.yaml entry naming this output of `bus` (for a shutter, its relay's own key)."""
    device = device_map.at(module, output, bus=bus)
    if isinstance(device, CoverEntry):
        return device.up_key if device.up == (module, output) else device.down_key
    return device.key if device is not None else None


def unmapped_on(
    device_map: DeviceMap, snapshot: StateSnapshot, bus: int = DEFAULT_BUS
) -> list[tuple[int, int, int]]:
    """(module, output, value) of outputs of `bus` that are on but not in the map: wiring to check.

    `snapshot` is that bus's.
    """
    return [
        (module, output, snapshot.get_value(module, output))
        for module in range(1, MODULE_COUNT + 1)
        for output in range(1, OUTPUTS_PER_MODULE + 1)
        if snapshot.is_on(module, output) and device_map.at(module, output, bus=bus) is None
    ]


def device_json(
    device: DeviceEntry, snapshot: StateSnapshot | None = None, *, with_bus: bool = False
) -> dict[str, Any]:
    """One device as JSON; with a snapshot (its bus's), its state too (see the README).

    `with_bus` adds the device's `bus`, for an installation with two buses.
    """
    document: dict[str, Any] = {
        "key": device.key,
        "type": kind(device),
        "name": device.name,
        "area": device.area,
        "description": device.description,
    }
    if with_bus:
        document["bus"] = device.bus
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
    """The `ipcom list --json` document; with devices on bus 2, each device's bus too."""
    with_bus = two_buses(device_map)
    document: dict[str, Any] = {
        "devices": [device_json(device, with_bus=with_bus) for device in device_map],
        "dimmer_modules": sorted(device_map.dimmer_modules()),
    }
    if with_bus:
        document["buses"] = [
            {
                "bus": bus,
                "modules": list(device_map.modules(bus)),
                "dimmer_modules": sorted(device_map.dimmer_modules(bus)),
            }
            for bus in _buses_of(device_map)
        ]
    return document


def status_json(
    device_map: DeviceMap,
    buses: Sequence[BusState],
    host: str,
    port: int,
    firmware_version: str | None,
) -> dict[str, Any]:
    """The `ipcom status --json` document, from each connected bus's snapshot.

    `timestamp` stays bus 1's snapshot's; with two buses each device and
    unmapped output also names its bus.
    """
    with_bus = len(buses) > 1
    snapshots = {state.bus: state.snapshot for state in buses}
    return {
        "host": host,
        "port": port,
        "timestamp": buses[0].snapshot.timestamp_iso,
        "firmware_version": firmware_version,
        "via_remote": any(state.via_remote for state in buses),
        "buses": [
            {
                "bus": state.bus,
                "type": state.bus_type,
                "timestamp": state.snapshot.timestamp_iso,
                "address": state.address,
                "via_remote": state.via_remote,
            }
            for state in buses
        ],
        "devices": [
            device_json(device, snapshots[device.bus], with_bus=with_bus)
            for device in device_map
            if device.bus in snapshots
        ],
        "unmapped": [
            {"bus": state.bus, "module": module, "output": output, "value": value}
            if with_bus
            else {"module": module, "output": output, "value": value}
            for state in buses
            for module, output, value in unmapped_on(device_map, state.snapshot, state.bus)
        ],
    }


def change_json(
    device_map: DeviceMap,
    change: OutputChange,
    timestamp: str,
    bus: int = DEFAULT_BUS,
    *,
    with_bus: bool = False,
) -> dict[str, Any]:
    """One `ipcom watch --json` line; `with_bus` adds `bus`, for an installation with two."""
    document: dict[str, Any] = {
        "timestamp": timestamp,
        "device": output_key(device_map, change.module, change.output, bus),
    }
    if with_bus:
        document["bus"] = bus
    document.update(
        {"module": change.module, "output": change.output, "old": change.old, "new": change.new}
    )
    return document


def change_text(
    device_map: DeviceMap,
    change: OutputChange,
    timestamp: str,
    bus: int = DEFAULT_BUS,
    *,
    with_bus: bool = False,
) -> str:
    """One `ipcom watch` line: timestamp, device key (or -), MODULE.OUTPUT, old -> new.

    `with_bus` writes the output `BUS:MODULE.OUTPUT`, for an installation with two buses.
    """
    key = output_key(device_map, change.module, change.output, bus) or "-"
    where = address(change.module, change.output, bus if with_bus else None)
    return f"{timestamp} {key} {where} {change.old} -> {change.new}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, as `ls -l` readers expect."""
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _buses_of(device_map: DeviceMap) -> tuple[int, ...]:
    """Bus 1 and every bus the map has devices on."""
    return tuple(sorted({DEFAULT_BUS, *device_map.buses()}))


def _modules_text(device_map: DeviceMap, bus: int, *, with_bus: bool) -> str:
    """`modules: 1, 3; dimmer modules: 6`, or `bus 2 modules: 1 (dimmer modules: none)`."""
    modules = ", ".join(map(str, device_map.modules(bus))) or "none"
    dimmers = ", ".join(map(str, sorted(device_map.dimmer_modules(bus)))) or "none"
    if with_bus:
        return f"bus {bus} modules: {modules} (dimmer modules: {dimmers})"
    return f"modules: {modules}; dimmer modules: {dimmers}"


def map_table(device_map: DeviceMap) -> list[str]:
    """The `ipcom list` text; with devices on bus 2, outputs are written `BUS:MODULE.OUTPUT`."""
    with_bus = two_buses(device_map)
    rows = [
        (
            device.key,
            kind(device),
            outputs(device, with_bus=with_bus),
            device.area or "",
            travel(device),
            device.name,
        )
        for device in device_map
    ]
    lines = table(("KEY", "TYPE", "OUTPUTS", "AREA", "TRAVEL", "NAME"), rows) if rows else []
    buses = _buses_of(device_map)
    used = sum(len(device_map.outputs(bus)) for bus in buses)
    summary = "; ".join(_modules_text(device_map, bus, with_bus=with_bus) for bus in buses)
    lines.append(f"{len(device_map)} devices on {used} outputs; {summary}")
    lines.extend(f"warning: {warning}" for warning in device_map.warnings)
    return lines


def _where(state: BusState) -> str:
    return state.address + (" (remote address)" if state.via_remote else "")


def status_header(buses: Sequence[BusState], firmware_version: str | None) -> str:
    """The first line of `ipcom status`: where, when, and the installation's firmware.

    `127.0.0.1:5000 at <time>; firmware 0000`; with two buses each snapshot's
    time is named by its bus, and each bus's address too when they differ.
    """
    first = buses[0]
    if len(buses) == 1:
        when = f"{_where(first)} at {first.snapshot.timestamp_iso}"
    elif all(_where(state) == _where(first) for state in buses):
        times = ", ".join(f"{state.snapshot.timestamp_iso} (bus {state.bus})" for state in buses)
        when = f"{_where(first)} at {times}"
    else:
        when = ", ".join(
            f"bus {state.bus}: {_where(state)} at {state.snapshot.timestamp_iso}" for state in buses
        )
    return f"{when}; firmware {firmware_version or FIRMWARE_UNKNOWN}"


def status_table(
    device_map: DeviceMap, buses: Sequence[BusState], firmware_version: str | None
) -> list[str]:
    """The `ipcom status` text, each device read from its bus's snapshot.

    With two buses, outputs are written `BUS:MODULE.OUTPUT`.
    """
    lines = [status_header(buses, firmware_version)]
    with_bus = len(buses) > 1
    snapshots = {state.bus: state.snapshot for state in buses}
    rows = [
        (
            device.key,
            kind(device),
            outputs(device, with_bus=with_bus),
            state_text(device, snapshots[device.bus]),
            device.area or "",
            device.name,
        )
        for device in device_map
        if device.bus in snapshots
    ]
    if rows:
        lines += table(("KEY", "TYPE", "OUTPUTS", "STATE", "AREA", "NAME"), rows)
    unmapped = [
        f"{address(module, output, state.bus if with_bus else None)} = {value}"
        for state in buses
        for module, output, value in unmapped_on(device_map, state.snapshot, state.bus)
    ]
    if unmapped:
        lines.append(f"unmapped outputs that are on: {', '.join(unmapped)}")
    elif not rows:
        lines.append("no devices mapped, and every output is off")
    return lines
