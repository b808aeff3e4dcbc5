"""The device map: what each output of an installation is, read from devices.yaml.

The bus itself only knows 128 anonymous output bytes. Installers describe
which of them are lights, dimmers, sockets and shutter relays; a wrong
description switches the wrong relay, so the file is checked thoroughly and
every problem is reported at once, each naming the file, the key path and
the reason. A file with any problem never yields a partial map.

Files written for the other public IPCom integration load too: what this
map does not use (sections, settings, a `type` it does not know) is not a
problem but a warning on the map, so a switch-over never loses a working
setup. Only what would drive the wrong hardware is refused.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import voluptuous as vol
import yaml

from .errors import IPComError
from .models import OutputAddress
from .protocol import BUSES, DEFAULT_BUS, MODULE_COUNT, OUTPUTS_PER_MODULE

MAX_TRAVEL_TIME: Final = 300.0
"""Seconds; no shutter takes five minutes, so a larger value is a typo."""
MIN_REVERSE_PAUSE: Final = 0.0
MAX_REVERSE_PAUSE: Final = 5.0
"""Seconds a shutter motor may be given to rest before it turns the other way."""

LIGHTS: Final = "lights"
SHUTTERS: Final = "shutters"
SWITCHES: Final = "switches"
SECTIONS: Final = (LIGHTS, SHUTTERS, SWITCHES)

TYPE_SWITCH: Final = "switch"
TYPE_LIGHT: Final = "light"
TYPE_DIMMER: Final = "dimmer"
ROLE_UP: Final = "up"
ROLE_DOWN: Final = "down"

SWITCH_DEVICE_CLASSES: Final = ("outlet", "switch")
"""What a switch may be (`device_class`); Home Assistant's switch device classes."""
COVER_DEVICE_CLASSES: Final = ("shutter", "blind", "awning", "curtain", "garage", "shade")
"""What a shutter may be (`device_class`): the cover device classes that a relay pair drives."""
DEFAULT_COVER_DEVICE_CLASS: Final = "shutter"

_TRAVEL_UP: Final = ("travel_time", "travel_time_up")
_TRAVEL_DOWN: Final = ("travel_time", "travel_time_down")
_DIRECTION_WORDS: Final = ("up", "down", "op", "neer", "omhoog", "omlaag", "open", "close")
_KEY_SUFFIX: Final = re.compile(rf"[_\-]({'|'.join(_DIRECTION_WORDS)})$", re.IGNORECASE)
_NAME_SUFFIX: Final = re.compile(rf"[\s\-:,(]+({'|'.join(_DIRECTION_WORDS)})\)?\s*$", re.IGNORECASE)
_UP_LETTER: Final = re.compile(r"\s+[mu]$", re.IGNORECASE)
_DOWN_LETTER: Final = re.compile(r"\s+d$", re.IGNORECASE)
"""`Rolluik keuken M` (monter, up) / `... D`: relay names in the other integration's files."""


class DeviceMapError(IPComError, ValueError):
    """A device map that cannot be used, with every problem found in it.

    Each entry of `problems` reads ``<file>: <key path>: <reason>``.
    `warnings` are what the file would be warned about once its problems are
    fixed (found in the same reading), so that one report names everything;
    the message is the problems alone.
    """

    def __init__(self, problems: list[str], *, warnings: Iterable[DeviceMapWarning] = ()) -> None:
        self.problems = list(dict.fromkeys(problems))
        self.warnings = tuple(warnings)
        super().__init__("\n".join(self.problems))


