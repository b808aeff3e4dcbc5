"""IPComClient against the simulator over real sockets on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest
from client_helpers import WAIT, make_client, wait_until as wait_for

from ipcom import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.client import IPComClient
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.simulator import Simulator
from ipcom.writes import AbandonedWrite, AbandonReason, WriteAbandonedError, WriteOutcome


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    if not wait_for(condition, timeout):
        raise AssertionError("condition not reached in time")


def latest(client: IPComClient) -> StateSnapshot:
    snapshot = client.get_latest_snapshot()
    assert snapshot is not None
    return snapshot


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


def test_handshake_and_first_snapshot(simulator: Simulator) -> None:
    simulator.set_output(3, 2, 255)
    connection = make_client(simulator)
    connection.start_persistent_connection()
    try:
        snapshot = connection.wait_for_snapshot(WAIT)
        assert connection.connected
        assert connection.connection_state is ConnectionState.CONNECTED
        assert snapshot.get_value(3, 2) == 255
        assert snapshot.is_on(3, 2)
        assert not snapshot.is_on(3, 1)
        names = sorted(thread.name.split("-")[2] for thread in client_threads())
        assert names == ["receive", "requests"]
    finally:
        connection.stop_persistent_connection()
    assert simulator.auth_failures == 0


def test_wrong_password_is_an_authentication_error_without_retries(
    simulator: Simulator,
) -> None:
    connection = IPComClient(simulator.host, simulator.port, "demo", "wrong", reconnect_base=0.01)
    with pytest.raises(IPComAuthenticationError):
        connection.start_persistent_connection()
    time.sleep(0.3)
    assert simulator.auth_failures == 1
    assert not client_threads()
    assert not connection.connected


def test_unreachable_host_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    connection = IPComClient("127.0.0.1", free_port, "demo", "demo")
    with pytest.raises(IPComConnectionError, match=f"127.0.0.1:{free_port}"):
        connection.start_persistent_connection()
    assert not client_threads()


def test_silent_device_during_handshake_times_out() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        connection = IPComClient(
            "127.0.0.1", server.getsockname()[1], "demo", "demo", socket_timeout=0.3
        )
        with pytest.raises(IPComConnectionError, match="no answer to the connect request"):
            connection.start_persistent_connection()


@pytest.mark.parametrize(
    ("username", "password"), [("u" * 22, "demo"), ("demo", "p" * 23), ("demo", "pässword")]
)
def test_credentials_outside_protocol_limits_rejected_before_sending(
    simulator: Simulator, username: str, password: str
) -> None:
    connection = IPComClient(simulator.host, simulator.port, username, password)
    with pytest.raises(ValueError, match=r"username|password"):
        connection.start_persistent_connection()
    assert simulator.connections_accepted == 0


def test_polls_keep_arriving(simulator: Simulator, client: IPComClient) -> None:
    simulator.wait_for_polls(20, timeout=WAIT)
    assert client.statistics.snapshots_received >= 20
    assert client.statistics.polls_sent >= 20


def test_keepalive_is_sent(simulator: Simulator, client: IPComClient) -> None:
    wait_until(lambda: simulator.keepalives_received >= 1)


def test_snapshot_listener_only_on_change(simulator: Simulator, client: IPComClient) -> None:
    received: list[StateSnapshot] = []
    changed = threading.Event()

    def listener(snapshot: StateSnapshot) -> None:
        received.append(snapshot)
        changed.set()

    unsubscribe = client.on_state_snapshot(listener)
    simulator.wait_for_polls(10, timeout=WAIT)
    assert received == []
    simulator.press(1, 1)
    assert changed.wait(WAIT)
    assert received[-1].is_on(1, 1)
    unsubscribe()
    simulator.press(1, 1)
    wait_until(lambda: not latest(client).is_on(1, 1))
    assert len(received) == 1


def test_write_keeps_the_other_outputs_of_the_module(
    simulator: Simulator, client: IPComClient
) -> None:
    simulator.set_output(2, 1, 255)
    simulator.set_output(2, 8, 255)
    wait_until(lambda: latest(client).is_on(2, 8))
    client.turn_on(2, 4)
    simulator.wait_for_value(2, 4, 255, timeout=WAIT)
    assert simulator.get_module_values(2) == (255, 0, 0, 255, 0, 0, 0, 255)


def test_dimmer_level_written(simulator: Simulator, client: IPComClient) -> None:
    client.set_dimmer(6, 3, 37)
    simulator.wait_for_value(6, 3, 37, timeout=WAIT)
    wait_until(lambda: latest(client).get_value(6, 3) == 37)


def test_eight_rapid_writes_to_one_module_all_land(
    simulator: Simulator, client: IPComClient
) -> None:
    simulator.clear_writes()
    for output in range(1, 9):
        client.turn_on(5, output)
    simulator.wait_for_value(5, 8, 255, timeout=WAIT)
    wait_until(lambda: simulator.get_module_values(5) == (255,) * 8)
    assert 1 <= len(simulator.writes()) <= 8


def test_rapid_writes_survive_slow_replies(simulator: Simulator, client: IPComClient) -> None:
    """Writes spaced wider than a command tick, while snapshots lag far behind."""
    simulator.reply_delay = 0.3
    for output in range(1, 9):
        client.turn_on(7, output)
        time.sleep(0.03)
    wait_until(lambda: simulator.get_module_values(7) == (255,) * 8)
    simulator.reply_delay = 0.0
    wait_until(lambda: client.statistics.writes_confirmed >= 8)
    assert simulator.get_module_values(7) == (255,) * 8


def test_writes_to_one_module_in_one_tick_share_a_frame(simulator: Simulator) -> None:
    connection = make_client(simulator, command_interval=0.5)
    connection.start_persistent_connection()
    try:
        connection.wait_for_snapshot(WAIT)
        simulator.clear_writes()
        connection.set_outputs(4, {1: 255, 2: 0, 3: 255})
        write = simulator.wait_for_write(timeout=WAIT)
        assert write.module == 4
        assert write.values[:3] == (255, 0, 255)
        time.sleep(0.2)
        assert len(simulator.writes()) == 1
    finally:
        connection.stop_persistent_connection()


def test_expected_value_covers_unconfirmed_writes(
    simulator: Simulator, client: IPComClient
) -> None:
    simulator.freeze()
    client.turn_on(9, 1)
    assert client.get_expected_value(9, 1) == 255
    assert latest(client).get_value(9, 1) == 0
    simulator.unfreeze()


def test_a_write_the_installation_does_not_show_is_never_resent_and_is_abandoned(
    simulator: Simulator, client: IPComClient
) -> None:
    """A stuck output, or a person who switched it back: nobody can tell, so never repeat it."""
    abandoned: list[AbandonedWrite] = []
    given_up = threading.Event()

    def on_abandoned(write: AbandonedWrite) -> None:
        abandoned.append(write)
        given_up.set()

    client.on_write_abandoned(on_abandoned)
    simulator.on_write(lambda write: simulator.set_output(10, 1, 0))
    handle = client.turn_on(10, 1)
    assert given_up.wait(WAIT)
    assert abandoned == [AbandonedWrite(10, 1, 255, AbandonReason.NOT_CONFIRMED)]
    with pytest.raises(WriteAbandonedError) as raised:
        handle.result(WAIT)
    assert raised.value.reason is AbandonReason.NOT_CONFIRMED
    statistics = client.statistics
    assert statistics.writes_abandoned == 1
    assert statistics.writes_confirmed == 0
    simulator.wait_for_polls(simulator.polls_received + 3)
    assert len([w for w in simulator.writes() if w.module == 10]) == 1


def test_commands_raise_at_once_when_not_connected(simulator: Simulator) -> None:
    connection = make_client(simulator)
    with pytest.raises(IPComConnectionError):
        connection.turn_on(1, 1)
    connection.start_persistent_connection()
    connection.stop_persistent_connection()
    with pytest.raises(IPComConnectionError):
        connection.turn_on(1, 1)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.set_value(0, 1, 0), ValueError),
        (lambda c: c.set_value(17, 1, 0), ValueError),
        (lambda c: c.set_value(1, 9, 0), ValueError),
        (lambda c: c.set_value(1, 1, 256), ValueError),
        (lambda c: c.set_value(1, 1, -1), ValueError),
        (lambda c: c.set_dimmer(6, 1, 101), ValueError),
        (lambda c: c.set_value(1, 1, "on"), TypeError),
        (lambda c: c.set_outputs(1, {}), ValueError),
        (lambda c: c.set_outputs(1, {9: 0}), ValueError),
    ],
)
def test_bad_arguments_rejected(
    client: IPComClient, call: Callable[[IPComClient], None], error: type[Exception]
) -> None:
    with pytest.raises(error):
        call(client)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda s: setattr(s, "chunk_size", 1), id="one-byte-chunks"),
        pytest.param(lambda s: setattr(s, "chunk_size", 7), id="seven-byte-chunks"),
        pytest.param(lambda s: setattr(s, "glue_replies", True), id="glued"),
        pytest.param(lambda s: s.inject_unknown(), id="unknown-alone"),
        pytest.param(lambda s: s.inject_unknown(glued=True), id="unknown-glued"),
        pytest.param(lambda s: s.inject_unknown(bytes(range(200))), id="garbage"),
    ],
)
def test_state_stays_correct_under_stream_faults(
    simulator: Simulator, client: IPComClient, fault: Callable[[Simulator], None]
) -> None:
    fault(simulator)
    before = client.statistics.snapshots_received
    simulator.press(11, 3)
    simulator.set_output(6, 2, 42)
    client.turn_on(12, 5)
    simulator.wait_for_value(12, 5, 255, timeout=WAIT)
    wait_until(lambda: client.get_latest_snapshot() == simulator.snapshot())
    # A glued reply waits up to a second for the next one: with one request
    # outstanding at a time, that is about one snapshot per 1.35 s.
    wait_until(lambda: client.statistics.snapshots_received >= before + 5, 3 * WAIT)
    assert client.get_latest_snapshot() == simulator.snapshot()
    assert client.connected


def test_dropped_connection_recovers(simulator: Simulator, client: IPComClient) -> None:
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    simulator.drop_connections()
    wait_until(lambda: client.statistics.reconnects >= 1 and client.connected)
    states = [event.state for event in events]
    assert states[0] is ConnectionState.RECONNECTING
    assert states[-1] is ConnectionState.CONNECTED
    simulator.press(1, 2)
    wait_until(lambda: latest(client).is_on(1, 2))


def test_frozen_connection_detected_and_recovered(
    simulator: Simulator, client: IPComClient
) -> None:
    accepted = simulator.connections_accepted
    simulator.freeze()
    wait_until(lambda: not client.connected)
    simulator.unfreeze()
    wait_until(lambda: client.connected and simulator.connections_accepted > accepted)
    assert "no decoded message" in (client.statistics.last_error or "")
    simulator.press(1, 3)
    wait_until(lambda: latest(client).is_on(1, 3))


def test_a_write_that_never_left_before_a_drop_is_sent_on_the_new_session(
    simulator: Simulator,
) -> None:
    connection = make_client(simulator, reconnect_base=0.3)
    connection.start_persistent_connection()
    try:
        connection.wait_for_snapshot(WAIT)
        simulator.freeze()
        ignored = simulator.ignored_messages
        simulator.wait_until(lambda sim: sim.ignored_messages > ignored, WAIT)
        handle = connection.turn_on(13, 1)
        simulator.drop_connections()
        simulator.unfreeze()
        simulator.wait_for_value(13, 1, 255, timeout=WAIT)
        assert handle.result(WAIT) is WriteOutcome.CONFIRMED
        assert connection.statistics.writes_abandoned == 0
    finally:
        connection.stop_persistent_connection()


def test_reconnect_uses_a_fresh_handshake(simulator: Simulator, client: IPComClient) -> None:
    """A new session must start single-key; reusing the old key locks the client out."""
    simulator.drop_connections()
    wait_until(lambda: client.statistics.reconnects >= 1 and client.connected)
    polls = simulator.polls_received
    wait_until(lambda: simulator.polls_received > polls + 5)
    assert simulator.protocol_errors == 0


def test_reconnect_with_rejected_credentials_stops_retrying(
    simulator: Simulator, client: IPComClient
) -> None:
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    simulator.set_credentials("demo", "changed")
    simulator.drop_connections()
    wait_until(lambda: any(event.authentication_failed for event in events))
    failures = simulator.auth_failures
    time.sleep(0.5)
    assert simulator.auth_failures == failures == 1
    assert client.connection_state is ConnectionState.DISCONNECTED


def test_stop_is_prompt_joins_threads_and_logs_no_error(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = make_client(simulator, keepalive_interval=30.0)
    connection.start_persistent_connection()
    connection.wait_for_snapshot(WAIT)
    connection.turn_on(1, 1)
    connection.stop_persistent_connection()
    assert not client_threads()
    wait_until(lambda: simulator.disconnects_received == 1)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Traceback" not in caplog.text
    connection.stop_persistent_connection()


def test_stop_during_reconnect_backoff(simulator: Simulator) -> None:
    connection = make_client(simulator, reconnect_base=30.0, reconnect_max=30.0)
    connection.start_persistent_connection()
    connection.wait_for_snapshot(WAIT)
    simulator.stop()
    wait_until(lambda: not connection.connected)
    connection.stop_persistent_connection()
    assert not client_threads()


def test_connection_state_listener_sees_stop(simulator: Simulator) -> None:
    events: list[ConnectionEvent] = []
    connection = make_client(simulator)
    connection.on_connection_state(events.append)
    connection.start_persistent_connection()
    connection.wait_for_snapshot(WAIT)
    connection.stop_persistent_connection()
    assert [event.state for event in events] == [
        ConnectionState.CONNECTED,
        ConnectionState.DISCONNECTED,
    ]
    assert events[-1].reason == "stopped"


def test_password_never_in_logs_or_repr(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pa55"
    simulator.set_credentials("demo", secret)
    connection = IPComClient(simulator.host, simulator.port, "demo", secret, poll_interval=0.05)
    connection.start_persistent_connection()
    connection.wait_for_snapshot(WAIT)
    simulator.drop_connections()
    wait_until(lambda: connection.statistics.reconnects >= 1)
    connection.stop_persistent_connection()
    assert secret not in caplog.text
    assert secret not in repr(connection)
