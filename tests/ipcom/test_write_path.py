"""The write path under every reply pattern: a press is never undone, a write always ends.

Each test reproduces one failure of issue 15 on 127.0.0.1 against the
simulator playing a device that answers late, not at all, or unasked.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from client_helpers import WAIT, make_client, wait_until as wait_for

from ipcom import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.client import IPComClient
from ipcom.simulator import ReceivedWrite, Simulator
from ipcom.writes import AbandonedWrite, AbandonReason, WriteAbandonedError, WriteOutcome


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    if not wait_for(condition, timeout):
        raise AssertionError("condition not reached in time")


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


@pytest.fixture
def started() -> Iterator[Callable[..., IPComClient]]:
    """Start clients with the given timing; every one is stopped after the test."""
    clients: list[IPComClient] = []

    def start(simulator: Simulator, **timing: float) -> IPComClient:
        client = make_client(simulator, **timing)
        client.start_persistent_connection()
        client.wait_for_snapshot(WAIT)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.stop_persistent_connection()


def latest(client: IPComClient) -> StateSnapshot:
    snapshot = client.get_latest_snapshot()
    assert snapshot is not None
    return snapshot


def frames_for(simulator: Simulator, module: int) -> list[ReceivedWrite]:
    return [write for write in simulator.writes() if write.module == module]


def test_unanswered_frames_leave_nothing_behind_and_a_press_after_our_write_stands(
    simulator: Simulator, started: Callable[..., IPComClient]
) -> None:
    """Failure 1: after 12 unanswered frames, the next frame for module 1 wrote 1.2 = 0 again."""
    simulator.set_output(1, 2, 255)
    client = started(simulator, poll_interval=0.1, command_interval=0.05)
    simulator.answer_frames = False
    for step in range(12):
        output, value = step % 8 + 1, 255 if step < 8 else 0
        client.set_value(3, output, value)
        simulator.wait_for_value(3, output, value, timeout=WAIT)
    client.turn_off(1, 2)
    simulator.wait_for_value(1, 2, 0, timeout=WAIT)
    wait_until(lambda: client.get_expected_value(1, 2) == 0 == latest(client).get_value(1, 2))
    simulator.set_output(1, 2, 255)
    seen = client.statistics.snapshots_received
    wait_until(lambda: client.statistics.snapshots_received >= seen + 5)
    assert latest(client).get_value(1, 2) == 255
    client.turn_on(1, 3)
    frame = simulator.wait_for_write(
        lambda write: write.module == 1 and write.values[2] == 255, timeout=WAIT
    )
    assert frame.values[:3] == (0, 255, 255)
    assert simulator.get_module_values(1)[:3] == (0, 255, 255)


def test_a_write_applied_just_before_a_drop_is_not_sent_again_over_a_press(
    simulator: Simulator, started: Callable[..., IPComClient]
) -> None:
    """Failure 4: 1.1 on and applied, the link drops before the reply, a press switches it off."""
    client = started(simulator, reconnect_base=0.3)
    abandoned: list[AbandonedWrite] = []
    client.on_write_abandoned(abandoned.append)

    def drop_then_press(write: ReceivedWrite) -> None:
        if write.module == 1 and not simulator.frozen:
            simulator.freeze()
            simulator.drop_connections()
            simulator.set_output(1, 1, 0)
            simulator.unfreeze()

    unsubscribe = simulator.on_write(drop_then_press)
    reconnects = client.statistics.reconnects
    handle = client.turn_on(1, 1)
    wait_until(lambda: client.statistics.reconnects > reconnects and client.connected)
    unsubscribe()
    polls = simulator.polls_received
    simulator.wait_for_polls(polls + 5, timeout=WAIT)
    assert len(frames_for(simulator, 1)) == 1
    assert simulator.get_value(1, 1) == 0
    with pytest.raises(WriteAbandonedError) as raised:
        handle.result(WAIT)
    assert raised.value.reason is AbandonReason.LINK_DROPPED
    assert abandoned == [AbandonedWrite(1, 1, 255, AbandonReason.LINK_DROPPED)]


def test_a_superseded_write_ends_as_superseded(
    simulator: Simulator, started: Callable[..., IPComClient]
) -> None:
    """Failure 5: every write ends exactly once, a replaced one as superseded."""
    client = started(simulator)
    simulator.freeze()
    ignored = simulator.ignored_messages
    simulator.wait_until(lambda sim: sim.ignored_messages > ignored, WAIT)
    first = client.turn_on(2, 4)
    second = client.turn_off(2, 4)
    third = client.turn_on(2, 4)
    simulator.unfreeze()
    assert first.result(WAIT) is WriteOutcome.SUPERSEDED
    assert second.result(WAIT) is WriteOutcome.SUPERSEDED
    assert third.result(WAIT) is WriteOutcome.CONFIRMED
    statistics = client.statistics
    assert (statistics.writes_confirmed, statistics.writes_superseded) == (1, 2)


def test_a_listener_raising_system_exit_does_not_kill_the_client(
    simulator: Simulator, started: Callable[..., IPComClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Failure 8: a listener's SystemExit ended the receive thread; the client hung."""
    client = started(simulator)

    def exit_now(snapshot: StateSnapshot) -> None:
        raise SystemExit(3)

    client.on_state_snapshot(exit_now)
    simulator.press(4, 4)
    wait_until(lambda: "Error in an ipcom listener" in caplog.text)
    assert "SystemExit" in caplog.text
    simulator.press(4, 5)
    wait_until(lambda: latest(client).is_on(4, 5))
    client.turn_on(4, 6)
    simulator.wait_for_value(4, 6, 255, timeout=WAIT)
    assert simulator.get_value(4, 5) == 255
    assert client.connected


