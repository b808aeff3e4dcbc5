"""Encode and decode the messages of PROTOCOL.md sections 3 and 4.

Encoders return plaintext; the caller encrypts it with the session's masks
(zero masks in a plaintext session). `StreamDecoder` turns an arbitrarily
segmented stream of received bytes into whole decrypted messages, surviving
ids it does not know and plain garbage. `BusAddressing` says where a
connection's set-outputs frames go (section 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import cipher
from .errors import IPComAuthenticationError, IPComProtocolError
from .protocol import (
    AUTH_REJECTED,
    BUSES,
    CONNECT_BUS_LOCK,
    CONNECT_COMMAND,
    CONNECT_REQUEST_LENGTH,
    CONNECT_RESPONSE_KEY_OFFSET,
    CONNECT_RESPONSE_LENGTH,
    CONNECT_SHORT_RESPONSE_LENGTH,
    CONNECT_STATUS_SUCCESS,
    CONNECT_VERSION,
    CREDENTIAL_FIELD_LENGTH,
    DEFAULT_BUS,
    DISCONNECT_COMMAND,
    FIRMWARE_VERSION_LENGTH,
    FIRMWARE_VERSION_OFFSET,
    FRAME_ADDRESS_BASE,
    FRAME_ADDRESS_BASE_BIBUS,
    FRAME_BUS_NUMBER,
    FRAME_BUS_NUMBER_OTHER,
    FRAME_DATA_MARKER,
    FRAME_LENGTH_FIELD,
    FRAME_SOURCE,
    FRAME_START,
    HEADER_LENGTH,
    KEEPALIVE_COMMAND,
    MAX_PASSWORD_LENGTH,
    MAX_USERNAME_LENGTH,
    MESSAGE_VERSION,
    MODULE_COUNT,
    OUTPUT_VALUE_MAX,
    OUTPUTS_PER_MODULE,
    PASSWORD_PREFIX,
    SET_OUTPUTS_COMMAND,
    STATUS_COMMAND,
    USERNAME_PREFIX,
    BusType,
)

DEFAULT_MAX_BUFFER = 4096
"""How many undecoded bytes a `StreamDecoder` keeps at most (about 30 snapshots)."""


def _check_credential(kind: str, value: str, max_length: int) -> None:
    if not value:
        raise ValueError(f"the {kind} must not be empty")
    if len(value) > max_length:
        raise ValueError(
            f"the {kind} is {len(value)} characters long; "
            f"the installation accepts at most {max_length}"
        )
    if not all(" " <= char <= "~" for char in value):
        raise ValueError(f"the {kind} may contain printable ASCII characters only")


def validate_credentials(username: str, password: str) -> None:
    """Raise `ValueError` naming the problem if the protocol cannot carry these.

    The message never repeats the password itself.
    """
    _check_credential("username", username, MAX_USERNAME_LENGTH)
    _check_credential("password", password, MAX_PASSWORD_LENGTH)


def tricom_remote_username(serial: str, username: str) -> str:
    """Return the username of a remote login to a TriCom installation: serial, then username.

    PROTOCOL.md section 3: the two go without a separator into the one
    username field, so it is their sum that must fit; the error names both
    lengths, since either may be the one to shorten.
    """
    combined = serial + username
    if len(combined) > MAX_USERNAME_LENGTH:
        raise ValueError(
            f"a TriCom remote login sends the serial number and the username as one username "
            f"of at most {MAX_USERNAME_LENGTH} characters; the serial number is {len(serial)} "
            f"and the username {len(username)} characters long, {len(combined)} together"
        )
    _check_credential("serial number", serial, MAX_USERNAME_LENGTH)
    _check_credential("username", username, MAX_USERNAME_LENGTH)
    return combined


def _check_bus(bus: int) -> None:
    if bus not in BUSES:
        raise ValueError(f"an installation has bus {BUSES[0]} or {BUSES[1]}, got {bus}")


def encode_connect_request(username: str, password: str, *, bus: int = DEFAULT_BUS) -> bytes:
    """Return the 56-byte connect request (section 3) naming `bus` in byte 54.

    The caller sends it single-key, or plain on the second connection after a
    NonSecure reply.
    """
    validate_credentials(username, password)
    _check_bus(bus)
    user_field = f"{USERNAME_PREFIX}{username}".ljust(CREDENTIAL_FIELD_LENGTH)
    password_field = f"{PASSWORD_PREFIX}{password}".ljust(CREDENTIAL_FIELD_LENGTH)
    request = (
        bytes([CONNECT_COMMAND, CONNECT_VERSION])
        + user_field.encode("ascii")
        + password_field.encode("ascii")
        + bytes([bus, CONNECT_BUS_LOCK])
    )
    assert len(request) == CONNECT_REQUEST_LENGTH
    return request


@dataclass(frozen=True, slots=True)
class ConnectResponse:
    """What a connect response with status 1 opens (PROTOCOL.md section 3)."""

    firmware_version: str | None
    """The installation's four firmware characters; the short form carries none."""
    public_key: bytes
    """The key of the dual-key session; empty for the short form, whose session is plaintext."""

    @property
    def plaintext(self) -> bool:
        """Whether the response asks for a session without the cipher (an empty key)."""
        return not self.public_key


