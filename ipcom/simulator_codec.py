"""The device's side of the wire: what the simulator reads and writes, coded on its own.

The client's codec (`ipcom.messages`, `ipcom.models`) is what the simulator
checks, so it must not also be what the simulator speaks with: a layout
mistake shared by both sides would pass every test. These functions follow
PROTOCOL.md sections 3, 4 and 6 directly, byte by byte, and share only the
named numbers of `ipcom.protocol` and the cipher (whose known-answer vectors
are pinned) with the client. `tests/ipcom/test_wire.py` pins both sides to
literal bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import cipher
from .protocol import (
    BUSES,
    CLIENT_MESSAGE_LENGTHS,
    CONNECT_BUS_FIELD_OFFSET,
    CONNECT_COMMAND,
    CONNECT_REQUEST_LENGTH,
    CONNECT_RESPONSE_LENGTH,
    CONNECT_SHORT_RESPONSE_LENGTH,
    CONNECT_STATUS_SUCCESS,
    CONNECT_VERSION,
    CREDENTIAL_FIELD_LENGTH,
    FIRMWARE_VERSION_LENGTH,
    FRAME_ADDRESS_BASE,
    FRAME_ADDRESS_BASE_BIBUS,
    FRAME_BUS_NUMBER,
    FRAME_BUS_NUMBER_OTHER,
    FRAME_DATA_MARKER,
    FRAME_LENGTH_FIELD,
    FRAME_SOURCE,
    FRAME_START,
    HEADER_LENGTH,
    MESSAGE_VERSION,
    MODULE_COUNT,
    OUTPUTS_PER_MODULE,
    PASSWORD_PREFIX,
    PUBLIC_KEY_LENGTH,
    SET_OUTPUTS_LENGTH,
    STATUS_COMMAND,
    USERNAME_PREFIX,
    BusType,
)


@dataclass(frozen=True, slots=True)
class Addressing:
    """How set-outputs frames for one bus are addressed: bus byte and base of `to`."""

    bus_byte: int
    base: int


def addressing(bus: int, bus_type: BusType, *, tricom: bool = False) -> Addressing:
    """The bus byte and module base address of PROTOCOL.md section 6's table.

    The base is 30 on a BiBus and 60 on any other bus. Bus 2, a TriCom
    installation and a "Minido" bus 1 write bus byte 2; any other bus 1 writes 1.
    """
    if bus not in BUSES:
        raise ValueError(f"an installation has bus 1 or 2, got {bus}")
    base = FRAME_ADDRESS_BASE_BIBUS if bus_type is BusType.BIBUS else FRAME_ADDRESS_BASE
    if bus == 2 or tricom or bus_type is BusType.MINIDO:
        return Addressing(FRAME_BUS_NUMBER, base)
    return Addressing(FRAME_BUS_NUMBER_OTHER, base)


class WireError(ValueError):
    """A message the device does not act on, with the reason in words."""


@dataclass(frozen=True, slots=True)
class DeviceConnectRequest:
    """A connect request as the device reads it (PROTOCOL.md section 3)."""

    username: str
    password: str
    bus: int
    bus_lock: int

    def __repr__(self) -> str:
        return (
            f"DeviceConnectRequest(username={self.username!r}, password='**********', "
            f"bus={self.bus}, bus_lock={self.bus_lock})"
        )


def read_connect_request(plain: bytes) -> DeviceConnectRequest:
    """Read a decrypted 56-byte connect request; raise `WireError` if it is not one."""
    if len(plain) != CONNECT_REQUEST_LENGTH:
        raise WireError(f"connect request is {len(plain)} bytes, not {CONNECT_REQUEST_LENGTH}")
    if plain[0] != CONNECT_COMMAND or plain[1] != CONNECT_VERSION:
        raise WireError(f"connect request starts with {plain[:2].hex(' ')}")
    user_field = plain[HEADER_LENGTH : HEADER_LENGTH + CREDENTIAL_FIELD_LENGTH]
    password_field = plain[HEADER_LENGTH + CREDENTIAL_FIELD_LENGTH : CONNECT_BUS_FIELD_OFFSET]
    username = _credential(user_field, USERNAME_PREFIX)
    password = _credential(password_field, PASSWORD_PREFIX)
    return DeviceConnectRequest(
        username=username,
        password=password,
        bus=plain[CONNECT_BUS_FIELD_OFFSET],
        bus_lock=plain[CONNECT_BUS_FIELD_OFFSET + 1],
    )


def is_plain_connect_request(raw: bytes) -> bool:
    """Whether a connect request came without the cipher: it starts with `01 02` itself.

    Encrypted single-key, its first byte is 1 XOR K2[0], never 1 (section 2).
    """
    return raw[:HEADER_LENGTH] == bytes([CONNECT_COMMAND, CONNECT_VERSION])


def _credential(field: bytes, prefix: str) -> str:
    text = field.decode("ascii", errors="replace")
    if not text.startswith(prefix):
        raise WireError(f"connect request field does not start with {prefix!r}")
    return text[len(prefix) :].rstrip(" ")


def check_firmware(firmware: str) -> None:
    """Raise `ValueError` unless `firmware` fits the connect response: 4 ASCII characters."""
    if len(firmware) != FIRMWARE_VERSION_LENGTH or not firmware.isascii():
        raise ValueError(
            f"firmware version must be {FIRMWARE_VERSION_LENGTH} ASCII characters, got {firmware!r}"
        )


def connect_response(status: int, firmware: str, public_key: bytes) -> bytes:
    """The 135-byte connect response plaintext: status, version, firmware, 0, key."""
    check_firmware(firmware)
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise ValueError(f"public key must be {PUBLIC_KEY_LENGTH} bytes, got {len(public_key)}")
    response = bytes([status, CONNECT_VERSION]) + firmware.encode("ascii") + b"\x00" + public_key
    assert len(response) == CONNECT_RESPONSE_LENGTH
    return response


def refusal_response(firmware: str, status: int = 0) -> bytes:
    """A connect response that says "not connected": a status other than 1, and no key."""
    if status == CONNECT_STATUS_SUCCESS or not 0 <= status <= 0xFF:
        raise ValueError(f"a refusal's status is a byte other than {CONNECT_STATUS_SUCCESS}")
    return connect_response(status, firmware, bytes(PUBLIC_KEY_LENGTH))


def success_response(firmware: str, public_key: bytes) -> bytes:
    """The connect response that opens a dual-key session under `public_key`."""
    return connect_response(CONNECT_STATUS_SUCCESS, firmware, public_key)


def short_response(status: int) -> bytes:
    """The 3-byte short form of the connect response: the status, version 2, and 0.

    PROTOCOL.md section 3 knows only its byte 0; the version and the 0 after
    it are the simulator's choice. With status 1 the session is plaintext.
    """
    if not 0 <= status <= 0xFF:
        raise ValueError(f"a connect status is a byte, got {status}")
    response = bytes([status, CONNECT_VERSION, 0])
    assert len(response) == CONNECT_SHORT_RESPONSE_LENGTH
    return response


def snapshot_message(value_of: Sequence[Sequence[int]]) -> bytes:
    """A status snapshot: `value_of[m - 1][o - 1]` at byte `2 + (m - 1) * 8 + (o - 1)`."""
    message = bytearray(HEADER_LENGTH + MODULE_COUNT * OUTPUTS_PER_MODULE)
    message[0] = STATUS_COMMAND
    message[1] = MESSAGE_VERSION
    for module in range(1, MODULE_COUNT + 1):
        for output in range(1, OUTPUTS_PER_MODULE + 1):
            position = HEADER_LENGTH + (module - 1) * OUTPUTS_PER_MODULE + (output - 1)
            message[position] = value_of[module - 1][output - 1]
    return bytes(message)


@dataclass(frozen=True, slots=True)
class Frame:
    """A valid set-outputs bus frame: the module it addresses and its eight values."""

    module: int
    values: tuple[int, ...]


def read_frame(plain: bytes, expected: Addressing) -> Frame:
    """Read a decrypted set-outputs message; raise `WireError` naming what is wrong.

    Layout: `04 01 [bus] 23 [to] [from] [length] 01 v1..v8 [xor of 01 v1..v8]`.
    """
    if len(plain) != SET_OUTPUTS_LENGTH:
        raise WireError(f"set-outputs message is {len(plain)} bytes, not {SET_OUTPUTS_LENGTH}")
    frame = plain[HEADER_LENGTH:]
    bus, start, target, source, length, marker = frame[:6]
    values = tuple(frame[6 : 6 + OUTPUTS_PER_MODULE])
    checksum = frame[6 + OUTPUTS_PER_MODULE]
    if bus != expected.bus_byte:
        raise WireError(f"frame for bus byte {bus}, this bus is {expected.bus_byte}")
    if start != FRAME_START:
        raise WireError(f"frame starts with {start:#04x}, not {FRAME_START:#04x}")
    module = target - expected.base + 1
    if not 1 <= module <= MODULE_COUNT:
        raise WireError(
            f"frame addresses {target}, outside {expected.base}..{expected.base + MODULE_COUNT - 1}"
        )
    if source != FRAME_SOURCE:
        raise WireError(f"frame comes from address {source}, not {FRAME_SOURCE}")
    if length != FRAME_LENGTH_FIELD:
        raise WireError(f"frame length field is {length}, not {FRAME_LENGTH_FIELD}")
    if marker != FRAME_DATA_MARKER:
        raise WireError(f"frame data starts with {marker:#04x}, not {FRAME_DATA_MARKER:#04x}")
    expected_checksum = marker
    for value in values:
        expected_checksum ^= value
    if checksum != expected_checksum:
        raise WireError(f"frame checksum is {checksum:#04x}, not {expected_checksum:#04x}")
    return Frame(module=module, values=values)


@dataclass(frozen=True, slots=True)
class Request:
    """One whole message from the client, decrypted: its command id and its plaintext."""

    command: int
    plain: bytes


class RequestReader:
    """Cut the client's byte stream into whole messages (PROTOCOL.md section 4).

    The device's own framing, not the client's decoder: a message's length
    comes from its decrypted command id (`CLIENT_MESSAGE_LENGTHS`). An unknown
    id or version means the stream lost its framing; the reader then drops
    bytes up to the next place where a known message could start. Every
    message restarts the cipher walk (section 2), so the two cipher bytes
    that start each kind of message are constant for the session key: those
    are what it looks for. Since no client message is longer than
    `SET_OUTPUTS_LENGTH`, the buffer never holds more than one unfinished
    message between feeds. Not thread-safe: one connection thread owns it.
    """

    def __init__(self, masks: cipher.MaskTable) -> None:
        self._masks = masks
        self._starts = frozenset(
            cipher.encrypt(bytes([command, MESSAGE_VERSION]), masks)
            for command in CLIENT_MESSAGE_LENGTHS
        )
        self._buffer = bytearray()
        self.unknown_messages = 0
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> list[Request]:
        """Add received bytes; return the messages they complete, in order."""
        self._buffer += data
        requests: list[Request] = []
        while len(self._buffer) >= HEADER_LENGTH:
            command, version = cipher.decrypt(bytes(self._buffer[:HEADER_LENGTH]), self._masks)
            length = CLIENT_MESSAGE_LENGTHS.get(command)
            if length is None or version != MESSAGE_VERSION:
                self.unknown_messages += 1
                self._resynchronise()
                continue
            if len(self._buffer) < length:
                break
            raw = bytes(self._buffer[:length])
            del self._buffer[:length]
            requests.append(Request(command, cipher.decrypt(raw, self._masks)))
        return requests

    @property
    def pending_command(self) -> int | None:
        """The command id of the message whose first bytes wait for the rest, if any.

        The first cipher byte alone decrypts to the command id (section 2),
        so the device knows what is coming before the message is whole.
        """
        if not self._buffer:
            return None
        return cipher.decrypt(bytes(self._buffer[:1]), self._masks)[0]

    def _resynchronise(self) -> None:
        """Drop bytes up to the next place a known message could start."""
        buffer = self._buffer
        found = [position for start in self._starts if (position := buffer.find(start, 1)) >= 0]
        if found:
            drop = min(found)
        elif any(start[0] == buffer[-1] for start in self._starts):
            drop = len(buffer) - 1
        else:
            drop = len(buffer)
        del buffer[:drop]
        self.dropped_bytes += drop
