"""Devices files at setup: files of the other integration load, warnings, a missing file."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.light import ATTR_SUPPORTED_COLOR_MODES, ColorMode
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import ATTR_ICON, CONF_PASSWORD, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import DOMAIN
from custom_components.ipcom.identifiers import output_unique_id

from .conftest import ENTRY_ID, async_write_text, entity_id_of

OTHER_INTEGRATION_FILE = """
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
    icon: mdi:desk-lamp
  lounge_lamp:
    module: 6
    output: 4
    type: Dimmer
    display_name: ""
switches:
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
    relay_role: down
    paired_device: shutter_study_m
    icon: mdi:window-shutter
  shutter_study_m:
    module: 5
    output: 8
    type: switch
    display_name: "SHUTTER STUDY M"
    relay_role: up
    paired_device: shutter_study_d
"""

WARNINGS_ISSUE = "devices_file_warnings_01JIPCOMTESTENTRY0000000000"


def attributes_of(
    hass: HomeAssistant, platform: Platform, module: int, output: int
) -> Mapping[str, Any]:
    """The state attributes of the entity driven by an output (a cover by its up relay)."""
    state = hass.states.get(
        entity_id_of(hass, platform, output_unique_id(ENTRY_ID, module, output))
    )
    assert state is not None
    return state.attributes


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_a_file_of_the_other_integration_loads_with_one_warning(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    devices_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Icons reach the entities; what is not used is one log warning and one repair issue."""
    await async_write_text(hass, devices_file, OTHER_INTEGRATION_FILE)

    with caplog.at_level(logging.WARNING):
        await setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.LOADED
    study_light = attributes_of(hass, Platform.LIGHT, 1, 2)
    assert study_light[ATTR_ICON] == "mdi:desk-lamp"
    assert study_light[ATTR_SUPPORTED_COLOR_MODES] == [ColorMode.ONOFF]
    assert attributes_of(hass, Platform.LIGHT, 6, 4)[ATTR_SUPPORTED_COLOR_MODES] == [
        ColorMode.BRIGHTNESS
    ]
    assert attributes_of(hass, Platform.SWITCH, 2, 6)[ATTR_ICON] == "mdi:coffee-maker"
    assert attributes_of(hass, Platform.COVER, 5, 8)[ATTR_ICON] == "mdi:window-shutter"
    logged = [record for record in caplog.records if "does not use" in record.getMessage()]
    assert len(logged) == 1
    issue = ir.async_get(hass).async_get_issue(DOMAIN, WARNINGS_ISSUE)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    listed = issue.translation_placeholders["warnings"].splitlines()
    assert listed == [
        f"- {devices_file}: switches.coffee.graphic_type: setting not used, ignored",
        f"- {devices_file}: sockets: section not used, ignored; "
        "this integration reads lights, shutters or switches",
        f"- {devices_file}: lights.study_light.type: module 1 also has relay outputs "
        "(lights.hall_light), so it is a relay module and this light only switches on and off; "
        "if module 1 is a dimmer module, give all of its lights type: dimmer and move its other "
        "entries to the module they are wired to",
    ]


async def test_the_warnings_issue_goes_once_the_file_is_clean(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, devices_file: Path
) -> None:
    """Reloading a corrected file removes the repair issue."""
    original = await hass.async_add_executor_job(devices_file.read_text)
    await async_write_text(
        hass, devices_file, original + "sockets:\n  spare: {module: 2, output: 7}\n"
    )
    await setup(hass, mock_config_entry)
    assert ir.async_get(hass).async_get_issue(DOMAIN, WARNINGS_ISSUE) is not None

    await async_write_text(hass, devices_file, original)
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert ir.async_get(hass).async_get_issue(DOMAIN, WARNINGS_ISSUE) is None


async def test_a_missing_file_says_where_it_was_looked_for(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, config_dir: Path, devices_file: Path
) -> None:
    """The error names the path and where versions 3.1.0-3.1.1 of the other integration kept it."""
    await hass.async_add_executor_job(devices_file.unlink)
    await setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"invalid_devices_file_{mock_config_entry.entry_id}"
    )
    assert issue is not None
    error = issue.translation_placeholders["error"]
    assert error.startswith(f"{config_dir / 'ipcom' / 'devices.yaml'}: file not found; ")
    assert str(config_dir / "custom_components/ipcom/cli/devices.yaml") in error
    assert "restore it from a backup" in error


async def test_a_file_left_in_the_old_place_is_pointed_at(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, config_dir: Path, devices_file: Path
) -> None:
    """A devices.yaml still inside the old cli folder is named, to be moved out of it."""
    await hass.async_add_executor_job(devices_file.unlink)
    legacy = config_dir / "custom_components/ipcom/cli/devices.yaml"
    await hass.async_add_executor_job(lambda: legacy.parent.mkdir(parents=True))
    await async_write_text(hass, legacy, "lights:\n")

    await setup(hass, mock_config_entry)

    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"invalid_devices_file_{mock_config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders["error"].endswith(
        f"a devices.yaml was found at {legacy}: move it to {config_dir / 'ipcom' / 'devices.yaml'}"
    )


@pytest.mark.usefixtures("devices_file")
async def test_an_unexpected_library_error_retries_without_reauthentication(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Only rejected or unusable credentials start a reauthentication."""
    with patch(
        "custom_components.ipcom.coordinator.IPComCoordinator.async_start",
        side_effect=ValueError("connect response must be 34 bytes"),
    ):
        await setup(hass, mock_config_entry)

    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "connect response must be 34 bytes" in (mock_config_entry.reason or "")
    assert not list(mock_config_entry.async_get_active_flows(hass, {SOURCE_REAUTH}))


@pytest.mark.usefixtures("devices_file")
async def test_stored_credentials_the_protocol_cannot_carry_ask_for_new_ones(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A password too long for the protocol is a credentials problem: reauthentication."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, data={**mock_config_entry.data, CONF_PASSWORD: "x" * 40}
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert list(mock_config_entry.async_get_active_flows(hass, {SOURCE_REAUTH}))
