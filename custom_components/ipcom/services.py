"""The actions of the integration: raw output writes and re-reading the device map."""

from __future__ import annotations

from functools import partial

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from ipcom.devices_export import dump_device_map
from ipcom.limits import MODULE_COUNT, OUTPUT_VALUE_MAX, OUTPUTS_PER_MODULE

from .command import async_carry_out
from .const import (
    ATTR_DEVICES_YAML,
    CONF_BUS,
    CONF_CONFIG_ENTRY_ID,
    CONF_MODULE,
    CONF_OUTPUT,
    CONF_VALUE,
    DOMAIN,
    FIRST_BUS,
    SECOND_BUS,
    SERVICE_EXPORT_DEVICES,
    SERVICE_SET_OUTPUT,
)
from .coordinator import IPComConfigEntry
from .subentries import entry_device_map
from .validation import vol

SET_OUTPUT_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(CONF_BUS, default=FIRST_BUS): vol.All(
            vol.Coerce(int), vol.In((FIRST_BUS, SECOND_BUS))
        ),
        vol.Required(CONF_MODULE): vol.All(vol.Coerce(int), vol.Range(min=1, max=MODULE_COUNT)),
        vol.Required(CONF_OUTPUT): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=OUTPUTS_PER_MODULE)
        ),
        vol.Required(CONF_VALUE): vol.All(vol.Coerce(int), vol.Range(min=0, max=OUTPUT_VALUE_MAX)),
    }
)
EXPORT_DEVICES_SCHEMA = vol.Schema({vol.Required(CONF_CONFIG_ENTRY_ID): cv.string})


def _get_entry(hass: HomeAssistant, call: ServiceCall) -> IPComConfigEntry:
    entry_id: str = call.data[CONF_CONFIG_ENTRY_ID]
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


def _get_loaded_entry(hass: HomeAssistant, call: ServiceCall) -> IPComConfigEntry:
    entry = _get_entry(hass, call)
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return entry


async def _async_set_output(call: ServiceCall) -> None:
    """Write one output, also one that the device map does not name."""
    entry = _get_loaded_entry(call.hass, call)
    bus = call.data[CONF_BUS]
    module, output, value = call.data[CONF_MODULE], call.data[CONF_OUTPUT], call.data[CONF_VALUE]
    installation = entry.runtime_data.installation
    if bus not in installation.clients:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="bus_not_configured",
            translation_placeholders={"bus": str(bus)},
        )
    device = installation.device_map.at(module, output, bus=bus)
    name = device.name if device is not None else f"module {module} output {output}"
    if device is None and bus != FIRST_BUS:
        name = f"bus {bus} {name}"
    await async_carry_out(
        partial(installation.clients[bus].set_value, module, output, value),
        name,
        installation.links[bus].target,
    )


async def _async_export_devices(call: ServiceCall) -> ServiceResponse:
    """The entry's devices as devices.yaml text, for the command line and the simulator.

    The devices are the entry's subentries, so an entry that is not loaded
    has them too.
    """
    entry = _get_entry(call.hass, call)
    return {ATTR_DEVICES_YAML: dump_device_map(entry_device_map(entry))}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions once for all entries."""
    hass.services.async_register(
        DOMAIN, SERVICE_SET_OUTPUT, _async_set_output, schema=SET_OUTPUT_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_DEVICES,
        _async_export_devices,
        schema=EXPORT_DEVICES_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
