"""From a site's configuration to `ImportedInstallation`s: connection settings and devices.

Each IPCom of the site becomes an installation: its addresses, the type of
each bus, its own login, and a device map in devices.yaml's format, built
from its modules' output names and the graphic type of each map element
(lights, switches, shutters paired from their up and down relays). What is
guessed or left out is said in `warnings`, one sentence each.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..devices import (
    LIGHTS,
    ROLE_DOWN,
    ROLE_UP,
    SHUTTERS,
    SWITCHES,
    TYPE_DIMMER,
    TYPE_LIGHT,
    DeviceMap,
    DeviceMapError,
    parse_device_map,
)
from ..messages import validate_credentials
from ..protocol import BUSES, DEFAULT_BUS, MODULE_COUNT, OUTPUTS_PER_MODULE, BusType
from .errors import AccountNoIPComError, AccountResponseError
from .shown import shown
from .soap import AccountIPCom, AccountSite, MapElement, SiteConfiguration

MODULE_RELAY: Final = "exo8"
"""`FlashOutputModule.Type` of a relay module (EXO 8), compared without regard to case."""
MODULE_DIMMER: Final = "exodim"
"""`FlashOutputModule.Type` of a dimmer module (EXO DIM)."""
MODULE_SHUTTER: Final = "exostore"
"""`FlashOutputModule.Type` of a shutter module (EXO STORE): relays in pairs, odd ones down."""

LIGHT_GRAPHICS: Final[Mapping[str, str | None]] = {
    "OutputLightBulb": None,
    "OutputLightBulbEconomic": "mdi:lightbulb-fluorescent-tube",
    "OutputButtonLedYellow": "mdi:led-on",
}
"""Graphic types drawn as a lamp, with the icon the other integration gave them."""
OUTLET_GRAPHICS: Final = frozenset({"OutputSocket"})
"""Graphic types drawn as a socket: a switch with device class outlet."""
APPLIANCE_GRAPHICS: Final[Mapping[str, str]] = {
    "OutputTelevision": "mdi:television",
    "OutputWashMachine": "mdi:washing-machine",
    "OutputDishWasher": "mdi:dishwasher",
    "OutputCoffeeMachine": "mdi:coffee-maker",
    "OutputMicrowaveOven": "mdi:microwave",
    "OutputOven": "mdi:stove",
    "OutputHeater": "mdi:radiator",
    "OutputElectricHeater": "mdi:radiator",
    "OutputBoiler": "mdi:water-boiler",
    "OutputAirConditionner": "mdi:air-conditioner",
    "OutputDoorOpen": "mdi:door-open",
    "OutputDoorClose": "mdi:door-closed",
    "OutputLock": "mdi:lock",
}
"""Graphic types drawn as an appliance: a plain switch with the other integration's icon."""
SHUTTER_GRAPHICS: Final[Mapping[str, tuple[str, str]]] = {
    "OutputShutterUp": (ROLE_UP, "shutter"),
    "OutputShutterDown": (ROLE_DOWN, "shutter"),
    "OutputBlindUp": (ROLE_UP, "blind"),
    "OutputBlindDown": (ROLE_DOWN, "blind"),
}
"""Graphic types drawn as one relay of a shutter: its role and the cover's device class."""

_BUS_TYPES: Final[Mapping[str, BusType]] = {"minido": BusType.MINIDO, "bibus": BusType.BIBUS}
"""`FlashIPCom.Bus1`/`Bus2` values, compared without regard to case (assumed spellings)."""
_NO_BUS: Final = frozenset({"", "none"})
"""`Bus2` of an installation with one bus; "None" is the other integration's default."""
_DIRECTION_SUFFIX: Final = re.compile(
    r"[\s_\-:,(]+(up|down|op|neer|omhoog|omlaag|open|close|monter|descendre|m|u|d)\)?\s*$",
    re.IGNORECASE,
)
"""A relay name's direction: `Kitchen up`, `Rolluik keuken M`, `Bureau_D`."""


