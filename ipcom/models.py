"""Value types shared by the client, the simulator and the integration."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from .errors import IPComProtocolError
from .protocol import (
    DIMMER_MAX,
    DIMMER_MIN,
    HEADER_LENGTH,
    MESSAGE_VERSION,
    MODULE_COUNT,
    OUTPUT_VALUE_MAX,
    OUTPUTS_PER_MODULE,
    RELAY_OFF,
    RELAY_ON,
    SNAPSHOT_LENGTH,
    SNAPSHOT_PAYLOAD_LENGTH,
    STATUS_COMMAND,
)


class OutputAddress(NamedTuple):
    """One output on the bus."""

    module: int
    output: int


def validate_module(module: int) -> None:
    """Raise `ValueError` unless `module` is a bus module number (1..16)."""
    if isinstance(module, bool) or not isinstance(module, int):
        raise TypeError(f"module must be an int, got {type(module).__name__}")
    if not 1 <= module <= MODULE_COUNT:
        raise ValueError(f"module must be 1..{MODULE_COUNT}, got {module}")


def validate_address(module: int, output: int) -> None:
    """Raise `ValueError` unless (module, output) addresses a real output."""
    validate_module(module)
    if isinstance(output, bool) or not isinstance(output, int):
        raise TypeError(f"output must be an int, got {type(output).__name__}")
    if not 1 <= output <= OUTPUTS_PER_MODULE:
        raise ValueError(f"output must be 1..{OUTPUTS_PER_MODULE}, got {output}")


def validate_value(value: int) -> None:
    """Raise `ValueError` unless `value` fits an output byte (0..255)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, got {type(value).__name__}")
    if not 0 <= value <= OUTPUT_VALUE_MAX:
        raise ValueError(f"value must be 0..{OUTPUT_VALUE_MAX}, got {value}")


def validate_percent(percent: int) -> None:
    """Raise `ValueError` unless `percent` is a dimmer level (0..100)."""
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise TypeError(f"dimmer level must be an int, got {type(percent).__name__}")
    if not DIMMER_MIN <= percent <= DIMMER_MAX:
        raise ValueError(f"dimmer level must be {DIMMER_MIN}..{DIMMER_MAX} %, got {percent}")


def relay_value(on: bool) -> int:
    """The raw output value that switches a relay on or off (255 or 0)."""
    return RELAY_ON if on else RELAY_OFF


def value_is_on(value: int) -> bool:
    """Whether a raw output value means on: any non-zero value counts (section 4)."""
    return value != RELAY_OFF


def value_index(module: int, output: int) -> int:
    """Index of an output in the 128 snapshot values (section 4, snapshot layout)."""
    return (module - 1) * OUTPUTS_PER_MODULE + (output - 1)


@dataclass(frozen=True, slots=True)
class OutputChange:
    """One output whose value differs between two snapshots."""

    module: int
    output: int
    old: int
    new: int


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """The 128 output values of an installation at one moment.

    Immutable, so it can be handed to any thread without a copy.
    """

    values: tuple[int, ...]
    timestamp: float = field(default_factory=time.time, compare=False)

    def __post_init__(self) -> None:
        if len(self.values) != SNAPSHOT_PAYLOAD_LENGTH:
            raise ValueError(
                f"a snapshot holds {SNAPSHOT_PAYLOAD_LENGTH} values, got {len(self.values)}"
            )

    @classmethod
    def empty(cls) -> StateSnapshot:
        """A snapshot with every output off."""
        return cls((RELAY_OFF,) * SNAPSHOT_PAYLOAD_LENGTH)

    @classmethod
    def from_message(cls, plain: bytes, timestamp: float | None = None) -> StateSnapshot:
        """Decode a decrypted status snapshot message (130 bytes)."""
        if len(plain) != SNAPSHOT_LENGTH:
            raise IPComProtocolError(
                f"status snapshot must be {SNAPSHOT_LENGTH} bytes, got {len(plain)}"
            )
        if plain[0] != STATUS_COMMAND or plain[1] != MESSAGE_VERSION:
            raise IPComProtocolError(
                f"status snapshot starts with {plain[:2].hex(' ')}, "
                f"expected {STATUS_COMMAND:02x} {MESSAGE_VERSION:02x}"
            )
        return cls(
            tuple(plain[HEADER_LENGTH:]),
            time.time() if timestamp is None else timestamp,
        )

    @property
    def timestamp_iso(self) -> str:
        """The moment the snapshot arrived, ISO 8601 in UTC."""
        return datetime.fromtimestamp(self.timestamp, UTC).isoformat(timespec="milliseconds")

    def get_value(self, module: int, output: int) -> int:
        """Raw value of one output: 0/255 for a relay, 0..100 for a dimmer."""
        validate_address(module, output)
        return self.values[value_index(module, output)]

    def get_module_values(self, module: int) -> tuple[int, ...]:
        """The eight output values of one module."""
        validate_module(module)
        start = value_index(module, 1)
        return self.values[start : start + OUTPUTS_PER_MODULE]

    def module_values(self) -> dict[int, tuple[int, ...]]:
        """The eight output values of every module, keyed by module number (1..16)."""
        return {module: self.get_module_values(module) for module in range(1, MODULE_COUNT + 1)}

    def is_on(self, module: int, output: int) -> bool:
        """Whether an output is on: any non-zero value counts (section 4)."""
        return value_is_on(self.get_value(module, output))

    def with_value(self, module: int, output: int, value: int) -> StateSnapshot:
        """A copy with one output changed."""
        validate_address(module, output)
        validate_value(value)
        values = list(self.values)
        values[value_index(module, output)] = value
        return StateSnapshot(tuple(values), self.timestamp)

    def compare(self, other: StateSnapshot | None) -> list[OutputChange]:
        """The outputs whose value differs from `other` (from all-off if None)."""
        previous = other.values if other is not None else (RELAY_OFF,) * SNAPSHOT_PAYLOAD_LENGTH
        changes: list[OutputChange] = []
        for index, (old, new) in enumerate(zip(previous, self.values, strict=True)):
            if old != new:
                module, output = divmod(index, OUTPUTS_PER_MODULE)
                changes.append(OutputChange(module + 1, output + 1, old, new))
        return changes


class ConnectionState(enum.StrEnum):
    """Where the client's link to the installation stands."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """A change of connection state, with the reason in words."""

    state: ConnectionState
    reason: str
    timestamp: float = field(default_factory=time.time)
    authentication_failed: bool = False
    """True when the installation rejected the credentials: retrying cannot help."""


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """Counters a client keeps for diagnostics and the bench."""

    snapshots_received: int
    polls_sent: int
    writes_sent: int
    writes_confirmed: int
    writes_superseded: int
    writes_abandoned: int
    reconnects: int
    dropped_bytes: int
    unknown_messages: int
    last_error: str | None
    connected_since: float | None
    firmware_version: str | None = None
    """The installation's firmware as its newest connect response named it (None: unknown)."""
    via_remote: bool = False
    """Whether the session in use runs on the installation's remote address."""
    address: str = ""
    """The "host:port" in use, or the local one while not connected ("": not told)."""
    local_retry_delay: float | None = None
    """Seconds between tries of the local address while on the remote one; None without one."""
    poll_round_trip: float | None = None
    """Median seconds from a status poll to its snapshot over the session's latest answered polls.

    None while not connected, and until the session's first poll is answered.
    """
