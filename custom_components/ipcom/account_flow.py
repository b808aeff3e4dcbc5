"""Import from the Home Anywhere account: the steps both flows share, and the subentry flow.

Setting an installation up from the account (the config flow's `account`
steps) and importing its devices again later (the `account` subentry flow
of an entry) ask the same things in the same order: the account's login,
the site when the account has several, the IPCom when the site has
several, and a confirmation that shows what the import brings.
`AccountImportSteps` holds those steps once; each flow names its steps and
says what confirming does.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Final, NamedTuple

from homeassistant.config_entries import (
    ConfigFlowResult,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.data_entry_flow import FlowHandler
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from ipcom import BusType
from ipcom.account import (
    AccountChoiceError,
    AccountError,
    AccountSite,
    ImportedInstallation,
    select_installation,
    select_site,
)
from ipcom.device_records import (
    KIND_LIGHT,
    KIND_SHUTTER,
    KIND_SWITCH,
    DeviceRecord,
    check_record,
    records_of,
    with_free_key,
)

from .account import AccountLogin, async_login, async_site_installations, error_key
from .const import FIRST_BUS, SECOND_BUS
from .subentries import async_add_records, entry_records
from .validation import vol

_LOGGER = logging.getLogger(__name__)

CONF_SITE: Final = "site"
CONF_IPCOM: Final = "ipcom"

NOTHING: Final = "-"
"""What a placeholder shows for a list or an address that is empty."""

ACCOUNT_SCHEMA: Final = vol.Schema(
    {
        vol.Required(CONF_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
        ),
        vol.Required(CONF_PASSWORD): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
        ),
    }
)
"""The login of the Home Anywhere account (not the IPCom's own); it is never stored."""


class AccountStepIds(NamedTuple):
    """The step ids a flow gives the shared steps: login, site, IPCom and confirmation."""

    login: str
    site: str
    ipcom: str
    confirm: str


def _choice(options: list[SelectOptionDict]) -> SelectSelector:
    return SelectSelector(SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST))


def _address_text(host: str | None, port: int) -> str:
    return f"{host}:{port}" if host else NOTHING


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) or NOTHING


def confirm_placeholders(
    installation: ImportedInstallation, records: Sequence[DeviceRecord]
) -> dict[str, str]:
    """What a confirmation shows: where the IPCom is, its buses, the devices and the warnings.

    The warnings are the library's, one sentence each: what the import
    guessed or left out, which the user should know before saying yes.
    """
    names = {
        kind: [record.title for record in records if record.kind == kind]
        for kind in (KIND_LIGHT, KIND_SWITCH, KIND_SHUTTER)
    }
    bus_2 = installation.bus_types.get(SECOND_BUS)
    return {
        "site": installation.site_name,
        "ipcom": installation.name,
        "address": _address_text(installation.host, installation.port),
        "remote": _address_text(installation.remote_host, installation.remote_port),
        "bus_type": installation.bus_types.get(FIRST_BUS, BusType.MINIDO).value,
        "bus_2_type": bus_2.value if bus_2 is not None else NOTHING,
        "lights": str(len(names[KIND_LIGHT])),
        "light_names": _listed(names[KIND_LIGHT]),
        "switches": str(len(names[KIND_SWITCH])),
        "switch_names": _listed(names[KIND_SWITCH]),
        "shutters": str(len(names[KIND_SHUTTER])),
        "shutter_names": _listed(names[KIND_SHUTTER]),
        "warnings": "\n".join(f"- {warning}" for warning in installation.warnings) or NOTHING,
    }


