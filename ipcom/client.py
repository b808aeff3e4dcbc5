"""`IPComClient`: one persistent connection to an installation, four loops.

The receive loop owns reading (and reconnecting); the status-poll, command
and keep-alive loops only write, through one send lock. Every loop waits on
the same shutdown event, so `stop_persistent_connection` is prompt and joins
them all. Writes are merged per module and tracked until a snapshot requested
after them shows them, because a set-outputs frame always carries all eight
outputs of a module and must never undo a write that is still in flight.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from . import cipher, messages
from .errors import (
    IPComAuthenticationError,
    IPComConnectionError,
    IPComError,
)
from .models import (
    ClientStatistics,
    ConnectionEvent,
    ConnectionState,
    StateSnapshot,
    validate_address,
    validate_module,
    validate_percent,
    validate_value,
)
from .protocol import (
    COMMAND_INTERVAL,
    DEFAULT_PORT,
    KEEPALIVE_COMMAND,
    KEEPALIVE_INTERVAL,
    POLL_INTERVAL,
    RECONNECT_BASE,
    RECONNECT_MAX,
    RELAY_OFF,
    RELAY_ON,
    SOCKET_TIMEOUT,
    STATUS_COMMAND,
)
from .session import Session, connect, handshake
from .writes import AbandonedWrite, Batch, WriteTracker

_LOGGER = logging.getLogger(__name__)

STOP_JOIN_TIMEOUT: Final = 2.0
RECEIVE_CHUNK: Final = 4096

SnapshotCallback = Callable[[StateSnapshot], None]
ConnectionCallback = Callable[[ConnectionEvent], None]
AbandonedCallback = Callable[[int, int, int], None]
_T = TypeVar("_T")


@dataclass
class _Counters:
    snapshots_received: int = 0
    polls_sent: int = 0
    writes_sent: int = 0
    writes_confirmed: int = 0
    writes_resent: int = 0
    writes_abandoned: int = 0
    reconnects: int = 0
    dropped_bytes: int = 0
    unknown_messages: int = 0
    last_error: str | None = None
    connected_since: float | None = None


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
        stale_after: float = 5.0,
        reconnect_base: float = RECONNECT_BASE,
        reconnect_max: float = RECONNECT_MAX,
    ) -> None:
        for name, value in (
            ("poll_interval", poll_interval),
            ("command_interval", command_interval),
            ("keepalive_interval", keepalive_interval),
            ("socket_timeout", socket_timeout),
            ("stale_after", stale_after),
            ("reconnect_base", reconnect_base),
            ("reconnect_max", reconnect_max),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
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
        self._reconnect_max = max(reconnect_max, reconnect_base)

        self._lock = threading.RLock()
        self._event_lock = threading.RLock()
        """Held from a state change until its listeners have run, so they see changes in order.

        Always taken before `_lock`, never while holding it.
        """
        self._send_lock = threading.Lock()
        self._snapshot_ready = threading.Condition(self._lock)
        self._shutdown = threading.Event()
        self._command_wakeup = threading.Event()
        self._poll_wakeup = threading.Event()
        self._threads: list[threading.Thread] = []
        self._auto_reconnect = True
        self._running = False

        self._session: Session | None = None
        self._connecting: socket.socket | None = None
        self._session_count = 0
        self._state = ConnectionState.DISCONNECTED
        self._snapshot: StateSnapshot | None = None
        self._writes = WriteTracker()
        self._counters = _Counters()

        self._snapshot_listeners: list[SnapshotCallback] = []
        self._connection_listeners: list[ConnectionCallback] = []
        self._abandoned_listeners: list[AbandonedCallback] = []

    def __repr__(self) -> str:
        return f"IPComClient(host={self._host!r}, port={self._port}, state={self._state})"

    @property
    def host(self) -> str:
        """The installation's host name or address."""
        return self._host

    @property
    def port(self) -> int:
        """The installation's TCP port."""
        return self._port

    @property
    def connection_state(self) -> ConnectionState:
        """Where the link stands now."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether a session is up and commands can be sent."""
        return self._state is ConnectionState.CONNECTED

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
                writes_confirmed=counters.writes_confirmed,
                writes_resent=counters.writes_resent,
                writes_abandoned=counters.writes_abandoned,
                reconnects=counters.reconnects,
                dropped_bytes=dropped,
                unknown_messages=unknown,
                last_error=counters.last_error,
                connected_since=counters.connected_since,
            )

    # Lifecycle

    def start_persistent_connection(self, auto_reconnect: bool = True) -> None:
        """Connect, authenticate and start the four loops.

        Blocks until the handshake is done. Raises `IPComAuthenticationError`
        when the installation rejects the credentials (never retried) and
        `IPComConnectionError` when it cannot be reached or answers nonsense.
        """
        messages.validate_credentials(self._username, self._password)
        with self._lock:
            if self._running:
                return
            self._running = True
            self._shutdown.clear()
            self._auto_reconnect = auto_reconnect
        try:
            session = self._open_session()
        except BaseException:
            with self._lock:
                self._running = False
            raise
        with self._event_lock:
            with self._lock:
                if self._shutdown.is_set():
                    session.sock.close()
                    raise IPComConnectionError(
                        f"stopped while connecting to {self._host}:{self._port}"
                    )
                expired = self._install_session(session)
                self._threads = self._start_loops()
                event = self._change_state(ConnectionState.CONNECTED, "connected")
            self._announce(event)
        self._report_abandoned(expired)

    def _start_loops(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=loop,
                name=f"ipcom-client-{name}-{self._host}:{self._port}",
                daemon=True,
            )
            for name, loop in (
                ("receive", self._receive_loop),
                ("poll", self._poll_loop),
                ("command", self._command_loop),
                ("keepalive", self._keepalive_loop),
            )
        ]
        for thread in threads:
            thread.start()
        return threads

    def stop_persistent_connection(self) -> None:
        """Say goodbye to the installation, close the socket and join every loop.

        Also ends a `start_persistent_connection` still connecting in another
        thread, which then raises `IPComConnectionError`.
        """
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._shutdown.set()
            session = self._session
            connecting = self._connecting
            threads, self._threads = self._threads, []
        self._command_wakeup.set()
        self._poll_wakeup.set()
        if session is not None:
            disconnect = cipher.encrypt(messages.encode_disconnect_request(), session.masks)
            self._send(session, disconnect, quiet=True)
            self._retire_session(session)
        if connecting is not None:
            self._shut_socket(connecting)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(STOP_JOIN_TIMEOUT)
        if session is not None:
            self._close_socket(session)
        with self._lock:
            self._session = None
            self._writes.clear()
            self._counters.connected_since = None
        self._set_state(ConnectionState.DISCONNECTED, "stopped")

    def wait_for_snapshot(self, timeout: float) -> StateSnapshot:
        """Block until a snapshot has arrived; `IPComConnectionError` after `timeout`."""
        with self._snapshot_ready:
            if not self._snapshot_ready.wait_for(lambda: self._snapshot is not None, timeout):
                raise IPComConnectionError(
                    f"no status snapshot from {self._host}:{self._port} within {timeout:g} s"
                )
            assert self._snapshot is not None
            return self._snapshot

    # Listeners

    def on_state_snapshot(self, callback: SnapshotCallback) -> Callable[[], None]:
        """Call `callback` (from the receive thread) with every snapshot that changed."""
        return self._subscribe(self._snapshot_listeners, callback)

    def on_connection_state(self, callback: ConnectionCallback) -> Callable[[], None]:
        """Call `callback` (from a client thread) on every connection state change.

        Events arrive in the order the changes happened: a client thread holds
        the next change until the listeners are done, so a listener must
        return promptly and must not call `stop_persistent_connection`.
        """
        return self._subscribe(self._connection_listeners, callback)

    def on_write_abandoned(self, callback: AbandonedCallback) -> Callable[[], None]:
        """Call `callback(module, output, value)` for each write given up on."""
        return self._subscribe(self._abandoned_listeners, callback)

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
        """The last snapshot the installation sent, or None before the first."""
        return self._snapshot

    def get_expected_value(self, module: int, output: int) -> int | None:
        """The last snapshot's value overlaid with this client's unconfirmed writes."""
        validate_address(module, output)
        with self._lock:
            return self._writes.expected(module, output, self._snapshot)

    # Commands

    def set_value(self, module: int, output: int, value: int) -> None:
        """Queue a write of one output (0..255); returns at once."""
        validate_address(module, output)
        validate_value(value)
        self._queue(module, {output: value})

    def set_outputs(self, module: int, values: Mapping[int, int]) -> None:
        """Queue writes of several outputs of one module; they leave in one frame."""
        validate_module(module)
        if not values:
            raise ValueError("set_outputs needs at least one output")
        for output, value in values.items():
            validate_address(module, output)
            validate_value(value)
        self._queue(module, dict(values))

    def turn_on(self, module: int, output: int) -> None:
        """Switch a relay output on."""
        self.set_value(module, output, RELAY_ON)

    def turn_off(self, module: int, output: int) -> None:
        """Switch an output off."""
        self.set_value(module, output, RELAY_OFF)

    def set_dimmer(self, module: int, output: int, percent: int) -> None:
        """Set a dimmer output to a level in percent (0..100)."""
        validate_percent(percent)
        self.set_value(module, output, percent)

    def _queue(self, module: int, values: Mapping[int, int]) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._running or self._state is not ConnectionState.CONNECTED:
                raise IPComConnectionError(
                    f"not connected to {self._host}:{self._port}; the command was not sent"
                )
            self._writes.queue(module, values, now)
        self._command_wakeup.set()

    # Connection handling

    def _open_session(self) -> Session:
        """Connect and run the handshake, always from scratch in single-key mode."""
        with self._lock:
            self._session_count += 1
            number = self._session_count
        try:
            sock = connect(self._host, self._port, self._socket_timeout, self._register_connecting)
            return handshake(
                sock, number, self._username, self._password, f"{self._host}:{self._port}"
            )
        finally:
            with self._lock:
                self._connecting = None

    def _register_connecting(self, sock: socket.socket) -> bool:
        """Let `stop` reach a socket that is about to connect; False once stopping."""
        with self._lock:
            self._connecting = sock
            return not self._shutdown.is_set()

    def _install_session(self, session: Session) -> list[AbandonedWrite]:
        """Make `session` current; returns the writes that waited too long for it."""
        self._session = session
        self._counters.connected_since = time.time()
        expired = self._writes.expire(time.monotonic())
        self._counters.writes_abandoned += len(expired)
        if self._writes.has_queued:
            self._command_wakeup.set()
        return expired

    def _retire_session(self, session: Session) -> None:
        """Mark a session dead and wake its reader; only the reader closes the socket."""
        with self._lock:
            if not self._mark_retired(session):
                return
        self._shut_socket(session.sock)

    def _mark_retired(self, session: Session) -> bool:
        """Take `session` out of service (under `_lock`); False if it already was."""
        if session.closed:
            return False
        session.closed = True
        self._counters.dropped_bytes += session.decoder.dropped_bytes
        self._counters.unknown_messages += session.decoder.unknown_messages
        if self._session is session:
            self._session = None
        return True

    @staticmethod
    def _shut_socket(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _close_socket(self, session: Session) -> None:
        """Release the descriptor; under the send lock so no send can race it."""
        with self._send_lock:
            session.sock.close()

    def _drop_link(self, session: Session, reason: str) -> None:
        """Close a session that failed; the receive loop reconnects.

        The session is retired and RECONNECTING announced before its socket
        is shut: the reader cannot start a reconnect (whose CONNECTED would
        otherwise be overtaken by this RECONNECTING) until the socket is shut.
        Writes the link caught are queued again, to go out on the next
        session or be reported abandoned if it does not come in time.
        """
        with self._event_lock:
            with self._lock:
                if self._shutdown.is_set() or not self._mark_retired(session):
                    return
                self._counters.last_error = reason
                self._counters.connected_since = None
                expired = self._writes.carry_over(time.monotonic())
                self._counters.writes_abandoned += len(expired)
                event = self._change_state(ConnectionState.RECONNECTING, reason)
            self._announce(event)
        _LOGGER.info("Lost the link to %s:%s: %s", self._host, self._port, reason)
        self._shut_socket(session.sock)
        self._report_abandoned(expired)

    def _set_state(
        self, state: ConnectionState, reason: str, *, authentication_failed: bool = False
    ) -> None:
        with self._event_lock:
            with self._lock:
                event = self._change_state(
                    state, reason, authentication_failed=authentication_failed
                )
            self._announce(event)

    def _change_state(
        self, state: ConnectionState, reason: str, *, authentication_failed: bool = False
    ) -> ConnectionEvent | None:
        """Record a state change (under both locks); the event to announce, if any."""
        if self._state is state:
            return None
        self._state = state
        return ConnectionEvent(state, reason, authentication_failed=authentication_failed)

    def _announce(self, event: ConnectionEvent | None) -> None:
        """Run the connection listeners, holding `_event_lock` but not `_lock`."""
        if event is None:
            return
        with self._lock:
            listeners = list(self._connection_listeners)
        for listener in listeners:
            self._call_listener(listener, event)

    @staticmethod
    def _call_listener(listener: Callable[[_T], None], argument: _T) -> None:
        try:
            listener(argument)
        except Exception:
            _LOGGER.exception("Error in an ipcom listener")

    def _send(self, session: Session, data: bytes, *, quiet: bool = False) -> None:
        """Send one encrypted message; on failure drop the link (unless quiet)."""
        failure, _ = self._transmit(session, data)
        if failure is not None and not quiet:
            self._drop_link(session, failure)

    def _transmit(
        self, session: Session, data: bytes, *, poll: bool = False
    ) -> tuple[str | None, int]:
        """Send under the send lock, so polls and frames are counted in wire order.

        Returns the failure (None when sent) and how many polls the session
        had sent once this message was on its way.
        """
        with self._send_lock:
            if session.closed:
                return "link closed", session.polls_sent
            try:
                session.sock.sendall(data)
            except OSError as err:
                return f"send failed: {err}", session.polls_sent
            if poll:
                session.polls_sent += 1
            return None, session.polls_sent

    # The loops

    def _receive_loop(self) -> None:
        """Read messages; when the link drops, reconnect with backoff.

        This loop is the socket's only reader and the only place that closes
        a session's socket (besides `stop` after joining it), so no thread
        ever reads or writes a descriptor that was closed and reused.
        """
        delay = 0.0
        session = self._session
        while session is not None and not self._shutdown.is_set():
            try:
                data = session.sock.recv(RECEIVE_CHUNK)
            except TimeoutError:
                continue
            except OSError as err:
                data, reason = b"", f"receive failed: {err}"
            else:
                reason = "the installation closed the connection"
            if data and not session.closed:
                self._handle_data(session, data)
                delay = 0.0
                continue
            self._drop_link(session, reason)
            self._close_socket(session)
            if self._shutdown.is_set():
                return
            session = None
            while session is None and self._auto_reconnect:
                if self._shutdown.wait(delay):
                    return
                session, delay = self._reconnect(delay)
        if session is None and not self._shutdown.is_set():
            self._set_state(ConnectionState.DISCONNECTED, "link lost, not reconnecting")

    def _reconnect(self, delay: float) -> tuple[Session | None, float]:
        """Try one reconnect; return the new session (if any) and the next delay."""
        next_delay = min(max(delay * 2, self._reconnect_base), self._reconnect_max)
        try:
            session = self._open_session()
        except IPComAuthenticationError as err:
            with self._lock:
                self._counters.last_error = str(err)
            _LOGGER.error(
                "%s:%s rejected the credentials on reconnect; not retrying", self._host, self._port
            )
            self._auto_reconnect = False
            self._set_state(ConnectionState.DISCONNECTED, str(err), authentication_failed=True)
            return None, next_delay
        except IPComConnectionError as err:
            with self._lock:
                self._counters.last_error = str(err)
            _LOGGER.debug("Reconnect failed, next try in %.1f s: %s", next_delay, err)
            return None, next_delay
        with self._event_lock:
            with self._lock:
                if self._shutdown.is_set():
                    session.sock.close()
                    return None, next_delay
                self._counters.reconnects += 1
                expired = self._install_session(session)
                event = self._change_state(ConnectionState.CONNECTED, "reconnected")
            self._announce(event)
        self._report_abandoned(expired)
        _LOGGER.info("Reconnected to %s:%s", self._host, self._port)
        self._poll_wakeup.set()
        return session, next_delay

    def _handle_data(self, session: Session, data: bytes) -> None:
        with self._lock:
            session.last_received = time.monotonic()
        for message in session.decoder.feed(data):
            if message.command == STATUS_COMMAND:
                self._handle_snapshot(session, message.plain)
            elif message.command != KEEPALIVE_COMMAND:
                _LOGGER.debug("Ignoring message with command id %s", message.command)

    def _handle_snapshot(self, session: Session, plain: bytes) -> None:
        try:
            snapshot = StateSnapshot.from_message(plain)
        except IPComError as err:
            _LOGGER.debug("Ignoring a malformed snapshot: %s", err)
            return
        with self._lock:
            self._counters.snapshots_received += 1
            session.snapshots_received += 1
            judgement = self._writes.judge(snapshot, session.number, session.snapshots_received)
            self._counters.writes_confirmed += judgement.confirmed
            self._counters.writes_resent += judgement.resent
            self._counters.writes_abandoned += len(judgement.abandoned)
            previous = self._snapshot
            self._snapshot = snapshot
            changed = previous is None or previous.values != snapshot.values
            listeners = list(self._snapshot_listeners) if changed else []
            self._snapshot_ready.notify_all()
        if judgement.resent:
            self._command_wakeup.set()
        self._report_abandoned(judgement.abandoned)
        for listener in listeners:
            self._call_listener(listener, snapshot)

    def _report_abandoned(self, abandoned: list[AbandonedWrite]) -> None:
        if not abandoned:
            return
        with self._lock:
            listeners = list(self._abandoned_listeners)
        for module, output, value in abandoned:
            _LOGGER.warning(
                "Gave up on writing %s to module %s output %s: the installation never showed it",
                value,
                module,
                output,
            )
            for listener in listeners:
                try:
                    listener(module, output, value)
                except Exception:
                    _LOGGER.exception("Error in an ipcom listener")

    def _poll_loop(self) -> None:
        """Ask for a snapshot every poll interval, or at once after a write."""
        while not self._shutdown.is_set():
            self._poll_wakeup.wait(self._poll_interval)
            self._poll_wakeup.clear()
            if self._shutdown.is_set():
                return
            session = self._session
            if session is None:
                continue
            silent_for = time.monotonic() - session.last_received
            if silent_for > self._stale_after:
                self._drop_link(session, f"no data for {silent_for:.1f} s")
                continue
            failure, _ = self._transmit(session, session.poll_bytes, poll=True)
            if failure is not None:
                self._drop_link(session, failure)
                continue
            with self._lock:
                self._counters.polls_sent += 1

    def _command_loop(self) -> None:
        """Send queued writes: one frame per module, at once or on the next tick."""
        while not self._shutdown.is_set():
            self._command_wakeup.wait(self._command_interval)
            self._command_wakeup.clear()
            if self._shutdown.is_set():
                return
            self._flush_writes()

    def _flush_writes(self) -> None:
        with self._lock:
            session = self._session
            if session is None:
                expired = self._writes.expire(time.monotonic())
                self._counters.writes_abandoned += len(expired)
                batch: Batch = {}
            else:
                expired = []
                batch = self._writes.take_batch()
        self._report_abandoned(expired)
        if not batch or session is None:
            return
        sent_any = False
        modules = list(batch)
        for position, module in enumerate(modules):
            writes = batch[module]
            with self._lock:
                values = self._writes.frame_values(module, writes, self._snapshot)
            frame = cipher.encrypt(messages.encode_set_outputs(module, values), session.masks)
            failure, sent_after_poll = self._transmit(session, frame)
            if failure is not None:
                with self._lock:
                    self._writes.requeue({unsent: batch[unsent] for unsent in modules[position:]})
                self._drop_link(session, failure)
                return
            sent_any = True
            with self._lock:
                self._counters.writes_sent += 1
                if self._session is session:
                    self._writes.mark_sent(module, writes, session.number, sent_after_poll)
                    continue
                # The link was replaced while the frame left: the reconnect has
                # already carried the in-flight writes over and no snapshot of
                # the dead session will judge these, so they go out again.
                self._writes.requeue({module: writes})
            self._command_wakeup.set()
        if sent_any:
            self._poll_wakeup.set()

    def _keepalive_loop(self) -> None:
        """Send a keep-alive now and then, as the vendor application does."""
        keepalive = messages.encode_keepalive()
        while not self._shutdown.wait(self._keepalive_interval):
            session = self._session
            if session is not None:
                self._send(session, cipher.encrypt(keepalive, session.masks))
