"""The wire pinned to literal bytes, on both sides.

The client and the simulator each code messages on their own; these tests
hold both to PROTOCOL.md section 4 written out byte by byte, so a layout
mistake made on both sides at once (modules swapped with outputs, a frame
field moved) fails here even though client and simulator would agree.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from client_helpers import FAST_TIMING, WAIT, RawDevice

from ipcom import cipher, messages, simulator_codec
from ipcom.client import IPComClient
from ipcom.models import StateSnapshot
from ipcom.protocol import DEVICE_MESSAGE_LENGTHS, BusType
from ipcom.simulator import DEFAULT_PUBLIC_KEY, Simulator

MASKS = cipher.dual_key_masks(DEFAULT_PUBLIC_KEY)


def distinct(module: int, output: int) -> int:
    """A value that names its output: 11 for 1.1, 18 for 1.8, 161 for 16.1, 168 for 16.8."""
    return module * 10 + output


def snapshot_by_hand(value_of: dict[tuple[int, int], int]) -> bytes:
    """PROTOCOL.md section 4: `05 01`, then module m output o at byte 2 + (m-1)*8 + (o-1)."""
    message = bytearray(130)
    message[0] = 0x05
    message[1] = 0x01
    for (module, output), value in value_of.items():
        message[2 + (module - 1) * 8 + (output - 1)] = value
    return bytes(message)


EVERY_OUTPUT = {(m, o): distinct(m, o) for m in range(1, 17) for o in range(1, 9)}


def frame_by_hand(module: int, values: tuple[int, ...]) -> bytes:
    """`04 01`, then [bus 2] 0x23 [to = 60 + m - 1] [from 0] [len 10] 0x01 v1..v8 [checksum].

    The checksum is the XOR of 0x01 and v1..v8.
    """
    checksum = 0x01
    for value in values:
        checksum ^= value
    return bytes([0x04, 0x01, 0x02, 0x23, 60 + module - 1, 0x00, 0x0A, 0x01, *values, checksum])


def test_frame_by_hand_matches_literal_bytes() -> None:
    """The helper itself, against bytes written out in full."""
    assert frame_by_hand(3, (255, 0, 0, 0, 0, 0, 0, 100)) == bytes.fromhex(
        "0401 02 23 3e 00 0a 01 ff00000000000064 9a".replace(" ", "")
    )


# The client's side


def test_client_decodes_a_snapshot_built_byte_by_byte() -> None:
    plain = snapshot_by_hand(EVERY_OUTPUT)
    decoder = messages.StreamDecoder(MASKS, DEVICE_MESSAGE_LENGTHS)

    (message,) = decoder.feed(cipher.encrypt(plain, MASKS))
    snapshot = StateSnapshot.from_message(message.plain)

    for (module, output), value in EVERY_OUTPUT.items():
        assert snapshot.get_value(module, output) == value, (module, output)
    assert snapshot.get_module_values(2) == (21, 22, 23, 24, 25, 26, 27, 28)


@pytest.mark.parametrize(
    ("module", "values", "literal"),
    [
        (1, (255, 0, 0, 0, 0, 0, 0, 0), "0401 02 23 3c 00 0a 01 ff00000000000000 fe"),
        (3, (0, 255, 0, 0, 0, 0, 0, 255), "0401 02 23 3e 00 0a 01 00ff0000000000ff 01"),
        (6, (100, 0, 0, 42, 0, 0, 0, 7), "0401 02 23 41 00 0a 01 640000 2a 000000 07 48"),
        (16, (1, 2, 3, 4, 5, 6, 7, 8), "0401 02 23 4b 00 0a 01 0102030405060708 09"),
    ],
)
def test_client_encodes_set_outputs_as_literal_bytes(
    module: int, values: tuple[int, ...], literal: str
) -> None:
    expected = bytes.fromhex(literal.replace(" ", ""))
    assert expected == frame_by_hand(module, values)
    assert messages.encode_set_outputs(module, values) == expected


class ScriptedDevice:
    """An installation written from PROTOCOL.md alone: literal handshake, hand-built snapshots.

    It answers every poll and every frame with `snapshot` and keeps each
    decrypted frame the client sends.
    """

    def __init__(self, snapshot: bytes) -> None:
        self.snapshot = snapshot
        self.frames: list[bytes] = []
        self.frame_arrived = threading.Event()
        self._device = RawDevice(lambda conn, _: self._converse(conn))
        self.port: int = self._device.port

    def close(self) -> None:
        self._device.close()

    def _read(self, conn: socket.socket, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            if self._device.stopping:
                return None
            try:
                chunk = conn.recv(count - len(data))
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        return data

    def _converse(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        if self._read(conn, 56) is None:
            return
        response = bytes([0x01, 0x02]) + b"0000" + b"\x00" + DEFAULT_PUBLIC_KEY
        conn.sendall(cipher.encrypt(response, cipher.single_key_masks()))
        while (header := self._read(conn, 2)) is not None:
            command = cipher.decrypt(header, MASKS)
            if command == b"\x04\x01":
                rest = self._read(conn, 15)
                if rest is None:
                    return
                self.frames.append(cipher.decrypt(header + rest, MASKS))
                self.frame_arrived.set()
            elif command == b"\x03\x01":
                conn.sendall(cipher.encrypt(command, MASKS))
                continue
            elif command != b"\x05\x01":
                continue
            conn.sendall(cipher.encrypt(self.snapshot, MASKS))


@pytest.fixture
def scripted() -> Iterator[ScriptedDevice]:
    device = ScriptedDevice(snapshot_by_hand(EVERY_OUTPUT))
    try:
        yield device
    finally:
        device.close()


def test_client_reads_a_hand_built_snapshot_off_the_wire(scripted: ScriptedDevice) -> None:
    client = IPComClient("127.0.0.1", scripted.port, "demo", "demo", **FAST_TIMING)
    client.start_persistent_connection()
    try:
        snapshot = client.wait_for_snapshot(WAIT)
    finally:
        client.stop_persistent_connection()
    for (module, output), value in EVERY_OUTPUT.items():
        assert snapshot.get_value(module, output) == value, (module, output)


def test_client_writes_a_literal_frame_off_the_wire(scripted: ScriptedDevice) -> None:
    """A write to 2.3 carries module 2's other outputs as the hand-built snapshot has them."""
    client = IPComClient("127.0.0.1", scripted.port, "demo", "demo", **FAST_TIMING)
    client.start_persistent_connection()
    try:
        client.wait_for_snapshot(WAIT)
        client.set_value(2, 3, 0)
        assert scripted.frame_arrived.wait(WAIT)
    finally:
        client.stop_persistent_connection()
    assert scripted.frames[0] == frame_by_hand(2, (21, 22, 0, 24, 25, 26, 27, 28))
    assert scripted.frames[0] == bytes.fromhex("0401 02 23 3d 00 0a 01 1516001819 1a1b1c 1e")