@dataclass(frozen=True)
class ImportedInstallation:
    """One IPCom of a site, ready to connect to and to describe with a device map.

    `devices` is a devices.yaml document (`lights`, `switches`, `shutters`);
    `device_map` is that document validated by `parse_device_map`.
    `warnings` lists what was guessed or left out, one sentence each.

    The answer as known carries neither a TriCom flag nor a serial number:
    `tricom` is always False (the user must say when it is one, and a
    TriCom's remote login then needs its serial number), and
    `registration_id` is only what the service calls it, not known to be
    that serial number. `username` and `password` are the IPCom's own login
    (None when the service gives none); the password is not in the repr.
    """

    site_id: int
    site_name: str
    name: str
    host: str | None
    port: int
    remote_host: str | None
    remote_port: int
    bus_types: Mapping[int, BusType]
    username: str | None
    password: str | None = field(repr=False)
    devices: dict[str, dict[str, dict[str, Any]]] = field(repr=False)
    device_map: DeviceMap = field(repr=False, compare=False)
    tricom: bool = False
    registration_id: str | None = None
    ipcom_id: int = 0
    warnings: tuple[str, ...] = ()


def import_installations(
    site: AccountSite, configuration: SiteConfiguration
) -> tuple[ImportedInstallation, ...]:
    """One `ImportedInstallation` per IPCom of the site; `AccountNoIPComError` when it has none."""
    if not configuration.ipcoms:
        raise AccountNoIPComError(f"the site {shown(site.name)} has no IPCom to import")
    several = len(configuration.ipcoms) > 1
    installations = []
    for ipcom in configuration.ipcoms:
        # The other integration uses every map element whatever its ElementID; with
        # several IPComs, only those of this IPCom are its outputs.
        elements = [
            element
            for element in configuration.map_elements
            if not several or element.element_id == ipcom.id
        ]
        installations.append(_import(site, ipcom, elements))
    return tuple(installations)


def _import(
    site: AccountSite, ipcom: AccountIPCom, elements: list[MapElement]
) -> ImportedInstallation:
    warnings: list[str] = []
    bus_types = _read_bus_types(ipcom, warnings)
    devices = _DeviceBuilder(ipcom, elements, warnings).build()
    if any(bus not in bus_types for bus in _document_buses(devices)):
        warnings.append(
            "there are devices on bus 2, but the service gives no type for bus 2: "
            "give the second bus's type (minido, bibus or other) when connecting"
        )
    source = f"the Home Anywhere site {shown(site.name)}"
    try:
        device_map = parse_device_map(devices, source)
    except DeviceMapError as err:
        raise AccountResponseError(
            f"the site's configuration gives a device map that does not load: {err.problems[0]}"
        ) from None
    warnings.extend(str(warning) for warning in device_map.warnings)
    username = ipcom.username or None
    password = ipcom.password or None
    if username is None or password is None:
        warnings.append("the service gives no username or password for the IPCom: enter them")
    else:
        try:
            validate_credentials(username, password)
        except ValueError as err:
            warnings.append(f"the IPCom's login from the service cannot be used: {err}")
    if not ipcom.local_host:
        warnings.append("the service gives no local address for the IPCom")
    if not len(device_map):
        warnings.append("the site's configuration names no outputs: the device map is empty")
    return ImportedInstallation(
        site_id=site.id,
        site_name=site.name,
        name=ipcom.name or f"IPCom {ipcom.id}",
        host=ipcom.local_host or None,
        port=ipcom.local_port,
        remote_host=ipcom.remote_host or None,
        remote_port=ipcom.remote_port,
        bus_types=bus_types,
        username=username,
        password=password,
        devices=devices,
        device_map=device_map,
        registration_id=ipcom.registration_id or None,
        ipcom_id=ipcom.id,
        warnings=tuple(warnings),
    )


