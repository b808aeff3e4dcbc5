"""What every device of the device layer shares: its bus link, its outputs and its listeners.

A device is one entry of the device map bound to the client of its bus. Its
state is read from the client's expected values (the newest snapshot
overlaid with this client's writes not yet shown), so a command shows at
once and a write given up on shows the installation's state again. It is
told of changes by its `Installation`, in the installation's context
(`ipcom.scheduling`), and tells its own listeners only when one of its
outputs or its availability changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Final, Generic, ParamSpec

from .client import IPComClient
from .devices import DeviceEntry
from .models import ConnectionEvent, ConnectionState, OutputAddress
from .scheduling import Cancel, Scheduler
from .writes import WriteHandle, WriteOutcome

_LOGGER = logging.getLogger(__name__)

Listener = Callable[[], None]
_P = ParamSpec("_P")

NO_GRACE: Final = 0.0


class Link:
    """One bus connection as its devices see it: up, or down for less than the grace.

    A link that drops is given `unavailable_after` seconds to come back
    before its devices become unavailable, so a reconnect after a hiccup
    does not make every entity flicker. `link_up` is the raw state, without
    the grace. Both change only in the installation's context.
    """

    def __init__(
        self, client: IPComClient, scheduler: Scheduler, unavailable_after: float = NO_GRACE
    ) -> None:
        if unavailable_after < 0:
            raise ValueError(
                f"unavailable_after must be 0 or more seconds, got {unavailable_after}"
            )
        self.client = client
        self.scheduler = scheduler
        self._unavailable_after = unavailable_after
        self._listeners = Listeners[[]]()
        self._cancel_grace: Cancel | None = None
        self.link_up = client.connection_state is ConnectionState.CONNECTED
        self.available = self.link_up

    @property
    def target(self) -> str:
        """host:port of the bus connection, for messages."""
        return f"{self.client.host}:{self.client.port}"

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` when `link_up` or `available` changed."""
        return self._listeners.add(listener)

    def connection_changed(self, event: ConnectionEvent) -> None:
        """Follow the client's connection state (in the context)."""
        link_up = event.state is ConnectionState.CONNECTED
        if link_up == self.link_up:
            return
        self.link_up = link_up
        if link_up:
            self._stop_grace()
            if not self.available:
                _LOGGER.info("Connection to %s restored", self.target)
            self.available = True
        elif self.available and self._cancel_grace is None:
            _LOGGER.debug("Connection to %s lost: %s", self.target, event.reason)
            if self._unavailable_after > 0:
                self._cancel_grace = self.scheduler.call_later(
                    self._unavailable_after, self._grace_expired
                )
            else:
                self.available = False
        self._listeners.call()

    def close(self) -> None:
        """Cancel the grace timer (in the context)."""
        self._stop_grace()

    def _grace_expired(self) -> None:
        self._cancel_grace = None
        self.available = False
        _LOGGER.info(
            "Connection to %s lost for more than %s s; its devices are unavailable",
            self.target,
            self._unavailable_after,
        )
        self._listeners.call()

    def _stop_grace(self) -> None:
        if self._cancel_grace is not None:
            self._cancel_grace()
            self._cancel_grace = None


class Listeners(Generic[_P]):  # noqa: UP046 - the library still runs on Python 3.11
    """Callbacks to call on a change; one that raises is logged and the rest still run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[_P, None]] = []

    def add(self, listener: Callable[_P, None]) -> Callable[[], None]:
        """Add `listener`; returns the function that removes it again."""
        with self._lock:
            self._listeners.append(listener)
        return partial(self._remove, listener)

    def call(self, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Call every listener, in the order they were added."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(*args, **kwargs)
            except Exception:
                _LOGGER.exception("Error in an ipcom device listener")

    def _remove(self, listener: Callable[_P, None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


class Device:
    """A device of the map on its bus: key, name, outputs, availability and listeners."""

    def __init__(self, entry: DeviceEntry, outputs: tuple[OutputAddress, ...], link: Link) -> None:
        self.entry = entry
        self.outputs = outputs
        self._link = link
        self._client = link.client
        self._scheduler = link.scheduler
        self._listeners = Listeners[[]]()
        self.removed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    @property
    def key(self) -> str:
        """The device map's key: stable, unique within the installation."""
        return self.entry.key

    @property
    def name(self) -> str:
        """The name to show."""
        return self.entry.name

    @property
    def available(self) -> bool:
        """Whether the bus link is up, or down for less than the grace; never once removed."""
        return self._link.available and not self.removed

    @property
    def link(self) -> Link:
        """The bus connection the device is on."""
        return self._link

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` in the installation's context when this device's state changed.

        Only its own outputs, its availability and, for a shutter, its
        motion and estimated position count: a change elsewhere on the bus
        does not call it. Returns the function that unsubscribes.
        """
        return self._listeners.add(listener)

    def outputs_changed(self) -> None:
        """One of the device's outputs is expected to have a new value (in the context)."""
        self._listeners.call()

    def availability_changed(self) -> None:
        """The bus link went up or down (in the context)."""
        self._listeners.call()

    def remove(self) -> None:
        """The device left the installation's map (in the context): tell its listeners, once.

        Its listeners find `removed` set and the device unavailable; nothing
        tells them of this device again.
        """
        if self.removed:
            return
        self.removed = True
        listeners, self._listeners = self._listeners, Listeners[[]]()
        listeners.call()

    def _in_context(
        self, handle: WriteHandle, confirmed: Callable[[], None] | None = None
    ) -> WriteHandle:
        """`handle`, completed in the context instead of on the client's listener thread.

        The client tells the installation of a change before it completes the
        handle that change confirms, and the installation passes the news on
        to this context; ending the handle here too means that whoever waits
        for it finds this device, and its listeners, already told.
        `confirmed` runs in the context just before a confirmed handle ends.
        """
        done: WriteHandle = Future()
        done.set_running_or_notify_cancel()

        def settle() -> None:
            if (error := handle.exception()) is not None:
                done.set_exception(error)
                return
            if confirmed is not None and handle.result() is WriteOutcome.CONFIRMED:
                confirmed()
            done.set_result(handle.result())

        handle.add_done_callback(lambda _: self._scheduler.call_soon(settle))
        return done

    def _expected(self, address: OutputAddress) -> int | None:
        """The output's value once this client's writes have landed; None before any snapshot."""
        return self._client.get_expected_value(*address)
