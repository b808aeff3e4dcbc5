"""What a devices file holds that the device map does not use: one log line and a repair issue.

A file written for the other IPCom integration loads, but the user should see
once what was left out (an icon that was not an icon, a `sockets:` section),
rather than find out from a missing entity.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_DEVICES_FILE_WARNINGS

if TYPE_CHECKING:
    from ipcom.devices import DeviceMap

    from .coordinator import IPComConfigEntry

_LOGGER = logging.getLogger(__name__)


def issue_id(entry: IPComConfigEntry) -> str:
    """The repair issue of one entry's devices file warnings."""
    return f"{ISSUE_DEVICES_FILE_WARNINGS}_{entry.entry_id}"


@callback
def async_report_device_map_warnings(
    hass: HomeAssistant, entry: IPComConfigEntry, device_map: DeviceMap
) -> None:
    """Log the warnings once per load and keep a repair issue while there are any."""
    if not device_map.warnings:
        ir.async_delete_issue(hass, DOMAIN, issue_id(entry))
        return
    listed = "\n".join(f"- {warning}" for warning in device_map.warnings)
    _LOGGER.warning(
        "The devices file of %s holds settings this integration does not use:\n%s",
        entry.title,
        listed,
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry),
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_DEVICES_FILE_WARNINGS,
        translation_placeholders={"title": entry.title, "warnings": listed},
    )
