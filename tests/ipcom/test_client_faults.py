"""Client faults found by the soak and by reading the code, each pinned by a test.

Every test here forces one unlucky interleaving deterministically (by
holding a client thread at the exact point where it matters) instead of
hoping a loaded machine produces it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import pytest
from client_helpers import WAIT, make_client, wait_until

from ipcom import cipher, simulator_codec
from ipcom.client import IPComClient
from ipcom.errors import IPComConnectionError
from ipcom.lifecycle import Phase
from ipcom.models import ConnectionState
from ipcom.protocol import CONNECT_REQUEST_LENGTH
from ipcom.simulator import DEFAULT_PUBLIC_KEY, Simulator
from ipcom.writes import AbandonedWrite, AbandonReason, WriteTracker

STOP_BOUND = 2.0
"""A liveness bound, generous on purpose: the client promises well under a second."""


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


class Listener:
    """A raw server: the first connection gets a handshake, later ones are never answered."""

    def __init__(self, backlog: int = 5) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port: int = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def accept(self) -> socket.socket:
        conn, _ = self.socket.accept()
        self.accepted.append(conn)
        return conn

    def accept_and_handshake(self) -> socket.socket:
        return self.handshake(self.accept())

    @staticmethod
    def handshake(conn: socket.socket) -> socket.socket:
        request = b""
        while len(request) < CONNECT_REQUEST_LENGTH:
            chunk = conn.recv(CONNECT_REQUEST_LENGTH - len(request))
            if not chunk:
                raise ConnectionResetError("the client closed before its connect request")
            request += chunk
        response = simulator_codec.success_response("0000", DEFAULT_PUBLIC_KEY)
        conn.sendall(cipher.encrypt(response, cipher.single_key_masks()))
        return conn

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.socket.close()


def slow_client(port: int) -> IPComClient:
    """Handshakes and connects may block longer than any wait here: only `stop` ends them."""
    return IPComClient(
        "127.0.0.1",
        port,
        "demo",
        "demo",
        poll_interval=0.05,
        socket_timeout=WAIT + 5,
        stale_after=1.0,
        reconnect_base=0.05,
        reconnect_max=0.2,
    )


def test_a_reconnect_that_connects_while_stop_runs_does_not_outlive_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`stop` must reach a socket that connected while it was looking for one.

    The reconnect's TCP connect is held until `stop` has given up joining the
    receive thread; the device then never answers the handshake. The thread
    must end at once rather than wait out the socket timeout in a handshake
    that nobody will ever shut.
    """
    listener = Listener()
    client = slow_client(listener.port)
    real_connect = socket.socket.connect
    in_reconnect = threading.Event()

    def connect(sock: socket.socket, address: Any) -> None:
        real_connect(sock, address)
        if address[1] == listener.port and listener.accepted:
            in_reconnect.set()
            wait_until(lambda: client.connection_state is ConnectionState.DISCONNECTED)

    monkeypatch.setattr(socket.socket, "connect", connect)
    accepting = threading.Thread(target=listener.accept_and_handshake)
    accepting.start()
    try:
        client.start_persistent_connection()
        accepting.join()
        listener.accepted[0].close()
        assert in_reconnect.wait(WAIT)

        client.stop_persistent_connection()

        assert wait_until(lambda: not client_threads()), "the reconnect outlived stop"
    finally:
        client.stop_persistent_connection()
        listener.close()
        wait_until(lambda: not client_threads())


def test_stop_ends_a_reconnect_whose_connect_hangs() -> None:
    """An installation that stopped answering SYNs: `stop` must not wait out the connect."""
    listener = Listener()
    client = slow_client(listener.port)
    accepting = threading.Thread(target=listener.accept_and_handshake)
    accepting.start()
    client.start_persistent_connection()
    accepting.join()
    # A new listener on the port with a backlog of 0 and one connection
    # nobody accepts: the kernel drops every further SYN, so the reconnect's
    # connect hangs.
    listener.socket.close()
    unanswered = socket.create_server(("127.0.0.1", listener.port), backlog=0)
    queued = socket.socket()
    try:
        queued.settimeout(WAIT)
        queued.connect(("127.0.0.1", listener.port))
        listener.accepted[0].close()
        assert wait_until(lambda: not client.connected)

        started = time.monotonic()
        client.stop_persistent_connection()

        assert time.monotonic() - started < STOP_BOUND
        assert not client_threads()
    finally:
        client.stop_persistent_connection()
        queued.close()
        unanswered.close()
        listener.close()
        wait_until(lambda: not client_threads(), WAIT + 5)