class DeviceMapNotFoundError(DeviceMapError):
    """The devices file does not exist; `path` is where it was looked for."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__([f"{path}: file not found"])


@dataclass(frozen=True, slots=True)
class DeviceMapWarning:
    """Something in the file that is not used, or read differently than written."""

    source: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LightEntry:
    """A lamp on a relay output, or on a dimmer output when `dimmable`."""

    key: str
    name: str
    module: int
    output: int
    dimmable: bool
    description: str | None = None
    area: str | None = None
    icon: str | None = None
    bus: int = DEFAULT_BUS

    @property
    def address(self) -> OutputAddress:
        """Where the lamp sits on its bus."""
        return OutputAddress(self.module, self.output)


@dataclass(frozen=True, slots=True)
class SwitchEntry:
    """A relay output that is not a light: a socket, a pump, a fan."""

    key: str
    name: str
    module: int
    output: int
    description: str | None = None
    area: str | None = None
    icon: str | None = None
    device_class: str | None = None
    """One of `SWITCH_DEVICE_CLASSES`; None leaves the kind of switch unsaid."""
    bus: int = DEFAULT_BUS

    @property
    def address(self) -> OutputAddress:
        """Where the relay sits on its bus."""
        return OutputAddress(self.module, self.output)


@dataclass(frozen=True, slots=True)
class CoverEntry:
    """A shutter driven by two relays: energising both at once harms the motor."""

    key: str
    name: str
    up: OutputAddress
    down: OutputAddress
    up_key: str
    down_key: str
    travel_time_up: float | None = None
    travel_time_down: float | None = None
    area: str | None = None
    description: str | None = None
    icon: str | None = None
    device_class: str = DEFAULT_COVER_DEVICE_CLASS
    """One of `COVER_DEVICE_CLASSES`."""
    bus: int = DEFAULT_BUS
    """Both relays are on this bus: one connection switches them, in order."""
    reverse_pause: float | None = None
    """Seconds this motor rests before it turns the other way; None: the installation's default."""

    @property
    def same_module(self) -> bool:
        """Whether one bus write can set both relays (the interlock is then atomic)."""
        return self.up.module == self.down.module


DeviceEntry = LightEntry | SwitchEntry | CoverEntry


@dataclass(frozen=True)
class DeviceMap:
    """The typed view of a devices.yaml, with look-ups by key and by address.

    Build it with `load_device_map` or `parse_device_map`, which validate; the
    constructor trusts its arguments. `get` also finds a cover by the key of
    either of its relay entries, because those are the keys installers wrote.
    `warnings` lists what the file holds that the map does not use.
    """

    lights: tuple[LightEntry, ...] = ()
    switches: tuple[SwitchEntry, ...] = ()
    covers: tuple[CoverEntry, ...] = ()
    warnings: tuple[DeviceMapWarning, ...] = field(default=(), compare=False)
    _by_key: dict[str, DeviceEntry] = field(init=False, repr=False, compare=False)
    _by_address: dict[tuple[int, OutputAddress], DeviceEntry] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_key: dict[str, DeviceEntry] = {}
        by_address: dict[tuple[int, OutputAddress], DeviceEntry] = {}
        devices: list[LightEntry | SwitchEntry] = [*self.lights, *self.switches]
        for device in devices:
            by_key[device.key] = device
            by_address[device.bus, device.address] = device
        for cover in self.covers:
            for key in (cover.up_key, cover.down_key, cover.key):
                by_key[key] = cover
            by_address[cover.bus, cover.up] = cover
            by_address[cover.bus, cover.down] = cover
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_by_address", by_address)

    def __iter__(self) -> Iterator[DeviceEntry]:
        """Every device: lights, then switches, then covers, in file order."""
        yield from self.lights
        yield from self.switches
        yield from self.covers

    def __len__(self) -> int:
        return len(self.lights) + len(self.switches) + len(self.covers)

    def get(self, key: str) -> DeviceEntry | None:
        """The device with this key (a cover also answers to its relay keys)."""
        return self._by_key.get(key)

    def at(self, module: int, output: int, *, bus: int = DEFAULT_BUS) -> DeviceEntry | None:
        """The device wired to this output of `bus`, if the map names one."""
        return self._by_address.get((bus, OutputAddress(module, output)))

    def buses(self) -> tuple[int, ...]:
        """The buses the map has devices on, sorted; bus 1 only for a file without buses."""
        return tuple(sorted({bus for bus, _ in self._by_address}))

    def dimmer_modules(self, bus: int = DEFAULT_BUS) -> frozenset[int]:
        """Modules of `bus` that are dimmer modules: their outputs read 0..100, not 0/255."""
        return frozenset(
            light.module for light in self.lights if light.dimmable and light.bus == bus
        )

    def modules(self, bus: int = DEFAULT_BUS) -> tuple[int, ...]:
        """The modules of `bus` the map uses, sorted."""
        return tuple(sorted({address.module for address in self.outputs(bus)}))

    def outputs(self, bus: int = DEFAULT_BUS) -> tuple[OutputAddress, ...]:
        """Every mapped output of `bus` (both relays of each cover), sorted."""
        return tuple(sorted(address for on, address in self._by_address if on == bus))


