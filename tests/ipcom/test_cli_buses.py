"""The `ipcom` command line on any installation: two buses, bus types, a TriCom, a remote address.

Run in-process through `main(argv)` against a real simulator on 127.0.0.1, as
tests/ipcom/test_cli.py does for the one-bus installation; `watch` runs as a
subprocess that the test interrupts.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_helpers import FAST_CLI
from test_cli import Process

from ipcom.cli import main
from ipcom.protocol import BusType
from ipcom.simulator import Simulator

TIMEOUT = 10.0
MINIDO, BIBUS = BusType.MINIDO, BusType.BIBUS
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"

TWO_BUSES = """\
lights:
  hall: {module: 1, output: 4, display_name: Hall}
  spots: {module: 6, output: 1, type: dimmer}
  barn: {bus: 2, module: 1, output: 4, display_name: Barn}
  barn_spots: {bus: 2, module: 3, output: 1, type: dimmer}
switches:
  barn_socket: {bus: 2, module: 1, output: 5}
shutters:
  barn_door_up:
    bus: 2
    module: 4
    output: 1
    type: switch
    relay_role: up
    paired_device: barn_door_down
  barn_door_down:
    bus: 2
    module: 4
    output: 2
    type: switch
    relay_role: down
    paired_device: barn_door_up
"""
"""Bus 1 "Minido" with dimmer module 6; bus 2 a BiBus with dimmer module 3 and a shutter.

