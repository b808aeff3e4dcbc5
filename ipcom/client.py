"""`IPComClient`: one persistent connection to an installation, two loops.

The receive loop owns reading and reconnecting; the request loop owns
sending, one request at a time as the vendor application does (`pacing`).
Whether the client runs is the business of one `Lifecycle`, changed under the
client's lock together with the session and the writes, so a start, a stop
and a dropped link can never leave the client half in one state and half in
another. Writes are merged per module and held until the session's first
snapshot arrived: a set-outputs frame carries all eight outputs of a module,
so it may only be built on the current session's view of the installation.
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
from .backoff import Backoff
from .errors import IPComAuthenticationError, IPComConnectionError, IPComError
from .lifecycle import Lifecycle, Phase, Run
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
from .pacing import Pacer, RequestKind, monotonic
from .protocol import (
    COMMAND_INTERVAL,
    DEFAULT_PORT,
    KEEPALIVE_COMMAND,
    KEEPALIVE_INTERVAL,
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
)
from .session import Session, connect, handshake
from .writes import AbandonedWrite, AbandonReason, PendingWrite, WriteTracker

_LOGGER = logging.getLogger(__name__)

STOP_JOIN_TIMEOUT: Final = 2.0
RECEIVE_CHUNK: Final = 4096
STALE_CHECK_MARGIN: Final = 0.01
"""How long after the stale bound the request loop looks again, so it finds it passed."""

SnapshotCallback = Callable[[StateSnapshot], None]
ConnectionCallback = Callable[[ConnectionEvent], None]
AbandonedCallback = Callable[[AbandonedWrite], None]
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


@dataclass
class _Outgoing:
    """A request chosen under the lock, sent outside it."""

    kind: RequestKind
    data: bytes
    module: int = 0
    writes: dict[int, PendingWrite] | None = None


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
        self._backoff = self._new_backoff()

        self._lock = threading.RLock()
        self._event_lock = threading.RLock()
        """Held from a state change until its listeners have run, so they see changes in order.

        Always taken before `_lock`, never while holding it.
        """
        self._send_lock = threading.Lock()
        """Taken before `_lock` when both are needed, never while holding it."""
        self._lifecycle = Lifecycle(self._lock)
        self._changed = self._lifecycle.changed
        self._threads: list[threading.Thread] = []

        self._session: Session | None = None
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
        """Where the link stands now; CONNECTED once the session's first snapshot arrived."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether a session is up and in sync with the installation."""
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
        try:
            session = self._open_session(run)
        except BaseException:
            with self._lock:
                if self._lifecycle.is_current(run):
                    self._lifecycle.finish_stop()
            raise
        with self._lock:
            if not self._lifecycle.move(run, Phase.HANDSHAKEN):
                session.sock.close()
                raise IPComConnectionError(f"stopped while connecting to {self._host}:{self._port}")
            self._backoff = self._new_backoff()
            self._install_session(session)
            self._threads = self._start_loops(run, session)

    def _new_backoff(self) -> Backoff:
        return Backoff(
            self._reconnect_base, self._reconnect_max, RECONNECT_HEALTHY_AFTER, RECONNECT_JITTER
        )

    def _start_loops(self, run: Run, session: Session) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=loop,
                args=args,
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

        Safe from any thread and concurrently: a second caller returns once
        the first has joined the loops. Ends a start still connecting in
        another thread (it raises `IPComConnectionError`), and reports every
        write it discards through `on_write_abandoned`.
        """
        with self._lock:
            if not self._lifecycle.begin_stop():
                self._lifecycle.wait_stopped()
                return
            session, self._session = self._session, None
            threads, self._threads = self._threads, []
        connecting = self._lifecycle.take_connecting()
        if connecting is not None:
            self._shut_socket(connecting)
        if session is not None:
            disconnect = cipher.encrypt(messages.encode_disconnect_request(), session.masks)
            self._transmit(session, disconnect, current=False)
            self._shut_socket(session.sock)
        self._join(threads)
        if session is not None:
            self._close_socket(session)
        with self._event_lock:
            with self._lock:
                if session is not None:
                    self._count_decoder(session)
                discarded = self._discard_writes(AbandonReason.STOPPED)
                self._counters.connected_since = None
                self._lifecycle.finish_stop()
                event = self._change_state(ConnectionState.DISCONNECTED, "stopped")
            self._announce(event)
        self._report_abandoned(discarded)

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
        """Call `callback` (from the receive thread) with every snapshot that changed.

        The first snapshot of every session is delivered even when it equals
        the one before: it proves the state is fresh after an outage.
        """
        return self._subscribe(self._snapshot_listeners, callback)

    def on_connection_state(self, callback: ConnectionCallback) -> Callable[[], None]:
        """Call `callback` (from a client thread) on every connection state change.

        Events arrive in the order the changes happened: a client thread holds
        the next change until the listeners are done, so a listener must
        return promptly and must not call `stop_persistent_connection`.
        """
        return self._subscribe(self._connection_listeners, callback)

    def on_write_abandoned(self, callback: AbandonedCallback) -> Callable[[], None]:
        """Call `callback` with each write given up on, and why (`AbandonedWrite.reason`).

        Every accepted write ends confirmed or here: a stop reports what it discards.
        """
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
        """The last snapshot the installation sent, or None before the first.

        After an outage this is the previous session's until the new one's
        first snapshot arrives (`wait_for_snapshot` waits for that one).
        """
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
        """Accept a write once a session is up; it leaves after the session's first snapshot."""
        now = monotonic()
        with self._lock:
            if self._lifecycle.phase not in (Phase.HANDSHAKEN, Phase.SYNCED):
                raise IPComConnectionError(
                    f"not connected to {self._host}:{self._port}; the command was not sent"
                )
            self._writes.queue(module, values, now)
            self._changed.notify_all()

    # Connection handling

    def _open_session(self, run: Run) -> Session:
        """Connect and run the handshake, always from scratch in single-key mode."""
        with self._lock:
            self._session_count += 1
            number = self._session_count
        try:
            sock = connect(
                self._host,
                self._port,
                self._socket_timeout,
                lambda sock: self._lifecycle.register_connecting(run, sock),
            )
            pacer = Pacer(
                self._poll_interval,
                self._command_interval,
                self._keepalive_interval,
                monotonic(),
            )
            return handshake(
                sock,
                number,
                self._username,
                self._password,
                f"{self._host}:{self._port}",
                pacer=pacer,
            )
        finally:
            self._lifecycle.register_connecting(run, None)

    def _install_session(self, session: Session) -> list[AbandonedWrite]:
        """Make `session` current (under `_lock`); returns the writes that waited too long."""
        self._session = session
        expired = self._writes.expire(monotonic())
        self._counters.writes_abandoned += len(expired)
        self._changed.notify_all()
        return expired

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

    def _discard_writes(self, reason: AbandonReason) -> list[AbandonedWrite]:
        discarded = self._writes.discard(reason)
        self._counters.writes_abandoned += len(discarded)
        return discarded

    def _drop_link(self, run: Run, session: Session, reason: str) -> None:
        """Take a failed session out of service; the receive loop reconnects (or ends).

        The state changes before the socket is shut: the reader cannot start
        a reconnect (whose CONNECTED would otherwise be overtaken by this
        change) until the socket is shut. Writes the link caught wait for the
        next session, or are reported when the client will not reconnect.
        """
        with self._event_lock:
            with self._lock:
                if not self._lifecycle.is_current(run) or not self._retire(session):
                    return
                self._counters.last_error = reason
                self._counters.connected_since = None
                healthy_for = 0.0
                if session.synced_at is not None:
                    healthy_for = session.last_received - session.synced_at
                self._backoff.session_ended(healthy_for)
                if run.auto_reconnect:
                    self._lifecycle.move(run, Phase.RECONNECTING)
                    abandoned = self._writes.carry_over(monotonic())
                    self._counters.writes_abandoned += len(abandoned)
                    event = self._change_state(ConnectionState.RECONNECTING, reason)
                else:
                    self._lifecycle.move(run, Phase.FAILED)
                    abandoned = self._discard_writes(AbandonReason.LINK_ENDED)
                    event = self._change_state(
                        ConnectionState.DISCONNECTED, f"{reason}; not reconnecting"
                    )
            self._announce(event)
        _LOGGER.info("Lost the link to %s:%s: %s", self._host, self._port, reason)
        self._shut_socket(session.sock)
        self._report_abandoned(abandoned)

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

    def _transmit(self, session: Session, data: bytes, *, current: bool = True) -> str | None:
        """Send under the send lock; the failure in words, or None when sent.

        With `current`, only while `session` is still in service.
        """
        with self._send_lock:
            if current and self._session is not session:
                return "link closed"
            try:
                session.sock.sendall(data)
            except OSError as err:
                return f"send failed: {err}"
            return None

    # The receive loop

    def _receive_loop(self, run: Run, first: Session) -> None:
        """Read messages; when the link drops, reconnect with backoff (or end the run).

        This loop is the socket's only reader and the only place that closes
        a session's socket (besides `stop` after joining it), so no thread
        ever reads or writes a descriptor that was closed and reused.
        """
        session: Session | None = first
        while session is not None:
            reason = self._read(run, session)
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
        """Reconnect after the backoff; None once the run ended."""
        while self._lifecycle.is_current(run):
            with self._lock:
                delay = self._backoff.next_delay()
            if delay and self._lifecycle.wait_ended(run, delay):
                return None
            try:
                session = self._open_session(run)
            except IPComAuthenticationError as err:
                self._fail_authentication(run, err)
                return None
            except IPComConnectionError as err:
                with self._lock:
                    self._counters.last_error = str(err)
                _LOGGER.debug("Reconnect to %s:%s failed: %s", self._host, self._port, err)
                continue
            with self._lock:
                if not self._lifecycle.move(run, Phase.HANDSHAKEN):
                    session.sock.close()
                    return None
                self._counters.reconnects += 1
                expired = self._install_session(session)
            self._report_abandoned(expired)
            _LOGGER.info("Reconnected to %s:%s", self._host, self._port)
            return session
        return None

    def _fail_authentication(self, run: Run, err: IPComAuthenticationError) -> None:
        _LOGGER.error(
            "%s:%s rejected the credentials on reconnect; not retrying", self._host, self._port
        )
        with self._event_lock:
            with self._lock:
                if not self._lifecycle.move(run, Phase.FAILED):
                    return
                self._counters.last_error = str(err)
                abandoned = self._discard_writes(AbandonReason.LINK_ENDED)
                event = self._change_state(
                    ConnectionState.DISCONNECTED, str(err), authentication_failed=True
                )
            self._announce(event)
        self._report_abandoned(abandoned)

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
        event: ConnectionEvent | None = None
        with self._event_lock:
            with self._lock:
                if self._session is not session:
                    return
                self._counters.snapshots_received += 1
                answered = session.pacer.snapshot_arrived(now)
                judgement = self._writes.judge(snapshot, session.number, answered)
                self._counters.writes_confirmed += judgement.confirmed
                self._counters.writes_resent += judgement.resent
                self._counters.writes_abandoned += len(judgement.abandoned)
                previous = self._snapshot
                self._snapshot = snapshot
                first = session.synced_at is None
                if first:
                    session.synced_at = now
                    self._counters.connected_since = time.time()
                    run = self._lifecycle.run
                    if run is not None and self._lifecycle.move(run, Phase.SYNCED):
                        event = self._change_state(ConnectionState.CONNECTED, "connected")
                changed = first or previous is None or previous.values != snapshot.values
                listeners = list(self._snapshot_listeners) if changed else []
                self._changed.notify_all()
            self._announce(event)
        self._report_abandoned(judgement.abandoned)
        for listener in listeners:
            self._call_listener(listener, snapshot)

    def _report_abandoned(self, abandoned: list[AbandonedWrite]) -> None:
        if not abandoned:
            return
        with self._lock:
            listeners = list(self._abandoned_listeners)
        for write in abandoned:
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
                self._call_listener(listener, write)

    # The request loop

    def _request_loop(self, run: Run) -> None:
        """Send polls, frames and keep-alives, one request outstanding at a time."""
        while True:
            with self._lock:
                if not self._lifecycle.is_current(run):
                    return
                session = self._session
                if session is None or self._lifecycle.phase not in (
                    Phase.HANDSHAKEN,
                    Phase.SYNCED,
                ):
                    expired = self._writes.expire(monotonic())
                    self._counters.writes_abandoned += len(expired)
                    if not expired:
                        self._changed.wait(self._poll_interval)
                        continue
                    outgoing = None
                else:
                    expired = []
                    silent_for = monotonic() - session.last_received
                    if silent_for > self._stale_after:
                        outgoing = None
                    else:
                        outgoing, wait = self._choose_request(session)
                        if outgoing is None:
                            stale_in = self._stale_after - silent_for
                            self._changed.wait(min(wait, stale_in + STALE_CHECK_MARGIN))
                            continue
            if expired:
                self._report_abandoned(expired)
                continue
            assert session is not None
            if outgoing is None:
                self._drop_link(run, session, f"no decoded message for {silent_for:.1f} s")
                continue
            failure = self._transmit(session, outgoing.data)
            if failure is not None:
                self._drop_link(run, session, failure)

    def _choose_request(self, session: Session) -> tuple[_Outgoing | None, float]:
        """Pick the next request (under `_lock`) and take the slot for it."""
        now = monotonic()
        synced = self._lifecycle.phase is Phase.SYNCED and self._snapshot is not None
        kind, wait = session.pacer.next_request(now, synced and self._writes.has_queued)
        if kind is None:
            return None, wait
        request = session.pacer.sent(kind, now)
        if kind is RequestKind.POLL:
            self._counters.polls_sent += 1
            return _Outgoing(kind, session.poll_bytes), 0.0
        if kind is RequestKind.KEEPALIVE:
            return _Outgoing(kind, cipher.encrypt(messages.encode_keepalive(), session.masks)), 0.0
        taken = self._writes.take_module()
        assert taken is not None and self._snapshot is not None
        module, writes = taken
        values = self._writes.frame_values(module, writes, self._snapshot)
        self._writes.mark_sent(module, writes, session.number, request.sequence)
        self._counters.writes_sent += 1
        frame = cipher.encrypt(messages.encode_set_outputs(module, values), session.masks)
        return _Outgoing(kind, frame, module, writes), 0.0
