"""A simulated IPCom installation on a TCP socket, speaking PROTOCOL.md.

The demo, the bench and every test that exercises the client run against this
device, so it speaks exactly the bytes a real installation does: the
single-key handshake, then dual-key messages in both directions. On top of
the protocol it offers what a test needs and a real device cannot: wall
switch presses on demand, a record of every write, counters, waits that block
until something happened, and fault knobs: every device a client must survive
(slow, split, glued or unknown replies, frames left unanswered, a hung device,
dropped connections, a drop right after a frame took effect, a slow bus, a
serial device that takes a while per request, snapshots sent unasked, a
connect response dribbled byte by byte or with a status other than 1, a new
key for every connection). It also counts the requests a client sent before
the previous one was answered (`Simulator.overlapping_requests`), against the
vendor's one-request-at-a-time pacing (PROTOCOL.md section 4).

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
- the connect request must name one of the installation's buses in byte 54
  and bus lock 0 in byte 55 (sections 3 and 6); otherwise the device answers
  a connect response with status 0 ("not connected", the vendor's reading of
  any status but 1) and closes. Rejected credentials get the observed raw
  `7e e3`;
- a connection serves the bus its connect request named, and only that one:
  its snapshots report that bus's 16 modules and its frames must carry that
  bus's bus byte and base address (section 6's table), checked per
  connection. An installation has one or two buses (`Simulator(buses=...)`),
  all behind one port (section 1);
- the same installation may also listen on a second, "remote" port
  (`remote_port`), as if reached from outside the home (section 1), and a
  test can make the local address unreachable and reachable again
  (`Simulator.local_reachable`);
- a plaintext installation (section 3) either answers with the 3-byte short
  form, single-key, and then speaks without the cipher (`plaintext="short"`),
  or answers every encrypted connect request with the raw NonSecure bytes
  `0e 65` and closes, and accepts a connect request sent plain, answering it
  with the usual 135-byte response, plain too, and speaking without the
  cipher after it (`plaintext="nonsecure"`).

Threads: one accepts connections on each listening port, one serves each
connection, and an optional one plays a household pressing switches. A
connection's thread is the only one that reads or writes its socket, so its
replies, unasked snapshots and injected bytes never interleave; it handles
one request at a time, as the device does. All of them wait on events with
short timeouts, so `Simulator.stop` is prompt and joins every one of them.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Literal, Self, TypeVar

from . import cipher, messages, simulator_codec as codec
from .models import StateSnapshot, validate_address, validate_module, validate_value
from .protocol import (
    AUTH_REJECTED,
    BUSES,
    CONNECT_BUS_LOCK,
    CONNECT_REQUEST_LENGTH,
    CONNECT_STATUS_SUCCESS,
    DEFAULT_BUS,
    DIMMER_MAX,
    DISCONNECT_COMMAND,
    KEEPALIVE_COMMAND,
    MESSAGE_VERSION,
    MODULE_COUNT,
    NONSECURE_REPLY,
    OUTPUTS_PER_MODULE,
    PUBLIC_KEY_LENGTH,
    RELAY_OFF,
    RELAY_ON,
    SET_OUTPUTS_COMMAND,
    SOCKET_TIMEOUT,
    STATUS_COMMAND,
    UNKNOWN_DEVICE_COMMANDS,
    BusType,
)

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
PlaintextMode = Literal["short", "nonsecure"]
"""How a plaintext installation asks for a session without the cipher (PROTOCOL.md section 3)."""
PLAINTEXT_MODES: frozenset[PlaintextMode | None] = frozenset({None, "short", "nonsecure"})
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
_SHORTEST_WAIT = 0.001
"""The shortest receive timeout; zero would make the socket non-blocking instead."""
_MAX_INBOX = 64
"""Whole requests a connection reads ahead of the one it handles; beyond, TCP holds them."""
REQUEST_COMMANDS = frozenset({STATUS_COMMAND, SET_OUTPUTS_COMMAND, KEEPALIVE_COMMAND})
"""The client messages the device answers, one at a time (PROTOCOL.md section 4): the
requests `Simulator.overlapping_requests` is about. A disconnect request is not one."""
_JOIN_TIMEOUT = 5.0
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL: Final = "local"
"""The installation's local address (`Simulator.port`), as a session's `via`."""
REMOTE: Final = "remote"
"""The installation's remote address (`Simulator.remote_port`), as a session's `via`."""


@dataclass(frozen=True, slots=True)
class SentSnapshot:
    """When a snapshot was taken (its values read) and when its last byte was sent.

    Both on the `time.monotonic` clock; `connection` numbers the connection,
    `bus` is the bus it served (byte 54 of its connect request), whose 16
    modules the snapshot reported.
    """

    taken_at: float
    sent_at: float
    connection: int = 0
    bus: int = DEFAULT_BUS


@dataclass(frozen=True, slots=True)
class ReceivedWrite:
    """A set-outputs frame the simulator applied: one module, the frame's eight values.

    `values` are the frame's bytes; a dimmer stores them clamped to 0..100.
    `connection` numbers the connection it came on; `received_at` and
    `applied_at` (`time.monotonic`) are when the read that completed it
    returned and when it took effect, and `snapshots` are the last snapshots
    that connection had sent before it was read, oldest first, so an audit
    can tell what the client could have known when it built the frame.
    `arrival_known` is False when the frame had waited in the socket while the
    simulator was busy (a request time, the bus latency, a reply delay, the
    pauses of a split reply): it was read later than the client sent it, so
    its read time says nothing about what the client knew.
    `bus` is the bus of `module`: the one its connection named in byte 54.
    """

    module: int
    values: tuple[int, ...]
    timestamp: float
    connection: int = 0
    received_at: float = 0.0
    applied_at: float = 0.0
    snapshots: tuple[SentSnapshot, ...] = ()
    arrival_known: bool = True
    bus: int = DEFAULT_BUS


class _SessionClosedError(Exception):
    """The connection is gone, or the simulator is stopping; the session ends."""


@dataclass(eq=False, slots=True)
class _Inbound:
    """A whole client message read from the socket and not handled yet.

    `read_at` is when the read that completed it returned; `arrival_known`
    whether that was also when it arrived (see `ReceivedWrite`). `counted`
    marks a request already counted in `Simulator.overlapping_requests`.
    """

    request: codec.Request
    read_at: float
    arrival_known: bool
    counted: bool = False


@dataclass(eq=False)
class _Session:
    """One client connection. Only its own thread reads or writes the socket."""

    sock: socket.socket
    peer: str
    number: int = 0
    via: str = LOCAL
    """The address it came in on: `LOCAL` or `REMOTE`."""
    bus: int = DEFAULT_BUS
    """The bus its connect request named; set before the session is established."""
    closing: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    established: bool = False
    masks: cipher.MaskTable = b""
    received: bytearray = field(default_factory=bytearray)
    reader: codec.RequestReader | None = None
    inbox: deque[_Inbound] = field(default_factory=deque)
    unknown_seen: int = 0
    pending_counted: bool = False
    """Whether the unfinished request in the reader was already counted as overlapping."""
    peer_closed: bool = False
    last_report: float = 0.0
    """When the last unasked snapshot was due (or the session or the reports began)."""
    held: bytes = b""
    held_since: float = 0.0
    held_taken: list[float] = field(default_factory=list)
    glued_prefix: bytes = b""
    outbox: list[bytes] = field(default_factory=list)
    read_at: float = 0.0
    """When the last receive that got bytes returned (`time.monotonic`)."""
    read_waited: bool = True
    """Whether the last receive's bytes arrived when read (not queued while the thread slept)."""
    slept: bool = False
    """Whether the thread slept since its last receive: request time, bus latency, reply
    delay, the pauses of a split reply or of a dribbled connect response."""
    snapshots: deque[SentSnapshot] = field(
        default_factory=lambda: deque(maxlen=SNAPSHOT_LOG_LENGTH)
    )

    def close(self) -> None:
        """Ask the session to end and wake its thread from a blocking receive."""
        self.closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


