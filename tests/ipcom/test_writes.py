"""WriteTracker: what a frame repeats, what a snapshot proves, and that every write ends once."""

from __future__ import annotations

from ipcom.models import StateSnapshot
from ipcom.writes import (
    AbandonedWrite,
    AbandonReason,
    WriteAbandonedError,
    WriteHandle,
    WriteOutcome,
    WriteTracker,
)

EMPTY = StateSnapshot.empty()


def send(tracker: WriteTracker, session: int = 1, sequence: int = 1) -> list[int]:
    """Send the first queued module's writes as request `sequence`; the frame's values."""
    taken = tracker.take_module()
    assert taken is not None
    module, writes = taken
    values = tracker.frame_values(module, writes, EMPTY)
    tracker.mark_sent(module, writes, session, sequence)
    return values


def settle(tracker: WriteTracker) -> list[AbandonedWrite]:
    """Complete the finished handles as the client does; the abandoned writes reported."""
    reports = tracker.take_reports()
    for call in reports.finished:
        call.settle()
    return reports.abandoned


def outcome(handle: WriteHandle) -> WriteOutcome | AbandonReason | None:
    if not handle.done():
        return None
    try:
        return handle.result(0)
    except WriteAbandonedError as err:
        return err.reason


def test_a_frame_repeats_writes_in_flight_and_the_newest_snapshot() -> None:
    tracker = WriteTracker()
    snapshot = EMPTY.with_value(3, 8, 255)
    tracker.queue(3, {1: 255}, 0.0, snapshot)
    send(tracker)
    tracker.queue(3, {2: 40}, 0.1, snapshot)
    module, writes = tracker.take_module() or (0, {})
    assert tracker.frame_values(module, writes, snapshot) == [255, 40, 0, 0, 0, 0, 0, 255]


def test_a_press_reported_after_our_frame_left_is_never_written_back() -> None:
    """Issue 15, failure 1: the app switched 1.2 off, a person switched it back on."""
    tracker = WriteTracker()
    handle = tracker.queue(1, {2: 0}, 0.0, EMPTY.with_value(1, 2, 255))
    send(tracker, sequence=1)
    pressed = EMPTY.with_value(1, 2, 255)
    tracker.observe(pressed, session=1, settled=0)
    tracker.queue(1, {3: 255}, 1.0, pressed)
    module, writes = tracker.take_module() or (0, {})
    assert tracker.frame_values(module, writes, pressed)[1] == 255
    assert outcome(handle) is None


def test_a_write_is_confirmed_only_by_a_snapshot_that_reflects_its_frame() -> None:
    tracker = WriteTracker()
    handle = tracker.queue(2, {1: 255}, 0.0, EMPTY)
    send(tracker, sequence=5)
    tracker.observe(EMPTY.with_value(2, 1, 255), session=1, settled=4)
    settle(tracker)
    assert outcome(handle) is None
    tracker.observe(EMPTY.with_value(2, 1, 255), session=1, settled=5)
    settle(tracker)
    assert outcome(handle) is WriteOutcome.CONFIRMED
    assert tracker.confirmed == 1


def test_a_write_shown_otherwise_is_never_resent_and_ends_abandoned() -> None:
    tracker = WriteTracker()
    handle = tracker.queue(4, {2: 255}, 0.0, EMPTY)
    send(tracker, sequence=1)
    abandoned: list[AbandonedWrite] = []
    for settled in (1, 2, 3):
        tracker.observe(EMPTY, session=1, settled=settled)
        abandoned += settle(tracker)
        assert tracker.queued_since is None
    assert abandoned == [AbandonedWrite(4, 2, 255, AbandonReason.NOT_CONFIRMED)]
    assert outcome(handle) is AbandonReason.NOT_CONFIRMED


def test_a_later_write_supersedes_a_queued_one_and_one_in_flight() -> None:
    tracker = WriteTracker()
    first = tracker.queue(5, {1: 255}, 0.0, EMPTY)
    second = tracker.queue(5, {1: 0}, 0.1, EMPTY)
    settle(tracker)
    assert outcome(first) is WriteOutcome.SUPERSEDED
    send(tracker, sequence=1)
    third = tracker.queue(5, {1: 255}, 0.2, EMPTY)
    send(tracker, sequence=2)
    settle(tracker)
    assert outcome(second) is WriteOutcome.SUPERSEDED
    tracker.observe(EMPTY.with_value(5, 1, 255), session=1, settled=2)
    settle(tracker)
    assert outcome(third) is WriteOutcome.CONFIRMED
    assert (tracker.confirmed, tracker.superseded, tracker.abandoned) == (1, 2, 0)


