"""Soak: the client against a misbehaving installation for minutes, then an audit.

A seeded schedule injects every fault the simulator knows (dropped
connections, a hung device, slow, split, glued and unknown replies, a slow
bus, frames left unanswered, a serial device that takes a while per request,
snapshots sent unasked, a drop right after a frame took effect, restarts on
the same port; every connection gets a new key) while a workload writes
outputs through the client and presses wall switches on the installation.
Replies to frames go through the same faults as replies to polls. Afterwards,
with the faults off and the link quiet, the audit checks what a months-long
session depends on:

- every write the client accepted (the call did not raise) shows on the
  installation, unless a later write or press to the same output superseded
  it or the client reported it through `on_write_abandoned`: nothing is lost
  in silence;
- no frame undid a wall-switch press the client could have known about and
  had not overridden by a later write (`tools.soak_presses` defines it
  precisely), judged live as each frame takes effect; the presses switched
  back in a race or by a late write are printed with the client's own delay;
- every accepted write's handle ended once the client stopped: confirmed,
  superseded or abandoned, none left unfinished;
- the client's latest snapshot equals the installation's state;
- stopping the client and the simulator leaves no thread and no descriptor
  behind, and resident memory did not grow beyond a bound.

Warnings are expected under injected faults (lost links, gave-up writes,
protocol errors the simulator counts) and are only counted; an ERROR record
from the ``ipcom`` loggers or an exception that escapes a thread fails the run.

Run it as ``scripts/soak [--seconds N] [--seed S]``; the last line printed is
the machine-readable summary, and the exit status is 1 when anything was
lost, stale or leaked.

``scripts/soak --profile day`` compresses a day of a real installation
instead (`DAY_PROFILE`): about 250,000 polls, 10,000 writes and 100 faults of
every kind, at a poll every 3 ms and every other interval and fault a tenth
as long. It ends on those counts, not on a duration, samples resident memory,
threads, open descriptors and the client's and the simulator's listener and
session counts at the start, at every tenth and at the end, and judges them
too (`judge_resources`): memory may not grow by 2 MiB or more after the
first tenth, and every count must be back where it started.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import logging
import math
import random
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, TypedDict

from ipcom.cli_common import EXIT_INTERRUPTED, positive_seconds
from ipcom.client import IPComClient
from ipcom.errors import IPComConnectionError
from ipcom.models import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.protocol import (
    COMMAND_INTERVAL,
    DIMMER_MAX,
    DIMMER_MIN,
    KEEPALIVE_INTERVAL,
    MODULE_COUNT,
    OUTPUTS_PER_MODULE,
    POLL_INTERVAL,
    RECONNECT_BASE,
    RECONNECT_MAX,
    RELAY_OFF,
    RELAY_ON,
    SOCKET_TIMEOUT,
)
from ipcom.simulator import DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator
from ipcom.writes import WriteAbandonedError, WriteHandle, WriteOutcome

from .soak_presses import GRACE, PressAudit, SwitchedBack, UndonePress, delay_summary

DEFAULT_SECONDS: Final = 600.0

STALE_AFTER: Final = 3.0
"""Silence (about eight missed polls) after which the client drops a link.

The only client setting that differs from the vendor timing: the library's
5 s default would merely make each frozen-device outage two seconds longer.
"""


class ClientTiming(TypedDict):
    """The client's intervals, by the names of its keyword arguments."""

    poll_interval: float
    command_interval: float
    keepalive_interval: float
    socket_timeout: float
    stale_after: float
    reconnect_base: float
    reconnect_max: float


CLIENT_TIMING: Final[ClientTiming] = {
    "poll_interval": POLL_INTERVAL,
    "command_interval": COMMAND_INTERVAL,
    "keepalive_interval": KEEPALIVE_INTERVAL,
    "socket_timeout": SOCKET_TIMEOUT,
    "stale_after": STALE_AFTER,
    "reconnect_base": RECONNECT_BASE,
    "reconnect_max": RECONNECT_MAX,
}
"""The client runs with the intervals of a real installation (PROTOCOL.md section 5)."""

RELAY_MODULES: Final = (1, 2, 3)
DIMMER_MODULE: Final = 6
WORKLOAD_MODULES: Final = (*RELAY_MODULES, DIMMER_MODULE)
"""Few modules, so that writes and presses often share a module's frame."""

WRITE_GAP: Final = 0.4
PRESS_GAP: Final = 2.5
FAULT_GAP: Final = 4.0
"""Mean seconds between writes, wall-switch presses and fault injections."""
SEVERAL_OUTPUTS_SHARE: Final = 0.2
"""The share of write calls that set several outputs of a module at once."""

DAY_TIMING: Final[ClientTiming] = {
    "poll_interval": 0.003,
    "command_interval": 0.002,
    "keepalive_interval": 3.0,
    "socket_timeout": 0.5,
    "stale_after": 0.3,
    "reconnect_base": 0.1,
    "reconnect_max": 3.0,
}
"""The day profile's client: polls every 3 ms, not every 0.35 s, so that a day's 250,000 polls
fit in about half an hour on two cores (faults halve the rate of a healthy link, 300 polls a
second); every other interval is a tenth of `CLIENT_TIMING`'s, the command tick below the poll."""


@dataclass(frozen=True)
class Profile:
    """How hard a soak runs and when it ends.

    A timed profile (`polls` 0) runs for the `--seconds` asked at fixed mean
    gaps between writes, presses and faults. A counted profile runs until the
    client has sent `polls` polls, `writes` write calls were accepted and
    `faults_per_kind` faults of every kind went in (drawn from a shuffled deck),
    spreading writes, presses and faults over the time the polls still need;
    it samples and judges resources, and fails when `limit` seconds pass first.
    """

    name: str
    timing: ClientTiming
    fault_scale: float = 1.0
    """Every fault's duration, delay and interval is the default one times this."""
    grace: float = GRACE
    """The press audit's grace: how soon a sent snapshot must inform the client's frames."""
    polls: int = 0
    writes: int = 0
    faults_per_kind: int = 0
    limit: float = 0.0
    """Seconds a counted profile may take to send its traffic (settling and the audit aside)."""

    @property
    def counted(self) -> bool:
        """Whether the profile ends on its counts (and judges resources) rather than on time."""
        return self.polls > 0

    @property
    def faults(self) -> int:
        """Faults a counted profile injects in all."""
        return self.faults_per_kind * len(FAULT_WEIGHTS)

    def scaled(self, share: float) -> Profile:
        """This profile with `share` of its counts (at least one of each) and of its limit."""
        if not self.counted:
            raise ValueError(f"the {self.name} profile runs for a time, not for counts")
        return dataclasses.replace(
            self,
            polls=max(round(self.polls * share), 1),
            writes=max(round(self.writes * share), 1),
            faults_per_kind=max(round(self.faults_per_kind * share), 1),
            limit=max(self.limit * share, MIN_LIMIT),
        )


MIN_LIMIT: Final = 120.0
"""The shortest limit of a scaled counted profile: connecting and the faults' tails take time."""


