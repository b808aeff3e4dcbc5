"""Library tests talk to the simulator over real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from client_helpers import FAST_CLI, WAIT, Connect, Result, make_client

from ipcom import cli_simulate
from ipcom.cli import main
from ipcom.client import IPComClient
from ipcom.installation import Installation
from ipcom.scheduling import ThreadScheduler
from ipcom.simulator import Simulator


@pytest.fixture(autouse=True)
def _allow_loopback_sockets(socket_enabled: None) -> None:
    """The Home Assistant test plugin blocks sockets; the library needs them."""


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A running simulated installation whose module 6 holds dimmers; stopped after the test."""
    device = Simulator(dimmer_modules={6})
    device.start()
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture
def client(simulator: Simulator) -> Iterator[IPComClient]:
    """A connected client with fast timing that has seen its first snapshot."""
    connection = make_client(simulator)
    connection.start_persistent_connection()
    try:
        connection.wait_for_snapshot(WAIT)
        yield connection
    finally:
        connection.stop_persistent_connection()


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the command line in this process with fast polling; what it printed and its code."""

    def invoke(*argv: str) -> Result:
        code = main([*FAST_CLI, *argv])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def simulate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Simulator]:
    """Run `ipcom simulate` as already stopped; the list collects the simulators it started."""
    started: list[Simulator] = []

    class Recorded(Simulator):
        def start(self) -> None:
            started.append(self)
            super().start()

    @contextlib.contextmanager
    def stopped() -> Iterator[threading.Event]:
        stop = threading.Event()
        stop.set()
        yield stop

    monkeypatch.setattr(cli_simulate, "Simulator", Recorded)
    monkeypatch.setattr(cli_simulate, "stop_on_signals", stopped)
    monkeypatch.chdir(tmp_path)
    for variable in ("IPCOM_DEVICES", "IPCOM_USERNAME", "IPCOM_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    return started


@pytest.fixture
def scheduler() -> Iterator[ThreadScheduler]:
    """A thread scheduler for devices; closed (its thread joined) after the test."""
    devices = ThreadScheduler("test-ipcom-devices")
    try:
        yield devices
    finally:
        devices.close()


@pytest.fixture
def connect(simulator: Simulator) -> Iterator[Connect]:
    """Make clients with fast timing; every one is stopped after the test."""
    made: list[IPComClient] = []

    def connect(*, start: bool = True, **timing: float) -> IPComClient:
        client = make_client(simulator, **timing)
        made.append(client)
        if start:
            client.start_persistent_connection()
            client.wait_for_snapshot(WAIT)
        return client

    try:
        yield connect
    finally:
        for client in made:
            client.stop_persistent_connection()


@pytest.fixture
def installations() -> Iterator[list[Installation]]:
    """Installations to close after the test (before their scheduler and client end)."""
    made: list[Installation] = []
    try:
        yield made
    finally:
        for installation in made:
            installation.close().result(WAIT)