@dataclass(eq=False, slots=True)
class _Listener:
    """One listening socket (`LOCAL` or `REMOTE`) and the thread that accepts on it."""

    sock: socket.socket
    via: str
    stop: threading.Event
    thread: threading.Thread


class Simulator:
    """A simulated IPCom installation: one or two buses of 16 modules x 8 outputs.

    Thread-safe: every public method may be called from any thread. Several
    clients may be connected at once; they share one installation state.

    The installation's buses: `buses` maps each bus number (1 or 2) to its
    type, e.g. `{1: BusType.MINIDO, 2: BusType.BIBUS}`; without it the
    installation is the single bus `bus` of type `bus_type` (give one or the
    other). Each connection names its bus in byte 54 of its connect request
    (a bus the installation lacks gets status 0 and is closed), then sees
    that bus's 16 modules in its snapshots and may write only that bus: its
    frames must carry that bus's bus byte and base address, which the bus's
    type and `tricom` (a TriCom installation) decide (PROTOCOL.md section 6).
    The default is the captured installation: bus 1 "Minido", bus byte 2,
    base 60. `dimmer_modules` are the dimmer modules of the first bus (the
    lowest numbered); `dimmer_modules_by_bus` names them for any bus, e.g.
    `{2: {3}}`. Every method that names a module takes a keyword `bus`,
    which is the first bus when omitted; so do the records and callbacks of
    writes and snapshots (`writes`, `wait_for_write`, `on_write`,
    `on_snapshot`), which then report that bus only.

    Addresses: the installation listens on `host`:`port` (its local address)
    and, with `remote_port` (0 for any free port), also on `host`:`remote_port`,
    as if reached from outside the home (PROTOCOL.md section 1); both serve the
    same installation. Setting `local_reachable` to False closes the local
    listener and drops the connections that came in on it, as a client away
    from home would find it; True listens on the same local port again.

    With
    `new_key_per_connection` every handshake hands out a fresh random public
    key instead of `public_key`, so a client that keeps an old session's key
    is not understood. `plaintext` makes it an installation that talks
    without the cipher: `"short"` answers with the 3-byte short form and
    drops the cipher, `"nonsecure"` answers an encrypted connect request with
    the NonSecure bytes `0e 65` and serves one sent plain (see the module's
    docstring). `firmware_version` (4 ASCII characters, `"0000"` by default)
    is what its connect response names in bytes 2..5 (PROTOCOL.md section 3).

    The device handles one request (poll, frame, keep-alive) of a connection
    at a time, in order, and takes up the next only once it has answered the
    previous one. The fault knobs are keywords here and properties (settable
    while it runs) below: `request_time`, `bus_latency`, `reply_delay`,
    `answer_frames`, `report_interval`, `drop_after_frames`,
    `connect_dribble`, `connect_status`, `chunk_size`, `glue_replies`, and
    `freeze`, `inject_unknown` and `drop_connections` as methods. Each
    property's docstring says exactly what it does.
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
        bus: int = DEFAULT_BUS,
        bus_type: BusType = BusType.MINIDO,
        tricom: bool = False,
        buses: Mapping[int, BusType] | None = None,
        dimmer_modules_by_bus: Mapping[int, Iterable[int]] | None = None,
        remote_port: int | None = None,
        new_key_per_connection: bool = False,
        bus_latency: float = 0.0,
        firmware_version: str = DEFAULT_FIRMWARE_VERSION,
        reply_delay: float = 0.0,
        answer_frames: bool = True,
        request_time: float = 0.0,
        report_interval: float | None = None,
        drop_after_frames: int = 0,
        connect_dribble: float | None = None,
        connect_status: int = CONNECT_STATUS_SUCCESS,
        plaintext: PlaintextMode | None = None,
    ) -> None:
        messages.validate_credentials(username, password)
        if plaintext not in PLAINTEXT_MODES:
            raise ValueError(f"plaintext is None, 'short' or 'nonsecure', got {plaintext!r}")
        codec.check_firmware(firmware_version)
        if len(public_key) != PUBLIC_KEY_LENGTH:
            raise ValueError(f"public key must be {PUBLIC_KEY_LENGTH} bytes, got {len(public_key)}")
        self._buses = _installation_buses(bus, bus_type, buses)
        self._cut_buses: set[int] = set()
        self._dimmer_modules = _dimmers_by_bus(self._buses, dimmer_modules, dimmer_modules_by_bus)
        self._tricom = tricom
        self._addressing = {
            number: codec.addressing(number, kind, tricom=tricom)
            for number, kind in self._buses.items()
        }
        if remote_port is not None and not 0 <= remote_port <= 0xFFFF:
            raise ValueError(f"remote port must be 0..65535 or None, got {remote_port}")
        if remote_port is not None and remote_port != 0 and remote_port == port:
            raise ValueError(f"the remote port must differ from the local port {port}")
        self._host = host
        self._port = port
        self._remote_port = remote_port
        self._local_reachable = True
        self._username = username
        self._password = password
        self._public_key = bytes(public_key)
        self._new_key_per_connection = new_key_per_connection
        self._firmware_version = firmware_version
        self._plaintext: PlaintextMode | None = plaintext

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._outputs = {
            number: [[RELAY_OFF] * OUTPUTS_PER_MODULE for _ in range(MODULE_COUNT)]
            for number in self._buses
        }
        self._last_levels: dict[tuple[int, int, int], int] = {}
        """The last non-zero level of each dimmer output, by (bus, module, output)."""
        self._writes: deque[ReceivedWrite] = deque(maxlen=MAX_RECORDED_WRITES)
        self._write_callbacks: list[tuple[int, Callable[[ReceivedWrite], None]]] = []
        self._snapshot_callbacks: list[tuple[int, Callable[[SentSnapshot], None]]] = []

        self._polls_received = 0
        self._requests_received = 0
        self._overlapping_requests = 0
        self._reports_sent = 0
        self._connections_accepted = 0
        self._auth_failures = 0
        self._keepalives_received = 0
        self._disconnects_received = 0
        self._protocol_errors = 0
        self._ignored_messages = 0

        self._reply_delay = 0.0
        self._bus_latency = 0.0
        self._answer_frames = True
        self._request_time = 0.0
        self._report_interval: float | None = None
        self._drop_after_frames = 0
        self._connect_dribble: float | None = None
        self._connect_status = CONNECT_STATUS_SUCCESS
        self._chunk_size: int | None = None
        self._glue_replies = False
        self._frozen = False

        self._shutdown = threading.Event()
        self._lifecycle = threading.Lock()
        """Held by `start`, `stop` and `local_reachable`'s setter, which open and close
        listeners and join threads; never while holding `_lock`."""
        self._running = False
        self._listeners: dict[str, _Listener] = {}
        self._sessions: set[_Session] = set()
        self._session_threads: set[threading.Thread] = set()
        """Every connection thread not known to have ended: one that ends by itself
        leaves `_sessions` before it has finished, and `stop` must still join it."""
        self._session_count = 0
        self._activity_stop = threading.Event()
        self._activity_thread: threading.Thread | None = None
        self.bus_latency = bus_latency
        self.reply_delay = reply_delay
        self.answer_frames = answer_frames
        self.request_time = request_time
        self.report_interval = report_interval
        self.drop_after_frames = drop_after_frames
        self.connect_dribble = connect_dribble
        self.connect_status = connect_status

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
    def remote_port(self) -> int | None:
        """The remote address's port: the bound one once started, None without one.

        Like `port`, a remote port of 0 is bound to a free port on the first
        start and kept across restarts.
        """
        return self._remote_port

    @property
    def running(self) -> bool:
        """Whether the simulator is started (even while its local address is unreachable)."""
        with self._lock:
            return self._running

    @property
    def local_reachable(self) -> bool:
        """Whether the local address (`port`) takes connections, as it does by default.

        Setting it False while running closes the local listener, so a new
        connection to `port` is refused, and drops every connection that came
        in on it; the remote address (`remote_port`) and its connections stay.
        Setting it True listens on the same local port again (`OSError` if
        something else took the port meanwhile; a free one if none was ever
        bound, as `port` then says). Before `start` it only
        decides whether `start` listens locally; it outlasts `stop`.
        """
        with self._lock:
            return self._local_reachable

    @local_reachable.setter
    def local_reachable(self, reachable: bool) -> None:
        with self._lifecycle:
            with self._lock:
                running = self._running
                if not reachable or not running:
                    self._local_reachable = reachable
                listener = self._listeners.pop(LOCAL, None) if not reachable else None
            if not running:
                return
            if reachable:
                if LOCAL not in self._listeners:
                    self._port = self._listen(LOCAL, self._port)
                    _LOGGER.info("Simulator reachable again on %s port %d", self._host, self._port)
                with self._lock:
                    self._local_reachable = True
                return
            if listener is not None:
                self._close_listener(listener)
                _LOGGER.info("Simulator unreachable on %s port %d", self._host, self._port)
            self._close_sessions(LOCAL)

    def start(self) -> None:
        """Bind the port(s) and start accepting connections; raise `OSError` if it cannot bind."""
        with self._lifecycle:
            with self._lock:
                if self._running:
                    raise RuntimeError("the simulator is already running")
                local = self._local_reachable
            if self._host not in _LOOPBACK_HOSTS:
                _LOGGER.warning(
                    "Simulator binds to %s: it is reachable from other machines", self._host
                )
            self._shutdown.clear()
            try:
                if local:
                    self._port = self._listen(LOCAL, self._port)
                if self._remote_port is not None:
                    self._remote_port = self._listen(REMOTE, self._remote_port)
            except OSError:
                with self._lock:
                    opened = list(self._listeners.values())
                    self._listeners.clear()
                for listener in opened:
                    self._close_listener(listener)
                raise
            with self._lock:
                self._running = True
        if local:
            _LOGGER.info("Simulator listening on %s port %d", self._host, self._port)
        else:
            _LOGGER.info("Simulator started with its local address unreachable")
        if self._remote_port is not None:
            _LOGGER.info(
                "Simulator listening on %s port %d (remote address)", self._host, self._remote_port
            )
        _LOGGER.info(
            "Simulator buses: %s",
            ", ".join(
                f"{number} {kind.value} (bus byte {self._addressing[number].bus_byte}, "
                f"base {self._addressing[number].base})"
                for number, kind in self._buses.items()
            ),
        )

    def _listen(self, via: str, port: int) -> int:
        """Open a listener for `via` on `port` and start accepting on it; return its port."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, port), family=family)
        sock.settimeout(_TICK)
        bound: int = sock.getsockname()[1]
        stop = threading.Event()
        thread = threading.Thread(
            target=self._accept_loop,
            args=(sock, via, stop),
            name=f"ipcom-simulator-accept-{bound}",
            daemon=True,
        )
        with self._lock:
            self._listeners[via] = _Listener(sock, via, stop, thread)
        thread.start()
        return bound

    @staticmethod
    def _close_listener(listener: _Listener) -> None:
        """Stop accepting on `listener` and wait until its thread closed the socket."""
        listener.stop.set()
        with contextlib.suppress(OSError):
            listener.sock.shutdown(socket.SHUT_RDWR)
        _join(listener.thread)

    def stop(self) -> None:
        """Close the listeners and every connection, and join every thread. Idempotent."""
        with self._lifecycle:
            self._shutdown.set()
            with self._lock:
                listeners = list(self._listeners.values())
                self._listeners.clear()
                was_running = self._running
                self._running = False
            for listener in listeners:
                self._close_listener(listener)
            self._close_sessions()
            with self._lock:
                threads = list(self._session_threads)
                self._session_threads.clear()
            for thread in threads:
                _join(thread)
            self.stop_activity()
        if was_running:
            _LOGGER.info("Simulator on port %d stopped", self._port)

    def drop_connections(self) -> None:
        """Close every client connection abruptly; the listeners stay open."""
        self._close_sessions()

    def set_bus_reachable(self, bus: int, reachable: bool) -> None:
        """Cut one bus's connections off (False), or let them connect again (True).

        While cut, the connections that named `bus` are closed and a new one
        naming it is closed right after its connect request, unanswered: an
        outage of that bus's link alone, the other bus carrying on.
        """
        if bus not in self._buses:
            raise ValueError(f"this installation has bus {_names(self._buses)}, not {bus}")
        with self._lock:
            if reachable:
                self._cut_buses.discard(bus)
                return
            self._cut_buses.add(bus)
            sessions = [s for s in self._sessions if s.established and s.bus == bus]
        for session in sessions:
            session.close()
        for session in sessions:
            if session.thread is not None:
                _join(session.thread)

    def _close_sessions(self, via: str | None = None) -> None:
        """Close the connections that came in on `via` (every one when None) and join them."""
        with self._lock:
            sessions = [s for s in self._sessions if via is None or s.via == via]
        for session in sessions:
            session.close()
        for session in sessions:
            if session.thread is not None:
                _join(session.thread)

    # Installation state

    @property
    def dimmer_modules(self) -> frozenset[int]:
        """The first bus's modules whose outputs are dimmers (levels 0..100), not relays."""
        return self._dimmer_modules[self.bus]

    @property
    def dimmer_modules_by_bus(self) -> dict[int, frozenset[int]]:
        """Every bus of the installation with its dimmer modules (maybe none)."""
        return dict(self._dimmer_modules)

    @property
    def bus(self) -> int:
        """The installation's first bus (the lowest numbered): what `bus=None` means.

        With a single bus, the bus this installation simulates, as named in
        byte 54 of a connect request.
        """
        return next(iter(self._buses))

    @property
    def buses(self) -> dict[int, BusType]:
        """The installation's buses and their types, lowest number first."""
        return dict(self._buses)

    @property
    def tricom(self) -> bool:
        """Whether this is a TriCom installation (bus 1 writes bus byte 2, section 6)."""
        return self._tricom

    def addressing(self, *, bus: int | None = None) -> codec.Addressing:
        """The bus byte and base address the frames of a connection to `bus` must carry."""
        return self._addressing[self._bus_of(bus)]

    @property
    def plaintext(self) -> PlaintextMode | None:
        """How the installation asks for sessions without the cipher; None: it never does."""
        return self._plaintext

    @property
    def firmware_version(self) -> str:
        """The firmware version its connect response names (4 ASCII characters)."""
        return self._firmware_version

    @firmware_version.setter
    def firmware_version(self, firmware: str) -> None:
        """Take a firmware update: connections from now on are told the new version."""
        codec.check_firmware(firmware)
        with self._lock:
            self._firmware_version = firmware

    @property
    def public_key(self) -> bytes:
        """The installation's key; each connection's own with `new_key_per_connection`."""
        return self._public_key

    def _bus_of(self, bus: int | None) -> int:
        """The bus a `bus=` argument names: the first one for None; `ValueError` if absent."""
        if bus is None:
            return self.bus
        if isinstance(bus, bool) or not isinstance(bus, int):
            raise TypeError(f"bus must be an int, got {type(bus).__name__}")
        if bus not in self._buses:
            raise ValueError(f"this installation has bus {_names(self._buses)}, not bus {bus}")
        return bus

    def snapshot(self, *, bus: int | None = None) -> StateSnapshot:
        """All 128 output values of a bus now."""
        outputs = self._outputs[self._bus_of(bus)]
        with self._lock:
            return StateSnapshot(tuple(value for row in outputs for value in row))

    def get_value(self, module: int, output: int, *, bus: int | None = None) -> int:
        """The value of one output."""
        validate_address(module, output)
        outputs = self._outputs[self._bus_of(bus)]
        with self._lock:
            return outputs[module - 1][output - 1]

    def get_module_values(self, module: int, *, bus: int | None = None) -> tuple[int, ...]:
        """The eight values of one module."""
        validate_module(module)
        outputs = self._outputs[self._bus_of(bus)]
        with self._lock:
            return tuple(outputs[module - 1])

    def set_output(self, module: int, output: int, value: int, *, bus: int | None = None) -> None:
        """Change an output as the installation itself would (not a client write).

        A dimmer output takes 0..100 only.
        """
        validate_address(module, output)
        validate_value(value)
        number = self._bus_of(bus)
        if module in self._dimmer_modules[number] and value > DIMMER_MAX:
            raise ValueError(f"output {module}.{output} is a dimmer: 0..{DIMMER_MAX}, got {value}")
        with self._lock:
            self._store(number, module, output, value)
            self._changed.notify_all()

    def press(self, module: int, output: int, *, bus: int | None = None) -> int:
        """Press the wall switch of an output; return the value it has now.

        A relay toggles between off and on; a dimmer toggles between off and
        the last level it had (full when it never had one).
        """
        validate_address(module, output)
        number = self._bus_of(bus)
        with self._lock:
            current = self._outputs[number][module - 1][output - 1]
            if current != RELAY_OFF:
                value = RELAY_OFF
            elif module in self._dimmer_modules[number]:
                value = self._last_levels.get((number, module, output), DEFAULT_DIMMER_LEVEL)
            else:
                value = RELAY_ON
            self._store(number, module, output, value)
            self._changed.notify_all()
        _LOGGER.debug(
            "Switch %d.%d on bus %d pressed: %d -> %d", module, output, number, current, value
        )
        return value

    def _store(self, bus: int, module: int, output: int, value: int) -> None:
        """Set one value; the caller holds the lock."""
        self._outputs[bus][module - 1][output - 1] = value
        if value != RELAY_OFF and module in self._dimmer_modules[bus]:
            self._last_levels[bus, module, output] = value

    # Observation

    def writes(self, *, bus: int | None = None) -> list[ReceivedWrite]:
        """The writes to a bus received so far (since `clear_writes`), in arrival order."""
        number = self._bus_of(bus)
        with self._lock:
            return [write for write in self._writes if write.bus == number]

    def clear_writes(self) -> None:
        """Forget the recorded writes, on every bus."""
        with self._lock:
            self._writes.clear()

    def on_write(
        self, callback: Callable[[ReceivedWrite], None], *, bus: int | None = None
    ) -> Callable[[], None]:
        """Call `callback` from a connection thread after each applied write to a bus.

        It runs before the frame's snapshot answer is taken, so what it changes
        (an output that will not stay on, say) shows in that answer.

        Returns a function that unsubscribes it.
        """
        return self._subscribe(self._write_callbacks, self._bus_of(bus), callback)

    def on_snapshot(
        self, callback: Callable[[SentSnapshot], None], *, bus: int | None = None
    ) -> Callable[[], None]:
        """Call `callback` from a connection thread once each snapshot of a bus has been sent.

        Returns a function that unsubscribes it.
        """
        return self._subscribe(self._snapshot_callbacks, self._bus_of(bus), callback)

    def _subscribe(
        self, callbacks: list[tuple[int, _C]], bus: int, callback: _C
    ) -> Callable[[], None]:
        entry = (bus, callback)
        with self._lock:
            callbacks.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in callbacks:
                    callbacks.remove(entry)

        return unsubscribe

    @property
    def polls_received(self) -> int:
        """Status polls the device acted on (polls that arrive while frozen are ignored)."""
        with self._lock:
            return self._polls_received

    @property
    def requests_received(self) -> int:
        """Polls, set-outputs frames (valid or not) and keep-alives the device acted on.

        Counted when the device takes a request up, before its request time;
        messages read while frozen are ignored and not counted.
        """
        with self._lock:
            return self._requests_received

    @property
    def overlapping_requests(self) -> int:
        """Requests that arrived before the previous request of their connection was answered.

        A client that keeps the vendor's pacing (PROTOCOL.md section 4: one
        request outstanding) leaves this at 0. Requests are polls, frames and
        keep-alives (`REQUEST_COMMANDS`), counted per connection, each at
        most once. A request is answered when the device hands the last byte
        of its reply to the socket, or when the device settles that no reply
        will come: a frame applied while `answer_frames` is off or followed
        by a `drop_after_frames` close, a request read while frozen, a reply
        dropped because the device froze meanwhile. A reply held back by
        `glue_replies` counts as answered when it is held: the client cannot
        see it yet, but the device has answered, and a client that then
        sends a request before the held reply arrives is counted nowhere.
        An unasked snapshot (`report_interval`) answers nothing, so a client
        that takes one for the answer to its outstanding poll and sends the
        next request is counted.

        Exact, not timed: right before each answer (before the last piece of
        a split reply) the device reads whatever the socket holds, without
        waiting, and counts every request that is there, whole or only
        begun. Only bytes that arrive during that last send call itself
        escape it.
        """
        with self._lock:
            return self._overlapping_requests

    @property
    def reports_sent(self) -> int:
        """Unasked snapshots sent (or held for gluing) because of `report_interval`."""
        with self._lock:
            return self._reports_sent

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

    def wait_for_value(
        self, module: int, output: int, value: int, timeout: float = 5.0, *, bus: int | None = None
    ) -> None:
        """Block until an output has `value`; raise `TimeoutError` otherwise."""
        validate_address(module, output)
        row = self._outputs[self._bus_of(bus)][module - 1]
        with self._changed:
            if not self._changed.wait_for(lambda: row[output - 1] == value, timeout):
                raise TimeoutError(
                    f"output {module}.{output} is {row[output - 1]}, not {value}, after {timeout} s"
                )

    def wait_for_write(
        self,
        predicate: Callable[[ReceivedWrite], bool] | None = None,
        timeout: float = 5.0,
        *,
        bus: int | None = None,
    ) -> ReceivedWrite:
        """Return the earliest recorded write to a bus matching `predicate` (any if None).

        Writes recorded before the call count too, so a write that arrived
        before the wait started is not missed; `clear_writes` forgets them.
        Raises `TimeoutError` when no such write arrives within `timeout`.
        """
        number = self._bus_of(bus)

        def find() -> ReceivedWrite | None:
            for write in self._writes:
                if write.bus == number and (predicate is None or predicate(write)):
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
        """Seconds between taking a reply and sending it: every reply is late, and a snapshot stale.

        The reply is made first (a snapshot's values are read, after a frame
        took effect), then the device waits this long, then sends it; the
        unasked snapshots of `report_interval` wait too. The device reads no
        request meanwhile, so it adds to `request_time` and `bus_latency`.
        """
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
    def request_time(self) -> float:
        """Seconds a serial device takes for each request before handling it.

        Every poll, frame and keep-alive waits this long once the device takes
        it up; then a poll's snapshot is read, a frame takes effect (after the
        `bus_latency`), a keep-alive is answered. The device takes up the next
        request only after it sent this one's reply, so requests a client
        sends meanwhile queue in the socket (and count in
        `overlapping_requests`).
        """
        with self._lock:
            return self._request_time

    @request_time.setter
    def request_time(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"request time must not be negative, got {seconds}")
        with self._lock:
            self._request_time = float(seconds)

    @property
    def report_interval(self) -> float | None:
        """Send every established connection a snapshot this often, unasked (None: never).

        The report is the state when it is due, encrypted with the session
        key, and goes through the same path as a reply (`reply_delay`,
        `glue_replies`, `chunk_size`, an injected prefix; nothing while
        frozen). The connection's own thread sends it between requests, so it
        never interleaves with a reply and waits while a request is handled
        (a `request_time` delays it). The first report comes one interval after
        the handshake, or after the interval was set. It answers no request.
        """
        with self._lock:
            return self._report_interval

    @report_interval.setter
    def report_interval(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"report interval must be positive or None, got {seconds}")
        with self._lock:
            self._report_interval = None if seconds is None else float(seconds)

    @property
    def drop_after_frames(self) -> int:
        """How many more set-outputs frames close their connection right after taking effect.

        Each valid frame that takes effect while this is above 0 uses one up:
        the frame is applied and recorded (`on_write` runs), then the device
        closes the connection without answering it. Set it to 1 for a single
        drop; `wait_until(lambda sim: sim.drop_after_frames == 0)` waits for
        it. Frames ignored for a protocol error or while frozen do not count.
        """
        with self._lock:
            return self._drop_after_frames

    @drop_after_frames.setter
    def drop_after_frames(self, count: int) -> None:
        if count < 0:
            raise ValueError(f"frames to drop after must not be negative, got {count}")
        with self._lock:
            self._drop_after_frames = count
            self._changed.notify_all()

    @property
    def connect_dribble(self) -> float | None:
        """Send each answer to a connect request one byte at a time, this many seconds apart.

        None sends it whole. It covers the connect response, a refusal and
        the raw rejection bytes alike.
        """
        with self._lock:
            return self._connect_dribble

    @connect_dribble.setter
    def connect_dribble(self, seconds: float | None) -> None:
        if seconds is not None and seconds < 0:
            raise ValueError(f"connect dribble must not be negative, got {seconds}")
        with self._lock:
            self._connect_dribble = None if seconds is None else float(seconds)

    @property
    def connect_status(self) -> int:
        """The status byte of the connect response (PROTOCOL.md section 3; 1 is connected).

        With anything but 1, every connect request the device would accept
        (right credentials and bus) is answered with a 135-byte connect
        response carrying this status and no key, and the connection is
        closed: a refusal. Wrong credentials still get the raw `7e e3`, a
        wrong bus or lock status 0.
        """
        with self._lock:
            return self._connect_status

    @connect_status.setter
    def connect_status(self, status: int) -> None:
        if not 0 <= status <= 0xFF:
            raise ValueError(f"connect status is a byte, got {status}")
        with self._lock:
            self._connect_status = status

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
        *,
        bus: int | None = None,
    ) -> None:
        """Press a random one of `addresses` (on `bus`) now and then, like a household would.

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
        number = self._bus_of(bus)
        self.stop_activity()
        stop = threading.Event()
        thread = threading.Thread(
            target=self._activity_loop,
            args=(tuple(addresses), mean_interval, random.Random(seed), stop, number),
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
        bus: int,
    ) -> None:
        while not stop.wait(rng.expovariate(1.0 / mean_interval)):
            module, output = rng.choice(addresses)
            value = self.press(module, output, bus=bus)
            _LOGGER.info(
                "Activity: switch %d.%d pressed, now %d (bus %d)", module, output, value, bus
            )

    # Network side

    def _accept_loop(self, listener: socket.socket, via: str, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    sock, address = listener.accept()
                except TimeoutError:
                    continue
                except OSError as err:
                    if not stop.is_set():
                        _LOGGER.warning("Simulator cannot accept a connection: %s", err)
                        stop.wait(_TICK)
                    continue
                if stop.is_set():
                    sock.close()
                    break
                self._start_session(sock, address, via)
        finally:
            listener.close()

    def _start_session(self, sock: socket.socket, address: tuple[object, ...], via: str) -> None:
        sock.settimeout(_TICK)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._session_count += 1
            session = _Session(
                sock=sock,
                peer=f"{address[0]}:{address[1]}",
                number=self._session_count,
                via=via,
            )
            session.thread = threading.Thread(
                target=self._serve,
                args=(session,),
                name=f"ipcom-simulator-connection-{self._session_count}",
                daemon=True,
            )
            self._sessions.add(session)
            self._session_threads = {t for t in self._session_threads if t.is_alive()}
            self._session_threads.add(session.thread)
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
        """Answer the connect request; True when the session is established."""
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
        plain = self._plaintext == "nonsecure" and codec.is_plain_connect_request(request_bytes)
        masks = cipher.plaintext_masks() if plain else cipher.single_key_masks()
        try:
            request = codec.read_connect_request(cipher.decrypt(request_bytes, masks))
        except codec.WireError as err:
            self._count_protocol_error(f"bad connect request from {session.peer}: {err}")
            return False
        while self.frozen:
            if not self._receive(session):
                return False
        if self._plaintext == "nonsecure" and not plain:
            _LOGGER.info("Asked %s for a plaintext session (NonSecure)", session.peer)
            self._send_handshake_answer(session, NONSECURE_REPLY)
            return False
        return self._admit(session, request, masks)

    def _admit(
        self, session: _Session, request: codec.DeviceConnectRequest, masks: cipher.MaskTable
    ) -> bool:
        """Check credentials, then the bus, then the status to give; answer as the device would.

        The answer goes under `masks`, those the request came with. A
        request for a bus that `set_bus_reachable` cut off is not answered.
        """
        with self._lock:
            cut = request.bus in self._cut_buses
        if cut:
            _LOGGER.info("Bus %d is cut off: closing %s unanswered", request.bus, session.peer)
            return False
        with self._lock:
            accepted = hmac.compare_digest(
                request.username.encode(), self._username.encode()
            ) and hmac.compare_digest(request.password.encode(), self._password.encode())
            if not accepted:
                self._auth_failures += 1
                self._changed.notify_all()
            status = self._connect_status
        if not accepted:
            _LOGGER.warning(
                "Rejected credentials from %s for user %r", session.peer, request.username
            )
            self._send_handshake_answer(session, AUTH_REJECTED)
            return False
        if request.bus not in self._buses or request.bus_lock != CONNECT_BUS_LOCK:
            self._count_protocol_error(
                f"{session.peer} asked for bus {request.bus} with lock {request.bus_lock}; "
                f"this installation has bus {_names(self._buses)}, lock {CONNECT_BUS_LOCK}: "
                "not connected"
            )
            status = 0
        public_key = self._public_key
        if self._new_key_per_connection:
            public_key = os.urandom(PUBLIC_KEY_LENGTH)
        response = self._connect_answer(status, public_key)
        self._send_handshake_answer(session, cipher.encrypt(response, masks))
        if status != CONNECT_STATUS_SUCCESS:
            _LOGGER.info("Answered %s with connect status %d: not connected", session.peer, status)
            return False
        plaintext = self._plaintext is not None
        with self._lock:
            session.masks = (
                cipher.plaintext_masks() if plaintext else cipher.dual_key_masks(public_key)
            )
            session.bus = request.bus
            session.established = True
            self._connections_accepted += 1
            self._changed.notify_all()
        _LOGGER.info(
            "Client %s connected as %r to bus %d at the %s address%s",
            session.peer,
            request.username,
            request.bus,
            session.via,
            ", without the cipher" if plaintext else "",
        )
        return True

    def _connect_answer(self, status: int, public_key: bytes) -> bytes:
        """The connect response plaintext for `status`: the short form, or the 135-byte one."""
        if self._plaintext == "short":
            return codec.short_response(status)
        if status == CONNECT_STATUS_SUCCESS:
            return codec.success_response(self._firmware_version, public_key)
        return codec.refusal_response(self._firmware_version, status)

    def _send_handshake_answer(self, session: _Session, data: bytes) -> None:
        """Send the answer to a connect request, whole or dribbled byte by byte."""
        dribble = self.connect_dribble
        if dribble is None:
            self._send(session, data, None)
        else:
            self._send(session, data, 1, pause=dribble)

    def _converse(self, session: _Session) -> None:
        """Answer dual-key requests one at a time until the client leaves or the session closes.

        Between requests the thread flushes held and injected bytes, sends a
        due report, and waits for bytes (at most until the next report is due).
        """
        session.reader = codec.RequestReader(session.masks)
        session.last_report = time.monotonic()
        self._take_in(session)
        while True:
            while session.inbox:
                if not self._handle(session, session.inbox.popleft()):
                    return
            if session.peer_closed:
                return
            self._flush_pending(session)
            wait = self._report_if_due(session)
            if not self._receive(session, wait):
                return
            self._take_in(session)

    def _receive(self, session: _Session, timeout: float = _TICK) -> bool:
        """Wait up to `timeout` for bytes; False once the peer has closed."""
        if session.closing.is_set() or self._shutdown.is_set():
            raise _SessionClosedError
        session.sock.settimeout(max(timeout, _SHORTEST_WAIT))
        started = time.monotonic()
        try:
            data = session.sock.recv(_RECV_SIZE)
        except TimeoutError:
            return True
        finally:
            session.sock.settimeout(_TICK)
        if not data:
            return False
        session.read_at = time.monotonic()
        waited = session.read_at - started >= _QUEUED_READ_BOUND
        session.read_waited = waited or not session.slept
        session.slept = False
        session.received += data
        return True

    def _read_ahead(self, session: _Session) -> None:
        """Read, without waiting, whatever the client sent while the device was busy.

        The bytes arrived at some time since the last receive: right now
        unless the thread slept meanwhile. The requests they complete queue
        behind the one being handled (at most `_MAX_INBOX`; TCP holds more).
        """
        if session.peer_closed or len(session.inbox) >= _MAX_INBOX:
            return
        got = False
        session.sock.settimeout(0)
        try:
            while True:
                try:
                    data = session.sock.recv(_RECV_SIZE)
                except BlockingIOError:
                    break
                if not data:
                    session.peer_closed = True
                    break
                session.received += data
                got = True
        finally:
            session.sock.settimeout(_TICK)
        if got:
            session.read_at = time.monotonic()
            session.read_waited = not session.slept
            session.slept = False
            self._take_in(session)

    def _take_in(self, session: _Session) -> None:
        """Cut the received bytes into requests and queue them with their read time."""
        reader = session.reader
        assert reader is not None
        for request in reader.feed(bytes(session.received)):
            inbound = _Inbound(request, session.read_at, session.read_waited)
            if session.pending_counted:
                inbound.counted = request.command in REQUEST_COMMANDS
                session.pending_counted = False
            session.inbox.append(inbound)
        session.received.clear()
        if reader.unknown_messages != session.unknown_seen:
            self._count_protocol_error(
                f"{reader.unknown_messages - session.unknown_seen} unknown message(s) "
                f"from {session.peer}"
            )
            session.unknown_seen = reader.unknown_messages

    def _answered(self, session: _Session) -> None:
        """The request being handled is answered, or will never be: count what came before.

        Every request already in the socket, whole or begun, was sent before
        the client could have had the answer (`overlapping_requests`).
        """
        self._read_ahead(session)
        overlapping = 0
        for inbound in session.inbox:
            if inbound.request.command in REQUEST_COMMANDS and not inbound.counted:
                inbound.counted = True
                overlapping += 1
        assert session.reader is not None
        if not session.pending_counted and session.reader.pending_command in REQUEST_COMMANDS:
            session.pending_counted = True
            overlapping += 1
        if overlapping:
            with self._lock:
                self._overlapping_requests += overlapping
                self._changed.notify_all()
            _LOGGER.debug(
                "%d request(s) from %s came before the previous one was answered",
                overlapping,
                session.peer,
            )

    def _pause(self, session: _Session, seconds: float) -> None:
        """Be busy for `seconds`: bytes that arrive meanwhile queue in the socket."""
        if seconds > 0:
            session.slept = True
            if session.closing.wait(seconds):
                raise _SessionClosedError

    def _handle(self, session: _Session, inbound: _Inbound) -> bool:
        """Act on one client message; False when the connection must close."""
        command = inbound.request.command
        with self._lock:
            frozen = self._frozen
            if frozen:
                self._ignored_messages += 1
                self._changed.notify_all()
            elif command in REQUEST_COMMANDS:
                self._requests_received += 1
                if command == STATUS_COMMAND:
                    self._polls_received += 1
                elif command == KEEPALIVE_COMMAND:
                    self._keepalives_received += 1
                self._changed.notify_all()
        if frozen:
            if command in REQUEST_COMMANDS:
                self._answered(session)
            return True
        if command == DISCONNECT_COMMAND:
            with self._lock:
                self._disconnects_received += 1
                self._changed.notify_all()
            _LOGGER.debug("Client %s asked to disconnect", session.peer)
            return False
        self._pause(session, self.request_time)
        if command == STATUS_COMMAND:
            with self._lock:
                reply = codec.snapshot_message(self._outputs[session.bus])
                taken_at = time.monotonic()
            self._reply(session, reply, taken_at)
        elif command == SET_OUTPUTS_COMMAND:
            self._apply_frame(session, inbound)
        else:
            self._reply(session, bytes([KEEPALIVE_COMMAND, MESSAGE_VERSION]))
        return True

    def _apply_frame(self, session: _Session, inbound: _Inbound) -> None:
        """Let a frame take effect after the bus latency, then answer it with a snapshot.

        A frame the device will not answer (`answer_frames` off, or a drop
        armed by `drop_after_frames`) is answered, for `overlapping_requests`,
        right before it takes effect: what a client sends after seeing the
        effect must not count.
        """
        self._pause(session, self.bus_latency)
        try:
            frame = codec.read_frame(inbound.request.plain, self._addressing[session.bus])
        except codec.WireError as err:
            self._count_protocol_error(f"set-outputs frame from {session.peer} ignored: {err}")
            frame = None
        with self._lock:
            answer = self._answer_frames
            drop = frame is not None and self._drop_after_frames > 0
            if drop:
                self._drop_after_frames -= 1
                self._changed.notify_all()
        if drop or not answer:
            self._answered(session)
        if frame is not None:
            self._notify_write(self._store_frame(session, frame, inbound))
        if drop:
            _LOGGER.info("Closing %s right after its frame took effect", session.peer)
            session.close()
            raise _SessionClosedError
        if answer:
            with self._lock:
                reply = codec.snapshot_message(self._outputs[session.bus])
                taken_at = time.monotonic()
            self._reply(session, reply, taken_at)

    def _store_frame(
        self, session: _Session, frame: codec.Frame, inbound: _Inbound
    ) -> ReceivedWrite:
        module = frame.module
        bus = session.bus
        dimmer = module in self._dimmer_modules[bus]
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
                self._store(bus, module, output, min(value, DIMMER_MAX) if dimmer else value)
            write = ReceivedWrite(
                module,
                frame.values,
                time.time(),
                connection=session.number,
                received_at=inbound.read_at,
                applied_at=time.monotonic(),
                snapshots=tuple(s for s in session.snapshots if s.sent_at <= inbound.read_at),
                arrival_known=inbound.arrival_known,
                bus=bus,
            )
            self._writes.append(write)
            self._changed.notify_all()
        _LOGGER.debug(
            "Client %s wrote module %d on bus %d: %s", session.peer, module, bus, frame.values
        )
        return write

    def _notify_write(self, write: ReceivedWrite) -> None:
        with self._lock:
            callbacks = [callback for bus, callback in self._write_callbacks if bus == write.bus]
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

    def _report_if_due(self, session: _Session) -> float:
        """Send an unasked snapshot when one is due; return how long to wait for bytes."""
        interval = self.report_interval
        now = time.monotonic()
        if interval is None:
            session.last_report = now
            return _TICK
        due = session.last_report + interval
        if now < due:
            return min(_TICK, due - now)
        session.last_report = now
        with self._lock:
            if self._frozen:
                return min(_TICK, interval)
            self._reports_sent += 1
            report = codec.snapshot_message(self._outputs[session.bus])
            taken_at = time.monotonic()
            self._changed.notify_all()
        self._reply(session, report, taken_at, answers=False)
        return min(_TICK, max(session.last_report + interval - time.monotonic(), 0.0))

    def _reply(
        self,
        session: _Session,
        plain: bytes,
        taken_at: float | None = None,
        *,
        answers: bool = True,
    ) -> None:
        """Send one message through the fault knobs: delay, glue, injected prefix, chunks.

        `taken_at` marks a snapshot, logged with the moment its last byte went
        out. `answers` says it answers the request being handled (a report
        does not), which `overlapping_requests` settles before the last byte.
        """
        self._pause(session, self.reply_delay)
        encrypted = cipher.encrypt(plain, session.masks)
        taken = [] if taken_at is None else [taken_at]
        with self._lock:
            frozen = self._frozen
            held = not frozen and self._glue_replies and not session.held
            if frozen:
                data = b""
            elif held:
                session.held = session.glued_prefix + encrypted
                session.held_since = time.monotonic()
                session.held_taken = taken
                data = b""
            else:
                data = session.held + session.glued_prefix + encrypted
                taken = session.held_taken + taken
                session.held = b""
                session.held_taken = []
            if not frozen:
                session.glued_prefix = b""
            chunk_size = self._chunk_size
        if not data:
            if answers:
                self._answered(session)
            return
        self._send(
            session,
            data,
            chunk_size,
            before_last=(lambda: self._answered(session)) if answers else None,
        )
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
        sent = [SentSnapshot(taken_at, sent_at, session.number, session.bus) for taken_at in taken]
        session.snapshots.extend(sent)
        with self._lock:
            callbacks = [
                callback for bus, callback in self._snapshot_callbacks if bus == session.bus
            ]
        for callback in callbacks:
            for snapshot in sent:
                try:
                    callback(snapshot)
                except Exception:
                    _LOGGER.exception("Snapshot callback %r failed", callback)

    def _send(
        self,
        session: _Session,
        data: bytes,
        chunk_size: int | None,
        *,
        pause: float = _CHUNK_PAUSE,
        before_last: Callable[[], None] | None = None,
    ) -> None:
        """Write all of `data`, in pieces `pause` apart when asked.

        Only the session's thread calls this. `before_last` runs right before
        the last piece goes out.
        """
        step = chunk_size or len(data)
        starts = range(0, len(data), step)
        for start in starts:
            if start:
                self._pause(session, pause)
            if before_last is not None and start == starts[-1]:
                before_last()
            view = memoryview(data)[start : start + step]
            while view:
                if session.closing.is_set():
                    raise _SessionClosedError
                try:
                    sent = session.sock.send(view)
                except TimeoutError:
                    continue
                view = view[sent:]


def _installation_buses(
    bus: int, bus_type: BusType, buses: Mapping[int, BusType] | None
) -> dict[int, BusType]:
    """The installation's buses, lowest number first: `buses`, or the single `bus`."""
    if buses is None:
        buses = {bus: bus_type}
    elif bus != DEFAULT_BUS or BusType(bus_type) is not BusType.MINIDO:
        raise ValueError("give the buses either as buses={...} or as bus= and bus_type=")
    if not buses:
        raise ValueError("an installation has at least one bus")
    for number in buses:
        if isinstance(number, bool) or number not in BUSES:
            raise ValueError(f"an installation has bus 1 or 2, got {number!r}")
    return {number: BusType(buses[number]) for number in sorted(buses)}


