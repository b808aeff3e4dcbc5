"""The soak's audit of wall-switch presses: a frame must not undo what the household did.

A client writes all eight outputs of a module in every frame, so a frame built
from a stale view of the module switches back whatever a wall switch changed
(PROTOCOL.md section 4). A press `p` of output (m, o), leaving it at value
`P`, is **undone** by a set-outputs frame `F` when all of these hold:

1. `F` took effect after `p` and carries, for (m, o), a value other than `P`
   (a dimmer's value as stored, clamped to 0..100);
2. the client accepted no write to (m, o) after `p`: a later write is the
   user overriding the press, not an undo;
3. the client could have known `p` when it built `F`: either `F`'s connection
   had sent no snapshot at all before `F` arrived (a frame built on no
   snapshot of its session, which a client must never send), or it had sent a
   snapshot taken after `p` at least `GRACE` seconds before `F` arrived
   (a frame that had queued in the socket while the device slept, in a reply
   delay or the bus latency, arrived at an unknown time: only the first case
   can be judged for it);
4. `F`'s value for (m, o) is not the client's own earlier write to (m, o)
   that no snapshot had shown it before `p` (a write accepted before the
   press, still in the queue or sent with its confirmation lost, that goes
   out late: the user's command arriving late, not a stale view).

A frame that differs from an open press but fails 3 is a race (it was built
before the client could know) and is counted apart; one that fails 4 is a
late write, counted apart too. Either way the press is then closed: the
installation shows the frame's value from then on.

Each race and late write also says how long the client itself sat on the
press (`SwitchedBack`): the time from the first snapshot showing the press
that `F`'s connection sent before `F` arrived to `F`'s arrival. With no such
snapshot the client could not have known: the switch back was forced by the
installation's latency, not delayed by the client. A frame that queued while
the device was busy has no known arrival, so its delay is unknown.
"""

from __future__ import annotations

import enum
import math
import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ipcom.protocol import DIMMER_MAX, POLL_INTERVAL
from ipcom.simulator import ReceivedWrite, SentSnapshot

GRACE: Final = POLL_INTERVAL
"""Time a sent snapshot is given to reach the client and inform its next frame."""
_RECENT_FRAMES: Final = 32
"""Frames kept per module, to see whether a write went out before it was recorded."""
_RECENT_SNAPSHOTS: Final = 256
"""Snapshots kept (of every connection), for a press recorded after snapshots it must see.

A snapshot is recorded once sent, so one taken around a press may be recorded
before the workload records the press; this many cover far more than that
moment even at a poll every few milliseconds.
"""
_CONNECTIONS_KEPT: Final = 1024
"""Connections whose first snapshot is remembered; older ones are long closed."""

Address = tuple[int, int]


@dataclass(frozen=True, slots=True)
class UndonePress:
    """A press a frame switched back although the client could have known it."""

    module: int
    output: int
    pressed: int
    frame_value: int
    connection: int
    reason: str


class Attribution(enum.StrEnum):
    """Whose delay a switch back was, as far as the snapshots sent can tell."""

    OWN = "own"
    """A snapshot showing the press had gone out `own_delay` seconds before the frame arrived."""
    FORCED = "forced"
    """No snapshot showing the press had gone out on the frame's connection before it was read."""
    UNKNOWN_ARRIVAL = "unknown_arrival"
    """One had, but the frame queued while the device was busy: when it arrived is unknown."""


@dataclass(frozen=True, slots=True)
class SwitchedBack:
    """A press a frame switched back without undoing it (a race or a late write)."""

    module: int
    output: int
    connection: int
    attribution: Attribution
    own_delay: float | None
    """Seconds from the first snapshot showing the press to the frame's arrival (OWN only)."""


def delay_summary(cases: Sequence[SwitchedBack]) -> str:
    """`n=.. forced=.. unknown_arrival=.. p50=..s p95=..s max=..s` over the client's own delays.

    Percentiles are nearest-rank over the OWN cases; `-` when there is none.
    """
    delays = sorted(case.own_delay for case in cases if case.own_delay is not None)
    forced = sum(case.attribution is Attribution.FORCED for case in cases)
    unknown = sum(case.attribution is Attribution.UNKNOWN_ARRIVAL for case in cases)

    def rank(share: float) -> str:
        if not delays:
            return "-"
        return f"{delays[max(math.ceil(share * len(delays)) - 1, 0)]:.2f}s"

    return (
        f"n={len(cases)} forced={forced} unknown_arrival={unknown} "
        f"p50={rank(0.5)} p95={rank(0.95)} max={rank(1.0)}"
    )


@dataclass
class _Write:
    value: int
    attempted_at: float
    delivered_at: float | None = None


@dataclass(slots=True)
class _Press:
    """An open press and what the snapshots sent so far say about it."""

    value: int
    before: float
    after: float
    prior_write: _Write | None
    last_taken_before: float = -math.inf
    """The latest `taken_at` of any connection's snapshot taken before the press."""
    first_showing: dict[int, float] = field(default_factory=dict)
    """By connection: the earliest `sent_at` of its snapshots taken after the press."""

    def saw(self, snapshot: SentSnapshot) -> None:
        """Fold a sent snapshot into what is known of the press."""
        if snapshot.taken_at < self.before:
            self.last_taken_before = max(self.last_taken_before, snapshot.taken_at)
        if snapshot.taken_at > self.after:
            known = self.first_showing.get(snapshot.connection, math.inf)
            self.first_showing[snapshot.connection] = min(known, snapshot.sent_at)


