"""The press audit's account of the client's own delay in races and late writes.

Synthetic events, as the soak feeds them from the workload and the simulator:
a press of 2.1 (off to on) between t=10 and t=10.1, then snapshots and frames.
"""

from __future__ import annotations

import pytest

from ipcom.simulator import ReceivedWrite, SentSnapshot
from tools.soak_presses import Attribution, PressAudit, SwitchedBack, delay_summary


def snapshot_at(taken: float, sent: float, connection: int = 1) -> SentSnapshot:
    return SentSnapshot(taken_at=taken, sent_at=sent, connection=connection)


def frame_at(received: float, *, connection: int = 1, arrival_known: bool = True) -> ReceivedWrite:
    """A frame that switches module 2 all off, output 1 included."""
    return ReceivedWrite(
        2,
        (0,) * 8,
        0.0,
        connection=connection,
        received_at=received,
        applied_at=received,
        arrival_known=arrival_known,
    )


@pytest.fixture
def audit() -> PressAudit:
    presses = PressAudit(frozenset(), grace=0.35)
    presses.snapshot_sent(snapshot_at(5.0, 5.0))
    presses.pressed(2, 1, 255, before=10.0, after=10.1)
    return presses


def test_a_race_after_a_snapshot_showing_the_press_is_the_clients_own_delay(
    audit: PressAudit,
) -> None:
    audit.snapshot_sent(snapshot_at(10.2, 10.5))
    audit.snapshot_sent(snapshot_at(10.6, 10.7))
    audit.frame_applied(frame_at(10.75))

    (race,) = audit.races
    assert (race.module, race.output, race.connection) == (2, 1, 1)
    assert race.attribution is Attribution.OWN
    assert race.own_delay == pytest.approx(0.25)
    assert (audit.raced, audit.undone) == (1, [])


def test_a_race_with_no_snapshot_showing_the_press_was_forced(audit: PressAudit) -> None:
    """Snapshots taken before the press, or sent after the frame, show nothing the client had."""
    audit.snapshot_sent(snapshot_at(10.05, 10.2))
    audit.frame_applied(frame_at(10.4))
    audit.snapshot_sent(snapshot_at(10.3, 10.5))

    (race,) = audit.races
    assert (race.attribution, race.own_delay) == (Attribution.FORCED, None)


def test_another_connections_snapshot_is_not_what_the_frame_knew(audit: PressAudit) -> None:
    audit.snapshot_sent(snapshot_at(5.5, 5.5, connection=2))
    audit.snapshot_sent(snapshot_at(10.2, 10.2, connection=1))
    audit.frame_applied(frame_at(10.3, connection=2))

    (race,) = audit.races
    assert (race.connection, race.attribution) == (2, Attribution.FORCED)


def test_a_race_whose_frame_queued_in_the_device_has_an_unknown_delay(audit: PressAudit) -> None:
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.frame_applied(frame_at(11.0, arrival_known=False))

    (race,) = audit.races
    assert (race.attribution, race.own_delay) == (Attribution.UNKNOWN_ARRIVAL, None)


def test_a_queued_frame_with_no_snapshot_showing_the_press_was_still_forced(
    audit: PressAudit,
) -> None:
    audit.frame_applied(frame_at(11.0, arrival_known=False))

    (race,) = audit.races
    assert race.attribution is Attribution.FORCED


def test_a_late_write_counts_from_the_first_snapshot_showing_the_press() -> None:
    audit = PressAudit(frozenset(), grace=0.35)
    audit.snapshot_sent(snapshot_at(5.0, 5.0))
    audit.written(2, {1: 0}, attempted_at=9.0)
    audit.pressed(2, 1, 255, before=10.0, after=10.1)
    audit.snapshot_sent(snapshot_at(10.2, 10.3))
    audit.snapshot_sent(snapshot_at(10.6, 10.7))
    audit.frame_applied(frame_at(12.3))

    (late,) = audit.late
    assert late.attribution is Attribution.OWN
    assert late.own_delay == pytest.approx(2.0)
    assert (audit.late_writes, audit.raced, audit.undone) == (1, 0, [])


def test_a_late_write_before_any_snapshot_showing_the_press_was_forced() -> None:
    audit = PressAudit(frozenset(), grace=0.35)
    audit.snapshot_sent(snapshot_at(5.0, 5.0))
    audit.written(2, {1: 0}, attempted_at=9.0)
    audit.pressed(2, 1, 255, before=10.0, after=10.1)
    audit.frame_applied(frame_at(10.2))

    (late,) = audit.late
    assert (late.attribution, late.own_delay) == (Attribution.FORCED, None)


def case(attribution: Attribution, own_delay: float | None = None) -> SwitchedBack:
    return SwitchedBack(1, 1, 1, attribution, own_delay)


def test_the_summary_counts_the_cases_and_ranks_the_own_delays() -> None:
    cases = [case(Attribution.OWN, delay / 100) for delay in range(1, 21)]
    cases += [case(Attribution.FORCED)] * 3 + [case(Attribution.UNKNOWN_ARRIVAL)]

    assert delay_summary(cases) == ("n=24 forced=3 unknown_arrival=1 p50=0.10s p95=0.19s max=0.20s")


def test_the_summary_of_one_case_and_of_none() -> None:
    assert delay_summary([case(Attribution.OWN, 0.3)]) == (
        "n=1 forced=0 unknown_arrival=0 p50=0.30s p95=0.30s max=0.30s"
    )
    assert delay_summary([case(Attribution.FORCED)]) == (
        "n=1 forced=1 unknown_arrival=0 p50=- p95=- max=-"
    )
    assert delay_summary([]) == "n=0 forced=0 unknown_arrival=0 p50=- p95=- max=-"
