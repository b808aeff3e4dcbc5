"""The simulator as any installation: two buses on one port, a remote address, `ipcom simulate`.

The raw client here speaks literal bytes through the cipher only (PROTOCOL.md
sections 2 to 4 and 6), never `ipcom.messages`: the point is that the
simulator checks the client, so the client must not share the simulator's
reading of the protocol, nor the library client's.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from client_helpers import wait_until

from ipcom import cipher, cli
from ipcom.protocol import BusType
from ipcom.simulator import ReceivedWrite, SentSnapshot, Simulator
from ipcom.simulator_codec import Addressing

TIMEOUT = 10.0
MINIDO, BIBUS, OTHER = BusType.MINIDO, BusType.BIBUS, BusType.OTHER

POLL = bytes.fromhex("0501")
"""Section 4: the status poll."""

NINES = (9,) * 8

FRAME_BUS_2_BIBUS_MODULE_3 = bytes.fromhex("0401 02 23 20 00 0a 01 0909090909090909 01")
"""Section 6: module 3 of a BiBus bus 2: bus byte 2, to 30 + 3 - 1 = 0x20; all eight 9."""
FRAME_BUS_2_MINIDO_MODULE_3 = bytes.fromhex("0401 02 23 3e 00 0a 01 0909090909090909 01")
"""Section 6: module 3 of a "Minido" bus 2: bus byte 2, to 60 + 3 - 1 = 0x3e."""
FRAME_BUS_1_MINIDO_MODULE_2 = bytes.fromhex("0401 02 23 3d 00 0a 01 ff00000000000000 fe")
"""Section 6: module 2 of a "Minido" bus 1: bus byte 2, to 0x3d; output 1 on."""
BUS_1_FRAMES_FOR_MODULE_3 = {
    MINIDO: bytes.fromhex("0401 02 23 3e 00 0a 01 0909090909090909 01"),
    BIBUS: bytes.fromhex("0401 01 23 20 00 0a 01 0909090909090909 01"),
    OTHER: bytes.fromhex("0401 01 23 3e 00 0a 01 0909090909090909 01"),
}
"""Section 6: module 3 as bus 1 of each type addresses it: 2 / 0x3e, 1 / 0x20, 1 / 0x3e."""


def connect_request(bus: int) -> bytes:
    """Section 3: the 56-byte connect request of demo/demo naming `bus` in byte 54."""
    return b"\x01\x02" + b"USER:demo".ljust(26) + b"PWD:demo".ljust(26) + bytes([bus, 0])


def value_in(snapshot: bytes, module: int, output: int) -> int:
    """Section 4: module m, output o is at byte 2 + (m - 1) * 8 + (o - 1)."""
    return snapshot[2 + (module - 1) * 8 + (output - 1)]


def module_in(snapshot: bytes, module: int) -> tuple[int, ...]:
    return tuple(value_in(snapshot, module, output) for output in range(1, 9))


class LiteralClient:
    """A client made of literal bytes and the cipher: one connection, one bus."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.masks = b""

    def close(self) -> None:
        self.sock.close()

    def read_exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {data.hex()}")
            data += chunk
        return data

    def connect(self, bus: int) -> int:
        """Send the connect request for `bus`; return the status byte of the 135-byte answer."""
        single = cipher.single_key_masks()
        self.sock.sendall(cipher.encrypt(connect_request(bus), single))
        response = cipher.decrypt(self.read_exact(135), single)
        if response[0] == 1:
            self.masks = cipher.dual_key_masks(response[7:])
        return response[0]

    def request(self, plain: bytes) -> bytes:
        """Send one message; return the 130-byte snapshot that answers it, decrypted."""
        self.sock.sendall(cipher.encrypt(plain, self.masks))
        snapshot = cipher.decrypt(self.read_exact(130), self.masks)
        assert snapshot[:2] == b"\x05\x01", snapshot.hex()
        return snapshot

    def is_closed_by_peer(self) -> bool:
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


