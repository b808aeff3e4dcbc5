"""A device map as records, one flat mapping per device, as Home Assistant's subentries keep it.

A map turned into records and back is the same map; a record keeps its key
as stored; its unique id is its (up) relay's address; `check_record` says
which form field a problem belongs to; `entry_of` names the record and the
setting it lacks; `new_key` makes a key no device (nor a shutter's relay)
has yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipcom.device_records import (
    BUS,
    DOWN_MODULE,
    DOWN_OUTPUT,
    INVALID_SETTING,
    KIND_LIGHT,
    KIND_SHUTTER,
    KIND_SWITCH,
    MODULE,
    MODULE_IS_DIMMER,
    MODULE_IS_RELAY,
    OUTPUT,
    OUTPUT_IN_USE,
    SAME_RELAY,
    UP_MODULE,
    UP_OUTPUT,
    DeviceRecord,
    RecordProblem,
    address_id,
    check_record,
    device_map_of,
    entry_of,
    new_key,
    record_of,
    records_of,
)
from ipcom.devices import (
    CoverEntry,
    DeviceMap,
    DeviceMapError,
    LightEntry,
    load_device_map,
    parse_device_map,
)

REPOSITORY = Path(__file__).parents[2]


def relay(module: int, output: int, role: str, partner: str, **extra: object) -> dict[str, object]:
    """One shutter relay entry of a devices.yaml document."""
    return {
        "module": module,
        "output": output,
        "relay_role": role,
        "paired_device": partner,
        **extra,
    }


TWO_BUSES: DeviceMap = parse_device_map(
    {
        "lights": {
            "hall": {"module": 1, "output": 1, "display_name": "Hall", "area": "Hall"},
            "table": {"module": 6, "output": 1, "type": "dimmer", "display_name": "Table"},
            "barn": {"bus": 2, "module": 1, "output": 1, "display_name": "Barn"},
            "terrace": {"bus": 2, "module": 2, "output": 1, "type": "dimmer", "icon": "mdi:lamp"},
        },
        "switches": {
            "pump": {"module": 5, "output": 2, "display_name": "Pump", "description": "Pond"},
            "socket": {"bus": 2, "module": 1, "output": 2, "device_class": "outlet"},
        },
        "shutters": {
            # Both relays on one module, one travel time, a rest of its own.
            "living_up": relay(3, 1, "up", "living_down", travel_time=24, reverse_pause=1.5),
            "living_down": relay(3, 2, "down", "living_up", display_name="Living shutter down"),
            # Across two modules, per direction, an awning.
            "patio_up": relay(3, 5, "up", "patio_down", travel_time_up=22, travel_time_down=18.5),
            "patio_down": relay(
                4, 1, "down", "patio_up", device_class="awning", cover_name="Patio awning"
            ),
            # On bus 2, no travel time, no rest of its own.
            "shed_up": relay(3, 1, "up", "shed_down", bus=2, reverse_pause=0),
            "shed_down": relay(3, 2, "down", "shed_up", bus=2, reverse_pause=0),
        },
    },
    "test_device_records",
)
"""Every kind of device on two buses; shutters with travel times and rests of their own."""


def base_records() -> tuple[DeviceRecord, ...]:
    return records_of(TWO_BUSES)


def light(key: str, module: int, output: int, **extra: Any) -> DeviceRecord:
    data: dict[str, Any] = {"key": key, "name": key.title(), MODULE: module, OUTPUT: output}
    return DeviceRecord(KIND_LIGHT, data | {"dimmable": False} | extra)


def switch(key: str, module: int, output: int, **extra: Any) -> DeviceRecord:
    return DeviceRecord(
        KIND_SWITCH, {"key": key, "name": key.title(), MODULE: module, OUTPUT: output} | extra
    )


def shutter(key: str, up: tuple[int, int], down: tuple[int, int], **extra: Any) -> DeviceRecord:
    data: dict[str, Any] = {
        "key": key,
        "name": key.title(),
        UP_MODULE: up[0],
        UP_OUTPUT: up[1],
        DOWN_MODULE: down[0],
        DOWN_OUTPUT: down[1],
        "up_key": f"{key}_up",
        "down_key": f"{key}_down",
        "device_class": "shutter",
    }
    return DeviceRecord(KIND_SHUTTER, data | extra)


def stored(records: tuple[DeviceRecord, ...]) -> list[DeviceRecord]:
    """The records as Home Assistant gives them back: through JSON."""
    return [DeviceRecord(r.kind, json.loads(json.dumps(dict(r.data)))) for r in records]


# Round trip


def test_the_demo_house_survives_records_and_json() -> None:
    """devices.yaml -> records -> (JSON) -> map is the same map, in the same order."""
    demo = load_device_map(REPOSITORY / "devices.yaml")

    records = records_of(demo)

    assert [record.key for record in records] == [entry.key for entry in demo]
    assert device_map_of(records) == demo
    assert device_map_of(stored(records)) == demo
    assert device_map_of(records).buses() == (1, 2)
    for record in records:
        assert None not in record.data.values(), record
        assert entry_of(record) == demo.get(record.key)


def test_two_buses_and_shutters_with_travel_times_and_rests_survive() -> None:
    again = device_map_of(stored(base_records()))

    assert again == TWO_BUSES
    living = again.get("living")
    assert isinstance(living, CoverEntry)
    assert (living.travel_time_up, living.travel_time_down) == (24.0, 24.0)
    assert living.reverse_pause == 1.5
    shed = again.get("shed")
    assert isinstance(shed, CoverEntry)
    assert (shed.bus, shed.reverse_pause, shed.travel_time_up) == (2, 0.0, None)
    patio = again.get("patio")
    assert isinstance(patio, CoverEntry)
    assert patio.reverse_pause is None
    assert again.dimmer_modules(2) == frozenset({2})


def test_a_record_holds_the_settings_under_their_devices_yaml_names() -> None:
    records = {record.key: record for record in base_records()}

    assert records["hall"] == DeviceRecord(
        KIND_LIGHT,
        {
            "key": "hall",
            "name": "Hall",
            "area": "Hall",
            "bus": 1,
            "module": 1,
            "output": 1,
            "dimmable": False,
        },
    )
    assert records["terrace"].data["icon"] == "mdi:lamp"
    assert records["terrace"].data["dimmable"] is True
    assert records["socket"] == DeviceRecord(
        KIND_SWITCH,
        {
            "key": "socket",
            "name": "Socket",
            "bus": 2,
            "module": 1,
            "output": 2,
            "device_class": "outlet",
        },
    )
    assert records["patio"] == DeviceRecord(
        KIND_SHUTTER,
        {
            "key": "patio",
            "name": "Patio awning",
            "bus": 1,
            "up_module": 3,
            "up_output": 5,
            "down_module": 4,
            "down_output": 1,
            "up_key": "patio_up",
            "down_key": "patio_down",
            "device_class": "awning",
            "travel_time_up": 22.0,
            "travel_time_down": 18.5,
        },
    )
    assert records["living"].data["reverse_pause"] == 1.5
    assert records["living"].title == "Living shutter"


# Keys


def test_a_stored_shutter_key_is_kept_not_derived_from_its_relays() -> None:
    """A file would name this shutter `living_shutter`; the record's key stays `blinds`."""
    record = shutter("blinds", (3, 1), (3, 2))
    record = DeviceRecord(
        KIND_SHUTTER,
        dict(record.data) | {"up_key": "living_shutter_up", "down_key": "living_shutter_down"},
    )

    device_map = device_map_of([record])

    (cover,) = device_map.covers
    assert cover.key == "blinds"
    assert device_map.get("blinds") is cover
    assert device_map.get("living_shutter_up") is cover
    assert device_map.get("living_shutter") is None
    assert records_of(device_map)[0].key == "blinds"


