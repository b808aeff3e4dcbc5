"""A local and a remote address (PROTOCOL.md section 1) and the TriCom remote login (section 3).

Two simulators play the installation's two addresses on 127.0.0.1. A local
address that does not answer is a port reserved by a simulator that was
started and stopped again; a later simulator on that port is the local
address answering again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from client_helpers import FAST_TIMING, WAIT, wait_until

from ipcom import client as client_module
from ipcom.client import IPComClient
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.models import ConnectionState
from ipcom.simulator import Simulator
from ipcom.writes import WriteOutcome

RETRY = 0.1
"""The local retry interval of these tests: several retries fit in any wait."""
PASSWORD = "Pw-0f-the-test"
"""Unusual enough that finding it in a log line can only mean it leaked."""
SERIAL = "SN0042"


def reserved_port() -> int:
    """A loopback port nothing listens on: a simulator bound it and let it go."""
    device = Simulator()
    device.start()
    port = device.port
    device.stop()
    return port


def client_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("ipcom-client-")]


def make_remote_client(
    local_port: int, remote: Simulator, *, username: str = "demo", **options: Any
) -> IPComClient:
    """A fast client whose local address is `local_port` and whose remote one is `remote`."""
    settings: dict[str, Any] = {**FAST_TIMING, "local_retry_interval": RETRY, **options}
    return IPComClient(
        "127.0.0.1",
        local_port,
        username,
        PASSWORD,
        remote_host=remote.host,
        remote_port=remote.port,
        **settings,
    )


@pytest.fixture
def remote() -> Iterator[Simulator]:
    """The installation's remote address, answering the bare username."""
    device = Simulator(username="demo", password=PASSWORD)
    device.start()
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def started() -> Iterator[Callable[[IPComClient], IPComClient]]:
    """Start clients for a test and stop every one of them after it, passed or not."""
    clients: list[IPComClient] = []

    def start(client: IPComClient) -> IPComClient:
        clients.append(client)
        client.start_persistent_connection()
        return client

    try:
        yield start
    finally:
        for client in clients:
            client.stop_persistent_connection()


@pytest.fixture
def local_later() -> Iterator[Callable[..., Simulator]]:
    """Start the local address's simulator on a reserved port mid-test; stopped after it."""
    devices: list[Simulator] = []

    def start(port: int, **options: Any) -> Simulator:
        device = Simulator(port=port, password=PASSWORD, **options)
        devices.append(device)
        device.start()
        return device

    try:
        yield start
    finally:
        for device in devices:
            device.stop()


