"""Add and change the installation's lights, switches and shutters from the integration's page.

Each device is a config subentry (see subentries.py). The forms ask for what
a devices.yaml entry holds, and a device is checked against the others by
the library (`ipcom.device_records.check_record`) with the rules a
devices.yaml is read by; each problem is shown at the field it belongs to.
Saving a device does not reload the entry: its update listener adds,
changes or removes the device while the connections stay up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, UnitOfTime
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers.selector import (
    AreaSelector,
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)

from ipcom.device_records import (
    AREA,
    BUS,
    DESCRIPTION,
    DEVICE_CLASS,
    DIMMABLE,
    DOWN_KEY,
    DOWN_MODULE,
    DOWN_OUTPUT,
    ICON,
    KEY,
    KIND_LIGHT,
    KIND_SHUTTER,
    KIND_SWITCH,
    MODULE,
    MODULE_NUMBERS,
    NAME,
    OUTPUT,
    OUTPUT_NUMBERS,
    REVERSE_PAUSE,
    TRAVEL_TIME_DOWN,
    TRAVEL_TIME_UP,
    UP_KEY,
    UP_MODULE,
    UP_OUTPUT,
    DeviceRecord,
    check_record,
    new_key,
    relay_keys,
)
from ipcom.devices import (
    COVER_DEVICE_CLASSES,
    DEFAULT_COVER_DEVICE_CLASS,
    MAX_REVERSE_PAUSE,
    MAX_TRAVEL_TIME,
    MIN_REVERSE_PAUSE,
    SWITCH_DEVICE_CLASSES,
)

from .account_flow import AccountImportSubentryFlow
from .coordinator import configured_buses
from .subentries import entry_records, record_of_subentry
from .validation import vol

_MODULE_FIELDS: Final = (MODULE, UP_MODULE, DOWN_MODULE)
_KEPT_FIELDS: Final = (ICON, DESCRIPTION)
"""A device's settings that a devices.yaml or an import may give and the forms do not show."""
_OUTPUT_FIELDS: Final = (OUTPUT, UP_OUTPUT, DOWN_OUTPUT)
_SECONDS_FIELDS: Final = {
    TRAVEL_TIME_UP: (0.1, MAX_TRAVEL_TIME),
    TRAVEL_TIME_DOWN: (0.1, MAX_TRAVEL_TIME),
    REVERSE_PAUSE: (MIN_REVERSE_PAUSE, MAX_REVERSE_PAUSE),
}


def _box(minimum: float, maximum: float, step: float, unit: str | None = None) -> NumberSelector:
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _select(options: list[str], translation_key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=options, translation_key=translation_key, mode=SelectSelectorMode.DROPDOWN
        )
    )


def _whole(field: str) -> vol.All[int]:
    """A module or output number; the form sends numbers as floats."""
    numbers = MODULE_NUMBERS if field in _MODULE_FIELDS else OUTPUT_NUMBERS
    return vol.All(_box(numbers[0], numbers[-1], 1), vol.Coerce(int))


def _seconds(field: str) -> vol.All[float]:
    low, high = _SECONDS_FIELDS[field]
    return vol.All(_box(low, high, 0.1, UnitOfTime.SECONDS), vol.Coerce(float))


