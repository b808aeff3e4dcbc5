"""The demo's dashboard: every device of the device map, one section per room.

It is written from what Home Assistant registered (entity ids, areas, features), not from
guesses about how entity ids are spelled, and in the order of devices.yaml. The dashboard is a
YAML dashboard, so it is a fixed layout that nobody's clicks in the UI can change by accident;
Home Assistant re-reads the file when it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from custom_components.ipcom.identifiers import device_identifier
from ipcom.devices import CoverEntry, DeviceMap, LightEntry

NO_AREA = "Elsewhere"

_COVER_SET_POSITION = 4
_FULL_WIDTH = {"columns": "full"}
_DIMMABLE_COLOR_MODES = frozenset({"brightness", "color_temp", "hs", "rgb", "rgbw", "rgbww", "xy"})


@dataclass(frozen=True)
class Registry:
    """What Home Assistant's registries and state machine say about one config entry."""

    entry_id: str
    devices: list[Mapping[str, Any]]
    entities: list[Mapping[str, Any]]
    areas: list[Mapping[str, Any]]
    states: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def device_id_of(self, key: str) -> str | None:
        """Home Assistant's id of the device made for the device map entry `key`."""
        identifier = list(device_identifier(self.entry_id, key))
        for device in self.devices:
            if identifier in [list(pair) for pair in device.get("identifiers", [])]:
                return str(device["id"])
        return None

    def entities_of(self, device_id: str) -> list[Mapping[str, Any]]:
        """The device's enabled entities, in registration order."""
        return [
            entity
            for entity in self.entities
            if entity.get("device_id") == device_id and entity.get("disabled_by") is None
        ]

    def area_name_of(self, device_id: str) -> str:
        """Name of the device's area (assigned in Home Assistant), or NO_AREA."""
        device = next(device for device in self.devices if device["id"] == device_id)
        area_id = device.get("area_id")
        for area in self.areas:
            if area["area_id"] == area_id:
                return str(area["name"])
        return NO_AREA


@dataclass(frozen=True)
class DashboardDevice:
    """A device of the map as it appears on the dashboard."""

    key: str
    name: str
    area: str
    entity_ids: tuple[str, ...]


def place_devices(device_map: DeviceMap, registry: Registry) -> list[DashboardDevice]:
    """Match each device of the map with its entities in Home Assistant, in map order.

    A device Home Assistant does not know (yet) is left out; the caller decides whether that
    is an error.
    """
    placed: list[DashboardDevice] = []
    for device in device_map:
        device_id = registry.device_id_of(device.key)
        if device_id is None:
            continue
        entity_ids = tuple(
            str(entity["entity_id"])
            for entity in registry.entities_of(device_id)
            if entity.get("entity_category") is None
        )
        if entity_ids:
            area = registry.area_name_of(device_id)
            placed.append(DashboardDevice(device.key, device.name, area, entity_ids))
    return placed


def build_dashboard(device_map: DeviceMap, registry: Registry, title: str) -> dict[str, Any]:
    """A Lovelace configuration with one grid section per room and the installation last."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for placed in place_devices(device_map, registry):
        device = device_map.get(placed.key)
        cards = sections.setdefault(placed.area, [])
        cards.extend(_tile(entity_id, device, registry.states) for entity_id in placed.entity_ids)
    installation = [
        {"type": "tile", "entity": entity_id, "grid_options": _FULL_WIDTH}
        for entity_id in _installation_entities(registry, device_map)
    ]
    grid_sections = [
        {"type": "grid", "cards": [{"type": "heading", "heading": area}, *cards]}
        for area, cards in sections.items()
    ]
    if installation:
        heading = {"type": "heading", "heading": "Installation"}
        grid_sections.append({"type": "grid", "cards": [heading, *installation]})
    return {
        "title": title,
        "views": [
            {
                "title": "Home",
                "path": "home",
                "icon": "mdi:home",
                "type": "sections",
                "max_columns": 4,
                "sections": grid_sections,
            }
        ],
    }


def _tile(
    entity_id: str, device: object, states: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A tile card whose icon toggles and whose features match what the entity can do."""
    domain = entity_id.split(".", 1)[0]
    attributes = states.get(entity_id, {}).get("attributes", {})
    # Full width: a half-width tile cuts names such as "Coffee machine" short.
    card: dict[str, Any] = {"type": "tile", "entity": entity_id, "grid_options": _FULL_WIDTH}
    features: list[dict[str, Any]] = []
    if domain in ("light", "switch"):
        card["icon_tap_action"] = {"action": "toggle"}
    if domain == "light" and _dimmable(device, attributes):
        features.append({"type": "light-brightness"})
    if domain == "cover" or isinstance(device, CoverEntry):
        features.append({"type": "cover-open-close"})
        if int(attributes.get("supported_features", 0)) & _COVER_SET_POSITION:
            features.append({"type": "cover-position"})
    if features:
        card["features"] = features
        card["features_position"] = "bottom"
    return card


def _dimmable(device: object, attributes: Mapping[str, Any]) -> bool:
    modes = attributes.get("supported_color_modes")
    if modes is not None:
        return bool(_DIMMABLE_COLOR_MODES.intersection(modes))
    return isinstance(device, LightEntry) and device.dimmable


def _installation_entities(registry: Registry, device_map: DeviceMap) -> Iterable[str]:
    """Entities of the entry that belong to no mapped device: the hub's connectivity sensor."""
    mapped = {registry.device_id_of(device.key) for device in device_map}
    for entity in registry.entities:
        if (
            entity.get("config_entry_id") == registry.entry_id
            and entity.get("device_id") not in mapped
            and entity.get("disabled_by") is None
        ):
            yield str(entity["entity_id"])