class AccountImportSteps[ResultT: (ConfigFlowResult, SubentryFlowResult)](
    FlowHandler[Any, ResultT, Any], ABC
):
    """Log in to the account, choose a site and an IPCom, and confirm.

    A flow sets `account_steps` and calls the `_async_account_*` step
    methods from its own steps of those ids; it says which devices the
    confirmation lists (`_async_account_records`) and what confirming does
    (`_async_account_import`). A failure shows at the form that led to it:
    the login's at the login, a site's at the choice of site.
    """

    account_steps: ClassVar[AccountStepIds]

    _login: AccountLogin | None = None
    _installations: tuple[ImportedInstallation, ...] = ()
    _installation: ImportedInstallation | None = None
    _records: tuple[DeviceRecord, ...] = ()
    """The devices the confirmation lists and confirming brings."""

    @property
    def _chosen(self) -> ImportedInstallation:
        """The IPCom chosen to import."""
        assert self._installation is not None
        return self._installation

    async def _async_account_records(
        self, installation: ImportedInstallation
    ) -> tuple[DeviceRecord, ...]:
        """The devices to import from the chosen IPCom: all of them."""
        return records_of(installation.device_map)

    @abstractmethod
    async def _async_account_import(self) -> ResultT:
        """Confirmed: import `_records` of `_chosen`."""

    async def _async_account_login(self, user_input: dict[str, Any] | None) -> ResultT:
        """Ask for the account's login; on to the site, or straight to its IPComs if one."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            try:
                self._login = await async_login(
                    self.hass, user_input[CONF_USERNAME], user_input[CONF_PASSWORD]
                )
                return await self._async_after_login(self._login.sites)
            except AccountError as err:
                errors["base"], placeholders["error"] = _failure(err)
        return self.async_show_form(
            step_id=self.account_steps.login,
            data_schema=self.add_suggested_values_to_schema(
                ACCOUNT_SCHEMA, {CONF_USERNAME: (user_input or {}).get(CONF_USERNAME)}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_after_login(self, sites: Sequence[AccountSite]) -> ResultT:
        try:
            site = select_site(sites)
        except AccountChoiceError:
            return self._async_show_sites({}, {"error": ""})
        return await self._async_fetch(site)

    async def _async_account_site(self, user_input: dict[str, Any] | None) -> ResultT:
        """Fetch the chosen site's configuration; its failure shows here, to choose another."""
        if user_input is None:
            return self._async_show_sites({}, {"error": ""})
        assert self._login is not None
        try:
            return await self._async_fetch(self._login.sites[int(user_input[CONF_SITE])])
        except AccountError as err:
            error, detail = _failure(err)
            return self._async_show_sites({"base": error}, {"error": detail})

    def _async_show_sites(self, errors: dict[str, str], placeholders: dict[str, str]) -> ResultT:
        assert self._login is not None
        options = [
            SelectOptionDict(value=str(index), label=site.name)
            for index, site in enumerate(self._login.sites)
        ]
        return self.async_show_form(
            step_id=self.account_steps.site,
            data_schema=vol.Schema({vol.Required(CONF_SITE): _choice(options)}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_fetch(self, site: AccountSite) -> ResultT:
        assert self._login is not None
        self._installations = await async_site_installations(self.hass, self._login, site)
        try:
            installation = select_installation(self._installations)
        except AccountChoiceError:
            return self._async_show_ipcoms()
        return await self._async_choose(installation)

    async def _async_account_ipcom(self, user_input: dict[str, Any] | None) -> ResultT:
        """Take the chosen IPCom of the site."""
        if user_input is None:
            return self._async_show_ipcoms()
        return await self._async_choose(self._installations[int(user_input[CONF_IPCOM])])

    async def _async_choose(self, installation: ImportedInstallation) -> ResultT:
        self._installation = installation
        self._records = await self._async_account_records(installation)
        return self._async_show_account_confirm()

    def _async_show_ipcoms(self) -> ResultT:
        options = [
            SelectOptionDict(
                value=str(index),
                label=f"{installation.name} ({installation.host})"
                if installation.host
                else installation.name,
            )
            for index, installation in enumerate(self._installations)
        ]
        return self.async_show_form(
            step_id=self.account_steps.ipcom,
            data_schema=vol.Schema({vol.Required(CONF_IPCOM): _choice(options)}),
            description_placeholders={"site": self._installations[0].site_name},
        )

    async def _async_account_confirm(self, user_input: dict[str, Any] | None) -> ResultT:
        """Show what the import brings; import it once the user agrees."""
        if user_input is None:
            return self._async_show_account_confirm()
        return await self._async_account_import()

    def _async_show_account_confirm(self) -> ResultT:
        return self.async_show_form(
            step_id=self.account_steps.confirm,
            description_placeholders=self._confirm_placeholders(self._chosen),
        )

    def _confirm_placeholders(self, installation: ImportedInstallation) -> dict[str, str]:
        return confirm_placeholders(installation, self._records)


def _failure(err: AccountError) -> tuple[str, str]:
    """The form error of an account failure and its text (which never holds a password)."""
    _LOGGER.debug("Importing from the Home Anywhere account failed: %s", err)
    return error_key(err), str(err)


class AccountImportSubentryFlow(AccountImportSteps[SubentryFlowResult], ConfigSubentryFlow):
    """Import the devices an entry does not have yet from the account.

    What the entry has is kept as it is: a device whose address already
    has a subentry is neither listed nor changed, so names, areas and
    settings given since stay. A new device that would use an output a
    device of the entry uses is left out, and the confirmation says so.
    The user chooses the IPCom; the confirmation shows the entry's address
    next to the account's, so a wrong choice shows.
    """

    account_steps = AccountStepIds(login="user", site="site", ipcom="ipcom", confirm="confirm")
    _clashing: tuple[DeviceRecord, ...] = ()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Log in to the account."""
        return await self._async_account_login(user_input)

    async def async_step_site(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose the site."""
        return await self._async_account_site(user_input)

    async def async_step_ipcom(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose the IPCom."""
        return await self._async_account_ipcom(user_input)

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Confirm the new devices."""
        return await self._async_account_confirm(user_input)

    async def _async_account_records(
        self, installation: ImportedInstallation
    ) -> tuple[DeviceRecord, ...]:
        """The devices on addresses the entry has no subentry for, that fit with its devices.

        Checking each against the map is the library's validation, run in
        the executor: it reads the whole map once per device.
        """
        fitting, self._clashing = await self.hass.async_add_executor_job(
            _sort_out, entry_records(self._get_entry()), records_of(installation.device_map)
        )
        return fitting

    def _async_show_account_confirm(self) -> SubentryFlowResult:
        """Say at once when there is nothing to import; otherwise list the new devices."""
        if not self._records:
            return self.async_abort(
                reason="account_up_to_date", description_placeholders=self._left_out()
            )
        return super()._async_show_account_confirm()

    def _confirm_placeholders(self, installation: ImportedInstallation) -> dict[str, str]:
        """Also the entry's address next to the account's, and what is new or left out."""
        entry = self._get_entry()
        return {
            **super()._confirm_placeholders(installation),
            "entry_address": _address_text(entry.data[CONF_HOST], entry.data[CONF_PORT]),
            "count": str(len(self._records)),
            **self._left_out(),
        }

    def _left_out(self) -> dict[str, str]:
        return {"left_out": _listed([record.title for record in self._clashing])}

    async def _async_account_import(self) -> SubentryFlowResult:
        added = async_add_records(self.hass, self._get_entry(), self._records)
        return self.async_abort(
            reason="account_imported", description_placeholders={"count": str(len(added))}
        )


def _sort_out(
    existing: Sequence[DeviceRecord], imported: Sequence[DeviceRecord]
) -> tuple[tuple[DeviceRecord, ...], tuple[DeviceRecord, ...]]:
    """The imported devices on new addresses that fit with `existing`, and those that clash.

    Each device that fits is checked against the next ones too. A device
    takes a free key when its own is taken: keys come from names, and a
    name here may stand for another output there.
    """
    kept = list(existing)
    addresses = {record.unique_id for record in kept}
    fitting: list[DeviceRecord] = []
    clashing: list[DeviceRecord] = []
    for record in imported:
        if record.unique_id in addresses:
            continue
        candidate = with_free_key(kept, record)
        if check_record(kept, candidate):
            clashing.append(candidate)
        else:
            kept.append(candidate)
            fitting.append(candidate)
    return tuple(fitting), tuple(clashing)