def test_a_queued_write_gives_way_to_a_change_made_at_the_installation() -> None:
    """The press is the newer intent: the write is not sent, and it is reported."""
    tracker = WriteTracker()
    handle = tracker.queue(6, {3: 255}, 0.0, EMPTY)
    tracker.observe(EMPTY.with_value(6, 3, 255), session=1, settled=0)
    assert settle(tracker) == [AbandonedWrite(6, 3, 255, AbandonReason.CHANGED_AT_INSTALLATION)]
    assert outcome(handle) is AbandonReason.CHANGED_AT_INSTALLATION
    assert tracker.queued_since is None


def test_a_change_this_client_made_does_not_drop_its_queued_write() -> None:
    tracker = WriteTracker()
    on = tracker.queue(6, {3: 255}, 0.0, EMPTY)
    send(tracker, sequence=1)
    off = tracker.queue(6, {3: 0}, 0.1, EMPTY)
    tracker.observe(EMPTY.with_value(6, 3, 255), session=1, settled=1)
    settle(tracker)
    assert outcome(on) is WriteOutcome.CONFIRMED
    assert outcome(off) is None
    assert tracker.queued_since is not None


def test_a_write_queued_before_the_sessions_first_snapshot_takes_that_snapshot_as_its_basis() -> (
    None
):
    """A press during an outage is older than a write made after the reconnect."""
    tracker = WriteTracker()
    handle = tracker.queue(6, {3: 0}, 0.0, None)
    tracker.observe(EMPTY.with_value(6, 3, 255), session=2, settled=0)
    settle(tracker)
    assert outcome(handle) is None
    assert tracker.queued_since is not None


def test_a_write_that_left_on_a_dropped_link_is_judged_by_the_next_sessions_state() -> None:
    """Issue 15, failure 4: never re-sent, so a press during the outage stands."""
    tracker = WriteTracker()
    shown = tracker.queue(1, {1: 255}, 0.0, EMPTY)
    send(tracker, session=1, sequence=3)
    pressed_away = tracker.queue(1, {2: 255}, 0.0, EMPTY)
    send(tracker, session=1, sequence=4)
    tracker.observe(EMPTY.with_value(1, 1, 255), session=2, settled=1)
    abandoned = settle(tracker)
    assert outcome(shown) is WriteOutcome.CONFIRMED
    assert outcome(pressed_away) is AbandonReason.LINK_DROPPED
    assert abandoned == [AbandonedWrite(1, 2, 255, AbandonReason.LINK_DROPPED)]
    assert tracker.queued_since is None


def test_writes_waiting_for_a_link_expire_after_the_retain_window() -> None:
    tracker = WriteTracker(retain_seconds=10.0)
    queued = tracker.queue(5, {1: 255}, 0.0, EMPTY)
    young = tracker.queue(6, {1: 30}, 8.0, EMPTY)
    tracker.expire(12.0, session=None)
    assert settle(tracker) == [AbandonedWrite(5, 1, 255, AbandonReason.OUTAGE)]
    assert outcome(queued) is AbandonReason.OUTAGE
    assert outcome(young) is None


def test_discard_ends_every_write_once_with_the_reason() -> None:
    tracker = WriteTracker()
    in_flight = tracker.queue(2, {1: 255}, 0.0, EMPTY)
    send(tracker)
    queued = tracker.queue(3, {4: 40, 5: 50}, 0.0, EMPTY)
    tracker.discard(AbandonReason.STOPPED)
    abandoned = settle(tracker)
    assert abandoned == [
        AbandonedWrite(2, 1, 255, AbandonReason.STOPPED),
        AbandonedWrite(3, 4, 40, AbandonReason.STOPPED),
        AbandonedWrite(3, 5, 50, AbandonReason.STOPPED),
    ]
    assert outcome(in_flight) is outcome(queued) is AbandonReason.STOPPED
    assert tracker.expected(2, 1, EMPTY) == 0
    assert tracker.queued_since is None
    tracker.discard(AbandonReason.STOPPED)
    assert not settle(tracker)


def test_a_call_of_several_outputs_ends_when_the_last_one_does() -> None:
    tracker = WriteTracker()
    handle = tracker.queue(7, {1: 255, 2: 255}, 0.0, EMPTY)
    send(tracker, sequence=1)
    tracker.observe(EMPTY.with_value(7, 1, 255), session=1, settled=1)
    settle(tracker)
    assert outcome(handle) is None
    tracker.observe(EMPTY.with_value(7, 1, 255).with_value(7, 2, 255), session=1, settled=2)
    settle(tracker)
    assert outcome(handle) is WriteOutcome.CONFIRMED
    assert not tracker.take_reports()
