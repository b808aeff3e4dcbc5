"""A client's writes, from queued to exactly one end: confirmed, superseded or abandoned.

A set-outputs frame carries all eight outputs of a module (PROTOCOL.md
section 4), so the frame for one write repeats the rest of the module. This
module decides what those other seven values are and what each snapshot
proves about the writes in flight (docs/reliability.md):

- A frame repeats the newest snapshot, except for this client's writes in
  flight that no snapshot since their frame has contradicted: a press after
  our frame wins, whatever the reply pattern.
- A write is confirmed by a snapshot that shows it and certainly reflects its
  frame (the pacer's `settled`); it is given up on once such snapshots keep
  showing another value. It is never sent twice: the installation cannot say
  whether another value means the frame was lost or a person changed the
  output after it, and only the first is safe to repeat.
- A write that left on a link that dropped is judged by the next session's
  first snapshot: confirmed if it shows it, otherwise reported.
- A write still queued when the installation reports a change of the same
  output that this client did not make is dropped and reported: the press is
  the newer intent.
- A newer write to the same output supersedes an older one.

No I/O and not thread-safe: the client calls it under its own lock, then
takes the reports (`take_reports`) and hands them to its listeners outside it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from .errors import IPComError
from .models import OutputAddress, StateSnapshot
from .protocol import OUTPUTS_PER_MODULE, RELAY_OFF, RELAY_ON

UNCONFIRMED_ANSWER_LIMIT: Final = 3
"""Snapshots that certainly reflect a write's frame and show another value before it is given up.

More than one, because whether a device's answer to a frame already shows
the frame is not known (PROTOCOL.md section 4).
"""

WRITE_RETAIN_SECONDS: Final = 10.0
"""How long a write may wait for a link that is down."""


class WriteOutcome(enum.Enum):
    """How a write ended when it was not abandoned."""

    CONFIRMED = "confirmed"
    """A snapshot that reflects the write's frame shows the value."""
    SUPERSEDED = "superseded"
    """A later write to the same output replaced it."""


class AbandonReason(enum.StrEnum):
    """Why the client gave a write up, in words a log line can carry."""

    NOT_CONFIRMED = "the installation showed another value after handling it"
    CHANGED_AT_INSTALLATION = "the output was changed at the installation before it was sent"
    LINK_DROPPED = "the link dropped after it was sent and the installation does not show it"
    OUTAGE = "the link stayed down longer than the write may wait"
    LINK_ENDED = "the link ended and the client does not reconnect"
    STOPPED = "the client was stopped before the installation showed it"


class AbandonedWrite(NamedTuple):
    """A write the client gave up on, reported to the caller."""

    module: int
    output: int
    value: int
    reason: AbandonReason = AbandonReason.NOT_CONFIRMED


class WriteAbandonedError(IPComError):
    """The client gave a write up; `write.reason` says why."""

    def __init__(self, write: AbandonedWrite) -> None:
        super().__init__(
            f"writing {write.value} to module {write.module} output {write.output}: {write.reason}"
        )
        self.write = write

    @property
    def reason(self) -> AbandonReason:
        """Why the write was given up."""
        return self.write.reason


WriteHandle = Future[WriteOutcome]
"""Completes once every output of one call has ended; fails with `WriteAbandonedError`."""


@dataclass(eq=False)
class _Call:
    """One write call: its handle completes when all of its outputs have ended."""

    handle: WriteHandle
    remaining: int
    superseded: bool = False
    abandoned: AbandonedWrite | None = None

    def settle(self) -> None:
        """Complete the handle (outside the client's lock: its callbacks run here)."""
        if self.handle.done():
            return
        if self.abandoned is not None:
            self.handle.set_exception(WriteAbandonedError(self.abandoned))
        elif self.superseded:
            self.handle.set_result(WriteOutcome.SUPERSEDED)
        else:
            self.handle.set_result(WriteOutcome.CONFIRMED)


