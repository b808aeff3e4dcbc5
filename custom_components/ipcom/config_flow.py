"""Config flow: set up, import, reauthenticate and reconfigure an installation; options."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from ipcom.devices import DeviceMapError
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.limits import MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH
from ipcom.messages import validate_credentials

from .const import (
    CONF_DEVICES_FILE,
    CONF_POLL_INTERVAL,
    CONF_REVERSE_PAUSE,
    CONF_UNAVAILABLE_AFTER,
    CONNECT_TIMEOUT,
    DEFAULT_DEVICES_FILE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    MAX_POLL_INTERVAL,
    MAX_REVERSE_PAUSE,
    MAX_UNAVAILABLE_AFTER,
    MIN_POLL_INTERVAL,
    MIN_REVERSE_PAUSE,
    MIN_UNAVAILABLE_AFTER,
)
from .coordinator import IPComConfigEntry, async_load_device_map, create_client
from .migration import CONFIG_MINOR_VERSION, CONFIG_VERSION

_LOGGER = logging.getLogger(__name__)


def _number_box(minimum: float, maximum: float, step: float, unit: str = "") -> NumberSelector:
    """A number typed into a box: ranges here are too wide, or too fine, for a slider."""
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


CONNECTION_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_PORT): vol.All(
            _number_box(1, 65535, 1), vol.Coerce(int)
        ),
        vol.Required(CONF_DEVICES_FILE, default=DEFAULT_DEVICES_FILE): TextSelector(),
    }
)
"""Where the installation is and which devices it has: the reconfigure step's fields."""

CREDENTIALS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
        ),
        vol.Required(CONF_PASSWORD): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
        ),
    }
)

USER_SCHEMA = CONNECTION_SCHEMA.extend(CREDENTIALS_SCHEMA.schema)

OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_POLL_INTERVAL, default=DEFAULT_POLL_INTERVAL): vol.All(
            _number_box(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL, 50, UnitOfTime.MILLISECONDS),
            vol.Coerce(int),
        ),
        vol.Required(CONF_UNAVAILABLE_AFTER, default=DEFAULT_UNAVAILABLE_AFTER): vol.All(
            _number_box(MIN_UNAVAILABLE_AFTER, MAX_UNAVAILABLE_AFTER, 1, UnitOfTime.SECONDS),
            vol.Coerce(int),
        ),
        vol.Required(CONF_REVERSE_PAUSE, default=DEFAULT_REVERSE_PAUSE): _number_box(
            MIN_REVERSE_PAUSE, MAX_REVERSE_PAUSE, 0.1, UnitOfTime.SECONDS
        ),
    }
)

DEFAULT_OPTIONS: dict[str, Any] = {
    CONF_POLL_INTERVAL: DEFAULT_POLL_INTERVAL,
    CONF_UNAVAILABLE_AFTER: DEFAULT_UNAVAILABLE_AFTER,
    CONF_REVERSE_PAUSE: DEFAULT_REVERSE_PAUSE,
}

CREDENTIAL_LIMITS = {
    "max_username": str(MAX_USERNAME_LENGTH),
    "max_password": str(MAX_PASSWORD_LENGTH),
}


class ValidationError(Exception):
    """A reason, as a translation key, why the entered data cannot be used."""

    def __init__(self, error: str, placeholders: Mapping[str, str] | None = None) -> None:
        """Carry the error key and the placeholders its message needs."""
        super().__init__(error)
        self.error = error
        self.placeholders = dict(placeholders or {})


def _check_connection(host: str, port: int, username: str, password: str) -> None:
    """Log in with a temporary client and wait for a first snapshot (blocking)."""
    client = create_client(
        host, port, username, password, poll_interval=DEFAULT_POLL_INTERVAL / 1000
    )
    try:
        client.start_persistent_connection(auto_reconnect=False)
        client.wait_for_snapshot(CONNECT_TIMEOUT)
    finally:
        client.stop_persistent_connection()


async def async_validate_input(
    hass: HomeAssistant, data: Mapping[str, Any], *, check_devices_file: bool = True
) -> None:
    """Raise `ValidationError` unless `data` describes a reachable, usable installation.

    Cheap checks go first, so that a typo does not cost a connection attempt.
    """
    try:
        validate_credentials(data[CONF_USERNAME], data[CONF_PASSWORD])
    except ValueError as err:
        raise ValidationError("invalid_credentials_format", CREDENTIAL_LIMITS) from err
    if check_devices_file:
        try:
            await async_load_device_map(hass, data[CONF_DEVICES_FILE])
        except DeviceMapError as err:
            raise ValidationError("invalid_devices_file", {"error": str(err)}) from err
    try:
        await hass.async_add_executor_job(
            _check_connection,
            data[CONF_HOST],
            data[CONF_PORT],
            data[CONF_USERNAME],
            data[CONF_PASSWORD],
        )
    except IPComAuthenticationError as err:
        raise ValidationError("invalid_auth") from err
    except (IPComConnectionError, OSError) as err:
        _LOGGER.debug("Cannot connect to %s:%s: %s", data[CONF_HOST], data[CONF_PORT], err)
        raise ValidationError("cannot_connect") from err
    except Exception as err:
        _LOGGER.exception("Unexpected error while connecting to %s", data[CONF_HOST])
        raise ValidationError("unknown") from err


