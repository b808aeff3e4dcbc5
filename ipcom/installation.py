"""An installation's devices: the device map made live on the client of its bus.

`Installation` builds a `Light`, `Dimmer`, `Switch` or `Shutter` for every
entry of the device map, listens to the client once for all of them, and
tells each device only of its own changes, in one context (`Scheduler`):
Home Assistant's event loop, or a thread of the library's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from functools import partial

from .client import IPComClient
from .device import NO_GRACE, Device, Link
from .devices import DeviceMap
from .models import ConnectionEvent, OutputAddress
from .outputs import Dimmer, Light, Switch
from .scheduling import Scheduler
from .shutter import DEFAULT_REVERSE_PAUSE, Shutter


class Installation:
    """Every device of a device map on one client, told of changes in one context."""

    def __init__(
        self,
        device_map: DeviceMap,
        client: IPComClient,
        scheduler: Scheduler,
        *,
        reverse_pause: float = DEFAULT_REVERSE_PAUSE,
        unavailable_after: float = NO_GRACE,
    ) -> None:
        """Build the devices; they follow the client once `start` was called."""
        self.device_map = device_map
        self.client = client
        self._scheduler = scheduler
        self.link = Link(client, scheduler, unavailable_after)
        self.lights: tuple[Light, ...] = tuple(
            (Dimmer if entry.dimmable else Light)(entry, self.link) for entry in device_map.lights
        )
        self.switches = tuple(Switch(entry, self.link) for entry in device_map.switches)
        self.shutters = tuple(
            Shutter(entry, self.link, scheduler, reverse_pause=reverse_pause)
            for entry in device_map.covers
        )
        self._by_key: dict[str, Device] = {}
        self._by_address: dict[OutputAddress, Device] = {}
        for device in self:
            self._by_key[device.key] = device
            for address in device.outputs:
                self._by_address[address] = device
        for shutter in self.shutters:
            self._by_key[shutter.entry.up_key] = shutter
            self._by_key[shutter.entry.down_key] = shutter
        self._available = self.link.available
        self.link.subscribe(self._link_changed)
        self._unsubscribe: list[Callable[[], None]] = []

    def __iter__(self) -> Iterator[Device]:
        """Every device: lights, then switches, then shutters, in the map's order."""
        yield from self.lights
        yield from self.switches
        yield from self.shutters

    def __len__(self) -> int:
        return len(self.lights) + len(self.switches) + len(self.shutters)

    def get(self, key: str) -> Device | None:
        """The device with this key; a shutter also answers to the keys of its relays."""
        return self._by_key.get(key)

    def start(self) -> None:
        """Follow the client: its outputs and its connection, from its current state on."""
        if self._unsubscribe:
            return
        self._unsubscribe = [
            self.client.on_outputs_changed(self._outputs_from_client),
            self.client.on_connection_state(self._connection_from_client),
        ]
        self._scheduler.call_soon(self.refresh)

    def close(self) -> Future[None]:
        """Stop following the client and shut every shutter down (`Shutter.shutdown`).

        The returned future ends once every shutter has: a run to a set
        position is then stopped where it is (or the stop failed, which it
        carries as its exception).
        """
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._scheduler.call_soon(self.link.close)
        return _all([shutter.shutdown() for shutter in self.shutters])

    def _outputs_from_client(self, addresses: frozenset[OutputAddress]) -> None:
        self._scheduler.call_soon(partial(self._outputs_changed, addresses))

    def _connection_from_client(self, event: ConnectionEvent) -> None:
        self._scheduler.call_soon(partial(self._connection_changed, event))

    def _outputs_changed(self, addresses: frozenset[OutputAddress]) -> None:
        changed = {self._by_address[a] for a in addresses if a in self._by_address}
        for device in self:
            if device in changed:
                device.outputs_changed()

    def _connection_changed(self, event: ConnectionEvent) -> None:
        self.link.connection_changed(event)

    def _link_changed(self) -> None:
        """Tell every device when the link's availability changed (in the context)."""
        if self.link.available == self._available:
            return
        self._available = self.link.available
        for device in self:
            device.availability_changed()

    def refresh(self) -> None:
        """Read the client's current state now (in the context).

        `start` does so for what happened before it; a caller in the context
        that has just seen the client connect (`IPComClient.wait_for_snapshot`)
        calls it so that the devices are available before the news of the
        connection, still on its way from the client's thread, arrives.
        """
        self._connection_changed(ConnectionEvent(self.client.connection_state, "following"))
        for device in self:
            device.outputs_changed()


def _all(futures: list[Future[None]]) -> Future[None]:
    """A future that ends once all of `futures` have, failing with the first failure."""
    done: Future[None] = Future()
    done.set_running_or_notify_cancel()
    left = [len(futures)]
    errors: list[BaseException] = []

    def ended(future: Future[None]) -> None:
        if (error := future.exception()) is not None:
            errors.append(error)
        left[0] -= 1
        if left[0] == 0:
            if errors:
                done.set_exception(errors[0])
            else:
                done.set_result(None)

    if not futures:
        done.set_result(None)
    for future in futures:
        future.add_done_callback(ended)
    return done
