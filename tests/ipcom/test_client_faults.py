"""Client faults found by the soak and by reading the code, each pinned by a test.

Every test here forces one unlucky interleaving deterministically (by
holding a client thread at the exact point where it matters) instead of
hoping a loaded machine produces it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ipcom import cipher, messages
from ipcom.client import IPComClient
from ipcom.models import ConnectionState
from ipcom.protocol import CONNECT_REQUEST_LENGTH, CONNECT_RESPONSE_STATUS, SET_OUTPUTS_LENGTH
from ipcom.simulator import DEFAULT_PUBLIC_KEY, Simulator

WAIT = 10.0
STOP_BOUND = 2.0
"""A liveness bound, generous on purpose: the client promises well under a second."""


def make_client(simulator: Simulator) -> IPComClient:
    return IPComClient(
        simulator.host,
        simulator.port,
        "demo",
        "demo",
        poll_interval=0.05,
        command_interval=0.02,
        keepalive_interval=5.0,
        socket_timeout=2.0,
        stale_after=1.0,
        reconnect_base=0.05,
        reconnect_max=0.2,
    )


@pytest.fixture
def client(simulator: Simulator) -> Iterator[IPComClient]:
    connection = make_client(simulator)
    connection.start_persistent_connection()
    try:
        connection.wait_for_snapshot(WAIT)
        yield connection
    finally:
        connection.stop_persistent_connection()


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_write_whose_link_is_replaced_before_it_is_booked_is_not_forgotten(
    client: IPComClient, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame leaves on a link that dies and is replaced before the command loop books it.

    The device never saw the frame. The write must still be re-sent on the
    new link or reported abandoned: booking it against the dead session
    leaves it in flight forever, judged by no snapshot, lost in silence.
    """
    original = client._transmit
    interfered = threading.Event()

    def transmit(session: Any, data: bytes, *, poll: bool = False) -> tuple[str | None, int]:
        result = original(session, data, poll=poll)
        if len(data) == SET_OUTPUTS_LENGTH and not interfered.is_set():
            interfered.set()
            reconnects = client.statistics.reconnects
            simulator.drop_connections()
            simulator.unfreeze()
            assert wait_until(
                lambda: client.statistics.reconnects > reconnects and client.connected
            )
        return result

    monkeypatch.setattr(client, "_transmit", transmit)
    abandoned: list[tuple[int, int, int]] = []
    client.on_write_abandoned(lambda *write: abandoned.append(write))
    simulator.freeze()

    client.set_value(2, 3, 255)

    assert wait_until(lambda: simulator.get_value(2, 3) == 255 or bool(abandoned)), (
        f"the write was neither applied nor reported; the client still expects "
        f"{client.get_expected_value(2, 3)} while the installation shows "
        f"{simulator.get_value(2, 3)}"
    )
    assert interfered.is_set()


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


class Listener:
    """A raw server: the first connection gets a handshake, later ones are never answered."""

    def __init__(self, backlog: int = 5) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port: int = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def accept_and_handshake(self) -> socket.socket:
        conn, _ = self.socket.accept()
        self.accepted.append(conn)
        request = b""
        while len(request) < CONNECT_REQUEST_LENGTH:
            request += conn.recv(CONNECT_REQUEST_LENGTH - len(request))
        response = messages.encode_connect_response(CONNECT_RESPONSE_STATUS, DEFAULT_PUBLIC_KEY)
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
