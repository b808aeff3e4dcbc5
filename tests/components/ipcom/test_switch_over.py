"""Switching from the other `ipcom` integration keeps every customisation.

The registries are seeded with the rows each release of the other integration
(J-Delsinne's "IPCom Home Anywhere Blue") leaves behind, customised the way a
user would customise them, and the entry is then set up with this integration
against the simulator. Registry ids, entity ids, names, icons, areas and
disabled states must all survive; only unique ids and identifiers change.

The other integration's entries name no devices file: the migration points
them at the file its command line read, and the first setup imports that
file into subentries, keeping the keys the rows are adopted by.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME, STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.adoption import first_cover_unique_id
from custom_components.ipcom.const import CONF_DEVICES_FILE, DEFAULT_DEVICES_FILE, DOMAIN
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    PASSWORD,
    USERNAME,
    async_add_device,
    async_write_text,
    subentry_id_of,
)
from .registries import find_device

IMPORTED_ISSUE = f"devices_file_imported_{ENTRY_ID}"


@dataclass
class SeededEntity:
    """One entity row the other integration left, and what this integration must make of it."""

    domain: str
    other_unique_id: str
    entity_id: str
    our_unique_id: str
    device_identifier: str | None = None
    """The other integration's device identifier; None for its releases without devices."""
    our_device: str | None = None
    name: str | None = None
    icon: str | None = None
    device_area: str | None = None
    entity_area: str | None = None
    device_name_by_user: str | None = None
    disabled: bool = False


SEEDED = [
    # Releases from late December 2025 on (3.1.x): `ipcom_<key>`, one device each.
    SeededEntity(
        "light",
        "ipcom_living_ceiling",
        "light.sink",
        f"{ENTRY_ID}_1_1",
        "ipcom_living_ceiling",
        "living_ceiling",
        name="Sink",
        icon="mdi:faucet",
        device_area="Kitchen",
        device_name_by_user="Kitchen sink lamp",
    ),
    SeededEntity(
        "light",
        "ipcom_hall",
        "light.hall",
        f"{ENTRY_ID}_1_2",
        "ipcom_hall",
        "hall",
        disabled=True,
    ),
    SeededEntity(
        "light",
        "ipcom_dining_dimmer",
        "light.dining_table",
        f"{ENTRY_ID}_6_1",
        "ipcom_dining_dimmer",
        "dining_dimmer",
        device_area="Dining room",
    ),
    SeededEntity(
        "cover",
        "ipcom_living_shutter_up",
        "cover.living_room_shutter",
        f"{ENTRY_ID}_3_1",
        "ipcom_living_shutter_up",
        "living_shutter",
        name="Big window",
        device_area="Living room",
    ),
    # Its unreleased switch platform (branch automated-devices.yaml).
    SeededEntity(
        "switch",
        "ipcom_garden_socket",
        "switch.terrace",
        f"{ENTRY_ID}_2_1",
        "ipcom_garden_socket",
        "garden_socket",
        icon="mdi:power-socket-eu",
        device_area="Terrace",
    ),
    # Its first releases (28-29 December 2025): bare keys and `ipcom_cover_`.
    SeededEntity(
        "light",
        "ipcom_bedroom_dimmer",
        "light.reading",
        f"{ENTRY_ID}_6_2",
        "bedroom_dimmer",
        "bedroom_dimmer",
        device_area="Bedroom",
        device_name_by_user="Reading lamp",
    ),
    SeededEntity(
        "cover",
        "ipcom_cover_bedroom_shutter_up",
        "cover.bedroom",
        f"{ENTRY_ID}_4_1",
        "ipcom_cover_bedroom_shutter_up",
        "bedroom_shutter",
        device_area="Bedroom",
    ),
    # A few days in between, without devices: the area sits on the entity.
    SeededEntity(
        "cover",
        "ipcom_garage_door_up",
        "cover.garage",
        f"{ENTRY_ID}_3_3",
        entity_area="Garage",
    ),
]


