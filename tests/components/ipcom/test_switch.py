"""Switches: relay outputs that are not lights."""

from __future__ import annotations

from collections.abc import Generator
from logging import WARNING

import pytest
from homeassistant.components import persistent_notification
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN, SwitchDeviceClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_ICON,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.ipcom.const import DOMAIN
from custom_components.ipcom.identifiers import output_unique_id
from ipcom.devices import SWITCH_DEVICE_CLASSES
from ipcom.simulator import ReceivedWrite, Simulator

from .conftest import (
    ENTRY_ID,
    assert_written,
    entity_id_of,
    lose_link,
    press_wall_switch,
    snapshot_platform,
    subentry_id_of,
    wait_until,
)


def socket(hass: HomeAssistant) -> str:
    """The entity id of the switch on output 2.1."""
    return entity_id_of(hass, Platform.SWITCH, output_unique_id(ENTRY_ID, 2, 1))


@pytest.fixture
def platforms() -> list[Platform]:
    """Only the switch platform."""
    return [Platform.SWITCH]


async def call(hass: HomeAssistant, service: str, entity_id: str) -> None:
    """Call a switch service and wait for it."""
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Registry entries and states of every switch, one of them on."""
    await press_wall_switch(hass, simulator, 2, 2)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_device_class_comes_from_the_device_map(hass: HomeAssistant) -> None:
    """`device_class: outlet` reaches the entity; without it, Home Assistant's default."""
    pump = entity_id_of(hass, Platform.SWITCH, output_unique_id(ENTRY_ID, 2, 2))
    assert hass.states.get(socket(hass)).attributes[ATTR_DEVICE_CLASS] == SwitchDeviceClass.OUTLET
    assert ATTR_DEVICE_CLASS not in hass.states.get(pump).attributes


async def test_a_switch_shows_its_state_icons_unless_given_an_icon(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A switch sets no icon, so the frontend shows its device class's on and off icons.

    Only an icon given to the device (devices.yaml `icon:`, or the account
    import's from its Home Anywhere drawing, kept in its subentry) replaces them.
    """
    pump = entity_id_of(hass, Platform.SWITCH, output_unique_id(ENTRY_ID, 2, 2))
    for entity_id in (socket(hass), pump):
        state = hass.states.get(entity_id)
        assert state is not None
        assert ATTR_ICON not in state.attributes

    entry = init_integration
    subentry = entry.subentries[subentry_id_of(entry, "pond_pump")]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "icon": "mdi:pump"}
    )
    await wait_until(
        hass,
        lambda: (
            (state := hass.states.get(pump)) is not None
            and state.attributes.get(ATTR_ICON) == "mdi:pump"
        ),
        "the pond pump taking its icon",
    )


def test_the_device_classes_of_the_map_are_the_switch_device_classes() -> None:
    """The library names Home Assistant's switch device classes without importing them."""
    assert set(SWITCH_DEVICE_CLASSES) == {device_class.value for device_class in SwitchDeviceClass}


@pytest.mark.usefixtures("init_integration")
async def test_follows_wall_switch(hass: HomeAssistant, simulator: Simulator) -> None:
    """A press on the installation shows in Home Assistant."""
    assert hass.states.get(socket(hass)).state == STATE_OFF
    await press_wall_switch(hass, simulator, 2, 1)
    assert hass.states.get(socket(hass)).state == STATE_ON
    await press_wall_switch(hass, simulator, 2, 1)
    assert hass.states.get(socket(hass)).state == STATE_OFF


@pytest.mark.usefixtures("init_integration")
async def test_commands(hass: HomeAssistant, simulator: Simulator) -> None:
    """Turning on and off writes 255 and 0 to the relay, and the neighbour keeps its state."""
    await press_wall_switch(hass, simulator, 2, 2)
    await call(hass, SERVICE_TURN_ON, socket(hass))
    assert_written(simulator, 2, 1, 255)
    await wait_until(hass, lambda: hass.states.get(socket(hass)).state == STATE_ON, "socket on")
    await call(hass, SERVICE_TURN_OFF, socket(hass))
    assert_written(simulator, 2, 1, 0)
    await wait_until(hass, lambda: hass.states.get(socket(hass)).state == STATE_OFF, "socket off")
    assert simulator.get_value(2, 2) == 255


@pytest.mark.usefixtures("init_integration")
async def test_command_while_disconnected(hass: HomeAssistant, simulator: Simulator) -> None:
    """Nothing is queued while the link is down."""
    await lose_link(hass, simulator)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, SERVICE_TURN_OFF, socket(hass))
    assert err.value.translation_key == "not_connected"
    assert simulator.writes() == []


@pytest.fixture
def unresponsive_module_2(simulator: Simulator) -> Generator[None]:
    """Module 2 takes no command: the installation keeps every output as it was."""
    before = [simulator.get_value(2, output) for output in range(1, 9)]

    def undo(write: ReceivedWrite) -> None:
        if write.module == 2:
            for output, value in enumerate(before, start=1):
                simulator.set_output(2, output, value)

    unsubscribe = simulator.on_write(undo)
    yield
    unsubscribe()


@pytest.mark.usefixtures("init_integration", "unresponsive_module_2")
async def test_a_write_never_confirmed_fails_the_action(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """The action fails naming the device; the entity shows the installation's state.

    Nobody is notified besides: the caller has the error, the log the library's one line.
    """
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, SERVICE_TURN_ON, socket(hass))

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "write_not_confirmed"
    assert err.value.translation_placeholders == {"name": "Socket"}
    assert "Socket" in str(err.value)
    assert hass.states.get(socket(hass)).state == STATE_OFF
    assert not persistent_notification._async_get_or_create_notifications(hass)
    assert [record.getMessage() for record in caplog.records if record.levelno >= WARNING] == [
        "Gave up on writing 255 to module 2 output 1: "
        "the installation showed another value after handling it"
    ]


@pytest.mark.usefixtures("init_integration")
async def test_an_action_returns_once_the_installation_shows_it(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """When the action returns, the installation has the value and the entity shows it."""
    await call(hass, SERVICE_TURN_ON, socket(hass))
    assert simulator.get_value(2, 1) == 255
    assert hass.states.get(socket(hass)).state == STATE_ON

    await call(hass, SERVICE_TURN_OFF, socket(hass))
    assert simulator.get_value(2, 1) == 0
    assert hass.states.get(socket(hass)).state == STATE_OFF
