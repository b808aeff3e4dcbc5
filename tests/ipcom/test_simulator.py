"""The simulator over real sockets, driven by a minimal raw client built from the codec."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from client_helpers import WAIT, make_client, wait_until

from ipcom import cipher, cli, messages
from ipcom.errors import IPComAuthenticationError
from ipcom.models import StateSnapshot
from ipcom.protocol import (
    AUTH_REJECTED,
    CONNECT_RESPONSE_KEY_OFFSET,
    CONNECT_RESPONSE_LENGTH,
    DEVICE_MESSAGE_LENGTHS,
    KEEPALIVE_COMMAND,
    MESSAGE_VERSION,
    STATUS_COMMAND,
)
from ipcom.simulator import (
    DEFAULT_PUBLIC_KEY,
    UNKNOWN_MESSAGE_PLAIN,
    ReceivedWrite,
    SentSnapshot,
    Simulator,
)
from ipcom.simulator_codec import Addressing, BusType, RequestReader, addressing

TIMEOUT = 10.0


class RawClient:
    """Just enough of a client to talk to the simulator byte by byte."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.masks = b""
        self.decoder: messages.StreamDecoder | None = None

    def close(self) -> None:
        self.sock.close()

    def send_connect_request(self, username: str = "demo", password: str = "demo") -> None:
        request = messages.encode_connect_request(username, password)
        self.sock.sendall(cipher.encrypt(request, cipher.single_key_masks()))

    def read_exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def handshake(self, username: str = "demo", password: str = "demo") -> bytes:
        self.send_connect_request(username, password)
        raw = self.read_exact(CONNECT_RESPONSE_LENGTH)
        public_key = messages.decode_connect_response(raw, cipher.single_key_masks()).public_key
        self.masks = cipher.dual_key_masks(public_key)
        self.decoder = messages.StreamDecoder(self.masks, DEVICE_MESSAGE_LENGTHS)
        return raw

    def send(self, plain: bytes) -> None:
        self.sock.sendall(cipher.encrypt(plain, self.masks))

    def read_until(self, done: Callable[[list[messages.Message]], bool]) -> list[messages.Message]:
        """Feed received bytes to the decoder until `done(messages so far)` holds."""
        assert self.decoder is not None
        received: list[messages.Message] = []
        deadline = time.monotonic() + TIMEOUT
        while not done(received):
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {received} arrived")
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("the simulator closed the connection")
            received += self.decoder.feed(data)
        return received

    def read_messages(self, count: int) -> list[messages.Message]:
        return self.read_until(lambda received: len(received) >= count)

    def poll(self) -> StateSnapshot:
        self.send(messages.encode_status_request())
        (reply,) = self.read_messages(1)
        return StateSnapshot.from_message(reply.plain)

    def is_closed_by_peer(self) -> bool:
        """Whether the simulator closed the connection (EOF or reset) within the timeout."""
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


@pytest.fixture
def client(simulator: Simulator) -> Iterator[RawClient]:
    raw = RawClient(simulator.port)
    raw.handshake()
    simulator.wait_until(lambda sim: sim.active_connections == 1)
    yield raw
    raw.close()


def test_default_public_key_encrypts_poll_like_the_real_installation() -> None:
    assert len(DEFAULT_PUBLIC_KEY) == 128
    assert DEFAULT_PUBLIC_KEY[0] == 0x2F
    assert DEFAULT_PUBLIC_KEY[120] == 0x06
    masks = cipher.dual_key_masks(DEFAULT_PUBLIC_KEY)
    assert cipher.encrypt(messages.encode_status_request(), masks).hex() == "79db"


def test_handshake_sends_status_and_public_key(simulator: Simulator) -> None:
    raw = RawClient(simulator.port)
    try:
        response = raw.handshake()
        plain = cipher.decrypt(response, cipher.single_key_masks())
        assert plain[:CONNECT_RESPONSE_KEY_OFFSET] == b"\x01\x02" + b"0000" + b"\x00"
        assert plain[CONNECT_RESPONSE_KEY_OFFSET:] == DEFAULT_PUBLIC_KEY
        simulator.wait_until(lambda sim: sim.connections_accepted == 1)
        assert simulator.active_connections == 1
        assert simulator.auth_failures == 0
    finally:
        raw.close()


def test_custom_public_key_is_used_for_the_session() -> None:
    key = bytes(range(128))
    with Simulator(public_key=key) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            assert raw.masks == cipher.dual_key_masks(key)
            assert raw.poll() == StateSnapshot.empty()
        finally:
            raw.close()


