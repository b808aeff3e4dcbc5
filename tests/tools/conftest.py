"""The instruments' tests run the client against the simulator over real sockets on 127.0.0.1.

This folder has no `__init__.py` on purpose: as a package it would be named `tools` too, and
could hide the instruments' own package from the tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ipcom.simulator import Simulator


@pytest.fixture(autouse=True)
def _allow_loopback_sockets(socket_enabled: None) -> None:
    """The Home Assistant test plugin blocks sockets; the soak and the simulator need them."""


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A running simulated installation whose module 6 holds dimmers; stopped after the test."""
    device = Simulator(dimmer_modules={6})
    device.start()
    try:
        yield device
    finally:
        device.stop()