def test_a_drop_that_is_announced_after_the_reconnect_does_not_strand_the_client(
    client: IPComClient, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poll loop finds the link stale; the reconnect finishes before it says so.

    The state must end CONNECTED, as the link is: a RECONNECTING announced
    after the new session's CONNECTED strands the client, whose writes then
    raise "not connected" until the next outage.
    """
    real_shut = client._shut_socket
    held = threading.Event()

    def shut(sock: socket.socket) -> None:
        requests_thread = threading.current_thread().name.startswith("ipcom-client-requests")
        if requests_thread and not held.is_set():
            held.set()
            reconnects = client.statistics.reconnects
            simulator.unfreeze()
            real_shut(sock)
            assert wait_until(lambda: client.statistics.reconnects > reconnects)
            return
        real_shut(sock)

    monkeypatch.setattr(client, "_shut_socket", shut)
    events: list[ConnectionState] = []
    client.on_connection_state(lambda event: events.append(event.state))

    simulator.freeze()
    assert wait_until(held.is_set)
    polls = simulator.polls_received
    simulator.wait_for_polls(polls + 3, timeout=WAIT)

    assert client.connection_state is ConnectionState.CONNECTED
    assert events[-1] is ConnectionState.CONNECTED
    client.turn_on(3, 3)
    simulator.wait_for_value(3, 3, 255, timeout=WAIT)


def test_a_socket_dropped_while_stop_begins_is_closed(
    client: IPComClient, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receive loop retires a dead link just as `stop` starts: it must still close it."""
    real_drop = client._drop_link
    dropped: list[socket.socket] = []
    stopper = threading.Thread(target=client.stop_persistent_connection)

    def drop_link(run: Any, session: Any, reason: str) -> None:
        real_drop(run, session, reason)
        if threading.current_thread().name.startswith("ipcom-client-receive") and not dropped:
            dropped.append(session.sock)
            stopper.start()
            assert wait_until(lambda: client._lifecycle.phase is not Phase.RECONNECTING)
            stopping.set()

    monkeypatch.setattr(client, "_drop_link", drop_link)
    stopping = threading.Event()
    simulator.drop_connections()
    assert stopping.wait(WAIT)
    stopper.join(WAIT)

    assert not client_threads()
    assert dropped[0].fileno() == -1, "the dropped socket was left to the garbage collector"


def test_a_write_caught_by_a_lasting_outage_is_reported_abandoned(
    simulator: Simulator,
) -> None:
    """The link drops with a write in flight and stays down: the caller must hear of it."""
    connection = make_client(simulator)
    connection._writes = WriteTracker(retain_seconds=0.3)
    abandoned: list[AbandonedWrite] = []
    given_up = threading.Event()

    def on_abandoned(write: AbandonedWrite) -> None:
        abandoned.append(write)
        given_up.set()

    connection.on_write_abandoned(on_abandoned)
    connection.start_persistent_connection()
    try:
        connection.wait_for_snapshot(WAIT)
        simulator.on_write(lambda write: simulator.freeze())
        connection.turn_on(4, 2)
        assert wait_until(lambda: connection.statistics.writes_sent >= 1)
        simulator.stop()

        assert given_up.wait(WAIT), "a write lost with the link was never reported"
        assert abandoned == [AbandonedWrite(4, 2, 255, AbandonReason.OUTAGE)]
    finally:
        connection.stop_persistent_connection()


def test_stop_while_start_is_connecting_ends_the_start() -> None:
    """`stop` from another thread must not return while `start` goes on to start the loops."""
    listener = Listener()
    client = slow_client(listener.port)
    outcome: list[Exception | None] = []

    def start() -> None:
        try:
            client.start_persistent_connection()
        except IPComConnectionError as err:
            outcome.append(err)
        else:
            outcome.append(None)

    starter = threading.Thread(target=start)
    starter.start()
    try:
        conn = listener.accept()

        client.stop_persistent_connection()
        with contextlib.suppress(OSError):
            listener.handshake(conn)
        starter.join(WAIT)

        assert outcome and isinstance(outcome[0], IPComConnectionError)
        assert not client_threads()
    finally:
        client.stop_persistent_connection()
        listener.close()
        starter.join(WAIT)