def _read_bus_types(ipcom: AccountIPCom, warnings: list[str]) -> dict[int, BusType]:
    """Bus 1 always (Minido, the client's default, when the service names none); bus 2 if named."""
    bus_types: dict[int, BusType] = {}
    for bus, text in ((1, ipcom.bus1), (2, ipcom.bus2)):
        word = text.strip().lower()
        if word in _NO_BUS:
            if bus == DEFAULT_BUS:
                warnings.append(
                    f"the service gives no type for bus 1 ({shown(text)}): "
                    f"assumed {BusType.MINIDO.value}, the usual one"
                )
                bus_types[bus] = BusType.MINIDO
        elif word in _BUS_TYPES:
            bus_types[bus] = _BUS_TYPES[word]
        else:
            warnings.append(
                f"bus {bus}'s type {shown(text)} is neither Minido nor BiBus: read as "
                f"{BusType.OTHER.value}; check it"
            )
            bus_types[bus] = BusType.OTHER
    return bus_types


def _document_buses(devices: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> set[int]:
    return {
        entry.get("bus", DEFAULT_BUS) for section in devices.values() for entry in section.values()
    }


@dataclass
class _Output:
    """One output the configuration names, by a module's output name or a map element."""

    bus: int
    module: int
    output: int
    output_name: str = ""
    module_type: str | None = None
    element: MapElement | None = None

    @property
    def name(self) -> str:
        if self.element is not None and self.element.name:
            return self.element.name
        return self.output_name or f"Output {self.where}"

    @property
    def where(self) -> str:
        bus = "" if self.bus == DEFAULT_BUS else f"bus {self.bus} "
        return f"{bus}module {self.module} output {self.output}"


@dataclass
class _Relay:
    """A shutter relay waiting for its pair."""

    output: _Output
    role: str
    device_class: str


class _DeviceBuilder:
    """Builds the devices.yaml document of one IPCom; what it guesses goes to `warnings`."""

    def __init__(self, ipcom: AccountIPCom, elements: list[MapElement], warnings: list[str]):
        self._ipcom = ipcom
        self._elements = elements
        self._warnings = warnings
        self._keys: set[str] = set()
        self._lights: dict[str, dict[str, Any]] = {}
        self._switches: dict[str, dict[str, Any]] = {}
        self._shutters: dict[str, dict[str, Any]] = {}

    def build(self) -> dict[str, dict[str, dict[str, Any]]]:
        relays: list[_Relay] = []
        for output in self._outputs():
            relay = self._add(output)
            if relay is not None:
                relays.append(relay)
        for up, down in self._pairs(relays):
            self._add_shutter(up, down)
        document = {LIGHTS: self._lights, SWITCHES: self._switches, SHUTTERS: self._shutters}
        return {name: section for name, section in document.items() if section}

    def _outputs(self) -> list[_Output]:
        """Every output a module names or a map element stands for, in bus/module/output order."""
        module_types: dict[tuple[int, int], str] = {}
        outputs: dict[tuple[int, int, int], _Output] = {}
        for module in self._ipcom.modules:
            where = f"module {module.number} ({shown(module.type)}) on bus {module.bus}"
            if module.bus not in BUSES or not 1 <= module.number <= MODULE_COUNT:
                self._warnings.append(
                    f"{where}: not a bus {_either_bus()} module 1..{MODULE_COUNT}; left out"
                )
                continue
            if (module.bus, module.number) in module_types:
                self._warnings.append(f"{where}: listed twice; the first is used")
                continue
            module_types[module.bus, module.number] = module.type.lower()
            for number, name in enumerate(module.outputs, start=1):
                if name:
                    outputs[module.bus, module.number, number] = _Output(
                        module.bus, module.number, number, name, module.type.lower()
                    )
        for element in self._elements:
            if element.config is None:
                self._warnings.append(
                    f"map element {shown(element.name)}: its ElementConfig "
                    f"{shown(element.raw_config)} is not bus,module,output; left out"
                )
                continue
            bus, number, out = element.config
            if bus not in BUSES or not (
                1 <= number <= MODULE_COUNT and 1 <= out <= OUTPUTS_PER_MODULE
            ):
                self._warnings.append(
                    f"map element {shown(element.name)}: bus {bus} module {number} output "
                    f"{out} does not exist; left out"
                )
                continue
            output = outputs.get((bus, number, out))
            if output is None:
                output = _Output(bus, number, out, module_type=module_types.get((bus, number)))
                outputs[bus, number, out] = output
            if output.element is not None:
                self._warnings.append(
                    f"{output.where}: two map elements ({shown(output.element.name)} and "
                    f"{shown(element.name)}); the first is used"
                )
                continue
            output.element = element
        return [outputs[address] for address in sorted(outputs)]

    def _add(self, output: _Output) -> _Relay | None:
        """Add a light or a switch, or return a shutter relay for pairing."""
        graphic = output.element.graphic_type if output.element is not None else None
        known = graphic or ""
        module_type = output.module_type
        label = f"{output.where} ({shown(output.name)})"
        if module_type not in (MODULE_RELAY, MODULE_DIMMER, MODULE_SHUTTER):
            self._warnings.append(
                f"{label}: its module's type is "
                + ("not listed" if module_type is None else f"{shown(module_type)}, not known")
                + "; read as a relay module"
            )
        if known in SHUTTER_GRAPHICS:
            role, device_class = SHUTTER_GRAPHICS[known]
            return _Relay(output, role, device_class)
        if known in LIGHT_GRAPHICS:
            self._add_light(output, LIGHT_GRAPHICS[known])
        elif known in OUTLET_GRAPHICS:
            self._add_switch(output, device_class="outlet")
        elif known in APPLIANCE_GRAPHICS:
            self._add_switch(output, icon=APPLIANCE_GRAPHICS[known])
        else:
            why = (
                "no map element"
                if graphic is None
                else f"graphic type {shown(graphic)} is not known"
                if graphic
                else "its map element has no graphic type"
            )
            if module_type == MODULE_SHUTTER:
                role = ROLE_DOWN if output.output % 2 else ROLE_UP
                self._warnings.append(
                    f"{label}: {why}; a shutter module's relay, read as {role} by its output "
                    "number (odd down, even up)"
                )
                return _Relay(output, role, "shutter")
            if module_type == MODULE_DIMMER:
                if graphic is not None:
                    self._warnings.append(f"{label}: {why}; a dimmer module's output, a dimmer")
                self._add_light(output, None)
            elif graphic is None:
                self._warnings.append(f"{label}: {why}; read as a light")
                self._add_light(output, None)
            else:
                self._warnings.append(f"{label}: {why}; read as a switch")
                self._add_switch(output)
        return None

    def _entry(self, output: _Output, name: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        if output.bus != DEFAULT_BUS:
            entry["bus"] = output.bus
        entry["module"] = output.module
        entry["output"] = output.output
        entry["display_name"] = name or output.name
        return entry

    def _add_light(self, output: _Output, icon: str | None) -> None:
        entry = self._entry(output)
        dimmer = output.module_type == MODULE_DIMMER or (
            output.module_type is None
            and output.element is not None
            and output.element.widget_type.lower() == "dimmable"
        )
        entry["type"] = TYPE_DIMMER if dimmer else TYPE_LIGHT
        if icon:
            entry["icon"] = icon
        self._lights[self._key(output.name, output)] = entry

    def _add_switch(
        self, output: _Output, *, device_class: str | None = None, icon: str | None = None
    ) -> None:
        entry = self._entry(output)
        if device_class:
            entry["device_class"] = device_class
        if icon:
            entry["icon"] = icon
        self._switches[self._key(output.name, output)] = entry

    def _pairs(self, relays: list[_Relay]) -> list[tuple[_Relay, _Relay]]:
        """Up and down relays that belong together.

        First the two outputs of one pair of a module (1-2, 3-4, ...: how a
        shutter module is wired), then relays with the same name once the
        direction is taken off. A shutter module's relay alone in its pair
        is completed with the other output of the pair; any other relay
        left alone is left out, since a shutter needs both relays.
        """
        pairs: list[tuple[_Relay, _Relay]] = []
        slots: dict[tuple[int, int, int], list[_Relay]] = {}
        for relay in relays:
            out = relay.output
            slots.setdefault((out.bus, out.module, (out.output + 1) // 2), []).append(relay)
        left: list[_Relay] = []
        for members in slots.values():
            roles = sorted(relay.role for relay in members)
            if roles == [ROLE_DOWN, ROLE_UP]:
                up, down = sorted(members, key=lambda relay: relay.role != ROLE_UP)
                pairs.append((up, down))
            else:
                left.extend(members)
        by_name: dict[tuple[int, str], list[_Relay]] = {}
        for relay in left:
            by_name.setdefault(
                (relay.output.bus, _base_name(relay.output.name).casefold()), []
            ).append(relay)
        for members in by_name.values():
            ups = [relay for relay in members if relay.role == ROLE_UP]
            downs = [relay for relay in members if relay.role == ROLE_DOWN]
            if len(ups) == 1 and len(downs) == 1:
                pairs.append((ups[0], downs[0]))
                continue
            for relay in members:
                completed = self._complete(relay, relays)
                if completed is not None:
                    pairs.append(completed)
                else:
                    self._warnings.append(
                        f"{relay.output.where} ({shown(relay.output.name)}): a shutter's "
                        f"{relay.role} relay without its other relay; left out, since a "
                        "shutter needs both"
                    )
        return sorted(pairs, key=lambda pair: min(_address(pair[0]), _address(pair[1])))

    def _complete(self, relay: _Relay, relays: list[_Relay]) -> tuple[_Relay, _Relay] | None:
        """A shutter module's lone relay with the unnamed other output of its pair."""
        out = relay.output
        partner = out.output + 1 if out.output % 2 else out.output - 1
        taken = any(
            (other.output.bus, other.output.module, other.output.output)
            == (out.bus, out.module, partner)
            for other in relays
        ) or self._used(out.bus, out.module, partner)
        if out.module_type != MODULE_SHUTTER or taken:
            return None
        role = ROLE_UP if relay.role == ROLE_DOWN else ROLE_DOWN
        other = _Relay(
            _Output(out.bus, out.module, partner, out.name, out.module_type),
            role,
            relay.device_class,
        )
        self._warnings.append(
            f"{out.where} ({shown(out.name)}): a shutter's {relay.role} relay without its other "
            f"relay; output {partner} of the shutter module taken as its {role} relay"
        )
        return (relay, other) if relay.role == ROLE_UP else (other, relay)

    def _used(self, bus: int, module: int, output: int) -> bool:
        return any(
            entry.get("bus", DEFAULT_BUS) == bus
            and entry["module"] == module
            and entry["output"] == output
            for section in (self._lights, self._switches)
            for entry in section.values()
        )

    def _add_shutter(self, up: _Relay, down: _Relay) -> None:
        up_name, down_name = up.output.name, down.output.name
        cover_name = _base_name(up_name) or _base_name(down_name) or up_name
        base = self._key(cover_name, up.output, reserve=False)
        up_key = self._key(f"{base}_up", up.output)
        down_key = self._key(f"{base}_down", down.output)
        device_class = up.device_class
        if down.device_class != device_class:
            self._warnings.append(
                f"{up.output.where} and {down.output.where}: drawn as a {up.device_class} and "
                f"a {down.device_class}; read as a {device_class}"
            )
        for relay, key, other in ((up, up_key, down_key), (down, down_key, up_key)):
            entry = self._entry(relay.output)
            entry["relay_role"] = relay.role
            entry["paired_device"] = other
            entry["device_class"] = device_class
            if relay is up:
                entry["cover_name"] = cover_name
            self._shutters[key] = entry

    def _key(self, name: str, output: _Output, *, reserve: bool = True) -> str:
        """A devices.yaml key from a name: lower-case ASCII words joined by `_`, unique."""
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        key = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:60].strip("_")
        if not key:
            bus = "" if output.bus == DEFAULT_BUS else f"bus_{output.bus}_"
            key = f"output_{bus}{output.module}_{output.output}"
        unique, number = key, 2
        while unique in self._keys:
            unique, number = f"{key}_{number}", number + 1
        if reserve:
            self._keys.add(unique)
        return unique


def _address(relay: _Relay) -> tuple[int, int, int]:
    return (relay.output.bus, relay.output.module, relay.output.output)


def _base_name(name: str) -> str:
    """A relay's name without its direction (`Kitchen up` -> `Kitchen`)."""
    return _DIRECTION_SUFFIX.sub("", name).strip()


def _either_bus() -> str:
    return " or ".join(map(str, BUSES))
