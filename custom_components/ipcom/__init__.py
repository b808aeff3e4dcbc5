"""The IPCom Home Anywhere Blue integration.

This module imports the `ipcom` library only inside its functions, after
`async_setup` made sure `import ipcom` finds the library and not an old
package in the configuration directory (see shadowing.py): the integration
then still loads and says which file to delete, instead of failing to import.
By then Home Assistant has already imported the library's modules while
preloading the config flow, so these imports cost nothing in the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_USERNAME,
    EVENT_HOMEASSISTANT_STOP,
    Platform,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
)
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_CLI_PATH,
    CONF_DEVICES_FILE,
    CONF_POLL_INTERVAL,
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_DEVICES_FILE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DIMMER_MODULE_MODEL,
    DOMAIN,
    FIRST_BUS,
    HUB_MODEL,
    ISSUE_ADOPTION_CONFLICTS,
    ISSUE_DEPRECATED_YAML,
    ISSUE_DEVICES_FILE_WARNINGS,
    ISSUE_INVALID_DEVICES_FILE,
    MANUFACTURER,
    PLATFORMS,
    RELAY_MODULE_MODEL,
)
from .identifiers import (
    connection_unique_id,
    device_identifier,
    hub_identifier,
    is_own_identifier,
    is_own_unique_id,
    module_identifier,
    output_unique_id,
)
from .migration import async_migrate_entry as async_migrate_entry
from .shadowing import async_check_library

if TYPE_CHECKING:
    from ipcom.devices import DeviceEntry, DeviceMap

    from .coordinator import IPComConfigEntry, IPComRuntimeData

_LOGGER = logging.getLogger(__name__)

CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                vol.Required(CONF_HOST): cv.string,
                vol.Optional(CONF_PORT, default=DEFAULT_PORT): cv.port,
                vol.Optional(CONF_USERNAME): cv.string,
                vol.Optional(CONF_PASSWORD): cv.string,
                vol.Optional(CONF_DEVICES_FILE, default=DEFAULT_DEVICES_FILE): cv.string,
                vol.Optional(CONF_CLI_PATH): cv.string,
                vol.Optional(CONF_SCAN_INTERVAL): cv.positive_time_period,
            }
        )
    },
    extra=vol.ALLOW_EXTRA,
)
"""The `ipcom:` block of installations configured before the config flow existed.

`cli_path` and `scan_interval` belonged to the old command-line based
integration; they are accepted so old files still load, and ignored.
"""

_IMPORTED_KEYS = (CONF_HOST, CONF_PORT, CONF_USERNAME, CONF_PASSWORD, CONF_DEVICES_FILE)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, and import a YAML configuration into a config entry.

    Nothing is set up while an old `ipcom` package hides the library.
    """
    if not await async_check_library(hass):
        return False
    from .services import async_setup_services  # noqa: PLC0415 - see the module docstring

    async_setup_services(hass)
    if DOMAIN in config:
        imported = {key: config[DOMAIN][key] for key in _IMPORTED_KEYS if key in config[DOMAIN]}
        hass.async_create_task(_async_import_yaml(hass, imported), eager_start=True)
    return True


