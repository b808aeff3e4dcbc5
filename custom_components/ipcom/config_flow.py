"""Config flow: set up (by hand or from the Home Anywhere account), import, reauthenticate
and reconfigure an installation; options.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from ipcom import BusType
from ipcom.account import ImportedInstallation
from ipcom.devices import DeviceMapError
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.limits import MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH
from ipcom.messages import tricom_remote_username, validate_credentials

from .account_flow import AccountImportSteps, AccountStepIds
from .const import (
    CONF_BUS_2_TYPE,
    CONF_BUS_TYPE,
    CONF_DEVICES_FILE,
    CONF_REMOTE_HOST,
    CONF_REMOTE_PORT,
    CONF_REVERSE_PAUSE,
    CONF_SERIAL,
    CONF_TRICOM,
    CONF_UNAVAILABLE_AFTER,
    CONNECT_TIMEOUT,
    DEFAULT_DEVICES_FILE,
    DEFAULT_PORT,
    DEFAULT_REVERSE_PAUSE,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    FIRST_BUS,
    MAX_REVERSE_PAUSE,
    MAX_UNAVAILABLE_AFTER,
    MIN_REVERSE_PAUSE,
    MIN_UNAVAILABLE_AFTER,
    NO_SECOND_BUS,
    SECOND_BUS,
)
from .coordinator import IPComConfigEntry, async_load_device_map, create_clients
from .migration import CONFIG_MINOR_VERSION, CONFIG_VERSION
from .subentries import subentry_data
from .subentry_flow import SUBENTRY_FLOWS
from .validation import vol

_LOGGER = logging.getLogger(__name__)


def _number_box(minimum: float, maximum: float, step: float, unit: str = "") -> NumberSelector:
    """A number typed into a box: ranges here are too wide, or too fine, for a slider."""
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _port_box() -> vol.All[int]:
    return vol.All(_number_box(1, 65535, 1), vol.Coerce(int))


CONNECTION_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_PORT): _port_box(),
    }
)
"""Where the installation is; its devices are subentries, added once the entry exists."""

SECTION_INSTALLATION: Final = "installation"
SECTION_REMOTE: Final = "remote"

BUS_TYPES: Final = [bus_type.value for bus_type in BusType]

INSTALLATION_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_BUS_TYPE, default=BusType.MINIDO.value): SelectSelector(
            SelectSelectorConfig(
                options=BUS_TYPES, translation_key="bus_type", mode=SelectSelectorMode.DROPDOWN
            )
        ),
        vol.Required(CONF_TRICOM, default=False): BooleanSelector(),
        vol.Required(CONF_BUS_2_TYPE, default=NO_SECOND_BUS): SelectSelector(
            SelectSelectorConfig(
                options=[NO_SECOND_BUS, *BUS_TYPES],
                translation_key="second_bus_type",
                mode=SelectSelectorMode.DROPDOWN,
            )
        ),
    }
)
"""The installation type (PROTOCOL.md section 6): what bus 1 is, a TriCom or not, and bus 2."""

REMOTE_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_REMOTE_HOST): TextSelector(),
        vol.Required(CONF_REMOTE_PORT, default=DEFAULT_PORT): _port_box(),
        vol.Optional(CONF_SERIAL): TextSelector(),
    }
)
"""The address from outside the home (PROTOCOL.md section 1) and a TriCom's serial number."""

SECTION_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    SECTION_INSTALLATION: (CONF_BUS_TYPE, CONF_TRICOM, CONF_BUS_2_TYPE),
    SECTION_REMOTE: (CONF_REMOTE_HOST, CONF_REMOTE_PORT, CONF_SERIAL),
}
SECTION_SCHEMAS: Final = {
    SECTION_INSTALLATION: INSTALLATION_SCHEMA,
    SECTION_REMOTE: REMOTE_SCHEMA,
}

