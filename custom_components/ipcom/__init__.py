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
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_IMPORT
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_USERNAME,
    EVENT_HOMEASSISTANT_STOP,
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
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_CLI_PATH,
    CONF_DEVICES_FILE,
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_DEVICES_FILE,
    DEFAULT_PORT,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    ISSUE_ADOPTION_CONFLICTS,
    ISSUE_DEPRECATED_YAML,
    ISSUE_DEVICES_FILE_IMPORTED,
    ISSUE_DEVICES_FILE_WARNINGS,
    ISSUE_INVALID_DEVICES_FILE,
    PLATFORMS,
)
from .migration import async_migrate_entry as async_migrate_entry
from .shadowing import async_check_library
from .validation import vol

if TYPE_CHECKING:
    from .coordinator import IPComConfigEntry

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
    """Read the devices, connect to the installation and set up the platforms."""
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
        async_setup_reached,
        async_setup_unreachable,
        create_clients,
    )
    from .devices_file import async_import_devices_file  # noqa: PLC0415
    from .registry import async_register_devices, async_remove_stale_entries  # noqa: PLC0415
    from .subentries import entry_device_map, subentry_ids_by_key  # noqa: PLC0415
    from .unmapped import async_follow_unmapped_outputs  # noqa: PLC0415

    issue_id = f"{ISSUE_INVALID_DEVICES_FILE}_{entry.entry_id}"
    try:
        if entry.data.get(CONF_DEVICES_FILE):
            await async_import_devices_file(hass, entry)
        device_map = entry_device_map(entry)
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

    # The vendor application's pace, not an option: core keeps polling intervals out of them.
    clients = create_clients(entry.data)
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
        settings=(dict(entry.data), dict(entry.options)),
        subentry_ids=subentry_ids_by_key(entry),
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
        async_setup_unreachable(hass, entry, runtime.unreached, str(err))
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

    async_setup_reached(hass, entry)
    entry.async_on_unload(runtime.async_stop)
    entry.runtime_data = runtime

    async def _async_stop_clients(_event: Event) -> None:
        await runtime.async_stop()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_stop_clients))

    async_report_conflicts(hass, entry, async_adopt_other_integration(hass, entry, device_map))
    async_register_devices(hass, entry, runtime)
    async_remove_stale_entries(hass, entry, device_map, runtime.coordinators)
    entry.async_on_unload(async_follow_unmapped_outputs(hass, entry, runtime.installation))

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: IPComConfigEntry) -> None:
    """Reload for new connection settings or options; follow a device change live.

    Devices are subentries: adding, changing or deleting one changes only
    that device, while every bus connection stays up (no reconnect, no write
    lost). Anything else the entry holds is how it connects, so it reloads.
    """
    # See the module docstring.
    from ipcom.devices import DeviceMapError  # noqa: PLC0415

    from .registry import (  # noqa: PLC0415
        async_register_devices,
        async_remove_stale_entries,
        async_update_areas,
    )
    from .subentries import entry_device_map, subentry_ids_by_key  # noqa: PLC0415

    runtime = entry.runtime_data
    if (dict(entry.data), dict(entry.options)) != runtime.settings:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    try:
        device_map = entry_device_map(entry)
        before = runtime.device_map
        change = runtime.installation.update(device_map)
    except (DeviceMapError, ValueError) as err:
        _LOGGER.error("The devices of %s cannot be used, reloading: %s", entry.title, err)
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    runtime.subentry_ids = subentry_ids_by_key(entry)
    async_register_devices(hass, entry, runtime)
    async_update_areas(hass, entry, before, device_map)
    async_remove_stale_entries(hass, entry, device_map, runtime.coordinators)
    runtime.async_devices_added(change.added)


async def async_unload_entry(hass: HomeAssistant, entry: IPComConfigEntry) -> bool:
    """Remove the entities; the client is then shut down by its unload callback.

    The callback also runs when the setup fails after the client started, so
    no client thread outlives a failed setup either.
    """
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: IPComConfigEntry) -> None:
    """A deleted entry leaves no repair issue behind."""
    from .coordinator import async_setup_reached  # noqa: PLC0415
    from .unmapped import async_remove_unmapped_output_issues  # noqa: PLC0415

    async_remove_unmapped_output_issues(hass, entry.entry_id)
    async_setup_reached(hass, entry)
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_INVALID_DEVICES_FILE}_{entry.entry_id}")
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_DEVICES_FILE_WARNINGS}_{entry.entry_id}")
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_ADOPTION_CONFLICTS}_{entry.entry_id}")
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_DEVICES_FILE_IMPORTED}_{entry.entry_id}")


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IPComConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device only once the device map no longer has it.

    A mapped device goes with its subentry; while the subentries do not make
    a valid map, every device is kept.
    """
    # See the module docstring.
    from ipcom.devices import DeviceMapError  # noqa: PLC0415

    from .registry import expected_device_identifiers  # noqa: PLC0415
    from .subentries import entry_device_map  # noqa: PLC0415

    try:
        device_map = entry_device_map(entry)
    except DeviceMapError:
        return False
    return not device.identifiers & expected_device_identifiers(entry.entry_id, device_map)