FAULT_WEIGHTS: Final[Mapping[str, int]] = {
    "drop": 3,
    "freeze": 2,
    "delay": 2,
    "chunks": 2,
    "glue": 2,
    "unknown": 2,
    "unknown_glued": 2,
    "latency": 2,
    "mute_frames": 1,
    "restart": 1,
    "reports": 2,
    "serial": 2,
    "drop_after_frame": 2,
}
FREEZE_SECONDS: Final = (0.5, 8.0)
KNOB_SECONDS: Final = (2.0, 10.0)
"""How long a knob stays on; a drop after the next frame stays armed as long at most."""
MAX_REPLY_DELAY: Final = 1.0
MAX_BUS_LATENCY: Final = 0.3
REPORT_INTERVAL: Final = (0.1, 0.5)
"""Seconds between the snapshots a reporting device sends unasked."""
REQUEST_TIME: Final = (0.1, 0.6)
"""Seconds a serial device takes over each request."""
MAX_CHUNK: Final = 64
RESTART_DOWN_SECONDS: Final = (0.5, 6.0)
REBIND_LIMIT: Final = 30.0
"""How long a restart keeps trying to bind the same port again."""

DEFAULT_PROFILE: Final = Profile("default", CLIENT_TIMING)
"""`--seconds` of faults every 4 s on a client with a real installation's timing."""
DAY_PROFILE: Final = Profile(
    "day",
    DAY_TIMING,
    fault_scale=0.1,
    grace=0.05,
    polls=250_000,
    writes=10_000,
    faults_per_kind=100,
    limit=3600.0,
)
"""A day of a real installation, compressed: a poll every 0.35 s for 24 hours is 247,000
polls; writes and faults come as they come in the default profile, relative to each other.
The press audit's grace is 50 ms, not one poll: the client and the simulator share one
interpreter, whose threads take turns every 5 ms."""
PROFILES: Final[Mapping[str, Profile]] = {
    profile.name: profile for profile in (DEFAULT_PROFILE, DAY_PROFILE)
}

CONNECT_LIMIT: Final = RECONNECT_MAX + 2 * SOCKET_TIMEOUT + 10.0
"""Once the faults end, the longest the client may take to be connected again."""
SETTLE_STABLE: Final = 2.0
SETTLE_LIMIT: Final = 30.0
"""The audit waits until the client's view and the installation agree for
`SETTLE_STABLE` seconds in a row, at most `SETTLE_LIMIT` seconds."""

MAX_RSS_GROWTH_KIB: Final = 16 * 1024
"""Resident memory growth counted as a leak: far above allocator noise."""
MAX_RSS_GROWTH_AFTER_WARMUP_KIB: Final = 2 * 1024
"""A counted profile's bound on resident memory growth from its warm-up sample to its end."""
WARMUP_LABEL: Final = "10%"
"""The sample that ends a counted profile's warm-up: the first tenth of its traffic, in which
caches, allocator arenas, the pacer's round-trip samples and the audits' bounded
histories fill up."""
TENTHS: Final = 10

PROGRESS_EVERY: Final = 60.0
_TICK: Final = 0.5

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1

_LOGGER_NAME: Final = "ipcom"


def _print(line: str) -> None:
    print(f"soak: {line}", flush=True)


# Bookkeeping of writes and presses


@dataclass
class _OutputHistory:
    """What happened to one output, ordered by the ledger's sequence numbers."""

    written: int | None = None
    written_at: int = 0
    pressed_at: int = 0
    abandoned: int | None = None
    abandoned_at: int = 0


@dataclass(frozen=True, slots=True)
class LostWrite:
    """An accepted write the installation does not show and nobody reported."""

    module: int
    output: int
    written: int
    actual: int


class Ledger:
    """The last accepted write and the last press of every output.

    The workload calls `accepted` and `pressed` from one thread, so their
    sequence numbers order writes and presses exactly. Abandon reports come
    from client threads; each takes the current sequence number, so a report
    covers the write it names only if that write was accepted before it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequence = 0
        self._outputs: dict[tuple[int, int], _OutputHistory] = {}
        self.abandon_reports = 0

    def accepted(self, module: int, values: Mapping[int, int]) -> None:
        """The client accepted writes of these outputs of one module."""
        with self._lock:
            self._sequence += 1
            for output, value in values.items():
                history = self._outputs.setdefault((module, output), _OutputHistory())
                history.written = value
                history.written_at = self._sequence

    def pressed(self, module: int, output: int) -> None:
        """A wall switch was pressed: it supersedes every earlier write to its output."""
        with self._lock:
            self._sequence += 1
            self._outputs.setdefault((module, output), _OutputHistory()).pressed_at = self._sequence

    def abandoned(self, module: int, output: int, value: int) -> None:
        """The client's `on_write_abandoned` listener."""
        with self._lock:
            self.abandon_reports += 1
            history = self._outputs.setdefault((module, output), _OutputHistory())
            history.abandoned = value
            history.abandoned_at = self._sequence

    def audit(self, state: StateSnapshot) -> tuple[list[LostWrite], int, int]:
        """Compare the installation's `state` with the writes that must show in it.

        Returns the lost writes, how many outputs were checked and how many
        had their last write superseded by a press or covered by a report.
        """
        lost: list[LostWrite] = []
        checked = excused = 0
        with self._lock:
            for (module, output), history in sorted(self._outputs.items()):
                if history.written is None:
                    continue
                superseded = history.pressed_at > history.written_at
                reported = (
                    history.abandoned == history.written
                    and history.abandoned_at >= history.written_at
                )
                if superseded or reported:
                    excused += 1
                    continue
                checked += 1
                actual = state.get_value(module, output)
                if actual != history.written:
                    lost.append(LostWrite(module, output, history.written, actual))
        return lost, checked, excused


class OutageMeter:
    """The client's `on_connection_state` listener: counts outages, keeps the longest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._longest = 0.0
        self.outages = 0

    def __call__(self, event: ConnectionEvent) -> None:
        now = time.monotonic()
        with self._lock:
            if event.state is ConnectionState.CONNECTED:
                if self._down_since is not None:
                    self._longest = max(self._longest, now - self._down_since)
                    self._down_since = None
            elif self._down_since is None:
                self._down_since = now
                self.outages += 1

    def longest(self) -> float:
        """The longest outage so far, counting one that is still going on."""
        with self._lock:
            ongoing = 0.0 if self._down_since is None else time.monotonic() - self._down_since
            return max(self._longest, ongoing)


class HandleAudit:
    """Follows every accepted write's handle: each must end, once, by the time the client stops.

    A handle completes with a `WriteOutcome` or fails with `WriteAbandonedError`
    (anything else ended it wrongly). A `concurrent.futures.Future` cannot end
    twice, so what can go wrong is a handle that never ends or ends wrongly.
    Ended handles are only counted: a long soak keeps the open ones alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[WriteHandle] = set()
        self.confirmed = 0
        self.superseded = 0
        self.abandoned: Counter[str] = Counter()
        """Abandoned handles by the reason's name."""
        self.wrong: list[str] = []

    def track(self, handle: WriteHandle) -> None:
        """Follow the handle of a write the client accepted."""
        with self._lock:
            self._open.add(handle)
        handle.add_done_callback(self._ended)

    @property
    def unfinished(self) -> int:
        """Handles that have not ended yet."""
        with self._lock:
            return len(self._open)

    def _ended(self, handle: WriteHandle) -> None:
        wrong = None
        if handle.cancelled():
            wrong = "cancelled"
        elif (error := handle.exception()) is not None:
            if not isinstance(error, WriteAbandonedError):
                wrong = f"failed with {type(error).__name__}: {error}"
        elif not isinstance(handle.result(), WriteOutcome):
            wrong = f"completed with {handle.result()!r}"
        with self._lock:
            self._open.discard(handle)
            if wrong is not None:
                self.wrong.append(wrong)
            elif isinstance(error, WriteAbandonedError):
                self.abandoned[error.reason.name.lower()] += 1
            elif handle.result() is WriteOutcome.SUPERSEDED:
                self.superseded += 1
            else:
                self.confirmed += 1


