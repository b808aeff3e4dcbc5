"""The automation blueprints in blueprints/ load in Home Assistant and do what they say.

Each file is read as Home Assistant reads it (`!input` tags and all) and checked with its own
blueprint model and automation blueprint schema, so a broken blueprint fails here and not in a
user's Home Assistant. Then each is used as a user would, from a configuration directory's
`blueprints/automation/ipcom/`: the automation it makes passes Home Assistant's full validation
(triggers, conditions, actions) and, run against stand-in states, acts as its description says.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from awesomeversion import AwesomeVersion
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import (
    AUTOMATION_BLUEPRINT_SCHEMA,
    async_validate_config_item,
)
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.helpers.sun import get_astral_event_date
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import extract_inputs, load_yaml
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from release.version import ROOT

BLUEPRINTS = ROOT / "blueprints" / "automation" / "ipcom"
FILES = sorted(BLUEPRINTS.glob("*.yaml"))
DOCS = ROOT / "docs" / "integration.md"

SUN = "shutters_follow_the_sun.yaml"
CONNECTION = "connection_lost_alert.yaml"
TURN_OFF = "turn_off_after.yaml"
SAMPLE_INPUTS: dict[str, dict[str, Any]] = {
    SUN: {"covers": ["cover.living_room_shutter"]},
    CONNECTION: {"connection_sensors": ["binary_sensor.ipcom_connection"]},
    TURN_OFF: {"targets": ["light.cellar_ceiling", "switch.garden_socket"]},
}
"""The inputs that have no default, as a user would fill them in."""


def _load(path: Path) -> dict[str, Any]:
    data = load_yaml(str(path))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def _blueprint(path: Path) -> Blueprint:
    return Blueprint(
        _load(path),
        path=str(path),
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )


def test_the_blueprints_are_there() -> None:
    assert {path.name for path in FILES} == set(SAMPLE_INPUTS)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_home_assistant_accepts_the_blueprint(path: Path) -> None:
    blueprint = _blueprint(path)
    # This Home Assistant (the oldest or the newest supported) runs it.
    assert blueprint.validate() is None
    # Every input is used; Blueprint itself refuses one used but not defined.
    assert extract_inputs(blueprint.data) == set(blueprint.inputs)
    assert blueprint.metadata["description"].strip()
    for name, spec in blueprint.inputs.items():
        assert spec.get("name"), f"input {name} has no name"
        assert spec.get("description"), f"input {name} has no description"
        assert "selector" in spec, f"input {name} has no selector"


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_it_asks_no_newer_home_assistant_than_the_integration(path: Path) -> None:
    oldest = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))["homeassistant"]
    min_version = _blueprint(path).metadata["homeassistant"]["min_version"]
    assert AwesomeVersion(min_version) <= AwesomeVersion(oldest)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_entity_inputs_offer_only_ipcom_entities(path: Path) -> None:
    ipcom_inputs = 0
    for name, spec in _blueprint(path).inputs.items():
        entity = spec["selector"].get("entity")
        if entity is None:
            continue
        filters = entity.get("filter", [])
        filters = filters if isinstance(filters, list) else [filters]
        assert filters, f"input {name} offers every entity"
        for entity_filter in filters:
            if entity_filter.get("integration") == "ipcom":
                ipcom_inputs += 1
            else:
                # Only a sensor of another integration (occupancy, motion) may be offered.
                assert set(entity_filter.get("domain", [])) == {"binary_sensor"}, name
                assert entity_filter.get("device_class"), name
    assert ipcom_inputs, "no input picks IPCom entities"


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_the_documentation_links_the_blueprint(path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert f"(../blueprints/automation/ipcom/{path.name})" in text


# Used as a user would: copied into a configuration directory.


@pytest.fixture
def hass_config_dir(tmp_path: Path) -> str:
    """A configuration directory with the blueprints where the user copies them."""
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "ipcom")
    return str(tmp_path)


UNDER_TEST = "automation.under_test"


def _config(blueprint: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "under_test",
        "alias": "Under test",
        "use_blueprint": {"path": f"ipcom/{blueprint}", "input": inputs},
    }


SetUp = Callable[..., Awaitable[None]]


@pytest.fixture
async def set_up(hass: HomeAssistant) -> AsyncGenerator[SetUp]:
    """Make the automation under test from a blueprint and inputs; turn it off at the end.

    Turning it off detaches its triggers, so no sun or `for:` timer outlives the test.
    """

    async def _set_up(blueprint: str, **inputs: Any) -> None:
        config = _config(blueprint, {**SAMPLE_INPUTS[blueprint], **inputs})
        assert await async_setup_component(hass, "automation", {"automation": config})
        await hass.async_block_till_done()
        state = hass.states.get(UNDER_TEST)
        assert state is not None
        assert state.state == "on"

    yield _set_up
    if hass.states.get(UNDER_TEST) is not None:
        await hass.services.async_call(
            "automation", "turn_off", {"entity_id": UNDER_TEST}, blocking=True
        )
        await hass.async_block_till_done()


async def _settle() -> None:
    """Let the callbacks already scheduled run, at the current time.

    Older Home Assistant releases hand a state change to the triggers' listeners on the next
    turn of the event loop: a `for:` must start counting before the clock moves on.
    """
    for _ in range(20):
        await asyncio.sleep(0)


async def _at(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: datetime, *, block: bool = True
) -> None:
    await _settle()
    freezer.move_to(when)
    async_fire_time_changed(hass, when)
    if block:
        await hass.async_block_till_done()
    else:
        # A run that waits would keep async_block_till_done waiting: let it start, only.
        await _settle()


async def _after(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: float, *, block: bool = True
) -> None:
    await _at(hass, freezer, dt_util.utcnow() + timedelta(minutes=minutes), block=block)


def _runs(hass: HomeAssistant) -> int:
    """How many runs of the automation under test are under way."""
    state = hass.states.get(UNDER_TEST)
    assert state is not None
    return int(state.attributes["current"])


def _entity_ids(call: ServiceCall) -> list[str]:
    ids = call.data["entity_id"]
    return [ids] if isinstance(ids, str) else list(ids)


@pytest.mark.parametrize("blueprint", sorted(SAMPLE_INPUTS))
async def test_the_automation_it_makes_passes_full_validation(
    hass: HomeAssistant, blueprint: str
) -> None:
    # Raises on anything Home Assistant would refuse: the substitution, the schema, each
    # trigger, condition and action.
    validated = await async_validate_config_item(
        hass, "under_test", _config(blueprint, SAMPLE_INPUTS[blueprint])
    )
    assert validated is not None
    assert validated.validation_status == "ok"


# shutters_follow_the_sun.yaml


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=dt_util.get_default_time_zone())


def _sun(hass: HomeAssistant, event: str, day: date) -> datetime:
    moment = get_astral_event_date(hass, event, day)
    assert isinstance(moment, datetime)
    return moment


async def test_shutters_close_after_sunset_and_open_not_before_the_time_given(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    # The test configuration is in San Diego: mid-June, the sun rises before 06:00.
    day = date(2026, 6, 15)
    await _at(hass, freezer, _local(day, time(12)))
    closed = async_mock_service(hass, "cover", "close_cover")
    opened = async_mock_service(hass, "cover", "open_cover")
    covers = ["cover.living_room_shutter", "cover.bedroom_shutter"]
    await set_up(
        SUN,
        covers=covers,
        close_offset={"minutes": 15},
        open_offset={"minutes": -10},
        open_not_before="07:00:00",
    )

    close_at = _sun(hass, "sunset", day) + timedelta(minutes=15)
    await _at(hass, freezer, close_at - timedelta(minutes=1))
    assert not closed
    await _at(hass, freezer, close_at + timedelta(seconds=1))
    assert [_entity_ids(call) for call in closed] == [covers]

    next_day = day + timedelta(days=1)
    sunrise = _sun(hass, "sunrise", next_day)
    assert sunrise < _local(next_day, time(7)) - timedelta(minutes=30)
    await _at(hass, freezer, sunrise - timedelta(minutes=10) + timedelta(seconds=1))
    assert not opened, "opened at sunrise, before 07:00"
    await _at(hass, freezer, _local(next_day, time(7, 0, 1)))
    assert [_entity_ids(call) for call in opened] == [covers]
    assert len(closed) == 1


async def test_shutters_open_at_sunrise_when_it_is_after_the_time_given(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    day = date(2026, 6, 15)
    await _at(hass, freezer, _local(day, time(23)))
    opened = async_mock_service(hass, "cover", "open_cover")
    await set_up(SUN, open_offset={"minutes": 20}, open_not_before="05:00:00")

    next_day = day + timedelta(days=1)
    open_at = _sun(hass, "sunrise", next_day) + timedelta(minutes=20)
    assert open_at > _local(next_day, time(5, 30))
    await _at(hass, freezer, _local(next_day, time(5, 0, 1)))
    assert not opened, "opened at 05:00, before sunrise"
    await _at(hass, freezer, open_at + timedelta(seconds=1))
    assert [_entity_ids(call) for call in opened] == [["cover.living_room_shutter"]]


# connection_lost_alert.yaml

SENSOR = "binary_sensor.ipcom_connection"
SENSOR_NAME = "IPCom Connection"


def _connection(hass: HomeAssistant, state: str) -> None:
    hass.states.async_set(SENSOR, state, {"friendly_name": SENSOR_NAME})


async def test_a_lost_connection_is_told_after_the_minutes_given_and_again_once_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    notes = async_mock_service(hass, "persistent_notification", "create")
    _connection(hass, "on")
    await set_up(CONNECTION, minutes=5)

    # A short outage, bridged by reconnecting, is not told.
    _connection(hass, "off")
    await _after(hass, freezer, 4)
    _connection(hass, "on")
    await hass.async_block_till_done()
    await _after(hass, freezer, 10)
    assert not notes

    _connection(hass, "off")
    await _after(hass, freezer, 4)
    assert not notes
    await _after(hass, freezer, 1.5)
    assert len(notes) == 1
    assert notes[0].data["title"] == "IPCom connection lost"
    assert notes[0].data["message"].startswith(f"{SENSOR_NAME}: no connection")
    assert "for 5 minutes" in notes[0].data["message"]
    assert notes[0].data["notification_id"] == f"ipcom_connection_{SENSOR}"

    _connection(hass, "on")
    await hass.async_block_till_done()
    assert len(notes) == 2
    assert notes[1].data["title"] == "IPCom connection back"
    # The same notification: "back" replaces "lost".
    assert notes[1].data["notification_id"] == notes[0].data["notification_id"]


async def test_an_integration_not_loaded_counts_as_lost_and_back_can_be_left_out(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    sent = async_mock_service(hass, "notify", "phone")
    _connection(hass, "on")
    await set_up(
        CONNECTION,
        minutes=2,
        notify_back=False,
        notify_actions=[{"action": "notify.phone", "data": {"message": "{{ message }}"}}],
    )
    _connection(hass, "unavailable")
    await _after(hass, freezer, 2.5)
    assert [call.data["message"] for call in sent] == [
        f"{SENSOR_NAME}: no connection to the IPCom installation for 2 minutes. Its lights, "
        "switches and shutters cannot be controlled from Home Assistant until it is back."
    ]
    _connection(hass, "on")
    await hass.async_block_till_done()
    assert len(sent) == 1


# turn_off_after.yaml

LIGHT = "light.cellar_ceiling"
SOCKET = "switch.garden_socket"


async def test_each_light_or_switch_is_turned_off_once_on_for_the_minutes_given(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    turned_off = async_mock_service(hass, "homeassistant", "turn_off")
    hass.states.async_set(LIGHT, "off")
    hass.states.async_set(SOCKET, "off")
    await set_up(TURN_OFF, minutes=10)

    hass.states.async_set(LIGHT, "on")
    await _after(hass, freezer, 4)
    hass.states.async_set(SOCKET, "on")
    await _after(hass, freezer, 5)
    assert not turned_off
    await _after(hass, freezer, 1.5)
    assert [_entity_ids(call) for call in turned_off] == [[LIGHT]]
    hass.states.async_set(LIGHT, "off")
    await _after(hass, freezer, 4)
    assert [_entity_ids(call) for call in turned_off] == [[LIGHT], [SOCKET]]

    # Off and on again starts the time anew.
    hass.states.async_set(LIGHT, "on")
    await _after(hass, freezer, 6)
    hass.states.async_set(LIGHT, "off")
    await _after(hass, freezer, 1)
    hass.states.async_set(LIGHT, "on")
    await _after(hass, freezer, 6)
    assert len(turned_off) == 2
    await _after(hass, freezer, 4.5)
    assert [_entity_ids(call) for call in turned_off][2:] == [[LIGHT]]


async def test_wall_only_leaves_alone_what_home_assistant_switched_on(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    turned_off = async_mock_service(hass, "homeassistant", "turn_off")
    hass.states.async_set(LIGHT, "off")
    await set_up(TURN_OFF, minutes=10, wall_only=True)

    # From the app or a dashboard (a user), or from an automation (a parent context).
    for context in (Context(user_id="a-user"), Context(parent_id="an-automation-run")):
        hass.states.async_set(LIGHT, "on", context=context)
        await _after(hass, freezer, 11)
        hass.states.async_set(LIGHT, "off")
        await hass.async_block_till_done()
    assert not turned_off

    # At the wall: the integration writes the installation's state with a context of its own.
    hass.states.async_set(LIGHT, "on", context=Context())
    await _after(hass, freezer, 11)
    assert [_entity_ids(call) for call in turned_off] == [[LIGHT]]


async def test_nothing_is_turned_off_while_an_occupancy_sensor_sees_someone(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    turned_off = async_mock_service(hass, "homeassistant", "turn_off")
    motion = "binary_sensor.cellar_motion"
    hass.states.async_set(LIGHT, "off")
    hass.states.async_set(motion, "on")
    await set_up(TURN_OFF, minutes=10, occupancy_sensors=[motion])

    hass.states.async_set(LIGHT, "on")
    await _after(hass, freezer, 30, block=False)
    assert _runs(hass) == 1, "the run does not wait"
    assert not turned_off
    hass.states.async_set(motion, "off")
    await hass.async_block_till_done()
    assert [_entity_ids(call) for call in turned_off] == [[LIGHT]]


async def test_a_light_switched_off_while_waiting_for_the_room_to_empty_is_left_alone(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, set_up: SetUp
) -> None:
    turned_off = async_mock_service(hass, "homeassistant", "turn_off")
    motion = "binary_sensor.cellar_motion"
    hass.states.async_set(LIGHT, "off")
    hass.states.async_set(motion, "on")
    await set_up(TURN_OFF, minutes=10, occupancy_sensors=[motion])

    hass.states.async_set(LIGHT, "on")
    await _after(hass, freezer, 11, block=False)
    assert _runs(hass) == 1, "the run does not wait"
    hass.states.async_set(LIGHT, "off")
    await _after(hass, freezer, 1, block=False)
    hass.states.async_set(LIGHT, "on")
    await _after(hass, freezer, 1, block=False)
    hass.states.async_set(motion, "off")
    await hass.async_block_till_done()
    # The first "on" was ended by hand; the second has run 1 minute of its 10.
    assert _runs(hass) == 0
    assert not turned_off
