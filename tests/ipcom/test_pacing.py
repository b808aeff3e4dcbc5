"""Pacer and Backoff: the vendor's request pacing and a reconnect delay that holds."""

from __future__ import annotations

import pytest

from ipcom import backoff
from ipcom.backoff import Backoff
from ipcom.pacing import Pacer, RequestKind
from ipcom.protocol import (
    COMMAND_INTERVAL,
    KEEPALIVE_INTERVAL,
    POLL_INTERVAL,
    RECONNECT_BASE,
    RECONNECT_HEALTHY_AFTER,
    RECONNECT_JITTER,
    RECONNECT_MAX,
)

POLL = POLL_INTERVAL


def pacer() -> Pacer:
    return Pacer(POLL_INTERVAL, COMMAND_INTERVAL, KEEPALIVE_INTERVAL, now=0.0)


def test_one_request_outstanding_and_the_next_poll_one_period_after_the_reply() -> None:
    slot = pacer()
    assert slot.next_request(0.0, writes_waiting=False)[0] is RequestKind.POLL
    slot.sent(RequestKind.POLL, 0.0)
    assert slot.next_request(3.0, writes_waiting=True)[0] is None
    slot.snapshot_arrived(0.01)
    kind, wait = slot.next_request(0.02, writes_waiting=False)
    assert kind is None
    assert wait == pytest.approx(POLL - 0.01)
    assert slot.next_request(0.01 + POLL, writes_waiting=False)[0] is RequestKind.POLL


def test_at_most_one_frame_per_command_tick_and_only_after_the_reply() -> None:
    slot = pacer()
    assert slot.next_request(0.0, writes_waiting=True)[0] is RequestKind.FRAME
    slot.sent(RequestKind.FRAME, 0.0)
    assert slot.next_request(0.01, writes_waiting=True)[0] is None
    slot.snapshot_arrived(0.02)
    kind, wait = slot.next_request(0.03, writes_waiting=True)
    assert kind is None
    assert wait == pytest.approx(COMMAND_INTERVAL - 0.03)
    assert slot.next_request(COMMAND_INTERVAL, writes_waiting=True)[0] is RequestKind.FRAME


def test_an_unanswered_frame_releases_the_slot_after_one_poll_period() -> None:
    slot = pacer()
    slot.sent(RequestKind.FRAME, 0.0)
    assert slot.next_request(POLL - 0.01, writes_waiting=False)[0] is None
    assert slot.next_request(POLL, writes_waiting=False)[0] is RequestKind.POLL


def test_a_snapshot_answers_the_request_outstanding_whatever_it_was() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    assert slot.snapshot_arrived(0.01) == 1
    frame = slot.sent(RequestKind.FRAME, 0.3)
    assert slot.snapshot_arrived(0.31) == frame.sequence
    assert slot.snapshot_arrived(0.32) == frame.sequence
    assert slot.outstanding is None


def test_a_late_answer_to_a_released_frame_answers_that_frame_not_the_next_poll() -> None:
    """A slow device answers in order: its late reply must not confirm the poll sent after it.

    The soak (seed 6) found frames judged on a state from before them, re-sent,
    and applied after a wall-switch press, undoing it.
    """
    slot = pacer()
    frame = slot.sent(RequestKind.FRAME, 0.0)
    assert slot.next_request(POLL, writes_waiting=False)[0] is RequestKind.POLL
    poll = slot.sent(RequestKind.POLL, POLL)
    assert slot.snapshot_arrived(POLL + 0.1) == frame.sequence
    assert slot.snapshot_arrived(POLL + 0.2) == poll.sequence
    slot.sent(RequestKind.KEEPALIVE, 1.0)
    slot.keepalive_answered(1.01)
    assert slot.snapshot_arrived(1.1) == poll.sequence


def test_a_keepalive_fills_a_quiet_moment_and_never_overlaps_a_poll() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    assert slot.next_request(KEEPALIVE_INTERVAL + 1, writes_waiting=False)[0] is None
    slot.snapshot_arrived(KEEPALIVE_INTERVAL + 1)
    assert slot.next_request(KEEPALIVE_INTERVAL + 1.01, writes_waiting=False)[0] is (
        RequestKind.KEEPALIVE
    )


def attempts_within(window: float, monkeypatch: pytest.MonkeyPatch, spread: float) -> int:
    """Connection attempts in `window` s when every session ends at once, jitter at `spread`."""
    monkeypatch.setattr(backoff.random, "uniform", lambda low, high: spread)
    delays = Backoff(RECONNECT_BASE, RECONNECT_MAX, RECONNECT_HEALTHY_AFTER, RECONNECT_JITTER)
    attempts, clock = 1, 0.0
    while True:
        delays.session_ended(healthy_for=0.0)
        clock += delays.next_delay()
        if clock > window:
            return attempts
        attempts += 1


@pytest.mark.parametrize("spread", [1 - RECONNECT_JITTER, 1.0, 1 + RECONNECT_JITTER])
def test_sessions_that_end_at_once_get_at_most_eight_attempts_in_twelve_seconds(
    monkeypatch: pytest.MonkeyPatch, spread: float
) -> None:
    assert attempts_within(12.0, monkeypatch, spread) <= 8


def test_the_backoff_starts_over_only_after_a_healthy_session() -> None:
    delays = Backoff(1.0, 30.0, healthy_after=5.0, jitter=0.0)
    assert delays.next_delay() == 1.0
    assert delays.next_delay() == 2.0
    delays.session_ended(healthy_for=4.9)
    assert delays.next_delay() == 4.0
    delays.session_ended(healthy_for=5.0)
    assert delays.next_delay() == 0.0
    assert delays.next_delay() == 1.0