class LogCounter(logging.Handler):
    """Counts WARNING and ERROR records and keeps the last few errors for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings = 0
        self.errors = 0
        self.recent_errors: deque[str] = deque(maxlen=5)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors += 1
            self.recent_errors.append(f"{record.name}: {record.getMessage()}")
        else:
            self.warnings += 1


# Faults


class FaultInjector:
    """Switches the simulator's fault knobs on for a while and off again.

    One fault of each kind at a time; kinds overlap freely. A restart stops
    the simulator (its installation state survives) and starts it again on
    the same port when the fault ends; a drop after a frame closes the
    connection of the next frame that takes effect, unless the fault ends
    first. The first faults are one of every kind in a shuffled order, so
    that even a one-minute run meets them all.

    With `per_kind`, the kinds come from a shuffled deck of that many of each
    instead, and a card whose kind is still running waits for a later turn:
    exactly `per_kind` of every kind, then none. Every duration, delay and
    interval is the default one times `scale`.
    """

    def __init__(
        self,
        simulator: Simulator,
        rng: random.Random,
        *,
        scale: float = 1.0,
        per_kind: int = 0,
    ) -> None:
        self._simulator = simulator
        self._rng = rng
        self._scale = scale
        self._ends: dict[str, float] = {}
        self._first_round = list(FAULT_WEIGHTS)
        rng.shuffle(self._first_round)
        self._deck: list[str] | None = None
        if per_kind:
            self._deck = [kind for kind in FAULT_WEIGHTS for _ in range(per_kind)]
            rng.shuffle(self._deck)
        self.injected: Counter[str] = Counter()

    @property
    def remaining(self) -> int | None:
        """Cards left in the deck; None without one (the faults never run out)."""
        return None if self._deck is None else len(self._deck)

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return self._rng.uniform(*bounds) * self._scale

    def _draw(self) -> str | None:
        """The deck's next card whose kind is not running, taken out; None if there is none."""
        assert self._deck is not None
        for index in range(len(self._deck) - 1, -1, -1):
            if self._deck[index] not in self._ends:
                return self._deck.pop(index)
        return None

    def inject(self, now: float) -> None:
        """Start one fault, picked by the seeded schedule."""
        if self._deck is not None:
            drawn = self._draw()
            if drawn is None:
                return
            kind = drawn
        elif self._first_round:
            kind = self._first_round.pop()
        else:
            kinds = list(FAULT_WEIGHTS)
            kind = self._rng.choices(kinds, weights=[FAULT_WEIGHTS[k] for k in kinds])[0]
        duration = self._uniform(KNOB_SECONDS)
        if kind in self._ends:
            return
        simulator = self._simulator
        if kind == "drop":
            simulator.drop_connections()
        elif kind == "unknown":
            simulator.inject_unknown()
        elif kind == "unknown_glued":
            simulator.inject_unknown(glued=True)
        elif kind == "freeze":
            simulator.freeze()
            self._ends[kind] = now + self._uniform(FREEZE_SECONDS)
        elif kind == "delay":
            simulator.reply_delay = self._uniform((0.0, MAX_REPLY_DELAY))
            self._ends[kind] = now + duration
        elif kind == "chunks":
            simulator.chunk_size = self._rng.randint(1, MAX_CHUNK)
            self._ends[kind] = now + duration
        elif kind == "glue":
            simulator.glue_replies = True
            self._ends[kind] = now + duration
        elif kind == "latency":
            simulator.bus_latency = self._uniform((0.0, MAX_BUS_LATENCY))
            self._ends[kind] = now + duration
        elif kind == "mute_frames":
            simulator.answer_frames = False
            self._ends[kind] = now + duration
        elif kind == "reports":
            simulator.report_interval = self._uniform(REPORT_INTERVAL)
            self._ends[kind] = now + duration
        elif kind == "serial":
            simulator.request_time = self._uniform(REQUEST_TIME)
            self._ends[kind] = now + duration
        elif kind == "drop_after_frame":
            simulator.drop_after_frames = 1
            self._ends[kind] = now + duration
        else:
            simulator.stop()
            self._ends[kind] = now + self._uniform(RESTART_DOWN_SECONDS)
        self.injected[kind] += 1

    def next_end(self) -> float:
        """When the next running fault ends (infinity when none runs)."""
        return min(self._ends.values(), default=float("inf"))

    def end_due(self, now: float) -> None:
        """End the faults whose time is up."""
        for kind, end in list(self._ends.items()):
            if end <= now:
                self._end(kind)

    def end_all(self) -> None:
        """End every running fault: the device answers promptly and whole again."""
        for kind in list(self._ends):
            self._end(kind)

    def _end(self, kind: str) -> None:
        del self._ends[kind]
        simulator = self._simulator
        if kind == "freeze":
            simulator.unfreeze()
        elif kind == "delay":
            simulator.reply_delay = 0.0
        elif kind == "chunks":
            simulator.chunk_size = None
        elif kind == "glue":
            simulator.glue_replies = False
        elif kind == "latency":
            simulator.bus_latency = 0.0
        elif kind == "mute_frames":
            simulator.answer_frames = True
        elif kind == "reports":
            simulator.report_interval = None
        elif kind == "serial":
            simulator.request_time = 0.0
        elif kind == "drop_after_frame":
            simulator.drop_after_frames = 0
        elif kind == "restart":
            _restart(simulator)


def _restart(simulator: Simulator) -> None:
    """Start a stopped simulator on its old port, waiting out a port still in use."""
    deadline = time.monotonic() + REBIND_LIMIT
    while True:
        try:
            simulator.start()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(_TICK)
        else:
            return


# The workload