def test_the_client_recovers_when_the_process_runs_out_of_descriptors(
    simulator: Simulator, started: Callable[..., IPComClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 8: `socket()` failing with EMFILE while reconnecting killed the receive thread."""
    client = started(simulator)
    exhausted = threading.Event()
    exhausted.set()
    real_socket = socket.socket

    def no_descriptors(*args: object, **kwargs: object) -> socket.socket:
        if exhausted.is_set():
            raise OSError(24, "Too many open files")
        return real_socket(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("ipcom.session.socket.socket", no_descriptors)
    reconnects = client.statistics.reconnects
    simulator.drop_connections()
    wait_until(lambda: "Too many open files" in (client.statistics.last_error or ""))
    exhausted.clear()
    wait_until(lambda: client.statistics.reconnects > reconnects and client.connected)
    assert all(thread.is_alive() for thread in client._threads)


def test_a_slow_listener_does_not_drop_a_healthy_link(
    simulator: Simulator, started: Callable[..., IPComClient]
) -> None:
    """Failure 9: a listener that took 6 s held the reader until the link looked dead."""
    client = started(simulator, stale_after=0.5)
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    release = threading.Event()
    entered = threading.Event()

    def slow(snapshot: StateSnapshot) -> None:
        entered.set()
        release.wait(WAIT)

    client.on_state_snapshot(slow)
    simulator.press(5, 1)
    assert entered.wait(WAIT)
    polls = simulator.polls_received
    simulator.wait_for_polls(polls + 30, timeout=WAIT)
    release.set()
    assert client.statistics.reconnects == 0
    assert events == []
    assert client.connected


def test_stop_from_a_connection_listener_keeps_the_events_in_order(
    simulator: Simulator,
) -> None:
    """Failure 10: other listeners saw `disconnected` before `connected`."""
    client = make_client(simulator)
    seen: list[ConnectionState] = []
    stopped = threading.Event()

    def stop_on_connect(event: ConnectionEvent) -> None:
        if event.state is ConnectionState.CONNECTED:
            client.stop_persistent_connection()
            stopped.set()

    client.on_connection_state(stop_on_connect)
    client.on_connection_state(lambda event: seen.append(event.state))
    client.start_persistent_connection()
    assert stopped.wait(WAIT)
    wait_until(lambda: len(seen) >= 2)
    assert seen == [ConnectionState.CONNECTED, ConnectionState.DISCONNECTED]
    wait_until(lambda: not client_threads())


def test_stop_from_an_abandon_listener_joins_the_loops_before_it_returns(
    simulator: Simulator,
) -> None:
    """Failure 10: from the request thread, stop took 2 s and left the receive thread alive."""
    client = make_client(simulator)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    alive_after_stop: list[str] = []
    done = threading.Event()

    def stop_now(write: AbandonedWrite) -> None:
        client.stop_persistent_connection()
        current = threading.current_thread()
        alive_after_stop.extend(t.name for t in client_threads() if t is not current)
        done.set()

    client.on_write_abandoned(stop_now)
    simulator.on_write(lambda write: simulator.set_output(write.module, 1, 0))
    client.turn_on(6, 1)
    assert done.wait(WAIT)
    assert alive_after_stop == []
    assert client.connection_state is ConnectionState.DISCONNECTED
    wait_until(lambda: not client_threads())


def test_a_steady_stream_of_writes_to_a_device_that_never_answers_frames_starves_nothing(
    simulator: Simulator, started: Callable[..., IPComClient]
) -> None:
    """Failure 13: polls stopped, the link was dropped, and writes raised "not connected"."""
    client = started(simulator, poll_interval=0.35, command_interval=0.25, stale_after=2.0)
    simulator.answer_frames = False
    abandoned: list[AbandonedWrite] = []
    client.on_write_abandoned(abandoned.append)
    polls = simulator.polls_received
    for step in range(30):
        client.set_value(7, 1, 255 * (step % 2))
        time.sleep(0.3)
    simulator.wait_for_value(7, 1, 255, timeout=WAIT)
    assert simulator.connections_accepted == 1
    assert client.statistics.reconnects == 0
    assert simulator.polls_received - polls >= 10
    assert abandoned == []


@pytest.mark.parametrize("knob", ["request_time", "reply_delay"])
def test_a_serial_device_never_sees_two_requests_at_once(
    simulator: Simulator, started: Callable[..., IPComClient], knob: str
) -> None:
    """Failure 3: after one late reply, every later request overlapped an unanswered one."""
    setattr(simulator, knob, 0.5)
    client = started(simulator, poll_interval=0.35, command_interval=0.25, stale_after=3.0)
    for output in (1, 2):
        client.turn_on(8, output)
        simulator.wait_for_value(8, output, 255, timeout=WAIT)
    client.set_outputs(8, {3: 255, 4: 255})
    simulator.wait_for_value(8, 4, 255, timeout=WAIT)
    simulator.wait_for_polls(simulator.polls_received + 4, timeout=WAIT)
    assert simulator.overlapping_requests == 0
    assert client.statistics.reconnects == 0


@pytest.mark.parametrize("knob", ["reply_delay", "request_time"])
def test_a_device_that_reports_unasked_on_a_slow_link_confirms_only_what_it_shows(
    simulator: Simulator, started: Callable[..., IPComClient], knob: str
) -> None:
    """Failure 2: replies 0.5 s late and a report every 150 ms; 2.1 ended off."""
    setattr(simulator, knob, 0.5)
    simulator.report_interval = 0.15
    client = started(simulator, poll_interval=0.35, command_interval=0.25, stale_after=3.0)
    abandoned: list[AbandonedWrite] = []
    client.on_write_abandoned(abandoned.append)
    handles = []
    for output in range(1, 9):
        handles.append(client.turn_on(2, output))
        time.sleep(0.4)
    wait_until(lambda: simulator.get_module_values(2) == (255,) * 8)
    for frame in frames_for(simulator, 2):
        written = sum(1 for value in frame.values if value)
        assert frame.values == (255,) * written + (0,) * (8 - written)
    assert [handle.result(WAIT) for handle in handles] == [WriteOutcome.CONFIRMED] * 8
    assert abandoned == []


def test_an_error_in_the_request_loop_is_logged_and_costs_the_session_not_the_thread(
    simulator: Simulator,
    started: Callable[..., IPComClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = started(simulator)
    choose = client._choose_request
    failed = threading.Event()

    def fail_once(session: object) -> object:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a bug in the request loop")
        return choose(session)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "_choose_request", fail_once)
    reconnects = client.statistics.reconnects
    wait_until(lambda: client.statistics.reconnects > reconnects and client.connected)
    assert "a bug in the request loop" in caplog.text
    assert "Traceback" in caplog.text
    client.turn_on(9, 8)
    simulator.wait_for_value(9, 8, 255, timeout=WAIT)


class _Escaped(BaseException):
    """Something no loop expects: it must still not end a thread in silence."""


def test_an_error_that_escapes_a_loop_ends_the_run_failed_with_an_event(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(simulator)
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    client.start_persistent_connection()
    client.wait_for_snapshot(WAIT)
    abandoned: list[AbandonedWrite] = []
    client.on_write_abandoned(abandoned.append)

    def escape(run: object) -> None:
        raise _Escaped

    simulator.freeze()
    handle = client.turn_on(9, 7)
    monkeypatch.setattr(client, "_request_step", escape)
    with pytest.raises(WriteAbandonedError):
        handle.result(WAIT)
    wait_until(lambda: bool(events) and events[-1].state is ConnectionState.DISCONNECTED)
    assert "_Escaped" in events[-1].reason
    assert abandoned == [AbandonedWrite(9, 7, 255, AbandonReason.LINK_ENDED)]
    assert "Traceback" in caplog.text
    wait_until(lambda: not any(t.is_alive() for t in client._threads))
    simulator.unfreeze()
    client.stop_persistent_connection()
    assert not client_threads()


def test_a_handle_completes_after_the_listeners_were_given_the_confirming_snapshot(
    simulator: Simulator, started: Callable[..., IPComClient]
) -> None:
    """A caller woken by its confirmed write finds its listeners already told."""
    client = started(simulator)
    seen: list[int] = []
    client.on_state_snapshot(lambda snapshot: seen.append(snapshot.get_value(3, 5)))
    when_done: list[list[int]] = []
    handle = client.turn_on(3, 5)
    handle.add_done_callback(lambda _handle: when_done.append(list(seen)))
    assert handle.result(WAIT) is WriteOutcome.CONFIRMED
    wait_until(lambda: bool(when_done))
    assert when_done[0][-1] == 255
