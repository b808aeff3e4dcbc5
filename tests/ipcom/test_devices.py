"""Tests for the device map: the format, every validation error, the typed view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ipcom import IPComError
from ipcom.devices import (
    COVER_DEVICE_CLASSES,
    SWITCH_DEVICE_CLASSES,
    CoverEntry,
    DeviceMap,
    DeviceMapError,
    DeviceMapNotFoundError,
    DeviceMapWarning,
    LightEntry,
    SwitchEntry,
    load_device_map,
    parse_device_map,
)
from ipcom.models import OutputAddress
from ipcom.presentation import map_table

REPOSITORY = Path(__file__).parents[2]
SOURCE = "devices.yaml"


def parse(text: str) -> DeviceMap:
    return parse_device_map(yaml.safe_load(text), SOURCE)


def problems(text: str) -> list[str]:
    with pytest.raises(DeviceMapError) as caught:
        parse(text)
    return caught.value.problems


def shutter(
    key: str, module: int, output: int, role: str, pair: str, **extra: Any
) -> dict[str, Any]:
    return {
        key: {
            "module": module,
            "output": output,
            "type": "switch",
            "relay_role": role,
            "paired_device": pair,
            **extra,
        }
    }


def shutters(*entries: dict[str, Any]) -> DeviceMap:
    document: dict[str, Any] = {"shutters": {}}
    for entry in entries:
        document["shutters"].update(entry)
    return parse_device_map(document, SOURCE)


def shutter_problems(*entries: dict[str, Any]) -> list[str]:
    with pytest.raises(DeviceMapError) as caught:
        shutters(*entries)
    return caught.value.problems


EXISTING_FORMAT = """
lights:
  kitchen:
    module: 1
    output: 3
    type: switch
    display_name: Kitchen
    description: Ceiling light
  porch:
    module: 1
    output: 4
    type: light
    display_name: Porch
  dining:
    module: 6
    output: 1
    type: dimmer
    display_name: Dining table
    description: ""
shutters:
  living_up:
    module: 3
    output: 1
    type: switch
    relay_role: up
    paired_device: living_down
    display_name: Living room up
  living_down:
    module: 3
    output: 2
    type: switch
    relay_role: down
    paired_device: living_up
    display_name: Living room down
"""


def test_existing_installation_format_loads_unchanged() -> None:
    device_map = parse(EXISTING_FORMAT)

    assert device_map.lights == (
        LightEntry("kitchen", "Kitchen", 1, 3, dimmable=False, description="Ceiling light"),
        LightEntry("porch", "Porch", 1, 4, dimmable=False),
        LightEntry("dining", "Dining table", 6, 1, dimmable=True),
    )
    assert device_map.switches == ()
    assert device_map.covers == (
        CoverEntry(
            key="living",
            name="Living room",
            up=OutputAddress(3, 1),
            down=OutputAddress(3, 2),
            up_key="living_up",
            down_key="living_down",
        ),
    )


def test_demo_devices_yaml_is_a_realistic_installation() -> None:
    device_map = load_device_map(REPOSITORY / "devices.yaml")

    assert len([light for light in device_map.lights if light.dimmable]) >= 2
    assert len(device_map.dimmer_modules()) >= 1
    assert len(device_map.covers) >= 3
    assert any(cover.same_module for cover in device_map.covers)
    assert any(not cover.same_module for cover in device_map.covers)
    assert any(cover.travel_time_up is None for cover in device_map.covers)
    assert any(
        cover.travel_time_up is not None and cover.travel_time_up != cover.travel_time_down
        for cover in device_map.covers
    )
    assert len(device_map.switches) >= 2
    assert device_map.buses() == (1, 2)
    assert device_map.dimmer_modules(2)
    assert all(device.area for device in device_map)
    assert len({device.area for device in device_map}) >= 5


def test_optional_settings_switches_areas_and_travel_times() -> None:
    device_map = parse(
        """
lights:
  hall: {module: 2, output: 8, area: Hall}
switches:
  pond_pump: {module: 5, output: 2, display_name: Pond pump, area: Garden}
  socket_terrace: {module: 5, output: 3, description: By the door}
shutters:
  bedroom_up: {module: 4, output: 1, relay_role: up, paired_device: bedroom_down,
               travel_time_up: 22, area: Bedroom}
  bedroom_down: {module: 4, output: 2, relay_role: down, paired_device: bedroom_up,
                 travel_time_down: 18.5, area: Bedroom}
