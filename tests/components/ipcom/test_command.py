"""Carrying out a library command: each way it can end becomes the right Home Assistant error."""

from __future__ import annotations

from concurrent.futures import Future
from unittest.mock import patch

import pytest
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from custom_components.ipcom.command import async_carry_out
from custom_components.ipcom.const import DOMAIN
from ipcom.errors import IPComConnectionError
from ipcom.shutter import RelayNotReleasedError, ShutterPositionUnknownError
from ipcom.writes import (
    AbandonedWrite,
    AbandonReason,
    WriteAbandonedError,
    WriteHandle,
    WriteOutcome,
)

TARGET = "192.0.2.7:5000"


def handle_of(outcome: WriteOutcome | AbandonReason | BaseException | None) -> WriteHandle:
    """A write handle as the library hands it out, ended as `outcome` (None: not yet)."""
    handle = WriteHandle()
    handle.set_running_or_notify_cancel()
    if isinstance(outcome, AbandonReason):
        handle.set_exception(WriteAbandonedError(AbandonedWrite(2, 1, 255, outcome)))
    elif isinstance(outcome, BaseException):
        handle.set_exception(outcome)
    elif outcome is not None:
        handle.set_result(outcome)
    return handle


@pytest.mark.parametrize(
    ("reason", "translation_key", "placeholders"),
    [
        (AbandonReason.NOT_CONFIRMED, "write_not_confirmed", {"name": "Socket"}),
        (AbandonReason.LINK_DROPPED, "write_not_confirmed", {"name": "Socket"}),
        (
            AbandonReason.CHANGED_AT_INSTALLATION,
            "write_changed_at_installation",
            {"name": "Socket"},
        ),
        (AbandonReason.OUTAGE, "write_lost_with_link", {"name": "Socket", "target": TARGET}),
        (AbandonReason.LINK_ENDED, "write_lost_with_link", {"name": "Socket", "target": TARGET}),
        (AbandonReason.STOPPED, "write_lost_with_link", {"name": "Socket", "target": TARGET}),
    ],
)
async def test_a_write_given_up_fails_with_its_reason(
    reason: AbandonReason, translation_key: str, placeholders: dict[str, str]
) -> None:
    """Each way a write can be given up on has its own translated error, naming the device."""
    with pytest.raises(HomeAssistantError) as err:
        await async_carry_out(lambda: handle_of(reason), "Socket", TARGET)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == translation_key
    assert err.value.translation_placeholders == placeholders
    assert isinstance(err.value.__cause__, WriteAbandonedError)


@pytest.mark.parametrize("outcome", [WriteOutcome.CONFIRMED, WriteOutcome.SUPERSEDED])
async def test_a_confirmed_or_superseded_command_is_no_failure(outcome: WriteOutcome) -> None:
    """A later command replacing this one is someone's newer intent, not a failure."""
    await async_carry_out(lambda: handle_of(outcome), "Socket", TARGET)


async def test_a_command_while_disconnected_fails_at_once() -> None:
    """Nothing is queued while the link is down; the action says so."""

    def refuse() -> Future[WriteOutcome]:
        raise IPComConnectionError("not connected")

    with pytest.raises(HomeAssistantError) as err:
        await async_carry_out(refuse, "Socket", TARGET)
    assert err.value.translation_key == "not_connected"
    assert err.value.translation_placeholders == {"target": TARGET}


async def test_a_link_lost_before_a_shutter_command_went_out() -> None:
    """A shutter command queues its writes later, in the library's context; same error."""
    with pytest.raises(HomeAssistantError) as err:
        await async_carry_out(
            lambda: handle_of(IPComConnectionError("not connected")), "Shutter", TARGET
        )
    assert err.value.translation_key == "not_connected"


async def test_an_unknown_position_is_the_caller_s_mistake() -> None:
    """Asking a position between the ends before it is known is a validation error."""

    def refuse() -> Future[WriteOutcome]:
        raise ShutterPositionUnknownError("Living")

    with pytest.raises(ServiceValidationError) as err:
        await async_carry_out(refuse, "Living", TARGET)
    assert err.value.translation_key == "cover_position_unknown"
    assert err.value.translation_placeholders == {"name": "Living"}


async def test_a_partner_relay_that_stays_on_is_named() -> None:
    """The motor was not started the other way because the other relay stayed on."""
    stuck = RelayNotReleasedError("Bedroom", AbandonedWrite(5, 1, 0, AbandonReason.NOT_CONFIRMED))
    with pytest.raises(HomeAssistantError) as err:
        await async_carry_out(lambda: handle_of(stuck), "Bedroom", TARGET)
    assert err.value.translation_key == "cover_relay_not_released"
    assert err.value.translation_placeholders == {"name": "Bedroom"}


async def test_a_command_that_never_ends_fails_after_the_bound() -> None:
    """No action waits for ever, even for a handle the library would never complete."""
    with (
        patch("custom_components.ipcom.command.CONFIRM_TIMEOUT", 0.05),
        pytest.raises(HomeAssistantError) as err,
    ):
        await async_carry_out(lambda: handle_of(None), "module 9 output 3", TARGET)
    assert err.value.translation_key == "write_not_confirmed"
    assert err.value.translation_placeholders == {"name": "module 9 output 3"}