# Section 6: every row of the table, written out
#
# Each row: the installation, a module and its values, the frame the client
# must send for it, and a frame for the same module that the installation
# must refuse (another row's bus byte or base).

SECTION_6_ROWS = [
    pytest.param(
        1, BusType.MINIDO, False, 1, (255, 0, 0, 0, 0, 0, 0, 0),
        "0401 02 23 3c 00 0a 01 ff00000000000000 fe",
        "0401 01 23 1e 00 0a 01 ff00000000000000 fe",
        id="bus 1 Minido: byte 2, to 60 + m - 1",
    ),
    pytest.param(
        1, BusType.OTHER, True, 5, (0, 0, 0, 0, 0, 0, 0, 1),
        "0401 02 23 40 00 0a 01 0000000000000001 00",
        "0401 01 23 40 00 0a 01 0000000000000001 00",
        id="TriCom, bus 1 not a BiBus: byte 2, to 60 + m - 1",
    ),
    pytest.param(
        1, BusType.BIBUS, True, 5, (0, 0, 0, 0, 0, 0, 0, 1),
        "0401 02 23 22 00 0a 01 0000000000000001 00",
        "0401 01 23 22 00 0a 01 0000000000000001 00",
        id="TriCom, bus 1 a BiBus: byte 2, to 30 + m - 1",
    ),
    pytest.param(
        1, BusType.BIBUS, False, 1, (1, 2, 3, 4, 5, 6, 7, 8),
        "0401 01 23 1e 00 0a 01 0102030405060708 09",
        "0401 02 23 3c 00 0a 01 0102030405060708 09",
        id="bus 1 BiBus: byte 1, to 30 + m - 1",
    ),
    pytest.param(
        1, BusType.OTHER, False, 16, (100, 0, 0, 0, 0, 0, 0, 0),
        "0401 01 23 4b 00 0a 01 6400000000000000 65",
        "0401 02 23 4b 00 0a 01 6400000000000000 65",
        id="bus 1 any other: byte 1, to 60 + m - 1",
    ),
    pytest.param(
        2, BusType.MINIDO, False, 16, (9, 9, 9, 9, 9, 9, 9, 9),
        "0401 02 23 4b 00 0a 01 0909090909090909 01",
        "0401 01 23 4b 00 0a 01 0909090909090909 01",
        id="bus 2 Minido: byte 2, to 60 + m - 1",
    ),
    pytest.param(
        2, BusType.BIBUS, False, 16, (9, 9, 9, 9, 9, 9, 9, 9),
        "0401 02 23 2d 00 0a 01 0909090909090909 01",
        "0401 02 23 4b 00 0a 01 0909090909090909 01",
        id="bus 2 BiBus: byte 2, to 30 + m - 1",
    ),
    pytest.param(
        2, BusType.OTHER, False, 2, (255, 255, 0, 0, 0, 0, 0, 0),
        "0401 02 23 3d 00 0a 01 ffff000000000000 01",
        "0401 01 23 3d 00 0a 01 ffff000000000000 01",
        id="bus 2 other: byte 2, to 60 + m - 1",
    ),
    pytest.param(
        2, BusType.MINIDO, True, 3, (0, 255, 0, 0, 0, 0, 0, 255),
        "0401 02 23 3e 00 0a 01 00ff0000000000ff 01",
        "0401 02 23 20 00 0a 01 00ff0000000000ff 01",
        id="bus 2 of a TriCom: byte 2, to 60 + m - 1",
    ),
]  # fmt: skip
ROW_FIELDS = ("bus", "bus_type", "tricom", "module", "values", "accepted", "refused")