def test_bad_password_is_rejected_and_closed(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    raw = RawClient(simulator.port)
    try:
        with caplog.at_level(logging.DEBUG, logger="ipcom.simulator"):
            raw.send_connect_request("demo", "s3cret-wrong")
            assert raw.read_exact(3) == AUTH_REJECTED
            simulator.wait_until(lambda sim: sim.auth_failures == 1)
        assert "s3cret-wrong" not in caplog.text
        assert "demo" in caplog.text
        assert simulator.connections_accepted == 0
    finally:
        raw.close()


def test_rejection_is_recognised_by_the_codec(simulator: Simulator) -> None:
    simulator.set_credentials("owner", "other")
    raw = RawClient(simulator.port)
    try:
        with pytest.raises(IPComAuthenticationError):
            raw.handshake("demo", "demo")
    finally:
        raw.close()
    raw = RawClient(simulator.port)
    try:
        raw.handshake("owner", "other")
    finally:
        raw.close()


def test_malformed_connect_request_counts_a_protocol_error(simulator: Simulator) -> None:
    raw = RawClient(simulator.port)
    try:
        raw.sock.sendall(bytes(56))
        assert raw.is_closed_by_peer()
        simulator.wait_until(lambda sim: sim.protocol_errors == 1)
        assert simulator.auth_failures == 0
    finally:
        raw.close()


def test_poll_returns_snapshot_of_state(simulator: Simulator, client: RawClient) -> None:
    simulator.set_output(1, 1, 255)
    simulator.set_output(6, 2, 40)
    simulator.set_output(16, 8, 7)
    snapshot = client.poll()
    assert snapshot == simulator.snapshot()
    assert snapshot.get_value(1, 1) == 255
    assert snapshot.get_value(6, 2) == 40
    assert snapshot.get_value(16, 8) == 7
    assert simulator.polls_received == 1


def test_requests_split_and_glued_by_the_client(simulator: Simulator, client: RawClient) -> None:
    poll = cipher.encrypt(messages.encode_status_request(), client.masks)
    keepalive = cipher.encrypt(messages.encode_keepalive(), client.masks)
    client.sock.sendall(poll + keepalive + poll[:1])
    client.sock.sendall(poll[1:])
    replies = client.read_messages(3)
    assert [reply.command for reply in replies] == [
        STATUS_COMMAND,
        KEEPALIVE_COMMAND,
        STATUS_COMMAND,
    ]


def test_set_outputs_changes_state_and_is_recorded(simulator: Simulator, client: RawClient) -> None:
    seen: list[ReceivedWrite] = []
    unsubscribe = simulator.on_write(seen.append)
    values = (255, 0, 255, 0, 0, 0, 0, 255)
    client.send(messages.encode_set_outputs(3, values))
    (answer,) = client.read_messages(1)
    assert StateSnapshot.from_message(answer.plain).get_module_values(3) == values
    write = simulator.wait_for_write(lambda w: w.module == 3)
    assert write.values == values
    assert simulator.get_module_values(3) == values
    assert simulator.writes() == [write]
    assert seen == [write]
    assert client.poll().get_module_values(3) == values

    unsubscribe()
    client.send(messages.encode_set_outputs(4, (1,) * 8))
    simulator.wait_for_value(4, 8, 1)
    assert seen == [write]
    simulator.clear_writes()
    assert simulator.writes() == []


def test_bad_checksum_is_counted_and_ignored(simulator: Simulator, client: RawClient) -> None:
    frame = bytearray(messages.encode_set_outputs(2, (255,) * 8))
    frame[-1] ^= 0xFF
    client.send(bytes(frame))
    (answer,) = client.read_messages(1)
    assert StateSnapshot.from_message(answer.plain).get_module_values(2) == (0,) * 8
    simulator.wait_until(lambda sim: sim.protocol_errors == 1)
    assert simulator.get_module_values(2) == (0,) * 8
    assert simulator.writes() == []
    assert client.poll().get_module_values(2) == (0,) * 8


def test_unknown_client_message_is_a_protocol_error(
    simulator: Simulator, client: RawClient
) -> None:
    client.send(bytes([9, MESSAGE_VERSION]))
    simulator.wait_until(lambda sim: sim.protocol_errors >= 1)
    assert client.poll() == simulator.snapshot()


def test_keepalive_is_answered(simulator: Simulator, client: RawClient) -> None:
    client.send(messages.encode_keepalive())
    (reply,) = client.read_messages(1)
    assert reply.plain == messages.encode_keepalive()
    assert simulator.keepalives_received == 1


def test_disconnect_request_closes_the_connection(simulator: Simulator, client: RawClient) -> None:
    client.send(messages.encode_disconnect_request())
    assert client.is_closed_by_peer()
    simulator.wait_until(lambda sim: sim.active_connections == 0)
    assert simulator.disconnects_received == 1


def test_press_toggles_relay(simulator: Simulator) -> None:
    simulator.press(1, 2)
    assert simulator.get_value(1, 2) == 255
    simulator.press(1, 2)
    assert simulator.get_value(1, 2) == 0


def test_press_toggles_dimmer_to_last_level(simulator: Simulator) -> None:
    simulator.press(6, 1)
    assert simulator.get_value(6, 1) == 100
    simulator.set_output(6, 1, 35)
    simulator.press(6, 1)
    assert simulator.get_value(6, 1) == 0
    simulator.press(6, 1)
    assert simulator.get_value(6, 1) == 35


def test_set_output_validates(simulator: Simulator) -> None:
    with pytest.raises(ValueError):
        simulator.set_output(17, 1, 0)
    with pytest.raises(ValueError):
        simulator.set_output(1, 9, 0)
    with pytest.raises(ValueError):
        simulator.set_output(1, 1, 256)
    with pytest.raises(ValueError):
        simulator.press(0, 1)


def test_chunked_replies_decode(simulator: Simulator, client: RawClient) -> None:
    simulator.chunk_size = 7
    simulator.set_output(5, 5, 255)
    assert client.poll().get_value(5, 5) == 255
    client.send(messages.encode_keepalive())
    (reply,) = client.read_messages(1)
    assert reply.command == KEEPALIVE_COMMAND


def test_glued_replies_decode(simulator: Simulator, client: RawClient) -> None:
    simulator.glue_replies = True
    client.send(messages.encode_status_request())
    client.send(messages.encode_keepalive())
    replies = client.read_messages(2)
    assert [reply.command for reply in replies] == [STATUS_COMMAND, KEEPALIVE_COMMAND]


def test_held_reply_is_flushed_without_a_next_one(simulator: Simulator, client: RawClient) -> None:
    simulator.glue_replies = True
    assert client.poll() == simulator.snapshot()


def test_delayed_reply_arrives(simulator: Simulator, client: RawClient) -> None:
    simulator.reply_delay = 0.3
    assert client.poll() == simulator.snapshot()
    simulator.reply_delay = 0
    assert simulator.reply_delay == 0


def test_a_frame_that_queued_during_a_reply_delay_has_no_known_arrival(
    simulator: Simulator, client: RawClient
) -> None:
    """The press audit must not read such a frame's read time as the time it was sent."""
    client.send(messages.encode_set_outputs(3, (255,) + (0,) * 7))
    client.read_messages(1)
    assert simulator.wait_for_write(lambda w: w.module == 3).arrival_known

    simulator.reply_delay = 0.3
    client.send(messages.encode_status_request())
    client.send(messages.encode_set_outputs(4, (255,) + (0,) * 7))
    client.read_messages(2)
    simulator.reply_delay = 0
    assert not simulator.wait_for_write(lambda w: w.module == 4).arrival_known


def test_injected_unknown_alone_is_skipped(simulator: Simulator, client: RawClient) -> None:
    assert client.decoder is not None
    decoder = client.decoder
    simulator.inject_unknown()
    client.read_until(lambda _: decoder.unknown_messages >= 1)
    simulator.set_output(2, 3, 255)
    assert client.poll().get_value(2, 3) == 255


def test_injected_unknown_glued_in_front_of_a_reply(
    simulator: Simulator, client: RawClient
) -> None:
    assert client.decoder is not None
    simulator.inject_unknown(glued=True)
    simulator.set_output(7, 7, 255)
    assert client.poll().get_value(7, 7) == 255
    assert client.decoder.unknown_messages >= 1
    assert client.decoder.dropped_bytes >= len(UNKNOWN_MESSAGE_PLAIN)


def test_injected_raw_bytes_go_out_as_given(simulator: Simulator, client: RawClient) -> None:
    simulator.inject_unknown(b"\x23\x01\xaa")
    assert client.read_exact(3) == b"\x23\x01\xaa"


def test_all_faults_at_once_still_decode(simulator: Simulator, client: RawClient) -> None:
    simulator.chunk_size = 5
    simulator.glue_replies = True
    simulator.reply_delay = 0.05
    simulator.inject_unknown(glued=True)
    simulator.set_output(9, 1, 255)
    for _ in range(3):
        client.send(messages.encode_status_request())
    client.send(messages.encode_keepalive())
    replies = client.read_messages(4)
    assert [reply.command for reply in replies] == [STATUS_COMMAND] * 3 + [KEEPALIVE_COMMAND]
    assert StateSnapshot.from_message(replies[0].plain).get_value(9, 1) == 255


def test_freeze_silences_replies(simulator: Simulator, client: RawClient) -> None:
    simulator.freeze()
    assert simulator.frozen
    client.send(messages.encode_status_request())
    client.send(messages.encode_set_outputs(1, (255,) * 8))
    simulator.wait_until(lambda sim: sim.ignored_messages == 2)
    assert simulator.polls_received == 0
    assert simulator.get_module_values(1) == (0,) * 8
    client.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        client.sock.recv(4096)
    client.sock.settimeout(TIMEOUT)
    assert simulator.active_connections == 1

    simulator.unfreeze()
    assert client.poll() == StateSnapshot.empty()


def test_handshake_waits_while_frozen(simulator: Simulator) -> None:
    simulator.freeze()
    raw = RawClient(simulator.port)
    try:
        raw.send_connect_request()
        raw.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            raw.sock.recv(4096)
        raw.sock.settimeout(TIMEOUT)
        simulator.unfreeze()
        assert len(raw.read_exact(CONNECT_RESPONSE_LENGTH)) == CONNECT_RESPONSE_LENGTH
    finally:
        raw.close()


def test_drop_connections_closes_every_client(simulator: Simulator, client: RawClient) -> None:
    second = RawClient(simulator.port)
    try:
        second.handshake()
        simulator.wait_until(lambda sim: sim.active_connections == 2)
        simulator.drop_connections()
        assert simulator.active_connections == 0
        assert client.is_closed_by_peer()
        assert second.is_closed_by_peer()
    finally:
        second.close()
    third = RawClient(simulator.port)
    try:
        third.handshake()
        assert third.poll() == simulator.snapshot()
    finally:
        third.close()


def test_clients_share_state(simulator: Simulator, client: RawClient) -> None:
    other = RawClient(simulator.port)
    try:
        other.handshake()
        other.send(messages.encode_set_outputs(8, (255,) * 8))
        simulator.wait_for_write()
        assert client.poll().get_module_values(8) == (255,) * 8
    finally:
        other.close()


def test_restart_on_the_same_port(simulator: Simulator) -> None:
    raw = RawClient(simulator.port)
    raw.handshake()
    simulator.set_output(1, 1, 255)
    port = simulator.port
    simulator.stop()
    assert raw.is_closed_by_peer()
    raw.close()
    assert not simulator.running

    simulator.start()
    assert simulator.port == port
    raw = RawClient(port)
    try:
        raw.handshake()
        assert raw.poll().get_value(1, 1) == 255
    finally:
        raw.close()

    simulator.stop()
    with Simulator(port=port) as replacement:
        assert replacement.port == port
        raw = RawClient(port)
        try:
            raw.handshake()
        finally:
            raw.close()


def test_stop_joins_every_thread_and_is_idempotent() -> None:
    before = set(threading.enumerate())
    device = Simulator(dimmer_modules={6})
    device.start()
    device.start_activity([(1, 1), (6, 1)], mean_interval=0.01, seed=1)
    clients = [RawClient(device.port) for _ in range(3)]
    try:
        for raw in clients:
            raw.handshake()
        device.wait_until(lambda sim: sim.active_connections == 3)
        device.reply_delay = 30
        clients[0].send(messages.encode_status_request())
        device.wait_until(lambda sim: sim.polls_received == 1)
        device.stop()
        assert set(threading.enumerate()) <= before
        device.stop()
    finally:
        for raw in clients:
            raw.close()


def test_start_twice_is_refused(simulator: Simulator) -> None:
    with pytest.raises(RuntimeError):
        simulator.start()


def test_wait_for_polls_counts_from_the_call(simulator: Simulator, client: RawClient) -> None:
    client.poll()
    with pytest.raises(TimeoutError):
        simulator.wait_for_polls(1, timeout=0.05)

    done = threading.Event()

    def keep_polling() -> None:
        while not done.is_set():
            client.poll()

    poller = threading.Thread(target=keep_polling)
    poller.start()
    try:
        simulator.wait_for_polls(2)
    finally:
        done.set()
        poller.join(TIMEOUT)
    assert simulator.polls_received >= 3


def test_waits_time_out_with_a_clear_message(simulator: Simulator) -> None:
    with pytest.raises(TimeoutError, match=r"output 1\.1 is 0, not 255"):
        simulator.wait_for_value(1, 1, 255, timeout=0.01)
    with pytest.raises(TimeoutError, match="no matching write"):
        simulator.wait_for_write(timeout=0.01)
    with pytest.raises(TimeoutError, match="0 of 1 polls"):
        simulator.wait_for_polls(1, timeout=0.01)


def test_activity_presses_switches(simulator: Simulator) -> None:
    pressed = threading.Event()

    class PressWatcher(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "switch 2.2 pressed" in record.getMessage():
                pressed.set()

    logger = logging.getLogger("ipcom.simulator")
    watcher = PressWatcher(logging.INFO)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(watcher)
    try:
        simulator.start_activity([(2, 2)], mean_interval=0.01, seed=3)
        assert pressed.wait(TIMEOUT)
        simulator.stop_activity()
    finally:
        logger.removeHandler(watcher)
        logger.setLevel(previous_level)
    value = simulator.get_value(2, 2)
    simulator.press(2, 2)
    assert simulator.get_value(2, 2) == 255 - value


def test_non_loopback_bind_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ipcom.simulator"), Simulator(host="0.0.0.0"):
        pass
    assert "reachable from other machines" in caplog.text


def test_rejects_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        Simulator(public_key=b"short")
    with pytest.raises(ValueError):
        Simulator(password="x" * 23)
    with pytest.raises(ValueError):
        Simulator(dimmer_modules={17})
    device = Simulator()
    with pytest.raises(ValueError):
        device.chunk_size = 0
    with pytest.raises(ValueError):
        device.reply_delay = -1
    with pytest.raises(ValueError):
        device.start_activity([])


# The device PROTOCOL.md revision 2 describes


def connect_request(bus: int = 1, lock: int = 0) -> bytes:
    """A connect request for demo/demo naming `bus` and `lock` in bytes 54 and 55."""
    fields = b"USER:demo".ljust(26) + b"PWD:demo".ljust(26)
    return bytes([1, 2]) + fields + bytes([bus, lock])


def frame(module: int, values: tuple[int, ...], *, bus_byte: int = 2, base: int = 60) -> bytes:
    """A set-outputs message built from section 4's layout, for any bus byte and base."""
    checksum = 1
    for value in values:
        checksum ^= value
    return bytes([4, 1, bus_byte, 0x23, base + module - 1, 0, 10, 1, *values, checksum])


def status_of(response: bytes) -> int:
    """Byte 0 of a connect response: 1 connected, anything else not."""
    return cipher.decrypt(response, cipher.single_key_masks())[0]


def read_answer(client: RawClient) -> StateSnapshot:
    (answer,) = client.read_messages(1)
    return StateSnapshot.from_message(answer.plain)


def test_every_frame_is_answered_with_a_snapshot_taken_after_it(
    simulator: Simulator, client: RawClient
) -> None:
    simulator.set_output(9, 1, 255)
    for values in ((255,) * 8, (0, 255, 0, 255, 0, 255, 0, 255)):
        client.send(frame(2, values))
        answer = read_answer(client)
        assert answer.get_module_values(2) == values
        assert answer == simulator.snapshot()
    assert simulator.polls_received == 0


def test_with_bus_latency_the_answer_still_follows_the_effect() -> None:
    with Simulator(bus_latency=0.3) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.send(frame(4, (255,) * 8))
            raw.send(messages.encode_status_request())
            answers = [StateSnapshot.from_message(m.plain) for m in raw.read_messages(2)]
        finally:
            raw.close()
        assert [answer.get_module_values(4) for answer in answers] == [(255,) * 8] * 2
        assert device.bus_latency == 0.3
    with pytest.raises(ValueError):
        Simulator(bus_latency=-1)


def test_a_device_that_does_not_answer_frames_still_applies_them(
    simulator: Simulator, client: RawClient
) -> None:
    simulator.answer_frames = False
    client.send(frame(5, (7,) * 8))
    simulator.wait_for_value(5, 8, 7)
    assert client.poll().get_module_values(5) == (7,) * 8
    assert simulator.polls_received == 1


GOOD = (255, 0, 0, 0, 0, 0, 0, 0)


def corrupt(position: int, value: int) -> bytes:
    message = bytearray(frame(2, GOOD))
    message[position] = value
    return bytes(message)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (frame(2, GOOD, bus_byte=1), "bus byte 1"),
        (corrupt(3, 0x24), "starts with 0x24"),
        (frame(0, GOOD), "addresses 59"),
        (frame(17, GOOD), "addresses 76"),
        (frame(2, GOOD, base=30), "addresses 31"),
        (corrupt(5, 1), "from address 1"),
        (corrupt(6, 9), "length field is 9"),
        (corrupt(7, 2), "data starts with 0x02"),
        (corrupt(16, 0), "checksum"),
    ],
)
def test_a_wrong_frame_changes_nothing_is_logged_and_answered(
    simulator: Simulator,
    client: RawClient,
    caplog: pytest.LogCaptureFixture,
    message: bytes,
    reason: str,
) -> None:
    simulator.set_output(1, 1, 255)
    before = simulator.snapshot()
    with caplog.at_level(logging.WARNING, logger="ipcom.simulator"):
        client.send(message)
        assert read_answer(client) == before
    assert simulator.snapshot() == before
    assert simulator.writes() == []
    assert simulator.protocol_errors == 1
    assert reason in caplog.text


