"""Outputs no device uses, offered for adding when a wall switch changes one.

A wall switch wired to an output nobody mapped changes that output; the
installation says so (`Installation.on_unmapped_output`) and a fixable
repair issue offers to add it as a light or a switch, module and output
filled in (repairs.py). Each output is offered once per run; an issue the
user ignored stays ignored when it is offered again, since the issue
registry keeps it dismissed. Once the output is mapped, whichever way
(this repair, the integration's page, an import), its issue goes; the
issues of an entry go with the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from ipcom.devices import DeviceMap, DeviceMapError
from ipcom.installation import Installation
from ipcom.models import OutputAddress

from .const import CONF_BUS, CONF_MODULE, CONF_OUTPUT, DOMAIN, ISSUE_UNMAPPED_OUTPUT
from .subentries import entry_device_map

ISSUE_ENTRY_ID = "entry_id"
"""The issue data's key of the config entry the output belongs to."""


def unmapped_output_issue_id(entry_id: str, bus: int, module: int, output: int) -> str:
    """The id of the issue offering an output of an entry."""
    return f"{_issue_prefix(entry_id)}{bus}_{module}_{output}"


def _issue_prefix(entry_id: str) -> str:
    return f"{ISSUE_UNMAPPED_OUTPUT}_{entry_id}_"


def issue_output(data: Mapping[str, object] | None) -> tuple[int, int, int] | None:
    """The bus, module and output an issue's data names; None when it names none."""
    numbers: list[int] = []
    for key in (CONF_BUS, CONF_MODULE, CONF_OUTPUT):
        value = (data or {}).get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        numbers.append(value)
    bus, module, output = numbers
    return bus, module, output


def _entry_issues(hass: HomeAssistant, entry_id: str) -> list[ir.IssueEntry]:
    """The unmapped-output issues of an entry, from this run or kept from an earlier one."""
    prefix = _issue_prefix(entry_id)
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith(prefix)
    ]


class UnmappedOutputs:
    """The outputs of one entry offered during this run, and their repair issues."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Start with nothing offered."""
        self._hass = hass
        self._entry = entry
        self._offered: set[tuple[int, int, int]] = set()

    @callback
    def async_output_changed(self, bus: int, address: OutputAddress) -> None:
        """Offer an output no device uses, unless it was offered during this run.

        Creating the issue again for an output offered in an earlier run
        leaves an ignored issue ignored: the registry keeps its dismissal.
        """
        where = (bus, address.module, address.output)
        if where in self._offered:
            return
        self._offered.add(where)
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            unmapped_output_issue_id(self._entry.entry_id, *where),
            is_fixable=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_UNMAPPED_OUTPUT,
            translation_placeholders={
                "title": self._entry.title,
                "bus": str(bus),
                "module": str(address.module),
                "output": str(address.output),
            },
            data={
                ISSUE_ENTRY_ID: self._entry.entry_id,
                CONF_BUS: bus,
                CONF_MODULE: address.module,
                CONF_OUTPUT: address.output,
            },
        )

    @callback
    def async_device_map_changed(self, device_map: DeviceMap) -> None:
        """Delete the issue of every output of the entry a device of `device_map` uses.

        That includes issues kept from an earlier run (ignored ones). An
        output that is free again later is offered again when it changes.
        """
        for issue in _entry_issues(self._hass, self._entry.entry_id):
            where = issue_output(issue.data)
            if where is None:
                continue
            bus, module, output = where
            if OutputAddress(module, output) in device_map.outputs(bus):
                self._offered.discard(where)
                ir.async_delete_issue(self._hass, DOMAIN, issue.issue_id)


@callback
def async_follow_unmapped_outputs(
    hass: HomeAssistant, entry: ConfigEntry, installation: Installation
) -> Callable[[], None]:
    """Offer the outputs a wall switch changes and no device uses; return how to stop.

    Outputs mapped since their issue was created (while Home Assistant was
    down, say) lose it at once; one mapped later loses it when the entry's
    devices change (an update listener of its own, so adding a device by any
    path is enough).
    """
    unmapped = UnmappedOutputs(hass, entry)
    unmapped.async_device_map_changed(installation.device_map)

    async def _async_entry_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
        try:
            device_map = entry_device_map(entry)
        except DeviceMapError:
            return
        unmapped.async_device_map_changed(device_map)

    unsubscribes = [
        installation.on_unmapped_output(unmapped.async_output_changed),
        entry.add_update_listener(_async_entry_updated),
    ]

    @callback
    def _async_stop() -> None:
        for unsubscribe in unsubscribes:
            unsubscribe()

    return _async_stop


@callback
def async_remove_unmapped_output_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every unmapped-output issue of an entry (the entry is being removed)."""
    for issue in _entry_issues(hass, entry_id):
        ir.async_delete_issue(hass, DOMAIN, issue.issue_id)
