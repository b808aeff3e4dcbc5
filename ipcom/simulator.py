"""A simulated IPCom installation on a TCP socket, speaking PROTOCOL.md.

The demo, the bench and every test that exercises the client run against this
device, so it speaks exactly the bytes a real installation does: the
single-key handshake, then dual-key messages in both directions. On top of
the protocol it offers what a test needs and a real device cannot: wall
switch presses on demand, a record of every write, counters, waits that block
until something happened, and fault knobs (slow, split, glued or unknown
replies, a hung device, dropped connections, a slow bus, a new key for every
connection).

It is an independent device, not the client's mirror: it reads and writes the
wire with its own codec (`ipcom.simulator_codec`), and it holds the client to
PROTOCOL.md where the text is strict:

- every set-outputs frame is answered with a status snapshot taken after the
  frame took effect, the optional bus latency included (section 4);
- a frame whose bus byte, `to` address, length field, data marker or checksum
  is wrong for the simulated bus changes nothing; it is logged, counted as a
  protocol error, and still answered with a snapshot, since the device
  answers every request (sections 4 and 6);
- a dimmer output holds 0..100 (section 4): a frame value above 100 for a
  dimmer output is clamped to 100 and logged. Clamping rather than ignoring
  keeps the frame's other seven outputs, and any non-zero value already means
  "on" (section 4), so a client that writes a relay's 255 gets a light at full;
- the connect request must name the simulated bus in byte 54 and bus lock 0
  in byte 55 (sections 3 and 6); otherwise the device answers a connect
  response with status 0 ("not connected", the vendor's reading of any status
  but 1) and closes. Rejected credentials get the observed raw `7e e3`.

Threads: one accepts connections, one serves each connection, and an optional
one plays a household pressing switches. All of them wait on events with short
timeouts, so `Simulator.stop` is prompt and joins every one of them.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

from . import cipher, messages, simulator_codec as codec
from .models import StateSnapshot, validate_address, validate_module, validate_value
from .protocol import (
    AUTH_REJECTED,
    CLIENT_MESSAGE_LENGTHS,
    CONNECT_BUS_LOCK,
    CONNECT_REQUEST_LENGTH,
    DIMMER_MAX,
    DISCONNECT_COMMAND,
    KEEPALIVE_COMMAND,
    MESSAGE_VERSION,
    MODULE_COUNT,
    OUTPUTS_PER_MODULE,
    PUBLIC_KEY_LENGTH,
    RELAY_OFF,
    RELAY_ON,
    SET_OUTPUTS_COMMAND,
    SOCKET_TIMEOUT,
    STATUS_COMMAND,
    UNKNOWN_DEVICE_COMMANDS,
)
from .simulator_codec import BusType

_LOGGER = logging.getLogger(__name__)
_C = TypeVar("_C", bound=Callable[..., None])


def _default_public_key() -> bytes:
    """A fixed key whose status poll encrypts to `79 db`, like the captured installation.

    Only PUB[0] and PUB[120] take part in encrypting `05 01` (PROTOCOL.md
    section 2); the other bytes follow the test vectors' pattern.
    """
    key = bytearray((7 * index + 3) % 256 for index in range(PUBLIC_KEY_LENGTH))
    key[0] = 0x2F
    key[120] = 0x06
    return bytes(key)


DEFAULT_PUBLIC_KEY = _default_public_key()

DEFAULT_USERNAME = "demo"
DEFAULT_PASSWORD = "demo"
DEFAULT_DIMMER_LEVEL = DIMMER_MAX
"""The level a dimmer switches on to when a press finds no earlier level."""
DEFAULT_FIRMWARE_VERSION = "0000"
"""What the connect response reports as the IPCom firmware (PROTOCOL.md section 3)."""
MAX_BUS_LATENCY = 5.0
"""Longest bus latency the simulator accepts: beyond it a client takes the link for dead."""
SNAPSHOT_LOG_LENGTH = 16
"""Snapshots per connection whose timing a `ReceivedWrite` carries."""

UNKNOWN_COMMAND = UNKNOWN_DEVICE_COMMANDS[0]
UNKNOWN_MESSAGE_PLAIN = bytes([UNKNOWN_COMMAND, MESSAGE_VERSION, 0, 0x10, 0x20, 0x30, 0x40, 0x50])
"""What `Simulator.inject_unknown` sends, encrypted, when it is given no bytes."""

MAX_RECORDED_WRITES = 10_000
"""Writes kept for `Simulator.writes`, so a long soak cannot grow memory without bound."""

_TICK = 0.2
"""Accept and receive timeout: how soon every loop notices a shutdown or a held reply."""
_GLUE_FLUSH_AFTER = 1.0
"""A reply held for gluing goes out alone after this long without a next reply."""
_CHUNK_PAUSE = 0.005
"""Pause between the chunks of a split reply, so TCP really sends them apart."""
_RECV_SIZE = 4096
_QUEUED_READ_BOUND = 0.002
"""A receive after a sleep that returns sooner found bytes that had queued meanwhile."""
_JOIN_TIMEOUT = 5.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class SentSnapshot:
    """When a snapshot was taken (its values read) and when its last byte was sent.

    Both on the `time.monotonic` clock; `connection` numbers the connection.
    """

    taken_at: float
    sent_at: float
    connection: int = 0


@dataclass(frozen=True, slots=True)
class ReceivedWrite:
    """A set-outputs frame the simulator applied: one module, the frame's eight values.

    `values` are the frame's bytes; a dimmer stores them clamped to 0..100.
    `connection` numbers the connection it came on; `received_at` and
    `applied_at` (`time.monotonic`) are when it was read and when it took
    effect, and `snapshots` are the last snapshots that connection had sent
    before the frame arrived, oldest first, so an audit can tell what the
    client could have known when it built the frame. `arrival_known` is False
    when the frame had waited in the socket while the simulator was busy (a
    reply delay, the bus latency): it was read later than the client sent it,
    so its read time says nothing about what the client knew.
    """

    module: int
    values: tuple[int, ...]
    timestamp: float
    connection: int = 0
    received_at: float = 0.0
    applied_at: float = 0.0
    snapshots: tuple[SentSnapshot, ...] = ()
    arrival_known: bool = True


class _SessionClosedError(Exception):
    """The connection is gone, or the simulator is stopping; the session ends."""


@dataclass(eq=False)
class _Session:
    """One client connection. Only its own thread reads or writes the socket."""

    sock: socket.socket
    peer: str
    number: int = 0
    closing: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    established: bool = False
    masks: cipher.MaskTable = b""
    received: bytearray = field(default_factory=bytearray)
    held: bytes = b""
    held_since: float = 0.0
    held_taken: list[float] = field(default_factory=list)
    glued_prefix: bytes = b""
    outbox: list[bytes] = field(default_factory=list)
    read_waited: bool = True
    """Whether the last receive's bytes arrived when read (not queued while the thread slept)."""
    slept: bool = False
    """Whether the thread slept (reply delay, bus latency) since its last receive."""
    snapshots: deque[SentSnapshot] = field(
        default_factory=lambda: deque(maxlen=SNAPSHOT_LOG_LENGTH)
    )

    def close(self) -> None:
        """Ask the session to end and wake its thread from a blocking receive."""
        self.closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class Simulator:
    """A simulated IPCom installation: 16 modules x 8 outputs behind a TCP port.

    Thread-safe: every public method may be called from any thread. Several
    clients may be connected at once; they share one installation state.

    The simulated installation is one bus: `bus` (1 or 2, named in byte 54 of
    every connect request) of type `bus_type`, in a TriCom installation when
    `tricom`; together they decide the bus byte and base address its frames
    must carry (PROTOCOL.md section 6). The default is the captured
    installation: bus 1 "Minido", bus byte 2, base 60. With
    `new_key_per_connection` every handshake hands out a fresh random public
    key instead of `public_key`, so a client that keeps an old session's key
    is not understood. `bus_latency` seconds pass between a frame's arrival
    and its effect; its snapshot answer follows the effect.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        *,
        public_key: bytes = DEFAULT_PUBLIC_KEY,
        dimmer_modules: Iterable[int] = (),
        bus: int = 1,
        bus_type: BusType = BusType.MINIDO,
        tricom: bool = False,
        new_key_per_connection: bool = False,
        bus_latency: float = 0.0,
        firmware_version: str = DEFAULT_FIRMWARE_VERSION,
    ) -> None:
        messages.validate_credentials(username, password)
        if len(public_key) != PUBLIC_KEY_LENGTH:
            raise ValueError(f"public key must be {PUBLIC_KEY_LENGTH} bytes, got {len(public_key)}")
        dimmers = frozenset(dimmer_modules)
        for module in dimmers:
            validate_module(module)
        self._addressing = codec.addressing(bus, BusType(bus_type), tricom=tricom)
        self._connect_response = codec.success_response(firmware_version, public_key)
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._public_key = bytes(public_key)
        self._dual_masks = cipher.dual_key_masks(self._public_key)
        self._dimmer_modules = dimmers
        self._bus = bus
        self._new_key_per_connection = new_key_per_connection
        self._firmware_version = firmware_version

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._outputs = [[RELAY_OFF] * OUTPUTS_PER_MODULE for _ in range(MODULE_COUNT)]
        self._last_levels: dict[tuple[int, int], int] = {}
        self._writes: deque[ReceivedWrite] = deque(maxlen=MAX_RECORDED_WRITES)
        self._write_callbacks: list[Callable[[ReceivedWrite], None]] = []
        self._snapshot_callbacks: list[Callable[[SentSnapshot], None]] = []

        self._polls_received = 0
        self._connections_accepted = 0
        self._auth_failures = 0
        self._keepalives_received = 0
        self._disconnects_received = 0
        self._protocol_errors = 0
        self._ignored_messages = 0

        self._reply_delay = 0.0
        self._bus_latency = 0.0
        self._answer_frames = True
        self._chunk_size: int | None = None
        self._glue_replies = False
        self._frozen = False

        self._shutdown = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._sessions: set[_Session] = set()
        self._session_count = 0
        self._activity_stop = threading.Event()
        self._activity_thread: threading.Thread | None = None
        self.bus_latency = bus_latency

    # Life cycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """The address the simulator listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before).

        A simulator started on port 0 keeps its ephemeral port across a
        restart, so reconnecting clients find it again.
        """
        return self._port

    @property
    def running(self) -> bool:
        """Whether the simulator is accepting connections."""
        with self._lock:
            return self._listener is not None

    def start(self) -> None:
        """Bind the port and start accepting connections; raise `OSError` if it cannot bind."""
        with self._lock:
            if self._listener is not None:
                raise RuntimeError("the simulator is already running")
            if self._host not in _LOOPBACK_HOSTS:
                _LOGGER.warning(
                    "Simulator binds to %s: it is reachable from other machines", self._host
                )
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            listener = socket.create_server((self._host, self._port), family=family)
            listener.settimeout(_TICK)
            self._port = listener.getsockname()[1]
            self._shutdown.clear()
            self._listener = listener
            self._accept_thread = threading.Thread(
                target=self._accept_loop,
                args=(listener,),
                name=f"ipcom-simulator-accept-{self._port}",
                daemon=True,
            )
            self._accept_thread.start()
        _LOGGER.info("Simulator listening on %s port %d", self._host, self._port)

    def stop(self) -> None:
        """Close the listener and every connection, and join every thread. Idempotent."""
        self._shutdown.set()
        with self._lock:
            accept_thread = self._accept_thread
            self._accept_thread = None
            listener = self._listener
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
        if accept_thread is not None:
            _join(accept_thread)
        self._close_sessions()
        self.stop_activity()
        with self._lock:
            self._listener = None
        if listener is not None:
            _LOGGER.info("Simulator on port %d stopped", self._port)

    def drop_connections(self) -> None:
        """Close every client connection abruptly; the listener stays open."""
        self._close_sessions()

    def _close_sessions(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close()
        for session in sessions:
            if session.thread is not None:
                _join(session.thread)

    # Installation state

    @property
    def dimmer_modules(self) -> frozenset[int]:
        """The modules whose outputs are dimmers (levels 0..100) rather than relays."""
        return self._dimmer_modules

    @property
    def bus(self) -> int:
        """The bus this installation simulates, as named in byte 54 of a connect request."""
        return self._bus

    @property
    def public_key(self) -> bytes:
        """The installation's key; each connection's own with `new_key_per_connection`."""
        return self._public_key

    def snapshot(self) -> StateSnapshot:
        """All 128 output values now."""
        with self._lock:
            return StateSnapshot(tuple(value for row in self._outputs for value in row))

    def get_value(self, module: int, output: int) -> int:
        """The value of one output."""
        validate_address(module, output)
        with self._lock:
            return self._outputs[module - 1][output - 1]

    def get_module_values(self, module: int) -> tuple[int, ...]:
        """The eight values of one module."""
        validate_module(module)
        with self._lock:
            return tuple(self._outputs[module - 1])

    def set_output(self, module: int, output: int, value: int) -> None:
        """Change an output as the installation itself would (not a client write).

        A dimmer output takes 0..100 only.
        """
        validate_address(module, output)
        validate_value(value)
        if module in self._dimmer_modules and value > DIMMER_MAX:
            raise ValueError(f"output {module}.{output} is a dimmer: 0..{DIMMER_MAX}, got {value}")
        with self._lock:
            self._store(module, output, value)
            self._changed.notify_all()

    def press(self, module: int, output: int) -> int:
        """Press the wall switch of an output; return the value it has now.

        A relay toggles between off and on; a dimmer toggles between off and
        the last level it had (full when it never had one).
        """
        validate_address(module, output)
        with self._lock:
            current = self._outputs[module - 1][output - 1]
            if current != RELAY_OFF:
                value = RELAY_OFF
            elif module in self._dimmer_modules:
                value = self._last_levels.get((module, output), DEFAULT_DIMMER_LEVEL)
            else:
                value = RELAY_ON
            self._store(module, output, value)
            self._changed.notify_all()
        _LOGGER.debug("Switch %d.%d pressed: %d -> %d", module, output, current, value)
        return value

    def _store(self, module: int, output: int, value: int) -> None:
        """Set one value; the caller holds the lock."""
        self._outputs[module - 1][output - 1] = value
        if value != RELAY_OFF and module in self._dimmer_modules:
            self._last_levels[module, output] = value

    # Observation

    def writes(self) -> list[ReceivedWrite]:
        """The writes received so far (since `clear_writes`), in arrival order."""
        with self._lock:
            return list(self._writes)

    def clear_writes(self) -> None:
        """Forget the recorded writes."""
        with self._lock:
            self._writes.clear()

    def on_write(self, callback: Callable[[ReceivedWrite], None]) -> Callable[[], None]:
        """Call `callback` from a connection thread after each applied write.

        It runs before the frame's snapshot answer is taken, so what it changes
        (an output that will not stay on, say) shows in that answer.

        Returns a function that unsubscribes it.
        """
        return self._subscribe(self._write_callbacks, callback)

    def on_snapshot(self, callback: Callable[[SentSnapshot], None]) -> Callable[[], None]:
        """Call `callback` from a connection thread once each snapshot has been sent.

        Returns a function that unsubscribes it.
        """
        return self._subscribe(self._snapshot_callbacks, callback)

    def _subscribe(self, callbacks: list[_C], callback: _C) -> Callable[[], None]:
        with self._lock:
            callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    @property
    def polls_received(self) -> int:
        """Status polls the device acted on (polls that arrive while frozen are ignored)."""
        with self._lock:
            return self._polls_received

    @property
    def connections_accepted(self) -> int:
        """Connections that completed the handshake."""
        with self._lock:
            return self._connections_accepted

    @property
    def auth_failures(self) -> int:
        """Connect requests rejected for their credentials."""
        with self._lock:
            return self._auth_failures

    @property
    def keepalives_received(self) -> int:
        """Keep-alive requests answered."""
        with self._lock:
            return self._keepalives_received

    @property
    def disconnects_received(self) -> int:
        """Disconnect requests that closed their connection."""
        with self._lock:
            return self._disconnects_received

    @property
    def protocol_errors(self) -> int:
        """Malformed connect requests, unknown messages and bad set-outputs frames."""
        with self._lock:
            return self._protocol_errors

    @property
    def ignored_messages(self) -> int:
        """Whole messages read and discarded while frozen."""
        with self._lock:
            return self._ignored_messages

    @property
    def active_connections(self) -> int:
        """Connections past the handshake and still open."""
        with self._lock:
            return sum(1 for session in self._sessions if session.established)

    def wait_until(
        self,
        predicate: Callable[[Simulator], bool],
        timeout: float = 5.0,
        description: str = "the condition",
    ) -> None:
        """Block until `predicate(self)` holds; raise `TimeoutError` after `timeout` seconds.

        The predicate is re-evaluated whenever the state or a counter changes.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"{description} did not happen within {timeout} s")

    def wait_for_value(self, module: int, output: int, value: int, timeout: float = 5.0) -> None:
        """Block until an output has `value`; raise `TimeoutError` otherwise."""
        validate_address(module, output)
        row = self._outputs[module - 1]
        with self._changed:
            if not self._changed.wait_for(lambda: row[output - 1] == value, timeout):
                raise TimeoutError(
                    f"output {module}.{output} is {row[output - 1]}, not {value}, after {timeout} s"
                )

    def wait_for_write(
        self,
        predicate: Callable[[ReceivedWrite], bool] | None = None,
        timeout: float = 5.0,
    ) -> ReceivedWrite:
        """Return the earliest recorded write matching `predicate` (any write if None).

        Writes recorded before the call count too, so a write that arrived
        before the wait started is not missed; `clear_writes` forgets them.
        Raises `TimeoutError` when no such write arrives within `timeout`.
        """

        def find() -> ReceivedWrite | None:
            for write in self._writes:
                if predicate is None or predicate(write):
                    return write
            return None

        with self._changed:
            found = self._changed.wait_for(find, timeout)
            if found is None:
                raise TimeoutError(
                    f"no matching write within {timeout} s ({len(self._writes)} write(s) recorded)"
                )
            return found

    def wait_for_polls(self, count: int, timeout: float = 5.0) -> None:
        """Block until the device has acted on `count` more polls than when called."""
        with self._changed:
            target = self._polls_received + count
            if not self._changed.wait_for(lambda: self._polls_received >= target, timeout):
                received = self._polls_received - target + count
                raise TimeoutError(f"{received} of {count} polls arrived within {timeout} s")

    # Fault knobs

    @property
    def reply_delay(self) -> float:
        """Seconds the device waits before each reply."""
        with self._lock:
            return self._reply_delay

    @reply_delay.setter
    def reply_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"reply delay must not be negative, got {seconds}")
        with self._lock:
            self._reply_delay = float(seconds)

    @property
    def bus_latency(self) -> float:
        """Seconds between a frame's arrival and its effect on the outputs.

        The device handles one request at a time, so a poll that arrives
        meanwhile is answered after the frame's own reply.
        """
        with self._lock:
            return self._bus_latency

    @bus_latency.setter
    def bus_latency(self, seconds: float) -> None:
        if not 0 <= seconds <= MAX_BUS_LATENCY:
            raise ValueError(f"bus latency must be 0..{MAX_BUS_LATENCY:g} s, got {seconds}")
        with self._lock:
            self._bus_latency = float(seconds)

    @property
    def answer_frames(self) -> bool:
        """Whether set-outputs frames get their snapshot answer (a real device's habit).

        Off, the device applies frames silently: the fault a client must
        survive at the cost of one poll period per frame (PROTOCOL.md section 4).
        """
        with self._lock:
            return self._answer_frames

    @answer_frames.setter
    def answer_frames(self, enabled: bool) -> None:
        with self._lock:
            self._answer_frames = enabled

    @property
    def chunk_size(self) -> int | None:
        """Send each reply in pieces of this many bytes (None: whole)."""
        with self._lock:
            return self._chunk_size

    @chunk_size.setter
    def chunk_size(self, size: int | None) -> None:
        if size is not None and size < 1:
            raise ValueError(f"chunk size must be at least 1, got {size}")
        with self._lock:
            self._chunk_size = size

    @property
    def glue_replies(self) -> bool:
        """Hold each reply and send it glued to the next one (alone after about 1 s)."""
        with self._lock:
            return self._glue_replies

    @glue_replies.setter
    def glue_replies(self, enabled: bool) -> None:
        with self._lock:
            self._glue_replies = enabled

    @property
    def frozen(self) -> bool:
        """Whether the device is hung: connections stay open but nothing is answered."""
        with self._lock:
            return self._frozen

    def freeze(self) -> None:
        """Hang the device: it reads and discards everything and answers nothing.

        New connections are accepted but their handshake waits until `unfreeze`.
        """
        with self._lock:
            self._frozen = True
            self._changed.notify_all()
        _LOGGER.info("Simulator frozen")

    def unfreeze(self) -> None:
        """Let the device answer again."""
        with self._lock:
            self._frozen = False
            self._changed.notify_all()
        _LOGGER.info("Simulator unfrozen")

    def set_credentials(self, username: str, password: str) -> None:
        """Accept only these credentials from the next connect request on."""
        messages.validate_credentials(username, password)
        with self._lock:
            self._username = username
            self._password = password

    def inject_unknown(self, data: bytes | None = None, *, glued: bool = False) -> None:
        """Send every connected client a message it cannot understand.

        `data` goes on the wire as it is; without it the device sends
        `UNKNOWN_MESSAGE_PLAIN` encrypted with the session key, as a real
        installation does. With `glued` the bytes go out in front of the next
        reply, in the same send; otherwise alone, within a fraction of a second.
        Only connections past the handshake receive it.
        """
        with self._lock:
            for session in self._sessions:
                if not session.established:
                    continue
                raw = cipher.encrypt(UNKNOWN_MESSAGE_PLAIN, session.masks) if data is None else data
                if glued:
                    session.glued_prefix += raw
                else:
                    session.outbox.append(raw)

    # Activity

    def start_activity(
        self,
        addresses: Sequence[tuple[int, int]],
        mean_interval: float = 8.0,
        seed: int | None = None,
    ) -> None:
        """Press a random one of `addresses` now and then, like a household would.

        The pauses are exponentially distributed around `mean_interval`
        seconds; `seed` makes the sequence repeatable. Replaces any activity
        already running; `stop_activity` or `stop` ends it.
        """
        if not addresses:
            raise ValueError("activity needs at least one output address")
        if mean_interval <= 0:
            raise ValueError(f"mean interval must be positive, got {mean_interval}")
        for module, output in addresses:
            validate_address(module, output)
        self.stop_activity()
        stop = threading.Event()
        thread = threading.Thread(
            target=self._activity_loop,
            args=(tuple(addresses), mean_interval, random.Random(seed), stop),
            name="ipcom-simulator-activity",
            daemon=True,
        )
        with self._lock:
            self._activity_stop = stop
            self._activity_thread = thread
        thread.start()

    def stop_activity(self) -> None:
        """End the random presses, if any, and join their thread."""
        with self._lock:
            thread = self._activity_thread
            self._activity_thread = None
            self._activity_stop.set()
        if thread is not None:
            _join(thread)

    def _activity_loop(
        self,
        addresses: tuple[tuple[int, int], ...],
        mean_interval: float,
        rng: random.Random,
        stop: threading.Event,
    ) -> None:
        while not stop.wait(rng.expovariate(1.0 / mean_interval)):
            module, output = rng.choice(addresses)
            self.press(module, output)
            _LOGGER.info(
                "Activity: switch %d.%d pressed, now %d",
                module,
                output,
                self.get_value(module, output),
            )

    # Network side

    def _accept_loop(self, listener: socket.socket) -> None:
        try:
            while not self._shutdown.is_set():
                try:
                    sock, address = listener.accept()
                except TimeoutError:
                    continue
                except OSError as err:
                    if not self._shutdown.is_set():
                        _LOGGER.warning("Simulator cannot accept a connection: %s", err)
                        self._shutdown.wait(_TICK)
                    continue
                self._start_session(sock, address)
        finally:
            listener.close()

    def _start_session(self, sock: socket.socket, address: tuple[object, ...]) -> None:
        sock.settimeout(_TICK)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._session_count += 1
            session = _Session(
                sock=sock, peer=f"{address[0]}:{address[1]}", number=self._session_count
            )
            session.thread = threading.Thread(
                target=self._serve,
                args=(session,),
                name=f"ipcom-simulator-connection-{self._session_count}",
                daemon=True,
            )
            self._sessions.add(session)
        session.thread.start()

    def _serve(self, session: _Session) -> None:
        """Run one connection from handshake to close."""
        _LOGGER.debug("Connection from %s", session.peer)
        try:
            if self._handshake(session):
                self._converse(session)
        except _SessionClosedError:
            pass
        except OSError as err:
            _LOGGER.debug("Connection from %s failed: %s", session.peer, err)
        finally:
            with self._lock:
                self._sessions.discard(session)
                was_established = session.established
                session.established = False
                self._changed.notify_all()
            session.sock.close()
            if was_established:
                _LOGGER.info("Connection from %s closed", session.peer)

    def _handshake(self, session: _Session) -> bool:
        """Answer the connect request; True when the session speaks dual-key."""
        deadline = time.monotonic() + SOCKET_TIMEOUT
        while len(session.received) < CONNECT_REQUEST_LENGTH:
            if time.monotonic() >= deadline:
                self._count_protocol_error(f"no connect request from {session.peer} in time")
                return False
            if not self._receive(session):
                if session.received:
                    self._count_protocol_error(f"{session.peer} closed during the handshake")
                return False
        request_bytes = bytes(session.received[:CONNECT_REQUEST_LENGTH])
        del session.received[:CONNECT_REQUEST_LENGTH]
        try:
            request = codec.read_connect_request(
                cipher.decrypt(request_bytes, cipher.single_key_masks())
            )
        except codec.WireError as err:
            self._count_protocol_error(f"bad connect request from {session.peer}: {err}")
            return False
        while self.frozen:
            if not self._receive(session):
                return False
        return self._admit(session, request)

    def _admit(self, session: _Session, request: codec.DeviceConnectRequest) -> bool:
        """Check credentials, then the bus; answer as the device would."""
        with self._lock:
            accepted = hmac.compare_digest(
                request.username.encode(), self._username.encode()
            ) and hmac.compare_digest(request.password.encode(), self._password.encode())
            if not accepted:
                self._auth_failures += 1
                self._changed.notify_all()
        if not accepted:
            _LOGGER.warning(
                "Rejected credentials from %s for user %r", session.peer, request.username
            )
            self._send(session, AUTH_REJECTED, None)
            return False
        if request.bus != self._bus or request.bus_lock != CONNECT_BUS_LOCK:
            self._count_protocol_error(
                f"{session.peer} asked for bus {request.bus} with lock {request.bus_lock}; "
                f"this is bus {self._bus}, lock {CONNECT_BUS_LOCK}: not connected"
            )
            refusal = codec.refusal_response(self._firmware_version)
            self._send(session, cipher.encrypt(refusal, cipher.single_key_masks()), None)
            return False
        public_key = self._public_key
        response = self._connect_response
        if self._new_key_per_connection:
            public_key = os.urandom(PUBLIC_KEY_LENGTH)
            response = codec.success_response(self._firmware_version, public_key)
        self._send(session, cipher.encrypt(response, cipher.single_key_masks()), None)
        with self._lock:
            session.masks = cipher.dual_key_masks(public_key)
            session.established = True
            self._connections_accepted += 1
            self._changed.notify_all()
        _LOGGER.info("Client %s connected as %r", session.peer, request.username)
        return True

    def _converse(self, session: _Session) -> None:
        """Answer dual-key messages until the client leaves or the session is closed."""
        decoder = messages.StreamDecoder(session.masks, CLIENT_MESSAGE_LENGTHS)
        unknown_seen = 0
        pending = bytes(session.received)
        session.received.clear()
        while True:
            for message in decoder.feed(pending):
                if not self._handle(session, message):
                    return
            if decoder.unknown_messages != unknown_seen:
                self._count_protocol_error(
                    f"{decoder.unknown_messages - unknown_seen} unknown message(s) "
                    f"from {session.peer}"
                )
                unknown_seen = decoder.unknown_messages
            self._flush_pending(session)
            if not self._receive(session):
                return
            pending = bytes(session.received)
            session.received.clear()

    def _receive(self, session: _Session) -> bool:
        """Wait up to one tick for bytes; False once the peer has closed."""
        if session.closing.is_set() or self._shutdown.is_set():
            raise _SessionClosedError
        started = time.monotonic()
        try:
            data = session.sock.recv(_RECV_SIZE)
        except TimeoutError:
            return True
        if not data:
            return False
        waited = time.monotonic() - started >= _QUEUED_READ_BOUND
        session.read_waited = waited or not session.slept
        session.slept = False
        session.received += data
        return True

    def _handle(self, session: _Session, message: messages.Message) -> bool:
        """Act on one client message; False when the connection must close."""
        with self._lock:
            if self._frozen:
                self._ignored_messages += 1
                self._changed.notify_all()
                return True
        if message.command == STATUS_COMMAND:
            with self._lock:
                self._polls_received += 1
                reply = codec.snapshot_message(self._outputs)
                taken_at = time.monotonic()
                self._changed.notify_all()
            self._reply(session, reply, taken_at)
        elif message.command == SET_OUTPUTS_COMMAND:
            self._apply_frame(session, message.plain)
        elif message.command == KEEPALIVE_COMMAND:
            with self._lock:
                self._keepalives_received += 1
                self._changed.notify_all()
            self._reply(session, bytes([KEEPALIVE_COMMAND, MESSAGE_VERSION]))
        elif message.command == DISCONNECT_COMMAND:
            with self._lock:
                self._disconnects_received += 1
                self._changed.notify_all()
            _LOGGER.debug("Client %s asked to disconnect", session.peer)
            return False
        return True

    def _apply_frame(self, session: _Session, plain: bytes) -> None:
        """Let a frame take effect after the bus latency, then answer it with a snapshot."""
        received_at = time.monotonic()
        snapshots = tuple(session.snapshots)
        latency = self.bus_latency
        if latency > 0:
            session.slept = True
            if session.closing.wait(latency):
                raise _SessionClosedError
        try:
            frame = codec.read_frame(plain, self._addressing)
        except codec.WireError as err:
            self._count_protocol_error(f"set-outputs frame from {session.peer} ignored: {err}")
        else:
            self._notify_write(self._store_frame(session, frame, received_at, snapshots))
        with self._lock:
            answer = self._answer_frames
            reply = codec.snapshot_message(self._outputs)
            taken_at = time.monotonic()
        if answer:
            self._reply(session, reply, taken_at)

    def _store_frame(
        self,
        session: _Session,
        frame: codec.Frame,
        received_at: float,
        snapshots: tuple[SentSnapshot, ...],
    ) -> ReceivedWrite:
        module = frame.module
        dimmer = module in self._dimmer_modules
        with self._lock:
            for output, value in enumerate(frame.values, start=1):
                if dimmer and value > DIMMER_MAX:
                    _LOGGER.warning(
                        "Client %s wrote %d to dimmer %d.%d; it holds 0..%d, so it is at %d",
                        session.peer,
                        value,
                        module,
                        output,
                        DIMMER_MAX,
                        DIMMER_MAX,
                    )
                self._store(module, output, min(value, DIMMER_MAX) if dimmer else value)
            write = ReceivedWrite(
                module,
                frame.values,
                time.time(),
                connection=session.number,
                received_at=received_at,
                applied_at=time.monotonic(),
                snapshots=snapshots,
                arrival_known=session.read_waited,
            )
            self._writes.append(write)
            self._changed.notify_all()
        _LOGGER.debug("Client %s wrote module %d: %s", session.peer, module, frame.values)
        return write

    def _notify_write(self, write: ReceivedWrite) -> None:
        with self._lock:
            callbacks = list(self._write_callbacks)
        for callback in callbacks:
            try:
                callback(write)
            except Exception:
                _LOGGER.exception("Write callback %r failed", callback)

    def _count_protocol_error(self, reason: str) -> None:
        with self._lock:
            self._protocol_errors += 1
            self._changed.notify_all()
        _LOGGER.warning("Protocol error: %s", reason)

    def _reply(self, session: _Session, plain: bytes, taken_at: float | None = None) -> None:
        """Send one reply through the fault knobs: delay, glue, injected prefix, chunks.

        `taken_at` marks a snapshot, logged with the moment its last byte went out.
        """
        delay = self.reply_delay
        if delay > 0:
            session.slept = True
            if session.closing.wait(delay):
                raise _SessionClosedError
        encrypted = cipher.encrypt(plain, session.masks)
        taken = [] if taken_at is None else [taken_at]
        with self._lock:
            if self._frozen:
                return
            data = session.glued_prefix + encrypted
            session.glued_prefix = b""
            if self._glue_replies and not session.held:
                session.held = data
                session.held_since = time.monotonic()
                session.held_taken = taken
                return
            data = session.held + data
            taken = session.held_taken + taken
            session.held = b""
            session.held_taken = []
            chunk_size = self._chunk_size
        self._send(session, data, chunk_size)
        self._log_snapshots(session, taken)

    def _flush_pending(self, session: _Session) -> None:
        """Send a held reply that waited long enough and any injected bytes."""
        taken: list[float] = []
        with self._lock:
            if self._frozen:
                return
            data = b""
            stale = time.monotonic() - session.held_since >= _GLUE_FLUSH_AFTER
            if session.held and (stale or not self._glue_replies):
                data = session.held
                taken = session.held_taken
                session.held = b""
                session.held_taken = []
            data += b"".join(session.outbox)
            session.outbox.clear()
            chunk_size = self._chunk_size
        if data:
            self._send(session, data, chunk_size)
            self._log_snapshots(session, taken)

    def _log_snapshots(self, session: _Session, taken: list[float]) -> None:
        if not taken:
            return
        sent_at = time.monotonic()
        sent = [SentSnapshot(taken_at, sent_at, session.number) for taken_at in taken]
        session.snapshots.extend(sent)
        with self._lock:
            callbacks = list(self._snapshot_callbacks)
        for callback in callbacks:
            for snapshot in sent:
                try:
                    callback(snapshot)
                except Exception:
                    _LOGGER.exception("Snapshot callback %r failed", callback)

    def _send(self, session: _Session, data: bytes, chunk_size: int | None) -> None:
        """Write all of `data`, in pieces when asked; only the session's thread calls this."""
        step = chunk_size or len(data)
        for start in range(0, len(data), step):
            if start and session.closing.wait(_CHUNK_PAUSE):
                raise _SessionClosedError
            view = memoryview(data)[start : start + step]
            while view:
                if session.closing.is_set():
                    raise _SessionClosedError
                try:
                    sent = session.sock.send(view)
                except TimeoutError:
                    continue
                view = view[sent:]


def _join(thread: threading.Thread) -> None:
    """Join a simulator thread unless it is the caller (a callback that stops the simulator)."""
    if thread is not threading.current_thread():
        thread.join(_JOIN_TIMEOUT)
        if thread.is_alive():
            _LOGGER.error("Simulator thread %s did not stop", thread.name)
