"""Writing a device map back out: what `load_device_map` reads again gives the same map."""

from __future__ import annotations

from pathlib import Path

import yaml

from ipcom.devices import DeviceMap, load_device_map, parse_device_map
from ipcom.devices_export import HEADER, device_map_document, dump_device_map

REPOSITORY = Path(__file__).parents[2]


def round_trip(device_map: DeviceMap) -> DeviceMap:
    return parse_device_map(yaml.safe_load(dump_device_map(device_map)), "exported")


def test_the_demo_house_survives_a_round_trip() -> None:
    """Every light, dimmer, switch and shutter of both buses, with every setting the map keeps."""
    demo = load_device_map(REPOSITORY / "devices.yaml")

    again = round_trip(demo)

    assert again == demo
    assert again.buses() == (1, 2)
    assert not again.warnings


def test_every_setting_is_written_and_bus_only_for_bus_2() -> None:
    device_map = parse_device_map(
        {
            "lights": {
                "hall": {"module": 1, "output": 2, "area": "Hall", "icon": "mdi:lamp"},
                "barn": {"bus": 2, "module": 6, "output": 1, "type": "dimmer"},
            },
            "switches": {
                "pump": {"module": 5, "output": 2, "device_class": "outlet", "description": "x"}
            },
            "shutters": {
                "patio_up": {
                    "module": 3,
                    "output": 1,
                    "relay_role": "up",
                    "paired_device": "patio_down",
                    "travel_time_up": 20,
                    "travel_time_down": 18.5,
                    "device_class": "awning",
                    "cover_name": "Patio awning",
                },
                "patio_down": {
                    "module": 4,
                    "output": 1,
                    "relay_role": "down",
                    "paired_device": "patio_up",
                },
            },
        },
        "test",
    )

    document = device_map_document(device_map)

    assert document["lights"]["hall"] == {
        "module": 1,
        "output": 2,
        "type": "light",
        "display_name": "Hall",
        "area": "Hall",
        "icon": "mdi:lamp",
    }
    assert document["lights"]["barn"]["bus"] == 2
    assert document["lights"]["barn"]["type"] == "dimmer"
    assert document["switches"]["pump"]["device_class"] == "outlet"
    up, down = document["shutters"]["patio_up"], document["shutters"]["patio_down"]
    assert (up["relay_role"], up["paired_device"]) == ("up", "patio_down")
    assert (down["relay_role"], down["paired_device"]) == ("down", "patio_up")
    assert up["travel_time_up"] == down["travel_time_up"] == 20
    assert up["device_class"] == "awning"
    assert round_trip(device_map) == device_map
    assert dump_device_map(device_map).startswith(HEADER)


def test_an_empty_map_writes_an_empty_document() -> None:
    assert device_map_document(DeviceMap()) == {}
    assert round_trip(DeviceMap()) == DeviceMap()
