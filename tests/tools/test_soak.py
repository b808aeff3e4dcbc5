"""The soak's bookkeeping, and proof that its audit catches a write lost in silence."""

from __future__ import annotations

import random
import re
import socket
import time

import pytest

from ipcom import cipher, messages
from ipcom.models import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.protocol import CONNECT_RESPONSE_LENGTH, SNAPSHOT_LENGTH
from ipcom.simulator import ReceivedWrite, SentSnapshot, Simulator
from ipcom.writes import (
    AbandonedWrite,
    AbandonReason,
    WriteAbandonedError,
    WriteHandle,
    WriteOutcome,
    WriteTracker,
)
from tools import soak
from tools.soak_presses import PressAudit

SUMMARY = re.compile(
    r"soak: seconds=\d+ writes=\d+ abandoned=\d+ lost_writes=\d+ undone_presses=\d+ "
    r"stale_snapshot=[01] "
    r"reconnects=\d+ longest_outage_s=\d+\.\d leaked_threads=\d+ rss_growth_kb=-?\d+ "
    r"errors_logged=\d+"
)


OWN_DELAY = re.compile(
    r"soak: (races|late_writes) own_delay: n=\d+ forced=\d+ unknown_arrival=\d+ "
    r"p50=(-|\d+\.\d\ds) p95=(-|\d+\.\d\ds) max=(-|\d+\.\d\ds)"
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
    assert " lost_writes=0 undone_presses=0 stale_snapshot=0 " in lines[-1]
    assert " leaked_threads=0 " in lines[-1]
    for kind in ("races", "late_writes"):
        assert any(OWN_DELAY.fullmatch(line) for line in lines if f" {kind} " in line), kind
    (handles,) = (line for line in lines if line.startswith("soak: write handles: "))
    assert handles.startswith("soak: write handles: ended_once=yes "), handles
    assert handles.endswith(" unfinished=0 ended_wrongly=0"), handles


def test_the_audit_catches_writes_lost_in_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that accepts writes and quietly forgets them must fail the soak.

    Its handles never end either, and the soak says so.
    """
    monkeypatch.setattr(WriteTracker, "queue", lambda *_args: WriteHandle())

    report = soak.run_soak(4, seed=7)

    assert report.writes > 0
    assert report.lost
    assert any("lost in silence" in failure for failure in report.failures)
    assert f"lost_writes={len(report.lost)} " in report.summary()
    assert report.handles_unfinished == report.writes
    assert f"{report.writes} write handle(s) never ended" in report.failures


# Write handles


def ended(outcome: WriteOutcome | BaseException) -> WriteHandle:
    handle = WriteHandle()
    handle.set_running_or_notify_cancel()
    if isinstance(outcome, BaseException):
        handle.set_exception(outcome)
    else:
        handle.set_result(outcome)
    return handle


def test_the_handle_audit_counts_how_each_handle_ended() -> None:
    audit = soak.HandleAudit()
    stopped = WriteAbandonedError(AbandonedWrite(1, 1, 255, AbandonReason.STOPPED))
    outage = WriteAbandonedError(AbandonedWrite(1, 2, 0, AbandonReason.OUTAGE))
    open_handle = WriteHandle()
    for handle in (
        ended(WriteOutcome.CONFIRMED),
        ended(WriteOutcome.CONFIRMED),
        ended(WriteOutcome.SUPERSEDED),
        ended(stopped),
        ended(outage),
        ended(outage),
        open_handle,
    ):
        audit.track(handle)

    assert (audit.confirmed, audit.superseded, audit.unfinished) == (2, 1, 1)
    assert audit.abandoned == {"stopped": 1, "outage": 2}
    assert audit.wrong == []

    open_handle.set_running_or_notify_cancel()
    open_handle.set_result(WriteOutcome.CONFIRMED)
    assert (audit.confirmed, audit.unfinished) == (3, 0)


def test_a_handle_that_ends_otherwise_is_wrong() -> None:
    audit = soak.HandleAudit()
    cancelled = WriteHandle()
    cancelled.cancel()
    audit.track(cancelled)
    audit.track(ended(RuntimeError("boom")))

    assert audit.wrong == ["cancelled", "failed with RuntimeError: boom"]
    assert (audit.confirmed, audit.superseded, audit.unfinished) == (0, 0, 0)


# Faults


def test_the_first_faults_are_one_of_every_kind_and_all_end(simulator: Simulator) -> None:
    faults = soak.FaultInjector(simulator, random.Random("faults-6"))
    for _ in soak.FAULT_WEIGHTS:
        faults.inject(time.monotonic())

    assert faults.injected == dict.fromkeys(soak.FAULT_WEIGHTS, 1)
    assert simulator.report_interval is not None
    assert simulator.request_time > 0
    assert simulator.drop_after_frames == 1

    faults.end_all()

    assert simulator.running
    assert (simulator.report_interval, simulator.request_time) == (None, 0.0)
    assert (simulator.drop_after_frames, simulator.answer_frames) == (0, True)
    assert not simulator.frozen


# Wall-switch presses


def snapshot_at(taken: float, sent: float, connection: int = 1) -> SentSnapshot:
    return SentSnapshot(taken_at=taken, sent_at=sent, connection=connection)


def frame_at(
    received: float, module: int = 2, values: tuple[int, ...] = (0,) * 8, connection: int = 1
) -> ReceivedWrite:
    return ReceivedWrite(
        module, values, 0.0, connection=connection, received_at=received, applied_at=received
    )


@pytest.fixture
def audit() -> PressAudit:
    """An audit whose press of 2.1 (off to on) happened between t=10 and t=10.1."""
    presses = PressAudit(frozenset({6}), grace=0.35)
    presses.snapshot_sent(snapshot_at(5.0, 5.0))
    presses.pressed(2, 1, 255, before=10.0, after=10.1)
    return presses


def test_a_frame_after_a_snapshot_showing_the_press_undoes_it(audit: PressAudit) -> None:
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.frame_applied(frame_at(11.0))

    (undone,) = audit.undone
    assert (undone.module, undone.output, undone.pressed, undone.frame_value) == (2, 1, 255, 0)
    assert "sent 0.80 s before the frame" in undone.reason
    audit.frame_applied(frame_at(12.0))
    assert len(audit.undone) == 1


def test_a_frame_before_any_snapshot_of_its_connection_undoes_a_press(audit: PressAudit) -> None:
    audit.frame_applied(frame_at(11.0, connection=2))

    (undone,) = audit.undone
    assert undone.connection == 2
    assert "before any snapshot of its connection" in undone.reason


def test_a_frame_the_client_built_before_it_could_know_is_a_race(audit: PressAudit) -> None:
    audit.snapshot_sent(snapshot_at(10.2, 10.7))
    audit.frame_applied(frame_at(10.8))

    assert (audit.undone, audit.raced) == ([], 1)


def test_a_frame_that_queued_while_the_device_slept_is_a_race(audit: PressAudit) -> None:
    """Its read time is not when the client sent it (seed 6: a reply delay of 1.5 s)."""
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    frame = frame_at(11.0)
    audit.frame_applied(
        ReceivedWrite(
            frame.module,
            frame.values,
            0.0,
            connection=frame.connection,
            received_at=frame.received_at,
            applied_at=frame.applied_at,
            arrival_known=False,
        )
    )

    assert (audit.undone, audit.raced) == ([], 1)


def test_frames_that_agree_with_the_press_or_came_before_it_are_fine(audit: PressAudit) -> None:
    audit.frame_applied(frame_at(10.05))
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.frame_applied(frame_at(11.0, values=(255,) + (0,) * 7))
    audit.frame_applied(frame_at(11.5, module=3))

    assert (audit.undone, audit.raced, audit.late_writes) == ([], 0, 0)


def test_a_later_write_overrides_the_press(audit: PressAudit) -> None:
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.written(2, {1: 0}, attempted_at=10.5)
    audit.frame_applied(frame_at(11.0))

    assert audit.undone == []


def test_an_earlier_write_that_goes_out_late_is_not_an_undo() -> None:
    audit = PressAudit(frozenset(), grace=0.35)
    audit.snapshot_sent(snapshot_at(5.0, 5.0))
    audit.written(2, {1: 0}, attempted_at=9.0)
    audit.pressed(2, 1, 255, before=10.0, after=10.1)
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.frame_applied(frame_at(11.0))

    assert (audit.undone, audit.late_writes) == ([], 1)


def test_an_earlier_write_the_client_saw_confirmed_does_not_excuse_a_stale_frame() -> None:
    """The bug of a stale view: the write took effect and showed, then the press, then a frame."""
    audit = PressAudit(frozenset(), grace=0.35)
    audit.snapshot_sent(snapshot_at(5.0, 5.0))
    audit.written(2, {1: 0}, attempted_at=8.0)
    audit.frame_applied(frame_at(8.1))
    audit.snapshot_sent(snapshot_at(8.2, 8.2))
    audit.pressed(2, 1, 255, before=10.0, after=10.1)
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.frame_applied(frame_at(11.0))

    assert len(audit.undone) == 1


def test_a_dimmer_is_judged_on_the_value_it_holds() -> None:
    audit = PressAudit(frozenset({6}), grace=0.35)
    audit.snapshot_sent(snapshot_at(5.0, 5.0))
    audit.pressed(6, 1, 100, before=10.0, after=10.1)
    audit.snapshot_sent(snapshot_at(10.2, 10.2))
    audit.frame_applied(frame_at(11.0, module=6, values=(255,) + (0,) * 7))

    assert audit.undone == []


def test_the_audit_catches_a_stale_frame_on_the_simulator(simulator: Simulator) -> None:
    """Wired to a real simulator: a frame sent after a snapshot that showed the press."""
    audit = PressAudit(simulator.dimmer_modules, grace=0.0)
    simulator.on_write(audit.frame_applied)
    simulator.on_snapshot(audit.snapshot_sent)
    before = time.monotonic()
    value = simulator.press(2, 1)
    audit.pressed(2, 1, value, before, time.monotonic())
    with socket.create_connection((simulator.host, simulator.port), timeout=10) as sock:
        sock.sendall(
            cipher.encrypt(
                messages.encode_connect_request("demo", "demo"), cipher.single_key_masks()
            )
        )
        response = receive(sock, CONNECT_RESPONSE_LENGTH)
        masks = cipher.dual_key_masks(
            messages.decode_connect_response(response, cipher.single_key_masks()).public_key
        )
        sock.sendall(cipher.encrypt(messages.encode_status_request(), masks))
        assert cipher.decrypt(receive(sock, SNAPSHOT_LENGTH), masks)[2 + 8] == 255
        sock.sendall(cipher.encrypt(messages.encode_set_outputs(2, (0,) * 8), masks))
        receive(sock, SNAPSHOT_LENGTH)

    (undone,) = audit.undone
    assert (undone.module, undone.output, undone.pressed, undone.frame_value) == (2, 1, 255, 0)


def receive(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk
        data += chunk
    return data
