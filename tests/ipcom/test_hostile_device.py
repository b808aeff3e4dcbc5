"""The client against broken or hostile devices: raw TCP servers written here.

Each server listens on 127.0.0.1 only, runs one behaviour per connection in
its own thread, and is closed (every thread joined) at the end of the test.
The client must answer each of them with a clear error or a recovery, keep
its memory bounded and never hang in `stop_persistent_connection`.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from client_helpers import snapshot_message

from ipcom import cipher, messages, simulator_codec
from ipcom.cli import main
from ipcom.client import IPComClient
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.messages import DEFAULT_MAX_BUFFER
from ipcom.models import ConnectionEvent, ConnectionState
from ipcom.protocol import (
    CLIENT_MESSAGE_LENGTHS,
    CONNECT_REQUEST_LENGTH,
    CONNECT_RESPONSE_KEY_OFFSET,
    CONNECT_RESPONSE_LENGTH,
    DEVICE_MESSAGE_LENGTHS,
    MESSAGE_VERSION,
    PUBLIC_KEY_LENGTH,
    SET_OUTPUTS_COMMAND,
    SNAPSHOT_PAYLOAD_LENGTH,
    STATUS_COMMAND,
)
from ipcom.simulator import DEFAULT_PUBLIC_KEY

WAIT = 10.0
STOP_BOUND = 2.0
"""A liveness bound, generous on purpose: the client promises well under a second."""
SOCKET_TIMEOUT = 1.0
FLOOD_BYTES = 8 * 1024 * 1024
DISTINCT = 7
"""The value of every output in the snapshots of a device that behaves again."""

DUAL_MASKS = cipher.dual_key_masks(DEFAULT_PUBLIC_KEY)
SINGLE_MASKS = cipher.single_key_masks()

Behaviour = Callable[[socket.socket, threading.Event], None]


class Device:
    """A TCP server on 127.0.0.1 that runs one behaviour for every connection."""

    def __init__(self, behaviours: list[Behaviour]) -> None:
        """The n-th connection gets `behaviours[n]`; later ones get the last one."""
        self._behaviours = behaviours
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, name="hostile-accept")
        self._accept_thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            behaviour = self._behaviours[min(self.connections, len(self._behaviours) - 1)]
            self.connections += 1
            thread = threading.Thread(
                target=self._run, args=(conn, behaviour), name=f"hostile-{self.connections}"
            )
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket, behaviour: Behaviour) -> None:
        conn.settimeout(0.05)
        try:
            behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._accept_thread.join(WAIT)
        self._listener.close()
        for thread in self._threads:
            thread.join(WAIT)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def wait_for_connections(self, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while self.connections < count:
            assert time.monotonic() < deadline, f"{self.connections} of {count} connections"
            time.sleep(0.01)


@pytest.fixture
def device() -> Iterator[Callable[..., Device]]:
    devices: list[Device] = []

    def start(*behaviours: Behaviour) -> Device:
        server = Device(list(behaviours))
        devices.append(server)
        return server

    yield start
    for server in devices:
        server.close()


@pytest.fixture
def clients() -> Iterator[Callable[[Device], IPComClient]]:
    made: list[IPComClient] = []

    def make(server: Device, **overrides: float) -> IPComClient:
        settings = {
            "poll_interval": 0.05,
            "command_interval": 0.02,
            "keepalive_interval": 5.0,
            "socket_timeout": SOCKET_TIMEOUT,
            "stale_after": 1.0,
            "reconnect_base": 0.05,
            "reconnect_max": 0.2,
        }
        settings.update(overrides)
        client = IPComClient("127.0.0.1", server.port, "demo", "demo", **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        stop_promptly(client)


def stop_promptly(client: IPComClient) -> None:
    started = time.monotonic()
    client.stop_persistent_connection()
    assert time.monotonic() - started < STOP_BOUND


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


# Pieces of behaviour


def receive_exactly(conn: socket.socket, count: int, stop: threading.Event) -> bytes:
    data = b""
    while len(data) < count and not stop.is_set():
        try:
            chunk = conn.recv(count - len(data))
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return data


def connect_response(public_key: bytes = DEFAULT_PUBLIC_KEY) -> bytes:
    plain = simulator_codec.success_response("0000", public_key)
    return cipher.encrypt(plain, SINGLE_MASKS)


def handshake(conn: socket.socket, stop: threading.Event) -> None:
    receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
    conn.sendall(connect_response())


def answer_polls(conn: socket.socket, stop: threading.Event) -> None:
    """Behave: a snapshot with every output at `DISTINCT` for every poll."""
    decoder = messages.StreamDecoder(DUAL_MASKS, CLIENT_MESSAGE_LENGTHS)
    snapshot = cipher.encrypt(snapshot_message([DISTINCT] * SNAPSHOT_PAYLOAD_LENGTH), DUAL_MASKS)
    while not stop.is_set():
        try:
            data = conn.recv(4096)
        except TimeoutError:
            continue
        if not data:
            return
        for message in decoder.feed(data):
            if message.command == STATUS_COMMAND:
                conn.sendall(snapshot)


def good_device(conn: socket.socket, stop: threading.Event) -> None:
    handshake(conn, stop)
    answer_polls(conn, stop)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept and never answer (nor read)."""
    stop.wait()