def other_entry(simulator: Simulator, data: dict[str, Any] | None = None) -> MockConfigEntry:
    """A config entry as the other integration created it: version 1.1, host:port unique id."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"IPCom ({simulator.host}:{simulator.port})",
        entry_id=ENTRY_ID,
        unique_id=f"{simulator.host}:{simulator.port}",
        version=1,
        minor_version=1,
        data=data
        or {
            CONF_HOST: simulator.host,
            CONF_PORT: simulator.port,
            CONF_USERNAME: USERNAME,
            CONF_PASSWORD: PASSWORD,
        },
    )


def seed(hass: HomeAssistant, entry: MockConfigEntry, rows: list[SeededEntity]) -> None:
    """Write the other integration's rows, with the user's customisations, into the registries."""
    entity_registry = er.async_get(hass)
    device_registry = dr.async_get(hass)
    area_registry = ar.async_get(hass)
    for row in rows:
        device_id = None
        if row.device_identifier is not None:
            device = device_registry.async_get_or_create(
                config_entry_id=entry.entry_id,
                identifiers={(DOMAIN, row.device_identifier)},
                manufacturer="Home Anywhere Blue",
                model="IPCom Switch",
                name=row.entity_id.split(".")[1].title(),
                sw_version="Module 1, Output 1",
            )
            device_registry.async_update_device(
                device.id,
                area_id=area_registry.async_get_or_create(row.device_area).id
                if row.device_area
                else None,
                name_by_user=row.device_name_by_user,
            )
            device_id = device.id
        entity = entity_registry.async_get_or_create(
            row.domain,
            DOMAIN,
            row.other_unique_id,
            config_entry=entry,
            device_id=device_id,
            suggested_object_id=row.entity_id.split(".")[1],
            original_name=row.entity_id.split(".")[1].upper(),
        )
        assert entity.entity_id == row.entity_id
        entity_registry.async_update_entity(
            entity.entity_id,
            name=row.name,
            icon=row.icon,
            area_id=area_registry.async_get_or_create(row.entity_area).id
            if row.entity_area
            else None,
            disabled_by=er.RegistryEntryDisabler.USER if row.disabled else None,
        )


@dataclass
class Snapshot:
    """What the user sees of a row: everything that must survive the switch."""

    entity_registry_id: str
    entity_id: str
    name: str | None
    icon: str | None
    effective_area: str | None
    disabled: bool
    device_registry_id: str | None
    device_area: str | None
    device_name_by_user: str | None


def effective_area(hass: HomeAssistant, entity: er.RegistryEntry) -> str | None:
    """The area an entity shows in: its own, or its device's."""
    if entity.area_id is not None:
        return entity.area_id
    if entity.device_id is None:
        return None
    device = dr.async_get(hass).async_get(entity.device_id)
    return device.area_id if device is not None else None


def take(hass: HomeAssistant, entity_id: str) -> Snapshot:
    """Everything the user customised on an entity and its device."""
    entity = er.async_get(hass).async_get(entity_id)
    assert entity is not None
    device = dr.async_get(hass).async_get(entity.device_id) if entity.device_id else None
    return Snapshot(
        entity.id,
        entity.entity_id,
        entity.name,
        entity.icon,
        effective_area(hass, entity),
        entity.disabled_by is not None,
        device.id if device else None,
        device.area_id if device else None,
        device.name_by_user if device else None,
    )


def device_subentry(device: dr.DeviceEntry, entry_id: str = ENTRY_ID) -> str | None:
    """The subentry of the entry a device belongs to (2026.10: one; before: a set of them)."""
    if hasattr(device, "config_subentry_id"):
        subentry_id: str | None = device.config_subentry_id
        return subentry_id
    (subentry_id,) = device.config_entries_subentries[entry_id]
    return subentry_id