DEFAULT_INSTALLATION: Final[dict[str, Any]] = {
    CONF_BUS_TYPE: BusType.MINIDO.value,
    CONF_TRICOM: False,
    CONF_BUS_2_TYPE: NO_SECOND_BUS,
    CONF_REMOTE_HOST: "",
    CONF_REMOTE_PORT: DEFAULT_PORT,
    CONF_SERIAL: "",
}
"""The section fields as an entry stores them (flat) when nothing was changed: one Minido bus."""

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

SERIAL_SCHEMA = vol.Schema({vol.Required(CONF_SERIAL): TextSelector()})
"""What reauthentication also asks for from a TriCom with a remote address."""


def _with_sections(schema: vol.Schema, expanded: Collection[str] = ()) -> vol.Schema:
    """`schema` with the two sections after it; those not in `expanded` collapsed.

    The frontend always sends a section, filled from its fields' defaults or
    suggested values. A section is optional all the same, without a default
    (a default would stand in for those values in the frontend), so that a
    caller of the flow API may leave it out: the user step then takes the
    defaults, reconfigure keeps what the entry has.
    """
    return schema.extend(
        {
            vol.Optional(name): section(fields, {"collapsed": name not in expanded})
            for name, fields in SECTION_SCHEMAS.items()
        }
    )


def _manual_schema(expanded: Collection[str] = ()) -> vol.Schema:
    return _with_sections(CONNECTION_SCHEMA.extend(CREDENTIALS_SCHEMA.schema), expanded)


def _reconfigure_schema(expanded: Collection[str] = ()) -> vol.Schema:
    return _with_sections(CONNECTION_SCHEMA, expanded)


OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_UNAVAILABLE_AFTER, default=DEFAULT_UNAVAILABLE_AFTER): vol.All(
            _number_box(MIN_UNAVAILABLE_AFTER, MAX_UNAVAILABLE_AFTER, 1, UnitOfTime.SECONDS),
            vol.Coerce(int),
        ),
        vol.Required(CONF_REVERSE_PAUSE, default=DEFAULT_REVERSE_PAUSE): _number_box(
            MIN_REVERSE_PAUSE, MAX_REVERSE_PAUSE, 0.1, UnitOfTime.SECONDS
        ),
    }
)
"""How the entry runs. The poll interval is not one: the library polls at the vendor
application's pace, and core keeps polling intervals out of the options."""

DEFAULT_OPTIONS: dict[str, Any] = {
    CONF_UNAVAILABLE_AFTER: DEFAULT_UNAVAILABLE_AFTER,
    CONF_REVERSE_PAUSE: DEFAULT_REVERSE_PAUSE,
}

CREDENTIAL_LIMITS = {
    "max_username": str(MAX_USERNAME_LENGTH),
    "max_password": str(MAX_PASSWORD_LENGTH),
}


ERROR_FIELDS: Final = {
    "serial_required": CONF_SERIAL,
    "serial_without_tricom": CONF_SERIAL,
    "serial_too_long": CONF_SERIAL,
    "invalid_serial": CONF_SERIAL,
    "second_bus_rejected": CONF_BUS_2_TYPE,
}
"""The field each error is about; every other error concerns the whole form ("base")."""

SECTIONED_ERROR_KEYS: Final = {
    field: name for name, fields in SECTION_FIELDS.items() for field in fields
}
"""Where the forms with sections show a field's error: Home Assistant shows the error of
a field inside a section at the section, so it is keyed by the section's name."""


class ValidationError(Exception):
    """A reason, as a translation key, why the entered data cannot be used."""

    def __init__(self, error: str, placeholders: Mapping[str, str] | None = None) -> None:
        """Carry the error key and the placeholders its message needs."""
        super().__init__(error)
        self.error = error
        self.placeholders = dict(placeholders or {})


