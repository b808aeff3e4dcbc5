"""Outputs nobody mapped, offered as a fixable repair issue when a wall switch changes one.

Every test runs the loaded entry against the simulator: a press on the
installation's side is what offers an output, the repair flow (through the
repairs integration's own flow manager) is what adds it, and the devices it
adds work at once, on the connection that was already up.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import DOMAIN, ISSUE_UNMAPPED_OUTPUT
from custom_components.ipcom.unmapped import (
    unmapped_output_issue_id,
)
from ipcom.simulator import Simulator

from .conftest import (
    ENTRY_ID,
    ENTRY_TITLE,
    assert_written,
    async_add_device,
    press_wall_switch,
    wait_for_state,
    wait_until,
    wait_until_output,
)


@pytest.fixture(autouse=True)
async def repairs(hass: HomeAssistant) -> None:
    """The repairs integration, whose flow manager runs the fix flows."""
    assert await async_setup_component(hass, "repairs", {})


def issue_id_of(module: int, output: int, entry_id: str = ENTRY_ID) -> str:
    """The id of the issue that offers an output of bus 1."""
    return unmapped_output_issue_id(entry_id, 1, module, output)


def unmapped_issues(hass: HomeAssistant) -> set[str]:
    """The ids of every unmapped-output issue there is."""
    return {
        issue_id
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN and issue_id.startswith(ISSUE_UNMAPPED_OUTPUT)
    }


async def wait_for_issue(hass: HomeAssistant, module: int, output: int) -> ir.IssueEntry:
    """Wait until the output of bus 1 is offered; its issue."""
    registry = ir.async_get(hass)
    issue_id = issue_id_of(module, output)
    await wait_until(
        hass,
        lambda: registry.async_get_issue(DOMAIN, issue_id) is not None,
        f"the offer of output {module}.{output}",
    )
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    return issue


async def press_and_wait_for_issue(
    hass: HomeAssistant, simulator: Simulator, module: int, output: int
) -> ir.IssueEntry:
    """Press the wall switch of an unmapped output and wait until it is offered."""
    await press_wall_switch(hass, simulator, module, output)
    return await wait_for_issue(hass, module, output)


async def start_fix_flow(hass: HomeAssistant, issue_id: str) -> FlowResult:
    """Open an issue's fix flow as the repairs dialog does (both releases take `data`)."""
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result: FlowResult = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    return result


async def submit_fix_flow(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]
) -> FlowResult:
    """Send the fix flow's form."""
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result: FlowResult = await manager.async_configure(flow_id, user_input)
    await hass.async_block_till_done()
    return result


def form_fields(result: FlowResult) -> set[str]:
    """The names of the fields a form shows."""
    return {str(marker) for marker in result["data_schema"].schema}


def entity_on(hass: HomeAssistant, domain: str, module: int, output: int) -> str:
    """The entity id of the ipcom entity on an output of bus 1."""
    entity_id = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, f"{ENTRY_ID}_{module}_{output}"
    )
    assert entity_id is not None, f"no {domain} on output {module}.{output}"
    return entity_id


def subentry_on(entry: MockConfigEntry, unique_id: str) -> ConfigSubentry:
    """The subentry of the device on an output ("bus-module-output")."""
    (subentry,) = [each for each in entry.subentries.values() if each.unique_id == unique_id]
    return subentry