"""
    )

    assert device_map.lights == (LightEntry("hall", "Hall", 2, 8, dimmable=False, area="Hall"),)
    assert device_map.switches == (
        SwitchEntry("pond_pump", "Pond pump", 5, 2, area="Garden"),
        SwitchEntry("socket_terrace", "Socket terrace", 5, 3, description="By the door"),
    )
    (cover,) = device_map.covers
    assert (cover.travel_time_up, cover.travel_time_down) == (22.0, 18.5)
    assert cover.area == "Bedroom"
    assert cover.name == "Bedroom"


def test_travel_time_sets_both_directions_from_either_entry() -> None:
    from_down = shutters(
        shutter("a_up", 3, 1, "up", "a_down"),
        shutter("a_down", 3, 2, "down", "a_up", travel_time=30),
    )
    on_both = shutters(
        shutter("a_up", 3, 1, "up", "a_down", travel_time=30),
        shutter("a_down", 3, 2, "down", "a_up", travel_time=30),
    )

    for device_map in (from_down, on_both):
        (cover,) = device_map.covers
        assert (cover.travel_time_up, cover.travel_time_down) == (30.0, 30.0)


def test_cover_names_strip_the_direction_word() -> None:
    device_map = shutters(
        shutter("keuken_op", 3, 1, "up", "keuken_neer", display_name="Rolluik keuken op"),
        shutter("keuken_neer", 3, 2, "down", "keuken_op", display_name="Rolluik keuken neer"),
        shutter("a", 3, 3, "down", "b", display_name="Office shutter (close)"),
        shutter("b", 3, 4, "up", "a", display_name="Office shutter - open"),
        shutter("c_down", 3, 5, "down", "c_up"),
        shutter("c_up", 3, 6, "up", "c_down", cover_name="Garage door"),
    )

    assert [(cover.key, cover.name) for cover in device_map.covers] == [
        ("keuken", "Rolluik keuken"),
        ("b", "Office shutter"),
        ("c", "Garage door"),
    ]
    assert device_map.covers[1].up_key == "b"
    assert device_map.covers[1].down == OutputAddress(3, 3)


def test_cover_key_falls_back_to_the_up_key_when_taken() -> None:
    device_map = parse(
        """
lights:
  living: {module: 1, output: 1}
shutters:
  living_up: {module: 3, output: 1, relay_role: up, paired_device: living_down}
  living_down: {module: 3, output: 2, relay_role: down, paired_device: living_up}
"""
    )

    (cover,) = device_map.covers
    assert cover.key == "living_up"
    assert cover.name == "Living up"
    assert device_map.get("living") == device_map.lights[0]


def test_look_up_by_key_and_by_address() -> None:
    device_map = load_device_map(REPOSITORY / "devices.yaml")
    cover = device_map.get("kitchen_shutter")

    assert isinstance(cover, CoverEntry)
    assert device_map.get("kitchen_shutter_up") is cover
    assert device_map.get("kitchen_shutter_down") is cover
    assert device_map.at(*cover.up) is cover
    assert device_map.at(*cover.down) is cover
    assert not cover.same_module
    light = device_map.get("dining_table")
    assert isinstance(light, LightEntry)
    assert light.dimmable
    assert device_map.at(light.module, light.output) is light
    assert device_map.get("nothing") is None
    assert device_map.at(16, 8) is None


def test_modules_dimmer_modules_and_outputs() -> None:
    device_map = load_device_map(REPOSITORY / "devices.yaml")

    assert device_map.dimmer_modules() == frozenset({6})
    assert device_map.modules() == (1, 2, 3, 4, 5, 6)
    outputs = device_map.outputs()
    assert outputs == tuple(sorted(outputs))
    expected = len(device_map.lights) + len(device_map.switches) + 2 * len(device_map.covers)
    assert sum(len(device_map.outputs(bus)) for bus in device_map.buses()) == expected
    assert len(device_map) == len(list(device_map))


def test_empty_sections_give_an_empty_map() -> None:
    device_map = parse("lights:\nswitches: {}\n")

    assert len(device_map) == 0
    assert device_map.modules() == ()
    assert device_map.dimmer_modules() == frozenset()


# Validation: every problem names the file, the key path and the reason.


def test_module_and_output_out_of_range() -> None:
    assert problems(
        """
lights:
  kitchen: {module: 17, output: 9}
  hall: {module: 0, output: 0}
  attic: {module: "3", output: 2.5}
