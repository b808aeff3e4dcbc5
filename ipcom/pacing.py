"""When a client may send what, as the vendor application paces it (PROTOCOL.md sections 4-5).

One request is outstanding at a time. The next poll goes out one poll
interval after the previous reply; a frame goes out only after the previous
reply and at most once per command interval; a keep-alive fills a quiet
moment. A frame or keep-alive whose reply has not come within one poll
interval releases the slot, so a device that does not answer frames costs a
poll period, not the link; an unanswered poll keeps the slot until the link
is found stale. Pure bookkeeping: no I/O, not thread-safe.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

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


class Pacer:
    """The request slot of one session."""

    def __init__(
        self, poll_interval: float, command_interval: float, keepalive_interval: float, now: float
    ) -> None:
        self._poll_interval = poll_interval
        self._command_interval = command_interval
        self._keepalive_interval = keepalive_interval
        self.outstanding: Request | None = None
        self.last_sequence = 0
        self._unanswered: deque[int] = deque()
        self._last_answered = 0
        self._free_since = now - poll_interval
        self._last_frame = now - command_interval
        self._last_keepalive = now

    def next_request(self, now: float, writes_waiting: bool) -> tuple[RequestKind | None, float]:
        """What to send now, or None and how long to wait before asking again."""
        outstanding = self.outstanding
        if outstanding is not None:
            if outstanding.kind is RequestKind.POLL:
                return None, self._poll_interval
            released_at = outstanding.sent_at + self._poll_interval
            if now < released_at:
                return None, released_at - now
            self.outstanding = None
            self._free_since = released_at - self._poll_interval
        frame_due = self._last_frame + self._command_interval
        if writes_waiting and now >= frame_due:
            return RequestKind.FRAME, 0.0
        poll_due = self._free_since + self._poll_interval
        if now >= poll_due:
            return RequestKind.POLL, 0.0
        keepalive_due = self._last_keepalive + self._keepalive_interval
        if now >= keepalive_due:
            return RequestKind.KEEPALIVE, 0.0
        wake = min(poll_due, keepalive_due, frame_due if writes_waiting else poll_due)
        return None, wake - now

    def sent(self, kind: RequestKind, now: float) -> Request:
        """Take the slot for a request that is about to leave."""
        self.last_sequence += 1
        request = Request(self.last_sequence, kind, now)
        self.outstanding = request
        if kind is not RequestKind.KEEPALIVE:
            self._unanswered.append(request.sequence)
        if kind is RequestKind.FRAME:
            self._last_frame = now
        elif kind is RequestKind.KEEPALIVE:
            self._last_keepalive = now
        return request

    def snapshot_arrived(self, now: float) -> int:
        """Free the slot for a snapshot; the sequence of the latest request it reflects.

        A device answers every poll and frame with one snapshot, in order, so a
        snapshot answers the oldest poll or frame not answered yet, even when
        that request's slot was released by time: a slow device's late answer
        to an old request must not pass for the answer to the newest one, or a
        write would be judged on a state from before its frame. A snapshot
        that answers nothing reflects no more than the last answered request.
        """
        outstanding = self.outstanding
        if outstanding is not None and outstanding.kind is not RequestKind.KEEPALIVE:
            self.outstanding = None
            self._free_since = now
        if self._unanswered:
            self._last_answered = self._unanswered.popleft()
        return self._last_answered

    def keepalive_answered(self, now: float) -> None:
        """Free the slot for a keep-alive response."""
        if self.outstanding is not None and self.outstanding.kind is RequestKind.KEEPALIVE:
            self.outstanding = None
            self._free_since = now
