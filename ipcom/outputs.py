"""Devices on one output: lamps and other loads on a relay, lamps on a dimmer.

Each command returns a `WriteHandle` at once: it completes, in the
installation's context and after the device's listeners heard of the change,
when a snapshot shows the change, or fails with `WriteAbandonedError` saying
why (`AbandonReason`). A command made while the link is down raises
`IPComConnectionError` and nothing is queued.
"""

from __future__ import annotations

from .device import Device, Link
from .devices import LightEntry, SwitchEntry
from .models import validate_percent, value_is_on
from .protocol import DIMMER_MAX
from .writes import WriteHandle


class RelayDevice(Device):
    """A load on one relay output: on or off."""

    def __init__(self, entry: LightEntry | SwitchEntry, link: Link) -> None:
        super().__init__(entry, (entry.address,), link)
        self.address = entry.address

    @property
    def is_on(self) -> bool | None:
        """Whether the output is on (any non-zero value); None before the first snapshot."""
        value = self._expected(self.address)
        return None if value is None else value_is_on(value)

    def turn_on(self) -> WriteHandle:
        """Switch the output on."""
        return self._in_context(self._client.turn_on(*self.address))

    def turn_off(self) -> WriteHandle:
        """Switch the output off."""
        return self._in_context(self._client.turn_off(*self.address))


class Light(RelayDevice):
    """A lamp on a relay output."""

    entry: LightEntry


class Switch(RelayDevice):
    """A load on a relay output that is not a lamp: a socket, a pump, a fan."""

    entry: SwitchEntry

    @property
    def device_class(self) -> str | None:
        """What kind of switch the map says it is (`SWITCH_DEVICE_CLASSES`), if it says."""
        return self.entry.device_class


class Dimmer(Light):
    """A lamp on a dimmer output, whose value is its level in percent (0 is off).

    It remembers the last level it was lit at, so that turning it on
    without a level brings back the light as it was, as the wall switch
    does. A level known from before a restart can be handed in with
    `restore_last_level`.
    """

    def __init__(self, entry: LightEntry, link: Link) -> None:
        super().__init__(entry, link)
        self._last_level: int | None = None
        self._remember_level()

    @property
    def level(self) -> int | None:
        """The level in percent (0 when off); None before the first snapshot."""
        value = self._expected(self.address)
        return None if value is None else min(value, DIMMER_MAX)

    @property
    def last_level(self) -> int | None:
        """The last level the installation showed the lamp lit at, if known."""
        return self._last_level

    def restore_last_level(self, level: int | None) -> None:
        """Take a remembered level from outside (a restart), unless the lamp showed one since."""
        if level is not None:
            validate_percent(level)
        if self._last_level is None and level:
            self._last_level = level

    def turn_on(self, level: int | None = None) -> WriteHandle:
        """Dim to `level` percent, or back to the last level (full when none is known)."""
        if level is None:
            level = self._last_level or DIMMER_MAX
        validate_percent(level)
        return self._in_context(
            self._client.set_dimmer(*self.address, level), confirmed=self._remember_level
        )

    def outputs_changed(self) -> None:
        """Remember the level before telling the listeners."""
        self._remember_level()
        super().outputs_changed()

    def _remember_level(self) -> None:
        """Remember a level the installation shows; one only asked for may never be taken.

        Called when an output's expected value changed, and when a level set
        here was confirmed: the snapshot that confirms it changes nothing
        that was expected, so no other news would bring it.
        """
        snapshot = self._client.get_latest_snapshot()
        level = None if snapshot is None else snapshot.get_value(*self.address)
        if level:
            self._last_level = min(level, DIMMER_MAX)