def send_all(conn: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send everything unless told to stop; the client may stop reading for a while."""
    view = memoryview(data)
    while view and not stop.is_set():
        try:
            sent = conn.send(view)
        except TimeoutError:
            continue
        view = view[sent:]


def garbage_byte() -> int:
    """A byte that, repeated, decodes to no known message and never looks like a snapshot start."""
    sync = cipher.encrypt(bytes([STATUS_COMMAND, MESSAGE_VERSION]), DUAL_MASKS)
    for candidate in range(256):
        command, version = cipher.decrypt(bytes([candidate, candidate]), DUAL_MASKS)
        known = command in DEVICE_MESSAGE_LENGTHS and version == MESSAGE_VERSION
        if not known and candidate not in sync:
            return candidate
    raise AssertionError("no garbage byte for this key")


def snapshot_with(client: IPComClient, value: int) -> bool:
    snapshot = client.get_latest_snapshot()
    return snapshot is not None and snapshot.values == (value,) * SNAPSHOT_PAYLOAD_LENGTH


# After the handshake


def test_endless_garbage_is_dropped_within_the_buffer_bound_and_the_link_survives(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    flood = bytes([garbage_byte()]) * FLOOD_BYTES

    def flooding(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        send_all(conn, flood, stop)
        answer_polls(conn, stop)

    client = clients(device(flooding))
    client.start_persistent_connection()

    wait_until(lambda: snapshot_with(client, DISTINCT))

    statistics = client.statistics
    # Every flood byte reached the decoder before the first real snapshot; all
    # but what the bounded buffer may still hold were dropped.
    assert statistics.dropped_bytes >= FLOOD_BYTES - DEFAULT_MAX_BUFFER
    assert statistics.unknown_messages > 0
    assert statistics.reconnects == 0
    assert client.connected


def test_a_device_flooding_snapshots_unasked_keeps_the_client_running(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    snapshots = [
        cipher.encrypt(snapshot_message([value] * SNAPSHOT_PAYLOAD_LENGTH), DUAL_MASKS)
        for value in range(50)
    ]

    def flooding(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        while not stop.is_set():
            send_all(conn, b"".join(snapshots), stop)

    server = device(flooding)
    client = clients(server)
    client.start_persistent_connection()

    wait_until(lambda: client.statistics.snapshots_received > 2000)

    assert client.connected
    assert client.statistics.dropped_bytes == 0
    stop_promptly(client)
    assert not client_threads()


def test_oversized_garbage_then_recovery(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    garbage = random.Random(6).randbytes(1024 * 1024)

    def garbling(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        send_all(conn, garbage, stop)
        answer_polls(conn, stop)

    client = clients(device(garbling))
    client.start_persistent_connection()

    wait_until(lambda: snapshot_with(client, DISTINCT))

    assert client.statistics.dropped_bytes > 0
    assert client.connected


# During the handshake


def handshake_error(client: IPComClient) -> str:
    with pytest.raises(IPComConnectionError) as caught:
        client.start_persistent_connection()
    assert not client.connected
    assert not client_threads()
    return str(caught.value)


@pytest.mark.parametrize(
    "length",
    [
        0,
        1,
        2,
        CONNECT_RESPONSE_KEY_OFFSET + PUBLIC_KEY_LENGTH // 2,
        CONNECT_RESPONSE_LENGTH - 1,
    ],
    ids=["nothing", "one-byte", "two-bytes", "half-a-public-key", "one-byte-short"],
)
def test_a_short_connect_response_then_close_is_a_clear_error(
    device: Callable[..., Device], clients: Callable[..., IPComClient], length: int
) -> None:
    def short(conn: socket.socket, stop: threading.Event) -> None:
        receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
        conn.sendall(connect_response()[:length])

    client = clients(device(short))

    message = handshake_error(client)

    assert message == (
        f"handshake with 127.0.0.1:{client.port} failed: connection closed after {length} "
        f"bytes of the {CONNECT_RESPONSE_LENGTH}-byte connect response"
    )


def test_a_short_public_key_then_silence_times_out(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    sent = CONNECT_RESPONSE_KEY_OFFSET + 64

    def short_then_silent(conn: socket.socket, stop: threading.Event) -> None:
        receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
        conn.sendall(connect_response()[:sent])
        stop.wait()

    client = clients(device(short_then_silent))

    message = handshake_error(client)

    assert message == (
        f"no complete connect response from 127.0.0.1:{client.port} within "
        f"{SOCKET_TIMEOUT:g} s ({sent} of its {CONNECT_RESPONSE_LENGTH} bytes arrived)"
    )


def test_a_megabyte_of_garbage_for_a_connect_response_is_read_as_a_refusal(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    """Its first 135 bytes are a connect response whose status is not 1: a refusal."""
    rng = random.Random(3)
    while True:
        garbage = rng.randbytes(1024 * 1024)
        status = cipher.decrypt(garbage[:CONNECT_RESPONSE_LENGTH], SINGLE_MASKS)[0]
        if status != 1:
            break

    def oversized(conn: socket.socket, stop: threading.Event) -> None:
        receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
        send_all(conn, garbage, stop)

    client = clients(device(oversized))

    with pytest.raises(IPComAuthenticationError, match=f"has status {status},"):
        client.start_persistent_connection()
    assert not client_threads()


def test_extra_bytes_after_the_connect_response_are_dropped(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    extra = bytes([garbage_byte()]) * 200

    def long_response(conn: socket.socket, stop: threading.Event) -> None:
        receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
        conn.sendall(connect_response() + extra)
        answer_polls(conn, stop)

    client = clients(device(long_response))
    client.start_persistent_connection()

    wait_until(lambda: snapshot_with(client, DISTINCT))

    assert client.statistics.dropped_bytes == len(extra)


def test_a_device_that_accepts_and_never_answers_times_out(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    client = clients(device(silent))

    started = time.monotonic()
    message = handshake_error(client)

    assert message == (
        f"no answer to the connect request from 127.0.0.1:{client.port} within {SOCKET_TIMEOUT:g} s"
    )
    assert time.monotonic() - started < SOCKET_TIMEOUT + STOP_BOUND


@pytest.mark.parametrize("received", [0, CONNECT_REQUEST_LENGTH // 2, CONNECT_REQUEST_LENGTH])
def test_a_device_that_closes_mid_handshake_is_a_clear_error(
    device: Callable[..., Device], clients: Callable[..., IPComClient], received: int
) -> None:
    def closing(conn: socket.socket, stop: threading.Event) -> None:
        receive_exactly(conn, received, stop)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    client = clients(device(closing))

    message = handshake_error(client)

    # A reset can beat the end of the client's connect; either way it says so.
    assert message.startswith(
        (
            f"handshake with 127.0.0.1:{client.port} failed: ",
            f"cannot connect to 127.0.0.1:{client.port}: ",
        )
    )


# A connect response whose status is not 1 (PROTOCOL.md section 3)

REFUSAL_STATUSES = [0, 2, 0x7E, 0xFF]


def refusing(status: int) -> Behaviour:
    """Behave: answer the connect request with a full connect response of `status`, and close."""
    refusal = cipher.encrypt(
        simulator_codec.connect_response(status, "0000", bytes(PUBLIC_KEY_LENGTH)), SINGLE_MASKS
    )

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
        conn.sendall(refusal)

    return behave


@pytest.mark.parametrize("status", REFUSAL_STATUSES)
def test_a_connect_response_with_a_status_other_than_1_is_an_authentication_failure(
    device: Callable[..., Device], clients: Callable[..., IPComClient], status: int
) -> None:
    server = device(refusing(status))
    client = clients(server)

    with pytest.raises(IPComAuthenticationError) as caught:
        client.start_persistent_connection()

    assert str(caught.value) == (
        f"the installation refused the login: its connect response has status {status}, "
        "and only 1 means connected"
    )
    assert not client.connected
    assert not client_threads()
    assert server.connections == 1


QUIET_WINDOW = 2.0
"""Long enough for ten reconnects at the test clients' 0.05..0.2 s backoff."""


@pytest.mark.parametrize("status", [0, 2])
def test_a_reconnect_refused_by_status_ends_the_client_without_retrying(
    device: Callable[..., Device], clients: Callable[..., IPComClient], status: int
) -> None:
    def one_poll_then_close(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        receive_exactly(conn, 2, stop)
        conn.sendall(
            cipher.encrypt(snapshot_message([DISTINCT] * SNAPSHOT_PAYLOAD_LENGTH), DUAL_MASKS)
        )

    server = device(one_poll_then_close, refusing(status))
    client = clients(server)
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    client.start_persistent_connection()

    wait_until(lambda: any(event.authentication_failed for event in events))
    time.sleep(QUIET_WINDOW)

    assert server.connections == 2
    assert events[-1].state is ConnectionState.DISCONNECTED
    assert events[-1].authentication_failed
    assert f"status {status}," in (client.statistics.last_error or "")
    assert not client_threads()


# The command line against hostile devices


@pytest.fixture
def command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, float]]:
    """Run `ipcom` in-process against a device here: its exit code, its stderr, how long it took.

    No IPCOM_* from the developer's shell and no devices.yaml in the working directory.
    """
    for name in list(os.environ):
        if name.startswith("IPCOM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IPCOM_PASSWORD", "demo")
    monkeypatch.chdir(tmp_path)

    def run(server: Device, *argv: str) -> tuple[int, str, float]:
        started = time.monotonic()
        code = main(
            ["--host", "127.0.0.1", "--port", str(server.port), "--username", "demo", *argv]
        )
        elapsed = time.monotonic() - started
        return code, capsys.readouterr().err, elapsed

    return run


