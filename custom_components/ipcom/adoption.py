"""Adopting the registry rows of the other `ipcom` integration, so switching keeps everything.

The other public integration for this hardware (J-Delsinne's "IPCom Home
Anywhere Blue") uses the domain `ipcom` too: its users replace its files with
these, and its config entry, entities and devices stay in the registries. Its
rows are rewritten in place to this integration's unique ids and identifiers,
so registry ids, entity ids, names, icons, areas, labels and device triggers
survive. The shapes it left, read from each of its releases:

- lights, dimmers and (unreleased) switches: unique id `ipcom_<key>`;
- covers: unique id `ipcom_<key of the up relay>`; before late December 2025
  `ipcom_cover_<up key with every "_m" removed>`;
- one device per entity, identifier `ipcom_<key>` (covers: the cover's
  unique id); before late December 2025 a bare `<key>` for lights; for a few
  days in between no device at all.

Newer shapes are adopted first: a registry that went through several of its
releases holds one row per shape for the same output, and the newest one is
the one the user's automations name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)

from ipcom.devices import DeviceMap

from .const import DOMAIN, ISSUE_ADOPTION_CONFLICTS
from .coordinator import IPComConfigEntry
from .identifiers import device_identifier, output_unique_id

_LOGGER = logging.getLogger(__name__)

OTHER_PREFIX = "ipcom_"
OTHER_COVER_PREFIX = "ipcom_cover_"


@dataclass
class AdoptionReport:
    """What one adoption pass did, and the rows it had to leave alone."""

    entities: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """One line per row left alone because our row for its device already exists."""


def first_cover_unique_id(up_key: str) -> str:
    """The other integration's first cover unique id: every `_m` of the up key dropped."""
    return f"{OTHER_COVER_PREFIX}{up_key.replace('_m', '')}"


def _entity_targets(
    entry_id: str, device_map: DeviceMap
) -> dict[tuple[str, str], tuple[int, str, str]]:
    """Map (domain, other unique id) to (shape age, our unique id, device map key).

    Shape age 0 is the newest shape; rows are adopted in that order.
    """
    targets: dict[tuple[str, str], tuple[int, str, str]] = {}
    for light in device_map.lights:
        unique_id = output_unique_id(entry_id, light.module, light.output, light.bus)
        targets[(Platform.LIGHT, f"{OTHER_PREFIX}{light.key}")] = (0, unique_id, light.key)
    for switch in device_map.switches:
        unique_id = output_unique_id(entry_id, switch.module, switch.output, switch.bus)
        targets[(Platform.SWITCH, f"{OTHER_PREFIX}{switch.key}")] = (0, unique_id, switch.key)
    for cover in device_map.covers:
        unique_id = output_unique_id(entry_id, cover.up.module, cover.up.output, cover.bus)
        targets.setdefault(
            (Platform.COVER, first_cover_unique_id(cover.up_key)), (1, unique_id, cover.key)
        )
        targets[(Platform.COVER, f"{OTHER_PREFIX}{cover.up_key}")] = (0, unique_id, cover.key)
    return targets


def _device_targets(entry_id: str, device_map: DeviceMap) -> dict[str, tuple[int, str]]:
    """Map an identifier of the other integration to (shape age, our identifier value)."""
    targets: dict[str, tuple[int, str]] = {}
    keys = [light.key for light in device_map.lights]
    keys += [switch.key for switch in device_map.switches]
    for key in keys:
        ours = device_identifier(entry_id, key)[1]
        targets.setdefault(key, (1, ours))
        targets[f"{OTHER_PREFIX}{key}"] = (0, ours)
    for cover in device_map.covers:
        ours = device_identifier(entry_id, cover.key)[1]
        targets.setdefault(first_cover_unique_id(cover.up_key), (1, ours))
        targets[f"{OTHER_PREFIX}{cover.up_key}"] = (0, ours)
    return targets


@callback
def async_adopt_other_integration(
    hass: HomeAssistant, entry: IPComConfigEntry, device_map: DeviceMap
) -> AdoptionReport:
    """Rewrite the other integration's rows of this entry that match the device map.

    Idempotent: an adopted row has our shape and is not looked at again. A row
    whose target already exists is left as it is and reported. An entity whose
    area came from a device that does not become its device keeps that area on
    itself.
    """
    report = AdoptionReport()
    old_devices = _async_adopt_devices(hass, entry, device_map, report)
    _async_adopt_entities(hass, entry, device_map, old_devices, report)
    if report.entities or report.devices:
        _LOGGER.info(
            "Adopted %s entities and %s devices of the previous IPCom integration",
            len(report.entities),
            len(report.devices),
        )
    for conflict in report.conflicts:
        _LOGGER.warning("Left alone: %s", conflict)
    return report


