"""Library tests talk to the simulator over real sockets on 127.0.0.1."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _allow_loopback_sockets(socket_enabled: None) -> None:
    """The Home Assistant test plugin blocks sockets; the library needs them."""