class Workload:
    """Random writes through the client and presses on the installation."""

    def __init__(
        self,
        client: IPComClient,
        simulator: Simulator,
        ledger: Ledger,
        rng: random.Random,
        presses: PressAudit | None = None,
        *,
        handles: HandleAudit | None = None,
    ) -> None:
        self._client = client
        self._simulator = simulator
        self._ledger = ledger
        self._presses = presses or PressAudit(simulator.dimmer_modules)
        self._handles = handles or HandleAudit()
        self._rng = rng
        self.accepted = 0
        self.refused = 0
        self.presses = 0

    def _value(self, module: int) -> int:
        if module == DIMMER_MODULE:
            return self._rng.randint(DIMMER_MIN, DIMMER_MAX)
        return self._rng.choice((RELAY_OFF, RELAY_ON))

    def write(self) -> None:
        """One write call: a relay, a dimmer level, or several outputs in one frame."""
        rng = self._rng
        module = rng.choice(WORKLOAD_MODULES)
        outputs = range(1, OUTPUTS_PER_MODULE + 1)
        several = rng.random() < SEVERAL_OUTPUTS_SHARE
        count = rng.randint(2, 4) if several else 1
        values = {output: self._value(module) for output in rng.sample(outputs, count)}
        attempted_at = time.monotonic()
        try:
            if several:
                handle = self._client.set_outputs(module, values)
            else:
                ((output, value),) = values.items()
                if module == DIMMER_MODULE:
                    handle = self._client.set_dimmer(module, output, value)
                else:
                    handle = self._client.set_value(module, output, value)
        except IPComConnectionError:
            self.refused += 1
            return
        self._handles.track(handle)
        self.accepted += 1
        self._ledger.accepted(module, values)
        self._presses.written(module, values, attempted_at)

    def press(self) -> None:
        """Press a wall switch; the installation changes while the link may be down."""
        module = self._rng.choice(WORKLOAD_MODULES)
        output = self._rng.randint(1, OUTPUTS_PER_MODULE)
        self._ledger.pressed(module, output)
        before = time.monotonic()
        value = self._simulator.press(module, output)
        self._presses.pressed(module, output, value, before, time.monotonic())
        self.presses += 1


# Resources