def _async_adopt_devices(
    hass: HomeAssistant, entry: IPComConfigEntry, device_map: DeviceMap, report: AdoptionReport
) -> dict[str, str]:
    """Adopt the devices; return our identifier value of each adopted device id."""
    device_registry = dr.async_get(hass)
    targets = _device_targets(entry.entry_id, device_map)
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    taken = {
        value for device in devices for domain, value in device.identifiers if domain == DOMAIN
    }
    candidates: list[tuple[int, str, dr.DeviceEntry]] = []
    for device in devices:
        for domain, value in device.identifiers:
            if domain == DOMAIN and value in targets:
                age, ours = targets[value]
                candidates.append((age, ours, device))
                break
    adopted: dict[str, str] = {}
    for _age, ours, device in sorted(candidates, key=lambda candidate: candidate[0]):
        name = device.name_by_user or device.name
        if ours in taken:
            report.conflicts.append(f"device {name!r}: this integration already has its device")
            continue
        foreign = {identifier for identifier in device.identifiers if identifier[0] != DOMAIN}
        device_registry.async_update_device(
            device.id,
            new_identifiers={(DOMAIN, ours), *foreign},
            manufacturer=None,
            model=None,
            sw_version=None,
        )
        taken.add(ours)
        adopted[device.id] = ours
        report.devices.append(device.id)
    return adopted


def _async_adopt_entities(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    device_map: DeviceMap,
    adopted_devices: dict[str, str],
    report: AdoptionReport,
) -> None:
    """Adopt the entities, newest shape first, keeping the area each one showed in."""
    entity_registry = er.async_get(hass)
    device_registry = dr.async_get(hass)
    targets = _entity_targets(entry.entry_id, device_map)
    candidates = sorted(
        (
            (targets[(entity_entry.domain, entity_entry.unique_id)][0], entity_entry)
            for entity_entry in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
            if entity_entry.platform == DOMAIN
            and (entity_entry.domain, entity_entry.unique_id) in targets
        ),
        key=lambda candidate: candidate[0],
    )
    for _age, entity_entry in candidates:
        _shape_age, unique_id, key = targets[(entity_entry.domain, entity_entry.unique_id)]
        if entity_registry.async_get_entity_id(entity_entry.domain, DOMAIN, unique_id):
            report.conflicts.append(
                f"{entity_entry.entity_id}: this integration already has an entity for its output"
            )
            continue
        entity_registry.async_update_entity(entity_entry.entity_id, new_unique_id=unique_id)
        target = device_identifier(entry.entry_id, key)[1]
        if (
            entity_entry.area_id is None
            and entity_entry.device_id is not None
            and adopted_devices.get(entity_entry.device_id) != target
            and (old_device := device_registry.async_get(entity_entry.device_id)) is not None
            and old_device.area_id is not None
        ):
            _async_keep_area(
                hass,
                entry,
                entity_entry.entity_id,
                area_id=old_device.area_id,
                target=target,
                report=report,
            )
        report.entities.append(entity_entry.entity_id)


@callback
def async_report_conflicts(
    hass: HomeAssistant, entry: IPComConfigEntry, report: AdoptionReport
) -> None:
    """Keep a repair issue listing the rows left alone while there are any.

    A repair issue rather than diagnostics: the user has to act (delete the
    leftover row, or move its customisations by hand), and would not think of
    downloading diagnostics to learn that.
    """
    issue_id = f"{ISSUE_ADOPTION_CONFLICTS}_{entry.entry_id}"
    if not report.conflicts:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_ADOPTION_CONFLICTS,
        translation_placeholders={
            "title": entry.title,
            "rows": "\n".join(f"- {conflict}" for conflict in report.conflicts),
        },
    )


def _async_keep_area(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    entity_id: str,
    *,
    area_id: str,
    target: str,
    report: AdoptionReport,
) -> None:
    """Keep the area an entity showed in while its device is not the one it moves to.

    The area goes on the entity; Home Assistant refuses that for an entity
    without a name of its own (its name is its device's), and the area then
    goes on the device it moves to, if that one has none yet.
    """
    try:
        er.async_get(hass).async_update_entity(entity_id, area_id=area_id)
    except ValueError:
        device_registry = dr.async_get(hass)
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
            if (DOMAIN, target) in device.identifiers and device.area_id is None:
                device_registry.async_update_device(device.id, area_id=area_id)
                return
        report.conflicts.append(f"{entity_id}: its area stays with the device it was on")