def test_a_dimmer_holds_at_most_100(
    simulator: Simulator, client: RawClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ipcom.simulator"):
        client.send(frame(6, (255, 101, 100, 42, 0, 0, 0, 0)))
        answer = read_answer(client)
    assert answer.get_module_values(6) == (100, 100, 100, 42, 0, 0, 0, 0)
    assert simulator.get_module_values(6) == (100, 100, 100, 42, 0, 0, 0, 0)
    assert "wrote 255 to dimmer 6.1" in caplog.text
    assert "wrote 101 to dimmer 6.2" in caplog.text
    assert simulator.writes()[0].values == (255, 101, 100, 42, 0, 0, 0, 0)
    client.send(frame(5, (255, 150, 0, 0, 0, 0, 0, 0)))
    assert read_answer(client).get_module_values(5)[:2] == (255, 150)
    with pytest.raises(ValueError, match="dimmer"):
        simulator.set_output(6, 1, 101)


@pytest.mark.parametrize(("bus", "lock"), [(2, 0), (0, 0), (1, 1)])
def test_a_connect_request_for_another_bus_is_not_connected(
    simulator: Simulator, bus: int, lock: int
) -> None:
    raw = RawClient(simulator.port)
    try:
        raw.sock.sendall(cipher.encrypt(connect_request(bus, lock), cipher.single_key_masks()))
        assert status_of(raw.read_exact(CONNECT_RESPONSE_LENGTH)) == 0
        assert raw.is_closed_by_peer()
    finally:
        raw.close()
    simulator.wait_until(lambda sim: sim.protocol_errors == 1)
    assert simulator.connections_accepted == 0
    assert simulator.auth_failures == 0


def test_a_bus_2_installation_wants_bus_2_in_the_connect_request() -> None:
    with Simulator(bus=2) as device:
        raw = RawClient(device.port)
        try:
            raw.sock.sendall(cipher.encrypt(connect_request(2), cipher.single_key_masks()))
            response = cipher.decrypt(
                raw.read_exact(CONNECT_RESPONSE_LENGTH), cipher.single_key_masks()
            )
            assert response[0] == 1
            raw.masks = cipher.dual_key_masks(response[CONNECT_RESPONSE_KEY_OFFSET:])
            raw.decoder = messages.StreamDecoder(raw.masks, DEVICE_MESSAGE_LENGTHS)
            raw.send(frame(16, (9,) * 8, bus_byte=2, base=60))
            assert read_answer(raw).get_module_values(16) == (9,) * 8
        finally:
            raw.close()
        assert device.bus == 2
        refused = RawClient(device.port)
        try:
            refused.send_connect_request()
            assert status_of(refused.read_exact(CONNECT_RESPONSE_LENGTH)) == 0
            assert refused.is_closed_by_peer()
        finally:
            refused.close()


def test_a_bibus_takes_bus_byte_1_and_base_30() -> None:
    with Simulator(bus_type=BusType.BIBUS) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.send(frame(1, (3,) * 8, bus_byte=1, base=30))
            assert read_answer(raw).get_module_values(1) == (3,) * 8
            raw.send(frame(1, (4,) * 8))
            assert read_answer(raw).get_module_values(1) == (3,) * 8
        finally:
            raw.close()
        assert device.protocol_errors == 1


@pytest.mark.parametrize(
    ("bus", "bus_type", "tricom", "expected"),
    [
        (1, BusType.MINIDO, False, Addressing(2, 60)),
        (1, BusType.OTHER, True, Addressing(2, 60)),
        (1, BusType.BIBUS, True, Addressing(2, 30)),
        (1, BusType.BIBUS, False, Addressing(1, 30)),
        (1, BusType.OTHER, False, Addressing(1, 60)),
        (2, BusType.OTHER, False, Addressing(2, 60)),
        (2, BusType.MINIDO, False, Addressing(2, 60)),
        (2, BusType.BIBUS, False, Addressing(2, 30)),
    ],
)
def test_addressing_follows_the_table_of_section_6(
    bus: int, bus_type: BusType, tricom: bool, expected: Addressing
) -> None:
    assert addressing(bus, bus_type, tricom=tricom) == expected


def test_with_a_new_key_per_connection_an_old_key_is_not_understood() -> None:
    with Simulator(new_key_per_connection=True) as device:
        first = RawClient(device.port)
        try:
            old_key = messages.decode_connect_response(
                first.handshake(), cipher.single_key_masks()
            ).public_key
        finally:
            first.close()
        second = RawClient(device.port)
        try:
            new_key = messages.decode_connect_response(
                second.handshake(), cipher.single_key_masks()
            ).public_key
            assert new_key not in (old_key, DEFAULT_PUBLIC_KEY)
            second.sock.sendall(
                cipher.encrypt(messages.encode_status_request(), cipher.dual_key_masks(old_key))
            )
            device.wait_until(lambda sim: sim.protocol_errors >= 1)
            assert device.polls_received == 0
            assert second.poll() == device.snapshot()
        finally:
            second.close()


def test_a_write_records_what_its_connection_had_been_sent(
    simulator: Simulator, client: RawClient
) -> None:
    client.poll()
    client.send(frame(3, (255,) * 8))
    read_answer(client)
    (write,) = simulator.writes()
    assert write.connection == 1
    (sent,) = write.snapshots
    assert sent.taken_at <= sent.sent_at <= write.applied_at


def test_the_client_follows_a_new_key_after_a_reconnect() -> None:
    with Simulator(new_key_per_connection=True) as device:
        client = make_client(device)
        client.start_persistent_connection()
        try:
            client.wait_for_snapshot(WAIT)
            device.drop_connections()
            device.wait_until(lambda sim: sim.connections_accepted == 2, WAIT)
            device.set_output(7, 3, 255)
            assert wait_until(lambda: client.get_expected_value(7, 3) == 255)
        finally:
            client.stop_persistent_connection()


# Every device a client must survive


def poll_cipher(client: RawClient) -> bytes:
    return cipher.encrypt(messages.encode_status_request(), client.masks)


def snapshots_sent(simulator: Simulator) -> list[SentSnapshot]:
    """Subscribe to the simulator's sent snapshots; the list fills as they go out.

    Each is added right after its last byte went out, so a client may read it
    first: wait for the list, or stop the simulator, before reading it.
    """
    sent: list[SentSnapshot] = []
    simulator.on_snapshot(sent.append)
    return sent


def test_every_device_option_is_a_keyword_and_a_property() -> None:
    device = Simulator(
        reply_delay=0.2,
        answer_frames=False,
        request_time=0.3,
        report_interval=0.5,
        drop_after_frames=2,
        connect_dribble=0.01,
        connect_status=3,
    )
    assert (device.reply_delay, device.answer_frames, device.request_time) == (0.2, False, 0.3)
    assert (device.report_interval, device.drop_after_frames) == (0.5, 2)
    assert (device.connect_dribble, device.connect_status) == (0.01, 3)
    device.report_interval = None
    device.connect_dribble = None
    assert (device.report_interval, device.connect_dribble) == (None, None)
    defaults = Simulator()
    assert (defaults.request_time, defaults.report_interval, defaults.drop_after_frames) == (
        0.0,
        None,
        0,
    )
    assert (defaults.connect_dribble, defaults.connect_status, defaults.answer_frames) == (
        None,
        1,
        True,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("request_time", -0.1),
        ("report_interval", 0.0),
        ("drop_after_frames", -1),
        ("connect_dribble", -0.01),
        ("connect_status", 256),
        ("connect_status", -1),
        ("reply_delay", -1.0),
    ],
)
def test_device_options_refuse_impossible_values(option: str, value: float) -> None:
    with pytest.raises(ValueError):
        Simulator(**{option: value})