Each bus has a light at module 1, output 4: the same address, two devices."""

HALL, BARN = (1, 4), (1, 4)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IPCOM_* from the developer's shell, and no devices.yaml in the working directory."""
    for name in list(os.environ):
        if name.startswith("IPCOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def devices(tmp_path: Path) -> Path:
    path = tmp_path / "two-buses.yaml"
    path.write_text(TWO_BUSES, encoding="utf-8")
    return path


@pytest.fixture
def two_buses(monkeypatch: pytest.MonkeyPatch, devices: Path) -> Iterator[Simulator]:
    """A two-bus installation with firmware 1234, the environment pointing at it."""
    device = Simulator(
        buses={1: MINIDO, 2: BIBUS},
        dimmer_modules={6},
        dimmer_modules_by_bus={2: {3}},
        firmware_version="1234",
    )
    device.start()
    for name, value in (
        ("IPCOM_HOST", device.host),
        ("IPCOM_PORT", str(device.port)),
        ("IPCOM_USERNAME", "demo"),
        ("IPCOM_PASSWORD", "demo"),
        ("IPCOM_DEVICES", str(devices)),
    ):
        monkeypatch.setenv(name, value)
    try:
        yield device
    finally:
        device.stop()


BUS_2 = ["--bus-2-type", "bibus"]


# The device commands write each device's own bus


def test_on_a_bus_2_light_writes_bus_2_only(run: Any, two_buses: Simulator) -> None:
    result = run("on", "barn", *BUS_2)

    assert (result.code, result.out, result.err) == (0, "barn: on\n", "")
    assert two_buses.get_value(*BARN, bus=2) == 255
    assert two_buses.get_value(*HALL, bus=1) == 0
    assert two_buses.writes(bus=1) == []
    assert [write.module for write in two_buses.writes(bus=2)] == [1]


def test_each_bus_s_devices_on_their_own_connection(run: Any, two_buses: Simulator) -> None:
    """Options before the command name too; bus 1 works as ever with two buses."""
    two_buses.set_output(*BARN, 255, bus=2)

    hall = run(*BUS_2, "toggle", "hall")
    barn = run(*BUS_2, "toggle", "barn")
    spots = run(*BUS_2, "dim", "barn_spots", "40")
    socket = run(*BUS_2, "on", "barn_socket")
    door = run(*BUS_2, "open", "barn_door")

    assert [r.out for r in (hall, barn, spots, socket, door)] == [
        "hall: on\n",
        "barn: off\n",
        "barn_spots: 40 %\n",
        "barn_socket: on\n",
        "barn_door: opening\n",
    ]
    assert two_buses.get_value(*HALL, bus=1) == 255
    assert two_buses.get_value(*BARN, bus=2) == 0
    assert two_buses.get_value(3, 1, bus=2) == 40
    assert two_buses.get_value(1, 5, bus=2) == 255
    assert two_buses.get_module_values(4, bus=2)[:2] == (255, 0)
    assert [write.module for write in two_buses.writes(bus=1)] == [1]


def test_a_bus_2_map_without_the_bus_2_type_is_a_usage_error(
    run: Any, two_buses: Simulator
) -> None:
    """The type decides the frames' addresses (PROTOCOL.md section 6): it is never guessed."""
    for argv in (("on", "hall"), ("status",), ("status", "--json"), ("open", "barn_door")):
        result = run(*argv)

        assert result.code == 2, argv
        assert result.out == ""
        assert result.err == (
            "ipcom: the device map has devices on bus 2: give --bus-2-type (minido, bibus, "
            "other), the type of the installation's second bus, which decides how its frames "
            "are addressed\n"
        )
    assert two_buses.connections_accepted == 0


def test_a_second_bus_the_installation_lacks(
    run: Any, monkeypatch: pytest.MonkeyPatch, devices: Path
) -> None:
    """Its login is refused like wrong credentials; bus 1's was not, so the error says which."""
    with Simulator() as device:
        for name, value in (
            ("IPCOM_HOST", device.host),
            ("IPCOM_PORT", str(device.port)),
            ("IPCOM_USERNAME", "demo"),
            ("IPCOM_PASSWORD", "demo"),
        ):
            monkeypatch.setenv(name, value)

        result = run("status", *BUS_2, "--devices", str(devices))

    assert result.code == 4
    assert result.err == (
        f"ipcom: 127.0.0.1:{device.port} refused the login for bus 2 but accepted it for "
        "bus 1: does the installation have a bus 2 (--bus-2-type)?\n"
    )


# status


def test_status_json_reads_each_bus_and_names_the_firmware(run: Any, two_buses: Simulator) -> None:
    two_buses.set_output(*BARN, 255, bus=2)
    two_buses.set_output(3, 1, 30, bus=2)
    two_buses.set_output(4, 2, 255, bus=2)
    two_buses.set_output(6, 1, 70, bus=1)
    two_buses.set_output(9, 3, 255, bus=1)
    two_buses.set_output(9, 3, 7, bus=2)

    result = run("status", "--json", *BUS_2)

    assert result.code == 0, result
    document = json.loads(result.out)
    assert (document["firmware_version"], document["via_remote"]) == ("1234", False)
    assert [(bus["bus"], bus["type"], bus["via_remote"]) for bus in document["buses"]] == [
        (1, "minido", False),
        (2, "bibus", False),
    ]
    assert document["buses"][0]["timestamp"] == document["timestamp"]
    devices = {device["key"]: device for device in document["devices"]}
    assert devices["hall"] == {
        "key": "hall",
        "type": "light",
        "name": "Hall",
        "area": None,
        "description": None,
        "bus": 1,
        "module": 1,
        "output": 4,
        "value": 0,
        "on": False,
    }
    assert (devices["barn"]["bus"], devices["barn"]["value"], devices["barn"]["on"]) == (
        2,
        255,
        True,
    )
    assert (devices["spots"]["bus"], devices["spots"]["brightness"]) == (1, 70)
    assert (devices["barn_spots"]["bus"], devices["barn_spots"]["brightness"]) == (2, 30)
    assert devices["barn_socket"]["on"] is False
    door = devices["barn_door"]
    assert (door["bus"], door["state"], door["down"]["value"]) == (2, "closing", 255)
    assert document["unmapped"] == [
        {"bus": 1, "module": 9, "output": 3, "value": 255},
        {"bus": 2, "module": 9, "output": 3, "value": 7},
    ]


def test_status_text_writes_bus_colon_module_dot_output(run: Any, two_buses: Simulator) -> None:
    two_buses.set_output(*BARN, 255, bus=2)
    two_buses.set_output(9, 3, 7, bus=2)

    result = run("status", *BUS_2)

    assert result.code == 0, result
    lines = result.out.splitlines()
    assert re.fullmatch(
        rf"127\.0\.0\.1:{two_buses.port} at {TIMESTAMP} \(bus 1\), {TIMESTAMP} \(bus 2\); "
        "firmware 1234",
        lines[0],
    ), lines[0]
    assert lines[1].split() == ["KEY", "TYPE", "OUTPUTS", "STATE", "AREA", "NAME"]
    assert re.search(r"^hall\s+light\s+1:1\.4\s+off\s+Hall$", result.out, re.MULTILINE)
    assert re.search(r"^barn\s+light\s+2:1\.4\s+on\s+Barn$", result.out, re.MULTILINE)
    assert re.search(r"^barn_door\s+cover\s+2:4\.1 up, 2:4\.2 down\s+stopped", result.out, re.M)
    assert lines[-1] == "unmapped outputs that are on: 2:9.3 = 7"


def test_status_with_a_second_bus_but_no_map(
    run: Any, two_buses: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--bus-2-type alone connects bus 2 too: its outputs that are on show as unmapped."""
    monkeypatch.delenv("IPCOM_DEVICES")
    two_buses.set_output(2, 7, 255, bus=2)

    text = run("status", *BUS_2)
    document = json.loads(run("status", "--json", *BUS_2).out)
    one_bus = json.loads(run("status", "--json").out)

    assert text.out.splitlines()[1:] == ["unmapped outputs that are on: 2:2.7 = 255"]
    assert document["unmapped"] == [{"bus": 2, "module": 2, "output": 7, "value": 255}]
    assert one_bus["unmapped"] == []
    assert [bus["bus"] for bus in one_bus["buses"]] == [1]


def test_status_through_the_remote_address(
    run: Any, monkeypatch: pytest.MonkeyPatch, devices: Path
) -> None:
    """The local address is closed: the client logs in on the remote one, and status says so."""
    with Simulator(buses={1: MINIDO, 2: BIBUS}, firmware_version="1234", remote_port=0) as device:
        device.local_reachable = False
        assert device.remote_port is not None
        monkeypatch.setenv("IPCOM_USERNAME", "demo")
        monkeypatch.setenv("IPCOM_PASSWORD", "demo")
        flags = ["--host", "127.0.0.1", "--port", str(device.port), "--devices", str(devices)]
        remote = ["--remote-host", "127.0.0.1", "--remote-port", str(device.remote_port)]

        text = run("status", *flags, *remote, *BUS_2)
        monkeypatch.setenv("IPCOM_REMOTE_HOST", "127.0.0.1")
        monkeypatch.setenv("IPCOM_REMOTE_PORT", str(device.remote_port))
        document = json.loads(run("status", "--json", *flags, *BUS_2).out)
        monkeypatch.delenv("IPCOM_REMOTE_HOST")
        local_only = run("status", *flags, *BUS_2, "--timeout", "2")

    assert text.code == 0, text
    assert re.fullmatch(
        rf"127\.0\.0\.1:{device.remote_port} \(remote address\) at {TIMESTAMP} \(bus 1\), "
        rf"{TIMESTAMP} \(bus 2\); firmware 1234",
        text.out.splitlines()[0],
    )
    assert (document["host"], document["port"]) == ("127.0.0.1", device.port)
    assert (document["via_remote"], document["firmware_version"]) == (True, "1234")
    assert [bus["address"] for bus in document["buses"]] == [f"127.0.0.1:{device.remote_port}"] * 2
    assert local_only.code == 3


# raw set --bus


def test_raw_set_on_bus_2(run: Any, two_buses: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPCOM_DEVICES")

    result = run("raw", "set", "--bus", "2", "9", "2", "255", *BUS_2)
    bus_1 = run(*BUS_2, "raw", "set", "9", "2", "7")
    without_type = run("raw", "set", "--bus", "2", "9", "2", "0")

    assert (result.code, result.out, result.err) == (0, "2:9.2: 255\n", "")
    assert (bus_1.code, bus_1.out) == (0, "9.2: 7\n")
    assert two_buses.get_value(9, 2, bus=2) == 255
    assert two_buses.get_value(9, 2, bus=1) == 7
    assert without_type.code == 2
    assert without_type.err.startswith("ipcom: argument --bus: bus 2 needs --bus-2-type (")
    assert two_buses.connections_accepted == 2


# The bus type and the TriCom reach the frames


def test_the_bus_type_and_tricom_address_the_frames(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TriCom with a BiBus bus 1 takes bus byte 2 and base 30: both options must reach it."""
    with Simulator(buses={1: BIBUS}, tricom=True) as device:
        for name, value in (
            ("IPCOM_HOST", device.host),
            ("IPCOM_PORT", str(device.port)),
            ("IPCOM_USERNAME", "demo"),
            ("IPCOM_PASSWORD", "demo"),
        ):
            monkeypatch.setenv(name, value)

        right = run("--bus-type", "bibus", "--tricom", "raw", "set", "2", "3", "255")
        no_tricom = run("raw", "set", "2", "4", "255", "--bus-type", "bibus", "--timeout", "1")
        values = device.get_module_values(2)

    assert (right.code, right.out) == (0, "2.3: 255\n")
    assert no_tricom.code == 7
    assert values[2:4] == (255, 0)


# Settings


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--remote-port", "0"],
            "ipcom: argument --remote-port: must be 1..65535 to reach an installation, got 0 "
            "(only simulate takes 0, for any free port)\n",
        ),
        (
            ["--remote-port", "5001"],
            "ipcom: argument --remote-port: needs the remote host too: give --remote-host "
            "or set IPCOM_REMOTE_HOST\n",
        ),
        (["--remote-host", ".."], "ipcom: argument --remote-host: expected a host name or address"),
        (["--remote-host", " "], "ipcom: argument --remote-host: expected a host name or address"),
        (
            ["--serial", "A123"],
            "ipcom: invalid settings: serial is the serial number of a TriCom installation",
        ),
        (
            ["--tricom", "--remote-host", "192.0.2.1"],
            "ipcom: invalid settings: a remote login to a TriCom installation sends its serial",
        ),
        (
            ["--tricom", "--remote-host", "192.0.2.1", "--serial", "S" * 18],
            "ipcom: invalid settings: a TriCom remote login sends the serial number and the "
            "username as one username of at most 21 characters",
        ),
        (["--bus-type", "tricom"], "ipcom: argument --bus-type: invalid choice"),
        (["--bus-2-type", "x"], "ipcom: argument --bus-2-type: invalid choice"),
    ],
)
def test_connection_options_the_installation_cannot_take(
    run: Any, two_buses: Simulator, flags: list[str], message: str
) -> None:
    result = run("status", *BUS_2, *flags)

    assert result.code == 2
    assert result.err.startswith(message), result.err
    assert result.err.count("\n") == 1
    assert two_buses.connections_accepted == 0


