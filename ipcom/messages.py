"""Encode and decode the messages of PROTOCOL.md sections 3 and 4.

Encoders return plaintext; the caller encrypts it with the session's masks.
`StreamDecoder` turns an arbitrarily segmented stream of cipher bytes into
whole decrypted messages, surviving ids it does not know and plain garbage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import cipher
from .errors import IPComAuthenticationError, IPComProtocolError
from .protocol import (
    AUTH_REJECTED,
    CONNECT_BUS_LOCK,
    CONNECT_BUS_NUMBER,
    CONNECT_COMMAND,
    CONNECT_REQUEST_LENGTH,
    CONNECT_RESPONSE_KEY_OFFSET,
    CONNECT_RESPONSE_LENGTH,
    CONNECT_STATUS_SUCCESS,
    CONNECT_VERSION,
    CREDENTIAL_FIELD_LENGTH,
    DISCONNECT_COMMAND,
    FRAME_ADDRESS_BASE,
    FRAME_BUS_NUMBER,
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


def encode_connect_request(username: str, password: str) -> bytes:
    """Return the 56-byte connect request (section 3), to be sent single-key."""
    validate_credentials(username, password)
    user_field = f"{USERNAME_PREFIX}{username}".ljust(CREDENTIAL_FIELD_LENGTH)
    password_field = f"{PASSWORD_PREFIX}{password}".ljust(CREDENTIAL_FIELD_LENGTH)
    request = (
        bytes([CONNECT_COMMAND, CONNECT_VERSION])
        + user_field.encode("ascii")
        + password_field.encode("ascii")
        + bytes([CONNECT_BUS_NUMBER, CONNECT_BUS_LOCK])
    )
    assert len(request) == CONNECT_REQUEST_LENGTH
    return request


def parse_connect_response(raw: bytes) -> bytes:
    """Return the session's public key from the raw (encrypted) connect response.

    Raises `IPComAuthenticationError` for the rejection bytes and for a
    response whose status byte is not success (PROTOCOL.md section 3: both are
    rejections, and retrying the same credentials cannot change them), and
    `IPComProtocolError` for anything else that is not a connect response.
    """
    if raw == AUTH_REJECTED:
        raise IPComAuthenticationError("the installation rejected the username or password")
    if len(raw) != CONNECT_RESPONSE_LENGTH:
        raise IPComProtocolError(
            f"connect response must be {CONNECT_RESPONSE_LENGTH} bytes, got {len(raw)}"
        )
    plain = cipher.decrypt(raw, cipher.single_key_masks())
    status = plain[0]
    if status != CONNECT_STATUS_SUCCESS:
        raise IPComAuthenticationError(
            f"the installation refused the login: its connect response has status {status}, "
            f"and only {CONNECT_STATUS_SUCCESS} means connected"
        )
    return plain[CONNECT_RESPONSE_KEY_OFFSET:]


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


def encode_set_outputs(module: int, values: Sequence[int]) -> bytes:
    """Return a set-outputs request writing all eight outputs of one module."""
    if not 1 <= module <= MODULE_COUNT:
        raise ValueError(f"module must be 1..{MODULE_COUNT}, got {module}")
    if len(values) != OUTPUTS_PER_MODULE:
        raise ValueError(f"a write carries all {OUTPUTS_PER_MODULE} outputs, got {len(values)}")
    if any(not 0 <= value <= OUTPUT_VALUE_MAX for value in values):
        raise ValueError(f"output values must be 0..{OUTPUT_VALUE_MAX}, got {list(values)}")
    data = bytes([FRAME_DATA_MARKER, *values])
    frame = (
        bytes([FRAME_BUS_NUMBER, FRAME_START, FRAME_ADDRESS_BASE + module - 1, FRAME_SOURCE])
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
    """Reassemble whole messages from cipher bytes that TCP split or glued.

    The length of a message comes from its decrypted command id. When the id is
    unknown the stream has lost its framing, so the decoder resynchronises on
    the next occurrence of the cipher bytes that start a `sync_plain` message
    (constant for the session key, PROTOCOL.md section 4). Bytes it cannot
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
