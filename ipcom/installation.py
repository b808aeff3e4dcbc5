"""An installation's devices: the device map made live on the client of its bus.

`Installation` builds a `Light`, `Dimmer`, `Switch` or `Shutter` for every
entry of the device map, on the client of the entry's bus (one connection
per bus, PROTOCOL.md section 1), listens to each client once for all of its
devices, and tells each device only of its own changes, in one context
(`Scheduler`): Home Assistant's event loop, or a thread of the library's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import cast

from .client import IPComClient
from .device import NO_GRACE, Device, Link, Listeners
from .devices import DeviceEntry, DeviceMap, LightEntry, SwitchEntry
from .models import ConnectionEvent, OutputAddress
from .outputs import Dimmer, Light, Switch
from .protocol import DEFAULT_BUS, MODULE_COUNT, OUTPUTS_PER_MODULE
from .scheduling import Scheduler
from .shutter import DEFAULT_REVERSE_PAUSE, Shutter

UnmappedListener = Callable[[int, OutputAddress], None]


@dataclass(frozen=True, slots=True)
class MapChange:
    """What `Installation.update` did: the devices it built and the devices it let go."""

    added: tuple[Device, ...]
    removed: tuple[Device, ...]


class Installation:
    """Every device of a device map on the clients of its buses, told of changes in one context."""

    def __init__(
        self,
        device_map: DeviceMap,
        clients: IPComClient | Mapping[int, IPComClient],
        scheduler: Scheduler,
        *,
        reverse_pause: float = DEFAULT_REVERSE_PAUSE,
        unavailable_after: float = NO_GRACE,
    ) -> None:
        """Build the devices; they follow their clients once `start` was called.

        `clients` maps each bus to the client connected to it; a single
        client is bus 1's. Every bus the map has devices on needs one.
        """
        if isinstance(clients, IPComClient):
            clients = {DEFAULT_BUS: clients}
        self.clients: Mapping[int, IPComClient] = MappingProxyType(dict(sorted(clients.items())))
        self._scheduler = scheduler
        self._reverse_pause = reverse_pause
        self.links: Mapping[int, Link] = MappingProxyType(
            {
                bus: Link(client, scheduler, unavailable_after)
                for bus, client in self.clients.items()
            }
        )
        self.device_map = DeviceMap()
        self.lights: tuple[Light, ...] = ()
        self.switches: tuple[Switch, ...] = ()
        self.shutters: tuple[Shutter, ...] = ()
        self._by_key: dict[str, Device] = {}
        self._by_address: dict[tuple[int, OutputAddress], Device] = {}
        self._unmapped_values: dict[tuple[int, OutputAddress], int | None] = {}
        self._unmapped_listeners = Listeners[[int, OutputAddress]]()
        self._use(device_map, {})
        self._available = {bus: link.available for bus, link in self.links.items()}
        for bus, link in self.links.items():
            link.subscribe(partial(self._link_changed, bus))
        self._unsubscribe: list[Callable[[], None]] = []

    def _use(self, device_map: DeviceMap, kept: Mapping[str, Device]) -> None:
        """Make `device_map` the installation's: keep the devices of `kept`, build the others."""
        self._check_buses(device_map)

        def device(entry: DeviceEntry) -> Device:
            if entry.key in kept:
                return kept[entry.key]
            link = self.links[entry.bus]
            if isinstance(entry, LightEntry):
                return (Dimmer if entry.dimmable else Light)(entry, link)
            if isinstance(entry, SwitchEntry):
                return Switch(entry, link)
            pause = self._reverse_pause if entry.reverse_pause is None else entry.reverse_pause
            return Shutter(entry, link, self._scheduler, reverse_pause=pause)

        self.device_map = device_map
        self.lights = tuple(cast(Light, device(entry)) for entry in device_map.lights)
        self.switches = tuple(cast(Switch, device(entry)) for entry in device_map.switches)
        self.shutters = tuple(cast(Shutter, device(entry)) for entry in device_map.covers)
        self._by_key = {}
        self._by_address = {}
        for each in self:
            self._by_key[each.key] = each
            for address in each.outputs:
                self._by_address[each.entry.bus, address] = each
        for shutter in self.shutters:
            self._by_key[shutter.entry.up_key] = shutter
            self._by_key[shutter.entry.down_key] = shutter
        self._unmapped_values = {
            where: value
            for where, value in self._unmapped_values.items()
            if where not in self._by_address
        }

    def _check_buses(self, device_map: DeviceMap) -> None:
        missing = [bus for bus in device_map.buses() if bus not in self.clients]
        if missing:
            raise ValueError(
                f"the device map has devices on bus {', '.join(map(str, missing))}, "
                f"but no client is connected to it"
            )

    def update(self, device_map: DeviceMap) -> MapChange:
        """Follow a new device map while the connections stay up (in the context).

        A device whose entry is unchanged is kept as it is, with its listeners
        and its writes under way; one whose entry changed is replaced by a new
        device, so it is in both `removed` and `added`. A removed device tells
        its listeners once (`Device.remove`); a removed shutter is shut down
        first (`Shutter.shutdown`): a run to a set position stops where it
        is. Raises `ValueError`, changing nothing, when the new map has
        devices on a bus without a client.
        """
        self._check_buses(device_map)
        new_entries = {entry.key: entry for entry in device_map}
        kept = {
            device.key: device for device in self if new_entries.get(device.key) == device.entry
        }
        removed = tuple(device for device in self if device.key not in kept)
        self._use(device_map, kept)
        self._note_unmapped_values()
        added = tuple(device for device in self if device.key not in kept)
        for device in removed:
            if isinstance(device, Shutter):
                device.shutdown()
            device.remove()
        return MapChange(added=added, removed=removed)

    def on_unmapped_output(self, listener: UnmappedListener) -> Callable[[], None]:
        """Call `listener(bus, address)` when an output no device uses changes (in the context).

        Only a change from one value the installation showed to another
        counts, so the first snapshot after a connect, which shows every
        output, offers nothing; a wall switch wired to an output nobody
        mapped does.
        """
        return self._unmapped_listeners.add(listener)

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
        """Follow the clients: their outputs and their connections, from their current state on."""
        if self._unsubscribe:
            return
        for bus, client in self.clients.items():
            self._unsubscribe += [
                client.on_outputs_changed(partial(self._outputs_from_client, bus)),
                client.on_connection_state(partial(self._connection_from_client, bus)),
            ]
        self._scheduler.call_soon(self.refresh)

    def close(self) -> Future[None]:
        """Stop following the clients and shut every shutter down (`Shutter.shutdown`).

        The returned future ends once every shutter has: a run to a set
        position is then stopped where it is (or the stop failed, which it
        carries as its exception).
        """
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for link in self.links.values():
            self._scheduler.call_soon(link.close)
        return _all([shutter.shutdown() for shutter in self.shutters])

    def _outputs_from_client(self, bus: int, addresses: frozenset[OutputAddress]) -> None:
        self._scheduler.call_soon(partial(self._outputs_changed, bus, addresses))

    def _connection_from_client(self, bus: int, event: ConnectionEvent) -> None:
        self._scheduler.call_soon(partial(self.links[bus].connection_changed, event))

    def _outputs_changed(self, bus: int, addresses: frozenset[OutputAddress]) -> None:
        changed = {self._by_address[bus, a] for a in addresses if (bus, a) in self._by_address}
        for device in self:
            if device in changed:
                device.outputs_changed()
        client = self.clients[bus]
        for address in sorted(addresses):
            where = (bus, address)
            if where in self._by_address:
                continue
            value = client.get_expected_value(*address)
            before = self._unmapped_values.get(where)
            self._unmapped_values[where] = value
            if None not in (before, value) and before != value:
                self._unmapped_listeners.call(bus, address)

    def _link_changed(self, bus: int) -> None:
        """Tell the devices of `bus` when its link's availability changed (in the context)."""
        link = self.links[bus]
        if link.available == self._available[bus]:
            return
        self._available[bus] = link.available
        for device in self:
            if device.link is link:
                device.availability_changed()

    def refresh(self) -> None:
        """Read the clients' current state now (in the context).

        `start` does so for what happened before it; a caller in the context
        that has just seen a client connect (`IPComClient.wait_for_snapshot`)
        calls it so that the devices are available before the news of the
        connection, still on its way from the client's thread, arrives.
        """
        for link in self.links.values():
            link.connection_changed(ConnectionEvent(link.client.connection_state, "following"))
        for device in self:
            device.outputs_changed()
        self._note_unmapped_values()

    def _note_unmapped_values(self) -> None:
        """Remember what every unmapped output shows now, so its next change is news."""
        for bus, client in self.clients.items():
            for module in range(1, MODULE_COUNT + 1):
                for output in range(1, OUTPUTS_PER_MODULE + 1):
                    where = (bus, OutputAddress(module, output))
                    if where not in self._by_address and self._unmapped_values.get(where) is None:
                        self._unmapped_values[where] = client.get_expected_value(module, output)


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