def test_status_against_a_device_refusing_by_status_exits_4(
    device: Callable[..., Device], command_line: Callable[..., tuple[int, str, float]]
) -> None:
    server = device(refusing(0))

    code, err, _ = command_line(server, "status")

    assert code == 4
    assert err == (
        f"ipcom: the installation at 127.0.0.1:{server.port} rejected the username or password\n"
    )
    assert server.connections == 1


DRIBBLE_PAUSE = 0.3
"""One byte of the connect response per this many seconds: 40 s for all 135."""


def dribbling(conn: socket.socket, stop: threading.Event) -> None:
    """Behave: send a valid connect response one byte at a time, slowly."""
    receive_exactly(conn, CONNECT_REQUEST_LENGTH, stop)
    for byte in connect_response():
        if stop.wait(DRIBBLE_PAUSE):
            return
        conn.sendall(bytes([byte]))


def test_status_against_a_dribbling_device_ends_at_the_timeout(
    device: Callable[..., Device], command_line: Callable[..., tuple[int, str, float]]
) -> None:
    """The handshake has one deadline, not a socket timeout per byte that arrives."""
    timeout = 2.0
    server = device(dribbling)

    code, err, elapsed = command_line(server, "status", "--timeout", f"{timeout:g}")

    assert code == 3
    assert err.startswith(
        f"ipcom: no complete connect response from 127.0.0.1:{server.port} within {timeout:g} s"
    )
    assert err.count("\n") == 1
    assert elapsed < timeout + 1.5


