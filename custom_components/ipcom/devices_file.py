"""The one-time import of a devices.yaml into the entry's subentries.

Entries made before devices lived in the UI name a devices file, and so do
entries made from an `ipcom:` YAML block or, when a file was already there,
from the config flow. Their setup turns the file into one subentry per
device, keeping every key (device identifiers) and address (entity unique
ids), so areas, history and the rows adopted from the other integration
stay. The entry then stops naming the file, and a repair issue says so: the
file is no longer read, and `ipcom.export_devices` writes the current map
back out for the command line.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from ipcom.device_records import device_map_of, records_of

from .const import CONF_DEVICES_FILE, DOMAIN, ISSUE_DEVICES_FILE_IMPORTED
from .coordinator import IPComConfigEntry, async_load_device_map
from .device_map_warnings import async_report_device_map_warnings
from .subentries import async_add_records, entry_records


async def async_import_devices_file(hass: HomeAssistant, entry: IPComConfigEntry) -> None:
    """Import the file the entry names into subentries, then forget the file.

    A device on an output that already has a subentry is left out: what the
    entry has is kept. Raises `DeviceMapError`, changing nothing, when the
    file cannot be read, is not valid, or clashes with the entry's devices
    (a key or an output used twice): the entry keeps naming it until fixed.
    """
    devices_file = entry.data[CONF_DEVICES_FILE]
    device_map = await async_load_device_map(hass, devices_file)
    existing = entry_records(entry)
    taken = {record.unique_id for record in existing}
    new = [record for record in records_of(device_map) if record.unique_id not in taken]
    device_map_of([*existing, *new], source=hass.config.path(devices_file))
    async_report_device_map_warnings(hass, entry, device_map)
    added = async_add_records(hass, entry, new)
    hass.config_entries.async_update_entry(
        entry, data={key: value for key, value in entry.data.items() if key != CONF_DEVICES_FILE}
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{ISSUE_DEVICES_FILE_IMPORTED}_{entry.entry_id}",
        is_fixable=False,
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_DEVICES_FILE_IMPORTED,
        translation_placeholders={
            "title": entry.title,
            "path": hass.config.path(devices_file),
            "count": str(len(added)),
        },
    )
