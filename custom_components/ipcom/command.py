"""Carry out a library command and wait until the installation shows it.

Every way a command can fail becomes a translated `HomeAssistantError` that
names the device, so the action that caused it fails with a reason the user
can read, in their language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Final

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from ipcom.errors import IPComConnectionError
from ipcom.shutter import RelayNotReleasedError, ShutterPositionUnknownError
from ipcom.writes import AbandonReason, WriteAbandonedError, WriteOutcome

from .const import DOMAIN

CONFIRM_TIMEOUT: Final = 30.0
"""Seconds an action waits for the installation to show its command before it fails.

A confirmation takes one round trip plus at most a poll period, well under a
second, and a shutter reversing rests first; a write may also wait up to the
library's `WRITE_RETAIN_SECONDS` for a link that dropped, and the client ends
it by then. The bound is only for a command that never ends, so that no
action waits for ever.
"""

WRITE_NOT_CONFIRMED: Final = "write_not_confirmed"
"""Translation key: the installation did not show the write (or did not in time)."""
WRITE_CHANGED_AT_INSTALLATION: Final = "write_changed_at_installation"
"""Translation key: the output was changed at the installation before the write left."""
WRITE_LOST_WITH_LINK: Final = "write_lost_with_link"
"""Translation key: the link was down, or ended, before the write could be carried out."""

_ABANDON_TRANSLATION_KEYS: Final[Mapping[AbandonReason, str]] = {
    AbandonReason.NOT_CONFIRMED: WRITE_NOT_CONFIRMED,
    AbandonReason.LINK_DROPPED: WRITE_NOT_CONFIRMED,
    AbandonReason.CHANGED_AT_INSTALLATION: WRITE_CHANGED_AT_INSTALLATION,
    AbandonReason.OUTAGE: WRITE_LOST_WITH_LINK,
    AbandonReason.LINK_ENDED: WRITE_LOST_WITH_LINK,
    AbandonReason.STOPPED: WRITE_LOST_WITH_LINK,
}


async def async_carry_out(
    command: Callable[[], Future[WriteOutcome]], name: str, target: str
) -> None:
    """Run `command` and wait until the installation shows it; raise why it did not.

    `name` is the device's, `target` the bus connection's (host:port). A
    command superseded by a newer one is no failure: the newer one is
    someone's newer intent. The handle completes on a library thread and is
    awaited here without a thread of its own.
    """
    try:
        handle = command()
    except IPComConnectionError as err:
        raise _error("not_connected", target=target) from err
    except ShutterPositionUnknownError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="cover_position_unknown",
            translation_placeholders={"name": name},
        ) from err
    try:
        async with asyncio.timeout(CONFIRM_TIMEOUT):
            await asyncio.wrap_future(handle)
    except WriteAbandonedError as err:
        key = _ABANDON_TRANSLATION_KEYS.get(err.reason, WRITE_NOT_CONFIRMED)
        if key == WRITE_LOST_WITH_LINK:
            raise _error(key, name=name, target=target) from err
        raise _error(key, name=name) from err
    except RelayNotReleasedError as err:
        raise _error("cover_relay_not_released", name=name) from err
    except IPComConnectionError as err:
        raise _error("not_connected", target=target) from err
    except TimeoutError as err:
        raise _error(WRITE_NOT_CONFIRMED, name=name) from err


def _error(translation_key: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=translation_key,
        translation_placeholders=placeholders,
    )
