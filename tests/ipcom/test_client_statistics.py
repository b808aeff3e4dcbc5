"""The client's health figures against the simulator: poll round trips and reconnects.

Writes given up on are counted in test_client.py, with the write path.
"""

from __future__ import annotations

from collections.abc import Callable

from client_helpers import WAIT, make_client, wait_until as wait_for

from ipcom.client import POLL_ROUND_TRIP_SAMPLES, IPComClient
from ipcom.simulator import Simulator

REPLY_DELAY = 0.1
"""Seconds the simulated device holds every reply: a floor under each round trip."""


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    if not wait_for(condition, timeout):
        raise AssertionError("condition not reached in time")


def round_trip(client: IPComClient) -> float | None:
    return client.statistics.poll_round_trip


def test_poll_round_trip_is_the_time_from_poll_to_snapshot(simulator: Simulator) -> None:
    """The median of the latest polls' round trips, in seconds; none before the first answer."""
    connection = make_client(simulator)
    assert round_trip(connection) is None
    simulator.reply_delay = REPLY_DELAY
    connection.start_persistent_connection()
    try:
        polls = connection.statistics.polls_sent
        wait_until(lambda: connection.statistics.polls_sent >= polls + POLL_ROUND_TRIP_SAMPLES)
        figure = round_trip(connection)
        assert figure is not None
        assert REPLY_DELAY <= figure < WAIT
    finally:
        connection.stop_persistent_connection()
    assert round_trip(connection) is None


def test_poll_round_trip_counts_the_current_session_only(
    simulator: Simulator, client: IPComClient
) -> None:
    """A new session measures afresh: a slow spell before a reconnect does not linger."""
    simulator.reply_delay = REPLY_DELAY
    polls = client.statistics.polls_sent
    wait_until(lambda: client.statistics.polls_sent >= polls + POLL_ROUND_TRIP_SAMPLES)
    wait_until(lambda: (round_trip(client) or 0.0) >= REPLY_DELAY)

    simulator.stop()
    wait_until(lambda: not client.connected)
    assert round_trip(client) is None
    simulator.reply_delay = 0.0
    simulator.start()
    wait_until(lambda: client.connected and round_trip(client) is not None)
    figure = round_trip(client)
    assert figure is not None
    assert figure < REPLY_DELAY


def test_reconnects_and_connected_since(simulator: Simulator, client: IPComClient) -> None:
    """A reconnect counts once; the connection's start moves to the new session."""
    statistics = client.statistics
    assert statistics.reconnects == 0
    assert statistics.connected_since is not None
    first_since = statistics.connected_since

    simulator.drop_connections()
    wait_until(lambda: client.statistics.reconnects == 1 and client.connected)
    since = client.statistics.connected_since
    assert since is not None
    assert since >= first_since