"""
    ) == [
        "devices.yaml: lights.kitchen.module: must be 1..16, got 17",
        "devices.yaml: lights.kitchen.output: must be 1..8, got 9",
        "devices.yaml: lights.hall.module: must be 1..16, got 0",
        "devices.yaml: lights.hall.output: must be 1..8, got 0",
        "devices.yaml: lights.attic.module: must be a whole number 1..16, got '3'",
        "devices.yaml: lights.attic.output: must be a whole number 1..8, got 2.5",
    ]


def test_missing_module_and_output() -> None:
    assert problems("switches:\n  pump: {display_name: Pump}\n") == [
        "devices.yaml: switches.pump.module: is required",
        "devices.yaml: switches.pump.output: is required",
    ]


def test_unknown_types_are_warnings_and_read_as_relays() -> None:
    device_map = parse(
        """
lights:
  kitchen: {module: 1, output: 1, type: lamp}
switches:
  pump: {module: 2, output: 1, type: dimmer}
shutters:
  a_up: {module: 3, output: 1, type: dimmer, relay_role: up, paired_device: a_down}
  a_down: {module: 3, output: 2, relay_role: down, paired_device: a_up}
"""
    )

    assert device_map.lights == (LightEntry("kitchen", "Kitchen", 1, 1, dimmable=False),)
    assert device_map.dimmer_modules() == frozenset()
    assert len(device_map.covers) == 1
    assert [str(warning) for warning in device_map.warnings] == [
        "devices.yaml: lights.kitchen.type: type 'lamp' is not used here, read as an on/off "
        "light (a relay output); expected switch, light or dimmer",
        "devices.yaml: switches.pump.type: type 'dimmer' is not used here: "
        "switches are relay outputs",
        "devices.yaml: shutters.a_up.type: type 'dimmer' is not used here: "
        "shutters are relay outputs",
    ]


def test_a_light_of_an_unknown_type_is_listed_as_its_warning_reads() -> None:
    device_map = parse("lights:\n  hall: {module: 1, output: 1, type: lamp}\n")

    (row,) = [line for line in map_table(device_map) if line.startswith("hall ")]
    (warning,) = device_map.warnings

    assert row.split()[1] == "light"
    assert "read as an on/off light (a relay output)" in warning.reason


def test_type_and_relay_role_are_case_insensitive() -> None:
    device_map = shutters(
        shutter("a_up", 3, 1, "UP", "a_down", type="Switch"),
        shutter("a_down", 3, 2, "Down", "a_up", type="SWITCH"),
    )
    lights = parse("lights:\n  dining: {module: 6, output: 1, type: Dimmer}\n")

    assert device_map.covers[0].up == OutputAddress(3, 1)
    assert device_map.warnings == ()
    assert lights.lights[0].dimmable
    assert lights.warnings == ()


def test_broken_shapes_are_problems() -> None:
    assert problems(
        """
lights:
  hall: 3
  4: {module: 1, output: 2}
  porch: {module: 1, output: 3, area: 7}
switches: [pump]
"""
    ) == [
        "devices.yaml: lights.hall: must be a mapping of settings (module, output, ...), got 3",
        "devices.yaml: lights.4: a device key must be text, got 4",
        "devices.yaml: lights.porch.area: must be text, got 7",
        "devices.yaml: switches: must map device keys to their settings, got list",
    ]


def test_unused_sections_and_settings_are_warnings() -> None:
    device_map = parse(
        """
lights:
  kitchen: {module: 1, output: 1, colour: red, graphic_type: OutputLightBulb}
  porch: {module: 1, output: 3, display_name: "  ", area: "", icon: not an icon}
sockets:
  tv: {module: 2, output: 1}
5: [whatever]
"""
    )

    assert device_map.lights == (
        LightEntry("kitchen", "Kitchen", 1, 1, dimmable=False),
        LightEntry("porch", "Porch", 1, 3, dimmable=False),
    )
    assert device_map.warnings == (
        DeviceMapWarning(SOURCE, "lights.kitchen.colour", "setting not used, ignored"),
        DeviceMapWarning(SOURCE, "lights.kitchen.graphic_type", "setting not used, ignored"),
        DeviceMapWarning(
            SOURCE, "lights.porch.icon", "not an icon such as mdi:lightbulb, ignored: 'not an icon'"
        ),
        DeviceMapWarning(
            SOURCE,
            "sockets",
            "section not used, ignored; this integration reads lights, shutters or switches",
        ),
        DeviceMapWarning(
            SOURCE,
            "5",
            "section not used, ignored; this integration reads lights, shutters or switches",
        ),
    )


def test_icons_are_kept_for_every_kind_of_device() -> None:
    device_map = parse(
        """
lights:
  tube: {module: 1, output: 1, icon: mdi:lightbulb-fluorescent-tube}
switches:
  tv: {module: 2, output: 1, icon: " mdi:television "}
  pump: {module: 2, output: 2, icon: null}
