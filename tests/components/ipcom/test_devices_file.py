"""A devices file is imported once: its devices become subentries, and it is read no more.

Entries made before devices were subentries name a devices file (the
`file_config_entry` fixture). Their first setup turns the file into one
subentry per device, keeping every key (device identifiers) and address
(entity unique ids), forgets the file and says so in a repair issue. A file
that cannot be read imports nothing: the entry stays in error, naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.light import ATTR_SUPPORTED_COLOR_MODES, ColorMode
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentryData,
)
from homeassistant.const import ATTR_ICON, CONF_PASSWORD, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import CONF_DEVICES_FILE, DEFAULT_DEVICES_FILE, DOMAIN
from custom_components.ipcom.identifiers import device_identifier, output_unique_id
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    async_edit_devices_file,
    async_write_text,
    entity_id_of,
    fixture_subentries,
    subentry_id_of,
)
from .registries import find_device

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

WARNINGS_ISSUE = f"devices_file_warnings_{ENTRY_ID}"
IMPORTED_ISSUE = f"devices_file_imported_{ENTRY_ID}"
INVALID_ISSUE = f"invalid_devices_file_{ENTRY_ID}"

FIXTURE_DEVICE_COUNT = 9
"""Devices of the test devices.yaml: four lights, two switches and three shutters."""


def attributes_of(
    hass: HomeAssistant, platform: Platform, module: int, output: int
) -> Mapping[str, Any]:
    """The state attributes of the entity driven by an output (a cover by its up relay)."""
    state = hass.states.get(
        entity_id_of(hass, platform, output_unique_id(ENTRY_ID, module, output))
    )
    assert state is not None
    return state.attributes


def described(entry: ConfigEntry) -> set[tuple[str, str, str | None, frozenset[Any]]]:
    """Type, title, unique id and data of each subentry, to compare them whatever their ids."""
    return {
        (
            subentry.subentry_type,
            subentry.title,
            subentry.unique_id,
            frozenset(subentry.data.items()),
        )
        for subentry in entry.subentries.values()
    }


def device_subentry(device: dr.DeviceEntry, entry_id: str = ENTRY_ID) -> str | None:
    """The subentry of the entry a device belongs to (2026.10: one; before: a set of them)."""
    if hasattr(device, "config_subentry_id"):
        subentry_id: str | None = device.config_subentry_id
        return subentry_id
    (subentry_id,) = device.config_entries_subentries[entry_id]
    return subentry_id


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def reload(hass: HomeAssistant, entry: ConfigEntry) -> None:
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


async def test_the_devices_become_subentries_with_their_keys_and_unique_ids(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    mock_config_entry: MockConfigEntry,
    devices_file: Path,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """One subentry per device, as the test entry holds them; the entry forgets the file."""
    connection = dict(file_config_entry.data)
    del connection[CONF_DEVICES_FILE]

    await setup(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert dict(file_config_entry.data) == connection
    assert described(file_config_entry) == described(mock_config_entry)
    for subentry_id, subentry in file_config_entry.subentries.items():
        device = find_device(device_registry, device_identifier(ENTRY_ID, subentry.data["key"])[1])
        assert device is not None, subentry.data["key"]
        assert device.name == subentry.title
        assert device_subentry(device) == subentry_id
    for platform, module, output, key in (
        (Platform.LIGHT, 1, 1, "living_ceiling"),
        (Platform.LIGHT, 6, 2, "bedroom_dimmer"),
        (Platform.SWITCH, 2, 1, "garden_socket"),
        (Platform.COVER, 4, 1, "bedroom_shutter"),
    ):
        entity = entity_registry.async_get(
            entity_id_of(hass, platform, output_unique_id(ENTRY_ID, module, output))
        )
        assert entity is not None
        assert entity.config_subentry_id == subentry_id_of(file_config_entry, key)

    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, IMPORTED_ISSUE)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.is_persistent
    assert issue.translation_placeholders == {
        "title": file_config_entry.title,
        "path": str(devices_file),
        "count": str(FIXTURE_DEVICE_COUNT),
    }
    assert issues.async_get_issue(DOMAIN, WARNINGS_ISSUE) is None, "the test file is clean"
    assert issues.async_get_issue(DOMAIN, INVALID_ISSUE) is None


def entity_rows(entity_registry: er.EntityRegistry) -> set[tuple[str, str, str, str | None]]:
    """Registry id, entity id, unique id and subentry of each entity of the test entry."""
    return {
        (entity.id, entity.entity_id, entity.unique_id, entity.config_subentry_id)
        for entity in er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    }


async def test_a_second_setup_does_not_read_the_file_again(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    devices_file: Path,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Once imported, an edited, then deleted file changes nothing, nor is it imported again."""
    await setup(hass, file_config_entry)
    imported = dict(file_config_entry.subentries)
    hall = entity_id_of(hass, Platform.LIGHT, output_unique_id(ENTRY_ID, 1, 2))
    rows = entity_rows(entity_registry)

    hall_block = "  hall:\n    module: 1\n    output: 2\n    display_name: Hall\n"
    await async_edit_devices_file(hass, devices_file, hall_block, "")
    await async_edit_devices_file(hass, devices_file, "display_name: Ceiling", "display_name: Top")
    await reload(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert file_config_entry.subentries == imported
    assert entity_rows(entity_registry) == rows
    assert hass.states.get(hall) is not None
    ceiling = find_device(device_registry, device_identifier(ENTRY_ID, "living_ceiling")[1])
    assert ceiling is not None
    assert ceiling.name == "Ceiling"

    ir.async_delete_issue(hass, DOMAIN, IMPORTED_ISSUE)
    await hass.async_add_executor_job(devices_file.unlink)
    await reload(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert file_config_entry.subentries == imported
    assert CONF_DEVICES_FILE not in file_config_entry.data
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, IMPORTED_ISSUE) is None, "imported once only"
    assert issues.async_get_issue(DOMAIN, INVALID_ISSUE) is None


async def test_a_file_of_the_other_integration_is_imported_with_one_warning(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    devices_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Icons reach the entities; what is not used is one log warning and one repair issue."""
    await async_write_text(hass, devices_file, OTHER_INTEGRATION_FILE)

    with caplog.at_level(logging.WARNING):
        await setup(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert {
        subentry.data["key"]: subentry.subentry_type
        for subentry in file_config_entry.subentries.values()
    } == {
        "hall_light": "light",
        "study_light": "light",
        "lounge_lamp": "light",
        "coffee": "switch",
        "shutter_study_m": "shutter",
    }
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
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, WARNINGS_ISSUE)
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
    imported = issues.async_get_issue(DOMAIN, IMPORTED_ISSUE)
    assert imported is not None
    assert imported.translation_placeholders["count"] == "5"

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        await reload(hass, file_config_entry)

    assert not [record for record in caplog.records if "does not use" in record.getMessage()]
    assert attributes_of(hass, Platform.SWITCH, 2, 6)[ATTR_ICON] == "mdi:coffee-maker"


async def test_an_import_keeps_the_devices_the_entry_already_has(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """A subentry on an output of the file stays as it is; the file's device there is skipped."""
    hall = next(sub for sub in fixture_subentries() if sub["data"]["key"] == "hall")
    porch = ConfigSubentryData(
        data={**hall["data"], "key": "porch", "name": "Porch"},
        subentry_type=hall["subentry_type"],
        title="Porch",
        unique_id=hall["unique_id"],
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=file_config_entry.title,
        entry_id=file_config_entry.entry_id,
        version=file_config_entry.version,
        minor_version=file_config_entry.minor_version,
        data=dict(file_config_entry.data),
        options=dict(file_config_entry.options),
        subentries_data=[porch],
    )
    (porch_id,) = entry.subentries

    await setup(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert len(entry.subentries) == FIXTURE_DEVICE_COUNT
    assert entry.subentries[porch_id].title == "Porch"
    assert subentry_id_of(entry, "porch") == porch_id
    assert "hall" not in {subentry.data["key"] for subentry in entry.subentries.values()}
    assert find_device(device_registry, device_identifier(ENTRY_ID, "hall")[1]) is None
    issue = ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE)
    assert issue is not None
    assert issue.translation_placeholders["count"] == str(FIXTURE_DEVICE_COUNT - 1)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"key": "fan", "name": "Fan", "bus": 1, "module": 3, "output": 2},
            "module 3 output 2 is already used",
        ),
        ({"key": "hall", "name": "Hall", "bus": 1, "module": 7, "output": 1}, "the key hall"),
    ],
)
async def test_a_file_that_clashes_with_the_entrys_devices_imports_nothing(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    simulator: Simulator,
    data: dict[str, Any],
    problem: str,
) -> None:
    """A device added in the UI that a file would use twice stops the import before it starts.

    The entry keeps naming the file, so once the clash is removed a reload imports it whole.
    """
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=file_config_entry.title,
        entry_id=file_config_entry.entry_id,
        version=file_config_entry.version,
        minor_version=file_config_entry.minor_version,
        data=dict(file_config_entry.data),
        options=dict(file_config_entry.options),
        subentries_data=[
            ConfigSubentryData(
                data=data,
                subentry_type="switch",
                title=data["name"],
                unique_id=f"1-{data['module']}-{data['output']}",
            )
        ],
    )

    await setup(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(entry.subentries) == 1
    assert entry.data[CONF_DEVICES_FILE] == DEFAULT_DEVICES_FILE
    assert simulator.connections_accepted == 0
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"invalid_devices_file_{ENTRY_ID}")
    assert issue is not None
    assert problem in issue.translation_placeholders["error"]
    assert ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE) is None

    hass.config_entries.async_remove_subentry(entry, next(iter(entry.subentries)))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert len(entry.subentries) == FIXTURE_DEVICE_COUNT