def _check_connection(data: Mapping[str, Any]) -> None:
    """Log in on every configured bus with temporary clients and wait for a first snapshot.

    Blocking. Bus 1 goes first: when it is accepted and bus 2 is refused with
    the same credentials, the installation has no such bus (PROTOCOL.md
    section 6), which is worth saying at the bus field.
    """
    clients = create_clients(data)
    try:
        for bus, client in clients.items():
            try:
                client.start_persistent_connection(auto_reconnect=False)
            except IPComAuthenticationError as err:
                if bus == FIRST_BUS:
                    raise
                raise ValidationError("second_bus_rejected") from err
            client.wait_for_snapshot(CONNECT_TIMEOUT)
    finally:
        for client in clients.values():
            client.stop_persistent_connection()


def _flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The form's answer with the sections' fields taken out to the top level.

    A section's optional text fields that came back empty are absent from its
    dict; they are filled in here, so clearing one clears it.
    """
    data = {key: value for key, value in user_input.items() if key not in SECTION_FIELDS}
    for name, fields in SECTION_FIELDS.items():
        if name in user_input:
            data.update({field: DEFAULT_INSTALLATION[field] for field in fields})
            data.update(user_input[name])
    return data


def _nest(data: Mapping[str, Any]) -> dict[str, Any]:
    """Flat data (an entry's) as the sectioned form shows it, defaults for what is missing."""
    nested = {key: value for key, value in data.items() if key not in DEFAULT_INSTALLATION}
    for name, fields in SECTION_FIELDS.items():
        nested[name] = {field: data.get(field, DEFAULT_INSTALLATION[field]) for field in fields}
    return nested


def _installation(data: Mapping[str, Any]) -> dict[str, Any]:
    """The section fields of `data`, defaults for those missing, tidied for storing.

    Surrounding blanks are dropped from the remote host and the serial number;
    without a remote host the remote port is ignored, and stored as the default.
    """
    settings = {field: data.get(field, default) for field, default in DEFAULT_INSTALLATION.items()}
    settings[CONF_BUS_TYPE] = str(settings[CONF_BUS_TYPE])
    settings[CONF_BUS_2_TYPE] = str(settings[CONF_BUS_2_TYPE])
    settings[CONF_TRICOM] = bool(settings[CONF_TRICOM])
    settings[CONF_REMOTE_HOST] = (settings[CONF_REMOTE_HOST] or "").strip()
    settings[CONF_SERIAL] = (settings[CONF_SERIAL] or "").strip()
    settings[CONF_REMOTE_PORT] = (
        int(settings[CONF_REMOTE_PORT]) if settings[CONF_REMOTE_HOST] else DEFAULT_PORT
    )
    return settings


def _needs_serial(data: Mapping[str, Any]) -> bool:
    """Whether the installation is a TriCom with a remote address: its login needs the serial."""
    return bool(data.get(CONF_TRICOM)) and bool(data.get(CONF_REMOTE_HOST))


def _check_installation(data: Mapping[str, Any]) -> None:
    """Raise `ValidationError` unless the installation type and remote fields fit together.

    `data` holds every field, its username already checked.
    """
    serial = data[CONF_SERIAL]
    if serial and not data[CONF_TRICOM]:
        raise ValidationError("serial_without_tricom")
    if _needs_serial(data) and not serial:
        raise ValidationError("serial_required")
    if not serial:
        return
    login_length = len(serial) + len(data[CONF_USERNAME])
    if login_length > MAX_USERNAME_LENGTH:
        raise ValidationError("serial_too_long", {"login_length": str(login_length)})
    try:
        tricom_remote_username(serial, data[CONF_USERNAME])
    except ValueError as err:
        raise ValidationError("invalid_serial") from err


async def async_validate_input(
    hass: HomeAssistant, data: Mapping[str, Any], *, check_devices_file: bool = True
) -> None:
    """Raise `ValidationError` unless `data` describes a reachable, usable installation.

    `data` is flat; section fields it lacks take their defaults. Cheap checks
    go first, so that a typo does not cost a connection attempt. The devices
    file is read only when `data` names one: an entry's devices are
    subentries, and only a YAML import or a file at the default place
    brings a file to import.
    """
    try:
        validate_credentials(data[CONF_USERNAME], data[CONF_PASSWORD])
    except ValueError as err:
        raise ValidationError("invalid_credentials_format", CREDENTIAL_LIMITS) from err
    data = {**data, **_installation(data)}
    _check_installation(data)
    if check_devices_file and CONF_DEVICES_FILE in data:
        try:
            await async_load_device_map(hass, data[CONF_DEVICES_FILE])
        except DeviceMapError as err:
            raise ValidationError("invalid_devices_file", {"error": str(err)}) from err
    try:
        await hass.async_add_executor_job(_check_connection, data)
    except ValidationError:
        raise
    except IPComAuthenticationError as err:
        raise ValidationError("invalid_auth") from err
    except (IPComConnectionError, OSError) as err:
        _LOGGER.debug("Cannot connect to %s:%s: %s", data[CONF_HOST], data[CONF_PORT], err)
        raise ValidationError("cannot_connect") from err
    except Exception as err:
        _LOGGER.exception("Unexpected error while connecting to %s", data[CONF_HOST])
        raise ValidationError("unknown") from err


NO_ERROR_KEYS: Final[Mapping[str, str]] = MappingProxyType({})
"""For a form that shows none of the fields errors are about: every error at the form."""


def _error_key(error: str, error_keys: Mapping[str, str]) -> str:
    """The form key of an error: its field's (or section's) when the form shows it, else base."""
    field = ERROR_FIELDS.get(error)
    return error_keys.get(field, "base") if field else "base"


def _expanded(errors: Mapping[str, str], values: Mapping[str, Any]) -> set[str]:
    """The sections to open: those with an error, and those whose values are not the defaults."""
    return {
        name
        for name, fields in SECTION_FIELDS.items()
        if name in errors
        or any(
            values.get(field, DEFAULT_INSTALLATION[field]) != DEFAULT_INSTALLATION[field]
            for field in fields
        )
    }


def _address(data: Mapping[str, Any]) -> dict[str, Any]:
    """What tells installations apart: the host and port an entry connects to."""
    return {CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}


def _entry_title(host: str, port: int) -> str:
    return f"IPCom {host}" if port == DEFAULT_PORT else f"IPCom {host}:{port}"


CREDENTIAL_ERRORS: Final = frozenset({"invalid_auth", "invalid_credentials_format"})
"""Errors that only other credentials can mend."""


def _account_data(installation: ImportedInstallation) -> dict[str, Any]:
    """The connection settings the account gives, flat as an entry stores them.

    The host, username and password are None where the account gives none.
    The account does not say whether the installation is a TriCom, so it is
    set up as none (the defaults); Reconfigure changes that.
    """
    bus_2 = installation.bus_types.get(SECOND_BUS)
    return {
        CONF_HOST: installation.host,
        CONF_PORT: installation.port,
        CONF_USERNAME: installation.username,
        CONF_PASSWORD: installation.password,
        CONF_BUS_TYPE: installation.bus_types.get(FIRST_BUS, BusType.MINIDO).value,
        CONF_BUS_2_TYPE: bus_2.value if bus_2 is not None else NO_SECOND_BUS,
        CONF_REMOTE_HOST: installation.remote_host or "",
        CONF_REMOTE_PORT: installation.remote_port,
    }


class IPComConfigFlow(AccountImportSteps[ConfigFlowResult], ConfigFlow, domain=DOMAIN):
    """Set up an IPCom installation, by hand or from the Home Anywhere account.

    One entry per host and port. Entries have no unique id: the
    installation reports no serial number or MAC address, and Home
    Assistant does not accept a host or IP address as one. Duplicates are
    refused on host and port instead.
    """

    VERSION = CONFIG_VERSION
    MINOR_VERSION = CONFIG_MINOR_VERSION
    account_steps = AccountStepIds(
        login="account", site="account_site", ipcom="account_ipcom", confirm="account_confirm"
    )

    def __init__(self) -> None:
        """Start without imported data."""
        self._import_data: dict[str, Any] = {}
        self._account_data: dict[str, Any] = {}
        self._ask_credentials = False

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: IPComConfigEntry) -> IPComOptionsFlow:
        """Options change how the entry runs; saving them reloads it (the update listener)."""
        return IPComOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """The devices of an installation: each light, switch and shutter is a subentry."""
        return dict(SUBENTRY_FLOWS)

    def _async_update_and_abort(
        self, entry: IPComConfigEntry, updates: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Store the new settings; the entry then reloads to use them.

        A loaded entry reloads through its update listener; one that is not
        loaded (its credentials were refused, its installation was not
        found) has no listener, so the reload is asked for here.
        """
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_update_reload_and_abort(entry, data_updates=updates)
        return self.async_update_and_abort(entry, data_updates=updates)

    async def _async_try(
        self,
        data: Mapping[str, Any],
        *,
        check_devices_file: bool = True,
        error_keys: Mapping[str, str] = NO_ERROR_KEYS,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Validate flat `data`; return the form errors and their placeholders (empty if fine).

        `error_keys` maps the fields the form shows to where their errors go.
        """
        try:
            await async_validate_input(self.hass, data, check_devices_file=check_devices_file)
        except ValidationError as err:
            return {_error_key(err.error, error_keys): err.error}, err.placeholders
        return {}, {}

    def _async_create(
        self, data: Mapping[str, Any], subentries: Iterable[ConfigSubentryData] = ()
    ) -> ConfigFlowResult:
        """Create the entry; the devices file is kept only when `data` names one.

        The setup imports a named file into subentries, once.
        """
        stored = {key: data[key] for key in (CONF_HOST, CONF_PORT, CONF_USERNAME, CONF_PASSWORD)}
        if CONF_DEVICES_FILE in data:
            stored[CONF_DEVICES_FILE] = data[CONF_DEVICES_FILE]
        return self.async_create_entry(
            title=_entry_title(data[CONF_HOST], data[CONF_PORT]),
            data={**stored, **_installation(data)},
            options=DEFAULT_OPTIONS,
            subentries=subentries,
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Enter the installation by hand, or import it from the Home Anywhere account."""
        return self.async_show_menu(step_id="user", menu_options=["manual", "account"])

    async def async_step_manual(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the installation is and how to log in.

        The installation type and the remote address sit in collapsed sections:
        most installations are one Minido bus reached at home.
        """
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        data: dict[str, Any] = {}
        if user_input is not None:
            data = _flatten(user_input) | await self._async_default_devices_file()
            self._async_abort_entries_match(_address(data))
            errors, placeholders = await self._async_try(data, error_keys=SECTIONED_ERROR_KEYS)
            if not errors:
                return self._async_create(data)
        return self.async_show_form(
            step_id="manual",
            data_schema=self.add_suggested_values_to_schema(
                _manual_schema(_expanded(errors, data)), user_input
            ),
            errors=errors,
            description_placeholders={**CREDENTIAL_LIMITS, **placeholders},
        )

    async def _async_default_devices_file(self) -> dict[str, str]:
        """The devices file at the default place, if there is one, to import once set up.

        It is where devices were described before they were subentries, so
        an installation set up by hand again keeps them.
        """
        path = Path(self.hass.config.path(DEFAULT_DEVICES_FILE))
        if await self.hass.async_add_executor_job(path.is_file):
            return {CONF_DEVICES_FILE: DEFAULT_DEVICES_FILE}
        return {}

    async def async_step_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Log in to the Home Anywhere account."""
        return await self._async_account_login(user_input)

    async def async_step_account_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the account's site."""
        return await self._async_account_site(user_input)

    async def async_step_account_ipcom(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the site's IPCom."""
        return await self._async_account_ipcom(user_input)

    async def async_step_account_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm the installation and its devices."""
        return await self._async_account_confirm(user_input)

    def _async_show_account_confirm(self) -> ConfigFlowResult:
        """An IPCom that is set up already is said at once, not after the confirmation."""
        if (host := self._chosen.host) is not None:
            self._async_abort_entries_match({CONF_HOST: host, CONF_PORT: self._chosen.port})
        return super()._async_show_account_confirm()

    async def _async_account_import(self) -> ConfigFlowResult:
        """Check the connection the account gives; first ask for what it lacks."""
        installation = self._chosen
        self._account_data = _account_data(installation)
        self._ask_credentials = installation.username is None or installation.password is None
        if self._ask_credentials or installation.host is None:
            return self._async_show_account_connection({}, {})
        return await self._async_create_from_account()

    async def async_step_account_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for what the account lacks or the installation refused: its address or login."""
        if user_input is None:
            return self._async_show_account_connection({}, {})
        self._account_data.update(user_input)
        return await self._async_create_from_account()

    async def _async_create_from_account(self) -> ConfigFlowResult:
        """Connect as the manual flow does, then create the entry with a subentry per device."""
        data = self._account_data
        self._async_abort_entries_match(_address(data))
        errors, placeholders = await self._async_try(data)
        if errors:
            self._ask_credentials |= errors["base"] in CREDENTIAL_ERRORS
            return self._async_show_account_connection(errors, placeholders)
        return self._async_create(data, [subentry_data(record) for record in self._records])

    def _async_show_account_connection(
        self, errors: dict[str, str], placeholders: dict[str, str]
    ) -> ConfigFlowResult:
        """The address, and the login when the account gave none or it was refused."""
        schema = CONNECTION_SCHEMA
        if self._ask_credentials:
            schema = schema.extend(CREDENTIALS_SCHEMA.schema)
        known = {
            key: value
            for key in (CONF_HOST, CONF_PORT, CONF_USERNAME)
            if (value := self._account_data.get(key)) is not None
        }
        return self.async_show_form(
            step_id="account_connection",
            data_schema=self.add_suggested_values_to_schema(schema, known),
            errors=errors,
            description_placeholders={
                "ipcom": self._chosen.name,
                **CREDENTIAL_LIMITS,
                **placeholders,
            },
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
        """Ask for new credentials and check them before storing them.

        A TriCom with a remote address logs in there with its serial number
        before the username, so its serial number is asked for too.
        """
        entry = self._get_reauth_entry()
        needs_serial = _needs_serial(entry.data)
        schema = CREDENTIALS_SCHEMA
        if needs_serial:
            schema = schema.extend(SERIAL_SCHEMA.schema)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            if needs_serial:
                user_input = {**user_input, CONF_SERIAL: user_input[CONF_SERIAL].strip()}
            errors, placeholders = await self._async_try(
                {**entry.data, **user_input},
                check_devices_file=False,
                error_keys={CONF_SERIAL: CONF_SERIAL} if needs_serial else {},
            )
            if not errors:
                return self._async_update_and_abort(entry, user_input)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                schema,
                {
                    CONF_USERNAME: entry.data.get(CONF_USERNAME),
                    CONF_SERIAL: entry.data.get(CONF_SERIAL),
                },
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
        """Change the address or installation type; checked with the stored login.

        A devices file the entry names is not shown, and kept as it is: the
        devices are subentries.
        """
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        data: dict[str, Any] = {**entry.data}
        if user_input is not None:
            data.update(_flatten(user_input))
            self._async_abort_entries_match(_address(data))
            errors, placeholders = await self._async_try(
                data, check_devices_file=False, error_keys=SECTIONED_ERROR_KEYS
            )
            if not errors:
                return self._async_update_and_abort(
                    entry, {**_address(data), **_installation(data)}
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _reconfigure_schema(_expanded(errors, data)), _nest(data)
            ),
            errors=errors,
            description_placeholders={**CREDENTIAL_LIMITS, **placeholders},
        )


class IPComOptionsFlow(OptionsFlow):
    """Unavailability grace and the shutter reversal pause.

    Saving them reloads the entry through its update listener.
    """

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