class PressAudit:
    """Judges every applied frame against the open presses; thread-safe.

    Feed it from the workload (`written`, `pressed`) and from the simulator
    (`frame_applied` through `Simulator.on_write`, `snapshot_sent` through
    `Simulator.on_snapshot`). All times are `time.monotonic`.

    Its memory does not grow with the run: a judgement needs, of all the
    snapshots sent, only whether a frame's connection had sent one, and for
    each open press the latest snapshot taken before it and each connection's
    first snapshot taken after it. Those are kept as the snapshots go out
    (a day at a poll every few milliseconds sends a quarter of a million).
    """

    def __init__(self, dimmer_modules: frozenset[int], grace: float = GRACE) -> None:
        self._dimmers = dimmer_modules
        self._grace = grace
        self._lock = threading.Lock()
        self._presses: dict[Address, _Press] = {}
        self._writes: dict[Address, _Write] = {}
        self._frames: defaultdict[int, deque[ReceivedWrite]] = defaultdict(
            lambda: deque(maxlen=_RECENT_FRAMES)
        )
        self._recent: deque[SentSnapshot] = deque(maxlen=_RECENT_SNAPSHOTS)
        self._first_sent: dict[int, float] = {}
        """By connection: when it sent its first snapshot (the newest connections only)."""
        self.undone: list[UndonePress] = []
        self.races: list[SwitchedBack] = []
        self.late: list[SwitchedBack] = []

    @property
    def raced(self) -> int:
        """Presses switched back in a race: by a frame built before the client could know."""
        return len(self.races)

    @property
    def late_writes(self) -> int:
        """Presses switched back by a write the client accepted before them."""
        return len(self.late)

    def _stored(self, module: int, value: int) -> int:
        return min(value, DIMMER_MAX) if module in self._dimmers else value

    def written(self, module: int, values: dict[int, int], attempted_at: float) -> None:
        """The client accepted these writes; the call began at `attempted_at`."""
        with self._lock:
            for output, value in values.items():
                write = _Write(value, attempted_at)
                for frame in self._frames[module]:
                    if frame.applied_at > attempted_at and frame.values[output - 1] == value:
                        write.delivered_at = frame.applied_at
                        break
                self._writes[module, output] = write
                self._presses.pop((module, output), None)

    def pressed(self, module: int, output: int, value: int, before: float, after: float) -> None:
        """A wall switch was pressed between `before` and `after`, leaving `value`."""
        with self._lock:
            press = _Press(value, before, after, self._writes.get((module, output)))
            for snapshot in self._recent:
                press.saw(snapshot)
            self._presses[module, output] = press

    def snapshot_sent(self, snapshot: SentSnapshot) -> None:
        """The simulator sent a snapshot."""
        with self._lock:
            self._recent.append(snapshot)
            connection = snapshot.connection
            first = self._first_sent.get(connection)
            if first is None:
                self._first_sent[connection] = snapshot.sent_at
                if len(self._first_sent) > _CONNECTIONS_KEPT:
                    del self._first_sent[min(self._first_sent)]
            elif snapshot.sent_at < first:
                self._first_sent[connection] = snapshot.sent_at
            for press in self._presses.values():
                press.saw(snapshot)

    @property
    def retained(self) -> int:
        """Snapshot facts held: bounded however long the run (for the soak's own tests)."""
        with self._lock:
            return (
                len(self._recent)
                + len(self._first_sent)
                + sum(len(press.first_showing) for press in self._presses.values())
            )

    def frame_applied(self, frame: ReceivedWrite) -> None:
        """The simulator applied a frame: judge it against the open presses of its module."""
        module = frame.module
        with self._lock:
            self._frames[module].append(frame)
            for output, raw in enumerate(frame.values, start=1):
                value = self._stored(module, raw)
                write = self._writes.get((module, output))
                if (
                    write is not None
                    and write.delivered_at is None
                    and write.value == value
                    and frame.applied_at > write.attempted_at
                ):
                    write.delivered_at = frame.applied_at
                press = self._presses.get((module, output))
                if press is None or frame.applied_at <= press.after or value == press.value:
                    continue
                del self._presses[module, output]
                self._judge(frame, output, value, press)

    def _judge(self, frame: ReceivedWrite, output: int, value: int, press: _Press) -> None:
        prior = press.prior_write
        if prior is not None and prior.value == value and not self._shown(prior, press):
            self.late.append(self._switched_back(frame, output, press))
            return
        first_sent = self._first_sent.get(frame.connection, math.inf)
        if first_sent > frame.received_at:
            reason = "the frame came before any snapshot of its connection"
        elif not frame.arrival_known:
            self.races.append(self._switched_back(frame, output, press))
            return
        else:
            showing = press.first_showing.get(frame.connection, math.inf)
            if showing > frame.received_at - self._grace:
                self.races.append(self._switched_back(frame, output, press))
                return
            ahead = frame.received_at - showing
            reason = f"a snapshot showing the press was sent {ahead:.2f} s before the frame"
        self.undone.append(
            UndonePress(frame.module, output, press.value, value, frame.connection, reason)
        )

    def _switched_back(self, frame: ReceivedWrite, output: int, press: _Press) -> SwitchedBack:
        """How long the client had known `press` when `frame` switched it back."""
        showing = press.first_showing.get(frame.connection, math.inf)
        if showing > frame.received_at:
            attribution, delay = Attribution.FORCED, None
        elif not frame.arrival_known:
            attribution, delay = Attribution.UNKNOWN_ARRIVAL, None
        else:
            attribution, delay = Attribution.OWN, frame.received_at - showing
        return SwitchedBack(frame.module, output, frame.connection, attribution, delay)

    def _shown(self, write: _Write, press: _Press) -> bool:
        """Whether a snapshot taken after `write` took effect, and before `press`, was sent."""
        delivered = write.delivered_at
        return delivered is not None and delivered < press.last_taken_before