def test_a_reply_is_taken_before_its_delay(simulator: Simulator, client: RawClient) -> None:
    """`reply_delay` makes a reply late and its snapshot as old as the delay."""
    sent = snapshots_sent(simulator)
    simulator.reply_delay = 0.3
    client.poll()
    assert wait_until(lambda: len(sent) == 1)
    (snapshot,) = sent
    assert snapshot.sent_at - snapshot.taken_at >= 0.3


def test_a_serial_device_reads_the_state_after_the_request_time() -> None:
    with Simulator(request_time=0.3) as device:
        sent = snapshots_sent(device)
        raw = RawClient(device.port)
        try:
            raw.handshake()
            asked_at = time.monotonic()
            raw.poll()
            raw.send(frame(3, (255,) * 8))
            read_answer(raw)
        finally:
            raw.close()
        write = device.wait_for_write()
    first, second = sent
    assert first.taken_at - asked_at >= 0.3
    assert write.applied_at - write.received_at >= 0.3
    assert second.taken_at >= write.applied_at
    assert device.requests_received == 2


def test_a_serial_device_takes_up_the_next_request_only_after_answering() -> None:
    with Simulator(request_time=0.3) as device:
        sent = snapshots_sent(device)
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.sock.sendall(poll_cipher(raw) * 2)
            raw.read_messages(2)
        finally:
            raw.close()
    first, second = sent
    assert second.taken_at - first.sent_at >= 0.3


