"""When a client may send what, and which requests a snapshot certainly reflects.

PROTOCOL.md sections 4-5: one request is outstanding at a time, the next
poll goes out one poll interval after the previous poll's reply, a frame at
most once per command interval and only after the previous reply, and a
keep-alive fills a quiet moment. A snapshot carries no request id, a device
may leave frames unanswered or answer them late, and it may report its state
without being asked; so no snapshot is paired with a request by counting.
Instead (docs/reliability.md, "The write path: pairing replies with requests"):

- A poll is answered by the next snapshot; a keep-alive by its own reply,
  which no snapshot can be mistaken for.
- A frame is answered by a snapshot that shows every value it wrote. One
  that does not is no proof (a report from before the frame, or a press right
  after it), so the frame keeps the slot until one poll period (the poll
  interval plus twice the longest recent round trip, at most half the stale
  bound) has passed.
- A frame released that way may still be answered late, so the next request
  is a keep-alive *fence*: its reply proves the device has handled everything
  sent before it, and no late reply can then be taken for a newer answer.
- A snapshot that arrives while nothing is outstanding was not asked for,
  and so is one more than the device was asked for since the line was last
  quiet (one message answers one request). While a device reports by itself,
  a due poll is replaced by a keep-alive (its state arrives anyway, and a
  poll's answer could not be told from a report), and a frame is answered
  only once a keep-alive's round trip has passed.
- `settled` is the newest request the device has certainly handled; a
  snapshot reflects every request up to the `settled` it arrives with.

Pure bookkeeping: no I/O, not thread-safe.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

from .protocol import STALE_AFTER

monotonic: Final[Callable[[], float]] = (
    partial(time.clock_gettime, time.CLOCK_MONOTONIC)
    if hasattr(time, "clock_gettime")
    else time.monotonic
)
"""Seconds on the operating system's monotonic clock, for the link's timing.

Read through `clock_gettime` where there is one rather than `time.monotonic`,
so a test that freezes Python's clock (Home Assistant's `freezer` fixture)
freezes the integration's timers but not the pacing of a real socket.
"""

ROUND_TRIP_SAMPLES: Final = 8
"""Recent round trips kept; the longest bounds how late an answer may come."""
REPORTS_REMEMBERED_FOR: Final = 10.0
"""How long after an unasked report a device counts as one that reports by itself (ours)."""


class RequestKind(enum.Enum):
    """What a request asks for, and so which reply answers it."""

    POLL = "poll"
    FRAME = "frame"
    KEEPALIVE = "keepalive"


@dataclass(frozen=True, slots=True)
class Request:
    """A request on the wire: its place in the session's order and when it left."""

    sequence: int
    kind: RequestKind
    sent_at: float
    fence: bool = False
    """A keep-alive sent after a frame released by time, to flush its late answer."""
    quiet: bool = True
    """Sent while the device owed no answer, so a snapshot meanwhile was not asked for."""


