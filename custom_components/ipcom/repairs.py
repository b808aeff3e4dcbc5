"""Fix flows of the integration's repair issues: add an output a wall switch changed.

An unmapped output's issue (unmapped.py) is fixed by adding the output as
a device: the form asks for a name, light or switch, and an area; bus,
module and output come from the issue. An output of a dimmer module (one
the entry's devices already use as dimmers) can only be a dimmable light,
so the form does not ask. The device is checked as the integration's page
checks one (`ipcom.device_records.check_record`) and added as a subentry:
the entry's update listener adds its entity while the connections stay up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers.selector import (
    AreaSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)

from ipcom.device_records import (
    AREA,
    BUS,
    DIMMABLE,
    KEY,
    KIND_LIGHT,
    KIND_SWITCH,
    MODULE,
    NAME,
    OUTPUT,
    DeviceRecord,
    check_record,
    new_key,
)
from ipcom.devices import DeviceMapError

from .const import DOMAIN, ISSUE_UNMAPPED_OUTPUT
from .subentries import async_add_records, entry_device_map, entry_records
from .unmapped import ISSUE_ENTRY_ID, issue_output
from .validation import vol

CONF_KIND: Final = "kind"
"""The form's choice between a light and a switch."""
KIND_SELECTOR: Final = "device_kind"
"""The translation key of the kind's options (`selector.device_kind` in strings.json)."""
_KIND_LABELS: Final = {KIND_LIGHT: "Light", KIND_SWITCH: "Switch"}
"""What the kind's options read where no translation names them."""
_FORM_FIELDS: Final = frozenset({CONF_NAME, CONF_KIND, AREA})
ENTRY_REMOVED: Final = "entry_removed"
"""The abort reason when the installation the output belongs to is gone."""


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow that fixes an issue: adding the output, for an unmapped output's issue."""
    where = issue_output(data)
    entry_id = (data or {}).get(ISSUE_ENTRY_ID)
    if issue_id.startswith(f"{ISSUE_UNMAPPED_OUTPUT}_") and where and isinstance(entry_id, str):
        return UnmappedOutputRepairFlow(entry_id, *where)
    return ConfirmRepairFlow()


class UnmappedOutputRepairFlow(RepairsFlow):
    """Add an output no device uses as a light or a switch; the issue then goes."""

    def __init__(self, entry_id: str, bus: int, module: int, output: int) -> None:
        """Add the output `module`.`output` of `bus` to the entry `entry_id`."""
        self._entry_id = entry_id
        self._bus = bus
        self._module = module
        self._output = output

    # Any context: from Home Assistant 2026.10 the steps return a RepairsFlowResult, whose
    # context is a RepairsFlowContext; before, a FlowResult with a FlowContext.
    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> FlowResult[Any, str]:
        """Ask for the device's name, kind and area; add it once it fits.

        The flow's start hands the step the issue's id, not a filled form,
        so only input with a name is a submission.
        """
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.domain != DOMAIN:
            return self.async_abort(reason=ENTRY_REMOVED)
        dimmer = self._on_dimmer_module(entry)
        errors: dict[str, str] = {}
        placeholders = {
            "title": entry.title,
            "bus": str(self._bus),
            "module": str(self._module),
            "output": str(self._output),
            "device": "",
            "reason": "",
        }
        if user_input is not None and CONF_NAME in user_input:
            records = entry_records(entry)
            record = self._record(user_input, records, dimmer=dimmer)
            problems = check_record(records, record)
            if not problems:
                async_add_records(self.hass, entry, [record])
                return self.async_create_entry(data={})
            for problem in problems:
                errors[problem.field if problem.field in _FORM_FIELDS else "base"] = problem.code
                placeholders.update(problem.placeholders)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                self._schema(dimmer=dimmer),
                {key: value for key, value in (user_input or {}).items() if key in _FORM_FIELDS},
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _on_dimmer_module(self, entry: ConfigEntry) -> bool:
        """Whether the entry's devices use the output's module as a dimmer module."""
        try:
            device_map = entry_device_map(entry)
        except DeviceMapError:
            return False
        return self._module in device_map.dimmer_modules(self._bus)

    @staticmethod
    def _schema(*, dimmer: bool) -> vol.Schema:
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_NAME): TextSelector()}
        if not dimmer:
            fields[vol.Required(CONF_KIND, default=KIND_LIGHT)] = SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=kind, label=label)
                        for kind, label in _KIND_LABELS.items()
                    ],
                    translation_key=KIND_SELECTOR,
                    mode=SelectSelectorMode.LIST,
                )
            )
        fields[vol.Optional(AREA)] = AreaSelector()
        return vol.Schema(fields)

    def _record(
        self, user_input: Mapping[str, Any], records: list[DeviceRecord], *, dimmer: bool
    ) -> DeviceRecord:
        """The device the form describes, on the issue's output, with a new key."""
        name = str(user_input[CONF_NAME]).strip()
        data: dict[str, Any] = {KEY: new_key(records, name), NAME: name}
        if (area_id := user_input.get(AREA)) and (
            area := ar.async_get(self.hass).async_get_area(area_id)
        ):
            data[AREA] = area.name
        data |= {BUS: self._bus, MODULE: self._module, OUTPUT: self._output}
        kind = KIND_LIGHT if dimmer else str(user_input.get(CONF_KIND, KIND_LIGHT))
        if kind == KIND_LIGHT:
            data[DIMMABLE] = dimmer
        return DeviceRecord(kind, data)
