"""The demo's devices as Home Assistant holds them: one config subentry per device.

The demo sets ipcom up through its config flow with `devices_file` naming the repository's
devices.yaml; the integration's setup imports that file into subentries once (type = the
device's kind, title = its name, unique id = `bus-module-output` of its (up) relay, data = the
library's record). What is here compares the subentries Home Assistant lists
(`config_entries/subentries/list`) with the device map, and picks a free relay output for the
end-to-end test's added light. Nothing here talks to Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ipcom.device_records import records_of
from ipcom.devices import CoverEntry, DeviceEntry, DeviceMap, LightEntry, SwitchEntry
from ipcom.protocol import DEFAULT_BUS, OUTPUTS_PER_MODULE


@dataclass(frozen=True)
class SubentryCheck:
    """How the entry's subentries compare with the device map."""

    present: tuple[DeviceEntry, ...]
    """Devices of the map that have their subentry (same type, unique id and title)."""
    missing: tuple[DeviceEntry, ...]
    """Devices of the map without a subentry at their address."""
    different: tuple[tuple[DeviceEntry, Mapping[str, Any]], ...]
    """Devices whose address has a subentry of another type or title (renamed in the UI)."""
    extra: tuple[Mapping[str, Any], ...]
    """Subentries at addresses the map does not name (added in the UI)."""

    @property
    def at_their_address(self) -> tuple[DeviceEntry, ...]:
        """Devices of the map with a subentry at their address, renamed or not, in map order."""
        return (*self.present, *(device for device, _ in self.different))

    @property
    def complete(self) -> bool:
        """Exactly one subentry per device of the map, as the import makes them."""
        return not (self.missing or self.different or self.extra)

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line: how many match, and what does not."""
        total = len(self.present) + len(self.missing) + len(self.different)
        parts = [f"{len(self.present)} of the {total} devices of the map"]
        if self.missing:
            parts.append(f"missing: {_names(self.missing)}")
        if self.different:
            changed = ", ".join(
                f"{device.name} ({subentry.get('subentry_type')} {subentry.get('title')!r})"
                for device, subentry in self.different
            )
            parts.append(f"changed: {changed}")
        if self.extra:
            parts.append(f"not in the map: {', '.join(str(s.get('title')) for s in self.extra)}")
        return "; ".join(parts)


def check_subentries(
    device_map: DeviceMap, subentries: Iterable[Mapping[str, Any]]
) -> SubentryCheck:
    """Match each device of the map with the subentry at its address."""
    by_unique_id = {str(s.get("unique_id")): s for s in subentries}
    present: list[DeviceEntry] = []
    missing: list[DeviceEntry] = []
    different: list[tuple[DeviceEntry, Mapping[str, Any]]] = []
    for device, record in zip(device_map, records_of(device_map), strict=True):
        subentry = by_unique_id.pop(record.unique_id, None)
        if subentry is None:
            missing.append(device)
        elif (subentry.get("subentry_type"), subentry.get("title")) != (record.kind, record.title):
            different.append((device, subentry))
        else:
            present.append(device)
    return SubentryCheck(
        tuple(present), tuple(missing), tuple(different), tuple(by_unique_id.values())
    )


def only(device_map: DeviceMap, devices: Iterable[DeviceEntry]) -> DeviceMap:
    """The map with just these of its devices, in its order."""
    keys = {device.key for device in devices}
    return DeviceMap(
        tuple(light for light in device_map.lights if light.key in keys),
        tuple(switch for switch in device_map.switches if switch.key in keys),
        tuple(cover for cover in device_map.covers if cover.key in keys),
    )


def free_relay_output(device_map: DeviceMap, bus: int = DEFAULT_BUS) -> tuple[int, int] | None:
    """(module, output) of an output no device uses, on a module of relay lights of `bus`.

    Relay lights' modules first, in the order of the map: a light added there is a relay light
    on a relay module, as the module's other outputs are.
    """
    used = _used_outputs(device_map, bus)
    dimmers = device_map.dimmer_modules(bus)
    modules = [
        light.module for light in device_map.lights if light.bus == bus and not light.dimmable
    ]
    modules += [switch.module for switch in device_map.switches if switch.bus == bus]
    for module in dict.fromkeys(modules):
        if module in dimmers:
            continue
        for output in range(1, OUTPUTS_PER_MODULE + 1):
            if (module, output) not in used:
                return module, output
    return None


def _used_outputs(device_map: DeviceMap, bus: int) -> set[tuple[int, int]]:
    used: set[tuple[int, int]] = set()
    for device in device_map:
        if device.bus != bus:
            continue
        if isinstance(device, CoverEntry):
            used.update(
                {(device.up.module, device.up.output), (device.down.module, device.down.output)}
            )
        elif isinstance(device, LightEntry | SwitchEntry):
            used.add((device.module, device.output))
    return used


def _names(devices: Iterable[DeviceEntry]) -> str:
    return ", ".join(f"{device.name} ({device.area or 'no area'})" for device in devices)
