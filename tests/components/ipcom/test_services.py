"""The ipcom.set_output and ipcom.export_devices actions."""

from __future__ import annotations

import pytest
import voluptuous as vol
import yaml
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ipcom.const import DOMAIN
from ipcom.devices import load_device_map, parse_device_map
from ipcom.simulator import ReceivedWrite, Simulator

from .conftest import (
    DEVICES_FIXTURE,
    ENTRY_ID,
    lose_link,
    set_installation_output,
)


async def set_output(
    hass: HomeAssistant, entry_id: str, module: int, output: int, value: int
) -> None:
    """Call ipcom.set_output and wait for it."""
    await hass.services.async_call(
        DOMAIN,
        "set_output",
        {"config_entry_id": entry_id, "module": module, "output": output, "value": value},
        blocking=True,
    )


@pytest.mark.usefixtures("init_integration")
async def test_set_output(hass: HomeAssistant, simulator: Simulator) -> None:
    """An output that the device map does not name can be written, the others keep theirs."""
    await set_installation_output(hass, simulator, 9, 8, 255)
    await set_output(hass, ENTRY_ID, 9, 3, 77)
    assert simulator.get_value(9, 3) == 77
    assert simulator.get_value(9, 8) == 255


@pytest.mark.parametrize(
    ("module", "output", "name"), [(2, 1, "Socket"), (9, 3, "module 9 output 3")]
)
@pytest.mark.usefixtures("init_integration")
async def test_set_output_never_confirmed(
    hass: HomeAssistant, simulator: Simulator, module: int, output: int, name: str
) -> None:
    """A write the installation does not carry out fails the action, naming the device or output."""

    def undo(write: ReceivedWrite) -> None:
        if write.module == module:
            simulator.set_output(module, output, 0)

    unsubscribe = simulator.on_write(undo)
    with pytest.raises(HomeAssistantError) as err:
        await set_output(hass, ENTRY_ID, module, output, 255)
    unsubscribe()

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "write_not_confirmed"
    assert err.value.translation_placeholders == {"name": name}
    assert simulator.get_value(module, output) == 0


@pytest.mark.parametrize(
    "data",
    [
        {"module": 0, "output": 1, "value": 0},
        {"module": 17, "output": 1, "value": 0},
        {"module": 1, "output": 9, "value": 0},
        {"module": 1, "output": 1, "value": 256},
        {"module": 1, "output": 1, "value": -1},
    ],
)
@pytest.mark.usefixtures("init_integration")
async def test_set_output_out_of_range(
    hass: HomeAssistant, simulator: Simulator, data: dict[str, int]
) -> None:
    """Addresses and values outside the bus's ranges are refused before anything is sent."""
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN, "set_output", {"config_entry_id": ENTRY_ID, **data}, blocking=True
        )
    assert simulator.writes() == []


@pytest.mark.usefixtures("init_integration")
async def test_set_output_unknown_entry(hass: HomeAssistant) -> None:
    """An entry id that is not an ipcom entry is a validation error."""
    with pytest.raises(ServiceValidationError) as err:
        await set_output(hass, "nope", 1, 1, 255)
    assert err.value.translation_key == "entry_not_found"


async def test_set_output_entry_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An unloaded entry cannot send anything."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await set_output(hass, ENTRY_ID, 1, 1, 255)
    assert err.value.translation_key == "entry_not_loaded"


@pytest.mark.usefixtures("init_integration")
async def test_set_output_while_disconnected(hass: HomeAssistant, simulator: Simulator) -> None:
    """A write while the link is down fails and is not queued."""
    await lose_link(hass, simulator)
    with pytest.raises(HomeAssistantError) as err:
        await set_output(hass, ENTRY_ID, 1, 1, 255)
    assert err.value.translation_key == "not_connected"


async def test_export_devices_answers_the_loaded_map_as_devices_yaml(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The answer reads back into the same map the entry runs on, for the CLI or the simulator."""
    response = await hass.services.async_call(
        DOMAIN,
        "export_devices",
        {"config_entry_id": ENTRY_ID},
        blocking=True,
        return_response=True,
    )

    assert response is not None
    text = response["devices_yaml"]
    assert isinstance(text, str)
    exported = parse_device_map(yaml.safe_load(text), "exported")
    assert exported == init_integration.runtime_data.device_map
    assert exported == load_device_map(DEVICES_FIXTURE)


async def test_export_devices_of_an_entry_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The devices are the entry's subentries: an unloaded entry exports them too."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    response = await hass.services.async_call(
        DOMAIN,
        "export_devices",
        {"config_entry_id": ENTRY_ID},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    exported = parse_device_map(yaml.safe_load(str(response["devices_yaml"])), "exported")
    assert exported == load_device_map(DEVICES_FIXTURE)
