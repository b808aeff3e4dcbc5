"""Sessions without the cipher (PROTOCOL.md section 3): the short form and the NonSecure reply.

The simulator plays both kinds of plaintext installation with its own codec;
raw devices written from the text alone pin the bytes on the wire, so client
and simulator cannot agree on a mistake.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from client_helpers import FAST_TIMING, WAIT, RawDevice, make_client, wait_until

from ipcom import cipher, messages
from ipcom.client import IPComClient
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.protocol import DEVICE_MESSAGE_LENGTHS
from ipcom.simulator import DEFAULT_PUBLIC_KEY, Simulator
from ipcom.writes import WriteOutcome

SINGLE = cipher.single_key_masks()
REQUEST = bytes.fromhex(
    "".join(
        [
            "0102",  # command 1, version 2
            "555345523a64656d6f" + "20" * 17,  # "USER:demo", padded to 26 bytes
            "5057443a64656d6f" + "20" * 18,  # "PWD:demo", padded to 26 bytes
            "0100",  # bus 1, bus lock 0
        ]
    )
)
"""The connect request for demo/demo on bus 1, plain, written out from section 3."""
SHORT_FORM_CIPHER = bytes.fromhex("0da7b4")
"""The short form `01 02 00` single-key: status 1 under K2[0] = 0x0c, then the walk."""
NONSECURE = bytes.fromhex("0e65")
NOT_ENCRYPTED = "is not encrypted"


def not_encrypted_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if NOT_ENCRYPTED in r.getMessage()]


# Against the simulator, end to end


@pytest.fixture(params=["short", "nonsecure"])
def plaintext_device(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    device = Simulator(plaintext=request.param, firmware_version="3.07")
    device.start()
    try:
        yield device
    finally:
        device.stop()


def test_a_plaintext_session_polls_writes_and_is_confirmed(
    plaintext_device: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(plaintext_device)
    with caplog.at_level(logging.INFO, logger="ipcom"):
        client.start_persistent_connection()
        try:
            client.wait_for_snapshot(WAIT)
            plaintext_device.set_output(4, 2, 255)
            assert wait_until(lambda: client.get_expected_value(4, 2) == 255)
            handle = client.set_value(7, 3, 42)
            assert handle.result(WAIT) is WriteOutcome.CONFIRMED
            assert plaintext_device.get_value(7, 3) == 42
            statistics = client.statistics
        finally:
            client.stop_persistent_connection()
    assert statistics.writes_confirmed == 1
    assert statistics.unknown_messages == 0
    assert statistics.dropped_bytes == 0
    assert plaintext_device.protocol_errors == 0
    assert plaintext_device.connections_accepted == 1
    assert len(not_encrypted_lines(caplog)) == 1
    assert "demo" not in not_encrypted_lines(caplog)[0]


def test_the_firmware_version_comes_with_the_135_byte_response_only(
    plaintext_device: Simulator,
) -> None:
    client = make_client(plaintext_device)
    client.start_persistent_connection()
    try:
        client.wait_for_snapshot(WAIT)
        expected = None if plaintext_device.plaintext == "short" else "3.07"
        assert client.firmware_version == expected
        assert client.statistics.firmware_version == expected
    finally:
        client.stop_persistent_connection()


def test_every_reconnect_asks_again_and_logs_again(
    plaintext_device: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(plaintext_device)
    with caplog.at_level(logging.INFO, logger="ipcom"):
        client.start_persistent_connection()
        try:
            client.wait_for_snapshot(WAIT)
            plaintext_device.drop_connections()
            assert wait_until(lambda: client.statistics.reconnects == 1 and client.connected)
            assert client.set_value(1, 1, 255).result(WAIT) is WriteOutcome.CONFIRMED
        finally:
            client.stop_persistent_connection()
    assert plaintext_device.connections_accepted == 2
    assert len(not_encrypted_lines(caplog)) == 2


def test_an_encrypted_session_logs_no_plaintext_line(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(simulator)
    with caplog.at_level(logging.INFO, logger="ipcom"):
        client.start_persistent_connection()
        try:
            client.wait_for_snapshot(WAIT)
        finally:
            client.stop_persistent_connection()
    assert not_encrypted_lines(caplog) == []
    assert client.firmware_version == "0000"


def test_rejected_credentials_on_the_plaintext_connection_are_an_authentication_failure() -> None:
    with Simulator(plaintext="nonsecure", username="owner", password="secret") as device:
        client = make_client(device)
        with pytest.raises(IPComAuthenticationError):
            client.start_persistent_connection()
        assert device.auth_failures == 1


# The simulator's side, byte by byte


def receive(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"closed after {len(data)} of {count} bytes"
        data += chunk
    return data


def test_a_short_form_simulator_answers_0d_a7_b4_then_speaks_plain() -> None:
    with (
        Simulator(plaintext="short") as device,
        socket.create_connection((device.host, device.port), timeout=WAIT) as sock,
    ):
        device.set_output(1, 1, 255)
        sock.sendall(cipher.encrypt(REQUEST, SINGLE))
        assert receive(sock, 3) == SHORT_FORM_CIPHER
        sock.sendall(b"\x05\x01")
        reply = receive(sock, 130)
    assert reply == b"\x05\x01\xff" + bytes(127)


def test_a_nonsecure_simulator_answers_0e_65_then_takes_a_plain_request() -> None:
    with Simulator(plaintext="nonsecure", firmware_version="1234") as device:
        with socket.create_connection((device.host, device.port), timeout=WAIT) as first:
            first.sendall(cipher.encrypt(REQUEST, SINGLE))
            assert receive(first, 2) == NONSECURE
            assert first.recv(1) == b""
        with socket.create_connection((device.host, device.port), timeout=WAIT) as second:
            second.sendall(REQUEST)
            response = receive(second, 135)
            assert response == b"\x01\x02" + b"1234" + b"\x00" + DEFAULT_PUBLIC_KEY
            frame = bytes.fromhex("0401 02 23 3c 00 0a 01 ff00000000000000 fe".replace(" ", ""))
            second.sendall(frame)
            reply = receive(second, 130)
        assert reply == b"\x05\x01\xff" + bytes(127)
        assert device.get_module_values(1) == (255, 0, 0, 0, 0, 0, 0, 0)
        assert device.connections_accepted == 1


def test_a_plain_request_to_an_encrypted_simulator_is_not_understood(simulator: Simulator) -> None:
    with socket.create_connection((simulator.host, simulator.port), timeout=WAIT) as sock:
        sock.sendall(REQUEST)
        assert sock.recv(1) == b""
    assert simulator.protocol_errors == 1
    assert simulator.connections_accepted == 0


# The client's side, against raw devices written from the text


def read_to_end(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    return data


def test_a_second_nonsecure_reply_is_a_failed_handshake_not_a_rejection() -> None:
    requests: list[bytes] = []
    after: list[bytes] = []

    def nonsecure_always(conn: socket.socket, index: int) -> None:
        requests.append(receive(conn, 56))
        conn.sendall(NONSECURE)
        after.append(read_to_end(conn))

    device = RawDevice(nonsecure_always)
    try:
        client = IPComClient("127.0.0.1", device.port, "demo", "demo", **FAST_TIMING)
        with pytest.raises(IPComConnectionError) as caught:
            client.start_persistent_connection()
        assert wait_until(lambda: len(after) == 2)
    finally:
        device.close()
    assert not isinstance(caught.value, IPComAuthenticationError)
    assert str(caught.value) == (
        f"handshake with 127.0.0.1:{device.port} failed: the installation asked for a "
        f"plaintext session again on the plaintext connection"
    )
    assert requests == [cipher.encrypt(REQUEST, SINGLE), REQUEST]
    assert after == [b"", b""], "the client closes without a disconnect request"
    assert device.connections == 2


def take_plain_message(buffered: bytes) -> bytes:
    """The whole client message at the start of `buffered`, plain; empty if not whole yet."""
    lengths = {b"\x05\x01": 2, b"\x03\x01": 2, b"\x04\x01": 17, b"\x02\x01": 2}
    header = buffered[:2]
    if len(header) == 2:
        assert header in lengths, f"not a plain client message: {buffered.hex()}"
    length = lengths.get(header, 2)
    return buffered[:length] if len(buffered) >= length else b""


def test_a_short_form_session_speaks_plain_bytes_on_the_wire() -> None:
    """After `0d a7 b4` the poll is the plain `05 01` and a frame the plain section 4 layout."""
    values = [0] * 128
    values[8:16] = [21, 22, 23, 24, 25, 26, 27, 28]
    received: list[bytes] = []
    frame_arrived = threading.Event()
    goodbye = threading.Event()

    def short_form(conn: socket.socket, index: int) -> None:
        receive(conn, 56)
        conn.sendall(SHORT_FORM_CIPHER)
        conn.settimeout(0.1)
        buffered = b""
        while not device.stopping:
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return
            buffered += chunk
            while message := take_plain_message(buffered):
                buffered = buffered[len(message) :]
                received.append(message)
                if message == b"\x02\x01":
                    goodbye.set()
                    return
                reply = message if message == b"\x03\x01" else b"\x05\x01" + bytes(values)
                # A client that has said goodbye may have closed already: the
                # goodbye behind this request must still be read.
                with contextlib.suppress(OSError):
                    conn.sendall(reply)
                if message[:2] == b"\x04\x01":
                    frame_arrived.set()

    device = RawDevice(short_form)
    client = IPComClient("127.0.0.1", device.port, "demo", "demo", **FAST_TIMING)
    try:
        client.start_persistent_connection()
        snapshot = client.wait_for_snapshot(WAIT)
        assert snapshot.get_module_values(2) == (21, 22, 23, 24, 25, 26, 27, 28)
        client.set_value(2, 3, 0)
        assert frame_arrived.wait(WAIT)
        assert client.firmware_version is None
    finally:
        client.stop_persistent_connection()
        # The device reads on until it has the goodbye: closing it first could drop it.
        said_goodbye = goodbye.wait(WAIT)
        device.close()
    assert said_goodbye, "the client's goodbye never arrived"
    assert received[0] == b"\x05\x01"
    assert received[-1] == b"\x02\x01", "the goodbye is plain too"
    frames = [message for message in received if len(message) == 17]
    assert frames[0] == bytes.fromhex(
        "0401 02 23 3d 00 0a 01 1516001819 1a1b1c 1e".replace(" ", "")
    )


def test_the_decoder_resynchronises_on_the_plain_snapshot_start() -> None:
    decoder = messages.StreamDecoder(cipher.plaintext_masks(), DEVICE_MESSAGE_LENGTHS)
    snapshot = b"\x05\x01" + bytes(range(128))

    decoded = decoder.feed(b"\x63\x01\xaa\xbb" + snapshot[:50])
    decoded += decoder.feed(snapshot[50:] + b"\x03\x01")

    assert [(m.command, m.plain) for m in decoded] == [(5, snapshot), (3, b"\x03\x01")]
    assert decoder.dropped_bytes == 4
    assert decoder.unknown_messages == 1