def decode_connect_response(raw: bytes, masks: cipher.MaskTable) -> ConnectResponse:
    """Read the answer to a connect request as it came off the wire, deciphered with `masks`.

    `masks` are single-key for an encrypted connection and the plaintext
    masks for the connection after a NonSecure reply. Both forms have the
    status in byte 0; the 135-byte one then the version, the firmware
    version, an unused byte and the key. Raises `IPComAuthenticationError`
    for the rejection bytes and for a status other than success (PROTOCOL.md
    section 3: both are rejections, and retrying the same credentials cannot
    change them), and `IPComProtocolError` for anything that is not a
    connect response.
    """
    if raw == AUTH_REJECTED:
        raise IPComAuthenticationError("the installation rejected the username or password")
    if len(raw) not in (CONNECT_RESPONSE_LENGTH, CONNECT_SHORT_RESPONSE_LENGTH):
        raise IPComProtocolError(
            f"connect response must be {CONNECT_RESPONSE_LENGTH} bytes "
            f"(or {CONNECT_SHORT_RESPONSE_LENGTH} in its short form), got {len(raw)}"
        )
    plain = cipher.decrypt(raw, masks)
    status = plain[0]
    if status != CONNECT_STATUS_SUCCESS:
        raise IPComAuthenticationError(
            f"the installation refused the login: its connect response has status {status}, "
            f"and only {CONNECT_STATUS_SUCCESS} means connected"
        )
    if len(plain) == CONNECT_SHORT_RESPONSE_LENGTH:
        return ConnectResponse(firmware_version=None, public_key=b"")
    firmware = plain[FIRMWARE_VERSION_OFFSET : FIRMWARE_VERSION_OFFSET + FIRMWARE_VERSION_LENGTH]
    return ConnectResponse(
        # Shown to people only: a byte that is not ASCII must not cost the session.
        firmware_version=firmware.decode("ascii", errors="replace"),
        public_key=plain[CONNECT_RESPONSE_KEY_OFFSET:],
    )


def encode_status_request() -> bytes:
    """Return the status poll (ExoOutputs request)."""
    return bytes([STATUS_COMMAND, MESSAGE_VERSION])


def encode_keepalive() -> bytes:
    """Return the keep-alive request; the device answers with the same two bytes."""
    return bytes([KEEPALIVE_COMMAND, MESSAGE_VERSION])


def encode_disconnect_request() -> bytes:
    """Return the disconnect request a client sends before closing."""
    return bytes([DISCONNECT_COMMAND, MESSAGE_VERSION])


