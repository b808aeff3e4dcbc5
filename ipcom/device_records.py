"""A device map as records: one flat, JSON-friendly mapping per light, switch or shutter.

Home Assistant keeps each device of an installation as a config subentry of
its own, so devices are added, changed and removed one at a time from the
UI. A record is what one subentry holds: the device's kind (`KIND_LIGHT`,
`KIND_SWITCH`, `KIND_SHUTTER`) and its settings, named as in devices.yaml
where devices.yaml has a name for them. This module turns a map into
records and records back into a map, validated exactly as a devices.yaml is
(`parse_device_map`), and checks one new or changed record against the
others, saying which field a problem belongs to so a form can show it there.

Keys are kept as they are: they name the Home Assistant device of each map
entry, so a map imported from a file keeps its devices.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from .devices import (
    DEFAULT_COVER_DEVICE_CLASS,
    CoverEntry,
    DeviceEntry,
    DeviceMap,
    DeviceMapError,
    LightEntry,
    SwitchEntry,
    parse_device_map,
)
from .devices_export import device_map_document
from .models import OutputAddress
from .protocol import DEFAULT_BUS, MODULE_COUNT, OUTPUTS_PER_MODULE

KIND_LIGHT: Final = "light"
KIND_SWITCH: Final = "switch"
KIND_SHUTTER: Final = "shutter"
KINDS: Final = (KIND_LIGHT, KIND_SWITCH, KIND_SHUTTER)

KEY: Final = "key"
NAME: Final = "name"
AREA: Final = "area"
ICON: Final = "icon"
DESCRIPTION: Final = "description"
BUS: Final = "bus"
MODULE: Final = "module"
OUTPUT: Final = "output"
DIMMABLE: Final = "dimmable"
DEVICE_CLASS: Final = "device_class"
UP_MODULE: Final = "up_module"
UP_OUTPUT: Final = "up_output"
DOWN_MODULE: Final = "down_module"
DOWN_OUTPUT: Final = "down_output"
UP_KEY: Final = "up_key"
DOWN_KEY: Final = "down_key"
TRAVEL_TIME_UP: Final = "travel_time_up"
TRAVEL_TIME_DOWN: Final = "travel_time_down"
REVERSE_PAUSE: Final = "reverse_pause"

MODULE_NUMBERS: Final = range(1, MODULE_COUNT + 1)
"""The module numbers a record may name (a form's bounds)."""
OUTPUT_NUMBERS: Final = range(1, OUTPUTS_PER_MODULE + 1)
"""The output numbers of a module a record may name."""

OUTPUT_IN_USE: Final = "output_in_use"
"""The output is already used by another device (placeholder `device`)."""
MODULE_IS_DIMMER: Final = "module_is_dimmer"
"""A relay output on a module whose other outputs are dimmers (placeholder `device`)."""
MODULE_IS_RELAY: Final = "module_is_relay"
"""A dimmer on a module whose other outputs are relays (placeholder `device`)."""
SAME_RELAY: Final = "same_relay"
"""A shutter whose up and down relays are one output."""
INVALID_SETTING: Final = "invalid_setting"
"""Any other problem devices.yaml's validation finds (placeholder `reason`)."""

_NO_PLACEHOLDERS: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One device as a subentry holds it: kind, title, unique id (its address) and settings."""

    kind: str
    data: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The device's key in the map: stable across renames, it names the device."""
        key: str = self.data[KEY]
        return key

    @property
    def title(self) -> str:
        """The device's name."""
        name: str = self.data[NAME]
        return name

    @property
    def unique_id(self) -> str:
        """The device's address: bus, module and output of its (up) relay.

        Two records with one unique id would drive one output; the config
        entry refuses the second.
        """
        return address_id(*_first_address(self.kind, self.data))


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Why a record cannot be used, and the form field it belongs to (`base`: none)."""

    field: str
    code: str
    placeholders: Mapping[str, str] = _NO_PLACEHOLDERS


def address_id(bus: int, module: int, output: int) -> str:
    """`bus-module-output`: the unique id of the record whose (up) relay is there."""
    return f"{bus}-{module}-{output}"


def record_of(entry: DeviceEntry) -> DeviceRecord:
    """The record of one map entry; reading it back (`entry_of`) gives the same entry."""
    labels = _without_none(
        {NAME: entry.name, AREA: entry.area, ICON: entry.icon, DESCRIPTION: entry.description}
    )
    if isinstance(entry, LightEntry):
        return DeviceRecord(
            KIND_LIGHT,
            {KEY: entry.key, **labels, BUS: entry.bus, MODULE: entry.module}
            | {OUTPUT: entry.output, DIMMABLE: entry.dimmable},
        )
    if isinstance(entry, SwitchEntry):
        data = {KEY: entry.key, **labels, BUS: entry.bus, MODULE: entry.module}
        data |= _without_none({OUTPUT: entry.output, DEVICE_CLASS: entry.device_class})
        return DeviceRecord(KIND_SWITCH, data)
    data = {KEY: entry.key, **labels, BUS: entry.bus}
    data |= {UP_MODULE: entry.up.module, UP_OUTPUT: entry.up.output}
    data |= {DOWN_MODULE: entry.down.module, DOWN_OUTPUT: entry.down.output}
    data |= {UP_KEY: entry.up_key, DOWN_KEY: entry.down_key, DEVICE_CLASS: entry.device_class}
    data |= _without_none(
        {
            TRAVEL_TIME_UP: entry.travel_time_up,
            TRAVEL_TIME_DOWN: entry.travel_time_down,
            REVERSE_PAUSE: entry.reverse_pause,
        }
    )
    return DeviceRecord(KIND_SHUTTER, data)


def records_of(device_map: DeviceMap) -> tuple[DeviceRecord, ...]:
    """Every device of the map as a record, in the map's order."""
    return tuple(record_of(entry) for entry in device_map)


def entry_of(record: DeviceRecord) -> DeviceEntry:
    """The map entry a record describes, unchecked (`device_map_of` checks the whole map).

    Raises `DeviceMapError` for a record that lacks a setting or has one of
    the wrong type, naming the record and the setting.
    """
    data = record.data

    def whole(setting: str, default: int | None = None) -> int:
        value = data.get(setting, default)
        if value is None:
            raise KeyError(setting)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ValueError(f"{setting} must be a whole number, got {value!r}")
        return int(value)

    try:
        labels: dict[str, Any] = {
            "key": str(data[KEY]),
            "name": str(data[NAME]),
            "area": data.get(AREA),
            "icon": data.get(ICON),
            "description": data.get(DESCRIPTION),
            "bus": whole(BUS, DEFAULT_BUS),
        }
        if record.kind == KIND_LIGHT:
            return LightEntry(
                module=whole(MODULE),
                output=whole(OUTPUT),
                dimmable=bool(data.get(DIMMABLE, False)),
                **labels,
            )
        if record.kind == KIND_SWITCH:
            return SwitchEntry(
                module=whole(MODULE),
                output=whole(OUTPUT),
                device_class=data.get(DEVICE_CLASS),
                **labels,
            )
        if record.kind == KIND_SHUTTER:
            return CoverEntry(
                up=OutputAddress(whole(UP_MODULE), whole(UP_OUTPUT)),
                down=OutputAddress(whole(DOWN_MODULE), whole(DOWN_OUTPUT)),
                up_key=str(data[UP_KEY]),
                down_key=str(data[DOWN_KEY]),
                travel_time_up=_optional_float(data.get(TRAVEL_TIME_UP)),
                travel_time_down=_optional_float(data.get(TRAVEL_TIME_DOWN)),
                reverse_pause=_optional_float(data.get(REVERSE_PAUSE)),
                device_class=str(data.get(DEVICE_CLASS) or DEFAULT_COVER_DEVICE_CLASS),
                **labels,
            )
    except KeyError as err:
        raise DeviceMapError([f"{_name(record)}: {err.args[0]} is required"]) from err
    except (TypeError, ValueError) as err:
        raise DeviceMapError([f"{_name(record)}: {err}"]) from err
    raise DeviceMapError(
        [f"{_name(record)}: unknown kind {record.kind!r}; expected one of {', '.join(KINDS)}"]
    )


def device_map_of(records: Iterable[DeviceRecord], source: str = "the devices") -> DeviceMap:
    """The map of these records, validated as devices.yaml is; `DeviceMapError` lists why not.

    The entries keep the records' keys: a map read back from a file could
    otherwise name a shutter differently, and with it its device.
    """
    entries = [entry_of(record) for record in records]
    _check_keys(entries, source)
    device_map = DeviceMap(
        tuple(entry for entry in entries if isinstance(entry, LightEntry)),
        tuple(entry for entry in entries if isinstance(entry, SwitchEntry)),
        tuple(entry for entry in entries if isinstance(entry, CoverEntry)),
    )
    checked = parse_device_map(device_map_document(device_map), source)
    return DeviceMap(
        device_map.lights, device_map.switches, device_map.covers, warnings=checked.warnings
    )


def _check_keys(entries: list[DeviceEntry], source: str) -> None:
    """Every key names one device: a shutter's own key and its relays' keys count too."""
    owners: dict[str, str] = {}
    problems: list[str] = []
    for entry in entries:
        keys = [entry.key]
        if isinstance(entry, CoverEntry):
            keys += [key for key in (entry.up_key, entry.down_key) if key != entry.key]
        for key in keys:
            if (owner := owners.setdefault(key, entry.name)) is not entry.name:
                problems.append(f"{source}: the key {key} of {entry.name} is already {owner}'s")
    if problems:
        raise DeviceMapError(problems)


def check_record(
    records: Iterable[DeviceRecord], record: DeviceRecord, *, replacing: str | None = None
) -> list[RecordProblem]:
    """What stops `record` from joining `records` (the record with key `replacing` left out).

    Each problem names the field to show it at: an output another device
    uses, a relay on a dimmer module or a dimmer on a relay module, a
    shutter whose two relays are one output, and anything else the map's
    validation refuses (`INVALID_SETTING` at `base`, with its reason).
    """
    others = [other for other in records if other.key != replacing]
    try:
        entry_of(record)
    except DeviceMapError as err:
        return [RecordProblem("base", INVALID_SETTING, {"reason": "; ".join(err.problems)})]
    problems = _placement_problems(others, record)
    if problems:
        return problems
    try:
        device_map_of([*others, record])
    except DeviceMapError as err:
        return [RecordProblem("base", INVALID_SETTING, {"reason": "; ".join(err.problems)})]
    return []


def relay_keys(key: str) -> tuple[str, str]:
    """The keys of the up and down relays of a new shutter with `key`."""
    return f"{key}_up", f"{key}_down"


def new_key(records: Iterable[DeviceRecord], name: str) -> str:
    """A key for a new device named `name`: its name in lower case ASCII, unique in the map.

    A shutter's relays take the key with `_up` and `_down`, so those are
    kept free too.
    """
    taken = _taken_keys(records)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_") or "device"
    candidate, number = base, 1
    while {candidate, *relay_keys(candidate)} & taken:
        number += 1
        candidate = f"{base}_{number}"
    return candidate


def with_free_key(records: Sequence[DeviceRecord], record: DeviceRecord) -> DeviceRecord:
    """`record`, with a new key (and a shutter's relay keys after it) if any of its is taken.

    An imported device keeps its keys unless they name another device of the map.
    """
    if not _keys_of(record) & _taken_keys(records):
        return record
    key = new_key(records, record.title)
    data = {**record.data, KEY: key}
    if record.kind == KIND_SHUTTER:
        data |= dict(zip((UP_KEY, DOWN_KEY), relay_keys(key), strict=True))
    return DeviceRecord(record.kind, data)


def _keys_of(record: DeviceRecord) -> set[str]:
    """Every key a record holds: its own and, for a shutter, its relays'."""
    keys = {record.key}
    if record.kind == KIND_SHUTTER:
        keys.update((str(record.data[UP_KEY]), str(record.data[DOWN_KEY])))
    return keys


def _taken_keys(records: Iterable[DeviceRecord]) -> set[str]:
    return {key for record in records for key in _keys_of(record)}


def _placement_problems(others: list[DeviceRecord], record: DeviceRecord) -> list[RecordProblem]:
    used: dict[tuple[int, OutputAddress], DeviceRecord] = {}
    dimmer_modules: dict[tuple[int, int], DeviceRecord] = {}
    relay_modules: dict[tuple[int, int], DeviceRecord] = {}
    for other in others:
        for address in _addresses(other):
            used[bus_of(other), address] = other
            is_dimmer = other.kind == KIND_LIGHT and bool(other.data.get(DIMMABLE))
            modules = dimmer_modules if is_dimmer else relay_modules
            modules.setdefault((bus_of(other), address.module), other)
    bus = bus_of(record)
    fields = _address_fields(record.kind)
    problems: list[RecordProblem] = []
    addresses = _addresses(record)
    if record.kind == KIND_SHUTTER and addresses[0] == addresses[1]:
        problems.append(RecordProblem(DOWN_OUTPUT, SAME_RELAY))
    dimmer = record.kind == KIND_LIGHT and bool(record.data.get(DIMMABLE))
    for (module_field, output_field), address in zip(fields, addresses, strict=True):
        if (owner := used.get((bus, address))) is not None:
            problems.append(RecordProblem(output_field, OUTPUT_IN_USE, {"device": owner.title}))
        elif dimmer and (owner := relay_modules.get((bus, address.module))) is not None:
            problems.append(RecordProblem(module_field, MODULE_IS_RELAY, {"device": owner.title}))
        elif not dimmer and (owner := dimmer_modules.get((bus, address.module))) is not None:
            problems.append(RecordProblem(module_field, MODULE_IS_DIMMER, {"device": owner.title}))
    return problems


def bus_of(record: DeviceRecord) -> int:
    """The bus a record's outputs are on."""
    return int(record.data.get(BUS, DEFAULT_BUS))


def _addresses(record: DeviceRecord) -> list[OutputAddress]:
    data = record.data
    return [
        OutputAddress(int(data[module]), int(data[output]))
        for module, output in _address_fields(record.kind)
    ]


def _address_fields(kind: str) -> list[tuple[str, str]]:
    if kind == KIND_SHUTTER:
        return [(UP_MODULE, UP_OUTPUT), (DOWN_MODULE, DOWN_OUTPUT)]
    return [(MODULE, OUTPUT)]


def _first_address(kind: str, data: Mapping[str, Any]) -> tuple[int, int, int]:
    module, output = _address_fields(kind)[0]
    return int(data.get(BUS, DEFAULT_BUS)), int(data[module]), int(data[output])


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _name(record: DeviceRecord) -> str:
    return f"{record.kind} {record.data.get(NAME) or record.data.get(KEY) or '(unnamed)'}"