shutters:
  a_up: {module: 3, output: 1, relay_role: up, paired_device: a_down}
  a_down: {module: 3, output: 2, relay_role: down, paired_device: a_up, icon: mdi:blinds}
"""
    )

    assert device_map.lights[0].icon == "mdi:lightbulb-fluorescent-tube"
    assert [switch.icon for switch in device_map.switches] == ["mdi:television", None]
    assert device_map.covers[0].icon == "mdi:blinds"
    assert device_map.warnings == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "devices.yaml: the file is empty; expected lights, shutters or switches sections"),
        (
            "- kitchen\n",
            "devices.yaml: expected a mapping with lights, shutters or switches sections, got list",
        ),
    ],
)
def test_document_that_is_not_a_device_map(text: str, problem: str) -> None:
    assert problems(text) == [problem]


def test_shutter_without_its_pair() -> None:
    assert shutter_problems(
        {"lonely_up": {"module": 3, "output": 1, "relay_role": "up"}},
        shutter("ghost_up", 3, 2, "up", "ghost_down"),
        shutter("self_up", 3, 3, "up", "self_up"),
    ) == [
        "devices.yaml: shutters.lonely_up.paired_device: "
        "is required: the key of the shutter's other relay",
        "devices.yaml: shutters.ghost_up.paired_device: no shutter entry named ghost_down",
        "devices.yaml: shutters.self_up.paired_device: "
        "a shutter relay cannot be paired with itself",
    ]


def test_shutter_paired_with_a_light() -> None:
    assert problems(
        """
lights:
  hall: {module: 1, output: 1}
shutters:
  a_up: {module: 3, output: 1, relay_role: up, paired_device: hall}
"""
    ) == ["devices.yaml: shutters.a_up.paired_device: hall is lights.hall, not a shutter"]


def test_pair_that_does_not_point_back() -> None:
    assert shutter_problems(
        shutter("a_up", 3, 1, "up", "b_down"),
        shutter("b_down", 3, 2, "down", "b_up"),
        shutter("b_up", 3, 3, "up", "b_down"),
    ) == [
        "devices.yaml: shutters.a_up.paired_device: b_down is paired with b_up, not back with a_up"
    ]


def test_pair_with_the_same_role_twice() -> None:
    assert shutter_problems(
        shutter("a_up", 3, 1, "up", "a_down"),
        shutter("a_down", 3, 2, "up", "a_up"),
        shutter("b_up", 3, 3, "sideways", "b_down"),
        shutter("b_down", 3, 4, "down", "b_up"),
    ) == [
        "devices.yaml: shutters.b_up.relay_role: "
        "unknown relay_role 'sideways'; expected up or down",
        "devices.yaml: shutters.a_up.relay_role: a_up and a_down are both up; "
        "one relay must be up and the other down",
    ]


def test_same_module_and_output_used_twice() -> None:
    assert problems(
        """
lights:
  kitchen: {module: 1, output: 1}
switches:
  pump: {module: 1, output: 1}
shutters:
  a_up: {module: 1, output: 2, relay_role: up, paired_device: a_down}
  a_down: {module: 1, output: 2, relay_role: down, paired_device: a_up}
"""
    ) == [
        "devices.yaml: shutters.a_down: module 1 output 2 is already used by shutters.a_up",
        "devices.yaml: switches.pump: module 1 output 1 is already used by lights.kitchen",
    ]


def test_same_key_in_two_sections() -> None:
    assert problems(
        """
lights:
  pump: {module: 1, output: 1}
switches:
  pump: {module: 2, output: 1}
"""
    ) == [
        "devices.yaml: switches.pump: the key pump is already used by lights.pump; "
        "keys must be unique"
    ]


def test_module_with_relay_and_dimmer_outputs_is_a_relay_module() -> None:
    device_map = parse(
        """
lights:
  dining: {module: 6, output: 1, type: dimmer}
  hall: {module: 6, output: 2, type: switch}
  table: {module: 7, output: 1, type: dimmer}
switches:
  pump: {module: 6, output: 3}
