"""Tests for the `ipcom` command line, run against a real simulator on 127.0.0.1.

Commands that end by themselves run in-process through `main(argv)`; `watch`
and `simulate` run until a signal, so they run as a subprocess that the test
interrupts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_helpers import FAST_CLI, write_bus_1_map

from ipcom import StateSnapshot, cli, cli_simulate
from ipcom.cli import main
from ipcom.shutter import DEFAULT_REVERSE_PAUSE
from ipcom.simulator import ReceivedWrite, Simulator

REPOSITORY = Path(__file__).parents[2]
DEMO_MAP = REPOSITORY / "devices.yaml"
"""The demo map: bus 1, and a second bus (a BiBus) for the garden house."""
DEMO_DEVICES = Path("demo-bus-1.yaml")
"""The demo map's bus 1 devices, written into each test's working directory: the
one-bus installation these tests drive, whose output must stay what it always was
(tests/ipcom/test_cli_buses.py drives both buses)."""
TIMEOUT = 10.0

# Outputs of the demo devices.yaml that the tests drive.
HALL = (1, 4)
LIVING_SPOTS = (6, 1)
POND_PUMP = (5, 2)
LIVING_UP, LIVING_DOWN = (3, 1), (3, 2)
KITCHEN_UP, KITCHEN_DOWN = (3, 5), (4, 1)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No IPCOM_* from the developer's shell, no devices.yaml in the working directory,
    and the demo map's bus 1 part there as DEMO_DEVICES."""
    for name in list(os.environ):
        if name.startswith("IPCOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    write_bus_1_map(DEMO_MAP, tmp_path / DEMO_DEVICES)


@pytest.fixture
def installation(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """The simulator, with the environment pointing the command line at it."""
    monkeypatch.setenv("IPCOM_HOST", simulator.host)
    monkeypatch.setenv("IPCOM_PORT", str(simulator.port))
    monkeypatch.setenv("IPCOM_USERNAME", "demo")
    monkeypatch.setenv("IPCOM_PASSWORD", "demo")
    monkeypatch.setenv("IPCOM_DEVICES", str(DEMO_DEVICES))
    return simulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def replay(initial: StateSnapshot, writes: list[ReceivedWrite]) -> list[StateSnapshot]:
    """The installation's state after each write, in order."""
    states = []
    state = initial
    for write in writes:
        for output, value in enumerate(write.values, start=1):
            state = state.with_value(write.module, output, value)
        states.append(state)
    return states


def never_both_on(states: list[StateSnapshot], up: tuple[int, int], down: tuple[int, int]) -> bool:
    return not any(state.is_on(*up) and state.is_on(*down) for state in states)


# list


def test_list_shows_the_validated_map(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPCOM_DEVICES", str(DEMO_DEVICES))

    result = run("list")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["KEY", "TYPE", "OUTPUTS", "AREA", "TRAVEL", "NAME"]
    assert re.search(r"^hall\s+light\s+1\.4\s+Hall\s+Ceiling$", result.out, re.MULTILINE)
    assert re.search(r"^living_spots\s+dimmer\s+6\.1\s+Living room", result.out, re.MULTILINE)
    assert re.search(
        r"^kitchen_shutter\s+cover\s+3\.5 up, 4\.1 down\s+Kitchen\s+up 22 s, down 18\.5 s",
        result.out,
        re.MULTILINE,
    )
    assert lines[-1] == ("22 devices on 26 outputs; modules: 1, 2, 3, 4, 5, 6; dimmer modules: 6")
    assert result.err == ""


def test_list_json_shape(run: Any) -> None:
    result = run("list", "--json", "--devices", str(DEMO_DEVICES))

    assert result.code == 0
    document = json.loads(result.out)
    assert set(document) == {"devices", "dimmer_modules"}
    assert document["dimmer_modules"] == [6]
    devices = {device["key"]: device for device in document["devices"]}
    assert devices["hall"] == {
        "key": "hall",
        "type": "light",
        "name": "Ceiling",
        "area": "Hall",
        "description": None,
        "module": 1,
        "output": 4,
    }
    assert devices["living_spots"]["type"] == "dimmer"
    assert devices["pond_pump"]["type"] == "switch"
    assert devices["kitchen_shutter"] == {
        "key": "kitchen_shutter",
        "type": "cover",
        "name": "Shutter",
        "area": "Kitchen",
        "description": None,
        "up": {"key": "kitchen_shutter_up", "module": 3, "output": 5},
        "down": {"key": "kitchen_shutter_down", "module": 4, "output": 1},
        "travel_time_up": 22.0,
        "travel_time_down": 18.5,
    }


def test_list_reports_every_problem_of_an_invalid_map(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "lights:\n  kitchen: {module: 17, output: 1}\n  hall: {module: 1, output: 9}\n",
        encoding="utf-8",
    )

    result = run("list", "--devices", str(path))

    assert result.code == 5
    assert result.out == ""
    assert result.err.splitlines() == [
        f"ipcom: {path}: lights.kitchen.module: must be 1..16, got 17",
        f"ipcom: {path}: lights.hall.output: must be 1..8, got 9",
    ]


def test_list_reports_the_warnings_of_an_invalid_map_after_its_problems(
    run: Any, tmp_path: Path
) -> None:
    """Fixing the problems must not reveal warnings the first run hid."""
    path = tmp_path / "broken.yaml"
    path.write_text(
        "lights:\n  hall: {module: 1, output: 1, type: lamp}\n  porch: {module: 17, output: 1}\n",
        encoding="utf-8",
    )

    result = run("list", "--devices", str(path))

    assert result.code == 5
    assert result.out == ""
    assert result.err.splitlines() == [
        f"ipcom: {path}: lights.porch.module: must be 1..16, got 17",
        f"ipcom: warning: {path}: lights.hall.type: type 'lamp' is not used here, read as an "
        "on/off light (a relay output); expected switch, light or dimmer",
    ]


def test_list_shows_a_light_of_an_unknown_type_as_its_warning_reads(
    run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("lights:\n  hall: {module: 1, output: 1, type: lamp}\n", encoding="utf-8")

    result = run("list", "--devices", str(path))

    assert result.code == 0
    assert re.search(r"^hall\s+light\s+1\.1\s+Hall$", result.out, re.MULTILINE)
    assert result.out.splitlines()[-1] == (
        f"warning: {path}: lights.hall.type: type 'lamp' is not used here, read as an on/off "
        "light (a relay output); expected switch, light or dimmer"
    )


def test_list_without_a_devices_file(run: Any) -> None:
    result = run("list")

    assert result.code == 5
    assert result.err == "ipcom: devices.yaml: file not found\n"


# status


def test_status_shows_every_device_and_unmapped_outputs(run: Any, installation: Simulator) -> None:
    installation.set_output(*HALL, 255)
    installation.set_output(*LIVING_SPOTS, 40)
    installation.set_output(*LIVING_UP, 255)
    installation.set_output(9, 3, 255)

    result = run("status")

    assert result.code == 0
    lines = result.out.splitlines()
    assert re.fullmatch(
        rf"127\.0\.0\.1:{installation.port} at \d{{4}}-\d\d-\d\dT[\d:.]+\+00:00; firmware 0000",
        lines[0],
    )
    assert lines[1].split() == ["KEY", "TYPE", "OUTPUTS", "STATE", "AREA", "NAME"]
    assert re.search(r"^hall\s+light\s+1\.4\s+on\s+Hall\s+Ceiling$", result.out, re.MULTILINE)
    assert re.search(r"^stairs\s+light\s+1\.5\s+off\s", result.out, re.MULTILINE)
    assert re.search(r"^living_spots\s+dimmer\s+6\.1\s+40 %\s", result.out, re.MULTILINE)
    assert re.search(r"^living_shutter\s+cover\s.*\sopening\s", result.out, re.MULTILINE)
    assert re.search(r"^kitchen_shutter\s+cover\s.*\sstopped\s", result.out, re.MULTILINE)
    assert lines[-1] == "unmapped outputs that are on: 9.3 = 255"


def test_status_json_shape(run: Any, installation: Simulator) -> None:
    installation.set_output(*HALL, 255)
    installation.set_output(*LIVING_SPOTS, 40)
    installation.set_output(*KITCHEN_DOWN, 255)
    installation.set_output(9, 3, 255)

    result = run("status", "--json")

    assert result.code == 0
    document = json.loads(result.out)
    assert set(document) == {
        "host",
        "port",
        "timestamp",
        "firmware_version",
        "via_remote",
        "buses",
        "devices",
        "unmapped",
    }
    assert (document["host"], document["port"]) == ("127.0.0.1", installation.port)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", document["timestamp"])
    assert (document["firmware_version"], document["via_remote"]) == ("0000", False)
    assert document["buses"] == [
        {
            "bus": 1,
            "type": "minido",
            "timestamp": document["timestamp"],
            "address": f"127.0.0.1:{installation.port}",
            "via_remote": False,
        }
    ]
    assert document["unmapped"] == [{"module": 9, "output": 3, "value": 255}]
    devices = {device["key"]: device for device in document["devices"]}
    assert len(devices) == 22
    assert devices["hall"] == {
        "key": "hall",
        "type": "light",
        "name": "Ceiling",
        "area": "Hall",
        "description": None,
        "module": 1,
        "output": 4,
        "value": 255,
        "on": True,
    }
    assert devices["living_spots"]["value"] == 40
    assert devices["living_spots"]["brightness"] == 40
    assert devices["living_spots"]["on"] is True
    assert devices["pond_pump"]["on"] is False
    assert "brightness" not in devices["pond_pump"]
    kitchen = devices["kitchen_shutter"]
    assert kitchen["state"] == "closing"
    assert kitchen["up"] == {
        "key": "kitchen_shutter_up",
        "module": 3,
        "output": 5,
        "value": 0,
        "on": False,
    }
    assert kitchen["down"] == {
        "key": "kitchen_shutter_down",
        "module": 4,
        "output": 1,
        "value": 255,
        "on": True,
    }
    assert devices["living_shutter"]["state"] == "stopped"


def test_status_reports_a_shutter_with_both_relays_on(run: Any, installation: Simulator) -> None:
    installation.set_output(*LIVING_UP, 255)
    installation.set_output(*LIVING_DOWN, 255)

    text = run("status")
    document = json.loads(run("status", "--json").out)

    assert re.search(r"^living_shutter\s.*\sboth relays on!\s", text.out, re.MULTILINE)
    states = {device["key"]: device.get("state") for device in document["devices"]}
    assert states["living_shutter"] == "both_on"


def test_status_without_a_device_map_lists_outputs_that_are_on(
    run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IPCOM_DEVICES")
    installation.set_output(2, 7, 255)

    result = run("status")
    document = json.loads(run("status", "--json").out)

    assert result.code == 0
    assert result.out.splitlines()[1:] == ["unmapped outputs that are on: 2.7 = 255"]
    assert document["devices"] == []
    assert document["unmapped"] == [{"module": 2, "output": 7, "value": 255}]


# Switching


def test_on_off_and_toggle_wait_for_the_installation(run: Any, installation: Simulator) -> None:
    on = run("on", "hall")
    assert (on.code, on.out, on.err) == (0, "hall: on\n", "")
    assert installation.get_value(*HALL) == 255

    off = run("off", "hall")
    assert (off.code, off.out) == (0, "hall: off\n")
    assert installation.get_value(*HALL) == 0

    toggled_on = run("toggle", "pond_pump")
    assert (toggled_on.code, toggled_on.out) == (0, "pond_pump: on\n")
    assert installation.get_value(*POND_PUMP) == 255

    toggled_off = run("toggle", "pond_pump")
    assert (toggled_off.code, toggled_off.out) == (0, "pond_pump: off\n")
    assert installation.get_value(*POND_PUMP) == 0


def test_a_write_keeps_the_other_outputs_of_the_module(run: Any, installation: Simulator) -> None:
    installation.set_output(1, 1, 255)
    installation.set_output(1, 8, 255)

    assert run("on", "hall").code == 0

    assert installation.get_module_values(1) == (255, 0, 0, 255, 0, 0, 0, 255)


def test_dimmers(run: Any, installation: Simulator) -> None:
    dimmed = run("dim", "living_spots", "40")
    assert (dimmed.code, dimmed.out) == (0, "living_spots: 40 %\n")
    assert installation.get_value(*LIVING_SPOTS) == 40

    toggled = run("toggle", "living_spots")
    assert (toggled.code, toggled.out) == (0, "living_spots: off\n")
    assert installation.get_value(*LIVING_SPOTS) == 0

    on = run("on", "living_spots")
    assert (on.code, on.out) == (0, "living_spots: 100 %\n")
    assert installation.get_value(*LIVING_SPOTS) == 100

    off = run("dim", "living_spots", "0")
    assert (off.code, off.out) == (0, "living_spots: off\n")


def test_dim_refuses_what_cannot_dim(run: Any, installation: Simulator) -> None:
    relay = run("dim", "hall", "50")
    shutter = run("dim", "living_shutter", "50")
    too_bright = run("dim", "living_spots", "101")

    assert relay.code == 2
    assert relay.err == "ipcom: hall is not a dimmable light: use ipcom on, off or toggle\n"
    assert shutter.code == 2
    assert "use ipcom open, close or stop" in shutter.err
    assert too_bright.code == 2
    assert "must be 0..100, got 101" in too_bright.err
    assert installation.connections_accepted == 0


def test_switch_commands_refuse_a_shutter_and_shutter_commands_a_light(
    run: Any, installation: Simulator
) -> None:
    on_shutter = run("on", "living_shutter")
    open_light = run("open", "hall")

    assert on_shutter.code == 2
    assert on_shutter.err == "ipcom: living_shutter is a shutter: use ipcom open, close or stop\n"
    assert open_light.code == 2
    assert open_light.err == "ipcom: hall is not a shutter: use ipcom on, off or toggle\n"
    assert installation.connections_accepted == 0


def test_unknown_device(run: Any, installation: Simulator) -> None:
    result = run("on", "hal")
    unrelated = run("open", "zzz")

    assert result.code == 6
    assert result.err == "ipcom: no device named 'hal' in the device map (did you mean hall?)\n"
    assert unrelated.code == 6
    assert unrelated.err == "ipcom: no device named 'zzz' in the device map\n"
    assert installation.connections_accepted == 0


def test_write_that_the_installation_never_shows(run: Any, installation: Simulator) -> None:
    def undo(write: ReceivedWrite) -> None:
        if write.module == HALL[0]:
            installation.set_output(*HALL, 0)

    unsubscribe = installation.on_write(undo)
    try:
        result = run("on", "hall", "--timeout", "1")
    finally:
        unsubscribe()

    assert result.code == 7
    assert result.err.startswith(
        f"ipcom: 127.0.0.1:{installation.port} did not confirm writing 255 to 1.4"
    )
    installation.wait_until(lambda sim: sim.active_connections == 0, TIMEOUT)


def test_exit_codes_are_documented_in_the_help(run: Any) -> None:
    result = run("--help")

    assert result.code == 0
    help_text = " ".join(result.out.split())
    assert "3 cannot connect or lost the connection" in help_text
    assert "7 the installation did not confirm a write within --timeout" in help_text


def test_timeout_reaches_the_handshake(run: Any, installation: Simulator) -> None:
    """A device that accepts and never answers the connect request: --timeout, not 5 s."""
    installation.freeze()
    try:
        result = run("status", "--timeout", "0.5")
    finally:
        installation.unfreeze()

    assert result.code == 3
    assert "within 0.5 s" in result.err


def test_connection_lost_before_the_write_is_confirmed(run: Any, installation: Simulator) -> None:
    def hang(write: ReceivedWrite) -> None:
        if write.module == HALL[0]:
            installation.freeze()

    def drop_after_the_write() -> None:
        installation.wait_for_write(lambda write: write.module == HALL[0], TIMEOUT)
        installation.drop_connections()

    unsubscribe = installation.on_write(hang)
    dropper = threading.Thread(target=drop_after_the_write)
    dropper.start()
    try:
        result = run("on", "hall")
    finally:
        dropper.join(TIMEOUT)
        unsubscribe()

    assert result.code == 3
    assert result.err.startswith(
        f"ipcom: lost the connection to 127.0.0.1:{installation.port} "
        "before it confirmed writing 255 to 1.4"
    )


def test_verbose_logging_never_shows_the_password(
    run: Any,
    installation: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    installation.set_credentials("demo", "Distinct-Pw-42")
    monkeypatch.setenv("IPCOM_PASSWORD", "Distinct-Pw-42")

    result = run("-v", "on", "hall")

    assert result.code == 0
    assert caplog.records
    assert "Distinct-Pw-42" not in caplog.text + result.out + result.err


# Shutters


@pytest.mark.parametrize(
    ("command", "on", "off"),
    [("open", LIVING_UP, LIVING_DOWN), ("close", LIVING_DOWN, LIVING_UP)],
)
def test_shutter_on_one_module_moves_in_a_single_write(
    run: Any,
    installation: Simulator,
    command: str,
    on: tuple[int, int],
    off: tuple[int, int],
) -> None:
    before = installation.snapshot()
    installation.clear_writes()

    result = run(command, "living_shutter")

    assert result.code == 0
    assert result.out == f"living_shutter: {'opening' if command == 'open' else 'closing'}\n"
    (write,) = [write for write in installation.writes() if write.module == 3]
    assert write.values[on[1] - 1] == 255
    assert write.values[off[1] - 1] == 0
    assert never_both_on(replay(before, [write]), LIVING_UP, LIVING_DOWN)
    assert (installation.get_value(*on), installation.get_value(*off)) == (255, 0)


@pytest.mark.parametrize(
    ("command", "on", "off"),
    [("open", LIVING_UP, LIVING_DOWN), ("close", LIVING_DOWN, LIVING_UP)],
)
def test_reversing_a_running_shutter_stops_it_first(
    run: Any,
    installation: Simulator,
    command: str,
    on: tuple[int, int],
    off: tuple[int, int],
) -> None:
    """The motor is stopped, rests, then runs the other way, never straight from one to other."""
    installation.set_output(*off, 255)
    before = installation.snapshot()
    installation.clear_writes()

    result = run(command, "living_shutter")

    assert result.code == 0
    stop, start = [write for write in installation.writes() if write.module == 3]
    assert (stop.values[on[1] - 1], stop.values[off[1] - 1]) == (0, 0)
    assert (start.values[on[1] - 1], start.values[off[1] - 1]) == (255, 0)
    assert never_both_on(replay(before, [stop, start]), LIVING_UP, LIVING_DOWN)
    assert stop.received_at + DEFAULT_REVERSE_PAUSE <= start.received_at


@pytest.mark.parametrize(
    ("command", "on", "off"),
    [("open", KITCHEN_UP, KITCHEN_DOWN), ("close", KITCHEN_DOWN, KITCHEN_UP)],
)
def test_shutter_on_two_modules_switches_the_other_relay_off_first(
    run: Any,
    installation: Simulator,
    command: str,
    on: tuple[int, int],
    off: tuple[int, int],
) -> None:
    installation.set_output(*off, 255)
    before = installation.snapshot()
    installation.clear_writes()

    result = run(command, "kitchen_shutter")

    assert result.code == 0
    writes = installation.writes()
    off_index = next(
        index
        for index, write in enumerate(writes)
        if write.module == off[0] and write.values[off[1] - 1] == 0
    )
    on_index = next(
        index
        for index, write in enumerate(writes)
        if write.module == on[0] and write.values[on[1] - 1] == 255
    )
    assert off_index < on_index
    assert never_both_on(replay(before, writes), KITCHEN_UP, KITCHEN_DOWN)
    assert (installation.get_value(*on), installation.get_value(*off)) == (255, 0)


@pytest.mark.parametrize("key", ["living_shutter", "kitchen_shutter"])
def test_stop_switches_both_relays_off(run: Any, installation: Simulator, key: str) -> None:
    up = LIVING_UP if key == "living_shutter" else KITCHEN_UP
    down = LIVING_DOWN if key == "living_shutter" else KITCHEN_DOWN
    installation.set_output(*up, 255)

    result = run("stop", key)

    assert (result.code, result.out) == (0, f"{key}: stopped\n")
    assert (installation.get_value(*up), installation.get_value(*down)) == (0, 0)


def test_a_shutter_answers_to_its_relay_keys(run: Any, installation: Simulator) -> None:
    result = run("open", "living_shutter_down")

    assert (result.code, result.out) == (0, "living_shutter: opening\n")
    assert installation.get_value(*LIVING_UP) == 255


# raw


def test_raw_set_writes_an_unmapped_output(run: Any, installation: Simulator) -> None:
    result = run("raw", "set", "9", "2", "255")

    assert (result.code, result.out) == (0, "9.2: 255\n")
    assert installation.get_value(9, 2) == 255


def test_raw_set_needs_no_device_map(
    run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IPCOM_DEVICES")

    result = run("raw", "set", "6", "4", "30")

    assert (result.code, result.out) == (0, "6.4: 30\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("raw", "set", "17", "1", "0"), "must be 1..16, got 17"),
        (("raw", "set", "1", "9", "0"), "must be 1..8, got 9"),
        (("raw", "set", "1", "1", "256"), "must be 0..255, got 256"),
        (("raw", "set", "1", "1", "on"), "expected a whole number, got 'on'"),
        (("raw",), "required"),
        ((), "required"),
        (("explode",), "invalid choice"),
        (("on",), "required"),
        (("status", "--timeout", "0"), "must be more than 0"),
    ],
)
def test_usage_errors_exit_2(run: Any, argv: tuple[str, ...], message: str) -> None:
    result = run(*argv)

    assert result.code == 2
    assert message in result.err


BAD_SECONDS = ["inf", "-inf", "nan", "0", "-1", "1e10", "ten", ""]
"""Not a duration: infinite or not a number, not above zero, beyond a day, not a number at all."""

BAD_OPTIONS: list[tuple[tuple[str, ...], dict[str, str], str]] = [
    *((("status", "--timeout", text), {}, "argument --timeout:") for text in BAD_SECONDS),
    *((("--timeout", text, "on", "hall"), {}, "argument --timeout:") for text in BAD_SECONDS),
    *((("watch", "--timeout", text), {}, "argument --timeout:") for text in ["inf", "0"]),
    *(
        (("status", "--poll-interval", text), {}, "argument --poll-interval:")
        for text in [*BAD_SECONDS, "5", "60"]
    ),
    *(
        (("raw", "set", "1", "1", "0", "--poll-interval", text), {}, "argument --poll-interval:")
        for text in ["5", "nan"]
    ),
    *((("status", "--port", text), {}, "argument --port:") for text in ["0", "-1", "65536", "x"]),
    *((("simulate", "--port", text), {}, "argument --port:") for text in ["-1", "65536"]),
    *((("status",), {"IPCOM_PORT": text}, "IPCOM_PORT") for text in ["0", "-5", "1.5", "inf"]),
    *((("status", "--host", host), {}, "argument --host:") for host in ["..", "a" * 64]),
    (("status",), {"IPCOM_HOST": "a" * 64 + ".example"}, "IPCOM_HOST"),
    *(
        (
            ("simulate", "--port", "0", "--activity", "--activity-interval", text),
            {},
            "--activity-interval",
        )
        for text in BAD_SECONDS
    ),
    (("raw", "set", "0", "1", "0"), {}, "argument module:"),
    (("raw", "set", "1", "0", "0"), {}, "argument output:"),
    (("raw", "set", "1", "1", "-1"), {}, "argument value:"),
    (("raw", "set", "1", "1", "1.5"), {}, "argument value:"),
    (("dim", "living_spots", "-1"), {}, "argument percent:"),
    (("dim", "living_spots", "nan"), {}, "argument percent:"),
]
"""Every option of every command with values it cannot take: (argv, environment, named)."""


@pytest.mark.parametrize(
    ("argv", "environment", "named"),
    BAD_OPTIONS,
    ids=[
        " ".join(argv) + "".join(f" {k}={v}" for k, v in env.items())
        for argv, env, _ in BAD_OPTIONS
    ],
)
def test_every_bad_option_value_is_one_usage_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    environment: dict[str, str],
    named: str,
) -> None:
    """Exit 2 and one `ipcom:` sentence naming the option; never a traceback, never a connection."""
    settings = {
        "IPCOM_HOST": "127.0.0.1",
        "IPCOM_PORT": str(free_port()),
        "IPCOM_USERNAME": "demo",
        "IPCOM_PASSWORD": "demo",
        "IPCOM_DEVICES": str(DEMO_DEVICES),
    }
    for name, value in (settings | environment).items():
        monkeypatch.setenv(name, value)

    @contextlib.contextmanager
    def stopped() -> Iterator[threading.Event]:
        """A simulate or watch that got past its checks ends at once instead of waiting."""
        stop = threading.Event()
        stop.set()
        yield stop

    monkeypatch.setattr(cli, "stop_on_signals", stopped)
    monkeypatch.setattr(cli_simulate, "stop_on_signals", stopped)

    code = main(list(argv))

    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("ipcom: ")
    assert named in err


def test_settings_the_client_refuses_together_are_a_usage_error(
    run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The options are checked one by one; whatever the client still refuses is exit 2 too."""

    def refusing(*args: object, **kwargs: object) -> None:
        raise ValueError("stale_after (5 s) must be longer than poll_interval (6 s)")

    monkeypatch.setattr(cli, "IPComClient", refusing)

    result = run("status")

    assert result.code == 2
    assert result.err == (
        "ipcom: invalid settings: stale_after (5 s) must be longer than poll_interval (6 s)\n"
    )
    assert installation.connections_accepted == 0


# Connection settings


def test_cannot_connect(run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("IPCOM_PORT", str(port))

    result = run("status")

    assert result.code == 3
    assert result.err.startswith(f"ipcom: cannot connect to 127.0.0.1:{port}")
    assert result.err.count("\n") == 1


def test_wrong_password(run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPCOM_PASSWORD", "hunter2")

    result = run("on", "hall")

    assert result.code == 4
    assert result.err == (
        f"ipcom: the installation at 127.0.0.1:{installation.port} "
        "rejected the username or password\n"
    )
    assert "hunter2" not in result.out + result.err
    assert installation.get_value(*HALL) == 0


def test_flags_override_the_environment(
    run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPCOM_HOST", "192.0.2.1")
    monkeypatch.setenv("IPCOM_PORT", "1")
    monkeypatch.setenv("IPCOM_USERNAME", "nobody")
    flags = ["--host", "127.0.0.1", "--port", str(installation.port), "--username", "demo"]

    before = run(*flags, "on", "hall")
    after = run("off", "hall", *flags)

    assert (before.code, after.code) == (0, 0)
    assert installation.get_value(*HALL) == 0


def test_password_prompt_on_a_terminal(
    run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    class Terminal:
        def isatty(self) -> bool:
            return True

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "demo"

    monkeypatch.delenv("IPCOM_PASSWORD")
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", ask)

    result = run("on", "hall")

    assert result.code == 0
    assert prompts == [f"Password for demo at 127.0.0.1:{installation.port}: "]


def test_no_password_without_a_terminal(
    run: Any, installation: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Pipe:
        def isatty(self) -> bool:
            return False

    monkeypatch.delenv("IPCOM_PASSWORD")
    monkeypatch.setattr(sys, "stdin", Pipe())

    result = run("status")

    assert result.code == 2
    assert result.err == (
        "ipcom: no password: set IPCOM_PASSWORD or run ipcom in a terminal to be asked for it\n"
    )
    assert installation.connections_accepted == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "IPCOM_PASSWORD",
            "p" * 23,
            "ipcom: invalid credentials: the password is 23 characters long; "
            "the installation accepts at most 22\n",
        ),
        (
            "IPCOM_USERNAME",
            "u" * 22,
            "ipcom: invalid credentials: the username is 22 characters long; "
            "the installation accepts at most 21\n",
        ),
        (
            "IPCOM_PASSWORD",
            "wachtwoord\u00e9",
            "ipcom: invalid credentials: "
            "the password may contain printable ASCII characters only\n",
        ),
        ("IPCOM_HOST", "", "ipcom: no installation address: give --host or set IPCOM_HOST\n"),
        ("IPCOM_USERNAME", "", "ipcom: no username: give --username or set IPCOM_USERNAME\n"),
        (
            "IPCOM_PORT",
            "fivethousand",
            "ipcom: IPCOM_PORT expected a whole number, got 'fivethousand'\n",
        ),
        ("IPCOM_PORT", "70000", "ipcom: IPCOM_PORT must be 1..65535, got 70000\n"),
    ],
)
def test_settings_are_checked_before_connecting(
    run: Any,
    installation: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)

    result = run("status")

    assert result.code == 2
    assert result.err == message
    assert installation.connections_accepted == 0


# watch and simulate run until a signal: as a subprocess.


class Process:
    """An `ipcom` subprocess whose output lines can be awaited without blocking forever."""

    def __init__(self, *argv: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "ipcom", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self._buffers = {self.popen.stdout.fileno(): b"", self.popen.stderr.fileno(): b""}
        self.out_fd = self.popen.stdout.fileno()
        self.err_fd = self.popen.stderr.fileno()

    def read_line(self, fd: int, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffers[fd]:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError(f"no line within {timeout} s; so far {self._buffers}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError(f"the process closed its output; so far {self._buffers}")
            self._buffers[fd] += chunk
        line, self._buffers[fd] = self._buffers[fd].split(b"\n", 1)
        return line.decode()

    def finish(self, signum: int) -> tuple[int, str, str]:
        """Send `signum` and return the exit code and the rest of the output."""
        self.popen.send_signal(signum)
        out, err = self.popen.communicate(timeout=TIMEOUT)
        rest_out = (self._buffers[self.out_fd] + out).decode()
        rest_err = (self._buffers[self.err_fd] + err).decode()
        return self.popen.returncode, rest_out, rest_err

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.communicate(timeout=TIMEOUT)


@pytest.fixture
def spawn() -> Iterator[Any]:
    processes: list[Process] = []

    def start(*argv: str, **env: str) -> Process:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("IPCOM_")}
        environment.update(env)
        process = Process(*argv, env=environment)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.close()


def watch_environment(simulator: Simulator) -> dict[str, str]:
    return {
        "IPCOM_HOST": simulator.host,
        "IPCOM_PORT": str(simulator.port),
        "IPCOM_USERNAME": "demo",
        "IPCOM_PASSWORD": "demo",
        "IPCOM_DEVICES": str(DEMO_DEVICES),
    }


def test_watch_prints_one_line_per_change_and_stops_on_ctrl_c(
    simulator: Simulator, spawn: Any
) -> None:
    simulator.set_output(*LIVING_SPOTS, 40)
    watch = spawn("watch", *FAST_CLI, **watch_environment(simulator))
    assert watch.read_line(watch.err_fd) == (
        f"ipcom: watching 127.0.0.1:{simulator.port}; press Ctrl-C to stop"
    )

    simulator.press(*HALL)
    first = watch.read_line(watch.out_fd)
    simulator.press(*LIVING_SPOTS)
    second = watch.read_line(watch.out_fd)
    simulator.set_output(12, 8, 255)
    third = watch.read_line(watch.out_fd)
    simulator.press(*KITCHEN_DOWN)
    fourth = watch.read_line(watch.out_fd)
    code, out, err = watch.finish(signal.SIGINT)

    timestamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
    assert re.fullmatch(rf"{timestamp} hall 1\.4 0 -> 255", first)
    assert re.fullmatch(rf"{timestamp} living_spots 6\.1 40 -> 0", second)
    assert re.fullmatch(rf"{timestamp} - 12\.8 0 -> 255", third)
    assert re.fullmatch(rf"{timestamp} kitchen_shutter_down 4\.1 0 -> 255", fourth)
    assert code == 0
    assert out == ""
    assert "Traceback" not in err
    simulator.wait_until(lambda device: device.active_connections == 0, TIMEOUT)
    assert simulator.disconnects_received == 1


def test_watch_json_lines(simulator: Simulator, spawn: Any) -> None:
    watch = spawn("watch", "--json", *FAST_CLI, **watch_environment(simulator))
    watch.read_line(watch.err_fd)

    simulator.press(*POND_PUMP)
    first = json.loads(watch.read_line(watch.out_fd))
    simulator.set_output(16, 1, 7)
    second = json.loads(watch.read_line(watch.out_fd))
    code, _, err = watch.finish(signal.SIGINT)

    assert set(first) == {"timestamp", "device", "module", "output", "old", "new"}
    assert {key: first[key] for key in ("device", "module", "output", "old", "new")} == {
        "device": "pond_pump",
        "module": 5,
        "output": 2,
        "old": 0,
        "new": 255,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["timestamp"])
    assert second["device"] is None
    assert (second["module"], second["output"], second["old"], second["new"]) == (16, 1, 0, 7)
    assert code == 0
    assert "Traceback" not in err


def test_watch_that_cannot_connect(spawn: Any) -> None:
    port = free_port()
    watch = spawn(
        "watch",
        IPCOM_HOST="127.0.0.1",
        IPCOM_PORT=str(port),
        IPCOM_USERNAME="demo",
        IPCOM_PASSWORD="demo",
    )

    code = watch.popen.wait(TIMEOUT)

    assert code == 3
    assert watch.read_line(watch.err_fd).startswith(f"ipcom: cannot connect to 127.0.0.1:{port}")


def test_watch_reports_an_outage_during_its_start(simulator: Simulator, spawn: Any) -> None:
    """The link drops after the handshake, before the first snapshot: watch says so."""
    simulator.reply_delay = 3.0
    watch = spawn("watch", *FAST_CLI, **watch_environment(simulator))
    simulator.wait_until(lambda device: device.connections_accepted == 1, TIMEOUT)
    simulator.drop_connections()
    simulator.reply_delay = 0.0

    lines = [watch.read_line(watch.err_fd) for _ in range(3)]
    simulator.press(*HALL)
    change = watch.read_line(watch.out_fd)
    code, _, err = watch.finish(signal.SIGINT)

    assert f"ipcom: watching 127.0.0.1:{simulator.port}; press Ctrl-C to stop" in lines
    assert any(line.startswith("ipcom: connection lost (") for line in lines), lines
    assert f"ipcom: connected to 127.0.0.1:{simulator.port} again" in lines
    assert change.endswith("hall 1.4 0 -> 255")
    assert code == 0
    assert "Traceback" not in err


def test_watch_ends_when_a_reconnect_is_refused(simulator: Simulator, spawn: Any) -> None:
    """The password changed while watching: the client stops retrying, so watch must not idle on."""
    watch = spawn("watch", *FAST_CLI, **watch_environment(simulator))
    watch.read_line(watch.err_fd)

    simulator.set_credentials("demo", "changed")
    simulator.drop_connections()
    code = watch.popen.wait(TIMEOUT)

    _, _, err = watch.finish(signal.SIGINT)
    assert code == 4
    assert f"127.0.0.1:{simulator.port} rejected the username or password" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_simulate_serves_the_device_map_until_stopped(
    run: Any, spawn: Any, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    simulate = spawn(
        "simulate",
        "--port",
        "0",
        "--devices",
        str(DEMO_DEVICES),
        IPCOM_USERNAME="installer",
        IPCOM_PASSWORD="s3cret-pass",
    )
    ready = simulate.read_line(simulate.out_fd)
    match = re.fullmatch(
        r"ipcom simulator listening on 127\.0\.0\.1:(\d+) \(user installer\)", ready
    )
    assert match, ready
    monkeypatch.setenv("IPCOM_HOST", "127.0.0.1")
    monkeypatch.setenv("IPCOM_PORT", match[1])
    monkeypatch.setenv("IPCOM_USERNAME", "installer")
    monkeypatch.setenv("IPCOM_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("IPCOM_DEVICES", str(DEMO_DEVICES))

    dimmed = run("dim", "dining_table", "30")
    status = json.loads(run("status", "--json").out)
    monkeypatch.setenv("IPCOM_PASSWORD", "demo")
    rejected = run("status")
    code, out, err = simulate.finish(signum)

    assert dimmed.code == 0
    levels = {device["key"]: device.get("value") for device in status["devices"]}
    assert levels["dining_table"] == 30
    assert rejected.code == 4
    assert code == 0
    assert out == ""
    assert "Traceback" not in err
    assert "s3cret-pass" not in ready + out + err


def test_simulate_activity_presses_lights_and_switches(run: Any, spawn: Any) -> None:
    simulate = spawn(
        "simulate",
        "--port",
        "0",
        "--devices",
        str(DEMO_DEVICES),
        "--activity",
        "--activity-interval",
        "0.02",
    )
    port = re.findall(r":(\d+) ", simulate.read_line(simulate.out_fd))[0]
    environment = {
        "IPCOM_HOST": "127.0.0.1",
        "IPCOM_PORT": port,
        "IPCOM_USERNAME": "demo",
        "IPCOM_PASSWORD": "demo",
        "IPCOM_DEVICES": str(DEMO_DEVICES),
    }
    watch = spawn("watch", "--json", *FAST_CLI, **environment)
    watch.read_line(watch.err_fd)

    changes = [json.loads(watch.read_line(watch.out_fd)) for _ in range(3)]
    watch_code, _, watch_err = watch.finish(signal.SIGINT)
    code, _, err = simulate.finish(signal.SIGINT)

    shutter_relays = {(3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (4, 1), (4, 2), (4, 3)}
    for change in changes:
        assert change["device"] is not None
        assert (change["module"], change["output"]) not in shutter_relays
    assert (watch_code, code) == (0, 0)
    assert "Traceback" not in watch_err + err


def test_simulate_on_a_port_in_use(run: Any, simulator: Simulator) -> None:
    result = run("simulate", "--port", str(simulator.port), "--devices", str(DEMO_DEVICES))

    assert result.code == 3
    assert result.err.startswith(f"ipcom: cannot listen on 127.0.0.1:{simulator.port}")


def test_simulate_rejects_credentials_the_protocol_cannot_carry(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPCOM_PASSWORD", "x" * 30)

    result = run("simulate", "--port", "0")

    assert result.code == 2
    assert result.err == (
        "ipcom: invalid credentials for the simulator: the password is 30 characters long; "
        "the installation accepts at most 22\n"
    )


def test_python_m_ipcom_help() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ipcom", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert completed.returncode == 0
    for command in ("list", "status", "watch", "on", "dim", "open", "raw", "simulate"):
        assert command in completed.stdout