def _checksum(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


@dataclass(frozen=True, slots=True)
class BusAddressing:
    """Where a connection's set-outputs frames go: the bus byte and the `to` address base.

    PROTOCOL.md section 6: the installation's configuration decides them,
    never the module number: the bus the connection serves (also byte 54 of
    its connect request), that bus's type, and whether the installation is a
    TriCom. The default is the captured installation's: bus 1 "Minido", bus
    byte 2, base 60. A `bus_type` given as its string value is accepted.
    """

    bus: int = DEFAULT_BUS
    bus_type: BusType = BusType.MINIDO
    tricom: bool = False

    def __post_init__(self) -> None:
        _check_bus(self.bus)
        object.__setattr__(self, "bus_type", BusType(self.bus_type))

    @property
    def base(self) -> int:
        """The `to` address of module 1: 30 on a BiBus, 60 on any other bus."""
        if self.bus_type is BusType.BIBUS:
            return FRAME_ADDRESS_BASE_BIBUS
        return FRAME_ADDRESS_BASE

    @property
    def bus_byte(self) -> int:
        """The frame's first byte, row by row of the table in section 6."""
        second_bus = BUSES[1]
        if self.bus == second_bus or self.bus_type is BusType.MINIDO or self.tricom:
            return FRAME_BUS_NUMBER
        return FRAME_BUS_NUMBER_OTHER

    def to_address(self, module: int) -> int:
        """The frame's `to` byte for `module` (1..16) on this bus."""
        if not 1 <= module <= MODULE_COUNT:
            raise ValueError(f"module must be 1..{MODULE_COUNT}, got {module}")
        return self.base + module - 1


def encode_set_outputs(
    module: int, values: Sequence[int], *, addressing: BusAddressing = BusAddressing()
) -> bytes:
    """Return a set-outputs request writing all eight outputs of one module.

    `addressing` is the connection's bus (section 6); the default writes what
    the captured installation expects.
    """
    to = addressing.to_address(module)
    if len(values) != OUTPUTS_PER_MODULE:
        raise ValueError(f"a write carries all {OUTPUTS_PER_MODULE} outputs, got {len(values)}")
    if any(not 0 <= value <= OUTPUT_VALUE_MAX for value in values):
        raise ValueError(f"output values must be 0..{OUTPUT_VALUE_MAX}, got {list(values)}")
    data = bytes([FRAME_DATA_MARKER, *values])
    frame = (
        bytes([addressing.bus_byte, FRAME_START, to, FRAME_SOURCE])
        + bytes([FRAME_LENGTH_FIELD])
        + data
        + bytes([_checksum(data)])
    )
    return bytes([SET_OUTPUTS_COMMAND, MESSAGE_VERSION]) + frame


@dataclass(frozen=True, slots=True)
class Message:
    """One whole decrypted message from the stream."""

    command: int
    version: int
    plain: bytes


class StreamDecoder:
    """Reassemble whole messages from received bytes that TCP split or glued.

    The length of a message comes from its decrypted command id. When the id is
    unknown the stream has lost its framing, so the decoder resynchronises on
    the next occurrence of the cipher bytes that start a `sync_plain` message
    (constant for the session key, PROTOCOL.md section 4; the plain bytes
    themselves under the plaintext masks). Bytes it cannot
    place are dropped and counted, and the buffer never exceeds `max_buffer`.
    Not thread-safe: one receive loop owns it.
    """

    def __init__(
        self,
        masks: cipher.MaskTable,
        lengths: Mapping[int, int],
        sync_plain: bytes = bytes([STATUS_COMMAND, MESSAGE_VERSION]),
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        self._masks = masks
        self._lengths = dict(lengths)
        self._sync = cipher.encrypt(sync_plain, masks)
        self._max_buffer = max(max_buffer, *self._lengths.values())
        self._buffer = bytearray()
        self.dropped_bytes = 0
        self.unknown_messages = 0

    @property
    def buffered(self) -> int:
        """How many bytes wait for the rest of their message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return the messages they complete, in order."""
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= HEADER_LENGTH:
            header = cipher.decrypt(bytes(self._buffer[:HEADER_LENGTH]), self._masks)
            command, version = header
            length = self._lengths.get(command)
            if length is None or version != MESSAGE_VERSION:
                self.unknown_messages += 1
                self._resynchronise()
                continue
            if len(self._buffer) < length:
                break
            raw = bytes(self._buffer[:length])
            del self._buffer[:length]
            messages.append(Message(command, version, cipher.decrypt(raw, self._masks)))
        self._bound_buffer()
        return messages

    def _resynchronise(self) -> None:
        """Drop bytes up to the next place a sync message could start."""
        position = self._buffer.find(self._sync, 1)
        if position < 0:
            position = len(self._buffer)
            for keep in range(len(self._sync) - 1, 0, -1):
                if position - keep >= 1 and self._buffer.endswith(self._sync[:keep]):
                    position -= keep
                    break
        self._drop(position)

    def _bound_buffer(self) -> None:
        excess = len(self._buffer) - self._max_buffer
        if excess > 0:
            self._drop(excess)

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self.dropped_bytes += count