def _dimmers_by_bus(
    buses: Mapping[int, BusType],
    first_bus_dimmers: Iterable[int],
    dimmers_by_bus: Mapping[int, Iterable[int]] | None,
) -> dict[int, frozenset[int]]:
    """Each bus's dimmer modules: the first bus's from `dimmer_modules`, any from the map."""
    first = next(iter(buses))
    given = {number: frozenset(modules) for number, modules in (dimmers_by_bus or {}).items()}
    for number in given:
        if number not in buses:
            raise ValueError(
                f"dimmer modules given for bus {number!r}; this installation has bus "
                f"{_names(buses)}"
            )
    dimmers = {number: given.get(number, frozenset()) for number in buses}
    first_dimmers = frozenset(first_bus_dimmers)
    if first_dimmers:
        if given.get(first):
            raise ValueError(
                f"dimmer modules of bus {first} given twice: as dimmer_modules and in "
                "dimmer_modules_by_bus"
            )
        dimmers[first] = first_dimmers
    for modules in dimmers.values():
        for module in modules:
            validate_module(module)
    return dimmers


def _names(buses: Iterable[int]) -> str:
    """`1`, or `1 and 2`: the buses of an installation in words."""
    return " and ".join(str(number) for number in buses)


def _join(thread: threading.Thread) -> None:
    """Join a simulator thread unless it is the caller (a callback that stops the simulator)."""
    if thread is not threading.current_thread():
        thread.join(_JOIN_TIMEOUT)
        if thread.is_alive():
            _LOGGER.error("Simulator thread %s did not stop", thread.name)
