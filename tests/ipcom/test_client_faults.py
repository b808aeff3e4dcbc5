"""Client faults found by the soak and by reading the code, each pinned by a test.

Every test here forces one unlucky interleaving deterministically (by
holding a client thread at the exact point where it matters) instead of
hoping a loaded machine produces it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ipcom.client import IPComClient
from ipcom.protocol import SET_OUTPUTS_LENGTH
from ipcom.simulator import Simulator

WAIT = 10.0


def make_client(simulator: Simulator) -> IPComClient:
    return IPComClient(
        simulator.host,
        simulator.port,
        "demo",
        "demo",
        poll_interval=0.05,
        command_interval=0.02,
        keepalive_interval=5.0,
        socket_timeout=2.0,
        stale_after=1.0,
        reconnect_base=0.05,
        reconnect_max=0.2,
    )


@pytest.fixture
def client(simulator: Simulator) -> Iterator[IPComClient]:
    connection = make_client(simulator)
    connection.start_persistent_connection()
    try:
        connection.wait_for_snapshot(WAIT)
        yield connection
    finally:
        connection.stop_persistent_connection()


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_write_whose_link_is_replaced_before_it_is_booked_is_not_forgotten(
    client: IPComClient, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame leaves on a link that dies and is replaced before the command loop books it.

    The device never saw the frame. The write must still be re-sent on the
    new link or reported abandoned: booking it against the dead session
    leaves it in flight forever, judged by no snapshot, lost in silence.
    """
    original = client._transmit
    interfered = threading.Event()

    def transmit(session: Any, data: bytes, *, poll: bool = False) -> tuple[str | None, int]:
        result = original(session, data, poll=poll)
        if len(data) == SET_OUTPUTS_LENGTH and not interfered.is_set():
            interfered.set()
            reconnects = client.statistics.reconnects
            simulator.drop_connections()
            simulator.unfreeze()
            assert wait_until(
                lambda: client.statistics.reconnects > reconnects and client.connected
            )
        return result

    monkeypatch.setattr(client, "_transmit", transmit)
    abandoned: list[tuple[int, int, int]] = []
    client.on_write_abandoned(lambda *write: abandoned.append(write))
    simulator.freeze()

    client.set_value(2, 3, 255)

    assert wait_until(lambda: simulator.get_value(2, 3) == 255 or bool(abandoned)), (
        f"the write was neither applied nor reported; the client still expects "
        f"{client.get_expected_value(2, 3)} while the installation shows "
        f"{simulator.get_value(2, 3)}"
    )
    assert interfered.is_set()