def test_the_environment_gives_the_serial_and_the_remote_address(
    run: Any, two_buses: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too long together with the username: the client judged IPCOM_SERIAL and the rest."""
    monkeypatch.setenv("IPCOM_REMOTE_HOST", "192.0.2.1")
    monkeypatch.setenv("IPCOM_SERIAL", "S" * 18)

    result = run("status", *BUS_2, "--tricom")
    monkeypatch.setenv("IPCOM_REMOTE_PORT", "70000")
    bad_port = run("status", *BUS_2, "--tricom")

    assert result.code == 2
    assert "the serial number is 18 and the username 4 characters long" in result.err
    assert bad_port.err == "ipcom: IPCOM_REMOTE_PORT must be 1..65535, got 70000\n"
    assert two_buses.connections_accepted == 0


# list


def test_list_names_the_bus_of_every_output(run: Any, devices: Path) -> None:
    text = run("list", "--devices", str(devices))
    document = json.loads(run("list", "--json", "--devices", str(devices)).out)

    assert text.code == 0
    assert re.search(r"^hall\s+light\s+1:1\.4\s+Hall$", text.out, re.MULTILINE)
    assert re.search(r"^barn\s+light\s+2:1\.4\s+Barn$", text.out, re.MULTILINE)
    assert re.search(r"^barn_door\s+cover\s+2:4\.1 up, 2:4\.2 down\s", text.out, re.MULTILINE)
    assert text.out.splitlines()[-1] == (
        "6 devices on 7 outputs; bus 1 modules: 1, 6 (dimmer modules: 6); "
        "bus 2 modules: 1, 3, 4 (dimmer modules: 3)"
    )
    keys = {device["key"]: device for device in document["devices"]}
    assert (keys["hall"]["bus"], keys["barn"]["bus"], keys["barn_door"]["bus"]) == (1, 2, 2)
    assert document["dimmer_modules"] == [6]
    assert document["buses"] == [
        {"bus": 1, "modules": [1, 6], "dimmer_modules": [6]},
        {"bus": 2, "modules": [1, 3, 4], "dimmer_modules": [3]},
    ]


# watch follows every bus


def test_watch_names_the_bus_of_each_change(two_buses: Simulator, devices: Path) -> None:
    environment = dict(os.environ)
    text = Process("watch", *FAST_CLI, *BUS_2, env=environment)
    lines = Process("watch", "--json", *FAST_CLI, *BUS_2, env=environment)
    try:
        for process in (text, lines):
            assert process.read_line(process.err_fd) == (
                f"ipcom: watching 127.0.0.1:{two_buses.port} (buses 1 and 2); press Ctrl-C to stop"
            )
        two_buses.press(*BARN, bus=2)
        barn = (text.read_line(text.out_fd), json.loads(lines.read_line(lines.out_fd)))
        two_buses.press(*HALL, bus=1)
        hall = (text.read_line(text.out_fd), json.loads(lines.read_line(lines.out_fd)))
        two_buses.set_output(16, 8, 255, bus=2)
        unmapped = (text.read_line(text.out_fd), json.loads(lines.read_line(lines.out_fd)))
        results = [process.finish(signal.SIGINT) for process in (text, lines)]
    finally:
        text.close()
        lines.close()

    assert re.fullmatch(rf"{TIMESTAMP} barn 2:1\.4 0 -> 255", barn[0])
    assert re.fullmatch(rf"{TIMESTAMP} hall 1:1\.4 0 -> 255", hall[0])
    assert re.fullmatch(rf"{TIMESTAMP} - 2:16\.8 0 -> 255", unmapped[0])
    assert {key: barn[1][key] for key in ("device", "bus", "module", "output", "new")} == {
        "device": "barn",
        "bus": 2,
        "module": 1,
        "output": 4,
        "new": 255,
    }
    assert (hall[1]["device"], hall[1]["bus"]) == ("hall", 1)
    assert (unmapped[1]["device"], unmapped[1]["bus"]) == (None, 2)
    for code, out, err in results:
        assert (code, out) == (0, "")
        assert "Traceback" not in err


# simulate shares the options


def test_simulate_takes_the_connection_options_before_or_after_its_name(
    simulate: list[Simulator], devices: Path
) -> None:
    """--bus-2-type alone gives the simulated installation its second bus."""
    assert main(["simulate", "--port", "0", "--bus-2-type", "bibus"]) == 0
    assert main(["--bus-2-type", "bibus", "--tricom", "simulate", "--port", "0"]) == 0
    assert main(["--bus-type", "other", "simulate", "--port", "0", "--devices", str(devices)]) == 0
    assert main(["simulate", "--port", "0", "--buses", "2", "--bus-2-type", "other"]) == 0

    assert [device.buses for device in simulate] == [
        {1: MINIDO, 2: BIBUS},
        {1: MINIDO, 2: BIBUS},
        {1: BusType.OTHER},
        {1: MINIDO, 2: BusType.OTHER},
    ]
    assert [device.tricom for device in simulate] == [False, True, False, False]
