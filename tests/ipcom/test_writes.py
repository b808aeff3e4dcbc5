"""WriteTracker: the frame a write goes out in, and how snapshots judge it."""

from __future__ import annotations

from ipcom.models import StateSnapshot
from ipcom.writes import AbandonedWrite, AbandonReason, WriteTracker

EMPTY = StateSnapshot.empty()


def sent(tracker: WriteTracker, session: int = 1, sequence: int = 1) -> None:
    for module, writes in tracker.take_batch().items():
        tracker.mark_sent(module, writes, session, sequence)


def test_frame_repeats_unconfirmed_writes_and_snapshot_values() -> None:
    tracker = WriteTracker()
    snapshot = EMPTY.with_value(3, 8, 255)
    tracker.queue(3, {1: 255}, now=0.0)
    sent(tracker)
    tracker.queue(3, {2: 40}, now=0.1)
    batch = tracker.take_batch()
    assert tracker.frame_values(3, batch[3], snapshot) == [255, 40, 0, 0, 0, 0, 0, 255]


def test_newer_queued_write_replaces_older() -> None:
    tracker = WriteTracker()
    tracker.queue(1, {1: 255}, now=0.0)
    tracker.queue(1, {1: 0}, now=0.0)
    assert tracker.expected(1, 1, EMPTY.with_value(1, 1, 255)) == 0


def test_snapshot_answering_an_earlier_request_does_not_judge_it() -> None:
    tracker = WriteTracker()
    tracker.queue(2, {1: 255}, now=0.0)
    sent(tracker, sequence=5)
    for answered in range(1, 5):
        judgement = tracker.judge(EMPTY, session=1, answered=answered)
        assert judgement.confirmed == judgement.resent == 0
    assert tracker.expected(2, 1, EMPTY) == 255


def test_confirmed_by_the_reply_to_its_own_frame() -> None:
    tracker = WriteTracker()
    tracker.queue(2, {1: 255}, now=0.0)
    sent(tracker, sequence=5)
    judgement = tracker.judge(EMPTY.with_value(2, 1, 1), session=1, answered=5)
    assert judgement.confirmed == 1
    assert tracker.expected(2, 1, EMPTY) == 0


def test_any_number_of_snapshots_per_request_judges_by_the_request_answered() -> None:
    """Snapshots arrive at any time: five answers to one earlier request judge nothing."""
    tracker = WriteTracker()
    tracker.queue(2, {1: 255}, now=0.0)
    sent(tracker, sequence=3)
    for _ in range(5):
        assert tracker.judge(EMPTY, session=1, answered=2).resent == 0
    assert tracker.judge(EMPTY.with_value(2, 1, 255), session=1, answered=3).confirmed == 1


def test_discard_reports_queued_and_in_flight_writes_with_the_reason() -> None:
    tracker = WriteTracker()
    tracker.queue(2, {1: 255}, now=0.0)
    sent(tracker)
    tracker.queue(3, {4: 40}, now=0.0)
    assert tracker.discard(AbandonReason.STOPPED) == [
        AbandonedWrite(2, 1, 255, AbandonReason.STOPPED),
        AbandonedWrite(3, 4, 40, AbandonReason.STOPPED),
    ]
    assert tracker.expected(2, 1, EMPTY) == 0
    assert not tracker.has_queued


def test_resent_once_then_abandoned() -> None:
    tracker = WriteTracker()
    tracker.queue(4, {2: 255}, now=0.0)
    sent(tracker)
    resent = [tracker.judge(EMPTY, 1, answered).resent for answered in (1, 2, 3)]
    assert resent == [0, 0, 1]
    assert tracker.has_queued
    sent(tracker, sequence=4)
    judgements = [tracker.judge(EMPTY, 1, poll) for poll in (4, 5, 6)]
    assert judgements[-1].abandoned == [AbandonedWrite(4, 2, 255)]
    assert not tracker.has_queued


def test_writes_of_another_session_are_not_judged() -> None:
    tracker = WriteTracker()
    tracker.queue(4, {2: 255}, now=0.0)
    sent(tracker, session=1)
    for answered in range(1, 10):
        assert tracker.judge(EMPTY, 2, answered).abandoned == []


def test_carry_over_requeues_in_flight_and_expires_old_ones() -> None:
    tracker = WriteTracker(retain_seconds=10.0)
    tracker.queue(5, {1: 255}, now=0.0)
    tracker.queue(6, {1: 30}, now=8.0)
    sent(tracker)
    assert tracker.carry_over(now=12.0) == [AbandonedWrite(5, 1, 255, AbandonReason.OUTAGE)]
    batch = tracker.take_batch()
    assert list(batch) == [6]
    assert batch[6][1].attempts == 0


def test_requeue_keeps_newer_writes() -> None:
    tracker = WriteTracker()
    tracker.queue(7, {1: 255}, now=0.0)
    batch = tracker.take_batch()
    tracker.queue(7, {1: 0}, now=1.0)
    tracker.requeue(batch)
    assert tracker.expected(7, 1, EMPTY) == 0
