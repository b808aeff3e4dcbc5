"""The client's lifecycle and its sync with the installation, against the simulator.

Each test pins one failure of issue 9: writes built on a state the client
did not have, loops that outlive an end, starts and stops that race, and
writes thrown away in silence.
"""

from __future__ import annotations

import random
import threading

import pytest
from client_helpers import WAIT, make_client, wait_until

from ipcom.client import IPComClient
from ipcom.errors import IPComConnectionError
from ipcom.lifecycle import Lifecycle, Phase
from ipcom.models import ConnectionEvent, ConnectionState, StateSnapshot
from ipcom.simulator import Simulator
from ipcom.writes import AbandonedWrite, AbandonReason

ROUNDS = 200


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


def test_a_write_before_the_first_snapshot_keeps_the_other_outputs(simulator: Simulator) -> None:
    """The frame waits for the session's first snapshot instead of filling in zeros."""
    for output in range(2, 9):
        simulator.set_output(3, output, 255)
    simulator.reply_delay = 0.3
    connection = make_client(simulator, stale_after=3.0)
    connection.start_persistent_connection()
    try:
        connection.turn_on(3, 1)
        write = simulator.wait_for_write(timeout=WAIT)
        assert write.module == 3
        assert write.values == (255,) * 8
    finally:
        connection.stop_persistent_connection()


def test_a_write_right_after_a_reconnect_keeps_a_press_made_during_the_outage(
    simulator: Simulator, client: IPComClient
) -> None:
    """The new session's first snapshot is late; the frame must still carry the press."""
    reconnects = client.statistics.reconnects
    simulator.freeze()
    simulator.drop_connections()
    simulator.press(4, 2)
    simulator.reply_delay = 0.3
    simulator.clear_writes()
    simulator.unfreeze()
    assert wait_until(lambda: client.statistics.reconnects > reconnects)

    client.turn_on(4, 1)

    write = simulator.wait_for_write(timeout=WAIT)
    assert write.values[:2] == (255, 255)
    assert simulator.get_module_values(4)[:2] == (255, 255)


def test_connected_and_wait_for_snapshot_mean_this_sessions_snapshot(
    simulator: Simulator, client: IPComClient
) -> None:
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    reconnects = client.statistics.reconnects
    simulator.freeze()
    simulator.drop_connections()
    simulator.press(5, 5)
    simulator.reply_delay = 0.3
    simulator.unfreeze()
    assert wait_until(lambda: client.statistics.reconnects > reconnects)

    snapshot = client.wait_for_snapshot(WAIT)

    assert snapshot.is_on(5, 5)
    assert client.connected
    assert wait_until(lambda: [event.state for event in events][-1] is ConnectionState.CONNECTED)


def test_the_first_snapshot_of_every_session_reaches_the_listeners(
    simulator: Simulator, client: IPComClient
) -> None:
    """Nothing changed during the outage: the fresh snapshot is delivered all the same."""
    received: list[StateSnapshot] = []
    client.on_state_snapshot(received.append)
    reconnects = client.statistics.reconnects
    simulator.drop_connections()
    assert wait_until(lambda: client.statistics.reconnects > reconnects and client.connected)
    assert wait_until(lambda: len(received) >= 1)
    assert received[0].values == simulator.snapshot().values


def test_stop_reports_every_write_it_discards(simulator: Simulator, client: IPComClient) -> None:
    abandoned: list[AbandonedWrite] = []
    client.on_write_abandoned(abandoned.append)
    simulator.on_write(lambda write: simulator.freeze())
    client.turn_on(7, 1)
    assert wait_until(lambda: client.statistics.writes_sent >= 1)
    client.turn_on(7, 2)

    client.stop_persistent_connection()

    assert sorted(abandoned) == [
        AbandonedWrite(7, 1, 255, AbandonReason.STOPPED),
        AbandonedWrite(7, 2, 255, AbandonReason.STOPPED),
    ]
    assert client.statistics.writes_abandoned == 2
    simulator.unfreeze()