async def _async_import_yaml(hass: HomeAssistant, imported: dict[str, Any]) -> None:
    """Start the import flow once and tell the user what to do with the YAML block."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data=imported
    )
    if result["type"] is FlowResultType.ABORT and result["reason"] != "already_configured":
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"{ISSUE_DEPRECATED_YAML}_import_failed",
            breaks_in_ha_version=None,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=f"{ISSUE_DEPRECATED_YAML}_import_failed",
            translation_placeholders={"host": imported[CONF_HOST]},
        )
        return
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_DEPRECATED_YAML}_import_failed")
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_DEPRECATED_YAML,
        breaks_in_ha_version=None,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_DEPRECATED_YAML,
        translation_placeholders={"host": imported[CONF_HOST]},
    )


async def async_setup_entry(hass: HomeAssistant, entry: IPComConfigEntry) -> bool:
    """Load the device map, connect to the installation and set up the platforms."""
    # See the module docstring.
    from ipcom.devices import DeviceMapError  # noqa: PLC0415
    from ipcom.errors import (  # noqa: PLC0415
        IPComAuthenticationError,
        IPComConnectionError,
        IPComError,
    )
    from ipcom.installation import Installation  # noqa: PLC0415
    from ipcom.messages import validate_credentials  # noqa: PLC0415
    from ipcom.scheduling import AsyncioScheduler  # noqa: PLC0415

    from .adoption import (  # noqa: PLC0415
        async_adopt_other_integration,
        async_report_conflicts,
    )
    from .coordinator import (  # noqa: PLC0415
        IPComCoordinator,
        IPComRuntimeData,
        async_load_entry_device_map,
        create_clients,
    )
    from .device_map_warnings import async_report_device_map_warnings  # noqa: PLC0415

    issue_id = f"{ISSUE_INVALID_DEVICES_FILE}_{entry.entry_id}"
    try:
        device_map = await async_load_entry_device_map(hass, entry)
    except DeviceMapError as err:
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_INVALID_DEVICES_FILE,
            translation_placeholders={"title": entry.title, "error": str(err)},
        )
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_devices_file",
            translation_placeholders={"error": str(err)},
        ) from err
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    async_report_device_map_warnings(hass, entry, device_map)

    target = f"{entry.data[CONF_HOST]}:{entry.data[CONF_PORT]}"
    if not entry.data.get(CONF_USERNAME) or not entry.data.get(CONF_PASSWORD):
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="missing_credentials",
            translation_placeholders={"target": target},
        )
    try:
        validate_credentials(entry.data[CONF_USERNAME], entry.data[CONF_PASSWORD])
    except ValueError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="unusable_credentials",
            translation_placeholders={"target": target, "error": str(err)},
        ) from err

    clients = create_clients(
        entry.data,
        poll_interval=entry.options.get(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL) / 1000,
    )
    unconnected = [bus for bus in device_map.buses() if bus not in clients]
    if unconnected:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="bus_not_configured",
            translation_placeholders={"bus": str(unconnected[0])},
        )
    installation = Installation(
        device_map,
        clients,
        AsyncioScheduler(hass.loop),
        reverse_pause=float(entry.options.get(CONF_REVERSE_PAUSE, DEFAULT_REVERSE_PAUSE)),
        unavailable_after=float(
            entry.options.get(CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER)
        ),
    )
    runtime = IPComRuntimeData(
        installation,
        {bus: IPComCoordinator(hass, entry, installation, bus) for bus in clients},
    )
    try:
        await runtime.async_start()
    except IPComAuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_auth",
            translation_placeholders={"target": target},
        ) from err
    except IPComConnectionError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"target": target, "error": str(err)},
        ) from err
    except (IPComError, ValueError) as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="unexpected_answer",
            translation_placeholders={"target": target, "error": str(err)},
        ) from err

    entry.async_on_unload(runtime.async_stop)
    entry.runtime_data = runtime

    async def _async_stop_clients(_event: Event) -> None:
        await runtime.async_stop()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_stop_clients))

    async_report_conflicts(hass, entry, async_adopt_other_integration(hass, entry, device_map))
    _async_register_devices(hass, entry, runtime)
    _async_remove_stale_entries(hass, entry, device_map, runtime.coordinators)

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IPComConfigEntry) -> bool:
    """Remove the entities; the client is then shut down by its unload callback.

    The callback also runs when the setup fails after the client started, so
    no client thread outlives a failed setup either.
    """
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: IPComConfigEntry) -> None:
    """A deleted entry leaves no repair issue behind."""
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_INVALID_DEVICES_FILE}_{entry.entry_id}")
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_DEVICES_FILE_WARNINGS}_{entry.entry_id}")
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_ADOPTION_CONFLICTS}_{entry.entry_id}")


def _async_register_devices(
    hass: HomeAssistant, entry: IPComConfigEntry, runtime: IPComRuntimeData
) -> None:
    """Register the hub, the modules and the mapped devices, each linked to its parent.

    The hub shows the firmware the installation named when it connected.
    Links are set by registry id with `async_update_device`, the one way every
    supported Home Assistant release accepts; entities then only name their device.
    """
    device_registry = dr.async_get(hass)
    entry_id = entry.entry_id
    device_map = runtime.device_map
    hub = device_registry.async_get_or_create(
        config_entry_id=entry_id,
        identifiers={hub_identifier(entry_id)},
        manufacturer=MANUFACTURER,
        model=HUB_MODEL,
        name=entry.title,
        sw_version=next(
            (
                client.firmware_version
                for client in runtime.installation.clients.values()
                if client.firmware_version
            ),
            None,
        ),
    )
    module_ids: dict[tuple[int, int], str] = {}
    for bus in device_map.buses():
        dimmer_modules = device_map.dimmer_modules(bus)
        for module in device_map.modules(bus):
            device = device_registry.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={module_identifier(entry_id, module, bus)},
                manufacturer=MANUFACTURER,
                model=DIMMER_MODULE_MODEL if module in dimmer_modules else RELAY_MODULE_MODEL,
                translation_key="module" if bus == FIRST_BUS else "module_on_bus",
                translation_placeholders={"module": str(module), "bus": str(bus)},
            )
            _async_link(device_registry, device, hub.id)
            module_ids[bus, module] = device.id
    mapped: list[tuple[DeviceEntry, int]] = [(light, light.module) for light in device_map.lights]
    mapped += [(switch, switch.module) for switch in device_map.switches]
    mapped += [(cover, cover.up.module) for cover in device_map.covers]
    for device_of_map, module in mapped:
        device = device_registry.async_get_or_create(
            config_entry_id=entry_id,
            identifiers={device_identifier(entry_id, device_of_map.key)},
            name=device_of_map.name,
            suggested_area=device_of_map.area,
        )
        _async_link(device_registry, device, module_ids[device_of_map.bus, module])


def _async_link(device_registry: dr.DeviceRegistry, device: dr.DeviceEntry, via_id: str) -> None:
    if device.via_device_id != via_id:
        device_registry.async_update_device(device.id, via_device_id=via_id)


def _expected_device_identifiers(entry_id: str, device_map: DeviceMap) -> set[tuple[str, str]]:
    """The device registry identifiers the current device map accounts for."""
    identifiers = {hub_identifier(entry_id)}
    identifiers.update(
        module_identifier(entry_id, module, bus)
        for bus in device_map.buses()
        for module in device_map.modules(bus)
    )
    identifiers.update(device_identifier(entry_id, device.key) for device in device_map)
    return identifiers


def _expected_entities(
    entry_id: str, device_map: DeviceMap, buses: Iterable[int]
) -> set[tuple[str, str]]:
    """The (entity domain, unique id) pairs the current device map accounts for.

    The domain counts: an output moved from `lights:` to `switches:` keeps its
    unique id but is a different entity.
    """
    expected = {
        (Platform.BINARY_SENSOR.value, connection_unique_id(entry_id, bus)) for bus in buses
    }
    expected.update(
        (Platform.LIGHT.value, output_unique_id(entry_id, light.module, light.output, light.bus))
        for light in device_map.lights
    )
    expected.update(
        (
            Platform.SWITCH.value,
            output_unique_id(entry_id, switch.module, switch.output, switch.bus),
        )
        for switch in device_map.switches
    )
    expected.update(
        (
            Platform.COVER.value,
            output_unique_id(entry_id, cover.up.module, cover.up.output, cover.bus),
        )
        for cover in device_map.covers
    )
    return expected


def _async_remove_stale_entries(
    hass: HomeAssistant, entry: IPComConfigEntry, device_map: DeviceMap, buses: Iterable[int]
) -> None:
    """Forget this integration's devices and entities of outputs that left the device map.

    Only rows of this entry with this integration's id shapes are looked at:
    rows of the other `ipcom` integration that could not be adopted stay for
    the user to inspect.
    """
    entry_id = entry.entry_id
    entity_registry = er.async_get(hass)
    expected = _expected_entities(entry_id, device_map, buses)
    for entity_entry in er.async_entries_for_config_entry(entity_registry, entry_id):
        if (
            entity_entry.platform == DOMAIN
            and is_own_unique_id(entry_id, entity_entry.unique_id)
            and (entity_entry.domain, entity_entry.unique_id) not in expected
        ):
            _LOGGER.debug("Removing %s: its output left the device map", entity_entry.entity_id)
            entity_registry.async_remove(entity_entry.entity_id)

    device_registry = dr.async_get(hass)
    identifiers = _expected_device_identifiers(entry_id, device_map)
    for device in dr.async_entries_for_config_entry(device_registry, entry_id):
        own = {
            identifier
            for identifier in device.identifiers
            if identifier[0] == DOMAIN and is_own_identifier(entry_id, identifier[1])
        }
        if own and not own & identifiers:
            _LOGGER.debug("Removing device %s: it left the device map", device.name)
            device_registry.async_remove_device(device.id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IPComConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device only once the device map no longer has it.

    An entry that is not loaded has no device map in memory, so its file is
    read instead; while that file cannot be read, every device is kept.
    """
    # See the module docstring.
    from ipcom.devices import DeviceMapError  # noqa: PLC0415

    from .coordinator import async_load_entry_device_map  # noqa: PLC0415

    if entry.state is ConfigEntryState.LOADED:
        device_map = entry.runtime_data.device_map
    else:
        try:
            device_map = await async_load_entry_device_map(hass, entry)
        except DeviceMapError:
            return False
    return not device.identifiers & _expected_device_identifiers(entry.entry_id, device_map)