@pytest.fixture
async def entry_with_outputs_on(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> AsyncGenerator[MockConfigEntry]:
    """The entry set up while the unmapped outputs 1.6 and 1.7 are already on."""
    simulator.set_output(1, 6, 255)
    simulator.set_output(1, 7, 255)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    yield mock_config_entry
    if mock_config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_a_press_on_an_unmapped_output_offers_it(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """The issue names the output and can be fixed: a warning, once."""
    issue = await press_and_wait_for_issue(hass, simulator, 1, 5)

    assert issue.issue_id == f"unmapped_output_{ENTRY_ID}_1_1_5"
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "unmapped_output"
    assert issue.data == {"entry_id": ENTRY_ID, "bus": 1, "module": 1, "output": 5}
    assert issue.translation_placeholders == {
        "title": ENTRY_TITLE,
        "bus": "1",
        "module": "1",
        "output": "5",
    }
    assert issue.dismissed_version is None
    assert unmapped_issues(hass) == {issue.issue_id}


@pytest.mark.usefixtures("init_integration")
async def test_an_output_is_offered_once_per_run(hass: HomeAssistant, simulator: Simulator) -> None:
    """Pressing the switch again does not create the issue again."""
    with patch(
        "homeassistant.helpers.issue_registry.async_create_issue", wraps=ir.async_create_issue
    ) as create:
        await press_and_wait_for_issue(hass, simulator, 1, 5)
        await press_wall_switch(hass, simulator, 1, 5)
        await press_wall_switch(hass, simulator, 1, 5)
        # Processed in the order of the presses: once 1.6 is offered, so were all of 1.5's.
        await press_and_wait_for_issue(hass, simulator, 1, 6)
    offered = [call.args[2] for call in create.call_args_list]
    assert offered == [issue_id_of(1, 5), issue_id_of(1, 6)]


@pytest.mark.usefixtures("init_integration")
async def test_a_mapped_output_is_not_offered(hass: HomeAssistant, simulator: Simulator) -> None:
    """A press on the outputs of a light, a dimmer, a switch and a shutter offers nothing."""
    for module, output in ((1, 1), (6, 1), (2, 1), (3, 1)):
        await press_wall_switch(hass, simulator, module, output)
    # Processed in the order of the presses: once 1.5 is offered, the others were seen.
    await press_and_wait_for_issue(hass, simulator, 1, 5)
    assert unmapped_issues(hass) == {issue_id_of(1, 5)}


async def test_the_first_snapshot_offers_nothing(
    hass: HomeAssistant, entry_with_outputs_on: MockConfigEntry, simulator: Simulator
) -> None:
    """Outputs already on when the connection starts are shown, not offered."""
    await wait_until_output(hass, 1, 6, 255)
    await wait_until_output(hass, 1, 7, 255)
    await press_and_wait_for_issue(hass, simulator, 1, 5)
    assert unmapped_issues(hass) == {issue_id_of(1, 5)}


async def test_the_fix_flow_adds_a_light_that_works_without_a_reconnect(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Name, kind and area make a light on the output; its entity switches it at once."""
    entry = init_integration
    office = ar.async_get(hass).async_create("Office")
    issue = await press_and_wait_for_issue(hass, simulator, 1, 5)
    assert simulator.get_value(1, 5) == 255
    connections = simulator.connections_accepted

    result = await start_fix_flow(hass, issue.issue_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert form_fields(result) == {"name", "kind", "area"}
    assert result["errors"] == {}
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["title"] == ENTRY_TITLE

    result = await submit_fix_flow(
        hass, result["flow_id"], {"name": "Desk lamp", "kind": "light", "area": office.id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue.issue_id) is None

    subentry = subentry_on(entry, "1-1-5")
    assert subentry.subentry_type == "light"
    assert subentry.title == "Desk lamp"
    assert dict(subentry.data) == {
        "key": "desk_lamp",
        "name": "Desk lamp",
        "area": "Office",
        "bus": 1,
        "module": 1,
        "output": 5,
        "dimmable": False,
    }
    entity_id = entity_on(hass, "light", 1, 5)
    await wait_for_state(hass, entity_id, "on")
    await hass.services.async_call(
        "light", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert_written(simulator, 1, 5, 0)
    await hass.services.async_call(
        "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    assert_written(simulator, 1, 5, 255)
    await wait_for_state(hass, entity_id, "on")
    assert simulator.connections_accepted == connections
    assert entry.state is ConfigEntryState.LOADED


async def test_the_fix_flow_adds_a_switch_and_a_dimmer(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A relay output may become a switch; a dimmer module's output is a dimmable light."""
    entry = init_integration
    relay = await press_and_wait_for_issue(hass, simulator, 1, 6)
    dimmer = await press_and_wait_for_issue(hass, simulator, 6, 3)

    result = await start_fix_flow(hass, relay.issue_id)
    result = await submit_fix_flow(hass, result["flow_id"], {"name": "Fan", "kind": "switch"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    subentry = subentry_on(entry, "1-1-6")
    assert subentry.subentry_type == "switch"
    assert "dimmable" not in subentry.data
    switch = entity_on(hass, "switch", 1, 6)
    await hass.services.async_call(
        "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert_written(simulator, 1, 6, 0)

    result = await start_fix_flow(hass, dimmer.issue_id)
    assert form_fields(result) == {"name", "area"}
    result = await submit_fix_flow(hass, result["flow_id"], {"name": "Sofa"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    subentry = subentry_on(entry, "1-6-3")
    assert subentry.subentry_type == "light"
    assert subentry.data["dimmable"] is True
    sofa = entity_on(hass, "light", 6, 3)
    await hass.services.async_call(
        "light", SERVICE_TURN_ON, {ATTR_ENTITY_ID: sofa, "brightness": 255}, blocking=True
    )
    assert_written(simulator, 6, 3, 100)
    assert unmapped_issues(hass) == set()


async def test_the_fix_flow_shows_why_the_output_cannot_be_added(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An output added on the integration's page meanwhile is in use: said on the form."""
    issue = await press_and_wait_for_issue(hass, simulator, 1, 5)
    result = await start_fix_flow(hass, issue.issue_id)
    added = await async_add_device(
        hass, init_integration, "switch", {"name": "Pump", "module": 1, "output": 5}
    )
    assert added["type"] is FlowResultType.CREATE_ENTRY

    result = await submit_fix_flow(hass, result["flow_id"], {"name": "Desk", "kind": "light"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "output_in_use"}
    assert result["description_placeholders"] is not None
    assert result["description_placeholders"]["device"] == "Pump"


async def test_the_fix_flow_aborts_when_the_entry_is_gone(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A form still open when the installation is removed adds nothing."""
    issue = await press_and_wait_for_issue(hass, simulator, 1, 5)
    result = await start_fix_flow(hass, issue.issue_id)
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()

    result = await submit_fix_flow(hass, result["flow_id"], {"name": "Desk", "kind": "light"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_removed"


async def test_an_ignored_issue_stays_ignored(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Ignoring is the dismissal: offered again in a later run, the issue stays ignored."""
    entry = init_integration
    issue = await press_and_wait_for_issue(hass, simulator, 1, 5)
    ir.async_ignore_issue(hass, DOMAIN, issue.issue_id, True)
    registry = ir.async_get(hass)
    ignored = registry.async_get_issue(DOMAIN, issue.issue_id)
    assert ignored is not None
    assert ignored.dismissed_version is not None

    await press_wall_switch(hass, simulator, 1, 5)
    await press_and_wait_for_issue(hass, simulator, 1, 6)
    assert registry.async_get_issue(DOMAIN, issue.issue_id) == ignored

    # A new run offers 1.5 again; the new title shows the issue was created again.
    hass.config_entries.async_update_entry(entry, title="IPCom renamed")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await press_wall_switch(hass, simulator, 1, 5)
    await press_and_wait_for_issue(hass, simulator, 1, 7)
    offered_again = registry.async_get_issue(DOMAIN, issue.issue_id)
    assert offered_again is not None
    assert offered_again.translation_placeholders is not None
    assert offered_again.translation_placeholders["title"] == "IPCom renamed"
    assert offered_again.dismissed_version == ignored.dismissed_version


async def test_adding_the_output_on_the_integrations_page_deletes_its_issue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Its issue goes, shown or ignored, once a device uses the output; the others stay."""
    shown = await press_and_wait_for_issue(hass, simulator, 1, 5)
    ignored = await press_and_wait_for_issue(hass, simulator, 1, 6)
    ir.async_ignore_issue(hass, DOMAIN, ignored.issue_id, True)
    await press_and_wait_for_issue(hass, simulator, 1, 7)

    for name, output in (("Pump", 5), ("Fan", 6)):
        result = await async_add_device(
            hass, init_integration, "switch", {"name": name, "module": 1, "output": output}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    assert unmapped_issues(hass) == {issue_id_of(1, 7)}
    assert shown.issue_id not in unmapped_issues(hass)


async def test_removing_the_entry_removes_its_issues(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The entry's offers go with it; another entry's stay."""
    await press_and_wait_for_issue(hass, simulator, 1, 5)
    other = issue_id_of(1, 5, entry_id="01JIPCOMOTHERENTRY000000000")
    ir.async_create_issue(
        hass,
        DOMAIN,
        other,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_UNMAPPED_OUTPUT,
    )

    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()

    assert unmapped_issues(hass) == {other}