def literal(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(ROW_FIELDS, SECTION_6_ROWS)
def test_client_addresses_every_row_of_section_6_as_literal_bytes(
    bus: int,
    bus_type: BusType,
    tricom: bool,
    module: int,
    values: tuple[int, ...],
    accepted: str,
    refused: str,
) -> None:
    addressing = messages.BusAddressing(bus, bus_type, tricom)
    assert messages.encode_set_outputs(module, values, addressing=addressing) == literal(accepted)


@pytest.mark.parametrize(ROW_FIELDS, SECTION_6_ROWS)
def test_simulator_codec_reads_every_row_of_section_6_and_refuses_the_others(
    bus: int,
    bus_type: BusType,
    tricom: bool,
    module: int,
    values: tuple[int, ...],
    accepted: str,
    refused: str,
) -> None:
    expected = simulator_codec.addressing(bus, bus_type, tricom=tricom)
    frame = simulator_codec.read_frame(literal(accepted), expected)
    assert (frame.module, frame.values) == (module, values)
    with pytest.raises(simulator_codec.WireError):
        simulator_codec.read_frame(literal(refused), expected)


@pytest.mark.parametrize(ROW_FIELDS, SECTION_6_ROWS)
def test_simulator_applies_its_rows_frame_and_ignores_the_other(
    bus: int,
    bus_type: BusType,
    tricom: bool,
    module: int,
    values: tuple[int, ...],
    accepted: str,
    refused: str,
) -> None:
    with Simulator(bus=bus, bus_type=bus_type, tricom=tricom) as device:
        assert send_to_simulator(device, literal(refused), bus=bus) == StateSnapshot((0,) * 128)
        assert device.protocol_errors == 1
        assert device.writes() == []
        reply = send_to_simulator(device, literal(accepted), bus=bus)
    assert reply.get_module_values(module) == values
    assert device.get_module_values(module) == values


def connect_request_by_hand(bus: int) -> bytes:
    """Section 3: `01 02`, "USER:demo" and "PWD:demo" padded to 26 bytes, bus, lock 0."""
    return bytes([0x01, 0x02]) + b"USER:demo".ljust(26) + b"PWD:demo".ljust(26) + bytes([bus, 0])


def test_the_connect_request_names_bus_2_in_byte_54() -> None:
    expected = literal(
        "0102"
        "555345523a64656d6f 2020202020202020202020202020202020"
        "5057443a64656d6f 202020202020202020202020202020202020"
        "02 00"
    )
    assert len(expected) == 56
    assert expected[54] == 2
    assert connect_request_by_hand(2) == expected
    assert messages.encode_connect_request("demo", "demo", bus=2) == expected
    assert simulator_codec.read_connect_request(expected).bus == 2


# The simulator's side


def send_to_simulator(simulator: Simulator, plain: bytes, *, bus: int = 1) -> StateSnapshot:
    """Handshake literally on `bus`, send one message, return the snapshot that answers it."""
    with socket.create_connection((simulator.host, simulator.port), timeout=WAIT) as sock:
        request = connect_request_by_hand(bus)
        sock.sendall(cipher.encrypt(request, cipher.single_key_masks()))
        response = receive(sock, 135)
        key = cipher.decrypt(response, cipher.single_key_masks())[7:]
        masks = cipher.dual_key_masks(key)
        sock.sendall(cipher.encrypt(plain, masks))
        reply = cipher.decrypt(receive(sock, 130), masks)
    assert reply[:2] == b"\x05\x01"
    return StateSnapshot(tuple(reply[2:]))


def receive(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"closed after {len(data)} of {count} bytes"
        data += chunk
    return data


def test_literal_frame_changes_exactly_its_module_on_the_simulator(simulator: Simulator) -> None:
    for (module, output), value in EVERY_OUTPUT.items():
        simulator.set_output(module, output, value)
    before = simulator.snapshot()

    reply = send_to_simulator(simulator, frame_by_hand(3, (0, 255, 0, 0, 0, 0, 0, 255)))

    assert simulator.get_module_values(3) == (0, 255, 0, 0, 0, 0, 0, 255)
    for module in range(1, 17):
        if module != 3:
            assert simulator.get_module_values(module) == before.get_module_values(module)
    assert reply == simulator.snapshot()
    assert reply.values[16:24] == (0, 255, 0, 0, 0, 0, 0, 255)


@pytest.mark.parametrize("module", [1, 16])
def test_literal_frame_addresses_the_first_and_last_module(
    simulator: Simulator, module: int
) -> None:
    values = (1, 2, 3, 4, 5, 6, 7, 8)
    send_to_simulator(simulator, frame_by_hand(module, values))
    assert simulator.get_module_values(module) == values
    assert sum(simulator.snapshot().values) == sum(values)


def test_simulator_snapshot_is_laid_out_byte_by_byte(simulator: Simulator) -> None:
    for (module, output), value in EVERY_OUTPUT.items():
        simulator.set_output(module, output, value)

    reply = send_to_simulator(simulator, b"\x05\x01")

    assert b"\x05\x01" + bytes(reply.values) == snapshot_by_hand(EVERY_OUTPUT)
