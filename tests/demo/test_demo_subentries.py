"""The demo compares the entry's subentries with the device map, and finds a free relay output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.subentries import check_subentries, free_relay_output, only
from ipcom.device_records import records_of
from ipcom.devices import load_device_map, parse_device_map

ROOT = Path(__file__).resolve().parents[2]

DEVICE_MAP = parse_device_map(
    {
        "lights": {
            "ceiling": {"module": 1, "output": 1, "type": "switch", "display_name": "Ceiling"},
            "hall": {"module": 1, "output": 2, "type": "switch", "display_name": "Hall"},
            "spots": {"module": 6, "output": 1, "type": "dimmer", "display_name": "Spots"},
        },
        "switches": {"pump": {"module": 1, "output": 3, "display_name": "Pond pump"}},
        "shutters": {
            "shutter_up": {
                "module": 1,
                "output": 4,
                "relay_role": "up",
                "paired_device": "shutter_down",
                "display_name": "Shutter up",
            },
            "shutter_down": {
                "module": 1,
                "output": 5,
                "relay_role": "down",
                "paired_device": "shutter_up",
                "display_name": "Shutter down",
            },
        },
    },
    "test",
)


def _imported() -> list[dict[str, Any]]:
    """The subentries the integration's import makes of DEVICE_MAP (as the websocket lists them)."""
    return [
        {
            "subentry_id": f"id{number}",
            "subentry_type": record.kind,
            "title": record.title,
            "unique_id": record.unique_id,
        }
        for number, record in enumerate(records_of(DEVICE_MAP))
    ]


def test_an_import_is_one_subentry_per_device() -> None:
    check = check_subentries(DEVICE_MAP, _imported())
    assert check.complete
    assert [device.key for device in check.present] == [d.key for d in DEVICE_MAP]
    assert check.at_their_address == check.present
    assert check.summary() == "5 of the 5 devices of the map"
    assert str(check) == check.summary()


def test_unique_ids_are_the_address_of_the_first_relay() -> None:
    by_title = {s["title"]: s for s in _imported()}
    assert by_title["Ceiling"]["unique_id"] == "1-1-1"
    assert by_title["Spots"]["subentry_type"] == "light"
    assert by_title["Pond pump"]["subentry_type"] == "switch"
    shutter = next(s for s in _imported() if s["subentry_type"] == "shutter")
    assert shutter["unique_id"] == "1-1-4"


def test_missing_renamed_and_added_devices_are_told_apart() -> None:
    subentries = [s for s in _imported() if s["title"] != "Hall"]
    renamed = next(s for s in subentries if s["title"] == "Ceiling")
    renamed["title"] = "Living room ceiling"
    subentries.append(
        {
            "subentry_id": "x",
            "subentry_type": "light",
            "title": "Reading lamp",
            "unique_id": "1-1-7",
        }
    )
    check = check_subentries(DEVICE_MAP, subentries)
    assert not check.complete
    assert [device.key for device in check.missing] == ["hall"]
    assert [device.key for device, _ in check.different] == ["ceiling"]
    assert [s["title"] for s in check.extra] == ["Reading lamp"]
    cover_key = DEVICE_MAP.covers[0].key
    assert {device.key for device in check.at_their_address} == {
        "ceiling",
        "spots",
        "pump",
        cover_key,
    }
    summary = check.summary()
    assert "3 of the 5 devices" in summary
    assert "missing: Hall" in summary
    assert "Living room ceiling" in summary
    assert "not in the map: Reading lamp" in summary


def test_only_keeps_the_map_order() -> None:
    kept = only(DEVICE_MAP, [DEVICE_MAP.covers[0], DEVICE_MAP.lights[2], DEVICE_MAP.lights[0]])
    assert [device.key for device in kept] == ["ceiling", "spots", DEVICE_MAP.covers[0].key]


def test_free_relay_output_skips_used_outputs_and_dimmer_modules() -> None:
    assert free_relay_output(DEVICE_MAP) == (1, 6)
    assert free_relay_output(DEVICE_MAP, bus=2) is None


def test_the_demo_house_has_a_free_relay_output() -> None:
    device_map = load_device_map(ROOT / "devices.yaml")
    found = free_relay_output(device_map)
    assert found is not None
    module, output = found
    assert device_map.at(module, output) is None
    assert module not in device_map.dimmer_modules()
    assert any(
        light.module == module and not light.dimmable
        for light in device_map.lights
        if light.bus == 1
    )