def test_a_light_key_is_kept_as_stored() -> None:
    device_map = device_map_of([light("Hall Light 1", 1, 1)])

    assert [entry.key for entry in device_map] == ["Hall Light 1"]


# Unique ids


def test_unique_ids_are_bus_module_output_of_the_up_relay() -> None:
    records = {record.key: record for record in base_records()}

    assert records["hall"].unique_id == "1-1-1"
    assert records["table"].unique_id == "1-6-1"
    assert records["barn"].unique_id == "2-1-1"
    assert records["socket"].unique_id == "2-1-2"
    assert records["living"].unique_id == "1-3-1"
    assert records["patio"].unique_id == "1-3-5"
    assert records["shed"].unique_id == "2-3-1"
    assert address_id(2, 16, 8) == "2-16-8"
    assert len({record.unique_id for record in records.values()}) == len(records)


def test_a_record_without_a_bus_is_on_bus_1() -> None:
    record = light("porch", 2, 7)
    assert BUS not in record.data

    assert record.unique_id == "1-2-7"
    assert entry_of(record).bus == 1


# check_record


def test_a_record_that_fits_has_no_problems() -> None:
    assert check_record(base_records(), light("porch", 2, 7)) == []
    assert check_record(base_records(), switch("fan", 5, 3, device_class="switch")) == []
    assert check_record(base_records(), shutter("attic", (7, 1), (8, 1), travel_time_up=10)) == []


