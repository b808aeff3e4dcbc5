"""Helpers the client tests share: a client tuned for fast tests, and a wait."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import yaml

from ipcom.client import IPComClient
from ipcom.installation import Installation
from ipcom.protocol import MESSAGE_VERSION, STATUS_COMMAND
from ipcom.scheduling import Scheduler
from ipcom.simulator import Simulator

WAIT = 10.0
"""Generous: a loaded two-core machine must not make these tests flaky."""

FAST_TIMING: dict[str, float] = {
    "poll_interval": 0.05,
    "command_interval": 0.02,
    "keepalive_interval": 0.5,
    "socket_timeout": 2.0,
    "stale_after": 1.0,
    "reconnect_base": 0.05,
    "reconnect_max": 0.2,
}
"""Intervals short enough that polls, reconnects and staleness happen within a test."""


def make_client(simulator: Simulator, **overrides: float) -> IPComClient:
    """A client for `simulator` with fast timing, not started yet."""
    timing = FAST_TIMING | overrides
    return IPComClient(
        simulator.host,
        simulator.port,
        "demo",
        "demo",
        poll_interval=timing["poll_interval"],
        command_interval=timing["command_interval"],
        keepalive_interval=timing["keepalive_interval"],
        socket_timeout=timing["socket_timeout"],
        stale_after=timing["stale_after"],
        reconnect_base=timing["reconnect_base"],
        reconnect_max=timing["reconnect_max"],
    )


def snapshot_message(values: Sequence[int]) -> bytes:
    """A status snapshot as a device sends it (PROTOCOL.md section 4): header, 128 values."""
    return bytes([STATUS_COMMAND, MESSAGE_VERSION, *values])


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `condition` until it holds; False when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def write_bus_1_map(source: Path, target: Path) -> None:
    """Write `source`'s device map without the entries on bus 2 to `target`."""
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    kept = {
        section: {key: entry for key, entry in entries.items() if entry.get("bus", 1) == 1}
        for section, entries in document.items()
    }
    target.write_text(yaml.safe_dump(kept, sort_keys=False), encoding="utf-8")


FAST_CLI = ["--poll-interval", "0.05"]
"""Command-line options that make a command's client poll fast."""


class Result:
    """What one in-process run of the command line printed, and its exit code."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


def expect(condition: Callable[[], bool], what: str = "the condition") -> None:
    """Wait (generously) for `condition`; fail the test, saying `what`, when it never holds."""
    if not wait_until(condition, WAIT):
        raise AssertionError(f"{what} did not happen within {WAIT} s")


def drain(scheduler: Scheduler) -> None:
    """Return once every job handed to `scheduler` before this call has run."""
    done = threading.Event()
    scheduler.call_soon(done.set)
    assert done.wait(WAIT), "the scheduler did not run a job"


class RawDevice:
    """A device written by hand: accepts connections one after another; `behave(conn, index)`
    runs each (the connections are numbered from 1), an `OSError` in it ends that one."""

    def __init__(self, behave: Callable[[socket.socket, int], None]) -> None:
        self.connections = 0
        self._behave = behave
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-device", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)
        self._listener.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(WAIT)
                self.connections += 1
                with contextlib.suppress(OSError):
                    self._behave(conn, self.connections)


class Connect(Protocol):
    """Makes a client for the simulator; started unless told otherwise."""

    def __call__(self, *, start: bool = True, **timing: float) -> IPComClient: ...


class Seen:
    """A device listener that records, at each call, what `read` returned and on which thread."""

    def __init__(self, read: Callable[[], object]) -> None:
        self._read = read
        self.values: list[object] = []
        self.threads: list[threading.Thread] = []

    def __call__(self) -> None:
        self.values.append(self._read())
        self.threads.append(threading.current_thread())


def device[T](installation: Installation, key: str, kind: type[T]) -> T:
    """The installation's device `key`, checked to be a `kind`."""
    found = installation.get(key)
    assert isinstance(found, kind), f"{key} is {found!r}, not a {kind.__name__}"
    return found