def test_a_frame_that_queued_during_a_request_time_has_no_known_arrival() -> None:
    """It was read ahead while the device was busy, before the reply it queued behind."""
    with Simulator(request_time=1.0) as device:
        sent = snapshots_sent(device)
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.send(messages.encode_status_request())
            device.wait_until(lambda sim: sim.requests_received == 1)
            raw.send(frame(4, (255,) * 8))
            raw.read_messages(2)
        finally:
            raw.close()
        write = device.wait_for_write()
    assert not write.arrival_known
    assert write.snapshots == ()
    assert write.received_at <= sent[0].sent_at


def test_unasked_reports_come_at_the_interval(simulator: Simulator, client: RawClient) -> None:
    simulator.set_output(2, 2, 255)
    simulator.report_interval = 0.1
    reports = client.read_messages(3)
    assert all(StateSnapshot.from_message(r.plain).get_value(2, 2) == 255 for r in reports)
    assert simulator.reports_sent >= 3
    assert simulator.polls_received == 0


def test_reports_and_replies_never_interleave_on_the_wire(
    simulator: Simulator, client: RawClient
) -> None:
    """Reports go through the reply path: split, delayed and glued, but whole and in turn."""
    assert client.decoder is not None
    sent = snapshots_sent(simulator)
    simulator.report_interval = 0.02
    simulator.chunk_size = 3
    for _ in range(5):
        client.send(messages.encode_status_request())
        client.read_until(lambda received: any(m.command == STATUS_COMMAND for m in received))
    client.send(messages.encode_keepalive())
    client.read_until(lambda received: any(m.command == KEEPALIVE_COMMAND for m in received))
    assert simulator.reports_sent >= 1
    assert (client.decoder.unknown_messages, client.decoder.dropped_bytes) == (0, 0)
    assert wait_until(lambda: len(sent) >= 5 + 1)