def test_an_output_in_use_is_shown_at_its_output_field() -> None:
    records = base_records()

    assert check_record(records, light("porch", 1, 1)) == [
        RecordProblem(OUTPUT, OUTPUT_IN_USE, {"device": "Hall"})
    ]
    assert check_record(records, switch("fan", 3, 2)) == [
        RecordProblem(OUTPUT, OUTPUT_IN_USE, {"device": "Living shutter"})
    ]
    assert check_record(records, shutter("attic", (7, 1), (3, 2))) == [
        RecordProblem(DOWN_OUTPUT, OUTPUT_IN_USE, {"device": "Living shutter"})
    ]
    assert check_record(records, shutter("attic", (5, 2), (7, 1))) == [
        RecordProblem(UP_OUTPUT, OUTPUT_IN_USE, {"device": "Pump"})
    ]


def test_outputs_are_in_use_per_bus() -> None:
    records = base_records()

    assert check_record(records, light("loft", 1, 1, bus=2)) == [
        RecordProblem(OUTPUT, OUTPUT_IN_USE, {"device": "Barn"})
    ]
    assert check_record(records, light("loft", 1, 3, bus=2)) == []
    assert check_record(records, light("loft", 5, 2, bus=2)) == []


def test_a_relay_on_a_dimmer_module_is_shown_at_its_module_field() -> None:
    records = base_records()

    assert check_record(records, light("porch", 6, 2)) == [
        RecordProblem(MODULE, MODULE_IS_DIMMER, {"device": "Table"})
    ]
    assert check_record(records, switch("fan", 6, 3)) == [
        RecordProblem(MODULE, MODULE_IS_DIMMER, {"device": "Table"})
    ]
    assert check_record(records, shutter("attic", (7, 1), (6, 4))) == [
        RecordProblem(DOWN_MODULE, MODULE_IS_DIMMER, {"device": "Table"})
    ]
    # Module 6 of bus 2 is another module: a relay module there is fine.
    assert check_record(records, switch("fan", 6, 3, bus=2)) == []


def test_a_dimmer_on_a_relay_module_is_shown_at_its_module_field() -> None:
    records = base_records()

    assert check_record(records, light("porch", 5, 3, dimmable=True)) == [
        RecordProblem(MODULE, MODULE_IS_RELAY, {"device": "Pump"})
    ]
    assert check_record(records, light("porch", 4, 2, dimmable=True)) == [
        RecordProblem(MODULE, MODULE_IS_RELAY, {"device": "Patio awning"})
    ]
    assert check_record(records, light("porch", 6, 2, dimmable=True)) == []
    # On bus 2, module 2 is a dimmer module and module 1 a relay module.
    assert check_record(records, light("loft", 2, 2, bus=2, dimmable=True)) == []
    assert check_record(records, light("loft", 1, 3, bus=2, dimmable=True)) == [
        RecordProblem(MODULE, MODULE_IS_RELAY, {"device": "Barn"})
    ]


def test_a_shutter_on_one_relay_is_shown_at_its_down_output() -> None:
    assert check_record(base_records(), shutter("attic", (7, 1), (7, 1))) == [
        RecordProblem(DOWN_OUTPUT, SAME_RELAY)
    ]