@dataclass(eq=False)
class PendingWrite:
    """A value written to one output, followed until it ends."""

    module: int
    output: int
    value: int
    created: float
    call: _Call
    basis: int | None
    """The output's value in the newest snapshot when the write was queued (None: no fresh one)."""
    session: int = 0
    sequence: int = 0
    """The request of `session` that carried it; 0 while queued."""
    contradicted: bool = False
    """A snapshot since its frame left showed another value: no frame repeats it."""
    misses: int = 0


@dataclass
class Reports:
    """What the client must tell its callers after a change to the writes."""

    abandoned: list[AbandonedWrite] = field(default_factory=list)
    finished: list[_Call] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.abandoned or self.finished)


def shows(written: int, actual: int) -> bool:
    """Whether a snapshot value shows a write (any non-zero relay is on)."""
    return actual == written or (written == RELAY_ON and actual != RELAY_OFF)


def frame_shown(module: int, writes: Mapping[int, PendingWrite], snapshot: StateSnapshot) -> bool:
    """Whether `snapshot` shows every value a frame wrote."""
    return all(shows(write.value, snapshot.get_value(module, o)) for o, write in writes.items())


class WriteTracker:
    """Queued writes (not sent yet) and writes in flight (sent, not ended)."""

    def __init__(self, retain_seconds: float = WRITE_RETAIN_SECONDS) -> None:
        self._retain_seconds = retain_seconds
        self._queued: dict[int, dict[int, PendingWrite]] = {}
        self._in_flight: dict[tuple[int, int], PendingWrite] = {}
        self._reports = Reports()
        self.confirmed = 0
        self.superseded = 0
        self.abandoned = 0

    @property
    def queued_since(self) -> float | None:
        """When the oldest write still waiting for a frame was queued (None: none waits)."""
        return min(
            (write.created for pending in self._queued.values() for write in pending.values()),
            default=None,
        )

    def queue(
        self, module: int, values: Mapping[int, int], now: float, snapshot: StateSnapshot | None
    ) -> WriteHandle:
        """Queue one call's writes; `snapshot` is the current session's newest, if any.

        A newer write to an output supersedes one still queued for it.
        """
        call = _Call(WriteHandle(), len(values))
        call.handle.set_running_or_notify_cancel()
        pending = self._queued.setdefault(module, {})
        for output, value in values.items():
            older = pending.get(output)
            if older is not None:
                self._end(older, WriteOutcome.SUPERSEDED)
            basis = None if snapshot is None else snapshot.get_value(module, output)
            pending[output] = PendingWrite(module, output, value, now, call, basis)
        return call.handle

    def expected(self, module: int, output: int, snapshot: StateSnapshot | None) -> int | None:
        """The value the output will have once this client's writes have landed."""
        queued = self._queued.get(module, {}).get(output)
        if queued is not None:
            return queued.value
        in_flight = self._in_flight.get((module, output))
        if in_flight is not None and not in_flight.contradicted:
            return in_flight.value
        return None if snapshot is None else snapshot.get_value(module, output)

    def expected_values(self, snapshot: StateSnapshot | None) -> dict[OutputAddress, int]:
        """Every output's `expected` value; outputs without one (no snapshot, no write) left out."""
        values: dict[OutputAddress, int] = {}
        if snapshot is not None:
            for index, value in enumerate(snapshot.values):
                module, output = divmod(index, OUTPUTS_PER_MODULE)
                values[OutputAddress(module + 1, output + 1)] = value
        for (module, output), write in self._in_flight.items():
            if not write.contradicted:
                values[OutputAddress(module, output)] = write.value
        for module, pending in self._queued.items():
            for output, write in pending.items():
                values[OutputAddress(module, output)] = write.value
        return values

    def take_module(self) -> tuple[int, dict[int, PendingWrite]] | None:
        """Hand the queued writes of the module queued first over, for one frame."""
        if not self._queued:
            return None
        module = next(iter(self._queued))
        return module, self._queued.pop(module)

    def frame_values(
        self, module: int, writes: Mapping[int, PendingWrite], snapshot: StateSnapshot
    ) -> list[int]:
        """All eight values of a frame: these writes over everything else known.

        `snapshot` is the current session's newest: a frame built on an older
        state would undo what changed meanwhile (PROTOCOL.md section 4).
        """
        values: list[int] = []
        for output in range(1, OUTPUTS_PER_MODULE + 1):
            write = writes.get(output)
            if write is not None:
                values.append(write.value)
                continue
            expected = self.expected(module, output, snapshot)
            values.append(RELAY_OFF if expected is None else expected)
        return values

    def mark_sent(
        self, module: int, writes: Mapping[int, PendingWrite], session: int, sequence: int
    ) -> None:
        """Follow writes that leave in a frame, request `sequence` of `session`."""
        for output, write in writes.items():
            older = self._in_flight.get((module, output))
            if older is not None:
                self._end(older, WriteOutcome.SUPERSEDED)
            write.session = session
            write.sequence = sequence
            self._in_flight[(module, output)] = write

    def observe(self, snapshot: StateSnapshot, session: int, settled: int) -> None:
        """Judge the writes against a snapshot of `session` reflecting requests up to `settled`."""
        self._observe_queued(snapshot)
        for (module, output), write in list(self._in_flight.items()):
            actual = snapshot.get_value(module, output)
            from_dropped_link = write.session != session
            certain = from_dropped_link or settled >= write.sequence
            if shows(write.value, actual):
                if certain:
                    self._end(write, WriteOutcome.CONFIRMED)
                continue
            write.contradicted = True
            if not certain:
                continue
            if from_dropped_link:
                self._end(write, AbandonReason.LINK_DROPPED)
                continue
            write.misses += 1
            if write.misses >= UNCONFIRMED_ANSWER_LIMIT:
                self._end(write, AbandonReason.NOT_CONFIRMED)

    def _observe_queued(self, snapshot: StateSnapshot) -> None:
        """Drop queued writes whose output someone else changed since they were queued."""
        for module, pending in list(self._queued.items()):
            for output, write in list(pending.items()):
                actual = snapshot.get_value(module, output)
                if write.basis is None or actual == write.basis:
                    write.basis = actual
                    continue
                ours = self._in_flight.get((module, output))
                if ours is not None and shows(ours.value, actual):
                    write.basis = actual
                    continue
                del pending[output]
                self._end(write, AbandonReason.CHANGED_AT_INSTALLATION)
            if not pending:
                del self._queued[module]

    def expire(self, now: float, session: int | None) -> None:
        """Give up on writes that waited longer than the retain window for a link.

        Queued writes wait while the link is down (`session` None); writes in
        flight on a link that dropped wait for the next session's first snapshot.
        """
        for module, pending in list(self._queued.items()):
            for output, write in list(pending.items()):
                if session is None and now - write.created > self._retain_seconds:
                    del pending[output]
                    self._end(write, AbandonReason.OUTAGE)
            if not pending:
                del self._queued[module]
        for write in list(self._in_flight.values()):
            if write.session != session and now - write.created > self._retain_seconds:
                self._end(write, AbandonReason.OUTAGE)

    def discard(self, reason: AbandonReason) -> None:
        """Give up on every write, queued or in flight."""
        for write in list(self._in_flight.values()):
            self._end(write, reason)
        for pending in list(self._queued.values()):
            for write in list(pending.values()):
                self._end(write, reason)
        self._queued.clear()

    def take_reports(self) -> Reports:
        """The abandoned writes and finished calls since the last call."""
        reports, self._reports = self._reports, Reports()
        return reports

    def _end(self, write: PendingWrite, end: WriteOutcome | AbandonReason) -> None:
        key = (write.module, write.output)
        if self._in_flight.get(key) is write:
            del self._in_flight[key]
        call = write.call
        call.remaining -= 1
        if isinstance(end, AbandonReason):
            abandoned = AbandonedWrite(write.module, write.output, write.value, end)
            self._reports.abandoned.append(abandoned)
            call.abandoned = call.abandoned or abandoned
            self.abandoned += 1
        elif end is WriteOutcome.SUPERSEDED:
            call.superseded = True
            self.superseded += 1
        else:
            self.confirmed += 1
        if call.remaining == 0:
            self._reports.finished.append(call)
