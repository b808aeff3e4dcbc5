"""Pacer and Backoff: the vendor's request pacing and a reconnect delay that holds."""

from __future__ import annotations

import pytest

from ipcom import backoff
from ipcom.backoff import Backoff
from ipcom.pacing import REPORTS_REMEMBERED_FOR, Pacer, RequestKind
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
    assert slot.next_request(0.0, queued_since=None)[0] is RequestKind.POLL
    slot.sent(RequestKind.POLL, 0.0)
    assert slot.next_request(3.0, queued_since=0.0)[0] is None
    slot.snapshot_arrived(0.01, shows_frame=False)
    kind, wait = slot.next_request(0.02, queued_since=None)
    assert kind is None
    assert wait == pytest.approx(POLL - 0.01)
    assert slot.next_request(0.01 + POLL, queued_since=None)[0] is RequestKind.POLL


def test_a_frame_goes_right_after_a_fresh_snapshot_and_at_most_once_per_tick() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.01, shows_frame=False)
    assert slot.next_request(0.02, queued_since=0.0)[0] is RequestKind.FRAME
    slot.sent(RequestKind.FRAME, 0.02)
    assert slot.next_request(0.03, queued_since=0.0)[0] is None
    slot.snapshot_arrived(0.04, shows_frame=True)
    kind, wait = slot.next_request(0.05, queued_since=0.0)
    assert kind is None
    assert wait == pytest.approx(0.02 + COMMAND_INTERVAL - 0.05)


def test_a_write_queued_after_the_newest_snapshot_polls_first() -> None:
    """The frame repeats seven other outputs: a press made before the write must be in them."""
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.01, shows_frame=False)
    assert slot.next_request(0.02, queued_since=0.015)[0] is RequestKind.POLL
    slot.sent(RequestKind.POLL, 0.02)
    slot.snapshot_arrived(0.03, shows_frame=False)
    assert slot.next_request(0.03, queued_since=0.015)[0] is RequestKind.FRAME


def test_a_due_poll_goes_before_a_frame_so_writes_never_starve_the_polls() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.01, shows_frame=False)
    assert slot.next_request(0.01 + POLL, queued_since=0.0)[0] is RequestKind.POLL


def test_a_snapshot_that_does_not_show_the_frame_does_not_answer_it() -> None:
    """A report from before the frame, or a press right after it: no proof either way."""
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    poll = slot.snapshot_arrived(0.01, shows_frame=False)
    frame = slot.sent(RequestKind.FRAME, 0.02)
    assert slot.snapshot_arrived(0.03, shows_frame=False) == poll
    assert slot.outstanding is frame
    assert slot.snapshot_arrived(0.04, shows_frame=True) == frame.sequence
    assert slot.outstanding is None


def test_an_unanswered_frame_costs_one_poll_period_then_a_fence_flushes_a_late_answer() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.01, shows_frame=False)
    frame = slot.sent(RequestKind.FRAME, 0.02)
    release = 0.02 + slot.release_after
    assert slot.next_request(release - 0.001, queued_since=0.0)[0] is None
    assert slot.next_request(release, queued_since=0.0)[0] is RequestKind.KEEPALIVE
    fence = slot.sent(RequestKind.KEEPALIVE, release)
    assert fence.fence
    # The frame's late answer arrives during the fence: it answers nothing new.
    assert slot.snapshot_arrived(release + 0.1, shows_frame=False) < frame.sequence
    assert slot.next_request(release + 0.2, queued_since=0.0)[0] is None
    slot.keepalive_answered(release + 0.3)
    assert slot.settled == fence.sequence
    assert slot.reports_seen == 0
    assert slot.next_request(release + 0.3, queued_since=0.0)[0] is RequestKind.POLL


def test_the_release_bound_grows_with_the_devices_round_trip() -> None:
    """A device that needs 0.5 s per request keeps its frame's slot: no second request overlaps."""
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.5, shows_frame=False)
    assert slot.release_after == pytest.approx(POLL + 1.0)
    slot.sent(RequestKind.FRAME, 0.5)
    assert slot.next_request(1.0, queued_since=0.0)[0] is None
    assert slot.snapshot_arrived(1.0, shows_frame=True) == 2


def test_no_frame_holds_the_slot_past_half_the_stale_bound() -> None:
    """After a slow spell, a device that does not answer frames must still get its polls in."""
    slot = Pacer(POLL_INTERVAL, COMMAND_INTERVAL, KEEPALIVE_INTERVAL, now=0.0, stale_after=3.0)
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(1.7, shows_frame=False)
    assert slot.release_after == 1.5


def test_a_snapshot_while_nothing_is_outstanding_was_not_asked_for() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.01, shows_frame=False)
    assert not slot.reports_by_itself(0.1)
    assert slot.snapshot_arrived(0.1, shows_frame=False) == 1
    assert slot.reports_seen == 1
    assert slot.reports_by_itself(0.2)
    # A device that reports by itself gets keep-alives instead of polls: a poll's
    # answer could not be told from a report, a keep-alive's can.
    assert slot.next_request(0.01 + POLL, queued_since=None)[0] is RequestKind.KEEPALIVE
    keepalive = slot.sent(RequestKind.KEEPALIVE, 0.01 + POLL)
    assert slot.snapshot_arrived(0.4, shows_frame=False) == keepalive.sequence - 1
    slot.keepalive_answered(0.41)
    assert slot.next_request(0.42, queued_since=0.0)[0] is RequestKind.FRAME
    assert not slot.reports_by_itself(0.4 + REPORTS_REMEMBERED_FOR)


def test_more_snapshots_than_requests_means_the_device_reports_by_itself() -> None:
    """Each request gets one answer at most, so a surplus snapshot was not asked for."""
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.2, shows_frame=False)
    slot.sent(RequestKind.FRAME, 0.2)
    slot.snapshot_arrived(0.3, shows_frame=False)
    assert not slot.reports_by_itself(0.3)
    slot.snapshot_arrived(0.4, shows_frame=True)
    assert slot.reports_by_itself(0.4)


def test_while_the_device_reports_a_frame_is_answered_after_a_keepalive_round_trip() -> None:
    """A report that already shows the frame must not pass for its answer, still on its way."""
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    slot.snapshot_arrived(0.01, shows_frame=False)
    slot.snapshot_arrived(0.1, shows_frame=False)
    assert slot.next_request(0.01 + POLL, queued_since=None)[0] is RequestKind.KEEPALIVE
    slot.sent(RequestKind.KEEPALIVE, 0.4)
    slot.keepalive_answered(0.9)
    frame = slot.sent(RequestKind.FRAME, 1.0)
    slot.snapshot_arrived(1.2, shows_frame=True)
    assert slot.outstanding is frame
    assert slot.snapshot_arrived(1.5, shows_frame=True) == frame.sequence
    assert slot.outstanding is None


def test_a_keepalive_fills_a_quiet_moment_and_never_overlaps_a_poll() -> None:
    slot = pacer()
    slot.sent(RequestKind.POLL, 0.0)
    assert slot.next_request(KEEPALIVE_INTERVAL + 1, queued_since=None)[0] is None
    slot.snapshot_arrived(KEEPALIVE_INTERVAL + 1, shows_frame=False)
    assert slot.next_request(KEEPALIVE_INTERVAL + 1.01, queued_since=None)[0] is (
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