async def test_removing_the_entry_removes_its_import_issues(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, devices_file: Path
) -> None:
    """The imported issue and the warnings issue go with their entry."""
    await async_write_text(hass, devices_file, OTHER_INTEGRATION_FILE)
    await setup(hass, file_config_entry)
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, WARNINGS_ISSUE) is not None
    assert issues.async_get_issue(DOMAIN, IMPORTED_ISSUE) is not None

    await hass.config_entries.async_remove(file_config_entry.entry_id)
    await hass.async_block_till_done()

    assert issues.async_get_issue(DOMAIN, WARNINGS_ISSUE) is None
    assert issues.async_get_issue(DOMAIN, IMPORTED_ISSUE) is None


def assert_nothing_imported(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """The entry is in error, still names its file, and has no devices."""
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.data[CONF_DEVICES_FILE] == DEFAULT_DEVICES_FILE
    assert not entry.subentries
    assert ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE) is None


async def test_a_missing_file_says_where_it_was_looked_for(
    hass: HomeAssistant,
    file_config_entry: MockConfigEntry,
    config_dir: Path,
    devices_file: Path,
    simulator: Simulator,
) -> None:
    """The error names the path and where versions 3.1.0-3.1.1 of the other integration kept it.

    Nothing is imported and nothing connects; once the file is back, a reload imports it.
    """
    original = await hass.async_add_executor_job(devices_file.read_text)
    await hass.async_add_executor_job(devices_file.unlink)
    await setup(hass, file_config_entry)

    assert_nothing_imported(hass, file_config_entry)
    assert simulator.connections_accepted == 0
    issue = ir.async_get(hass).async_get_issue(DOMAIN, INVALID_ISSUE)
    assert issue is not None
    error = issue.translation_placeholders["error"]
    assert error.startswith(f"{config_dir / 'ipcom' / 'devices.yaml'}: file not found; ")
    assert str(config_dir / "custom_components/ipcom/cli/devices.yaml") in error
    assert "restore it from a backup" in error

    await async_write_text(hass, devices_file, original)
    await reload(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert len(file_config_entry.subentries) == FIXTURE_DEVICE_COUNT
    assert CONF_DEVICES_FILE not in file_config_entry.data
    assert ir.async_get(hass).async_get_issue(DOMAIN, INVALID_ISSUE) is None
    assert ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE) is not None


