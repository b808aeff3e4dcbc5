"""The soak's bookkeeping, and proof that its audit catches a write lost in silence."""

from __future__ import annotations

import re

import pytest

from ipcom import soak
from ipcom.models import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.writes import WriteTracker

SUMMARY = re.compile(
    r"soak: seconds=\d+ writes=\d+ abandoned=\d+ lost_writes=\d+ stale_snapshot=[01] "
    r"reconnects=\d+ longest_outage_s=\d+\.\d leaked_threads=\d+ rss_growth_kb=-?\d+ "
    r"errors_logged=\d+"
)


def state(**values: int) -> StateSnapshot:
    """A snapshot with outputs given as `m<module>_<output>=value`."""
    snapshot = StateSnapshot.empty()
    for name, value in values.items():
        module, output = (int(part) for part in name[1:].split("_"))
        snapshot = snapshot.with_value(module, output, value)
    return snapshot


def test_ledger_checks_the_last_accepted_write() -> None:
    ledger = soak.Ledger()
    ledger.accepted(1, {1: 255})
    ledger.accepted(1, {1: 0, 2: 255})

    lost, checked, excused = ledger.audit(state(m1_2=255))
    assert (lost, checked, excused) == ([], 2, 0)

    lost, _, _ = ledger.audit(state(m1_1=255, m1_2=255))
    assert lost == [soak.LostWrite(1, 1, written=0, actual=255)]


def test_ledger_a_later_press_supersedes_a_write_but_an_earlier_one_does_not() -> None:
    ledger = soak.Ledger()
    ledger.accepted(2, {3: 255})
    ledger.pressed(2, 3)
    ledger.pressed(2, 4)
    ledger.accepted(2, {4: 255})

    lost, checked, excused = ledger.audit(state())

    assert lost == [soak.LostWrite(2, 4, written=255, actual=0)]
    assert (checked, excused) == (1, 1)


def test_ledger_a_report_covers_only_writes_accepted_before_it() -> None:
    ledger = soak.Ledger()
    ledger.accepted(6, {1: 40})
    ledger.abandoned(6, 1, 40)
    ledger.accepted(6, {2: 50})
    ledger.abandoned(6, 2, 51)
    ledger.abandoned(6, 3, 60)
    ledger.accepted(6, {3: 60})

    lost, checked, excused = ledger.audit(state())

    assert [(loss.output, loss.written) for loss in lost] == [(2, 50), (3, 60)]
    assert (checked, excused) == (2, 1)
    assert ledger.abandon_reports == 3


def test_outage_meter_counts_outages_and_keeps_the_longest() -> None:
    meter = soak.OutageMeter()
    meter(ConnectionEvent(ConnectionState.CONNECTED, "connected"))
    assert (meter.outages, meter.longest()) == (0, 0.0)

    meter(ConnectionEvent(ConnectionState.RECONNECTING, "lost"))
    meter(ConnectionEvent(ConnectionState.DISCONNECTED, "gave up"))
    meter(ConnectionEvent(ConnectionState.CONNECTED, "reconnected"))

    assert meter.outages == 1
    assert meter.longest() > 0.0


def test_a_short_soak_passes_and_prints_the_summary_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = soak.main(["--seconds", "4", "--seed", "7"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0, "\n".join(lines)
    assert lines[0].startswith("soak: seed=7 seconds=4 ")
    assert "soak: replay with: scripts/soak --seconds 4 --seed 7" in lines
    assert SUMMARY.fullmatch(lines[-1]), lines[-1]
    assert " lost_writes=0 stale_snapshot=0 " in lines[-1]
    assert " leaked_threads=0 " in lines[-1]


def test_the_audit_catches_writes_lost_in_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that accepts writes and quietly forgets them must fail the soak."""
    monkeypatch.setattr(WriteTracker, "queue", lambda *_args: None)

    report = soak.run_soak(4, seed=7)

    assert report.writes > 0
    assert report.lost
    assert any("lost in silence" in failure for failure in report.failures)
    assert f"lost_writes={len(report.lost)} " in report.summary()