"""
    )

    assert [(light.key, light.dimmable) for light in device_map.lights] == [
        ("dining", False),
        ("hall", False),
        ("table", True),
    ]
    assert device_map.dimmer_modules() == frozenset({7})
    assert [str(warning) for warning in device_map.warnings] == [
        "devices.yaml: lights.dining.type: module 6 also has relay outputs "
        "(lights.hall, switches.pump), so it is a relay module and this light only switches "
        "on and off; if module 6 is a dimmer module, give all of its lights type: dimmer and "
        "move its other entries to the module they are wired to"
    ]


def test_travel_time_problems() -> None:
    assert shutter_problems(
        shutter("a_up", 3, 1, "up", "a_down", travel_time=0),
        shutter("a_down", 3, 2, "down", "a_up", travel_time_down=301),
        shutter("b_up", 3, 3, "up", "b_down", travel_time="slow"),
        shutter("b_down", 3, 4, "down", "b_up", travel_time=True),
        shutter("c_up", 3, 5, "up", "c_down", travel_time=20, travel_time_up=25),
        shutter("c_down", 3, 6, "down", "c_up"),
        shutter("d_up", 3, 7, "up", "d_down", travel_time=20),
        shutter("d_down", 3, 8, "down", "d_up", travel_time=25),
    ) == [
        "devices.yaml: shutters.a_up.travel_time: must be more than 0 and at most 300 seconds, "
        "got 0",
        "devices.yaml: shutters.a_down.travel_time_down: "
        "must be more than 0 and at most 300 seconds, got 301",
        "devices.yaml: shutters.b_up.travel_time: must be a number of seconds, got 'slow'",
        "devices.yaml: shutters.b_down.travel_time: must be a number of seconds, got True",
        "devices.yaml: shutters.c_up.travel_time: "
        "give either travel_time or travel_time_up/travel_time_down, not both",
        "devices.yaml: shutters.d_down.travel_time: 25 conflicts with "
        "shutters.d_up.travel_time = 20; the shutter's travel time must be the same on both relays",
    ]


def test_cover_settings_that_disagree_between_relays() -> None:
    assert shutter_problems(
        shutter("a_up", 3, 1, "up", "a_down", area="Kitchen", cover_name="Kitchen"),
        shutter("a_down", 3, 2, "down", "a_up", area="Hall", cover_name="Hall"),
    ) == [
        "devices.yaml: shutters.a_down.cover_name: 'Hall' conflicts with "
        "shutters.a_up.cover_name = 'Kitchen'; the shutter's name must be the same on both relays",
        "devices.yaml: shutters.a_down.area: 'Hall' conflicts with "
        "shutters.a_up.area = 'Kitchen'; the shutter's area must be the same on both relays",
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        """
lights:
  kitchen: {module: 17, output: 1}
  hall: {module: 1, output: 9, type: lamp}
switches:
  pump: {module: 2, output: 1}
  socket: {module: 2, output: 1}
shutters:
  a_up: {module: 3, output: 1, relay_role: up, paired_device: nobody}