def test_a_drop_without_auto_reconnect_ends_every_loop_and_a_restart_works(
    simulator: Simulator,
) -> None:
    connection = make_client(simulator)
    connection.start_persistent_connection(auto_reconnect=False)
    try:
        connection.wait_for_snapshot(WAIT)
        simulator.drop_connections()
        assert wait_until(lambda: not client_threads())
        assert connection.connection_state is ConnectionState.DISCONNECTED

        connection.start_persistent_connection()

        connection.wait_for_snapshot(WAIT)
        assert connection.connected
        assert len(client_threads()) == 2
    finally:
        connection.stop_persistent_connection()
    assert not client_threads()


def test_credentials_rejected_on_reconnect_end_every_loop_and_a_restart_works(
    simulator: Simulator, client: IPComClient
) -> None:
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    simulator.set_credentials("demo", "changed")
    simulator.drop_connections()
    assert wait_until(lambda: any(event.authentication_failed for event in events))
    assert wait_until(lambda: not client_threads())
    with pytest.raises(IPComConnectionError):
        client.wait_for_snapshot(WAIT)

    simulator.set_credentials("demo", "demo")
    client.start_persistent_connection()

    client.wait_for_snapshot(WAIT)
    assert client.connected


def test_concurrent_starts_and_stops_leave_a_consistent_client(simulator: Simulator) -> None:
    """Start, stop and a second stop race from three threads, 200 times over."""
    connection = make_client(simulator)
    rng = random.Random(9)
    failures: list[BaseException] = []

    def start() -> None:
        try:
            connection.start_persistent_connection()
        except IPComConnectionError:
            pass
        except BaseException as err:
            failures.append(err)

    try:
        for _ in range(ROUNDS):
            threads = [
                threading.Thread(target=start),
                threading.Thread(target=connection.stop_persistent_connection),
                threading.Thread(target=connection.stop_persistent_connection),
            ]
            rng.shuffle(threads)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT)
                assert not thread.is_alive()
        connection.stop_persistent_connection()
        assert failures == []
        assert not client_threads()
        assert connection._lifecycle.phase is Phase.STOPPED
        assert connection.connection_state is ConnectionState.DISCONNECTED

        connection.start_persistent_connection()
        connection.wait_for_snapshot(WAIT)
        assert len(client_threads()) == 2
    finally:
        connection.stop_persistent_connection()
    assert not client_threads()


def test_a_second_stop_returns_only_once_the_loops_are_joined(simulator: Simulator) -> None:
    """The listener thread is held in a snapshot listener while two stops run."""
    connection = make_client(simulator)
    connection.start_persistent_connection()
    connection.wait_for_snapshot(WAIT)
    entered = threading.Event()
    release = threading.Event()

    def hold(snapshot: StateSnapshot) -> None:
        entered.set()
        release.wait(WAIT)

    connection.on_state_snapshot(hold)
    simulator.press(1, 1)
    assert entered.wait(WAIT)
    first = threading.Thread(target=connection.stop_persistent_connection)
    first.start()
    assert wait_until(lambda: connection._lifecycle.phase is Phase.STOPPING)
    second = threading.Thread(target=connection.stop_persistent_connection)
    second.start()
    second.join(0.2)
    try:
        assert second.is_alive(), "the second stop returned before the loops were joined"
    finally:
        release.set()
        first.join(WAIT)
        second.join(WAIT)
    assert not client_threads()


def test_a_stale_bound_not_above_the_poll_period_is_refused() -> None:
    with pytest.raises(ValueError, match=r"stale_after \(0.35 s\) must be longer than poll"):
        IPComClient("127.0.0.1", 5000, "demo", "demo", stale_after=0.35)


def test_the_connection_state_is_derived_from_the_phase() -> None:
    """Connected means in sync; a reconnect handshaken but not yet in sync is still reconnecting."""
    lifecycle = Lifecycle(threading.RLock())
    assert lifecycle.connection_state is ConnectionState.DISCONNECTED
    run = lifecycle.begin_start(auto_reconnect=True)
    assert run is not None
    states = []
    for phase in (
        Phase.HANDSHAKEN,
        Phase.SYNCED,
        Phase.RECONNECTING,
        Phase.HANDSHAKEN,
        Phase.SYNCED,
        Phase.FAILED,
    ):
        assert lifecycle.move(run, phase)
        states.append(lifecycle.connection_state)
    assert states == [
        ConnectionState.DISCONNECTED,
        ConnectionState.CONNECTED,
        ConnectionState.RECONNECTING,
        ConnectionState.RECONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.DISCONNECTED,
    ]
