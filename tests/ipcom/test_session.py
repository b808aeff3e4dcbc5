"""`ipcom.session` on its own: connecting and the handshake against raw sockets on 127.0.0.1.

The client's behaviour on top of these is in `test_hostile_device.py`; here
the deadline of the handshake and the socket it leaves behind are checked
directly, without the client's loops.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ipcom import cipher
from ipcom.errors import IPComConnectionError
from ipcom.pacing import Pacer, monotonic
from ipcom.protocol import CONNECT_REQUEST_LENGTH, CONNECT_RESPONSE_LENGTH, PUBLIC_KEY_LENGTH
from ipcom.session import Deadline, Session, connect, handshake
from ipcom.simulator_codec import success_response

WAIT = 10.0
MARGIN = 1.5
"""How much later than its deadline a call may return on a loaded machine."""
PUBLIC_KEY = bytes(range(PUBLIC_KEY_LENGTH))
RESPONSE = cipher.encrypt(success_response("0000", PUBLIC_KEY), cipher.single_key_masks())

Answer = Callable[[socket.socket, threading.Event], None]


@pytest.fixture
def device() -> Iterator[Callable[[Answer], int]]:
    """Start a one-connection server on 127.0.0.1 that answers with `answer`; its port."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(answer: Answer) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.05)
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return
            with conn:
                conn.settimeout(WAIT)
                with contextlib.suppress(OSError):
                    answer(conn, stop)

        thread = threading.Thread(target=serve, name="session-device")
        thread.start()
        threads.append(thread)
        port: int = listener.getsockname()[1]
        return port

    yield start
    stop.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    for listener in listeners:
        listener.close()


def read_request(conn: socket.socket) -> None:
    received = b""
    while len(received) < CONNECT_REQUEST_LENGTH:
        chunk = conn.recv(CONNECT_REQUEST_LENGTH - len(received))
        if not chunk:
            return
        received += chunk


def answering(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    conn.sendall(RESPONSE)
    stop.wait()


def silent(conn: socket.socket, stop: threading.Event) -> None:
    read_request(conn)
    stop.wait()


def dribbling(conn: socket.socket, stop: threading.Event) -> None:
    """One byte of a valid response per 0.3 s: 40 s for the whole of it."""
    read_request(conn)
    for byte in RESPONSE:
        if stop.wait(0.3):
            return
        conn.sendall(bytes([byte]))


def open_socket(port: int, timeout: float) -> socket.socket:
    return connect("127.0.0.1", port, timeout, lambda _sock: True)


def shake(sock: socket.socket, deadline: Deadline | None = None) -> Session:
    return handshake(
        sock,
        1,
        "demo",
        "demo",
        "{}:{}".format(*sock.getpeername()),
        pacer=Pacer(0.35, 0.25, 30.0, monotonic()),
        deadline=deadline,
    )


def test_the_handshake_has_one_deadline_however_steadily_the_bytes_come(
    device: Callable[[Answer], int],
) -> None:
    """Each byte arrives well within the socket timeout; the whole response does not."""
    port = device(dribbling)
    sock = open_socket(port, 1.0)

    started = time.monotonic()
    with pytest.raises(IPComConnectionError) as caught:
        shake(sock)

    assert time.monotonic() - started < 1.0 + MARGIN
    assert str(caught.value).startswith(
        f"no complete connect response from 127.0.0.1:{port} within 1 s ("
    )
    assert str(caught.value).endswith(f" of its {CONNECT_RESPONSE_LENGTH} bytes arrived)")
    assert sock.fileno() == -1


def test_an_explicit_deadline_wins_over_a_longer_socket_timeout(
    device: Callable[[Answer], int],
) -> None:
    port = device(silent)
    sock = open_socket(port, 30.0)

    started = time.monotonic()
    with pytest.raises(IPComConnectionError) as caught:
        shake(sock, Deadline.after(0.5))

    assert time.monotonic() - started < 0.5 + MARGIN
    assert (
        str(caught.value) == f"no answer to the connect request from 127.0.0.1:{port} within 0.5 s"
    )


def test_a_deadline_that_passed_while_connecting_sends_nothing(
    device: Callable[[Answer], int],
) -> None:
    received: list[bytes] = []
    done = threading.Event()

    def record(conn: socket.socket, stop: threading.Event) -> None:
        received.append(conn.recv(CONNECT_REQUEST_LENGTH))
        done.set()

    port = device(record)
    sock = open_socket(port, 5.0)

    with pytest.raises(IPComConnectionError) as caught:
        shake(sock, Deadline(monotonic() - 1.0, 2.0))

    assert str(caught.value) == f"no answer to the connect request from 127.0.0.1:{port} within 2 s"
    assert sock.fileno() == -1
    assert done.wait(WAIT)
    assert received == [b""]


def test_the_session_socket_keeps_its_own_timeout(device: Callable[[Answer], int]) -> None:
    """The handshake shortens the socket's timeout to its deadline; the session must not keep it."""
    port = device(answering)
    sock = open_socket(port, 3.0)

    session = shake(sock, Deadline.after(WAIT))
    try:
        assert session.sock.gettimeout() == 3.0
        assert session.masks == cipher.dual_key_masks(PUBLIC_KEY)
    finally:
        session.sock.close()


def test_connect_after_its_deadline_opens_no_socket(device: Callable[[Answer], int]) -> None:
    port = device(silent)
    opened: list[socket.socket] = []

    def register(sock: socket.socket) -> bool:
        opened.append(sock)
        return True

    with pytest.raises(IPComConnectionError) as caught:
        connect("127.0.0.1", port, 5.0, register, deadline=Deadline(monotonic() - 1.0, 2.0))

    assert str(caught.value) == f"cannot connect to 127.0.0.1:{port} within 2 s"
    assert opened == []


def test_connect_within_its_deadline_leaves_the_socket_timeout(
    device: Callable[[Answer], int],
) -> None:
    port = device(silent)

    sock = connect("127.0.0.1", port, 4.0, lambda _sock: True, deadline=Deadline.after(WAIT))
    try:
        assert sock.gettimeout() == 4.0
    finally:
        sock.close()


@pytest.mark.parametrize("host", ["..", "a" * 64 + ".example"])
def test_a_host_name_no_lookup_can_take_is_a_connection_error(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def idna_lookup(host: str, *args: object, **kwargs: object) -> object:
        """What CPython's lookup does first with a name (the test plugin refuses any lookup)."""
        host.encode("idna")
        raise AssertionError(f"{host!r} is a valid name")

    monkeypatch.setattr(socket, "getaddrinfo", idna_lookup)

    with pytest.raises(IPComConnectionError) as caught:
        connect(host, 5000, 1.0, lambda _sock: True)

    assert str(caught.value) == f"cannot connect to {host}:5000: {host!r} is not a valid host name"