def _error_field(error: str) -> str:
    return CONF_DEVICES_FILE if error == "invalid_devices_file" else "base"


def _address(data: Mapping[str, Any]) -> dict[str, Any]:
    """What tells installations apart: the host and port an entry connects to."""
    return {CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}


def _entry_title(host: str, port: int) -> str:
    return f"IPCom {host}" if port == DEFAULT_PORT else f"IPCom {host}:{port}"


class IPComConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up an IPCom installation: one entry per host and port.

    Entries have no unique id: the installation reports no serial number or
    MAC address, and Home Assistant does not accept a host or IP address as
    one. Duplicates are refused on host and port instead.
    """

    VERSION = CONFIG_VERSION
    MINOR_VERSION = CONFIG_MINOR_VERSION

    def __init__(self) -> None:
        """Start without imported data."""
        self._import_data: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: IPComConfigEntry) -> IPComOptionsFlow:
        """Options change how the entry runs; saving them reloads it."""
        return IPComOptionsFlow()

    async def _async_try(
        self, data: Mapping[str, Any], *, check_devices_file: bool = True
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Validate `data`; return the form errors and their placeholders (empty if fine)."""
        try:
            await async_validate_input(self.hass, data, check_devices_file=check_devices_file)
        except ValidationError as err:
            return {_error_field(err.error): err.error}, err.placeholders
        return {}, {}

    def _async_create(self, data: Mapping[str, Any]) -> ConfigFlowResult:
        return self.async_create_entry(
            title=_entry_title(data[CONF_HOST], data[CONF_PORT]),
            data={
                CONF_HOST: data[CONF_HOST],
                CONF_PORT: data[CONF_PORT],
                CONF_USERNAME: data[CONF_USERNAME],
                CONF_PASSWORD: data[CONF_PASSWORD],
                CONF_DEVICES_FILE: data[CONF_DEVICES_FILE],
            },
            options=DEFAULT_OPTIONS,
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the installation is, how to log in and where its device map lives."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            self._async_abort_entries_match(_address(user_input))
            errors, placeholders = await self._async_try(user_input)
            if not errors:
                return self._async_create(user_input)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
            description_placeholders={**CREDENTIAL_LIMITS, **placeholders},
        )

    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Turn an `ipcom:` YAML block into a config entry, once."""
        self._async_abort_entries_match(_address(import_data))
        self._import_data = import_data
        if not import_data.get(CONF_USERNAME) or not import_data.get(CONF_PASSWORD):
            return await self.async_step_import_credentials()
        errors, placeholders = await self._async_try(import_data)
        if not errors:
            return self._async_create(import_data)
        if errors.get("base") in ("invalid_auth", "invalid_credentials_format"):
            return self._async_show_import_credentials(errors, placeholders)
        return self.async_abort(
            reason=next(iter(errors.values())), description_placeholders=placeholders
        )

    async def async_step_import_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the credentials that an imported YAML block did not carry or got wrong."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data = {**self._import_data, **user_input}
            errors, placeholders = await self._async_try(data)
            if not errors:
                return self._async_create(data)
        return self._async_show_import_credentials(errors, placeholders)

    def _async_show_import_credentials(
        self, errors: dict[str, str], placeholders: dict[str, str]
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id="import_credentials",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, {CONF_USERNAME: self._import_data.get(CONF_USERNAME)}
            ),
            errors=errors,
            description_placeholders={
                CONF_HOST: self._import_data[CONF_HOST],
                **CREDENTIAL_LIMITS,
                **placeholders,
            },
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The installation rejected the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new credentials and check them before storing them."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            errors, placeholders = await self._async_try(
                {**entry.data, **user_input}, check_devices_file=False
            )
            if not errors:
                return self.async_update_reload_and_abort(entry, data_updates=user_input)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, {CONF_USERNAME: entry.data.get(CONF_USERNAME)}
            ),
            errors=errors,
            description_placeholders={
                CONF_HOST: entry.data[CONF_HOST],
                **CREDENTIAL_LIMITS,
                **placeholders,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change host, port or devices file; the stored credentials are checked against them."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            self._async_abort_entries_match(_address(user_input))
            errors, placeholders = await self._async_try({**entry.data, **user_input})
            if not errors:
                return self.async_update_reload_and_abort(entry, data_updates=user_input)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                CONNECTION_SCHEMA, user_input or entry.data
            ),
            errors=errors,
            description_placeholders={**CREDENTIAL_LIMITS, **placeholders},
        )


class IPComOptionsFlow(OptionsFlowWithReload):
    """Poll interval, unavailability grace and the shutter reversal pause."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the options with their current values."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, {**DEFAULT_OPTIONS, **self.config_entry.options}
            ),
        )