def test_reports_stop_when_the_interval_is_none() -> None:
    with Simulator(report_interval=0.05) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            device.wait_until(lambda sim: sim.reports_sent >= 2)
            device.report_interval = None
            sent = device.reports_sent
            for _ in range(3):
                raw.send(messages.encode_status_request())
            device.wait_until(lambda sim: sim.polls_received == 3)
            raw.read_messages(3)
            assert device.reports_sent <= sent + 1
        finally:
            raw.close()


def test_a_drop_right_after_a_frame_applies_it_and_answers_nothing(
    simulator: Simulator, client: RawClient
) -> None:
    simulator.drop_after_frames = 1
    client.send(frame(5, (255,) * 8))
    assert client.is_closed_by_peer()
    assert client.decoder is not None
    assert client.decoder.buffered == 0
    assert simulator.get_module_values(5) == (255,) * 8
    assert simulator.drop_after_frames == 0
    simulator.wait_until(lambda sim: sim.active_connections == 0)

    again = RawClient(simulator.port)
    try:
        again.handshake()
        again.send(frame(5, (0,) * 8))
        assert read_answer(again).get_module_values(5) == (0,) * 8
    finally:
        again.close()


def test_a_wrong_frame_does_not_use_up_a_drop(simulator: Simulator, client: RawClient) -> None:
    simulator.drop_after_frames = 1
    client.send(frame(2, GOOD, bus_byte=1))
    read_answer(client)
    assert simulator.drop_after_frames == 1


