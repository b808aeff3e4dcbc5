"""The demo's dashboard is built from what Home Assistant registered, room by room."""

from __future__ import annotations

from typing import Any

from custom_components.ipcom.identifiers import device_identifier
from demo.dashboard import NO_AREA, Registry, build_dashboard, place_devices
from ipcom.devices import parse_device_map

ENTRY = "entry1"

DEVICE_MAP = parse_device_map(
    {
        "lights": {
            "ceiling": {
                "module": 1,
                "output": 1,
                "type": "switch",
                "display_name": "Ceiling",
                "area": "Living room",
            },
            "spots": {
                "module": 6,
                "output": 1,
                "type": "dimmer",
                "display_name": "Spots",
                "area": "Living room",
            },
            "attic": {"module": 1, "output": 2, "type": "switch", "display_name": "Attic"},
        },
        "switches": {
            "pump": {"module": 5, "output": 1, "display_name": "Pond pump", "area": "Garden"}
        },
        "shutters": {
            "shutter_up": {
                "module": 3,
                "output": 1,
                "relay_role": "up",
                "paired_device": "shutter_down",
                "display_name": "Shutter up",
                "travel_time": 20,
                "area": "Garden",
            },
            "shutter_down": {
                "module": 3,
                "output": 2,
                "relay_role": "down",
                "paired_device": "shutter_up",
                "display_name": "Shutter down",
                "area": "Garden",
            },
        },
    },
    "test",
)

AREAS = [{"area_id": "living", "name": "Living room"}, {"area_id": "garden", "name": "Garden"}]


def _device(key: str, area_id: str | None) -> dict[str, Any]:
    return {
        "id": f"dev_{key}",
        "identifiers": [list(device_identifier(ENTRY, key))],
        "area_id": area_id,
    }


def _entity(entity_id: str, device: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "device_id": device,
        "config_entry_id": ENTRY,
        "entity_category": None,
        "disabled_by": None,
        **extra,
    }


def _registry(**states: dict[str, Any]) -> Registry:
    cover = next(iter(DEVICE_MAP.covers)).key
    return Registry(
        entry_id=ENTRY,
        devices=[
            _device("ceiling", "living"),
            _device("spots", "living"),
            _device("attic", None),
            _device("pump", "garden"),
            _device(cover, "garden"),
            {"id": "hub", "identifiers": [["ipcom", ENTRY]], "area_id": None},
        ],
        entities=[
            _entity("light.ceiling", "dev_ceiling"),
            _entity("light.spots", "dev_spots"),
            _entity("light.attic", "dev_attic"),
            _entity("switch.pond_pump", "dev_pump"),
            _entity("cover.shutter", f"dev_{cover}"),
            _entity("binary_sensor.link", "hub", entity_category="diagnostic"),
            _entity("light.other_integration", None, config_entry_id="other"),
        ],
        areas=AREAS,
        states={
            entity_id: {"entity_id": entity_id, "attributes": attributes}
            for entity_id, attributes in states.items()
        },
    )


def test_every_device_is_placed_in_its_room_in_map_order() -> None:
    placed = place_devices(DEVICE_MAP, _registry())
    assert [(device.name, device.area, device.entity_ids) for device in placed] == [
        ("Ceiling", "Living room", ("light.ceiling",)),
        ("Spots", "Living room", ("light.spots",)),
        ("Attic", NO_AREA, ("light.attic",)),
        ("Pond pump", "Garden", ("switch.pond_pump",)),
        ("Shutter", "Garden", ("cover.shutter",)),
    ]


def test_a_device_home_assistant_does_not_know_is_left_out() -> None:
    registry = _registry()
    registry.devices.pop(0)
    assert "Ceiling" not in [device.name for device in place_devices(DEVICE_MAP, registry)]


def test_sections_per_room_with_the_installation_last() -> None:
    dashboard = build_dashboard(
        DEVICE_MAP,
        _registry(
            **{
                "light.spots": {"supported_color_modes": ["brightness"]},
                "cover.shutter": {"supported_features": 15},
            }
        ),
        "Demo",
    )
    view = dashboard["views"][0]
    assert dashboard["title"] == "Demo"
    assert view["type"] == "sections"
    headings = [section["cards"][0]["heading"] for section in view["sections"]]
    assert headings == ["Living room", NO_AREA, "Garden", "Installation"]
    cards = {
        card["entity"]: card
        for section in view["sections"]
        for card in section["cards"]
        if card["type"] == "tile"
    }
    assert set(cards) == {
        "light.ceiling",
        "light.spots",
        "light.attic",
        "switch.pond_pump",
        "cover.shutter",
        "binary_sensor.link",
    }
    assert cards["light.ceiling"]["icon_tap_action"] == {"action": "toggle"}
    assert "features" not in cards["light.ceiling"]
    assert cards["light.spots"]["features"] == [{"type": "light-brightness"}]
    assert cards["switch.pond_pump"]["icon_tap_action"] == {"action": "toggle"}
    assert cards["cover.shutter"]["features"] == [
        {"type": "cover-open-close"},
        {"type": "cover-position"},
    ]


def test_features_follow_the_entity_not_the_map() -> None:
    dashboard = build_dashboard(
        DEVICE_MAP,
        _registry(**{"light.spots": {"supported_color_modes": ["onoff"]}}),
        "Demo",
    )
    cards = {
        card.get("entity"): card
        for section in dashboard["views"][0]["sections"]
        for card in section["cards"]
    }
    assert "features" not in cards["light.spots"]
    assert cards["cover.shutter"]["features"] == [{"type": "cover-open-close"}]