def test_replacing_lets_a_record_keep_its_own_outputs() -> None:
    records = base_records()
    renamed_hall = light("hall", 1, 1, name="Entrance")
    slower_living = shutter(
        "living", (3, 1), (3, 2), travel_time_up=30, travel_time_down=30, reverse_pause=2
    )
    table_as_relay = light("table", 6, 1, dimmable=False)

    assert check_record(records, renamed_hall, replacing="hall") == []
    assert check_record(records, slower_living, replacing="living") == []
    assert check_record(records, table_as_relay, replacing="table") == []
    # Without it, the record finds itself in the way.
    assert check_record(records, renamed_hall) == [
        RecordProblem(OUTPUT, OUTPUT_IN_USE, {"device": "Hall"})
    ]
    # Replacing one device does not free another's output.
    assert check_record(records, light("hall", 5, 2), replacing="hall") == [
        RecordProblem(OUTPUT, OUTPUT_IN_USE, {"device": "Pump"})
    ]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (light("porch", 17, 1), "the devices: lights.porch.module: must be 1..16, got 17"),
        (light("porch", 2, 9), "the devices: lights.porch.output: must be 1..8, got 9"),
        (light("porch", 2, 1, bus=3), "the devices: lights.porch.bus: must be 1..2, got 3"),
        (
            shutter("attic", (7, 1), (7, 2), travel_time_up=999),
            "the devices: shutters.attic_up.travel_time_up: "
            "must be more than 0 and at most 300 seconds, got 999; "
            "the devices: shutters.attic_down.travel_time_up: "
            "must be more than 0 and at most 300 seconds, got 999",
        ),
        (
            shutter("attic", (7, 1), (7, 2), reverse_pause=9),
            "the devices: shutters.attic_up.reverse_pause: must be 0 to 5 seconds, got 9; "
            "the devices: shutters.attic_down.reverse_pause: must be 0 to 5 seconds, got 9",
        ),
        (
            switch("fan", 5, 3, device_class="heater"),
            "the devices: switches.fan.device_class: "
            "unknown device_class 'heater'; expected outlet or switch",
        ),
    ],
    ids=["module-17", "output-9", "bus-3", "travel-time-999", "reverse-pause-9", "device-class"],
)
def test_invalid_settings_come_back_at_base_with_the_reason(
    record: DeviceRecord, reason: str
) -> None:
    assert check_record(base_records(), record) == [
        RecordProblem("base", INVALID_SETTING, {"reason": reason})
    ]


def test_a_placement_problem_is_reported_before_the_settings_are_checked() -> None:
    assert check_record(base_records(), light("porch", 1, 1, bus=1, area=5)) == [
        RecordProblem(OUTPUT, OUTPUT_IN_USE, {"device": "Hall"})
    ]


# entry_of


def test_entry_of_names_the_record_and_the_missing_setting() -> None:
    porch = DeviceRecord(KIND_LIGHT, {"key": "porch", "name": "Porch", OUTPUT: 1})
    attic = shutter("attic", (7, 1), (7, 2))
    attic = DeviceRecord(KIND_SHUTTER, {k: v for k, v in attic.data.items() if k != "up_key"})
    nameless = DeviceRecord(KIND_SWITCH, {"key": "fan", MODULE: 5, OUTPUT: 3})

    with pytest.raises(DeviceMapError) as porch_error:
        entry_of(porch)
    with pytest.raises(DeviceMapError) as attic_error:
        entry_of(attic)
    with pytest.raises(DeviceMapError) as nameless_error:
        entry_of(nameless)

    assert porch_error.value.problems == ["light Porch: module is required"]
    assert attic_error.value.problems == ["shutter Attic: up_key is required"]
    assert nameless_error.value.problems == ["switch fan: name is required"]


def test_entry_of_refuses_an_unknown_kind() -> None:
    with pytest.raises(DeviceMapError) as caught:
        entry_of(DeviceRecord("fan", {"key": "fan", "name": "Fan", MODULE: 5, OUTPUT: 3}))

    assert caught.value.problems == [
        "fan Fan: unknown kind 'fan'; expected one of light, switch, shutter"
    ]


def test_device_map_of_names_its_source_in_problems() -> None:
    with pytest.raises(DeviceMapError) as caught:
        device_map_of([light("porch", 17, 1)], source="the devices of Home")

    assert caught.value.problems == [
        "the devices of Home: lights.porch.module: must be 1..16, got 17"
    ]


def test_entry_of_reads_a_record_back_as_its_entry() -> None:
    for entry in TWO_BUSES:
        assert entry_of(record_of(entry)) == entry
    assert entry_of(light("porch", 2, 7)) == LightEntry(
        key="porch", name="Porch", module=2, output=7, dimmable=False
    )


