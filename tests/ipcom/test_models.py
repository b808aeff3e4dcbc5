"""The public value helpers and limits the integration uses instead of protocol constants."""

from __future__ import annotations

import pytest

from ipcom import limits, protocol
from ipcom.messages import validate_credentials
from ipcom.models import StateSnapshot, relay_value, validate_address, value_is_on


def test_relay_value_switches_a_relay_fully_on_or_off() -> None:
    assert relay_value(True) == protocol.RELAY_ON
    assert relay_value(False) == protocol.RELAY_OFF


@pytest.mark.parametrize(("value", "on"), [(0, False), (1, True), (100, True), (255, True)])
def test_any_non_zero_value_is_on(value: int, on: bool) -> None:
    assert value_is_on(value) is on
    assert StateSnapshot.empty().with_value(3, 4, value).is_on(3, 4) is on


def test_module_values_lists_every_module_in_order() -> None:
    snapshot = StateSnapshot.empty().with_value(16, 8, 42)
    modules = snapshot.module_values()
    assert list(modules) == list(range(1, limits.MODULE_COUNT + 1))
    assert modules[16] == (0,) * 7 + (42,)
    assert all(len(values) == limits.OUTPUTS_PER_MODULE for values in modules.values())


def test_limits_are_the_ones_the_validators_enforce() -> None:
    validate_address(limits.MODULE_COUNT, limits.OUTPUTS_PER_MODULE)
    with pytest.raises(ValueError, match="module"):
        validate_address(limits.MODULE_COUNT + 1, 1)
    with pytest.raises(ValueError, match="output"):
        validate_address(1, limits.OUTPUTS_PER_MODULE + 1)
    StateSnapshot.empty().with_value(1, 1, limits.OUTPUT_VALUE_MAX)
    with pytest.raises(ValueError, match="value"):
        StateSnapshot.empty().with_value(1, 1, limits.OUTPUT_VALUE_MAX + 1)
    assert (limits.DIMMER_MIN, limits.DIMMER_MAX) == (0, 100)
    validate_credentials("u" * limits.MAX_USERNAME_LENGTH, "p" * limits.MAX_PASSWORD_LENGTH)
    with pytest.raises(ValueError):
        validate_credentials("u" * (limits.MAX_USERNAME_LENGTH + 1), "p")
    with pytest.raises(ValueError):
        validate_credentials("u", "p" * (limits.MAX_PASSWORD_LENGTH + 1))