def load_device_map(path: str | os.PathLike[str]) -> DeviceMap:
    """Read and validate a devices.yaml; raise `DeviceMapError` naming every problem."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeviceMapNotFoundError(source) from None
    except IsADirectoryError:
        raise DeviceMapError([f"{source}: is a directory, not a file"]) from None
    except UnicodeDecodeError:
        raise DeviceMapError([f"{source}: is not UTF-8 text"]) from None
    except OSError as err:
        raise DeviceMapError([f"{source}: cannot be read: {err.strerror}"]) from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as err:
        raise DeviceMapError([_describe_yaml_error(source, err)]) from None
    except yaml.YAMLError as err:
        raise DeviceMapError([f"{source}: invalid YAML: {err}"]) from None
    except ValueError:
        raise DeviceMapError(
            [f"{source}: invalid YAML: a number is too long to read (more than 4300 digits)"]
        ) from None
    return parse_device_map(document, source)


def parse_device_map(document: object, source: str) -> DeviceMap:
    """Validate an already loaded document; `source` names it in problems."""
    return _Parser(source).parse(document)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping.

    Plain YAML keeps the last of two equal keys, which would silently drop a
    device that an installer copied and forgot to rename.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    problem=f"the key {_show(key)} appears twice in the same mapping",
                    problem_mark=key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _describe_yaml_error(source: str, err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = err.problem or "cannot be parsed"
    context = ""
    if err.context and err.context_mark is not None and err.context_mark is not mark:
        context = f" ({err.context} that starts on line {err.context_mark.line + 1})"
    elif err.context:
        context = f" ({err.context})"
    return f"{source}: {where}invalid YAML: {problem}{context}"


def _whole_number(low: int, high: int) -> Callable[[object], int]:
    def validate(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"must be a whole number {low}..{high}, got {_show(value)}")
        if not low <= value <= high:
            raise vol.Invalid(f"must be {low}..{high}, got {_show(value)}")
        return value

    return validate


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"must be text, got {_show(value)}")
    if not value.strip():
        raise vol.Invalid("must not be empty")
    return value.strip()


def _optional_text(value: object) -> str | None:
    """For labels that existing files often leave empty; empty means not given."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise vol.Invalid(f"must be text, got {_show(value)}")
    return value.strip() or None


def _one_of(*choices: str, what: str) -> Callable[[object], str]:
    """Case-insensitive: files of the other integration write `Dimmer` or `UP`."""

    def validate(value: object) -> str:
        word = value.strip().lower() if isinstance(value, str) else value
        if word not in choices:
            raise vol.Invalid(f"unknown {what} {_show(value)}; expected {_either(choices)}")
        return str(word)

    return validate


def _type(value: object) -> str:
    """Any text: a type this map does not know is a warning, never a refusal."""
    if not isinstance(value, str):
        raise vol.Invalid(f"must be text, got {_show(value)}")
    return value.strip().lower()


def _icon(value: object) -> str:
    """Checked in `_known_settings`, which drops an invalid icon with a warning."""
    return str(value).strip()


_ICON: Final = re.compile(r"[a-z0-9_-]+:[a-z0-9_-]+")


def _travel_time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid(f"must be a number of seconds, got {_show(value)}")
    if not 0 < value <= MAX_TRAVEL_TIME:
        raise vol.Invalid(
            f"must be more than 0 and at most {MAX_TRAVEL_TIME:g} seconds, got {_show(value)}"
        )
    return float(value)


def _reverse_pause(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not MIN_REVERSE_PAUSE <= value <= MAX_REVERSE_PAUSE
    ):
        raise vol.Invalid(
            f"must be {MIN_REVERSE_PAUSE:g} to {MAX_REVERSE_PAUSE:g} seconds, got {_show(value)}"
        )
    return float(value)


def _either(choices: tuple[str, ...]) -> str:
    if len(choices) == 1:
        return choices[0]
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


def _required(key: str) -> vol.Required:
    return vol.Required(key, msg="is required")