def test_a_dribbled_connect_response_arrives_byte_by_byte() -> None:
    with Simulator(connect_dribble=0.01) as device:
        raw = RawClient(device.port)
        try:
            asked_at = time.monotonic()
            raw.handshake()
            assert time.monotonic() - asked_at >= (CONNECT_RESPONSE_LENGTH - 1) * 0.01
            assert raw.poll() == device.snapshot()
        finally:
            raw.close()
        client = make_client(device)
        client.start_persistent_connection()
        try:
            client.wait_for_snapshot(WAIT)
        finally:
            client.stop_persistent_connection()


@pytest.mark.parametrize("status", [0, 2, 255])
def test_a_connect_status_other_than_1_refuses_and_closes(status: int) -> None:
    with Simulator(connect_status=status) as device:
        raw = RawClient(device.port)
        try:
            raw.send_connect_request()
            response = raw.read_exact(CONNECT_RESPONSE_LENGTH)
            assert len(response) == CONNECT_RESPONSE_LENGTH
            assert status_of(response) == status
            assert raw.is_closed_by_peer()
        finally:
            raw.close()
        assert device.connections_accepted == 0
        device.connect_status = 1
        accepted = RawClient(device.port)
        try:
            assert status_of(accepted.handshake()) == 1
        finally:
            accepted.close()


