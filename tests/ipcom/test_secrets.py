"""The password never shows: not in a log line, an exception, a repr or a command line.

Whole sessions run with logging at DEBUG and go through the failures that
tend to leak secrets into messages: a wrong password, dropped and frozen
links, credentials changed on the installation, credentials the protocol
cannot carry.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_helpers import write_bus_1_map

from ipcom import ConnectionEvent
from ipcom.cli import main
from ipcom.client import IPComClient
from ipcom.errors import IPComAuthenticationError, IPComConnectionError
from ipcom.messages import encode_connect_request
from ipcom.simulator import Simulator
from ipcom.simulator_codec import read_connect_request

USERNAME = "installer"
SECRET = "Hidden-Pw-2718"
OTHER_SECRET = "Changed-Pw-3141"
WRONG_SECRET = "Wrong-Pw-1618"
TOO_LONG_SECRET = "Far-Too-Long-Secret-Pw-0577"
SECRETS = (SECRET, OTHER_SECRET, WRONG_SECRET, TOO_LONG_SECRET)
WAIT = 10.0
REPOSITORY = Path(__file__).parents[2]


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"{secret!r} leaked into {text!r}"


def exception_texts(err: BaseException) -> list[str]:
    """The text and repr of an exception and of everything chained to it."""
    texts: list[str] = []
    current: BaseException | None = err
    while current is not None:
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


def client_for(simulator: Simulator, password: str, **overrides: float) -> IPComClient:
    settings = {
        "poll_interval": 0.05,
        "command_interval": 0.02,
        "keepalive_interval": 0.5,
        "socket_timeout": 2.0,
        "stale_after": 0.5,
        "reconnect_base": 0.05,
        "reconnect_max": 0.2,
    }
    settings.update(overrides)
    return IPComClient(simulator.host, simulator.port, USERNAME, password, **settings)


def wait_until(condition: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG and above, checked (formatted, with tracebacks) after the test."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    records = caplog.get_records("call")
    assert records
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    for record in records:
        assert_no_secret(formatter.format(record), record.args)


def test_a_whole_library_session_with_failures(
    simulator: Simulator, debug_logs: pytest.LogCaptureFixture
) -> None:
    simulator.set_credentials(USERNAME, SECRET)
    texts: list[object] = []

    with pytest.raises(ValueError) as too_long:
        client_for(simulator, TOO_LONG_SECRET).start_persistent_connection()
    texts += exception_texts(too_long.value)

    rejected = client_for(simulator, WRONG_SECRET)
    with pytest.raises(IPComAuthenticationError) as wrong:
        rejected.start_persistent_connection()
    texts += [*exception_texts(wrong.value), repr(rejected), rejected.statistics]

    client = client_for(simulator, SECRET)
    events: list[ConnectionEvent] = []
    client.on_connection_state(events.append)
    client.start_persistent_connection()
    try:
        client.wait_for_snapshot(WAIT)
        client.set_value(1, 1, 255)
        simulator.wait_for_value(1, 1, 255)

        simulator.drop_connections()
        wait_until(lambda: simulator.connections_accepted >= 2 and client.connected)
        simulator.freeze()
        wait_until(lambda: not client.connected)
        simulator.unfreeze()
        wait_until(lambda: client.connected)

        simulator.set_credentials(USERNAME, OTHER_SECRET)
        simulator.drop_connections()
        wait_until(lambda: any(event.authentication_failed for event in events))
        texts += [repr(client), client.statistics, *events]
        with pytest.raises(IPComConnectionError) as refused:
            client.set_value(1, 2, 255)
        texts += exception_texts(refused.value)
    finally:
        client.stop_persistent_connection()

    request = read_connect_request(encode_connect_request(USERNAME, SECRET))
    texts += [repr(request), request]
    assert simulator.auth_failures == 2
    assert_no_secret(*texts)


# The command line


@pytest.fixture
def environment(simulator: Simulator, tmp_path: Path) -> dict[str, str]:
    """The command line pointed at the one-bus simulator, with the demo map's bus 1 part."""
    simulator.set_credentials(USERNAME, SECRET)
    devices = tmp_path / "devices.yaml"
    write_bus_1_map(REPOSITORY / "devices.yaml", devices)
    variables = {key: value for key, value in os.environ.items() if not key.startswith("IPCOM_")}
    variables.update(
        IPCOM_HOST=simulator.host,
        IPCOM_PORT=str(simulator.port),
        IPCOM_USERNAME=USERNAME,
        IPCOM_PASSWORD=SECRET,
        IPCOM_DEVICES=str(devices),
    )
    return variables


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def read_line(stream: Any, timeout: float = WAIT) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output in time"
    return str(stream.readline())


def spawn(*argv: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ipcom", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )


def test_watch_at_debug_through_a_reconnect(
    simulator: Simulator, environment: dict[str, str]
) -> None:
    watch = spawn("-v", "watch", "--poll-interval", "0.05", env=environment)
    try:
        assert "watching" in read_line(watch.stderr) or watch.poll() is None
        running_command_line = command_line(watch.pid)
        simulator.press(1, 4)
        simulator.drop_connections()
        simulator.wait_until(lambda sim: sim.connections_accepted >= 2, WAIT, "a reconnect")
        simulator.press(1, 4)
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=WAIT)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate(timeout=WAIT)

    assert watch.returncode == 0
    assert "ipcom watch" in running_command_line or "-m ipcom" in running_command_line
    assert "INFO ipcom.client: Reconnected" in err
    assert_no_secret(running_command_line, out, err)


def test_simulate_keeps_its_password_off_the_command_line(environment: dict[str, str]) -> None:
    environment["IPCOM_PASSWORD"] = SECRET
    simulate = spawn("-v", "simulate", "--port", "0", env=environment)
    try:
        ready = read_line(simulate.stdout)
        running_command_line = command_line(simulate.pid)
        simulate.send_signal(signal.SIGTERM)
        out, err = simulate.communicate(timeout=WAIT)
    finally:
        if simulate.poll() is None:
            simulate.kill()
            simulate.communicate(timeout=WAIT)

    assert ready.startswith("ipcom simulator listening on 127.0.0.1:")
    assert simulate.returncode == 0
    assert_no_secret(running_command_line, ready, out, err)


def test_a_rejected_password_at_debug(
    simulator: Simulator,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    for key, value in {**environment, "IPCOM_PASSWORD": WRONG_SECRET}.items():
        monkeypatch.setenv(key, value)

    code = main(["-v", "status"])

    out, err = capsys.readouterr()
    assert code == 4
    assert "rejected the username or password" in err
    assert_no_secret(out, err)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "IPCOM_PASSWORD",
            TOO_LONG_SECRET,
            f"ipcom: invalid credentials: the password is {len(TOO_LONG_SECRET)} characters long; "
            "the installation accepts at most 22\n",
        ),
        (
            "IPCOM_USERNAME",
            "u" * 22,
            "ipcom: invalid credentials: the username is 22 characters long; "
            "the installation accepts at most 21\n",
        ),
    ],
)
def test_credentials_beyond_the_protocol_limits_are_a_usage_error(
    simulator: Simulator,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    for key, setting in {**environment, variable: value}.items():
        monkeypatch.setenv(key, setting)

    code = main(["status"])

    out, err = capsys.readouterr()
    assert code == 2
    assert err == message
    assert simulator.connections_accepted == 0
    assert_no_secret(out, err)