class Pacer:
    """The request slot of one session and what its answers prove."""

    def __init__(
        self,
        poll_interval: float,
        command_interval: float,
        keepalive_interval: float,
        now: float,
        *,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self._poll_interval = poll_interval
        self._longest_hold = max(poll_interval, stale_after / 2)
        """No frame holds the slot longer: a poll must still fit before the link counts as dead."""
        self._command_interval = command_interval
        self._keepalive_interval = keepalive_interval
        self.outstanding: Request | None = None
        self.last_sequence = 0
        self.settled = 0
        """The newest request the device has certainly handled."""
        self._round_trips: deque[float] = deque(maxlen=ROUND_TRIP_SAMPLES)
        self._fence_due = False
        self._owed_after_release = False
        self._last_poll_answer = now - poll_interval
        self._last_frame = now - command_interval
        self._last_keepalive = now
        self._last_snapshot = -float("inf")
        self._last_report = -float("inf")
        self._keepalive_round_trip = 0.0
        self._snapshots = 0
        self._snapshot_requests = 0
        self.reports_seen = 0

    @property
    def release_after(self) -> float:
        """How long a frame or keep-alive keeps the slot without an answer: one poll period.

        The poll interval plus twice the longest recent round trip, so a slow
        device's answer comes in time; at most half the stale bound, so a
        device that does not answer frames after a slow spell still gets its
        polls in before the link would count as dead.
        """
        longest = max(self._round_trips, default=0.0)
        return min(self._poll_interval + 2 * longest, self._longest_hold)

    def reports_by_itself(self, now: float) -> bool:
        """Whether the device sent unasked snapshots lately."""
        return now - self._last_report < REPORTS_REMEMBERED_FOR

    def next_request(
        self, now: float, queued_since: float | None
    ) -> tuple[RequestKind | None, float]:
        """What to send now, or None and how long to wait before asking again.

        `queued_since` is when the oldest write waiting was queued (None: no
        write waits). A due poll goes before a frame, so no write load
        starves the polls, and a frame waits for a snapshot newer than its
        writes, so the other seven values it repeats include every press made
        before the write (a poll goes first when there is none).
        """
        writes_waiting = queued_since is not None
        outstanding = self.outstanding
        if outstanding is not None:
            if outstanding.kind is RequestKind.POLL:
                return None, self._poll_interval
            released_at = outstanding.sent_at + self.release_after
            if now < released_at:
                return None, released_at - now
            self._release(outstanding)
        kind = self._due(now, queued_since)
        if kind is not None:
            return kind, 0.0
        frame_due = self._last_frame + self._command_interval
        wake = min(
            self._last_poll_answer + self._poll_interval,
            self._last_keepalive + self._keepalive_interval,
            frame_due if writes_waiting else float("inf"),
        )
        return None, wake - now

    def _due(self, now: float, queued_since: float | None) -> RequestKind | None:
        """The request due now with the slot free, if any."""
        if self._fence_due:
            return RequestKind.KEEPALIVE
        reporting = self.reports_by_itself(now)
        if now >= self._last_poll_answer + self._poll_interval:
            return RequestKind.KEEPALIVE if reporting else RequestKind.POLL
        if queued_since is not None and now >= self._last_frame + self._command_interval:
            fresh = reporting or self._last_snapshot >= queued_since
            return RequestKind.FRAME if fresh else RequestKind.POLL
        if now >= self._last_keepalive + self._keepalive_interval:
            return RequestKind.KEEPALIVE
        return None

    def _release(self, request: Request) -> None:
        """Give up waiting for `request`'s answer; a late one is flushed by a fence."""
        self.outstanding = None
        if request.kind is RequestKind.FRAME:
            self._fence_due = True
            self._owed_after_release = True
        elif request.fence:
            # A device that answers no keep-alive cannot be fenced: after one
            # more poll period its late answers are taken to have come.
            self._owed_after_release = False
            self.settled = request.sequence
        if request.kind is RequestKind.KEEPALIVE:
            self._last_poll_answer = max(self._last_poll_answer, request.sent_at)

    def sent(self, kind: RequestKind, now: float) -> Request:
        """Take the slot for a request that is about to leave."""
        self.last_sequence += 1
        fence = kind is RequestKind.KEEPALIVE and self._fence_due
        request = Request(
            self.last_sequence, kind, now, fence=fence, quiet=not self._owed_after_release
        )
        self.outstanding = request
        if request.quiet:
            # Nothing is owed: count answers afresh, so an unanswered frame
            # earlier in the session cannot hide a report now.
            self._snapshots = self._snapshot_requests = 0
        if kind is not RequestKind.KEEPALIVE:
            self._snapshot_requests += 1
        if kind is RequestKind.FRAME:
            self._last_frame = now
        elif kind is RequestKind.KEEPALIVE:
            self._last_keepalive = now
            self._fence_due = False
        return request

    def snapshot_arrived(self, now: float, shows_frame: bool) -> int:
        """Account for a snapshot; the newest request it certainly reflects.

        `shows_frame` says whether it shows every value of the frame that is
        outstanding (ignored when none is). A snapshot is a report, not an
        answer, when nothing that a snapshot answers is outstanding; and the
        device reports by itself once it sent more snapshots than it was
        asked for. A poll is always answered by the next snapshot: a poll
        left waiting for an answer that already came would end the link.
        While the device reports by itself, a snapshot that shows a frame
        answers it only once a keep-alive's round trip has passed since it
        left: sooner, it is a report, and the frame's own answer is still on
        its way.
        """
        self._last_snapshot = now
        self._snapshots += 1
        if self._snapshots > self._snapshot_requests:
            # One message answers one request: a snapshot more than were asked for was not.
            self._last_report = now
        outstanding = self.outstanding
        if outstanding is None or outstanding.kind is RequestKind.KEEPALIVE:
            if outstanding is None or outstanding.quiet:
                self._report(now, outstanding)
            return self.settled
        if outstanding.kind is RequestKind.POLL:
            self._answered(outstanding, now)
            self._last_poll_answer = now
        elif shows_frame and (
            not self.reports_by_itself(now)
            or now - outstanding.sent_at >= self._keepalive_round_trip
        ):
            self._answered(outstanding, now)
        return self.settled

    def _report(self, now: float, outstanding: Request | None) -> None:
        """Note an unasked snapshot: the device handled everything sent before `outstanding`."""
        if self._owed_after_release:
            return
        self._last_report = now
        self.reports_seen += 1
        handled = self.last_sequence if outstanding is None else outstanding.sequence - 1
        self.settled = max(self.settled, handled)

    def keepalive_answered(self, now: float) -> None:
        """Free the slot for a keep-alive response: the device handled all sent before."""
        outstanding = self.outstanding
        if outstanding is not None and outstanding.kind is RequestKind.KEEPALIVE:
            self._keepalive_round_trip = now - outstanding.sent_at
            self._answered(outstanding, now)
            self._owed_after_release = False
            if self.reports_by_itself(now):
                # It stood in for a poll: the device's own reports carry the state.
                self._last_poll_answer = now

    def _answered(self, request: Request, now: float) -> None:
        self.outstanding = None
        self.settled = request.sequence
        self._round_trips.append(now - request.sent_at)
