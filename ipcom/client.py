"""`IPComClient`: one persistent connection to an installation, two loops and a listener thread.

The receive loop owns reading and reconnecting; the request loop owns
sending, one request at a time as the vendor application does (`pacing`);
every listener and write-handle callback runs on the listener thread
(`dispatch`), so no caller's code ever runs on a thread that judges the link.
Whether the client runs is the business of one `Lifecycle`, changed under the
client's lock together with the session and the writes, so a start, a stop
and a dropped link can never leave the client half in one state and half in
another. Writes are merged per module and held until the session's first
snapshot arrived: a set-outputs frame carries all eight outputs of a module,
so it may only be built on the current session's view of the installation.
An installation may have a local and a remote address: every connect tries
the local one first, and a session on the remote one gives way as soon as a
periodic check finds the local one answering again (PROTOCOL.md section 1).
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from statistics import median
from typing import Final, TypeVar

from . import cipher, messages
from .backoff import Backoff
from .dispatch import Dispatcher
from .endpoints import Endpoint, remote_endpoint
from .errors import IPComAuthenticationError, IPComConnectionError, IPComError
from .lifecycle import Lifecycle, Phase, Run
from .models import (
    ClientStatistics,
    ConnectionEvent,
    ConnectionState,
    OutputAddress,
    StateSnapshot,
    validate_address,
    validate_module,
    validate_percent,
    validate_value,
)
from .pacing import Pacer, RequestKind, monotonic
from .protocol import (
    COMMAND_INTERVAL,
    CONNECT_TIMEOUT,
    DEFAULT_BUS,
    DEFAULT_PORT,
    KEEPALIVE_COMMAND,
    KEEPALIVE_INTERVAL,
    LOCAL_RETRY_INTERVAL,
    LOCAL_RETRY_MAX,
    POLL_INTERVAL,
    RECONNECT_BASE,
    RECONNECT_HEALTHY_AFTER,
    RECONNECT_JITTER,
    RECONNECT_MAX,
    RELAY_OFF,
    RELAY_ON,
    SOCKET_TIMEOUT,
    STALE_AFTER,
    STATUS_COMMAND,
    BusType,
)
from .session import Deadline, PlaintextRequestedError, Session, connect, handshake
from .writes import (
    AbandonedWrite,
    AbandonReason,
    PendingWrite,
    Reports,
    WriteHandle,
    WriteTracker,
    frame_shown,
)

_LOGGER = logging.getLogger(__name__)

STOP_JOIN_TIMEOUT: Final = 2.0
RECEIVE_CHUNK: Final = 4096
STALE_CHECK_MARGIN: Final = 0.01
"""How long after the stale bound the request loop looks again, so it finds it passed."""
POLL_ROUND_TRIP_SAMPLES: Final = 20
"""Answered polls the round-trip figure is the median of (ours: a few seconds' worth)."""

SnapshotCallback = Callable[[StateSnapshot], None]
ConnectionCallback = Callable[[ConnectionEvent], None]
AbandonedCallback = Callable[[AbandonedWrite], None]
OutputsCallback = Callable[[frozenset[OutputAddress]], None]
_T = TypeVar("_T")


@dataclass
class _Counters:
    snapshots_received: int = 0
    polls_sent: int = 0
    writes_sent: int = 0
    reconnects: int = 0
    dropped_bytes: int = 0
    unknown_messages: int = 0
    last_error: str | None = None
    connected_since: float | None = None


@dataclass(frozen=True, slots=True)
class _Send:
    """Send these bytes: a request that has taken the slot."""

    data: bytes


@dataclass(frozen=True, slots=True)
class _Wait:
    """Nothing may go yet: wait this long, or until something changes."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Drop:
    """The link failed (stale, or a send failed): take it out of service."""

    reason: str


@dataclass(frozen=True, slots=True)
class _Leave:
    """The local address answers again: end this remote session cleanly and reconnect."""

    reason: str


_Action = _Send | _Wait | _Drop | _Leave
"""What the request loop does next."""


class IPComClient:
    """A thread-safe client holding one persistent connection to an installation."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        username: str = "",
        password: str = "",
        *,
        poll_interval: float = POLL_INTERVAL,
        command_interval: float = COMMAND_INTERVAL,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        socket_timeout: float = SOCKET_TIMEOUT,
        stale_after: float = STALE_AFTER,
        reconnect_base: float = RECONNECT_BASE,
        reconnect_max: float = RECONNECT_MAX,
        bus: int = DEFAULT_BUS,
        bus_type: BusType = BusType.MINIDO,
        tricom: bool = False,
        remote_host: str | None = None,
        remote_port: int = DEFAULT_PORT,
        serial: str | None = None,
        local_retry_interval: float = LOCAL_RETRY_INTERVAL,
    ) -> None:
        """Configure the client; nothing connects before `start_persistent_connection`.

        `bus` is the installation's bus this connection serves (1 or 2, sent
        in the connect request); `bus_type` that bus's type and `tricom`
        whether the installation is a TriCom. Together they address its
        set-outputs frames (PROTOCOL.md section 6); the defaults are the
        captured installation's, a "Minido" bus 1.

        `host` and `port` are the installation's local address; `remote_host`
        and `remote_port` its remote one, if it has one (PROTOCOL.md section
        1). Every connect tries the local address first and the remote one
        when the local one cannot be reached; while a session runs on the
        remote address the local one is tried again every
        `local_retry_interval` seconds, and the client moves back as soon as
        it answers. A remote login to a TriCom (`tricom`) sends the
        installation's `serial` number followed by the username as its
        username (section 3), so a TriCom with a remote address needs it.
        """
        self._addressing = messages.BusAddressing(bus, bus_type, tricom)
        self._local = Endpoint(host, port, username, remote=False)
        self._remote = remote_endpoint(remote_host, remote_port, serial, username, tricom=tricom)
        for name, value in (
            ("poll_interval", poll_interval),
            ("command_interval", command_interval),
            ("keepalive_interval", keepalive_interval),
            ("socket_timeout", socket_timeout),
            ("stale_after", stale_after),
            ("reconnect_base", reconnect_base),
            ("reconnect_max", reconnect_max),
            ("local_retry_interval", local_retry_interval),
        ):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")
        if stale_after <= poll_interval:
            raise ValueError(
                f"stale_after ({stale_after:g} s) must be longer than poll_interval "
                f"({poll_interval:g} s): a link cannot be judged silent before it was asked"
            )
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._poll_interval = poll_interval
        self._command_interval = command_interval
        self._keepalive_interval = keepalive_interval
        self._socket_timeout = socket_timeout
        self._stale_after = stale_after
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        self._local_retry_interval = local_retry_interval
        self._backoff = self._new_backoff()

        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        """Taken before `_lock` when both are needed, never while holding it."""
        self._lifecycle = Lifecycle(self._lock)
        self._changed = self._lifecycle.changed
        self._threads: list[threading.Thread] = []
        self._dispatcher = Dispatcher(f"ipcom-client-listeners-{host}:{port}")
        """Runs every listener and handle callback, in the order of the changes (under `_lock`)."""

        self._session: Session | None = None
        self._session_count = 0
        self._announced = ConnectionState.DISCONNECTED
        """The connection state the listeners were last told of (under `_lock`)."""
        self._snapshot: StateSnapshot | None = None
        self._writes = WriteTracker()
        self._frame_outstanding: tuple[int, dict[int, PendingWrite]] | None = None
        """The module and writes of the newest frame, to see whether a snapshot shows it."""
        self._counters = _Counters()
        self._poll_round_trips: deque[float] = deque(maxlen=POLL_ROUND_TRIP_SAMPLES)
        """Seconds from each of the session's latest polls to its snapshot (under `_lock`)."""
        self._firmware_version: str | None = None
        """What the newest session's connect response named (under `_lock`)."""
        self._local_retry_at = 0.0
        self._local_retry_delay = local_retry_interval
        """Seconds between tries of the local address: doubled each time it took a TCP
        connection but the login there failed and the client came back to the remote one."""
        self._returning_to_local = False
        """When the next check whether the local address answers is due (under `_lock`)."""
        self._local_retry_running = False
        """A check of the local address is under way on its own short-lived thread."""
        self._local_answered: Session | None = None
        """The remote session to leave because the local address answered (under `_lock`)."""
        self._local_retry_socket: socket.socket | None = None
        """The socket that check connects, so `stop` can shut it (under `_lock`)."""
        self._reconnect_now = False
        """The next reconnect skips the backoff: the session was left on purpose."""
        self._last_remote = False
        """Whether the session installed last ran on the remote address (under `_lock`)."""

        self._snapshot_listeners: list[SnapshotCallback] = []
        self._connection_listeners: list[ConnectionCallback] = []
        self._abandoned_listeners: list[AbandonedCallback] = []
        self._outputs_listeners: list[OutputsCallback] = []
        self._expected: dict[OutputAddress, int] = {}
        """Every output's expected value as the outputs listeners were last told (under `_lock`)."""

    def __repr__(self) -> str:
        return (
            f"IPComClient(host={self._host!r}, port={self._port}, "
            f"state={self._lifecycle.connection_state})"
        )

    @property
    def host(self) -> str:
        """The installation's local host name or address."""
        return self._host

    @property
    def port(self) -> int:
        """The installation's local TCP port."""
        return self._port

    @property
    def address(self) -> str:
        """The "host:port" the session in use runs on; the local one while not connected."""
        with self._lock:
            session = self._session
            if session is not None:
                return session.address
            return self._local.address

    @property
    def via_remote(self) -> bool:
        """Whether the session in use runs on the remote address (PROTOCOL.md section 1)."""
        with self._lock:
            session = self._session
            return session is not None and session.remote

    @property
    def bus(self) -> int:
        """The installation's bus this connection serves (1 or 2)."""
        return self._addressing.bus

    @property
    def firmware_version(self) -> str | None:
        """The installation's firmware version from the newest session's connect response.

        None before the first session and after a short-form connect response,
        which carries none (PROTOCOL.md section 3). It outlives a dropped link:
        it belongs to the installation, not to the session.
        """
        with self._lock:
            return self._firmware_version

    @property
    def connection_state(self) -> ConnectionState:
        """Where the link stands now; CONNECTED once the session's first snapshot arrived."""
        return self._lifecycle.connection_state

    @property
    def connected(self) -> bool:
        """Whether a session is up and in sync with the installation."""
        return self._lifecycle.phase is Phase.SYNCED

    @property
    def statistics(self) -> ClientStatistics:
        """A consistent copy of the counters, for diagnostics and the bench."""
        with self._lock:
            counters = self._counters
            session = self._session
            dropped = counters.dropped_bytes
            unknown = counters.unknown_messages
            if session is not None:
                dropped += session.decoder.dropped_bytes
                unknown += session.decoder.unknown_messages
            return ClientStatistics(
                snapshots_received=counters.snapshots_received,
                polls_sent=counters.polls_sent,
                writes_sent=counters.writes_sent,
                writes_confirmed=self._writes.confirmed,
                writes_superseded=self._writes.superseded,
                writes_abandoned=self._writes.abandoned,
                reconnects=counters.reconnects,
                dropped_bytes=dropped,
                unknown_messages=unknown,
                last_error=counters.last_error,
                connected_since=counters.connected_since,
                firmware_version=self._firmware_version,
                via_remote=session is not None and session.remote,
                address=self._local.address if session is None else session.address,
                local_retry_delay=None if self._remote is None else self._local_retry_delay,
                poll_round_trip=(
                    median(self._poll_round_trips)
                    if session is not None and self._poll_round_trips
                    else None
                ),
            )

    # Lifecycle

    def start_persistent_connection(self, auto_reconnect: bool = True) -> None:
        """Connect, authenticate and start the loops; a no-op while already running.

        Blocks until the handshake is done (a stop in progress is waited out
        first); `connected` follows once the first snapshot arrived. Raises
        `IPComAuthenticationError` when the installation rejects the
        credentials (never retried) and `IPComConnectionError` when it cannot
        be reached, answers nonsense, or `stop` was called meanwhile.
        """
        messages.validate_credentials(self._username, self._password)
        with self._lock:
            run = self._lifecycle.begin_start(auto_reconnect)
            if run is None:
                return
            finished, self._threads = self._threads, []
        self._join(finished)
        self._dispatcher.join(STOP_JOIN_TIMEOUT)
        self._dispatcher.open()
        try:
            session, local_error = self._open_session(run)
        except BaseException:
            with self._lock:
                if self._lifecycle.is_current(run):
                    self._lifecycle.finish_stop()
            self._dispatcher.close()
            raise
        with self._lock:
            if not self._lifecycle.move(run, Phase.HANDSHAKEN):
                session.sock.close()
                raise IPComConnectionError(f"stopped while connecting to {self._host}:{self._port}")
            self._backoff = self._new_backoff()
            self._install_session(session)
            self._threads = self._start_loops(run, session)
        self._log_connected(session, local_error, reconnect=False)

    def _new_backoff(self) -> Backoff:
        return Backoff(
            self._reconnect_base, self._reconnect_max, RECONNECT_HEALTHY_AFTER, RECONNECT_JITTER
        )

    def _start_loops(self, run: Run, session: Session) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self._guarded,
                args=(run, loop, args),
                name=f"ipcom-client-{name}-{self._host}:{self._port}",
                daemon=True,
            )
            for name, loop, args in (
                ("receive", self._receive_loop, (run, session)),
                ("requests", self._request_loop, (run,)),
            )
        ]
        for thread in threads:
            thread.start()
        return threads

    def stop_persistent_connection(self) -> None:
        """Say goodbye to the installation, close the socket and join every loop.

        Safe from any thread, a listener included, and concurrently: a second
        caller returns once the first has joined the loops. Ends a start still
        connecting in another thread (it raises `IPComConnectionError`), and
        reports every write it discards through `on_write_abandoned`. Returns
        once every listener has been told, except when called from a
        listener: the rest are told right after it returns.
        """
        with self._lock:
            if not self._lifecycle.begin_stop():
                self._lifecycle.wait_stopped()
                return
            session, self._session = self._session, None
            threads, self._threads = self._threads, []
            retrying, self._local_retry_socket = self._local_retry_socket, None
        for connecting in (self._lifecycle.take_connecting(), retrying):
            if connecting is not None:
                self._shut_socket(connecting)
        if session is not None:
            self._say_goodbye(session)
            self._shut_socket(session.sock)
        self._join(threads)
        if session is not None:
            self._close_socket(session)
        with self._lock:
            if session is not None:
                self._count_decoder(session)
            self._writes.discard(AbandonReason.STOPPED)
            self._counters.connected_since = None
            self._announce("stopped")
            self._post_reports()
            self._dispatcher.close()
        self._dispatcher.join(STOP_JOIN_TIMEOUT)
        with self._lock:
            self._lifecycle.finish_stop()

    @staticmethod
    def _join(threads: list[threading.Thread]) -> None:
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(STOP_JOIN_TIMEOUT)

    def wait_for_snapshot(self, timeout: float) -> StateSnapshot:
        """Block until the current session's first snapshot has arrived.

        Raises `IPComConnectionError` after `timeout`, or at once when the
        client is not running (stopped, or ended by a lost link or rejected
        credentials).
        """
        with self._lock:
            phase_ended = (Phase.STOPPED, Phase.STOPPING, Phase.FAILED)
            if not self._changed.wait_for(
                lambda: (
                    self._lifecycle.phase is Phase.SYNCED or self._lifecycle.phase in phase_ended
                ),
                timeout,
            ):
                raise IPComConnectionError(
                    f"no status snapshot from {self._host}:{self._port} within {timeout:g} s"
                )
            if self._lifecycle.phase is not Phase.SYNCED or self._snapshot is None:
                raise IPComConnectionError(
                    f"not connected to {self._host}:{self._port}; no status snapshot"
                )
            return self._snapshot

    # Listeners

    def on_state_snapshot(self, callback: SnapshotCallback) -> Callable[[], None]:
        """Call `callback` with every snapshot that changed, on the listener thread.

        The first snapshot of every session is delivered even when it equals
        the one before: it proves the state is fresh after an outage.
        """
        return self._subscribe(self._snapshot_listeners, callback)

    def on_connection_state(self, callback: ConnectionCallback) -> Callable[[], None]:
        """Call `callback` on every connection state change, on the listener thread.

        Every listener runs on one thread of the client's, never on the
        thread that reads the link, in the order the changes happened; a slow
        listener delays the listeners after it, never the link.
        """
        return self._subscribe(self._connection_listeners, callback)

    def on_write_abandoned(self, callback: AbandonedCallback) -> Callable[[], None]:
        """Call `callback` with each write given up on, and why (`AbandonedWrite.reason`).

        Every accepted write ends exactly once: confirmed, superseded by a
        later write to the same output, or here (its handle fails the same way).
        """
        return self._subscribe(self._abandoned_listeners, callback)

    def on_outputs_changed(self, callback: OutputsCallback) -> Callable[[], None]:
        """Call `callback` with the outputs whose expected value changed, on the listener thread.

        A snapshot, a write queued, and a write ended without being shown all
        change what an output is expected to be; a device built on these
        outputs hears of exactly its own changes, before the write handles
        that the same change completes.
        """
        return self._subscribe(self._outputs_listeners, callback)

    def _subscribe(self, listeners: list[_T], callback: _T) -> Callable[[], None]:
        with self._lock:
            listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in listeners:
                    listeners.remove(callback)

        return unsubscribe

    # State

    def get_latest_snapshot(self) -> StateSnapshot | None:
        """The last snapshot the installation sent, or None before the first.

        After an outage this is the previous session's until the new one's
        first snapshot arrives (`wait_for_snapshot` waits for that one).
        """
        return self._snapshot

    def get_expected_value(self, module: int, output: int) -> int | None:
        """The last snapshot's value overlaid with this client's writes not yet contradicted."""
        validate_address(module, output)
        with self._lock:
            return self._writes.expected(module, output, self._snapshot)

    # Commands

    def set_value(self, module: int, output: int, value: int) -> WriteHandle:
        """Queue a write of one output (0..255); returns its handle at once."""
        validate_address(module, output)
        validate_value(value)
        return self._queue(module, {output: value})

    def set_outputs(self, module: int, values: Mapping[int, int]) -> WriteHandle:
        """Queue writes of several outputs of one module; they leave in one frame.

        The handle completes when every one of them has ended.
        """
        validate_module(module)
        if not values:
            raise ValueError("set_outputs needs at least one output")
        for output, value in values.items():
            validate_address(module, output)
            validate_value(value)
        return self._queue(module, dict(values))

    def turn_on(self, module: int, output: int) -> WriteHandle:
        """Switch a relay output on."""
        return self.set_value(module, output, RELAY_ON)

    def turn_off(self, module: int, output: int) -> WriteHandle:
        """Switch an output off."""
        return self.set_value(module, output, RELAY_OFF)

    def set_dimmer(self, module: int, output: int, percent: int) -> WriteHandle:
        """Set a dimmer output to a level in percent (0..100)."""
        validate_percent(percent)
        return self.set_value(module, output, percent)

    def _queue(self, module: int, values: Mapping[int, int]) -> WriteHandle:
        """Accept a write once a session is up; it leaves after the session's first snapshot.

        The handle completes with `WriteOutcome.CONFIRMED` or `SUPERSEDED`, or
        fails with `WriteAbandonedError`, exactly once.
        """
        now = monotonic()
        with self._lock:
            if self._lifecycle.phase not in (Phase.HANDSHAKEN, Phase.SYNCED):
                raise IPComConnectionError(
                    f"not connected to {self._host}:{self._port}; the command was not sent"
                )
            synced = self._lifecycle.phase is Phase.SYNCED
            handle = self._writes.queue(module, values, now, self._snapshot if synced else None)
            self._post_reports()
            self._changed.notify_all()
        return handle

    # Connection handling

    def _open_session(self, run: Run) -> tuple[Session, str | None]:
        """Connect and authenticate at the local address, else at the remote one.

        The remote address (PROTOCOL.md section 1) is tried in the same
        attempt when the local one fails to connect or to complete the
        handshake; rejected credentials end the attempt as they are. The
        session, and why the local address failed when it runs on the remote one.
        """
        with self._lock:
            self._session_count += 1
            number = self._session_count
        remote = self._remote
        try:
            return self._open_at(run, number, self._local), None
        except IPComConnectionError as err:
            if remote is None or not self._lifecycle.is_current(run):
                raise
            local_error = str(err)
        _LOGGER.debug(
            "The local address %s did not answer (%s); trying the remote address %s",
            self._local.address,
            local_error,
            remote.address,
        )
        try:
            session = self._open_at(run, number, remote)
        except IPComAuthenticationError as err:
            raise IPComAuthenticationError(f"{err} (remote address {remote.address})") from err
        except IPComConnectionError as err:
            raise IPComConnectionError(f"{local_error}; at the remote address: {err}") from err
        session.remote = True
        return session, local_error

    def _open_at(self, run: Run, number: int, endpoint: Endpoint) -> Session:
        """Connect to one address and run the handshake, from scratch in single-key mode.

        When the installation answers with NonSecure (PROTOCOL.md section 3),
        the first socket is closed without a disconnect request and a second
        connection runs the handshake without the cipher, once; each connection
        gets the socket timeout as the deadline of its connect and handshake.
        """
        try:
            return self._authenticate(run, number, endpoint, plaintext=False)
        except PlaintextRequestedError:
            _LOGGER.debug(
                "%s asked for a plaintext session; connecting again without the cipher",
                endpoint.address,
            )
            return self._authenticate(run, number, endpoint, plaintext=True)

    def _authenticate(
        self, run: Run, number: int, endpoint: Endpoint, *, plaintext: bool
    ) -> Session:
        """Open one connection and run one handshake on it, by one deadline."""
        deadline = Deadline.after(self._socket_timeout)
        try:
            sock = connect(
                endpoint.host,
                endpoint.port,
                self._socket_timeout,
                lambda sock: self._lifecycle.register_connecting(run, sock),
                deadline=deadline,
            )
            pacer = Pacer(
                self._poll_interval,
                self._command_interval,
                self._keepalive_interval,
                monotonic(),
                stale_after=self._stale_after,
            )
            return handshake(
                sock,
                number,
                endpoint.username,
                self._password,
                endpoint.address,
                pacer=pacer,
                deadline=deadline,
                bus=self._addressing.bus,
                plaintext=plaintext,
            )
        finally:
            self._lifecycle.register_connecting(run, None)

    def _install_session(self, session: Session) -> None:
        """Make `session` current (under `_lock`)."""
        self._session = session
        self._firmware_version = session.firmware_version
        self._poll_round_trips.clear()
        self._local_answered = None
        if not session.remote:
            self._local_retry_delay = self._local_retry_interval
        elif self._returning_to_local:
            self._local_retry_delay = min(
                2 * self._local_retry_delay, max(LOCAL_RETRY_MAX, self._local_retry_interval)
            )
        self._returning_to_local = False
        self._local_retry_at = monotonic() + self._local_retry_delay
        self._writes.expire(monotonic(), session.number)
        self._post_reports()
        self._changed.notify_all()

    def _retire(self, session: Session) -> bool:
        """Take `session` out of service (under `_lock`); False if it already was."""
        if self._session is not session:
            return False
        self._session = None
        self._count_decoder(session)
        return True

    def _count_decoder(self, session: Session) -> None:
        self._counters.dropped_bytes += session.decoder.dropped_bytes
        self._counters.unknown_messages += session.decoder.unknown_messages
        session.decoder.dropped_bytes = 0
        session.decoder.unknown_messages = 0

    @staticmethod
    def _shut_socket(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _close_socket(self, session: Session) -> None:
        """Release the descriptor; under the send lock so no send can race it."""
        with self._send_lock:
            session.sock.close()

    def _log_connected(self, session: Session, local_error: str | None, *, reconnect: bool) -> None:
        """Log a session that is now in use: one line for the remote address and for the return."""
        with self._lock:
            was_remote, self._last_remote = self._last_remote, session.remote
        if session.remote:
            _LOGGER.info(
                "Connected to the installation via the remote address %s, "
                "the local one did not answer: %s",
                session.address,
                local_error,
            )
        elif reconnect and was_remote:
            _LOGGER.info(
                "Connected to the installation via the local address %s again", session.address
            )
        elif reconnect:
            _LOGGER.info("Reconnected to %s", session.address)

    def _drop_link(self, run: Run, session: Session, reason: str) -> None:
        """Take a failed session out of service; the receive loop reconnects (or ends).

        The state changes before the socket is shut: the reader cannot start
        a reconnect (whose CONNECTED would otherwise be overtaken by this
        change) until the socket is shut. Writes the link caught wait for the
        next session, or are reported when the client will not reconnect.
        """
        if self._end_session(run, session, reason):
            _LOGGER.info("Lost the link to %s: %s", session.address, reason)
            self._shut_socket(session.sock)

    def _end_session(
        self, run: Run, session: Session, reason: str, *, reconnect_now: bool = False
    ) -> bool:
        """Take `session` out of service as a dropped link; False if it already was.

        With `reconnect_now` the receive loop's next attempt skips the backoff.
        """
        with self._lock:
            if not self._lifecycle.is_current(run) or not self._retire(session):
                return False
            self._reconnect_now = reconnect_now
            self._counters.last_error = reason
            self._counters.connected_since = None
            healthy_for = 0.0
            if session.synced_at is not None:
                healthy_for = session.last_received - session.synced_at
            self._backoff.session_ended(healthy_for)
            if run.auto_reconnect:
                self._lifecycle.move(run, Phase.RECONNECTING)
                self._writes.expire(monotonic(), None)
                self._announce(reason)
            else:
                self._lifecycle.move(run, Phase.FAILED)
                self._writes.discard(AbandonReason.LINK_ENDED)
                self._announce(f"{reason}; not reconnecting")
                self._dispatcher.close()
            self._post_reports()
        return True

    def _announce(self, reason: str, *, authentication_failed: bool = False) -> None:
        """Post an event if the lifecycle's move changed the connection state (under `_lock`)."""
        state = self._lifecycle.connection_state
        if state is self._announced:
            return
        self._announced = state
        event = ConnectionEvent(state, reason, authentication_failed=authentication_failed)
        for listener in self._connection_listeners:
            self._dispatcher.post(partial(listener, event))

    def _post_reports(self) -> None:
        """Post what changed (under `_lock`): expected outputs, then abandon reports and handles."""
        self._post_outputs()
        reports = self._writes.take_reports()
        if reports:
            self._dispatcher.post(partial(self._report, reports, list(self._abandoned_listeners)))

    def _post_outputs(self) -> None:
        """Post the outputs whose expected value changed since the last time (under `_lock`)."""
        expected = self._writes.expected_values(self._snapshot)
        changed = frozenset(
            address
            for address in expected.keys() | self._expected.keys()
            if expected.get(address) != self._expected.get(address)
        )
        self._expected = expected
        if changed:
            for listener in self._outputs_listeners:
                self._dispatcher.post(partial(listener, changed))

    def _report(self, reports: Reports, listeners: list[AbandonedCallback]) -> None:
        """Tell the listeners and the handles how writes ended (on the listener thread)."""
        for write in reports.abandoned:
            level = logging.DEBUG if write.reason is AbandonReason.STOPPED else logging.WARNING
            _LOGGER.log(
                level,
                "Gave up on writing %s to module %s output %s: %s",
                write.value,
                write.module,
                write.output,
                write.reason,
            )
            for listener in listeners:
                self._call(listener, write)
        for call in reports.finished:
            call.settle()

    @staticmethod
    def _call(listener: Callable[[_T], None], argument: _T) -> None:
        try:
            listener(argument)
        except BaseException:
            _LOGGER.exception("Error in an ipcom listener")

    def _say_goodbye(self, session: Session) -> None:
        """Send the disconnect request under the send lock, if the socket still takes it."""
        disconnect = cipher.encrypt(messages.encode_disconnect_request(), session.masks)
        with self._send_lock, contextlib.suppress(OSError):
            session.sock.sendall(disconnect)

    # The loops

    def _guarded(self, run: Run, loop: Callable[..., None], args: tuple[object, ...]) -> None:
        """Run a loop; if it fails anyway, log why and end the run with an event, not silently."""
        try:
            loop(*args)
        except BaseException as err:
            _LOGGER.exception("The ipcom client's %s failed", threading.current_thread().name)
            self._fail(run, f"internal error: {err!r}")

    def _fail(self, run: Run, reason: str, *, authentication_failed: bool = False) -> None:
        """End `run` as FAILED: every loop of it ends, every write is reported, listeners told."""
        with self._lock:
            if not self._lifecycle.move(run, Phase.FAILED):
                return
            session, self._session = self._session, None
            self._counters.last_error = reason
            self._counters.connected_since = None
            self._writes.discard(AbandonReason.LINK_ENDED)
            self._announce(reason, authentication_failed=authentication_failed)
            self._post_reports()
            self._dispatcher.close()
        if session is not None:
            self._shut_socket(session.sock)

    # The receive loop

    def _receive_loop(self, run: Run, first: Session) -> None:
        """Read messages; when the link drops, reconnect with backoff (or end the run).

        This loop is the socket's only reader and the only place that closes
        a session's socket (besides `stop` after joining it), so no thread
        ever reads or writes a descriptor that was closed and reused. An
        unexpected error while reading is logged and handled as a lost link.
        """
        session: Session | None = first
        while session is not None:
            try:
                reason = self._read(run, session)
            except Exception as err:
                _LOGGER.exception("Error reading from %s:%s", self._host, self._port)
                reason = f"internal error while reading: {err!r}"
            self._drop_link(run, session, reason)
            self._close_socket(session)
            session = self._reconnect(run)

    def _read(self, run: Run, session: Session) -> str:
        """Feed the decoder until the link fails; the reason it ended."""
        while self._lifecycle.is_current(run):
            try:
                data = session.sock.recv(RECEIVE_CHUNK)
            except TimeoutError:
                continue
            except OSError as err:
                return f"receive failed: {err}"
            if not data:
                return "the installation closed the connection"
            self._handle_data(session, data)
        return "stopped"

    def _reconnect(self, run: Run) -> Session | None:
        """Reconnect after the backoff; None once the run ended.

        Any failure to connect, expected or not (the process out of file
        descriptors, say), is one more attempt after the backoff.
        """
        while self._lifecycle.is_current(run):
            with self._lock:
                if self._reconnect_now:
                    self._reconnect_now = False
                    delay = 0.0
                else:
                    delay = self._backoff.next_delay()
            if delay and self._lifecycle.wait_ended(run, delay):
                return None
            try:
                session, local_error = self._open_session(run)
            except IPComAuthenticationError as err:
                _LOGGER.error(
                    "The installation rejected the credentials on reconnect; not retrying: %s",
                    err,
                )
                self._fail(run, str(err), authentication_failed=True)
                return None
            except IPComConnectionError as err:
                self._reconnect_failed(str(err))
                continue
            except Exception as err:
                _LOGGER.exception("Reconnecting to %s:%s failed", self._host, self._port)
                self._reconnect_failed(f"internal error while reconnecting: {err!r}")
                continue
            with self._lock:
                if not self._lifecycle.move(run, Phase.HANDSHAKEN):
                    session.sock.close()
                    return None
                self._counters.reconnects += 1
                self._install_session(session)
            self._log_connected(session, local_error, reconnect=True)
            return session
        return None

    def _reconnect_failed(self, reason: str) -> None:
        with self._lock:
            self._counters.last_error = reason
        _LOGGER.debug("Reconnect to %s:%s failed: %s", self._host, self._port, reason)

    def _handle_data(self, session: Session, data: bytes) -> None:
        decoded = session.decoder.feed(data)
        if not decoded:
            return
        now = monotonic()
        with self._lock:
            session.last_received = now
        for message in decoded:
            if message.command == STATUS_COMMAND:
                self._handle_snapshot(session, message.plain, now)
            elif message.command == KEEPALIVE_COMMAND:
                with self._lock:
                    session.pacer.keepalive_answered(now)
                    self._changed.notify_all()
            else:
                _LOGGER.debug("Ignoring message with command id %s", message.command)

    def _handle_snapshot(self, session: Session, plain: bytes, now: float) -> None:
        try:
            snapshot = StateSnapshot.from_message(plain)
        except IPComError as err:
            _LOGGER.debug("Ignoring a malformed snapshot: %s", err)
            return
        with self._lock:
            if self._session is not session:
                return
            self._counters.snapshots_received += 1
            outstanding = session.pacer.outstanding
            if outstanding is not None and outstanding.kind is RequestKind.POLL:
                # The pacer takes the next snapshot as a poll's answer; so does this figure.
                self._poll_round_trips.append(now - outstanding.sent_at)
            frame = self._frame_outstanding
            shown = (
                outstanding is not None
                and outstanding.kind is RequestKind.FRAME
                and frame is not None
                and frame_shown(frame[0], frame[1], snapshot)
            )
            settled = session.pacer.snapshot_arrived(now, shown)
            self._writes.observe(snapshot, session.number, settled)
            previous = self._snapshot
            self._snapshot = snapshot
            first = session.synced_at is None
            if first:
                session.synced_at = now
                self._counters.connected_since = time.time()
                run = self._lifecycle.run
                if run is not None and self._lifecycle.move(run, Phase.SYNCED):
                    self._announce("connected")
            # Devices first: a snapshot listener that sees the new snapshot
            # finds every device built on the client already told of it.
            self._post_outputs()
            if first or previous is None or previous.values != snapshot.values:
                for listener in self._snapshot_listeners:
                    self._dispatcher.post(partial(listener, snapshot))
            # After the listeners: a caller woken by its confirmed write finds
            # the confirming snapshot already handed on.
            self._post_reports()
            self._changed.notify_all()

    # The request loop

    def _request_loop(self, run: Run) -> None:
        """Send polls, frames and keep-alives, one request outstanding at a time.

        An unexpected error is logged and costs the session (the receive
        loop reconnects), never the loop.
        """
        while self._lifecycle.is_current(run):
            try:
                self._request_step(run)
            except Exception as err:
                _LOGGER.exception("Error sending to %s:%s", self._host, self._port)
                with self._lock:
                    session = self._session
                if session is not None:
                    self._drop_link(run, session, f"internal error while sending: {err!r}")
                self._lifecycle.wait_ended(run, self._poll_interval)

    def _request_step(self, run: Run) -> None:
        """Carry out the next action: send a request, wait, or drop a stale link.

        The request is built and sent under the send lock, so a frame leaves
        built on the newest snapshot the client had when it chose to send.
        """
        with self._send_lock:
            with self._lock:
                if not self._lifecycle.is_current(run):
                    return
                session = self._session
                action = self._next_action(session)
            if isinstance(action, _Send):
                assert session is not None
                try:
                    session.sock.sendall(action.data)
                except OSError as err:
                    action = _Drop(f"send failed: {err}")
            elif isinstance(action, _Leave):
                assert session is not None
                self._leave_remote(run, session, action.reason)
        match action:
            case _Drop(reason):
                assert session is not None
                self._drop_link(run, session, reason)
            case _Wait(seconds):
                with self._lock:
                    if self._lifecycle.is_current(run):
                        self._changed.wait(seconds)

    def _next_action(self, session: Session | None) -> _Action:
        """Decide what the request loop does next (under `_lock`)."""
        if session is None or self._lifecycle.phase not in (Phase.HANDSHAKEN, Phase.SYNCED):
            self._writes.expire(monotonic(), None)
            self._post_reports()
            return _Wait(self._poll_interval)
        now = monotonic()
        silent_for = now - session.last_received
        if silent_for > self._stale_after:
            return _Drop(f"no decoded message for {silent_for:.1f} s")
        retry_in = self._local_retry(session, now)
        if retry_in is None:
            return _Leave(f"the local address {self._local.address} answers again")
        request, wait = self._choose_request(session)
        if request is not None:
            return _Send(request)
        stale_in = self._stale_after - silent_for
        return _Wait(min(wait, stale_in + STALE_CHECK_MARGIN, retry_in))

    # Back to the local address

    def _local_retry(self, session: Session, now: float) -> float | None:
        """Look after the local address while `session` runs on the remote one (under `_lock`).

        Starts the check whether the local address answers when it is due;
        None once it answered and nothing is outstanding on `session`, so
        leaving it strands no request; else the seconds until this needs
        another look (infinite when nothing is due: the check's end wakes
        the request loop). A run that does not reconnect never leaves.
        """
        run = self._lifecycle.run
        if not session.remote or run is None or not run.auto_reconnect:
            return math.inf
        if self._local_answered is session:
            return None if session.pacer.outstanding is None else math.inf
        if self._local_retry_running:
            return math.inf
        due_in = self._local_retry_at - now
        if due_in > 0:
            return due_in
        self._local_retry_running = True
        thread = threading.Thread(
            target=self._check_local,
            args=(run, session),
            name=f"ipcom-client-local-retry-{self._host}:{self._port}",
            daemon=True,
        )
        # `stop` joins it with the loops; finished checks are let go here.
        self._threads = [*(t for t in self._threads if t.is_alive()), thread]
        thread.start()
        return math.inf

    def _check_local(self, run: Run, session: Session) -> None:
        """Whether the local address takes a TCP connection, on a short-lived thread of its own.

        The socket is closed at once, before any byte: the installation sees
        a connection that ends, not a login. The connect is bounded by the
        vendor's connect timeout, so `stop` never waits long for this thread.
        """
        timeout = min(CONNECT_TIMEOUT, self._socket_timeout)
        answered = False
        try:
            sock = connect(
                self._host,
                self._port,
                timeout,
                partial(self._register_local_retry, run),
                deadline=Deadline.after(timeout),
            )
        except IPComConnectionError as err:
            _LOGGER.debug("The local address still does not answer: %s", err)
        except Exception:
            _LOGGER.exception("Checking the local address %s failed", self._local.address)
        else:
            sock.close()
            answered = True
        with self._lock:
            self._local_retry_socket = None
            self._local_retry_running = False
            self._local_retry_at = monotonic() + self._local_retry_delay
            if answered and self._session is session and self._lifecycle.is_current(run):
                _LOGGER.debug(
                    "The local address %s answers again; leaving the remote address %s",
                    self._local.address,
                    session.address,
                )
                self._local_answered = session
                self._returning_to_local = True
            self._changed.notify_all()

    def _register_local_retry(self, run: Run, sock: socket.socket) -> bool:
        """Remember the socket the local check connects, so `stop` can shut it."""
        with self._lock:
            if not self._lifecycle.is_current(run):
                return False
            self._local_retry_socket = sock
            return True

    def _leave_remote(self, run: Run, session: Session, reason: str) -> None:
        """End the remote `session` as a stop would, then reconnect at once (under the send lock).

        The disconnect request goes first; then the session ends as after a
        dropped link, so writes follow the outage rules: those still queued
        wait for the next session, those sent are judged by its first snapshot.
        """
        disconnect = cipher.encrypt(messages.encode_disconnect_request(), session.masks)
        with contextlib.suppress(OSError):
            session.sock.sendall(disconnect)
        if self._end_session(run, session, reason, reconnect_now=True):
            self._shut_socket(session.sock)

    def _choose_request(self, session: Session) -> tuple[bytes | None, float]:
        """Pick the next request (under `_lock`), build it from the newest state, take the slot.

        The bytes to send, or None and how long to wait before asking again.
        """
        now = monotonic()
        synced = self._lifecycle.phase is Phase.SYNCED and self._snapshot is not None
        queued_since = self._writes.queued_since if synced else None
        kind, wait = session.pacer.next_request(now, queued_since)
        if kind is None:
            return None, wait
        session.pacer.sent(kind, now)
        if kind is RequestKind.POLL:
            self._counters.polls_sent += 1
            return session.poll_bytes, 0.0
        if kind is RequestKind.KEEPALIVE:
            return cipher.encrypt(messages.encode_keepalive(), session.masks), 0.0
        taken = self._writes.take_module()
        assert taken is not None and self._snapshot is not None
        module, writes = taken
        values = self._writes.frame_values(module, writes, self._snapshot)
        self._writes.mark_sent(module, writes, session.number, session.pacer.last_sequence)
        self._post_reports()
        self._frame_outstanding = taken
        self._counters.writes_sent += 1
        plain = messages.encode_set_outputs(module, values, addressing=self._addressing)
        frame = cipher.encrypt(plain, session.masks)
        return frame, 0.0