def _entry_schema(settings: dict[Any, Callable[[object], Any]]) -> vol.Schema:
    """Unknown settings are dropped here; `_read_entry` reports them as warnings."""
    return vol.Schema(settings, extra=vol.REMOVE_EXTRA)


_ADDRESS: Final[dict[Any, Callable[[object], Any]]] = {
    vol.Optional("bus", default=DEFAULT_BUS): _whole_number(BUSES[0], BUSES[-1]),
    _required("module"): _whole_number(1, MODULE_COUNT),
    _required("output"): _whole_number(1, OUTPUTS_PER_MODULE),
}
_LABELS: Final[dict[Any, Callable[[object], Any]]] = {
    vol.Optional("display_name"): _optional_text,
    vol.Optional("description"): _optional_text,
    vol.Optional("area"): _optional_text,
    vol.Optional("icon"): _icon,
}

_SCHEMAS: Final = {
    LIGHTS: _entry_schema(
        {**_ADDRESS, vol.Optional("type", default=TYPE_SWITCH): _type, **_LABELS}
    ),
    SWITCHES: _entry_schema(
        {
            **_ADDRESS,
            vol.Optional("type", default=TYPE_SWITCH): _type,
            vol.Optional("device_class"): _one_of(*SWITCH_DEVICE_CLASSES, what="device_class"),
            **_LABELS,
        }
    ),
    SHUTTERS: _entry_schema(
        {
            **_ADDRESS,
            vol.Optional("type", default=TYPE_SWITCH): _type,
            _required("relay_role"): _one_of(ROLE_UP, ROLE_DOWN, what="relay_role"),
            vol.Required(
                "paired_device", msg="is required: the key of the shutter's other relay"
            ): _text,
            vol.Optional("travel_time"): _travel_time,
            vol.Optional("travel_time_up"): _travel_time,
            vol.Optional("travel_time_down"): _travel_time,
            vol.Optional("cover_name"): _text,
            vol.Optional("reverse_pause"): _reverse_pause,
            vol.Optional("device_class"): _one_of(*COVER_DEVICE_CLASSES, what="device_class"),
            **_LABELS,
        }
    ),
}


@dataclass(slots=True)
class _Entry:
    """One device entry that passed its own schema."""

    section: str
    key: str
    path: str
    data: dict[str, Any]
    dimmer: bool = False

    @property
    def address(self) -> OutputAddress:
        return OutputAddress(self.data["module"], self.data["output"])

    @property
    def bus(self) -> int:
        bus: int = self.data["bus"]
        return bus


class _ShortRepr(reprlib.Repr):
    """Reprs of values read from the file, cut short.

    A hostile or broken file must not turn a problem message into megabytes
    (a YAML alias bomb) or into a crash (Python refuses to print integers of
    more than 4300 digits, and the standard `repr_int` does not guard that).
    """

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _MAX_SHOWN_INT_BITS:
            return f"<a whole number of {x.bit_length()} bits>"
        return repr(x)


_MAX_SHOWN_INT_BITS: Final = 128
_SHORT_REPR: Final = _ShortRepr(
    maxlevel=2, maxtuple=4, maxlist=4, maxdict=4, maxset=4, maxstring=60, maxother=60
)


def _show(value: object) -> str:
    """A value from the file as a problem message shows it: short, never failing."""
    if isinstance(value, float):
        return f"{value:g}"
    return _SHORT_REPR.repr(value)


def _show_key(key: object) -> str:
    """A key path segment: text as written, anything else as `_show` renders it."""
    return key if isinstance(key, str) else _show(key)


def _on_bus(bus: int) -> str:
    """`bus 2 ` before a module in a message; nothing for bus 1, which files without buses mean."""
    return "" if bus == DEFAULT_BUS else f"bus {bus} "


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_icon(value: object) -> bool:
    return isinstance(value, str) and _ICON.fullmatch(value.strip()) is not None


def _pretty(key: str) -> str:
    """A display name for an entry that has none: `living_room` -> `Living room`."""
    words = re.sub(r"[_\-]+", " ", key).strip()
    return words[:1].upper() + words[1:] if words else key


