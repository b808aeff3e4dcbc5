"""The one owner of a client's state: which phase it is in and which moves are legal.

A client is in exactly one `Phase` at a time. Every change goes through
`Lifecycle.move`, under the lock the client shares with it, so no two
threads can believe different things about whether the client runs. Each
`start_persistent_connection` opens a new `Run`; a loop thread holds the run
it belongs to and ends as soon as that run is no longer the current one, so
threads of an earlier run can never revive or outlive it.
"""

from __future__ import annotations

import enum
import socket
import threading
from dataclasses import dataclass

from .models import ConnectionState


class Phase(enum.Enum):
    """Where a client stands."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    HANDSHAKEN = "handshaken"
    SYNCED = "synced"
    RECONNECTING = "reconnecting"
    STOPPING = "stopping"
    FAILED = "failed"


_RUNNING = frozenset({Phase.CONNECTING, Phase.HANDSHAKEN, Phase.SYNCED, Phase.RECONNECTING})

_LEGAL: dict[Phase, frozenset[Phase]] = {
    Phase.STOPPED: frozenset({Phase.CONNECTING}),
    Phase.FAILED: frozenset({Phase.CONNECTING, Phase.STOPPING}),
    Phase.CONNECTING: frozenset({Phase.HANDSHAKEN, Phase.STOPPED, Phase.STOPPING}),
    Phase.HANDSHAKEN: frozenset({Phase.SYNCED, Phase.RECONNECTING, Phase.FAILED, Phase.STOPPING}),
    Phase.SYNCED: frozenset({Phase.RECONNECTING, Phase.FAILED, Phase.STOPPING}),
    Phase.RECONNECTING: frozenset({Phase.HANDSHAKEN, Phase.FAILED, Phase.STOPPING}),
    Phase.STOPPING: frozenset({Phase.STOPPED}),
}


@dataclass(frozen=True, eq=False)
class Run:
    """One start of the client, up to its end; `auto_reconnect` is fixed for its life."""

    number: int
    auto_reconnect: bool


class IllegalTransitionError(RuntimeError):
    """A move the state machine does not allow: a bug in the client, never the device's fault."""


class Lifecycle:
    """The phase, the current run, and the socket a connect is waiting on.

    Not a lock of its own: it works under the client's lock (`lock`), so the
    client can change the phase atomically with its session and its writes.
    `changed` is notified on every move; waiters re-check what they need.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.changed = threading.Condition(lock)
        self._phase = Phase.STOPPED
        self._reconnecting = False
        """A reconnect is under way: handshaken again, but not yet in sync."""
        self._run: Run | None = None
        self._runs = 0
        self._connecting: socket.socket | None = None

    @property
    def phase(self) -> Phase:
        """The phase now."""
        return self._phase

    @property
    def connection_state(self) -> ConnectionState:
        """What the phase means to a caller: connected only once in sync with the installation."""
        if self._phase is Phase.SYNCED:
            return ConnectionState.CONNECTED
        if self._reconnecting:
            return ConnectionState.RECONNECTING
        return ConnectionState.DISCONNECTED

    @property
    def run(self) -> Run | None:
        """The run in progress (or ended by failure), None when stopped."""
        return self._run

    def is_current(self, run: Run) -> bool:
        """Whether `run` is still the one running (its threads must go on)."""
        with self._lock:
            return self._run is run and self._phase in _RUNNING

    def begin_start(self, auto_reconnect: bool) -> Run | None:
        """Open a new run, after waiting out a stop in progress; None if one is running."""
        with self._lock:
            self.changed.wait_for(lambda: self._phase is not Phase.STOPPING)
            if self._phase in _RUNNING:
                return None
            self._runs += 1
            self._run = Run(self._runs, auto_reconnect)
            self._set(Phase.CONNECTING)
            return self._run

    def move(self, run: Run, phase: Phase) -> bool:
        """Move `run` to `phase`; False (nothing changes) once the run is no longer current."""
        with self._lock:
            if not self.is_current(run):
                return False
            self._set(phase)
            return True

    def begin_stop(self) -> bool:
        """Enter STOPPING; False when there is nothing to stop (the caller waits instead)."""
        with self._lock:
            if self._phase in (Phase.STOPPED, Phase.STOPPING):
                return False
            self._set(Phase.STOPPING)
            return True

    def finish_stop(self) -> None:
        """Enter STOPPED, ending the run; wakes every `wait_stopped`."""
        with self._lock:
            self._run = None
            self._set(Phase.STOPPED)

    def wait_stopped(self) -> None:
        """Block until no stop is in progress."""
        with self._lock:
            self.changed.wait_for(lambda: self._phase is not Phase.STOPPING)

    def wait_ended(self, run: Run, timeout: float) -> bool:
        """Sleep up to `timeout`; True at once when `run` ends meanwhile."""
        with self._lock:
            return self.changed.wait_for(lambda: not self.is_current(run), timeout)

    def register_connecting(self, run: Run, sock: socket.socket | None) -> bool:
        """Remember the socket a connect blocks on, so `stop` can shut it; False once stopping."""
        with self._lock:
            self._connecting = sock
            return sock is None or self.is_current(run)

    def take_connecting(self) -> socket.socket | None:
        """The socket a connect blocks on now, if any."""
        with self._lock:
            sock, self._connecting = self._connecting, None
            return sock

    def _set(self, phase: Phase) -> None:
        if phase is not self._phase and phase not in _LEGAL[self._phase]:
            raise IllegalTransitionError(f"{self._phase.value} -> {phase.value}")
        self._phase = phase
        if phase is Phase.RECONNECTING:
            self._reconnecting = True
        elif phase is not Phase.HANDSHAKEN:
            self._reconnecting = False
        self.changed.notify_all()