class DeviceSubentryFlow(ConfigSubentryFlow, ABC):
    """Add a device of one kind (`user`) or change one (`reconfigure`).

    A device keeps its key for good: the key names its Home Assistant
    device, so a rename or a move to another output keeps its area and
    history.
    """

    kind: ClassVar[str]
    address_fields: ClassVar[tuple[str, ...]] = (MODULE, OUTPUT)

    @abstractmethod
    def _settings_schema(self) -> dict[vol.Marker, Any]:
        """The kind's own fields, after the address."""

    def _schema(self) -> vol.Schema:
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME): TextSelector(),
            vol.Optional(AREA): AreaSelector(),
        }
        buses = configured_buses(self._get_entry().data)
        if len(buses) > 1:
            fields[vol.Required(BUS, default=str(min(buses)))] = _select(
                [str(bus) for bus in buses], "bus"
            )
        fields.update({vol.Required(field): _whole(field) for field in self.address_fields})
        fields.update(self._settings_schema())
        return vol.Schema(fields)

    def _record(
        self, user_input: Mapping[str, Any], key: str, stored: Mapping[str, Any] | None = None
    ) -> DeviceRecord:
        """The device the form describes, with the key it is stored under.

        Settings an imported device may have that the form does not show
        (`_KEPT_FIELDS`) are kept from `stored`.
        """
        data: dict[str, Any] = {KEY: key, NAME: user_input[CONF_NAME].strip()}
        kept = stored or {}
        data.update({field: kept[field] for field in _KEPT_FIELDS if field in kept})
        if area_id := user_input.get(AREA):
            area = ar.async_get(self.hass).async_get_area(area_id)
            if area is not None:
                data[AREA] = area.name
        data[BUS] = int(user_input.get(BUS, min(configured_buses(self._get_entry().data))))
        data.update({field: user_input[field] for field in self.address_fields})
        data.update(self._settings(user_input, key))
        return DeviceRecord(self.kind, data)

    @abstractmethod
    def _settings(self, user_input: Mapping[str, Any], key: str) -> dict[str, Any]:
        """The kind's own settings from the form."""

    def _form_values(self, record: DeviceRecord) -> dict[str, Any]:
        """What the form shows for a stored device."""
        data = record.data
        values: dict[str, Any] = {CONF_NAME: data[NAME], BUS: str(data.get(BUS, 1))}
        if (area_name := data.get(AREA)) and (
            area := ar.async_get(self.hass).async_get_area_by_name(area_name)
        ):
            values[AREA] = area.id
        values.update({field: data[field] for field in self.address_fields})
        values.update(
            {field: value for field, value in data.items() if field in self._extra_fields()}
        )
        return values

    def _extra_fields(self) -> set[str]:
        return {str(marker) for marker in self._settings_schema()}

    def _check(
        self, record: DeviceRecord, replacing: str | None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The form's errors and their placeholders: empty when the device fits."""
        problems = check_record(entry_records(self._get_entry()), record, replacing=replacing)
        errors = {problem.field: problem.code for problem in problems}
        placeholders: dict[str, str] = {}
        for problem in problems:
            placeholders.update(problem.placeholders)
        return errors, placeholders

    def _show(
        self,
        step_id: str,
        values: Mapping[str, Any] | None,
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> SubentryFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(self._schema(), values or {}),
            errors=errors,
            description_placeholders={"device": "", "reason": "", **placeholders},
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Describe a new device."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            records = entry_records(self._get_entry())
            record = self._record(user_input, new_key(records, user_input[CONF_NAME]))
            errors, placeholders = self._check(record, replacing=None)
            if not errors:
                return self.async_create_entry(
                    title=record.title, data=dict(record.data), unique_id=record.unique_id
                )
        return self._show("user", user_input, errors, placeholders)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a device: its name, area, outputs or settings; its key stays."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        stored = record_of_subentry(subentry)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            record = self._record(user_input, stored.key, stored.data)
            errors, placeholders = self._check(record, replacing=stored.key)
            if not errors:
                return self.async_update_and_abort(
                    entry,
                    subentry,
                    title=record.title,
                    data=dict(record.data),
                    unique_id=record.unique_id,
                )
        values = user_input if user_input is not None else self._form_values(stored)
        return self._show("reconfigure", values, errors, placeholders)


class LightSubentryFlow(DeviceSubentryFlow):
    """A lamp on a relay output, or on a dimmer module's output when dimmable."""

    kind = KIND_LIGHT

    def _settings_schema(self) -> dict[vol.Marker, Any]:
        return {vol.Required(DIMMABLE, default=False): BooleanSelector()}

    def _settings(self, user_input: Mapping[str, Any], key: str) -> dict[str, Any]:
        return {DIMMABLE: bool(user_input.get(DIMMABLE, False))}


class SwitchSubentryFlow(DeviceSubentryFlow):
    """A relay output that is not a lamp: a socket, a pump, a fan."""

    kind = KIND_SWITCH

    def _settings_schema(self) -> dict[vol.Marker, Any]:
        return {
            vol.Optional(DEVICE_CLASS): _select(list(SWITCH_DEVICE_CLASSES), "switch_device_class")
        }

    def _settings(self, user_input: Mapping[str, Any], key: str) -> dict[str, Any]:
        device_class = user_input.get(DEVICE_CLASS)
        return {DEVICE_CLASS: device_class} if device_class else {}


class ShutterSubentryFlow(DeviceSubentryFlow):
    """A shutter on two relays: up and down, with its travel times and reversal pause."""

    kind = KIND_SHUTTER
    address_fields = (UP_MODULE, UP_OUTPUT, DOWN_MODULE, DOWN_OUTPUT)

    def _settings_schema(self) -> dict[vol.Marker, Any]:
        return {
            vol.Required(DEVICE_CLASS, default=DEFAULT_COVER_DEVICE_CLASS): _select(
                list(COVER_DEVICE_CLASSES), "cover_device_class"
            ),
            **{vol.Optional(field): _seconds(field) for field in _SECONDS_FIELDS},
        }

    def _settings(self, user_input: Mapping[str, Any], key: str) -> dict[str, Any]:
        """The relays keep the keys they had: a file's shutter keeps the keys its relays had."""
        stored = (
            record_of_subentry(self._get_reconfigure_subentry()).data
            if self.source == SOURCE_RECONFIGURE
            else {}
        )
        settings: dict[str, Any] = {
            UP_KEY: stored.get(UP_KEY, relay_keys(key)[0]),
            DOWN_KEY: stored.get(DOWN_KEY, relay_keys(key)[1]),
            DEVICE_CLASS: user_input.get(DEVICE_CLASS, DEFAULT_COVER_DEVICE_CLASS),
        }
        settings.update(
            {field: user_input[field] for field in _SECONDS_FIELDS if field in user_input}
        )
        return settings


SUBENTRY_FLOWS: Final[dict[str, type[ConfigSubentryFlow]]] = {
    KIND_LIGHT: LightSubentryFlow,
    KIND_SWITCH: SwitchSubentryFlow,
    KIND_SHUTTER: ShutterSubentryFlow,
    "account": AccountImportSubentryFlow,
}
"""The subentry types an installation's entry offers, each with its flow."""