def messages_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def assert_no_password(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in (record.exc_text or "")


# Falling back to the remote address


def test_a_refused_local_address_connects_via_the_remote_one_and_polls(
    remote: Simulator,
    started: Callable[[IPComClient], IPComClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    local_port = reserved_port()
    caplog.set_level(logging.DEBUG, logger="ipcom")

    client = started(make_remote_client(local_port, remote))
    client.wait_for_snapshot(WAIT)

    assert client.via_remote
    assert client.address == f"127.0.0.1:{remote.port}"
    assert (client.host, client.port) == ("127.0.0.1", local_port)
    statistics = client.statistics
    assert statistics.via_remote
    assert statistics.address == f"127.0.0.1:{remote.port}"
    polls = remote.polls_received
    assert wait_until(lambda: remote.polls_received >= polls + 5)
    assert client.turn_on(3, 3).result(WAIT) is WriteOutcome.CONFIRMED
    assert remote.get_value(3, 3) == 255
    lines = [line for line in messages_of(caplog) if "via the remote address" in line]
    assert len(lines) == 1
    assert f"127.0.0.1:{remote.port}" in lines[0]
    assert "the local one did not answer" in lines[0]
    assert str(local_port) in lines[0]
    assert_no_password(caplog)


def test_the_remote_session_goes_on_while_the_local_address_stays_down(
    remote: Simulator, started: Callable[[IPComClient], IPComClient]
) -> None:
    """Many local retries fail meanwhile; none of them costs the remote session."""
    client = started(make_remote_client(reserved_port(), remote, local_retry_interval=0.02))
    client.wait_for_snapshot(WAIT)
    polls = remote.polls_received

    assert wait_until(lambda: remote.polls_received >= polls + 20)

    assert client.connected and client.via_remote
    assert remote.connections_accepted == 1
    assert remote.disconnects_received == 0
    assert client.statistics.reconnects == 0


def test_when_neither_address_answers_the_start_fails_naming_both(remote: Simulator) -> None:
    local_port = reserved_port()
    remote_port = remote.port
    remote.stop()
    client = make_remote_client(local_port, remote)

    with pytest.raises(IPComConnectionError) as failure:
        client.start_persistent_connection()

    assert str(local_port) in str(failure.value)
    assert str(remote_port) in str(failure.value)
    assert not client_threads()


def test_without_a_remote_address_the_local_one_is_the_address(
    client: IPComClient, simulator: Simulator
) -> None:
    assert client.address == f"127.0.0.1:{simulator.port}"
    assert not client.via_remote
    assert client.statistics.address == f"127.0.0.1:{simulator.port}"
    assert not client.statistics.via_remote


# Back to the local address


def test_the_client_returns_to_the_local_address_once_it_answers(
    remote: Simulator,
    started: Callable[[IPComClient], IPComClient],
    local_later: Callable[..., Simulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    local_port = reserved_port()
    caplog.set_level(logging.DEBUG, logger="ipcom")
    client = started(make_remote_client(local_port, remote))
    client.wait_for_snapshot(WAIT)
    assert client.via_remote
    states: list[ConnectionState] = []
    client.on_connection_state(lambda event: states.append(event.state))

    local = local_later(local_port)

    assert wait_until(lambda: client.connected and not client.via_remote)
    assert client.address == f"127.0.0.1:{local_port}"
    remote.wait_until(lambda device: device.disconnects_received == 1, WAIT)
    assert client.turn_on(5, 1).result(WAIT) is WriteOutcome.CONFIRMED
    assert local.get_value(5, 1) == 255
    assert remote.get_value(5, 1) == 0
    assert wait_until(lambda: states[-1:] == [ConnectionState.CONNECTED])
    back = [line for line in messages_of(caplog) if "via the local address" in line]
    assert len(back) == 1
    assert f"127.0.0.1:{local_port}" in back[0]
    assert_no_password(caplog)


def test_a_write_queued_as_the_remote_session_ends_goes_to_the_local_address(
    remote: Simulator,
    started: Callable[[IPComClient], IPComClient],
    local_later: Callable[..., Simulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The write waits for the local session as it would through an outage, and lands there."""
    local_port = reserved_port()
    client = started(make_remote_client(local_port, remote))
    client.wait_for_snapshot(WAIT)
    real_leave = client._leave_remote
    handles = []

    def leave(run: Any, session: Any, reason: str) -> None:
        handles.append(client.turn_on(4, 2))
        real_leave(run, session, reason)

    monkeypatch.setattr(client, "_leave_remote", leave)
    local = local_later(local_port)

    assert wait_until(lambda: len(handles) == 1)
    assert handles[0].result(WAIT) is WriteOutcome.CONFIRMED
    assert local.get_value(4, 2) == 255
    assert remote.get_value(4, 2) == 0
    assert not client.via_remote
    assert client.statistics.writes_abandoned == 0


def test_the_local_address_is_tried_first_on_every_reconnect(
    remote: Simulator,
    started: Callable[[IPComClient], IPComClient],
    local_later: Callable[..., Simulator],
) -> None:
    """A remote session that drops while the local address answers again reconnects locally."""
    local_port = reserved_port()
    client = started(make_remote_client(local_port, remote, local_retry_interval=WAIT * 10))
    client.wait_for_snapshot(WAIT)
    local = local_later(local_port)

    remote.drop_connections()

    assert wait_until(lambda: client.connected and not client.via_remote)
    assert local.connections_accepted == 1
    assert remote.connections_accepted == 1


# Authentication


def test_rejected_credentials_at_the_local_address_do_not_fall_back_to_the_remote_one(
    remote: Simulator, local_later: Callable[..., Simulator]
) -> None:
    local = local_later(reserved_port(), username="someone")
    client = make_remote_client(local.port, remote)

    with pytest.raises(IPComAuthenticationError):
        client.start_persistent_connection()

    assert local.auth_failures == 1
    assert remote.connections_accepted == 0
    assert remote.auth_failures == 0
    assert not client_threads()


def test_rejected_credentials_on_a_local_reconnect_end_the_client(
    remote: Simulator,
    started: Callable[[IPComClient], IPComClient],
    local_later: Callable[..., Simulator],
) -> None:
    local_port = reserved_port()
    first = local_later(local_port)
    # The first reconnect waits a second: time enough to put the changed local address up.
    client = started(make_remote_client(local_port, remote, reconnect_base=1.0, reconnect_max=1.0))
    client.wait_for_snapshot(WAIT)
    failures: list[bool] = []
    client.on_connection_state(lambda event: failures.append(event.authentication_failed))
    first.stop()
    changed = local_later(local_port, username="someone")

    assert wait_until(lambda: True in failures)
    assert changed.auth_failures == 1
    assert remote.connections_accepted == 0
    assert client.connection_state is ConnectionState.DISCONNECTED


# The TriCom remote login


def test_a_tricom_remote_login_sends_the_serial_number_then_the_username(
    started: Callable[[IPComClient], IPComClient],
    local_later: Callable[..., Simulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ipcom")
    local_port = reserved_port()
    with Simulator(username=SERIAL + "demo", password=PASSWORD, tricom=True) as remote:
        client = started(make_remote_client(local_port, remote, tricom=True, serial=SERIAL))
        client.wait_for_snapshot(WAIT)
        assert client.via_remote
        assert remote.auth_failures == 0
        assert client.turn_on(2, 1).result(WAIT) is WriteOutcome.CONFIRMED

        local = local_later(local_port, username="demo", tricom=True)

        assert wait_until(lambda: client.connected and not client.via_remote)
        assert local.connections_accepted == 1
        assert local.auth_failures == 0
        assert client.turn_on(2, 1).result(WAIT) is WriteOutcome.CONFIRMED
        assert local.get_value(2, 1) == 255
        client.stop_persistent_connection()
    assert_no_password(caplog)


def test_a_serial_number_and_username_over_21_characters_are_refused() -> None:
    with pytest.raises(ValueError, match="21") as refused:
        IPComClient(
            "127.0.0.1",
            username="a-long-username",
            password="demo",
            tricom=True,
            serial="SERIAL-0042",
            remote_host="remote.example",
        )
    assert "11" in str(refused.value)
    assert "15" in str(refused.value)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"tricom": True, "remote_host": "remote.example"}, "serial"),
        ({"serial": SERIAL, "remote_host": "remote.example"}, "TriCom"),
        ({"tricom": True, "serial": "", "remote_host": "remote.example"}, "serial"),
        ({"remote_host": ""}, "remote_host"),
        ({"remote_host": "remote.example", "remote_port": 0}, "remote_port"),
        ({"remote_host": "remote.example", "remote_port": 70000}, "remote_port"),
        ({"remote_host": "remote.example", "local_retry_interval": 0}, "local_retry_interval"),
    ],
)
def test_an_inconsistent_remote_address_is_refused_at_construction(
    options: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        IPComClient("127.0.0.1", username="demo", password="demo", **options)


def test_a_tricom_without_a_remote_address_needs_no_serial_number() -> None:
    client = IPComClient("127.0.0.1", username="demo", password="demo", tricom=True)
    assert client.address == "127.0.0.1:5000"
    assert not client.via_remote


# Stopping


def test_stop_joins_a_local_retry_in_progress(
    remote: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of the local address is under way when `stop` comes: `stop` waits for it."""
    checking = threading.Event()
    real_connect = client_module.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("ipcom-client-local-retry"):
            checking.set()
            threading.Event().wait(0.3)
            raise IPComConnectionError("the local address is still away")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(client_module, "connect", connect)
    client = make_remote_client(reserved_port(), remote)
    client.start_persistent_connection()
    try:
        client.wait_for_snapshot(WAIT)
        assert checking.wait(WAIT)
    finally:
        client.stop_persistent_connection()

    assert not client_threads(), "a thread outlived stop"


def test_a_local_address_that_takes_connections_but_no_login_is_tried_ever_less_often(
    remote: Simulator,
    started: Callable[[IPComClient], IPComClient],
    local_later: Callable[..., Simulator],
) -> None:
    """Each return that ends back on the remote address doubles the wait; a local login resets it.

    A frozen device takes TCP connections and never answers the login: the
    check of the local address succeeds, the login there times out, and the
    client goes back to the remote address, which it should not leave every
    interval for nothing.
    """
    port = reserved_port()
    client = started(make_remote_client(port, remote))
    assert client.wait_for_snapshot(WAIT) is not None
    assert client.statistics.local_retry_delay == RETRY

    local = local_later(port)
    local.freeze()
    for doubled in (2 * RETRY, 4 * RETRY):
        assert wait_until(lambda d=doubled: client.statistics.local_retry_delay == d, WAIT), (
            client.statistics
        )
    assert client.via_remote

    local.unfreeze()
    assert wait_until(lambda: not client.via_remote and client.connected, WAIT)
    assert client.statistics.local_retry_delay == RETRY