def _rss_kib() -> int:
    """Resident set size of this process in KiB (0 where /proc is missing)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _open_descriptors() -> int:
    """Open file descriptors of this process (0 where /proc is missing)."""
    with contextlib.suppress(OSError):
        return sum(1 for _ in Path("/proc/self/fd").iterdir())
    return 0


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """What a counted profile measures at its start, at every tenth and at its end.

    `label` is "before" (nothing started yet), "start" (the client connected,
    no fault yet), "10%" to "90%" (that share of the traffic sent), "100%"
    (all of it sent, the faults over and the client settled) or "end" (the
    client and the simulator stopped). `counts` are the lists and sets that
    grow when something is not let go: the client's listeners, loop threads
    and pending writes, the simulator's sessions, callbacks and listening
    sockets (none before and at the end).
    """

    label: str
    elapsed: float
    rss_kib: int
    threads: int
    descriptors: int
    counts: Mapping[str, int] = field(default_factory=dict)
    polls: int = 0
    writes: int = 0
    faults: int = 0

    def line(self) -> str:
        """One printed line: `soak: sample <label> t=..s polls=.. ... rss_kib=.. threads=..`."""
        counts = "".join(f" {name}={value}" for name, value in self.counts.items())
        return (
            f"sample {self.label} t={self.elapsed:.0f}s polls={self.polls} writes={self.writes} "
            f"faults={self.faults} rss_kib={self.rss_kib} threads={self.threads} "
            f"open_fds={self.descriptors}{counts}"
        )


def leak_counts(client: IPComClient, simulator: Simulator) -> dict[str, int]:
    """The client's and the simulator's lists and sets that a leak would grow.

    Read from their private fields under their own locks: neither exposes
    these counts, and an instrument may look inside what it measures.
    """
    with client._lock:
        writes = client._writes
        counts = {
            "client.snapshot_listeners": len(client._snapshot_listeners),
            "client.connection_listeners": len(client._connection_listeners),
            "client.abandoned_listeners": len(client._abandoned_listeners),
            "client.outputs_listeners": len(client._outputs_listeners),
            "client.loop_threads": len(client._threads),
            "client.pending_writes": len(writes._in_flight)
            + sum(len(queued) for queued in writes._queued.values()),
        }
    with simulator._lock:
        counts |= {
            "simulator.sessions": len(simulator._sessions),
            "simulator.write_callbacks": len(simulator._write_callbacks),
            "simulator.snapshot_callbacks": len(simulator._snapshot_callbacks),
            "simulator.listening_sockets": len(simulator._listeners),
        }
    return counts


def take_sample(
    label: str,
    elapsed: float,
    counts: Mapping[str, int] | None = None,
    *,
    polls: int = 0,
    writes: int = 0,
    faults: int = 0,
) -> ResourceSample:
    """Measure this process now, after a full garbage collection."""
    gc.collect()
    return ResourceSample(
        label,
        elapsed,
        rss_kib=_rss_kib(),
        threads=len(_live_threads()),
        descriptors=_open_descriptors(),
        counts=dict(counts or {}),
        polls=polls,
        writes=writes,
        faults=faults,
    )


def judge_resources(
    samples: Sequence[ResourceSample],
    *,
    max_growth_kib: int = MAX_RSS_GROWTH_AFTER_WARMUP_KIB,
) -> list[str]:
    """Why a counted profile's samples show a leak; empty when they do not.

    - resident memory grew by `max_growth_kib` or more from the warm-up
      sample (`WARMUP_LABEL`) to "100%";
    - the threads or open descriptors at "end" differ from "before", or those
      at "100%" (settled) from "start" (connected);
    - any count at "100%" differs from "start".
    """
    by_label = {sample.label: sample for sample in samples}
    needed = ("before", "start", WARMUP_LABEL, "100%", "end")
    failures: list[str] = []
    missing = [label for label in needed if label not in by_label]
    if missing:
        failures.append(f"no resource sample at {', '.join(missing)}")
    warm, last = by_label.get(WARMUP_LABEL), by_label.get("100%")
    if warm is not None and last is not None:
        growth = last.rss_kib - warm.rss_kib
        if growth >= max_growth_kib:
            failures.append(
                f"resident memory grew by {growth} KiB after warm-up ({WARMUP_LABEL} to 100%), "
                f"{max_growth_kib} KiB or more"
            )
    for first_label, then_label in (("before", "end"), ("start", "100%")):
        first, then = by_label.get(first_label), by_label.get(then_label)
        if first is None or then is None:
            continue
        for name, was, now in (
            ("threads", first.threads, then.threads),
            ("open file descriptors", first.descriptors, then.descriptors),
            *((name, value, then.counts.get(name, 0)) for name, value in first.counts.items()),
        ):
            if now != was:
                failures.append(f"{name}: {was} at {first_label}, {now} at {then_label}")
    return failures


@contextlib.contextmanager
def _captured_logs(verbose: bool) -> Iterator[LogCounter]:
    """Count the records of the ``ipcom`` loggers instead of printing thousands of warnings."""
    logger = logging.getLogger(_LOGGER_NAME)
    counter = LogCounter()
    previous = (logger.level, logger.propagate)
    logger.addHandler(counter)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = verbose
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


@contextlib.contextmanager
def _thread_crashes() -> Iterator[list[str]]:
    """Record exceptions that escape any thread (a crashed loop is a bug)."""
    crashes: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        crashes.append(f"{name}: {args.exc_type.__name__}: {args.exc_value}")
        previous(args)

    threading.excepthook = hook
    try:
        yield crashes
    finally:
        threading.excepthook = previous


# The run


@dataclass
class SoakReport:
    """Every figure the soak prints; `failures` says what went wrong, if anything."""

    seconds: float
    seed: int
    profile: str = DEFAULT_PROFILE.name
    polls: int = 0
    total_seconds: float = 0.0
    """The whole run: connecting, the traffic, settling, the audit and stopping."""
    samples: list[ResourceSample] = field(default_factory=list)
    """A counted profile's resource samples, judged by `judge_resources`."""
    incomplete: str | None = None
    """Why a counted profile ended before its traffic was sent, if it did."""
    writes: int = 0
    refused: int = 0
    presses: int = 0
    abandoned: int = 0
    lost: list[LostWrite] = field(default_factory=list)
    undone: list[UndonePress] = field(default_factory=list)
    races: list[SwitchedBack] = field(default_factory=list)
    late: list[SwitchedBack] = field(default_factory=list)
    handles_confirmed: int = 0
    handles_superseded: int = 0
    handles_abandoned: Counter[str] = field(default_factory=Counter)
    handles_unfinished: int = 0
    handles_wrong: list[str] = field(default_factory=list)
    checked_outputs: int = 0
    excused_outputs: int = 0
    settled: bool = False
    stale_snapshot: bool = False
    reconnects: int = 0
    outages: int = 0
    longest_outage: float = 0.0
    leaked_threads: list[str] = field(default_factory=list)
    leaked_descriptors: int = 0
    rss_growth_kib: int = 0
    warnings_logged: int = 0
    errors_logged: int = 0
    recent_errors: list[str] = field(default_factory=list)
    stop_seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    statistics_abandoned: int = 0
    detail: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """The reasons the run failed; empty when it passed."""
        reasons: list[str] = []
        if self.lost:
            reasons.append(f"{len(self.lost)} accepted write(s) lost in silence")
        if self.undone:
            reasons.append(f"{len(self.undone)} wall-switch press(es) undone by a frame")
        if self.handles_unfinished:
            reasons.append(f"{self.handles_unfinished} write handle(s) never ended")
        if self.handles_wrong:
            reasons.append(
                f"{len(self.handles_wrong)} write handle(s) ended with neither an outcome "
                "nor WriteAbandonedError"
            )
        if self.abandoned != self.statistics_abandoned:
            reasons.append(
                f"the client counted {self.statistics_abandoned} abandoned writes "
                f"but reported {self.abandoned}"
            )
        if not self.settled:
            reasons.append("the client and the installation never agreed once the faults ended")
        if self.stale_snapshot:
            reasons.append("the client's snapshot differs from the installation")
        if self.leaked_threads:
            reasons.append(f"threads left running: {', '.join(self.leaked_threads)}")
        if self.leaked_descriptors > 0:
            reasons.append(f"{self.leaked_descriptors} file descriptor(s) left open")
        if self.rss_growth_kib > MAX_RSS_GROWTH_KIB:
            reasons.append(f"resident memory grew by {self.rss_growth_kib} KiB")
        if self.errors_logged:
            reasons.append(f"{self.errors_logged} error(s) logged or raised in threads")
        if self.incomplete is not None:
            reasons.append(self.incomplete)
        if self.samples:
            reasons.extend(judge_resources(self.samples))
        return reasons

    def _sample(self, label: str) -> ResourceSample | None:
        return next((sample for sample in self.samples if sample.label == label), None)

    def summary(self) -> str:
        """The last line: the figures the issue asks for, in a fixed form."""
        if self.samples:
            return self._counted_summary()
        return (
            f"soak: seconds={self.seconds:g} writes={self.writes} abandoned={self.abandoned} "
            f"lost_writes={len(self.lost)} undone_presses={len(self.undone)} "
            f"stale_snapshot={int(self.stale_snapshot)} "
            f"reconnects={self.reconnects} longest_outage_s={self.longest_outage:.1f} "
            f"leaked_threads={len(self.leaked_threads)} rss_growth_kb={self.rss_growth_kib} "
            f"errors_logged={self.errors_logged}"
        )

    def _counted_summary(self) -> str:
        def figure(label: str, name: str) -> str:
            sample = self._sample(label)
            return "-" if sample is None else str(getattr(sample, name))

        warm, last = self._sample(WARMUP_LABEL), self._sample("100%")
        growth = "-" if warm is None or last is None else str(last.rss_kib - warm.rss_kib)
        return (
            f"soak: profile={self.profile} seconds={self.seconds:.0f} "
            f"duration_s={self.total_seconds:.0f} polls={self.polls} writes={self.writes} "
            f"faults={self.faults.total()} abandoned={self.abandoned} "
            f"lost_writes={len(self.lost)} undone_presses={len(self.undone)} "
            f"stale_snapshot={int(self.stale_snapshot)} reconnects={self.reconnects} "
            f"longest_outage_s={self.longest_outage:.1f} "
            f"rss_growth_after_warmup_kb={growth} "
            f"threads_before={figure('before', 'threads')} threads_end={figure('end', 'threads')} "
            f"fds_before={figure('before', 'descriptors')} fds_end={figure('end', 'descriptors')} "
            f"leaked_threads={len(self.leaked_threads)} errors_logged={self.errors_logged} "
            f"failures={len(self.failures)}"
        )


def _live_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.is_alive()}