async def test_switch_over_keeps_everything(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path
) -> None:
    """Every release's rows are adopted in place; the entry's data becomes ours."""
    entry = other_entry(simulator)
    entry.add_to_hass(hass)
    seed(hass, entry, SEEDED)
    before = {row.entity_id: take(hass, row.entity_id) for row in SEEDED}
    registry_ids = {er.async_get(hass).async_get(e).id for e in before}  # type: ignore[union-attr]

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    entity_registry = er.async_get(hass)
    device_registry = dr.async_get(hass)
    entities_kept = devices_kept = 0
    for row in SEEDED:
        after = take(hass, row.entity_id)
        old = before[row.entity_id]
        entity = entity_registry.async_get(row.entity_id)
        assert entity is not None
        assert entity.unique_id == row.our_unique_id
        assert entity.config_entry_id == ENTRY_ID
        assert after.entity_registry_id == old.entity_registry_id
        assert (after.name, after.icon, after.disabled) == (old.name, old.icon, old.disabled)
        assert after.effective_area == old.effective_area, row.entity_id
        if old.device_registry_id is not None:
            assert after.device_registry_id == old.device_registry_id
            assert after.device_area == old.device_area
            assert after.device_name_by_user == old.device_name_by_user
            device = device_registry.async_get(old.device_registry_id)
            assert device is not None
            assert device.identifiers == {(DOMAIN, f"{ENTRY_ID}:device:{row.our_device}")}
            assert device.manufacturer is None
            assert device.via_device_id is not None
            assert device_subentry(device) == subentry_id_of(entry, row.our_device)
            devices_kept += 1
        entities_kept += 1
        if not row.disabled:
            state = hass.states.get(row.entity_id)
            assert state is not None
            assert state.state != "unavailable"
    # Every seeded row kept its registry id, entity id, name, icon and area: 8 and 7.
    assert entities_kept == len(SEEDED) == 8
    assert devices_kept == sum(row.device_identifier is not None for row in SEEDED) == 7
    assert {e.id for e in entity_registry.entities.values() if e.entity_id in before} == (
        registry_ids
    )
    sink = hass.states.get("light.sink")
    assert sink is not None
    assert sink.state == STATE_OFF
    assert sink.attributes["friendly_name"] == "Sink"
    assert sink.attributes["icon"] == "mdi:faucet"

    assert entry.unique_id is None
    assert entry.minor_version == 3
    assert entry.data == {
        CONF_HOST: simulator.host,
        CONF_PORT: simulator.port,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
    }
    assert len(entry.subentries) == 9
    imported = ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE)
    assert imported is not None
    assert imported.translation_placeholders["path"] == str(devices_file)
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"adoption_conflicts_{ENTRY_ID}") is None

    # Idempotent: a reload finds nothing of the other integration left and changes nothing.
    after_first = {row.entity_id: take(hass, row.entity_id) for row in SEEDED}
    subentries = dict(entry.subentries)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert {row.entity_id: take(hass, row.entity_id) for row in SEEDED} == after_first
    assert entry.subentries == subentries
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_newest_shape_wins_and_the_older_row_is_reported(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path
) -> None:
    """A registry that went through several releases has two rows for one shutter.

    The newest (the one its last release used) is adopted; the older one is
    left exactly as it is, reported, and not removed.
    """
    entry = other_entry(simulator)
    entry.add_to_hass(hass)
    older = SeededEntity(
        "cover",
        "ipcom_cover_living_shutter_up",
        "cover.living_room_shutter_old",
        f"{ENTRY_ID}_3_1",
        "ipcom_cover_living_shutter_up",
        "living_shutter",
        device_area="Attic",
    )
    newest = SEEDED[3]
    seed(hass, entry, [older, newest])
    old_before = take(hass, older.entity_id)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    entity_registry = er.async_get(hass)
    adopted = entity_registry.async_get(newest.entity_id)
    assert adopted is not None
    assert adopted.unique_id == newest.our_unique_id
    left = entity_registry.async_get(older.entity_id)
    assert left is not None
    assert left.unique_id == older.other_unique_id
    assert take(hass, older.entity_id) == old_before
    assert find_device(dr.async_get(hass), "ipcom_cover_living_shutter_up") is not None, (
        "the older device is left alone"
    )

    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"adoption_conflicts_{ENTRY_ID}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert older.entity_id in issue.translation_placeholders["rows"]
    assert "'Living_Room_Shutter_Old'" in issue.translation_placeholders["rows"]

    # Once the user deletes the leftover, the issue goes away on the next load.
    entity_registry.async_remove(older.entity_id)
    leftover = find_device(dr.async_get(hass), "ipcom_cover_living_shutter_up")
    assert leftover is not None
    dr.async_get(hass).async_remove_device(leftover.id)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"adoption_conflicts_{ENTRY_ID}") is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_area_stays_on_the_entity_when_its_device_is_not_adopted(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path
) -> None:
    """An entity whose area came from a device left behind keeps the area on itself."""
    entry = other_entry(simulator)
    entry.add_to_hass(hass)
    device_registry = dr.async_get(hass)
    ours = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, f"{ENTRY_ID}:device:hall")}
    )
    row = SEEDED[1]
    seed(hass, entry, [SeededEntity(**{**row.__dict__, "device_area": "Porch", "disabled": False})])
    before = take(hass, row.entity_id)
    assert before.effective_area == "porch"

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    entity = er.async_get(hass).async_get(row.entity_id)
    assert entity is not None
    assert entity.unique_id == row.our_unique_id
    assert entity.device_id == ours.id
    assert effective_area(hass, entity) == "porch"
    assert assert_unchanged_device(hass, before.device_registry_id, "porch")
    assert await hass.config_entries.async_unload(entry.entry_id)