async def test_a_file_left_in_the_old_place_is_pointed_at(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, config_dir: Path, devices_file: Path
) -> None:
    """A devices.yaml still inside the old cli folder is named, to be moved out of it."""
    await hass.async_add_executor_job(devices_file.unlink)
    legacy = config_dir / "custom_components/ipcom/cli/devices.yaml"
    await hass.async_add_executor_job(lambda: legacy.parent.mkdir(parents=True))
    await async_write_text(hass, legacy, "lights:\n")

    await setup(hass, file_config_entry)

    assert_nothing_imported(hass, file_config_entry)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, INVALID_ISSUE)
    assert issue is not None
    assert issue.translation_placeholders["error"].endswith(
        f"a devices.yaml was found at {legacy}: move it to {config_dir / 'ipcom' / 'devices.yaml'}"
    )


async def test_an_invalid_file_imports_none_of_its_devices(
    hass: HomeAssistant, file_config_entry: MockConfigEntry, devices_file: Path
) -> None:
    """One bad device stops the whole import: the good ones are not imported either."""
    await async_write_text(
        hass,
        devices_file,
        "lights:\n"
        "  porch: {module: 1, output: 1, display_name: Porch}\n"
        "  attic: {module: 17, output: 1, display_name: Attic}\n",
    )

    await setup(hass, file_config_entry)

    assert_nothing_imported(hass, file_config_entry)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, INVALID_ISSUE)
    assert issue is not None
    assert "attic" in issue.translation_placeholders["error"]


async def test_an_unexpected_library_error_retries_without_reauthentication(
    hass: HomeAssistant, file_config_entry: MockConfigEntry
) -> None:
    """Only rejected or unusable credentials start a reauthentication.

    The import comes before the connection: it stands, and the next setup
    uses its devices without importing the file again.
    """
    with patch(
        "custom_components.ipcom.coordinator.IPComCoordinator.async_start",
        side_effect=ValueError("connect response must be 34 bytes"),
    ):
        await setup(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "connect response must be 34 bytes" in (file_config_entry.reason or "")
    assert not list(file_config_entry.async_get_active_flows(hass, {SOURCE_REAUTH}))
    assert CONF_DEVICES_FILE not in file_config_entry.data
    imported = dict(file_config_entry.subentries)
    assert len(imported) == FIXTURE_DEVICE_COUNT

    await reload(hass, file_config_entry)

    assert file_config_entry.state is ConfigEntryState.LOADED
    assert file_config_entry.subentries == imported


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