def _wait(condition: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _agrees(client: IPComClient, simulator: Simulator) -> bool:
    """The client is connected, sees the installation's state and has no write pending."""
    snapshot = client.get_latest_snapshot()
    if not client.connected or snapshot is None or snapshot != simulator.snapshot():
        return False
    return all(
        client.get_expected_value(module, output) == snapshot.get_value(module, output)
        for module in range(1, MODULE_COUNT + 1)
        for output in range(1, OUTPUTS_PER_MODULE + 1)
    )


def _settle(client: IPComClient, simulator: Simulator) -> bool:
    """Wait until the client and the installation agree for a while, within bounds."""
    if not _wait(lambda: client.connected, CONNECT_LIMIT):
        return False
    deadline = time.monotonic() + SETTLE_LIMIT
    agreed_since: float | None = None
    while (now := time.monotonic()) < deadline:
        if not _agrees(client, simulator):
            agreed_since = None
        elif agreed_since is None:
            agreed_since = now
        elif now - agreed_since >= SETTLE_STABLE:
            return True
        time.sleep(0.1)
    return False


class _Gaps(Protocol):
    """The mean seconds between writes, presses and faults, asked before each next one."""

    def write(self) -> float: ...

    def press(self) -> float: ...

    def fault(self) -> float: ...


class _FixedGaps:
    """A timed profile's gaps: `WRITE_GAP`, `PRESS_GAP` and `FAULT_GAP`."""

    def write(self) -> float:
        return WRITE_GAP

    def press(self) -> float:
        return PRESS_GAP

    def fault(self) -> float:
        return FAULT_GAP


class _Schedule:
    """When the next write, press and fault are due: exponential gaps from seeded streams."""

    def __init__(
        self,
        start: float,
        workload: random.Random,
        faults: random.Random,
        gaps: _Gaps | None = None,
    ) -> None:
        self._workload = workload
        self._faults = faults
        self._gaps = gaps or _FixedGaps()
        self.write = start + workload.expovariate(1 / self._gaps.write())
        self.press = start + workload.expovariate(1 / self._gaps.press())
        self.fault = start + faults.expovariate(1 / self._gaps.fault())
        self._start = start

    def restart(self, start: float) -> None:
        """Shift the schedule to begin at `start` (once the client is connected)."""
        shift = start - self._start
        self._start = start
        self.write += shift
        self.press += shift
        self.fault += shift

    def next_write(self) -> None:
        self.write += self._workload.expovariate(1 / self._gaps.write())

    def next_press(self) -> None:
        self.press += self._workload.expovariate(1 / self._gaps.press())

    def next_fault(self) -> None:
        self.fault += self._faults.expovariate(1 / self._gaps.fault())

    def redraw(self, now: float) -> None:
        """Draw every wait again from `now` with the gaps as they are now.

        Exponential gaps forget how long they have waited, so this keeps the
        streams Poisson while their rates change.
        """
        self.write = now + self._workload.expovariate(1 / self._gaps.write())
        self.press = now + self._workload.expovariate(1 / self._gaps.press())
        self.fault = now + self._faults.expovariate(1 / self._gaps.fault())


class _Ending(Protocol):
    """When the traffic ends, and what a profile does between events."""

    def done(self, now: float) -> bool: ...

    def writes_wanted(self) -> bool: ...

    def tick(self, now: float, schedule: _Schedule) -> None: ...

    def next_check(self, now: float) -> float: ...


class _Timed:
    """A timed profile's traffic ends `seconds` after it began."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def done(self, now: float) -> bool:
        return now >= self._end

    def writes_wanted(self) -> bool:
        return True

    def tick(self, now: float, schedule: _Schedule) -> None:
        pass

    def next_check(self, now: float) -> float:
        return self._end


NOMINAL_POLL_SHARE: Final = 0.7
"""Before a counted profile has measured its poll rate: polls per poll interval it assumes."""
RATE_WARMUP: Final = 5.0
"""Seconds after which a counted profile spreads its traffic at its measured poll rate."""
COUNTED_CHECK: Final = 0.05
"""How often a counted profile looks at its counts."""
FORGET_WRITES_EVERY: Final = 1.0
"""How often a counted profile clears the simulator's log of received frames.

The soak never reads that log (its audits follow `on_write`), and it keeps up to
10,000 frames: a day's worth, whose filling would look like growth."""
CATCH_UP: Final = 4.0
"""How much faster than average a counted profile's writes and faults may come when behind."""


class _Counted:
    """A counted profile's end and gaps, and its samples at every tenth.

    The traffic ends once the client sent `profile.polls` polls, `profile.writes`
    write calls were accepted and the fault deck is empty. The gaps spread what
    is left of the writes and the faults over the time the polls still need at
    the poll rate measured so far (outages included), so that all three end
    together; a press comes `PRESS_GAP / WRITE_GAP` times as seldom as a write.
    Every check draws the waits again with the gaps of the moment.
    """

    def __init__(
        self,
        profile: Profile,
        client: IPComClient,
        workload: Workload,
        faults: FaultInjector,
        *,
        sample: Callable[[str], None],
        housekeeping: Callable[[], None],
    ) -> None:
        self._profile = profile
        self._client = client
        self._workload = workload
        self._faults = faults
        self._sample = sample
        self._housekeeping = housekeeping
        self._next_tenth = 1
        self._next_housekeeping = 0.0
        self.restart(time.monotonic())
        self.timed_out = False

    def restart(self, start: float) -> None:
        """The traffic begins now (once the client is connected)."""
        self._start = start
        self._deadline = start + self._profile.limit

    def _polls(self) -> int:
        return self._client.statistics.polls_sent

    def _faults_left(self) -> int:
        return self._faults.remaining or 0

    def fraction(self) -> float:
        """The share of the traffic sent: the least of polls, writes and faults."""
        profile = self._profile
        return min(
            self._polls() / profile.polls,
            self._workload.accepted / profile.writes,
            (profile.faults - self._faults_left()) / profile.faults,
        )

    def done(self, now: float) -> bool:
        if self.fraction() >= 1.0:
            return True
        if now >= self._deadline:
            self.timed_out = True
            return True
        return False

    def writes_wanted(self) -> bool:
        return self._workload.accepted < self._profile.writes

    def tick(self, now: float, schedule: _Schedule) -> None:
        schedule.redraw(now)
        if now >= self._next_housekeeping:
            self._housekeeping()
            self._next_housekeeping = now + FORGET_WRITES_EVERY
        fraction = self.fraction()
        while self._next_tenth < TENTHS and fraction * TENTHS >= self._next_tenth:
            self._sample(f"{self._next_tenth * 100 // TENTHS}%")
            self._next_tenth += 1

    def next_check(self, now: float) -> float:
        return now + COUNTED_CHECK

    def _seconds_left(self) -> tuple[float, float]:
        """Seconds since the traffic began, and the seconds its polls still need."""
        timing = self._profile.timing
        elapsed = time.monotonic() - self._start
        polls = self._polls()
        if elapsed >= RATE_WARMUP and polls > 0:
            rate = polls / elapsed
        else:
            rate = NOMINAL_POLL_SHARE / timing["poll_interval"]
        return elapsed, max(self._profile.polls - polls, 0) / rate

    def _spread(self, left: int, total: int) -> float:
        """The mean gap that spreads `left` of `total` over the time the polls still need.

        At most `CATCH_UP` times the run's average rate: a stream behind the
        polls catches up without a burst.
        """
        elapsed, remaining = self._seconds_left()
        average = (elapsed + remaining) / total
        return max(remaining / max(left, 1), average / CATCH_UP)

    def write(self) -> float:
        profile = self._profile
        return self._spread(profile.writes - self._workload.accepted, profile.writes)

    def press(self) -> float:
        elapsed, remaining = self._seconds_left()
        return (elapsed + remaining) / self._profile.writes * PRESS_GAP / WRITE_GAP

    def fault(self) -> float:
        return self._spread(self._faults_left(), self._profile.faults)


def _drive(
    ending: _Ending,
    workload: Workload,
    faults: FaultInjector,
    schedule: _Schedule,
    progress: Callable[[float], None],
) -> None:
    """Run the workload and the faults until the profile's traffic has ended."""
    start = time.monotonic()
    next_progress = start + PROGRESS_EVERY
    while not ending.done(now := time.monotonic()):
        faults.end_due(now)
        if now >= schedule.fault:
            faults.inject(now)
            schedule.next_fault()
        if now >= schedule.write:
            if ending.writes_wanted():
                workload.write()
            schedule.next_write()
        if now >= schedule.press:
            workload.press()
            schedule.next_press()
        if now >= next_progress:
            progress(now - start)
            next_progress += PROGRESS_EVERY
        ending.tick(now, schedule)
        wake = min(
            schedule.write,
            schedule.press,
            schedule.fault,
            faults.next_end(),
            ending.next_check(now),
        )
        time.sleep(min(max(wake - time.monotonic(), 0.0), _TICK))


def run_soak(
    seconds: float, seed: int, *, verbose: bool = False, profile: Profile = DEFAULT_PROFILE
) -> SoakReport:
    """Soak a client against a faulty simulator, then audit; see the module doc.

    A timed `profile` runs for `seconds`; a counted one until its counts are
    reached (`seconds` is ignored, and the report's is the time that took).
    """
    began = time.monotonic()
    report = SoakReport(seconds=seconds, seed=seed, profile=profile.name)
    gc.collect()
    threads_before = _live_threads()
    descriptors_before = _open_descriptors()
    if profile.counted:
        report.samples.append(take_sample("before", 0.0))
        _print(report.samples[-1].line())
    with _captured_logs(verbose) as logs, _thread_crashes() as crashes:
        simulator = Simulator(
            username=DEFAULT_USERNAME,
            password=DEFAULT_PASSWORD,
            dimmer_modules={DIMMER_MODULE},
            new_key_per_connection=True,
        )
        simulator.start()
        try:
            rss_before = _soak(report, simulator, profile)
        finally:
            simulator.stop()
        gc.collect()
        report.rss_growth_kib = _rss_kib() - rss_before
        report.leaked_threads = sorted(thread.name for thread in _live_threads() - threads_before)
        report.leaked_descriptors = _open_descriptors() - descriptors_before
        report.warnings_logged = logs.warnings
        report.errors_logged = logs.errors + len(crashes)
        report.recent_errors = [*logs.recent_errors, *crashes]
    report.total_seconds = time.monotonic() - began
    if profile.counted:
        report.samples.append(
            take_sample(
                "end",
                report.total_seconds,
                polls=report.polls,
                writes=report.writes,
                faults=report.faults.total(),
            )
        )
        _print(report.samples[-1].line())
    return report


def _soak(report: SoakReport, simulator: Simulator, profile: Profile = DEFAULT_PROFILE) -> int:
    """Connect, drive the workload under faults, settle, audit and stop the client.

    Returns the resident memory once connected, the baseline of the growth.
    """
    ledger = Ledger()
    presses = PressAudit(simulator.dimmer_modules, grace=profile.grace)
    unsubscribe_frames = simulator.on_write(presses.frame_applied)
    unsubscribe_snapshots = simulator.on_snapshot(presses.snapshot_sent)
    meter = OutageMeter()
    client = IPComClient(
        simulator.host, simulator.port, DEFAULT_USERNAME, DEFAULT_PASSWORD, **profile.timing
    )
    unsubscribe_meter = client.on_connection_state(meter)
    client.on_write_abandoned(
        lambda write: ledger.abandoned(write.module, write.output, write.value)
    )
    handles = HandleAudit()
    workload = Workload(
        client,
        simulator,
        ledger,
        random.Random(f"workload-{report.seed}"),
        presses,
        handles=handles,
    )
    faults = FaultInjector(
        simulator,
        random.Random(f"faults-{report.seed}"),
        scale=profile.fault_scale,
        per_kind=profile.faults_per_kind,
    )
    began = time.monotonic()

    def sample(label: str) -> None:
        statistics = client.statistics
        taken = take_sample(
            label,
            time.monotonic() - began,
            leak_counts(client, simulator),
            polls=statistics.polls_sent,
            writes=workload.accepted,
            faults=faults.injected.total(),
        )
        report.samples.append(taken)
        _print(taken.line())

    counted = None
    if profile.counted:
        counted = _Counted(
            profile, client, workload, faults, sample=sample, housekeeping=simulator.clear_writes
        )
    schedule = _Schedule(
        time.monotonic(),
        random.Random(f"workload-timing-{report.seed}"),
        random.Random(f"fault-timing-{report.seed}"),
        counted,
    )

    def progress(elapsed: float) -> None:
        polls = f"polls={client.statistics.polls_sent} " if profile.counted else ""
        _print(
            f"t={elapsed:.0f}s {polls}writes={workload.accepted} refused={workload.refused} "
            f"presses={workload.presses} abandoned={ledger.abandon_reports} "
            f"reconnects={client.statistics.reconnects} faults={faults.injected.total()}"
        )

    rss_before = _rss_kib()
    try:
        client.start_persistent_connection()
        client.wait_for_snapshot(SOCKET_TIMEOUT)
        gc.collect()
        rss_before = _rss_kib()
        if counted is not None:
            sample("start")
        driving = time.monotonic()
        schedule.restart(driving)
        ending: _Ending
        if counted is None:
            ending = _Timed(report.seconds)
        else:
            counted.restart(driving)
            ending = counted
        _drive(ending, workload, faults, schedule, progress)
        faults.end_all()
        if counted is not None:
            report.seconds = time.monotonic() - driving
            if counted.timed_out:
                report.incomplete = (
                    f"the {profile.name} profile's traffic was not sent within "
                    f"{profile.limit:g} s (fraction {counted.fraction():.2f})"
                )
        report.settled = _settle(client, simulator)
        if counted is not None:
            sample("100%")
        _audit(report, client, simulator, ledger)
    finally:
        faults.end_all()
        unsubscribe_meter()
        unsubscribe_frames()
        unsubscribe_snapshots()
        report.undone = list(presses.undone)
        report.races = list(presses.races)
        report.late = list(presses.late)
        stopping = time.monotonic()
        client.stop_persistent_connection()
        report.stop_seconds = time.monotonic() - stopping
        report.handles_confirmed = handles.confirmed
        report.handles_superseded = handles.superseded
        report.handles_abandoned = handles.abandoned
        report.handles_unfinished = handles.unfinished
        report.handles_wrong = handles.wrong
        report.writes = workload.accepted
        report.refused = workload.refused
        report.presses = workload.presses
        report.abandoned = ledger.abandon_reports
        report.outages = meter.outages
        report.longest_outage = meter.longest()
        report.faults = faults.injected
    return rss_before


def _audit(report: SoakReport, client: IPComClient, simulator: Simulator, ledger: Ledger) -> None:
    """Compare the installation with the accepted writes and with the client's view."""
    state = simulator.snapshot()
    report.stale_snapshot = client.get_latest_snapshot() != state
    report.lost, report.checked_outputs, report.excused_outputs = ledger.audit(state)
    statistics = client.statistics
    report.polls = statistics.polls_sent
    report.statistics_abandoned = statistics.writes_abandoned
    report.reconnects = statistics.reconnects
    report.detail = [
        f"client: snapshots={statistics.snapshots_received} polls={statistics.polls_sent} "
        f"frames={statistics.writes_sent} confirmed={statistics.writes_confirmed} "
        f"superseded={statistics.writes_superseded} abandoned={statistics.writes_abandoned} "
        f"dropped_bytes={statistics.dropped_bytes} "
        f"unknown_messages={statistics.unknown_messages}",
        f"simulator: connections={simulator.connections_accepted} "
        f"polls={simulator.polls_received} requests={simulator.requests_received} "
        f"overlapping_requests={simulator.overlapping_requests} "
        f"reports={simulator.reports_sent} ignored_while_frozen={simulator.ignored_messages} "
        f"protocol_errors={simulator.protocol_errors}",
    ]


def _print_report(report: SoakReport, replay: str | None = None) -> None:
    faults = " ".join(f"{kind}={report.faults[kind]}" for kind in FAULT_WEIGHTS)
    _print(f"faults injected: {faults}")
    _print(
        f"workload: writes accepted={report.writes} refused_while_down={report.refused} "
        f"presses={report.presses}; outputs checked={report.checked_outputs} "
        f"superseded_or_reported={report.excused_outputs}"
    )
    _print(
        f"presses undone={len(report.undone)} switched_back_in_a_race={len(report.races)} "
        f"switched_back_by_an_earlier_write={len(report.late)}"
    )
    _print(f"races own_delay: {delay_summary(report.races)}")
    _print(f"late_writes own_delay: {delay_summary(report.late)}")
    abandoned = report.handles_abandoned
    reasons = " ".join(f"{reason}={count}" for reason, count in sorted(abandoned.items()))
    ended_once = not report.handles_unfinished and not report.handles_wrong
    _print(
        f"write handles: ended_once={'yes' if ended_once else 'no'} "
        f"confirmed={report.handles_confirmed} superseded={report.handles_superseded} "
        f"abandoned={abandoned.total()}{f' ({reasons})' if reasons else ''} "
        f"unfinished={report.handles_unfinished} ended_wrongly={len(report.handles_wrong)}"
    )
    for line in report.detail:
        _print(line)
    _print(
        f"outages={report.outages} stop_s={report.stop_seconds:.2f} "
        f"leaked_descriptors={report.leaked_descriptors} "
        f"warnings_logged={report.warnings_logged} (expected under faults)"
    )
    for loss in report.lost:
        _print(
            f"LOST write of {loss.written} to {loss.module}.{loss.output}: "
            f"the installation shows {loss.actual}"
        )
    for press in report.undone:
        _print(
            f"UNDONE press of {press.module}.{press.output} to {press.pressed}: a frame on "
            f"connection {press.connection} wrote {press.frame_value}; {press.reason}"
        )
    for wrong in report.handles_wrong[:5]:
        _print(f"WRONG write handle: {wrong}")
    for error in report.recent_errors:
        _print(f"error: {error}")
    if report.samples:
        resources = judge_resources(report.samples)
        _print(
            f"resources: rss_growth_after_warmup_bound_kib={MAX_RSS_GROWTH_AFTER_WARMUP_KIB} "
            f"(warm-up: up to the {WARMUP_LABEL} sample) "
            f"judged={'ok' if not resources else 'FAILED'}"
        )
    for failure in report.failures:
        _print(f"FAILED: {failure}")
    if replay is None:
        replay = f"scripts/soak --seconds {report.seconds:g} --seed {report.seed}"
    _print(f"replay with: {replay}")


def positive_share(text: str) -> float:
    """An argparse type: a finite share above zero (1 is the whole profile)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


@dataclass(frozen=True, slots=True)
class Plan:
    """What the command line asked for: the profile (scaled), its seconds and the seed."""

    profile: Profile
    seconds: float
    seed: int
    scale: float
    verbose: bool

    @property
    def replay(self) -> str:
        """The command that runs the same schedule again."""
        if not self.profile.counted:
            return f"scripts/soak --seconds {self.seconds:g} --seed {self.seed}"
        scale = f" --scale {self.scale:g}" if self.scale != 1 else ""
        return f"scripts/soak --profile {self.profile.name}{scale} --seed {self.seed}"

    def header(self) -> str:
        """The first line printed: what runs, with which timing."""
        timing = " ".join(f"{name}={value:g}" for name, value in self.profile.timing.items())
        if not self.profile.counted:
            return f"seed={self.seed} seconds={self.seconds:g} client timing: {timing}"
        profile = self.profile
        return (
            f"profile={profile.name} seed={self.seed} scale={self.scale:g} "
            f"polls={profile.polls} writes={profile.writes} "
            f"faults_per_kind={profile.faults_per_kind} limit_s={profile.limit:g} "
            f"fault_scale={profile.fault_scale:g} press_grace_s={profile.grace:g} "
            f"client timing: {timing}"
        )


def parse_arguments(argv: Sequence[str] | None = None) -> Plan:
    """Read the command line (argparse exits with status 2 on a bad one)."""
    parser = argparse.ArgumentParser(
        prog="scripts/soak",
        description=(
            "Run the ipcom client against a simulator that misbehaves on a seeded schedule, "
            "then check that no accepted write was lost and nothing leaked."
        ),
    )
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=DEFAULT_PROFILE.name,
        help="default: --seconds of faults at a real installation's timing; day: a day's "
        f"traffic ({DAY_PROFILE.polls} polls, {DAY_PROFILE.writes} writes, "
        f"{DAY_PROFILE.faults_per_kind} faults of every kind) compressed, with resource "
        "samples at every tenth, judged",
    )
    parser.add_argument(
        "--seconds",
        type=positive_seconds,
        default=None,
        help=f"how long to inject faults (default {DEFAULT_SECONDS:g}; default profile only); "
        f"the audit adds at most {CONNECT_LIMIT + SETTLE_LIMIT:g} s",
    )
    parser.add_argument(
        "--scale",
        type=positive_share,
        default=None,
        help="run this share of a counted profile's counts, e.g. 0.01 for a quick check "
        "(default 1; day profile only)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the schedule (default: random, printed)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the library's log records"
    )
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    if profile.counted and args.seconds is not None:
        parser.error(f"--seconds: the {profile.name} profile ends on its counts (see --scale)")
    if not profile.counted and args.scale is not None:
        parser.error(f"--scale: the {profile.name} profile runs for --seconds")
    scale: float = 1.0 if args.scale is None else args.scale
    if profile.counted and scale != 1:
        profile = profile.scaled(scale)
    seconds: float = DEFAULT_SECONDS if args.seconds is None else args.seconds
    seed: int = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    return Plan(profile, 0.0 if profile.counted else seconds, seed, scale, args.verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak from the command line; return the exit status."""
    plan = parse_arguments(argv)
    if plan.verbose:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    _print(plan.header())
    try:
        report = run_soak(plan.seconds, plan.seed, verbose=plan.verbose, profile=plan.profile)
    except KeyboardInterrupt:
        _print(f"interrupted; replay with: {plan.replay}")
        return EXIT_INTERRUPTED
    _print_report(report, plan.replay)
    print(report.summary(), flush=True)
    return EXIT_FAILED if report.failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