def assert_unchanged_device(hass: HomeAssistant, device_id: str | None, area: str) -> bool:
    """The device that could not be adopted keeps its identifier and its area."""
    assert device_id is not None
    device = dr.async_get(hass).async_get(device_id)
    assert device is not None
    assert device.identifiers == {(DOMAIN, "ipcom_hall")}
    assert device.area_id == area
    return True


async def test_rows_of_another_kind_are_left_alone(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path
) -> None:
    """A light of the other integration on an output that is a switch here stays as it is."""
    entry = other_entry(simulator)
    entry.add_to_hass(hass)
    seed(
        hass,
        entry,
        [SeededEntity("light", "ipcom_garden_socket", "light.socket", f"{ENTRY_ID}_2_1")],
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entity = er.async_get(hass).async_get("light.socket")
    assert entity is not None
    assert entity.unique_id == "ipcom_garden_socket"
    assert er.async_get(hass).async_get_entity_id("switch", DOMAIN, f"{ENTRY_ID}_2_1")
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("cli_path", "devices_file_setting"),
    [("ipcom", DEFAULT_DEVICES_FILE), (None, DEFAULT_DEVICES_FILE)],
)
async def test_oldest_entry_without_credentials_asks_for_them(
    hass: HomeAssistant,
    simulator: Simulator,
    devices_file: Path,
    config_dir: Path,
    cli_path: str | None,
    devices_file_setting: str,
) -> None:
    """Entries of the first releases hold `cli_path` and `scan_interval` and no credentials."""
    data: dict[str, Any] = {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
    data["scan_interval"] = 30
    if cli_path is not None:
        data["cli_path"] = str(config_dir / cli_path)
    entry = other_entry(simulator, data)
    entry.add_to_hass(hass)
    seed(hass, entry, [SEEDED[0]])

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.data == {CONF_HOST: simulator.host, CONF_PORT: simulator.port}
    imported = ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE)
    assert imported is not None, "the file is imported before the credentials are asked for"
    assert imported.translation_placeholders["path"] == str(config_dir / devices_file_setting)
    assert len(entry.subentries) == 9
    assert entry.unique_id is None
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert simulator.connections_accepted == 0

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: USERNAME, CONF_PASSWORD: PASSWORD}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert len(entry.subentries) == 9
    sink = er.async_get(hass).async_get("light.sink")
    assert sink is not None
    assert sink.unique_id == f"{ENTRY_ID}_1_1"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_cli_folder_outside_the_config_dir_has_its_devices_file_imported(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path, tmp_path_factory: Any
) -> None:
    """The old CLI read devices.yaml from its own folder; the migration points there.

    That file is the one imported, not the one at the default place.
    """
    elsewhere = tmp_path_factory.mktemp("cli")
    await async_write_text(
        hass,
        elsewhere / "devices.yaml",
        "lights:\n  porch:\n    module: 1\n    output: 5\n    display_name: Porch\n",
    )
    data = {CONF_HOST: simulator.host, CONF_PORT: simulator.port, "cli_path": str(elsewhere)}
    entry = other_entry(simulator, data)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert CONF_DEVICES_FILE not in entry.data
    assert [subentry.data["key"] for subentry in entry.subentries.values()] == ["porch"]
    imported = ir.async_get(hass).async_get_issue(DOMAIN, IMPORTED_ISSUE)
    assert imported is not None
    assert imported.translation_placeholders["path"] == str(elsewhere / "devices.yaml")