# Stopping never hangs


def test_stop_during_a_reconnect_to_a_device_that_never_answers(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    def good_then_gone(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        receive_exactly(conn, 2, stop)

    server = device(good_then_gone, silent)
    client = clients(server, socket_timeout=30.0)
    client.start_persistent_connection()

    server.wait_for_connections(2)
    wait_until(lambda: not client.connected)

    stop_promptly(client)
    assert not client_threads()


def test_stop_during_a_flood_of_garbage(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    flood = bytes([garbage_byte()]) * (256 * 1024)

    def flooding(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        while not stop.is_set():
            send_all(conn, flood, stop)

    client = clients(device(flooding))
    client.start_persistent_connection()
    wait_until(lambda: client.statistics.dropped_bytes > 4 * len(flood))

    stop_promptly(client)
    assert not client_threads()


# Liveness and backoff

STORM_WINDOW = 12.0
STORM_LIMIT = 8


def test_a_device_that_closes_after_every_poll_gets_no_storm_of_connections(
    device: Callable[..., Device],
) -> None:
    """Default settings: at most 8 connections in 12 s, however quickly each one ends."""

    def one_poll_then_close(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        receive_exactly(conn, 2, stop)
        conn.sendall(
            cipher.encrypt(snapshot_message([DISTINCT] * SNAPSHOT_PAYLOAD_LENGTH), DUAL_MASKS)
        )

    server = device(one_poll_then_close)
    client = IPComClient("127.0.0.1", server.port, "demo", "demo")
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    client.start_persistent_connection()
    try:
        server.stop.wait(STORM_WINDOW)
        connections = server.connections
    finally:
        stop_promptly(client)
    assert 2 <= connections <= STORM_LIMIT
    assert len(events) <= 2 * STORM_LIMIT + 1


def test_a_stream_that_never_decodes_is_a_dead_link_and_no_write_leaves(
    device: Callable[..., Device], clients: Callable[..., IPComClient]
) -> None:
    """Bytes keep coming but no message decodes: never CONNECTED, nothing written."""
    garbage = bytes([garbage_byte()]) * 64
    frames: list[bytes] = []

    def babbling(conn: socket.socket, stop: threading.Event) -> None:
        handshake(conn, stop)
        while not stop.is_set():
            send_all(conn, garbage, stop)
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return
            frames.extend(
                message.plain
                for message in messages.StreamDecoder(DUAL_MASKS, CLIENT_MESSAGE_LENGTHS).feed(data)
                if message.command == SET_OUTPUTS_COMMAND
            )

    server = device(babbling)
    client = clients(server, stale_after=0.5)
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    client.start_persistent_connection()
    client.turn_on(1, 1)

    server.wait_for_connections(3)

    assert "no decoded message" in (client.statistics.last_error or "")
    assert ConnectionState.CONNECTED not in [event.state for event in events]
    assert not client.connected
    assert client.statistics.snapshots_received == 0
    assert client.statistics.writes_sent == 0
    assert frames == []
