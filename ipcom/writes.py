"""Bookkeeping of a client's writes, from queued to confirmed or abandoned.

A set-outputs frame carries all eight outputs of a module (PROTOCOL.md
section 4), so the frame for one write must repeat every other write to the
module that the installation has not shown yet. This module keeps those
writes and judges each snapshot against them. It does no I/O and is not
thread-safe: the client calls it under its own lock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from .models import StateSnapshot
from .protocol import OUTPUTS_PER_MODULE, RELAY_OFF, RELAY_ON

UNCONFIRMED_ANSWER_LIMIT: Final = 3
"""Answers to later requests that may fail to show a write before it is re-sent (then dropped)."""

MAX_SEND_ATTEMPTS: Final = 2
"""A write goes out once and is re-sent at most once within one connection."""

WRITE_RETAIN_SECONDS: Final = 10.0
"""How long a write caught by a dropped link may wait for the reconnect."""


class AbandonReason(enum.StrEnum):
    """Why the client gave a write up, in words a log line can carry."""

    NOT_CONFIRMED = "the installation never showed it"
    OUTAGE = "the link stayed down longer than the write may wait"
    LINK_ENDED = "the link ended and the client does not reconnect"
    STOPPED = "the client was stopped before the installation showed it"


class AbandonedWrite(NamedTuple):
    """A write the client gave up on, reported to the caller."""

    module: int
    output: int
    value: int
    reason: AbandonReason = AbandonReason.NOT_CONFIRMED


@dataclass(eq=False)
class PendingWrite:
    """A value written to one output, followed until a snapshot shows it."""

    value: int
    created: float
    attempts: int = 0
    sequence: int = 0
    """The place of its latest frame among the requests of its session."""
    session: int = 0
    misses: int = 0


Batch = dict[int, dict[int, PendingWrite]]
"""Writes by module, then by output."""


@dataclass
class Judgement:
    """What one snapshot decided about the writes in flight."""

    confirmed: int = 0
    resent: int = 0
    abandoned: list[AbandonedWrite] = field(default_factory=list)


def shows(written: int, actual: int) -> bool:
    """Whether a snapshot value confirms a write (any non-zero relay is on)."""
    return actual == written or (written == RELAY_ON and actual != RELAY_OFF)


class WriteTracker:
    """Queued writes (not sent yet) and writes in flight (sent, not confirmed)."""

    def __init__(self, retain_seconds: float = WRITE_RETAIN_SECONDS) -> None:
        self._retain_seconds = retain_seconds
        self._queued: Batch = {}
        self._in_flight: dict[tuple[int, int], PendingWrite] = {}

    @property
    def has_queued(self) -> bool:
        """Whether any write waits for the command loop."""
        return bool(self._queued)

    def queue(self, module: int, values: Mapping[int, int], now: float) -> None:
        """Queue writes; a newer write to an output replaces an older queued one."""
        pending = self._queued.setdefault(module, {})
        for output, value in values.items():
            pending[output] = PendingWrite(value=value, created=now)

    def expected(self, module: int, output: int, snapshot: StateSnapshot | None) -> int | None:
        """The value the output will have once this client's writes have landed."""
        queued = self._queued.get(module, {}).get(output)
        if queued is not None:
            return queued.value
        in_flight = self._in_flight.get((module, output))
        if in_flight is not None:
            return in_flight.value
        return None if snapshot is None else snapshot.get_value(module, output)

    def take_batch(self) -> Batch:
        """Hand every queued write over (tests and a final accounting)."""
        batch, self._queued = self._queued, {}
        return batch

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

        `snapshot` must come from the current session: a frame built on an
        older state would undo what changed meanwhile (PROTOCOL.md section 4).
        """
        values: list[int] = []
        for output in range(1, OUTPUTS_PER_MODULE + 1):
            write = writes.get(output)
            expected = self.expected(module, output, snapshot)
            values.append(write.value if write is not None else expected or RELAY_OFF)
        return values

    def mark_sent(
        self, module: int, writes: Mapping[int, PendingWrite], session: int, sequence: int
    ) -> None:
        """Follow writes that leave in a frame, request `sequence` of `session`."""
        for output, write in writes.items():
            write.attempts += 1
            write.misses = 0
            write.session = session
            write.sequence = sequence
            self._in_flight[(module, output)] = write

    def requeue(self, batch: Batch) -> None:
        """Put unsent writes back, behind any newer write to the same output."""
        for module, writes in batch.items():
            pending = self._queued.setdefault(module, {})
            for output, write in writes.items():
                pending.setdefault(output, write)

    def judge(self, snapshot: StateSnapshot, session: int, answered: int) -> Judgement:
        """Confirm, re-queue or give up on the writes this snapshot can judge.

        `answered` is the latest request of `session` the snapshot reflects.
        Only a snapshot that answers the write's own frame or a later request
        can judge it: the installation handles requests in order.
        """
        judgement = Judgement()
        for (module, output), write in list(self._in_flight.items()):
            if write.session != session or answered < write.sequence:
                continue
            if shows(write.value, snapshot.get_value(module, output)):
                del self._in_flight[(module, output)]
                judgement.confirmed += 1
                continue
            write.misses += 1
            if write.misses < UNCONFIRMED_ANSWER_LIMIT:
                continue
            del self._in_flight[(module, output)]
            if output in self._queued.get(module, {}):
                continue
            if write.attempts < MAX_SEND_ATTEMPTS:
                write.misses = 0
                self._queued.setdefault(module, {})[output] = write
                judgement.resent += 1
            else:
                judgement.abandoned.append(AbandonedWrite(module, output, write.value))
        return judgement

    def carry_over(self, now: float) -> list[AbandonedWrite]:
        """Re-queue writes a dropped link caught, for the new session to send.

        Returns those that waited longer than the reconnect window.
        """
        for (module, output), write in list(self._in_flight.items()):
            del self._in_flight[(module, output)]
            pending = self._queued.setdefault(module, {})
            if output not in pending:
                write.attempts = 0
                write.misses = 0
                pending[output] = write
        return self.expire(now)

    def expire(self, now: float) -> list[AbandonedWrite]:
        """Drop queued writes older than the reconnect window; return them."""
        expired: list[AbandonedWrite] = []
        for module, pending in list(self._queued.items()):
            for output, write in list(pending.items()):
                if now - write.created > self._retain_seconds:
                    del pending[output]
                    expired.append(
                        AbandonedWrite(module, output, write.value, AbandonReason.OUTAGE)
                    )
            if not pending:
                del self._queued[module]
        return expired

    def discard(self, reason: AbandonReason) -> list[AbandonedWrite]:
        """Give up on every write, queued or in flight; return them to be reported."""
        discarded = [
            AbandonedWrite(module, output, write.value, reason)
            for (module, output), write in self._in_flight.items()
        ]
        discarded += [
            AbandonedWrite(module, output, write.value, reason)
            for module, pending in self._queued.items()
            for output, write in pending.items()
        ]
        self._queued.clear()
        self._in_flight.clear()
        return discarded