def test_with_a_connect_status_wrong_credentials_still_get_7e_e3() -> None:
    with Simulator(connect_status=2) as device:
        raw = RawClient(device.port)
        try:
            raw.send_connect_request("demo", "wrong")
            assert raw.read_exact(3) == AUTH_REJECTED
        finally:
            raw.close()


# Overlapping requests: the vendor's pacing, counted exactly


def test_two_polls_back_to_back_overlap_once() -> None:
    with Simulator(request_time=0.3) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.sock.sendall(poll_cipher(raw) * 2)
            raw.read_messages(2)
        finally:
            raw.close()
        assert (device.requests_received, device.overlapping_requests) == (2, 1)


def test_a_client_that_waits_for_each_answer_never_overlaps() -> None:
    with Simulator(request_time=0.3) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.poll()
            raw.send(messages.encode_keepalive())
            raw.read_messages(1)
            raw.send(frame(1, (255,) * 8))
            read_answer(raw)
            raw.poll()
        finally:
            raw.close()
        assert (device.requests_received, device.overlapping_requests) == (4, 0)


def test_a_request_begun_before_the_answer_overlaps() -> None:
    """One byte of the next poll is enough: the client sent it before it had the answer."""
    with Simulator(request_time=0.3) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            poll = poll_cipher(raw)
            raw.send(messages.encode_status_request())
            device.wait_until(lambda sim: sim.requests_received == 1)
            raw.sock.sendall(poll[:1])
            raw.read_messages(1)
            assert device.overlapping_requests == 1
            raw.sock.sendall(poll[1:])
            raw.read_messages(1)
        finally:
            raw.close()
        assert (device.requests_received, device.overlapping_requests) == (2, 1)


def test_a_frame_left_unanswered_is_answered_once_applied() -> None:
    with Simulator(answer_frames=False, request_time=0.3) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.send(frame(2, (255,) * 8))
            device.wait_for_write()
            raw.poll()
            raw.sock.sendall(cipher.encrypt(frame(3, (255,) * 8), raw.masks) + poll_cipher(raw))
            raw.read_messages(1)
        finally:
            raw.close()
        assert (device.requests_received, device.overlapping_requests) == (4, 1)


def test_a_disconnect_request_is_not_a_request_that_overlaps() -> None:
    with Simulator(request_time=0.3) as device:
        raw = RawClient(device.port)
        try:
            raw.handshake()
            raw.sock.sendall(
                poll_cipher(raw) + cipher.encrypt(messages.encode_disconnect_request(), raw.masks)
            )
            raw.read_messages(1)
            assert raw.is_closed_by_peer()
        finally:
            raw.close()
        device.wait_until(lambda sim: sim.disconnects_received == 1)
        assert (device.requests_received, device.overlapping_requests) == (1, 0)


def test_a_held_reply_counts_as_answered_when_held(simulator: Simulator, client: RawClient) -> None:
    simulator.glue_replies = True
    client.poll()
    client.poll()
    assert simulator.overlapping_requests == 0
    client.sock.sendall(poll_cipher(client) * 2)
    client.read_messages(2)
    assert simulator.overlapping_requests == 1


# The device's own framing


def test_the_request_reader_reassembles_and_resynchronises() -> None:
    masks = cipher.dual_key_masks(DEFAULT_PUBLIC_KEY)
    poll = cipher.encrypt(messages.encode_status_request(), masks)
    keepalive = cipher.encrypt(messages.encode_keepalive(), masks)
    set_outputs = cipher.encrypt(frame(1, (255,) * 8), masks)
    reader = RequestReader(masks)

    assert reader.feed(set_outputs[:5]) == []
    assert reader.pending_command == 4
    whole = reader.feed(set_outputs[5:] + poll + keepalive[:1])
    assert [request.command for request in whole] == [4, 5]
    assert whole[0].plain == frame(1, (255,) * 8)
    assert reader.pending_command == 3
    assert [r.command for r in reader.feed(keepalive[1:])] == [3]
    assert reader.pending_command is None

    garbage = cipher.encrypt(bytes([9, 1, 7, 7]), masks)
    assert [r.command for r in reader.feed(garbage + keepalive + poll)] == [3, 5]
    assert reader.unknown_messages == 1
    assert reader.dropped_bytes == len(garbage)
    assert reader.feed(garbage[:2]) == []
    assert reader.pending_command is None


# ipcom simulate


def test_ipcom_simulate_takes_every_device_option(simulate: list[Simulator]) -> None:
    """The flags reach the simulator; the command returns at once when already stopped."""
    started = simulate
    flags = ["simulate", "--port", "0"]
    assert cli.main(flags) == 0
    (plain,) = started
    assert (plain.answer_frames, plain.reply_delay, plain.request_time) == (True, 0.0, 0.0)
    assert (plain.report_interval, plain.connect_dribble, plain.connect_status) == (None, None, 1)

    options = ["--no-frame-answers", "--reply-delay", "0.2", "--request-time", "0.3"]
    options += ["--report-interval", "0.5", "--connect-dribble", "0.01", "--connect-status", "3"]
    assert cli.main(flags + options) == 0
    device = started[1]
    assert (device.answer_frames, device.reply_delay, device.request_time) == (False, 0.2, 0.3)
    assert (device.report_interval, device.connect_dribble, device.connect_status) == (0.5, 0.01, 3)
    assert cli.main([*flags, "--connect-status", "256"]) == 2