def _shared_name(up: str | None, down: str | None) -> str | None:
    """The shutter's name from its relays' names, without the direction word.

    Names that end in a direction letter each (`... M` or `... U`, and
    `... D`) lose it only when that makes them equal.
    """
    if up is None or down is None:
        given = up or down
        return None if given is None else _NAME_SUFFIX.sub("", given).strip()
    if up == down:
        return up
    stripped = _NAME_SUFFIX.sub("", up).strip()
    if _NAME_SUFFIX.sub("", down).strip() != stripped:
        up_bare, down_bare = _UP_LETTER.sub("", up), _DOWN_LETTER.sub("", down)
        if up_bare != up and up_bare == down_bare:
            return up_bare.strip()
    return stripped


class _Parser:
    """Collects every problem of one document, then builds the map or raises."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._problems: list[str] = []
        self._warnings: list[DeviceMapWarning] = []
        self._entries: dict[str, list[_Entry]] = {section: [] for section in SECTIONS}
        self._owners: dict[str, str] = {}
        self._broken: set[str] = set()

    def _problem(self, path: str, reason: str) -> None:
        self._problems.append(f"{self._source}: {path}: {reason}")

    def _warning(self, path: str, reason: str) -> None:
        self._warnings.append(DeviceMapWarning(self._source, path, reason))

    def parse(self, document: object) -> DeviceMap:
        if document is None:
            self._problems.append(
                f"{self._source}: the file is empty; expected {_either(SECTIONS)} sections"
            )
        elif not isinstance(document, Mapping):
            self._problems.append(
                f"{self._source}: expected a mapping with {_either(SECTIONS)} sections, "
                f"got {type(document).__name__}"
            )
        else:
            self._read_sections(document)
            device_map = self._build()
            if not self._problems:
                return device_map
        raise DeviceMapError(self._problems, warnings=self._warnings)

    def _read_sections(self, document: Mapping[Any, Any]) -> None:
        for name, section in document.items():
            if name not in SECTIONS:
                self._warning(
                    _show_key(name),
                    f"section not used, ignored; this integration reads {_either(SECTIONS)}",
                )
            elif section is None:
                continue
            elif not isinstance(section, Mapping):
                self._problem(
                    name, f"must map device keys to their settings, got {type(section).__name__}"
                )
            else:
                for key, settings in section.items():
                    self._read_entry(name, key, settings)

    def _read_entry(self, section: str, key: object, settings: object) -> None:
        path = f"{section}.{_show_key(key)}"
        if not isinstance(key, str) or not key.strip():
            self._problem(path, f"a device key must be text, got {_show(key)}")
            return
        if key in self._owners:
            self._problem(
                path, f"the key {key} is already used by {self._owners[key]}; keys must be unique"
            )
            return
        self._owners[key] = path
        if not isinstance(settings, Mapping):
            self._problem(
                path, f"must be a mapping of settings (module, output, ...), got {_show(settings)}"
            )
            self._broken.add(key)
            return
        settings = self._known_settings(section, path, settings)
        try:
            data = _SCHEMAS[section](settings)
        except vol.MultipleInvalid as err:
            order = [*map(str, settings), *map(str, _SCHEMAS[section].schema)]
            for error in sorted(err.errors, key=lambda error: order.index(str(error.path[0]))):
                self._problem(".".join([path, *map(str, error.path)]), error.msg)
            self._broken.add(key)
            return
        entry = _Entry(section, key, path, data, dimmer=self._is_dimmer(section, path, data))
        if "travel_time" in data and ("travel_time_up" in data or "travel_time_down" in data):
            self._problem(
                f"{path}.travel_time",
                "give either travel_time or travel_time_up/travel_time_down, not both",
            )
            self._broken.add(key)
            return
        self._entries[section].append(entry)

    def _known_settings(
        self, section: str, path: str, settings: Mapping[Any, Any]
    ) -> dict[Any, Any]:
        """The settings this map reads; the others become warnings.

        An invalid icon is only cosmetic, so it is dropped with a warning too.
        An empty `device_class` means not given, as the other integration
        read it; so does `icon: null`.
        """
        known = {str(marker) for marker in _SCHEMAS[section].schema}
        kept: dict[Any, Any] = {}
        for name, value in settings.items():
            if name == "device_class" and section == LIGHTS:
                self._warning(
                    f"{path}.device_class",
                    "setting not used, ignored: lights have no device class in Home Assistant",
                )
            elif name not in known:
                self._warning(f"{path}.{_show_key(name)}", "setting not used, ignored")
            elif name == "device_class" and _is_empty(value):
                continue
            elif name == "icon" and value is not None and not _is_icon(value):
                self._warning(
                    f"{path}.icon", f"not an icon such as mdi:lightbulb, ignored: {_show(value)}"
                )
            elif name != "icon" or value is not None:
                kept[name] = value
        return kept

    def _is_dimmer(self, section: str, path: str, data: dict[str, Any]) -> bool:
        """Whether a light has `type: dimmer`; any other type is a relay output.

        Types are only read for lights: switches and shutter relays are relay
        outputs whatever the file says, and a type this map does not know is
        read as a relay output, as the other integration did.
        """
        kind = data["type"]
        relay_types = (TYPE_SWITCH, TYPE_LIGHT) if section == LIGHTS else (TYPE_SWITCH,)
        if kind == TYPE_DIMMER and section == LIGHTS:
            return True
        if kind not in relay_types:
            self._warning(
                f"{path}.type",
                f"type {_show(kind)} is not used here, read as an on/off light "
                f"(a relay output); expected {_either((*relay_types, TYPE_DIMMER))}"
                if section == LIGHTS
                else f"type {_show(kind)} is not used here: {section} are relay outputs",
            )
        return False

    def _all_entries(self) -> list[_Entry]:
        return [entry for section in SECTIONS for entry in self._entries[section]]

    def _check_addresses(self) -> None:
        used: dict[tuple[int, OutputAddress], _Entry] = {}
        for entry in self._all_entries():
            first = used.setdefault((entry.bus, entry.address), entry)
            if first is not entry:
                self._problem(
                    entry.path,
                    f"{_on_bus(entry.bus)}module {entry.address.module} "
                    f"output {entry.address.output} is already used by {first.path}",
                )

    def _check_module_kinds(self) -> None:
        """A module with relay entries is a relay module: its dimmers switch on and off.

        A bus module is either an EXO 8 (relays, 0/255) or an EXO DIM (levels
        0..100). Files of the other integration mix the two on one module,
        because there `type: dimmer` only gave the entity a brightness (its
        generator writes it for a dimmable widget on a relay module). Reading
        such a module as a relay module writes only 0 and 255, which every
        relay output takes; percent levels would be a guess at hardware the
        file does not describe.
        """
        relays: dict[tuple[int, int], list[str]] = {}
        for entry in self._all_entries():
            if not entry.dimmer:
                relays.setdefault((entry.bus, entry.address.module), []).append(entry.path)
        for entry in self._all_entries():
            module = entry.address.module
            if entry.dimmer and (entry.bus, module) in relays:
                entry.dimmer = False
                others = ", ".join(relays[entry.bus, module])
                self._warning(
                    f"{entry.path}.type",
                    f"{_on_bus(entry.bus)}module {module} also has relay outputs ({others}), "
                    "so it is a relay module and this light only switches on and off; if "
                    f"module {module} is a dimmer module, give all of its lights type: dimmer "
                    "and move its other entries to the module they are wired to",
                )

    def _pairs(self) -> list[tuple[_Entry, _Entry]]:
        """Shutter entries that name each other, with opposite roles, as (up, down)."""
        shutters = {entry.key: entry for entry in self._entries[SHUTTERS]}
        pairs: list[tuple[_Entry, _Entry]] = []
        done: set[str] = set()
        for entry in self._entries[SHUTTERS]:
            target = entry.data["paired_device"]
            where = f"{entry.path}.paired_device"
            other = shutters.get(target)
            if target == entry.key:
                self._problem(where, "a shutter relay cannot be paired with itself")
            elif other is None:
                if target in self._broken:
                    continue
                if target in self._owners:
                    self._problem(where, f"{target} is {self._owners[target]}, not a shutter")
                else:
                    self._problem(where, f"no shutter entry named {target}")
            elif other.data["paired_device"] != entry.key:
                self._problem(
                    where,
                    f"{target} is paired with {other.data['paired_device']}, "
                    f"not back with {entry.key}",
                )
            elif entry.key not in done:
                done.update((entry.key, target))
                role = entry.data["relay_role"]
                if entry.bus != other.bus:
                    self._problem(
                        f"{entry.path}.bus",
                        f"{entry.key} is on bus {entry.bus} and {target} on bus {other.bus}; "
                        "a shutter's relays must be on one bus",
                    )
                elif role == other.data["relay_role"]:
                    self._problem(
                        f"{entry.path}.relay_role",
                        f"{entry.key} and {target} are both {role}; "
                        "one relay must be up and the other down",
                    )
                else:
                    pairs.append((entry, other) if role == ROLE_UP else (other, entry))
        return pairs

    def _agreed(self, name: str, sources: list[tuple[_Entry, str]]) -> Any:
        """One cover setting that may be given on either relay entry, but consistently."""
        given = [(entry, entry.data[key], key) for entry, key in sources if key in entry.data]
        if not given:
            return None
        first_entry, value, first_key = given[0]
        for entry, other, key in given[1:]:
            if other != value:
                self._problem(
                    f"{entry.path}.{key}",
                    f"{_show(other)} conflicts with {first_entry.path}.{first_key} = "
                    f"{_show(value)}; "
                    f"the shutter's {name} must be the same on both relays",
                )
        return value

    def _cover_key(self, up: _Entry, down: _Entry, cover_keys: set[str]) -> str:
        """`living_up` -> `living`; the up key itself when that is taken or has no suffix."""
        for candidate in (up.key, down.key):
            stripped = _KEY_SUFFIX.sub("", candidate)
            if stripped != candidate and stripped:
                taken = stripped in cover_keys or (
                    stripped in self._owners and stripped not in (up.key, down.key)
                )
                return up.key if taken else stripped
        return up.key

    def _cover(self, up: _Entry, down: _Entry, cover_keys: set[str]) -> CoverEntry:
        key = self._cover_key(up, down, cover_keys)
        cover_keys.add(key)
        name = self._agreed("name", [(up, "cover_name"), (down, "cover_name")])
        if name is None:
            name = _shared_name(up.data.get("display_name"), down.data.get("display_name"))
        pair = (up, down)
        return CoverEntry(
            key=key,
            name=name or _pretty(key),
            up=up.address,
            down=down.address,
            bus=up.bus,
            up_key=up.key,
            down_key=down.key,
            travel_time_up=self._agreed(
                "travel time", [(entry, name) for entry in pair for name in _TRAVEL_UP]
            ),
            travel_time_down=self._agreed(
                "travel time", [(entry, name) for entry in pair for name in _TRAVEL_DOWN]
            ),
            area=self._agreed("area", [(up, "area"), (down, "area")]),
            device_class=self._agreed(
                "device class", [(up, "device_class"), (down, "device_class")]
            )
            or DEFAULT_COVER_DEVICE_CLASS,
            reverse_pause=self._agreed(
                "reversal pause", [(up, "reverse_pause"), (down, "reverse_pause")]
            ),
            description=up.data.get("description") or down.data.get("description"),
            icon=up.data.get("icon") or down.data.get("icon"),
        )

    def _build(self) -> DeviceMap:
        self._check_addresses()
        self._check_module_kinds()
        pairs = self._pairs()
        lights = tuple(
            LightEntry(
                key=entry.key,
                name=entry.data.get("display_name") or _pretty(entry.key),
                module=entry.address.module,
                output=entry.address.output,
                dimmable=entry.dimmer,
                bus=entry.bus,
                description=entry.data.get("description"),
                area=entry.data.get("area"),
                icon=entry.data.get("icon"),
            )
            for entry in self._entries[LIGHTS]
        )
        switches = tuple(
            SwitchEntry(
                key=entry.key,
                name=entry.data.get("display_name") or _pretty(entry.key),
                module=entry.address.module,
                output=entry.address.output,
                bus=entry.bus,
                description=entry.data.get("description"),
                area=entry.data.get("area"),
                icon=entry.data.get("icon"),
                device_class=entry.data.get("device_class"),
            )
            for entry in self._entries[SWITCHES]
        )
        cover_keys: set[str] = set()
        covers = tuple(self._cover(up, down, cover_keys) for up, down in pairs)
        return DeviceMap(lights, switches, covers, warnings=tuple(self._warnings))