# new_key


def test_new_key_slugs_the_name() -> None:
    assert new_key([], "Living room lamp") == "living_room_lamp"
    assert new_key([], "  Hall -- Ceiling!! ") == "hall_ceiling"
    assert new_key([], "Lamp 2") == "lamp_2"


def test_new_key_turns_accented_names_into_ascii() -> None:
    assert new_key([], "Éclairage cuisine") == "eclairage_cuisine"
    assert new_key([], "Über Tür") == "uber_tur"
    assert new_key([], "Ñandú") == "nandu"


def test_new_key_of_a_name_without_ascii_letters() -> None:
    assert new_key([], "日本") == "device"
    assert new_key([], "") == "device"
    assert new_key([], "!!!") == "device"
    assert new_key([light("device", 1, 1)], "日本") == "device_2"


def test_new_key_is_unique_in_the_map() -> None:
    records = [light("hall", 1, 1), light("hall_2", 1, 2)]

    assert new_key(records, "Hall") == "hall_3"
    assert new_key(records, "Kitchen") == "kitchen"


def test_new_key_keeps_clear_of_shutter_relay_keys() -> None:
    """A shutter's relays are `<key>_up`/`_down`: no key may clash with those either way."""
    terrace = DeviceRecord(
        KIND_SHUTTER,
        dict(shutter("terrace_blind", (3, 1), (3, 2)).data)
        | {"up_key": "terrace_up", "down_key": "terrace_down"},
    )
    records = [terrace, shutter("kitchen", (3, 3), (3, 4)), light("porch_down", 1, 1)]

    # A new shutter named Terrace would put its up relay on terrace_up.
    assert new_key(records, "Terrace") == "terrace_2"
    # The relay keys themselves are taken.
    assert new_key(records, "Kitchen up") == "kitchen_up_2"
    assert new_key(records, "Kitchen") == "kitchen_2"
    # A device keyed like a relay keeps that name from a new shutter.
    assert new_key(records, "Porch") == "porch_2"
    assert new_key(records, "Terrace blind") == "terrace_blind_2"


def test_a_new_key_makes_a_map_that_validates() -> None:
    records = list(base_records())
    for name in ("Living", "Living", "Hall", "Patio"):
        key = new_key(records, name)
        records.append(
            shutter(key, (9 + len(records) % 8, 1), (9 + len(records) % 8, 2), name=name)
        )

    device_map = device_map_of(records)

    assert len({entry.key for entry in device_map}) == len(device_map)
    assert [cover.key for cover in device_map.covers][-4:] == [
        "living_2",
        "living_3",
        "hall_2",
        "patio_2",
    ]


# Records that cannot be used


def test_two_records_with_one_key_are_refused() -> None:
    records = [light("hall", 1, 1)]
    twin = light("hall", 1, 2, name="Other hall")

    assert check_record(records, twin) != []
    with pytest.raises(DeviceMapError):
        device_map_of([*records, twin])


def test_a_shutter_key_that_is_another_devices_key_is_refused() -> None:
    records = [light("hall", 1, 1)]
    hall_shutter = DeviceRecord(
        KIND_SHUTTER,
        dict(shutter("hall", (3, 1), (3, 2)).data)
        | {"up_key": "hall_shutter_up", "down_key": "hall_shutter_down"},
    )

    with pytest.raises(DeviceMapError):
        device_map_of([*records, hall_shutter])


def test_entry_of_names_a_setting_of_the_wrong_type() -> None:
    porch = DeviceRecord(KIND_LIGHT, {"key": "porch", "name": "Porch", MODULE: "first", OUTPUT: 1})

    with pytest.raises(DeviceMapError) as caught:
        entry_of(porch)

    assert "module" in caught.value.problems[0]


def test_entry_of_refuses_a_fractional_output() -> None:
    with pytest.raises(DeviceMapError):
        entry_of(light("porch", 1, 2.7))  # type: ignore[arg-type]


def test_check_record_reports_a_missing_address_setting() -> None:
    porch = DeviceRecord(KIND_LIGHT, {"key": "porch", "name": "Porch", MODULE: 2})

    assert check_record(base_records(), porch) != []
