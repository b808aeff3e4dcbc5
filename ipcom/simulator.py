"""A simulated IPCom installation on a TCP socket, speaking PROTOCOL.md.

The demo, the bench and every test that exercises the client run against this
device, so it speaks exactly the bytes a real installation does: the
single-key handshake, then dual-key messages in both directions. On top of
the protocol it offers what a test needs and a real device cannot: wall
switch presses on demand, a record of every write, counters, waits that block
until something happened, and fault knobs (slow, split, glued or unknown
replies, a hung device, dropped connections).

Threads: one accepts connections, one serves each connection, and an optional
one plays a household pressing switches. All of them wait on events with short
timeouts, so `Simulator.stop` is prompt and joins every one of them.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from . import cipher, messages
from .errors import IPComProtocolError
from .models import StateSnapshot, validate_address, validate_module, validate_value, value_index
from .protocol import (
    AUTH_REJECTED,
    CLIENT_MESSAGE_LENGTHS,
    CONNECT_REQUEST_LENGTH,
    CONNECT_RESPONSE_STATUS,
    DIMMER_MAX,
    DISCONNECT_COMMAND,
    KEEPALIVE_COMMAND,
    MESSAGE_VERSION,
    OUTPUTS_PER_MODULE,
    PUBLIC_KEY_LENGTH,
    RELAY_OFF,
    RELAY_ON,
    SET_OUTPUTS_COMMAND,
    SNAPSHOT_PAYLOAD_LENGTH,
    SOCKET_TIMEOUT,
    STATUS_COMMAND,
    UNKNOWN_DEVICE_COMMANDS,
)

_LOGGER = logging.getLogger(__name__)


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
_JOIN_TIMEOUT = 5.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class ReceivedWrite:
    """A set-outputs request the simulator applied: one module, all eight values."""

    module: int
    values: tuple[int, ...]
    timestamp: float


class _SessionClosedError(Exception):
    """The connection is gone, or the simulator is stopping; the session ends."""


@dataclass(eq=False)
class _Session:
    """One client connection. Only its own thread reads or writes the socket."""

    sock: socket.socket
    peer: str
    closing: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    established: bool = False
    masks: cipher.MaskTable = b""
    received: bytearray = field(default_factory=bytearray)
    held: bytes = b""
    held_since: float = 0.0
    glued_prefix: bytes = b""
    outbox: list[bytes] = field(default_factory=list)

    def close(self) -> None:
        """Ask the session to end and wake its thread from a blocking receive."""
        self.closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class Simulator:
    """A simulated IPCom installation: 16 modules x 8 outputs behind a TCP port.

    Thread-safe: every public method may be called from any thread. Several
    clients may be connected at once; they share one installation state.
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
    ) -> None:
        messages.validate_credentials(username, password)
        if len(public_key) != PUBLIC_KEY_LENGTH:
            raise ValueError(f"public key must be {PUBLIC_KEY_LENGTH} bytes, got {len(public_key)}")
        dimmers = frozenset(dimmer_modules)
        for module in dimmers:
            validate_module(module)
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._public_key = bytes(public_key)
        self._dual_masks = cipher.dual_key_masks(self._public_key)
        self._dimmer_modules = dimmers

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._values = [RELAY_OFF] * SNAPSHOT_PAYLOAD_LENGTH
        self._last_levels: dict[int, int] = {}
        self._writes: deque[ReceivedWrite] = deque(maxlen=MAX_RECORDED_WRITES)
        self._write_callbacks: list[Callable[[ReceivedWrite], None]] = []

        self._polls_received = 0
        self._connections_accepted = 0
        self._auth_failures = 0
        self._keepalives_received = 0
        self._disconnects_received = 0
        self._protocol_errors = 0
        self._ignored_messages = 0

        self._reply_delay = 0.0
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

    def snapshot(self) -> StateSnapshot:
        """All 128 output values now."""
        with self._lock:
            return StateSnapshot(tuple(self._values))

    def get_value(self, module: int, output: int) -> int:
        """The value of one output."""
        validate_address(module, output)
        with self._lock:
            return self._values[value_index(module, output)]

    def get_module_values(self, module: int) -> tuple[int, ...]:
        """The eight values of one module."""
        validate_module(module)
        start = value_index(module, 1)
        with self._lock:
            return tuple(self._values[start : start + OUTPUTS_PER_MODULE])

    def set_output(self, module: int, output: int, value: int) -> None:
        """Change an output as the installation itself would (not a client write)."""
        validate_address(module, output)
        validate_value(value)
        with self._lock:
            self._store(value_index(module, output), module, value)
            self._changed.notify_all()

    def press(self, module: int, output: int) -> None:
        """Press the wall switch of an output.

        A relay toggles between off and on; a dimmer toggles between off and
        the last level it had (full when it never had one).
        """
        validate_address(module, output)
        index = value_index(module, output)
        with self._lock:
            current = self._values[index]
            if current != RELAY_OFF:
                value = RELAY_OFF
            elif module in self._dimmer_modules:
                value = self._last_levels.get(index, DEFAULT_DIMMER_LEVEL)
            else:
                value = RELAY_ON
            self._store(index, module, value)
            self._changed.notify_all()
        _LOGGER.debug("Switch %d.%d pressed: %d -> %d", module, output, current, value)

    def _store(self, index: int, module: int, value: int) -> None:
        """Set one value; the caller holds the lock."""
        self._values[index] = value
        if value != RELAY_OFF and module in self._dimmer_modules:
            self._last_levels[index] = value

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

        Returns a function that unsubscribes it.
        """
        with self._lock:
            self._write_callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._write_callbacks:
                    self._write_callbacks.remove(callback)

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
        index = value_index(module, output)
        with self._changed:
            if not self._changed.wait_for(lambda: self._values[index] == value, timeout):
                raise TimeoutError(
                    f"output {module}.{output} is {self._values[index]}, "
                    f"not {value}, after {timeout} s"
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
        raw = cipher.encrypt(UNKNOWN_MESSAGE_PLAIN, self._dual_masks) if data is None else data
        with self._lock:
            for session in self._sessions:
                if not session.established:
                    continue
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
        session = _Session(sock=sock, peer=f"{address[0]}:{address[1]}")
        with self._lock:
            self._session_count += 1
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
            request = messages.decode_connect_request(
                cipher.decrypt(request_bytes, cipher.single_key_masks())
            )
        except IPComProtocolError as err:
            self._count_protocol_error(f"bad connect request from {session.peer}: {err}")
            return False
        while self.frozen:
            if not self._receive(session):
                return False
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
        response = messages.encode_connect_response(CONNECT_RESPONSE_STATUS, self._public_key)
        self._send(session, cipher.encrypt(response, cipher.single_key_masks()), None)
        with self._lock:
            session.masks = self._dual_masks
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
        try:
            data = session.sock.recv(_RECV_SIZE)
        except TimeoutError:
            return True
        if not data:
            return False
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
                values = tuple(self._values)
                self._changed.notify_all()
            self._reply(session, messages.encode_snapshot(values))
        elif message.command == SET_OUTPUTS_COMMAND:
            self._apply_write(session, message.plain)
        elif message.command == KEEPALIVE_COMMAND:
            with self._lock:
                self._keepalives_received += 1
                self._changed.notify_all()
            self._reply(session, messages.encode_keepalive())
        elif message.command == DISCONNECT_COMMAND:
            with self._lock:
                self._disconnects_received += 1
                self._changed.notify_all()
            _LOGGER.debug("Client %s asked to disconnect", session.peer)
            return False
        return True

    def _apply_write(self, session: _Session, plain: bytes) -> None:
        try:
            request = messages.decode_set_outputs(plain)
        except IPComProtocolError as err:
            self._count_protocol_error(f"bad set-outputs request from {session.peer}: {err}")
            return
        write = ReceivedWrite(request.module, request.values, time.time())
        start = value_index(request.module, 1)
        with self._lock:
            for offset, value in enumerate(request.values):
                self._store(start + offset, request.module, value)
            self._writes.append(write)
            callbacks = list(self._write_callbacks)
            self._changed.notify_all()
        _LOGGER.debug("Client %s wrote module %d: %s", session.peer, write.module, write.values)
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

    def _reply(self, session: _Session, plain: bytes) -> None:
        """Send one reply through the fault knobs: delay, glue, injected prefix, chunks."""
        delay = self.reply_delay
        if delay > 0 and session.closing.wait(delay):
            raise _SessionClosedError
        encrypted = cipher.encrypt(plain, session.masks)
        with self._lock:
            if self._frozen:
                return
            data = session.glued_prefix + encrypted
            session.glued_prefix = b""
            if self._glue_replies and not session.held:
                session.held = data
                session.held_since = time.monotonic()
                return
            data = session.held + data
            session.held = b""
            chunk_size = self._chunk_size
        self._send(session, data, chunk_size)

    def _flush_pending(self, session: _Session) -> None:
        """Send a held reply that waited long enough and any injected bytes."""
        with self._lock:
            if self._frozen:
                return
            data = b""
            stale = time.monotonic() - session.held_since >= _GLUE_FLUSH_AFTER
            if session.held and (stale or not self._glue_replies):
                data = session.held
                session.held = b""
            data += b"".join(session.outbox)
            session.outbox.clear()
            chunk_size = self._chunk_size
        if data:
            self._send(session, data, chunk_size)

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