Connect = Callable[..., LiteralClient]
"""The `connect` fixture: `connect(port)` opens a client, `connect(port, bus)` also logs in."""


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open literal clients (handshaken on the given bus) that are closed after the test."""
    clients: list[LiteralClient] = []

    def open_client(port: int, bus: int | None = None) -> LiteralClient:
        client = LiteralClient(port)
        clients.append(client)
        if bus is not None:
            assert client.connect(bus) == 1
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def two_buses() -> Iterator[Simulator]:
    """Bus 1 "Minido" with dimmer module 6, bus 2 a BiBus with dimmer module 3."""
    device = Simulator(
        buses={1: MINIDO, 2: BIBUS}, dimmer_modules={6}, dimmer_modules_by_bus={2: {3}}
    )
    device.start()
    try:
        yield device
    finally:
        device.stop()


# Two buses on one port


def test_a_connection_naming_bus_2_sees_and_writes_bus_2_only(
    two_buses: Simulator, connect: Connect
) -> None:
    device = two_buses
    device.set_output(1, 1, 255)
    device.set_output(3, 2, 77, bus=2)
    bus_2_writes: list[ReceivedWrite] = []
    bus_1_writes: list[ReceivedWrite] = []
    bus_2_snapshots: list[SentSnapshot] = []
    device.on_write(bus_2_writes.append, bus=2)
    device.on_write(bus_1_writes.append)
    device.on_snapshot(bus_2_snapshots.append, bus=2)

    bus_2 = connect(device.port, 2)
    seen = bus_2.request(POLL)
    assert value_in(seen, 3, 2) == 77
    assert value_in(seen, 1, 1) == 0
    answer = bus_2.request(FRAME_BUS_2_BIBUS_MODULE_3)

    assert module_in(answer, 3) == NINES
    assert device.get_module_values(3, bus=2) == NINES
    assert device.get_module_values(3) == (0,) * 8
    assert device.snapshot().get_value(1, 1) == 255
    assert device.snapshot(bus=2).get_module_values(3) == NINES
    (write,) = device.writes(bus=2)
    assert (write.bus, write.module, write.values) == (2, 3, NINES)
    assert device.writes() == []
    assert device.wait_for_write(bus=2) == write
    assert wait_until(lambda: len(bus_2_snapshots) == 2, TIMEOUT)
    assert bus_2_writes == [write]
    assert bus_1_writes == []
    assert {snapshot.bus for snapshot in bus_2_snapshots} == {2}
    assert write.snapshots == (bus_2_snapshots[0],)

    bus_1 = connect(device.port, 1)
    seen = bus_1.request(POLL)
    assert value_in(seen, 1, 1) == 255
    assert module_in(seen, 3) == (0,) * 8
    answer = bus_1.request(FRAME_BUS_1_MINIDO_MODULE_2)
    assert module_in(answer, 2) == (255, 0, 0, 0, 0, 0, 0, 0)
    assert device.get_value(2, 1) == 255
    assert device.get_value(2, 1, bus=2) == 0
    assert [w.bus for w in device.writes()] == [1]
    assert bus_1_writes[0].bus == 1
    assert device.protocol_errors == 0


@pytest.mark.parametrize("bus_1_type", [MINIDO, BIBUS, OTHER])
def test_a_frame_with_bus_1_addressing_on_a_bibus_bus_2_connection_is_refused(
    connect: Connect, bus_1_type: BusType
) -> None:
    with Simulator(buses={1: bus_1_type, 2: BIBUS}) as device:
        bus_2 = connect(device.port, 2)
        before = bus_2.request(POLL)

        answer = bus_2.request(BUS_1_FRAMES_FOR_MODULE_3[bus_1_type])

        assert answer == before
        device.wait_until(lambda sim: sim.protocol_errors == 1, TIMEOUT)
        assert device.get_module_values(3, bus=2) == (0,) * 8
        assert device.get_module_values(3, bus=1) == (0,) * 8
        assert device.writes(bus=1) == device.writes(bus=2) == []


def test_a_minido_bus_2_takes_bus_byte_2_and_base_60(connect: Connect) -> None:
    with Simulator(buses={1: BIBUS, 2: MINIDO}) as device:
        assert device.addressing(bus=2) == Addressing(2, 60)
        assert device.addressing() == Addressing(1, 30)
        answer = connect(device.port, 2).request(FRAME_BUS_2_MINIDO_MODULE_3)
        assert module_in(answer, 3) == NINES
        assert device.get_module_values(3, bus=2) == NINES
        assert device.protocol_errors == 0


def test_a_tricom_bus_1_takes_bus_byte_2(connect: Connect) -> None:
    tricom_bibus_module_3 = bytes.fromhex("0401 02 23 20 00 0a 01 0909090909090909 01")
    with Simulator(buses={1: BIBUS, 2: BIBUS}, tricom=True) as device:
        assert device.tricom
        answer = connect(device.port, 1).request(tricom_bibus_module_3)
        assert module_in(answer, 3) == NINES
        assert device.get_module_values(3) == NINES
        assert device.get_module_values(3, bus=2) == (0,) * 8


@pytest.mark.parametrize(
    ("buses", "asked"),
    [({1: MINIDO}, 2), ({2: BIBUS}, 1), ({1: MINIDO, 2: BIBUS}, 3), ({1: MINIDO, 2: BIBUS}, 0)],
)
def test_a_connection_naming_a_bus_the_installation_lacks_gets_status_0(
    connect: Connect, buses: dict[int, BusType], asked: int
) -> None:
    with Simulator(buses=buses) as device:
        refused = connect(device.port)
        assert refused.connect(asked) == 0
        assert refused.is_closed_by_peer()
        device.wait_until(lambda sim: sim.protocol_errors == 1, TIMEOUT)
        assert device.connections_accepted == 0
        for bus in buses:
            assert connect(device.port).connect(bus) == 1


def test_each_bus_keeps_its_own_dimmers_and_levels(two_buses: Simulator) -> None:
    device = two_buses
    assert device.dimmer_modules == frozenset({6})
    assert device.dimmer_modules_by_bus == {1: frozenset({6}), 2: frozenset({3})}
    assert device.press(3, 1, bus=2) == 100
    assert device.press(3, 1) == 255
    device.set_output(6, 1, 40)
    device.press(6, 1)
    assert device.press(6, 1) == 40
    assert device.get_value(6, 1, bus=2) == 0
    with pytest.raises(ValueError, match="dimmer"):
        device.set_output(3, 1, 101, bus=2)
    device.set_output(3, 1, 101)
    device.wait_for_value(3, 1, 100, TIMEOUT, bus=2)
    with pytest.raises(TimeoutError):
        device.wait_for_value(3, 1, 100, 0.05)


def test_activity_presses_the_bus_it_is_given(two_buses: Simulator) -> None:
    two_buses.start_activity([(5, 5)], mean_interval=0.01, seed=1, bus=2)
    try:
        two_buses.wait_until(lambda sim: sim.get_value(5, 5, bus=2) == 255, TIMEOUT)
    finally:
        two_buses.stop_activity()
    assert two_buses.get_value(5, 5) == 0


def test_the_installation_shape_defaults_and_refusals() -> None:
    plain = Simulator()
    assert (plain.bus, plain.buses, plain.tricom) == (1, {1: MINIDO}, False)
    assert (plain.remote_port, plain.local_reachable) == (None, True)
    assert plain.addressing() == Addressing(2, 60)
    single_2 = Simulator(bus=2, bus_type=BIBUS, dimmer_modules={4})
    assert (single_2.bus, single_2.buses, single_2.dimmer_modules) == (2, {2: BIBUS}, {4})
    assert single_2.press(4, 1) == 100
    two = Simulator(buses={2: "bibus", 1: "other"})  # type: ignore[dict-item]
    assert list(two.buses.items()) == [(1, OTHER), (2, BIBUS)]
    with pytest.raises(ValueError, match="bus 1 and 2, not bus 3"):
        two.get_value(1, 1, bus=3)
    with pytest.raises(ValueError):
        plain.writes(bus=2)
    for bad in (
        {"buses": {}},
        {"buses": {3: MINIDO}},
        {"buses": {1: "nonsense"}},
        {"buses": {1: MINIDO}, "bus": 2},
        {"buses": {1: MINIDO}, "dimmer_modules_by_bus": {2: {3}}},
        {"dimmer_modules": {6}, "dimmer_modules_by_bus": {1: {5}}},
        {"buses": {1: MINIDO, 2: MINIDO}, "dimmer_modules_by_bus": {2: {17}}},
        {"remote_port": 70000},
        {"port": 5123, "remote_port": 5123},
    ):
        with pytest.raises(ValueError):
            Simulator(**bad)  # type: ignore[arg-type]


# The remote address


def refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_remote_port_serves_the_same_installation(connect: Connect) -> None:
    with Simulator(buses={1: MINIDO, 2: BIBUS}, remote_port=0) as device:
        assert device.remote_port not in (None, 0, device.port)
        assert device.remote_port is not None
        device.set_output(7, 7, 255, bus=2)
        remote = connect(device.remote_port, 2)
        assert value_in(remote.request(POLL), 7, 7) == 255
        remote.request(FRAME_BUS_2_BIBUS_MODULE_3)
        local = connect(device.port, 2)
        assert module_in(local.request(POLL), 3) == NINES
        assert connect(device.remote_port).connect(3) == 0
        device.wait_until(lambda sim: sim.active_connections == 2, TIMEOUT)
        ports = (device.port, device.remote_port)
    assert refused(ports[0])
    assert refused(ports[1])


def test_an_unreachable_local_address_drops_and_refuses_while_remote_works(
    connect: Connect,
) -> None:
    with Simulator(remote_port=0) as device:
        assert device.remote_port is not None
        port = device.port
        local = connect(port, 1)
        remote = connect(device.remote_port, 1)
        device.wait_until(lambda sim: sim.active_connections == 2, TIMEOUT)

        device.local_reachable = False

        assert not device.local_reachable
        assert device.running
        assert local.is_closed_by_peer()
        assert refused(port)
        device.wait_until(lambda sim: sim.active_connections == 1, TIMEOUT)
        device.set_output(1, 1, 255)
        assert value_in(remote.request(POLL), 1, 1) == 255
        assert value_in(connect(device.remote_port, 1).request(POLL), 1, 1) == 255

        device.local_reachable = True

        assert device.port == port
        assert value_in(connect(port, 1).request(POLL), 1, 1) == 255
        assert value_in(remote.request(POLL), 1, 1) == 255


def test_a_simulator_can_start_with_its_local_address_unreachable(connect: Connect) -> None:
    device = Simulator(port=0, remote_port=0)
    device.local_reachable = False
    with device:
        assert device.remote_port is not None
        assert value_in(connect(device.remote_port, 1).request(POLL), 1, 1) == 0
        device.local_reachable = True
        assert device.port != 0
        assert value_in(connect(device.port, 1).request(POLL), 1, 1) == 0


# ipcom simulate


def test_ipcom_simulate_defaults_to_the_captured_installation(
    simulate: list[Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["simulate", "--port", "0"]) == 0
    (device,) = simulate
    assert (device.buses, device.tricom, device.plaintext) == ({1: MINIDO}, False, None)
    assert (device.firmware_version, device.remote_port) == ("0000", None)
    out, err = capsys.readouterr()
    assert out == f"ipcom simulator listening on 127.0.0.1:{device.port} (user demo)\n"
    assert err == "ipcom: simulated bus 1: minido, bus byte 2, module addresses 60..75\n"


def test_ipcom_simulate_takes_every_installation_option(
    simulate: list[Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["simulate", "--port", "0", "--bus-type", "bibus", "--buses", "2"]
    flags += ["--bus-2-type", "other", "--tricom", "--plaintext", "nonsecure"]
    flags += ["--firmware", "1.2a", "--remote-port", "0"]

    assert cli.main(flags) == 0

    (device,) = simulate
    assert device.buses == {1: BIBUS, 2: OTHER}
    assert (device.tricom, device.plaintext, device.firmware_version) == (True, "nonsecure", "1.2a")
    assert device.remote_port not in (None, 0, device.port)
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"ipcom simulator listening on 127.0.0.1:{device.port} (user demo)",
        f"ipcom simulator listening on 127.0.0.1:{device.remote_port} (user demo, remote address)",
    ]
    assert err.splitlines() == [
        "ipcom: simulated bus 1: bibus, bus byte 2, module addresses 30..45",
        "ipcom: simulated bus 2: other, bus byte 2, module addresses 60..75",
    ]
    assert cli.main(["simulate", "--port", "0", "--buses", "2", "--plaintext", "short"]) == 0
    assert (simulate[1].buses, simulate[1].plaintext) == ({1: MINIDO, 2: MINIDO}, "short")
    assert cli.main(["simulate", "--port", "0", "--bus-type", "other"]) == 0
    assert simulate[2].addressing() == Addressing(1, 60)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--firmware", "123"], "argument --firmware:"),
        (["--firmware", "12345"], "argument --firmware:"),
        (["--firmware", "12é4"], "argument --firmware:"),
        (["--bus-type", "tricom"], "argument --bus-type:"),
        (["--buses", "3"], "argument --buses:"),
        (["--buses", "1", "--bus-2-type", "bibus"], "argument --bus-2-type:"),
        (["--remote-host", "example.org"], "argument --remote-host: not for simulate"),
        (["--serial", "A1234"], "argument --serial: not for simulate"),
        (["--buses", "2", "--bus-2-type", "x"], "argument --bus-2-type:"),
        (["--plaintext", "yes"], "argument --plaintext:"),
        (["--remote-port", "65536"], "argument --remote-port:"),
        (["--port", "5123", "--remote-port", "5123"], "argument --remote-port:"),
    ],
)
def test_ipcom_simulate_refuses_an_impossible_installation(
    simulate: list[Simulator],
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    named: str,
) -> None:
    code = cli.main(["simulate", "--port", "0", *flags])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("ipcom: ")
    assert named in err
    assert simulate == []


def test_ipcom_simulate_takes_each_bus_s_dimmers_from_the_device_map(
    simulate: list[Simulator], tmp_path: Path
) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        "lights:\n"
        "  hall: {module: 1, output: 2}\n"
        "  spots: {module: 6, output: 1, type: dimmer}\n"
        "  table: {bus: 2, module: 4, output: 1, type: dimmer}\n"
    )

    assert cli.main(["simulate", "--port", "0", "--devices", str(devices), "--buses", "2"]) == 0

    (device,) = simulate
    assert device.dimmer_modules_by_bus == {1: frozenset({6}), 2: frozenset({4})}
