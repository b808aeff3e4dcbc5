"""devices.yaml's `reverse_pause`: a shutter's own rest before its motor turns the other way.

It may sit on either relay entry of a shutter, or on both if equal; it must
be 0 to 5 seconds; it is written back on both relays and read again the same.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from ipcom.devices import (
    MAX_REVERSE_PAUSE,
    MIN_REVERSE_PAUSE,
    CoverEntry,
    DeviceMap,
    DeviceMapError,
    DeviceMapWarning,
    load_device_map,
    parse_device_map,
)
from ipcom.devices_export import device_map_document, dump_device_map

SOURCE = "devices.yaml"


def pair(name: str, module: int, up: dict[str, Any], down: dict[str, Any]) -> dict[str, Any]:
    """A shutter `name` on outputs 1 and 2 of `module`, with extra settings on each relay."""
    return {
        f"{name}_up": {
            "module": module,
            "output": 1,
            "relay_role": "up",
            "paired_device": f"{name}_down",
            **up,
        },
        f"{name}_down": {
            "module": module,
            "output": 2,
            "relay_role": "down",
            "paired_device": f"{name}_up",
            **down,
        },
    }


def shutters(*pairs: dict[str, Any]) -> DeviceMap:
    document: dict[str, Any] = {"shutters": {}}
    for each in pairs:
        document["shutters"].update(each)
    return parse_device_map(document, SOURCE)


def problems(*pairs: dict[str, Any]) -> list[str]:
    with pytest.raises(DeviceMapError) as caught:
        shutters(*pairs)
    return caught.value.problems


def cover(device_map: DeviceMap, key: str) -> CoverEntry:
    found = device_map.get(key)
    assert isinstance(found, CoverEntry), f"{key} is {found!r}"
    return found


def test_the_range_is_0_to_5_seconds() -> None:
    assert (MIN_REVERSE_PAUSE, MAX_REVERSE_PAUSE) == (0.0, 5.0)


def test_reverse_pause_is_read_from_either_relay_or_both() -> None:
    device_map = shutters(
        pair("on_up", 3, {"reverse_pause": 1.5}, {}),
        pair("on_down", 4, {}, {"reverse_pause": 2}),
        pair("on_both", 5, {"reverse_pause": 0.8}, {"reverse_pause": 0.8}),
        pair("none", 7, {}, {}),
    )

    assert cover(device_map, "on_up").reverse_pause == 1.5
    assert cover(device_map, "on_down").reverse_pause == 2.0
    assert type(cover(device_map, "on_down").reverse_pause) is float
    assert cover(device_map, "on_both").reverse_pause == 0.8
    assert cover(device_map, "none").reverse_pause is None
    assert not device_map.warnings


@pytest.mark.parametrize("pause", [0, 0.0, 0.1, 5, 5.0])
def test_the_ends_of_the_range_are_allowed(pause: float) -> None:
    device_map = shutters(pair("a", 3, {"reverse_pause": pause}, {}))

    assert cover(device_map, "a").reverse_pause == float(pause)


@pytest.mark.parametrize(
    ("pause", "shown"),
    [
        (5.5, "5.5"),
        (6, "6"),
        (-0.1, "-0.1"),
        (-1, "-1"),
        (math.inf, "inf"),
        (math.nan, "nan"),
        ("long", "'long'"),
        ("1", "'1'"),
        (True, "True"),
        (None, "None"),
        ([1], "[1]"),
    ],
)
def test_a_pause_out_of_range_or_not_a_number_is_a_problem(pause: object, shown: str) -> None:
    assert problems(pair("a", 3, {"reverse_pause": pause}, {})) == [
        f"devices.yaml: shutters.a_up.reverse_pause: must be 0 to 5 seconds, got {shown}"
    ]


def test_both_relays_must_agree() -> None:
    assert problems(pair("a", 3, {"reverse_pause": 1}, {"reverse_pause": 2})) == [
        "devices.yaml: shutters.a_down.reverse_pause: 2 conflicts with "
        "shutters.a_up.reverse_pause = 1; the shutter's reversal pause must be the same on both "
        "relays"
    ]


def test_every_problem_is_reported_with_the_others() -> None:
    assert problems(
        pair("a", 3, {"reverse_pause": 9, "travel_time": 0}, {}),
        pair("b", 4, {"reverse_pause": 0.5}, {"reverse_pause": 0}),
    ) == [
        "devices.yaml: shutters.a_up.reverse_pause: must be 0 to 5 seconds, got 9",
        "devices.yaml: shutters.a_up.travel_time: must be more than 0 and at most 300 seconds, "
        "got 0",
        "devices.yaml: shutters.b_down.reverse_pause: 0 conflicts with "
        "shutters.b_up.reverse_pause = 0.5; the shutter's reversal pause must be the same on "
        "both relays",
    ]


def test_on_a_light_or_a_switch_it_is_not_used() -> None:
    device_map = parse_device_map(
        {
            "lights": {"hall": {"module": 1, "output": 1, "reverse_pause": 1}},
            "switches": {"pump": {"module": 2, "output": 1, "reverse_pause": 1}},
        },
        SOURCE,
    )

    assert device_map.warnings == (
        DeviceMapWarning(SOURCE, "lights.hall.reverse_pause", "setting not used, ignored"),
        DeviceMapWarning(SOURCE, "switches.pump.reverse_pause", "setting not used, ignored"),
    )


def test_it_is_written_on_both_relays_and_only_when_given() -> None:
    device_map = shutters(
        pair("a", 3, {"reverse_pause": 1.5}, {}),
        pair("b", 4, {"reverse_pause": 0}, {}),
        pair("c", 5, {}, {}),
    )

    document = device_map_document(device_map)["shutters"]

    assert document["a_up"]["reverse_pause"] == document["a_down"]["reverse_pause"] == 1.5
    assert document["b_up"]["reverse_pause"] == document["b_down"]["reverse_pause"] == 0.0
    assert "reverse_pause" not in document["c_up"]
    assert "reverse_pause" not in document["c_down"]


def test_it_is_read_back_from_an_exported_file(tmp_path: Path) -> None:
    device_map = shutters(
        pair("a", 3, {"reverse_pause": 1.5, "travel_time": 20}, {}),
        pair("b", 4, {}, {"reverse_pause": 0}),
        pair("c", 5, {}, {}),
    )
    path = tmp_path / "devices.yaml"
    path.write_text(dump_device_map(device_map), encoding="utf-8")

    again = load_device_map(path)

    assert again == device_map
    assert [each.reverse_pause for each in again.covers] == [1.5, 0.0, None]
    assert (
        yaml.safe_load(path.read_text(encoding="utf-8"))["shutters"]["b_up"]["reverse_pause"] == 0.0
    )
    assert not again.warnings
