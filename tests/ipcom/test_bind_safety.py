"""The simulator listens on 127.0.0.1 unless told otherwise, and says where it listens.

The listening address is read back from the kernel (/proc/net/tcp), not from
the simulator's own idea of it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ipcom.simulator import Simulator

WAIT = 10.0
TCP_LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on `port`, as dotted quads."""
    addresses: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == TCP_LISTEN and int(port_hex, 16) == port:
            addresses.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


def test_the_simulator_listens_on_loopback_by_default_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ipcom.simulator")
    simulator = Simulator()
    simulator.start()
    try:
        assert simulator.host == "127.0.0.1"
        assert listening_addresses(simulator.port) == {"127.0.0.1"}
    finally:
        simulator.stop()
    assert f"Simulator listening on 127.0.0.1 port {simulator.port}" in caplog.messages
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_ipcom_simulate_listens_on_loopback_and_prints_where() -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("IPCOM_")}
    simulate = subprocess.Popen(
        [sys.executable, "-m", "ipcom", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environment,
        text=True,
    )
    try:
        assert simulate.stdout is not None
        line = simulate.stdout.readline()
        match = re.fullmatch(
            r"ipcom simulator listening on 127\.0\.0\.1:(\d+) \(user demo\)\n", line
        )
        assert match, line
        assert listening_addresses(int(match[1])) == {"127.0.0.1"}
        simulate.send_signal(signal.SIGINT)
        simulate.communicate(timeout=WAIT)
    finally:
        if simulate.poll() is None:
            simulate.kill()
            simulate.communicate(timeout=WAIT)
    assert simulate.returncode == 0
