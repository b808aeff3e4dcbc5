"""Lights: relay and dimmer outputs, driven from both sides."""

from __future__ import annotations

import pytest
from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    DOMAIN as LIGHT_DOMAIN,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
)
from homeassistant.const import ATTR_ENTITY_ID, ATTR_ICON, STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.ipcom.const import DOMAIN
from custom_components.ipcom.identifiers import output_unique_id
from custom_components.ipcom.light import brightness_to_percent, percent_to_brightness
from ipcom.simulator import ReceivedWrite, Simulator

from .conftest import (
    ENTRY_ID,
    assert_written,
    entity_id_of,
    get_coordinator,
    lose_link,
    press_wall_switch,
    set_installation_output,
    snapshot_platform,
    subentry_id_of,
    wait_until,
)

RESTORED_DIMMER = "light.dining_table"
"""The entity id an existing installation gave the dimmer before Home Assistant 2026.10."""


def relay(hass: HomeAssistant) -> str:
    """The entity id of the relay light on output 1.1."""
    return entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, 1, 1))


def dimmer(hass: HomeAssistant) -> str:
    """The entity id of the dimmer on output 6.1."""
    return entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, 6, 1))


def register_restored_dimmer(hass: HomeAssistant) -> None:
    """Register the dimmer under the entity id an existing installation already has."""
    er.async_get(hass).async_get_or_create(
        Platform.LIGHT, DOMAIN, output_unique_id(ENTRY_ID, 6, 1), suggested_object_id="dining_table"
    )


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the light platform."""
    return [Platform.LIGHT]


async def turn_on(hass: HomeAssistant, entity_id: str, **data: int) -> None:
    """Call light.turn_on and wait for it."""
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id, **data}, blocking=True
    )


async def turn_off(hass: HomeAssistant, entity_id: str) -> None:
    """Call light.turn_off and wait for it."""
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Registry entries and states of every light, one relay and one dimmer lit."""
    await set_installation_output(hass, simulator, 1, 1, 255)
    await set_installation_output(hass, simulator, 6, 1, 40)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_a_light_shows_its_state_icons_unless_given_an_icon(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A light sets no icon, so the frontend shows the light's on and off icons.

    Only an icon given to the device (devices.yaml `icon:`, or the account
    import's from its Home Anywhere drawing, kept in its subentry) replaces them.
    """
    for unique_id in (output_unique_id(ENTRY_ID, 1, 1), output_unique_id(ENTRY_ID, 6, 1)):
        state = hass.states.get(entity_id_of(hass, Platform.LIGHT, unique_id))
        assert state is not None
        assert ATTR_ICON not in state.attributes

    entry = init_integration
    subentry = entry.subentries[subentry_id_of(entry, "living_ceiling")]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "icon": "mdi:lightbulb-fluorescent-tube"}
    )
    await wait_until(
        hass,
        lambda: (
            (state := hass.states.get(relay(hass))) is not None
            and state.attributes.get(ATTR_ICON) == "mdi:lightbulb-fluorescent-tube"
        ),
        "the ceiling light taking its icon",
    )


@pytest.mark.usefixtures("init_integration")
async def test_relay_follows_wall_switch(hass: HomeAssistant, simulator: Simulator) -> None:
    """A wall-switch press shows in Home Assistant."""
    assert hass.states.get(relay(hass)).state == STATE_OFF
    await press_wall_switch(hass, simulator, 1, 1)
    assert hass.states.get(relay(hass)).state == STATE_ON
    await press_wall_switch(hass, simulator, 1, 1)
    assert hass.states.get(relay(hass)).state == STATE_OFF


@pytest.mark.usefixtures("init_integration")
async def test_relay_commands(hass: HomeAssistant, simulator: Simulator) -> None:
    """Turning a relay light on and off writes 255 and 0, leaving its neighbours alone."""
    await set_installation_output(hass, simulator, 1, 2, 255)
    await turn_on(hass, relay(hass))
    assert_written(simulator, 1, 1, 255)
    await wait_until(hass, lambda: hass.states.get(relay(hass)).state == STATE_ON, "relay on")
    assert simulator.get_value(1, 2) == 255

    await turn_off(hass, relay(hass))
    assert_written(simulator, 1, 1, 0)
    await wait_until(hass, lambda: hass.states.get(relay(hass)).state == STATE_OFF, "relay off")
    assert simulator.get_value(1, 2) == 255


@pytest.mark.usefixtures("init_integration")
async def test_dimmer_follows_installation(hass: HomeAssistant, simulator: Simulator) -> None:
    """The dimmer's level shows as brightness; 100 % and a level above it are shown as full.

    The simulator, like an EXO DIM, never reports more than 100 %, so the
    level above it is checked on the conversion alone.
    """
    await set_installation_output(hass, simulator, 6, 1, 40)
    state = hass.states.get(dimmer(hass))
    assert state.state == STATE_ON
    assert state.attributes[ATTR_BRIGHTNESS] == percent_to_brightness(40)

    await set_installation_output(hass, simulator, 6, 1, 100)
    assert hass.states.get(dimmer(hass)).attributes[ATTR_BRIGHTNESS] == 255
    assert percent_to_brightness(255) == 255

    await set_installation_output(hass, simulator, 6, 1, 0)
    state = hass.states.get(dimmer(hass))
    assert state.state == STATE_OFF
    assert state.attributes.get(ATTR_BRIGHTNESS) is None


@pytest.mark.parametrize("percent", [1, 10, 30, 50, 70, 90, 99, 100])
@pytest.mark.usefixtures("init_integration")
async def test_dimmer_brightness_round_trip(
    hass: HomeAssistant, simulator: Simulator, percent: int
) -> None:
    """A brightness set in Home Assistant reaches the module as the matching percent and back."""
    await turn_on(hass, dimmer(hass), brightness=percent_to_brightness(percent))
    assert_written(simulator, 6, 1, percent)
    await wait_until(
        hass,
        lambda: (
            hass.states.get(dimmer(hass)).attributes.get(ATTR_BRIGHTNESS)
            == percent_to_brightness(percent)
        ),
        "brightness shown",
    )


def test_every_percent_survives_a_round_trip() -> None:
    """percent -> brightness -> percent is the identity for 1..100."""
    for percent in range(1, 101):
        assert brightness_to_percent(percent_to_brightness(percent)) == percent


def test_every_brightness_maps_to_a_sensible_percent() -> None:
    """Every brightness 1..255 is on (at least 1 %) and lands on the nearest percent."""
    previous = 0
    for brightness in range(1, 256):
        percent = brightness_to_percent(brightness)
        assert 1 <= percent <= 100
        assert percent >= previous
        assert abs(percent - brightness * 100 / 255) <= 0.5 or percent == 1
        previous = percent
    assert brightness_to_percent(255) == 100
    assert percent_to_brightness(100) == 255
    assert percent_to_brightness(1) == 3


@pytest.mark.usefixtures("init_integration")
async def test_dimmer_turn_on_restores_last_level(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """Turned on without a brightness, a dimmer returns to its last level."""
    await set_installation_output(hass, simulator, 6, 1, 40)
    await turn_off(hass, dimmer(hass))
    assert_written(simulator, 6, 1, 0)
    await wait_until(hass, lambda: hass.states.get(dimmer(hass)).state == STATE_OFF, "dimmer off")

    await turn_on(hass, dimmer(hass))
    assert_written(simulator, 6, 1, 40)


@pytest.mark.usefixtures("init_integration")
async def test_failed_command_does_not_change_the_last_level(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A brightness refused while the link was down is not what 'turn on' restores later."""
    await set_installation_output(hass, simulator, 6, 1, 40)
    await set_installation_output(hass, simulator, 6, 1, 0)
    await lose_link(hass, simulator)
    with pytest.raises(HomeAssistantError):
        await turn_on(hass, dimmer(hass), **{ATTR_BRIGHTNESS: 255})
    simulator.start()
    coordinator = get_coordinator(hass)
    await wait_until(hass, lambda: coordinator.link_up, "the link coming back")

    await turn_on(hass, dimmer(hass))
    assert_written(simulator, 6, 1, 40)


@pytest.mark.usefixtures("init_integration")
async def test_a_level_never_confirmed_fails_the_action(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A level the dimmer module does not take fails the action naming the lamp.

    The lamp shows the installation's state, and 'turn on' later restores the
    last level it really had, not the refused one.
    """
    await set_installation_output(hass, simulator, 6, 1, 40)
    await set_installation_output(hass, simulator, 6, 1, 0)

    def undo(write: ReceivedWrite) -> None:
        if write.module == 6:
            simulator.set_output(6, 1, 0)

    unsubscribe = simulator.on_write(undo)
    with pytest.raises(HomeAssistantError) as err:
        await turn_on(hass, dimmer(hass), **{ATTR_BRIGHTNESS: 255})
    unsubscribe()

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "write_not_confirmed"
    assert err.value.translation_placeholders == {"name": "Table"}
    assert hass.states.get(dimmer(hass)).state == STATE_OFF

    await turn_on(hass, dimmer(hass))
    assert simulator.get_value(6, 1) == 40


@pytest.mark.usefixtures("init_integration")
async def test_dimmer_turn_on_full_without_history(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A dimmer never seen on goes to 100 %."""
    await turn_on(hass, entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, 6, 2)))
    assert_written(simulator, 6, 2, 100)


async def test_dimmer_level_restored_after_restart(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """The last level survives a Home Assistant restart."""
    register_restored_dimmer(hass)
    mock_restore_cache_with_extra_data(
        hass, [(State(RESTORED_DIMMER, STATE_OFF), {"last_level": 25})]
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert dimmer(hass) == RESTORED_DIMMER
    await turn_on(hass, dimmer(hass))
    assert_written(simulator, 6, 1, 25)


async def test_dimmer_ignores_unusable_restored_level(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A stored level that makes no sense is ignored."""
    register_restored_dimmer(hass)
    mock_restore_cache_with_extra_data(
        hass, [(State(RESTORED_DIMMER, STATE_OFF), {"last_level": 250})]
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    await turn_on(hass, dimmer(hass))
    assert_written(simulator, 6, 1, 100)


@pytest.mark.usefixtures("init_integration")
async def test_command_while_disconnected(hass: HomeAssistant, simulator: Simulator) -> None:
    """A command made while the link is down fails at once with a translated error."""
    await lose_link(hass, simulator)
    with pytest.raises(HomeAssistantError) as err:
        await turn_on(hass, relay(hass))
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "not_connected"
    assert simulator.writes() == []


async def test_unique_ids(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Unique ids come from the entry and the module/output."""
    entity = entity_registry.async_get(dimmer(hass))
    assert entity is not None
    assert entity.unique_id == f"{ENTRY_ID}_6_1"
