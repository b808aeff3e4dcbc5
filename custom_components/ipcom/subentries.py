"""The installation's devices as config subentries: one per light, switch and shutter.

A subentry's type is the device's kind, its data the library's record of the
device (`ipcom.device_records`), its title the device's name and its unique
id the device's address, so Home Assistant itself refuses a second device on
an output. Everything that reads or writes the device map of an entry goes
through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from homeassistant.config_entries import ConfigEntry, ConfigSubentry, ConfigSubentryData
from homeassistant.core import HomeAssistant, callback

from ipcom.device_records import KINDS, DeviceRecord, device_map_of
from ipcom.devices import DeviceMap


def record_of_subentry(subentry: ConfigSubentry) -> DeviceRecord:
    """The device a subentry holds."""
    return DeviceRecord(subentry.subentry_type, dict(subentry.data))


def device_subentries(entry: ConfigEntry) -> dict[str, ConfigSubentry]:
    """The entry's device subentries by id (other subentry types are not devices)."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type in KINDS
    }


def entry_records(entry: ConfigEntry) -> list[DeviceRecord]:
    """Every device of the entry, as records."""
    return [record_of_subentry(subentry) for subentry in device_subentries(entry).values()]


def entry_device_map(entry: ConfigEntry) -> DeviceMap:
    """The entry's device map, validated as a devices.yaml is (`DeviceMapError` if not)."""
    return device_map_of(entry_records(entry), source=f"the devices of {entry.title}")


def subentry_ids_by_key(entry: ConfigEntry) -> dict[str, str]:
    """Which subentry holds the device with each key."""
    return {
        str(subentry.data["key"]): subentry_id
        for subentry_id, subentry in device_subentries(entry).items()
    }


def subentry_data(record: DeviceRecord) -> ConfigSubentryData:
    """What a new subentry for `record` is created from."""
    return ConfigSubentryData(
        data=dict(record.data),
        subentry_type=record.kind,
        title=record.title,
        unique_id=record.unique_id,
    )


@callback
def async_add_records(
    hass: HomeAssistant, entry: ConfigEntry, records: Iterable[DeviceRecord]
) -> list[DeviceRecord]:
    """Add a subentry for each record whose address has none yet; return those added.

    What exists is kept as it is: importing again adds only what is new.
    """
    taken = {subentry.unique_id for subentry in entry.subentries.values()}
    added: list[DeviceRecord] = []
    for record in records:
        if record.unique_id in taken:
            continue
        taken.add(record.unique_id)
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType(dict(record.data)),
                subentry_type=record.kind,
                title=record.title,
                unique_id=record.unique_id,
            ),
        )
        added.append(record)
    return added