"""
    )

    assert len(found) == 4
    assert all(problem.startswith("devices.yaml: ") for problem in found)


def test_error_is_an_ipcom_error_and_a_value_error_listing_every_problem() -> None:
    with pytest.raises(DeviceMapError) as caught:
        parse("lights:\n  a: {module: 0, output: 0}\n")

    assert isinstance(caught.value, IPComError)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 2


def test_error_carries_the_warnings_found_with_its_problems() -> None:
    """A refused file's warnings are not lost: the fix for one problem should not reveal more."""
    with pytest.raises(DeviceMapError) as caught:
        parse(
            """
lights:
  hall: {module: 1, output: 1, type: lamp}
  porch: {module: 17, output: 1, colour: red}
  dining: {module: 6, output: 1, type: dimmer}
switches:
  fan: {module: 6, output: 2}
garden: {}
"""
        )

    assert caught.value.problems == ["devices.yaml: lights.porch.module: must be 1..16, got 17"]
    assert [str(warning) for warning in caught.value.warnings] == [
        "devices.yaml: lights.hall.type: type 'lamp' is not used here, read as an on/off light "
        "(a relay output); expected switch, light or dimmer",
        "devices.yaml: lights.porch.colour: setting not used, ignored",
        "devices.yaml: garden: section not used, ignored; this integration reads lights, "
        "shutters or switches",
        "devices.yaml: lights.dining.type: module 6 also has relay outputs (switches.fan), so it "
        "is a relay module and this light only switches on and off; if module 6 is a dimmer "
        "module, give all of its lights type: dimmer and move its other entries to the module "
        "they are wired to",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_an_error_without_warnings_has_none(tmp_path: Path) -> None:
    with pytest.raises(DeviceMapError) as missing:
        load_device_map(tmp_path / "devices.yaml")
    with pytest.raises(DeviceMapError) as empty:
        parse("")

    assert missing.value.warnings == ()
    assert empty.value.warnings == ()


# Reading the file.


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"

    with pytest.raises(DeviceMapError) as caught:
        load_device_map(path)

    assert caught.value.problems == [f"{path}: file not found"]
    assert isinstance(caught.value, DeviceMapNotFoundError)
    assert caught.value.path == str(path)


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(DeviceMapError) as caught:
        load_device_map(tmp_path)

    assert caught.value.problems == [f"{tmp_path}: is a directory, not a file"]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("lights:\n  kitchen:\n    module: 1\n   output: 2\n", encoding="utf-8")

    with pytest.raises(DeviceMapError) as caught:
        load_device_map(path)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: line 4, column 4: invalid YAML: ")
    assert "block mapping that starts on line 2" in problem


def test_yaml_key_given_twice_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(
        "lights:\n  kitchen: {module: 1, output: 1}\n  kitchen: {module: 1, output: 2}\n",
        encoding="utf-8",
    )

    with pytest.raises(DeviceMapError) as caught:
        load_device_map(path)

    assert caught.value.problems == [
        f"{path}: line 3, column 3: invalid YAML: the key 'kitchen' appears twice "
        "in the same mapping"
    ]


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(
        "lights:\n"
        "  kitchen: &relay {module: 1, output: 1, area: Kitchen}\n"
        "  worktop: {<<: *relay, output: 2}\n",
        encoding="utf-8",
    )

    device_map = load_device_map(path)

    assert [light.address for light in device_map.lights] == [(1, 1), (1, 2)]
    assert device_map.lights[1].area == "Kitchen"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_bytes(b"lights:\n  k\xe9ken: {module: 1, output: 1}\n")

    with pytest.raises(DeviceMapError) as caught:
        load_device_map(path)

    assert caught.value.problems == [f"{path}: is not UTF-8 text"]


def test_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "house.yaml"
    path.write_text("lights:\n  kitchen: {module: 17, output: 1}\n", encoding="utf-8")

    with pytest.raises(DeviceMapError) as caught:
        load_device_map(str(path))

    assert caught.value.problems == [f"{path}: lights.kitchen.module: must be 1..16, got 17"]


# Files written for the other IPCom integration (its format, invented names).

OTHER_INTEGRATION_FORMAT = """
lights:
  hall_light:
    module: 1
    output: 1
    type: light
    display_name: "HALL LIGHT"
    description: "Ceiling light - hall"
  study_light:
    module: 1
    output: 2
    type: dimmer
    display_name: "STUDY LIGHT"
    description: ""
  lounge_lamp:
    module: 6
    output: 4
    type: Dimmer
    display_name: ""
switches:
  garden_socket:
    module: 2
    output: 5
    type: switch
    display_name: "GARDEN SOCKET"
    graphic_type: OutputSocket
    device_class: outlet
  coffee:
    module: 2
    output: 6
    type: switch
    display_name: "COFFEE"
    graphic_type: OutputCoffeeMachine
    icon: mdi:coffee-maker
sockets:
  spare: {module: 2, output: 7}
shutters:
  shutter_study_d:
    module: 5
    output: 7
    type: switch
    display_name: "SHUTTER STUDY D"
    description: "Study shutter - DOWN relay"
    relay_role: down
    paired_device: shutter_study_m
  shutter_study_m:
    module: 5
    output: 8
    type: switch
    display_name: "SHUTTER STUDY M"
    description: "Study shutter - UP relay"
    relay_role: up
    paired_device: shutter_study_d
  shutter_attic_d:
    module: 5
    output: 1
    type: switch
    display_name: "ATTIC SHUTTER"
    relay_role: down
    paired_device: shutter_attic_u
  shutter_attic_u:
    module: 5
    output: 2
    type: switch
    display_name: "ATTIC SHUTTER"
    relay_role: up
    paired_device: shutter_attic_d
"""


def test_other_integration_format_loads_with_warnings() -> None:
    device_map = parse(OTHER_INTEGRATION_FORMAT)

    assert [(light.key, light.name, light.dimmable) for light in device_map.lights] == [
        ("hall_light", "HALL LIGHT", False),
        ("study_light", "STUDY LIGHT", False),
        ("lounge_lamp", "Lounge lamp", True),
    ]
    assert device_map.dimmer_modules() == frozenset({6})
    assert [(switch.key, switch.icon, switch.device_class) for switch in device_map.switches] == [
        ("garden_socket", None, "outlet"),
        ("coffee", "mdi:coffee-maker", None),
    ]
    assert [(cover.key, cover.name, cover.up_key) for cover in device_map.covers] == [
        ("shutter_study_m", "SHUTTER STUDY", "shutter_study_m"),
        ("shutter_attic_u", "ATTIC SHUTTER", "shutter_attic_u"),
    ]
    assert [warning.path for warning in device_map.warnings] == [
        "switches.garden_socket.graphic_type",
        "switches.coffee.graphic_type",
        "sockets",
        "lights.study_light.type",
    ]


# device_class: what Home Assistant shows a switch or a shutter as.


def test_device_class_defaults() -> None:
    device_map = parse(
        """
switches:
  pump: {module: 2, output: 1}
shutters:
  a_up: {module: 3, output: 1, relay_role: up, paired_device: a_down}
  a_down: {module: 3, output: 2, relay_role: down, paired_device: a_up}
"""
    )

    assert device_map.switches[0].device_class is None
    assert device_map.covers[0].device_class == "shutter"


@pytest.mark.parametrize("device_class", SWITCH_DEVICE_CLASSES)
def test_every_switch_device_class_is_read_without_regard_to_case(device_class: str) -> None:
    device_map = parse(
        f"""
switches:
  lower: {{module: 2, output: 1, device_class: {device_class}}}
  upper: {{module: 2, output: 2, device_class: {device_class.upper()}}}
  title: {{module: 2, output: 3, device_class: " {device_class.title()} "}}
"""
    )

    assert [switch.device_class for switch in device_map.switches] == [device_class] * 3
    assert device_map.warnings == ()


@pytest.mark.parametrize("device_class", COVER_DEVICE_CLASSES)
def test_every_cover_device_class_is_read_without_regard_to_case(device_class: str) -> None:
    device_map = shutters(
        shutter("a_up", 3, 1, "up", "a_down", device_class=device_class),
        shutter("a_down", 3, 2, "down", "a_up"),
        shutter("b_up", 3, 3, "up", "b_down"),
        shutter("b_down", 3, 4, "down", "b_up", device_class=device_class.upper()),
        shutter("c_up", 3, 5, "up", "c_down", device_class=device_class.title()),
        shutter("c_down", 3, 6, "down", "c_up", device_class=device_class.upper()),
    )

    assert [cover.device_class for cover in device_map.covers] == [device_class] * 3
    assert device_map.warnings == ()


def test_the_device_classes_are_the_documented_ones() -> None:
    assert SWITCH_DEVICE_CLASSES == ("outlet", "switch")
    assert COVER_DEVICE_CLASSES == ("shutter", "blind", "awning", "curtain", "garage", "shade")


def test_an_empty_device_class_is_not_given() -> None:
    device_map = parse(
        """
switches:
  pump: {module: 2, output: 1, device_class: }
  fan: {module: 2, output: 2, device_class: "  "}
shutters:
  a_up: {module: 3, output: 1, relay_role: up, paired_device: a_down, device_class: ""}
  a_down: {module: 3, output: 2, relay_role: down, paired_device: a_up, device_class: blind}
"""
    )

    assert [switch.device_class for switch in device_map.switches] == [None, None]
    assert device_map.covers[0].device_class == "blind"
    assert device_map.warnings == ()


def test_unknown_device_class_is_a_problem() -> None:
    assert problems(
        """
switches:
  pump: {module: 2, output: 1, device_class: socket}
  fan: {module: 2, output: 2, device_class: 3}
shutters:
  a_up: {module: 3, output: 1, relay_role: up, paired_device: a_down, device_class: door}
  a_down: {module: 3, output: 2, relay_role: down, paired_device: a_up}
  b_up: {module: 3, output: 3, relay_role: up, paired_device: b_down}
  b_down: {module: 3, output: 4, relay_role: down, paired_device: b_up, device_class: outlet}
"""
    ) == [
        "devices.yaml: switches.pump.device_class: unknown device_class 'socket'; "
        "expected outlet or switch",
        "devices.yaml: switches.fan.device_class: unknown device_class 3; "
        "expected outlet or switch",
        "devices.yaml: shutters.a_up.device_class: unknown device_class 'door'; "
        "expected shutter, blind, awning, curtain, garage or shade",
        "devices.yaml: shutters.b_down.device_class: unknown device_class 'outlet'; "
        "expected shutter, blind, awning, curtain, garage or shade",
    ]


def test_shutter_relays_with_different_device_classes() -> None:
    assert shutter_problems(
        shutter("a_up", 3, 1, "up", "a_down", device_class="Blind"),
        shutter("a_down", 3, 2, "down", "a_up", device_class="blind"),
        shutter("b_up", 3, 3, "up", "b_down", device_class="awning"),
        shutter("b_down", 3, 4, "down", "b_up", device_class="blind"),
    ) == [
        "devices.yaml: shutters.b_down.device_class: 'blind' conflicts with "
        "shutters.b_up.device_class = 'awning'; "
        "the shutter's device class must be the same on both relays",
    ]


def test_device_class_on_a_light_is_a_warning() -> None:
    device_map = parse(
        """
lights:
  hall: {module: 1, output: 1, device_class: outlet}
  dining: {module: 6, output: 1, type: dimmer, device_class: nonsense}
"""
    )

    assert [light.key for light in device_map.lights] == ["hall", "dining"]
    assert [str(warning) for warning in device_map.warnings] == [
        "devices.yaml: lights.hall.device_class: setting not used, ignored: "
        "lights have no device class in Home Assistant",
        "devices.yaml: lights.dining.device_class: setting not used, ignored: "
        "lights have no device class in Home Assistant",
    ]


def test_letter_suffixes_are_stripped_only_when_they_make_the_names_equal() -> None:
    device_map = shutters(
        shutter("a_m", 3, 1, "up", "a_d", display_name="Garage A"),
        shutter("a_d", 3, 2, "down", "a_m", display_name="Garage B"),
        shutter("b_u", 3, 3, "up", "b_d", display_name="Porch u"),
        shutter("b_d", 3, 4, "down", "b_u", display_name="Porch D"),
    )

    assert [cover.name for cover in device_map.covers] == ["Garage A", "Porch"]


def test_ipcom_list_shows_the_warnings_after_the_table() -> None:
    lines = map_table(parse("lights:\n  hall: {module: 1, output: 1, colour: red}\n"))

    assert lines[-1] == "warning: devices.yaml: lights.hall.colour: setting not used, ignored"


# Buses: a module is (bus, module); a file without buses is bus 1.


def test_a_file_without_buses_is_all_bus_one() -> None:
    device_map = load_device_map(REPOSITORY / "devices.yaml")

    assert {entry.bus for entry in device_map} <= {1, 2}
    assert 1 in device_map.buses()
    hall = parse("lights:\n  hall: {module: 1, output: 2}\n")
    assert hall.buses() == (1,)
    entry = hall.get("hall")
    assert entry is not None
    assert entry.bus == 1


def test_the_same_module_and_output_on_two_buses_are_two_devices() -> None:
    device_map = parse(
        """
lights:
  hall: {module: 1, output: 2}
  attic: {bus: 2, module: 1, output: 2}
  table: {bus: 2, module: 6, output: 1, type: dimmer}
shutters:
  barn_up: {bus: 2, module: 3, output: 1, relay_role: up, paired_device: barn_down}
  barn_down: {bus: 2, module: 3, output: 2, relay_role: down, paired_device: barn_up}
"""
    )

    assert device_map.buses() == (1, 2)
    assert device_map.at(1, 2) == device_map.get("hall")
    assert device_map.at(1, 2, bus=2) == device_map.get("attic")
    assert device_map.modules() == (1,)
    assert device_map.modules(2) == (1, 3, 6)
    assert device_map.dimmer_modules() == frozenset()
    assert device_map.dimmer_modules(2) == frozenset({6})
    assert device_map.outputs(2) == (
        OutputAddress(1, 2),
        OutputAddress(3, 1),
        OutputAddress(3, 2),
        OutputAddress(6, 1),
    )
    barn = device_map.get("barn")
    assert isinstance(barn, CoverEntry)
    assert barn.bus == 2


def test_bus_problems_name_the_key_and_the_reason() -> None:
    assert problems(
        """
lights:
  hall: {bus: 3, module: 1, output: 2}
  attic: {bus: "2", module: 1, output: 3}
  porch: {module: 1, output: 4}
  shed: {bus: 1, module: 1, output: 4}
shutters:
  barn_up: {module: 3, output: 1, relay_role: up, paired_device: barn_down}
  barn_down: {bus: 2, module: 3, output: 2, relay_role: down, paired_device: barn_up}
"""
    ) == [
        "devices.yaml: lights.hall.bus: must be 1..2, got 3",
        "devices.yaml: lights.attic.bus: must be a whole number 1..2, got '2'",
        "devices.yaml: lights.shed: module 1 output 4 is already used by lights.porch",
        "devices.yaml: shutters.barn_up.bus: barn_up is on bus 1 and barn_down on bus 2; "
        "a shutter's relays must be on one bus",
    ]


def test_a_module_is_a_dimmer_module_on_its_own_bus_only() -> None:
    device_map = parse(
        """
lights:
  table: {bus: 2, module: 6, output: 1, type: dimmer}
  hall: {module: 6, output: 1}
"""
    )

    assert device_map.dimmer_modules(2) == frozenset({6})
    assert not device_map.warnings