async def test_a_missing_devices_file_in_the_cli_folder_is_named(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path, tmp_path_factory: Any
) -> None:
    """Without a devices.yaml in the old CLI's folder nothing is imported, and the error says so.

    The entry keeps pointing at that folder's file until it is there.
    """
    elsewhere = tmp_path_factory.mktemp("cli")
    data = {CONF_HOST: simulator.host, CONF_PORT: simulator.port, "cli_path": str(elsewhere)}
    entry = other_entry(simulator, data)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.data[CONF_DEVICES_FILE] == str(elsewhere / "devices.yaml")
    assert not entry.subentries
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"invalid_devices_file_{ENTRY_ID}")
    assert issue is not None
    assert issue.translation_placeholders["error"].startswith(
        f"{elsewhere / 'devices.yaml'}: file not found"
    )


async def test_moving_an_output_to_another_platform_leaves_no_dead_entity(
    hass: HomeAssistant, simulator: Simulator, devices_file: Path
) -> None:
    """`hall` deleted as a light and added as a switch: the light goes, foreign rows stay.

    Both happen live, on the connection the entry already has.
    """
    entry = other_entry(simulator)
    entry.add_to_hass(hass)
    foreign = SeededEntity("light", "ipcom_removed_lamp", "light.removed", "", "ipcom_removed_lamp")
    seed(hass, entry, [foreign])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entity_registry = er.async_get(hass)
    light_id = entity_registry.async_get_entity_id("light", DOMAIN, f"{ENTRY_ID}_1_2")
    assert light_id is not None
    assert hass.states.get(light_id) is not None
    connections = simulator.connections_accepted

    assert hass.config_entries.async_remove_subentry(entry, subentry_id_of(entry, "hall"))
    await hass.async_block_till_done()
    result = await async_add_device(
        hass, entry, "switch", {"name": "Hall", "module": 1, "output": 2}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()

    assert entity_registry.async_get_entity_id("light", DOMAIN, f"{ENTRY_ID}_1_2") is None
    assert hass.states.get(light_id) is None
    switch_id = entity_registry.async_get_entity_id("switch", DOMAIN, f"{ENTRY_ID}_1_2")
    assert switch_id is not None
    switch = entity_registry.async_get(switch_id)
    assert switch is not None
    assert switch.config_subentry_id == subentry_id_of(entry, "hall")
    assert entry.subentries[subentry_id_of(entry, "hall")].subentry_type == "switch"
    state = hass.states.get(switch_id)
    assert state is not None
    assert state.state == STATE_OFF
    assert entity_registry.async_get("light.removed") is not None
    assert find_device(dr.async_get(hass), "ipcom_removed_lamp") is not None
    assert entry.state is ConfigEntryState.LOADED
    assert simulator.connections_accepted == connections
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("up_key", "unique_id"),
    [
        ("rolluik_sal_links_m", "ipcom_cover_rolluik_sal_links"),
        ("living_shutter_up", "ipcom_cover_living_shutter_up"),
        ("rolluik_mama_m", "ipcom_cover_rolluikama"),
    ],
)
def test_first_cover_shape(up_key: str, unique_id: str) -> None:
    """Its first releases dropped every `_m` of the up key, not only a trailing one."""
    assert first_cover_unique_id(up_key) == unique_id
