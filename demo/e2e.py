"""End-to-end test of the demo: Home Assistant, the integration, the simulator and a browser.

`scripts/e2e` runs this after installing Chromium and playwright-core. It starts the demo as
a newcomer would (a fresh configuration directory, `python -m demo`), with the simulator's
random household activity off so that every change it sees is one it caused. It checks that
the setup imported devices.yaml into the entry's sub-entries (one per device, each holding its
device's entity), and then:

1. turns a light on, dims a dimmer to 37 % and opens a shutter through Home Assistant's REST
   API (with a long-lived token) and checks each on the simulator's outputs;
2. times 40 light actions from the REST call to its answer, which Home Assistant gives only
   once the installation showed the write (median and p95);
3. presses a wall switch on the installation and measures how long Home Assistant takes to
   follow;
4. opens the dashboard in headless Chromium, checks every device's name is on the page, clicks
   a light's toggle and checks the simulator's output followed, and saves a screenshot;
5. on the integration's page in Chromium: "Add light" on an output devices.yaml leaves free,
   switches the new light on in its more-info dialog (checked on the simulator), renames it
   through its sub-entry's Configure, deletes the sub-entry, each timed from the click to what
   the REST API (or the simulator) shows; the simulator's log must show no connection opened
   or closed meanwhile (the entry follows its sub-entries without reloading);
6. stops the demo with Ctrl-C (SIGINT) and checks no process is left and the ports are free.

The simulator is observed with the product's own command line: `ipcom watch --json`, a second
client polling every 10 ms, reports each output change with the time it saw it, and
`ipcom status --json` reads the whole installation. A wall-switch press is `ipcom on <key>`
from that second client: to Home Assistant, exactly like a press, a change it did not make.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ipcom.device_records import address_id, records_of
from ipcom.devices import DeviceMap, LightEntry, load_device_map

from .config_dir import SECOND_BUS_TYPE
from .dashboard import Registry, place_devices
from .hass_api import HassApi, HassApiError
from .processes import group_alive, parent_death_signal, port_is_free
from .subentries import check_subentries, free_relay_output
from .supervisor import ENV_PASSWORD, ENV_USERNAME, HOST, ROOT

ARTIFACTS = ROOT / "artifacts"
WORK = ARTIFACTS / "e2e"
HASS_PORT = 8123
OBSERVER_POLL = 0.01
STEP_TIMEOUT = 10.0
DIM_PERCENT = 37
CONFIRMATION_ACTIONS = 40
"""Light actions timed from the REST call to its answer, which waits for the confirmation."""
WALL_SWITCH_PRESSES = 5
RELAY_ON = 255
RELAY_OFF = 0
BROWSER_START_TIMEOUT = 120.0
BROWSER_COMMAND_TIMEOUT = 120.0
"""A browser command does several bounded waits (each BROWSER_WAIT_MS at most)."""
BROWSER_WAIT_MS = 45000
SUBENTRY_TIMEOUT = 30.0
"""How long Home Assistant may take to show the effect of a sub-entry change."""
ADDED_LIGHT_NAME = "E2E reading lamp"
RENAMED_LIGHT_NAME = "E2E desk lamp"

_PAGE_ERRORS = ("page_error", "console_error")
_LOG_PROBLEM = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |^Traceback ")


PID_FILE = WORK / "pids"


def record_process_group(pgid: int) -> None:
    """Note a process group this test started, for scripts/e2e's last-resort cleanup."""
    with PID_FILE.open("a", encoding="utf-8") as pids:
        pids.write(f"{pgid}\n")


async def spawn(*argv: str, **options: Any) -> asyncio.subprocess.Process:
    """Start a child in a process group of its own that dies with this test.

    Every child goes through here, so scripts/e2e's last-resort cleanup knows
    every group and none outlives a killed test.
    """
    options.setdefault("stdin", asyncio.subprocess.DEVNULL)
    process = await asyncio.create_subprocess_exec(
        *argv,
        start_new_session=True,
        preexec_fn=parent_death_signal(),
        **options,
    )
    record_process_group(process.pid)
    return process


class CheckError(Exception):
    """A check failed; the message says which and what was seen instead."""


@dataclass(frozen=True)
class Change:
    """One output change seen on the installation by the observing client."""

    seen_at: float
    bus: int
    module: int
    output: int
    old: int
    new: int


class Steps:
    """Prints each step with its duration and collects the figures for the summary."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.figures: list[tuple[str, str]] = []
        self.current = "start"

    def say(self, message: str) -> None:
        """A line of the test's own output."""
        print(f"e2e  [{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """Time one step; a failure inside names the step."""
        self.say(f"{name} ...")
        self.current = name
        started = time.monotonic()
        try:
            yield
        except CheckError as err:
            raise CheckError(f"{name}: {err}") from None
        except TimeoutError:
            raise CheckError(f"{name}: timed out") from None
        self.say(f"{name}: ok ({time.monotonic() - started:.2f} s)")

    def figure(self, name: str, value: str) -> None:
        """A measured figure, printed now and again in the summary."""
        self.figures.append((name, value))
        self.say(f"  {name}: {value}")


class Observer:
    """`ipcom watch --json` as a second client: every output change with the time it was seen."""

    def __init__(self, port: int, devices: Path) -> None:
        self._argv = [
            _ipcom_path(),
            "--host",
            HOST,
            "--port",
            str(port),
            "--devices",
            str(devices),
            "--poll-interval",
            str(OBSERVER_POLL),
            *_bus_options(devices),
            "watch",
            "--json",
        ]
        self.changes: list[Change] = []
        self._changed = asyncio.Condition()
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start watching; returns once the client holds its first snapshot."""
        self._process = await spawn(
            *self._argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_credentials_env(),
        )
        assert self._process.stderr is not None
        async with asyncio.timeout(STEP_TIMEOUT):
            while b"watching" not in (line := await self._process.stderr.readline()):
                if not line:
                    raise CheckError(f"ipcom watch exited with status {await self._process.wait()}")
        self._readers = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._echo_errors()),
        ]

    async def _echo_errors(self) -> None:
        """Connection news from the watching client, shown as they come."""
        assert self._process is not None
        assert self._process.stderr is not None
        async for line in self._process.stderr:
            print(f"     watch: {line.decode(errors='replace').rstrip()}", flush=True)

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            event = json.loads(line)
            change = Change(
                seen_at=datetime.fromisoformat(event["timestamp"]).timestamp(),
                bus=event.get("bus", 1),
                module=event["module"],
                output=event["output"],
                old=event["old"],
                new=event["new"],
            )
            async with self._changed:
                self.changes.append(change)
                self._changed.notify_all()

    async def wait_for(
        self, module: int, output: int, value: int, since: float, bus: int = 1
    ) -> Change:
        """The first change of module.output of `bus` to `value` at or after `since` (epoch s)."""

        def match() -> Change | None:
            return next(
                (
                    change
                    for change in self.changes
                    if (change.bus, change.module, change.output, change.new)
                    == (bus, module, output, value)
                    and change.seen_at >= since - OBSERVER_POLL
                ),
                None,
            )

        try:
            async with asyncio.timeout(STEP_TIMEOUT), self._changed:
                await self._changed.wait_for(lambda: match() is not None)
        except TimeoutError:
            raise CheckError(
                f"the simulator's output {module}.{output} of bus {bus} did not become {value} "
                f"within {STEP_TIMEOUT:.0f} s"
            ) from None
        found = match()
        assert found is not None
        return found

    async def stop(self) -> None:
        """Stop the watching client (SIGINT, as Ctrl-C) and wait for it."""
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(5):
                    await self._process.wait()
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        for reader in self._readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


class SimulatorLog:
    """The simulator's log: who connected and whose connection closed, since a mark.

    The simulator runs with --verbose and logs each connection that completed its handshake
    ("Client ... connected as ...") and each such connection closed ("Connection from ...
    closed"). Home Assistant keeps its connections open for good; one more or one fewer means
    it reconnected (a reload of its entry, say).
    """

    _CONNECTED = re.compile(r"Client (?P<peer>\S+) connected as .* to bus (?P<bus>\d+)")
    _CLOSED = re.compile(r"Connection from (?P<peer>\S+) closed")

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Where the log ends now."""
        return self.path.stat().st_size

    def connections_since(self, mark: int) -> tuple[list[str], list[str]]:
        """Peers that connected and peers whose connection closed after `mark`."""
        with self.path.open(encoding="utf-8", errors="replace") as log:
            log.seek(mark)
            lines = log.readlines()
        connected = [m["peer"] for line in lines if (m := self._CONNECTED.search(line))]
        closed = [m["peer"] for line in lines if (m := self._CLOSED.search(line))]
        return connected, closed


class BrowserSession:
    """e2e/browser.mjs in its "commands" mode: one command at a time, each answered by events.

    The browser stays on the integration's page between commands, as a person would. A
    command's result comes once the page shows its effect; some commands also say when they
    clicked, so that what follows the click (the REST API, the simulator) is timed from it.
    """

    def __init__(self, options: dict[str, Any], steps: Steps) -> None:
        self._options = {**options, "mode": "commands"}
        self._steps = steps
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._events: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._ended = False
        self._ids = itertools.count(1)

    async def __aenter__(self) -> BrowserSession:
        node = shutil.which("node")
        if node is None:
            raise CheckError("node is not installed")
        self._process = await spawn(
            node,
            str(ROOT / "e2e" / "browser.mjs"),
            json.dumps(self._options),
            cwd=ROOT / "e2e",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await self.event("ready", None, BROWSER_START_TIMEOUT)
        except BaseException:
            await self._close(failed=True)
            raise
        return self

    async def __aexit__(self, exc_type: object, *exc_info: object) -> None:
        await self._close(failed=exc_type is not None)

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        try:
            async for raw in self._process.stdout:
                event = _browser_event(raw, self._steps)
                if event is None:
                    continue
                async with self._arrived:
                    self._events.append(event)
                    self._arrived.notify_all()
        finally:
            async with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    async def send(self, do: str, **fields: Any) -> int:
        """Send one command; its id, for `event` and `result`."""
        assert self._process is not None
        assert self._process.stdin is not None
        if self._ended:
            raise CheckError(f"the browser exited before {do}: {self._failure()}")
        command_id = next(self._ids)
        line = json.dumps({"id": command_id, "do": do, **fields}) + "\n"
        self._process.stdin.write(line.encode())
        await self._process.stdin.drain()
        return command_id

    async def event(
        self, name: str, command_id: int | None, seconds: float = BROWSER_COMMAND_TIMEOUT
    ) -> dict[str, Any]:
        """The event `name` of command `command_id`; CheckError on the browser's failure."""

        def found() -> dict[str, Any] | None:
            for event in self._events:
                if event["event"] == "error":
                    return event
                if event["event"] == name and event.get("id") == command_id:
                    return event
            return {"event": "ended"} if self._ended else None

        try:
            async with asyncio.timeout(seconds), self._arrived:
                await self._arrived.wait_for(lambda: found() is not None)
        except TimeoutError:
            raise CheckError(f"the browser did not say {name} within {seconds:.0f} s") from None
        event = found()
        assert event is not None
        if event["event"] in ("error", "ended"):
            raise CheckError(f"in the browser: {self._failure()}")
        return event

    async def alongside[T](self, work: Awaitable[T]) -> T:
        """Await `work` (a check of what a command does), but fail as soon as the browser fails.

        A command's effect is checked while the browser still works on the command: a failure
        there is told at once rather than as the check's timeout.
        """
        checking = asyncio.ensure_future(work)
        # An event no command sends: this wait ends only with the browser's failure or exit.
        failing = asyncio.ensure_future(self.event("", -1, BROWSER_COMMAND_TIMEOUT * 10))
        try:
            await asyncio.wait({checking, failing}, return_when=asyncio.FIRST_COMPLETED)
            if not checking.done():
                failing.result()  # the browser's failure, as a CheckError
            return checking.result()
        finally:
            for task in (checking, failing):
                task.cancel()
            await asyncio.gather(checking, failing, return_exceptions=True)

    async def result(self, command_id: int) -> dict[str, Any]:
        """The result of a command."""
        return await self.event("result", command_id)

    def _failure(self) -> str:
        errors = [event for event in self._events if event["event"] == "error"]
        if not errors:
            status = None if self._process is None else self._process.returncode
            return f"it exited (status {status}) without saying why"
        error = errors[0]
        shot = error.get("screenshot")
        where = f" (screenshot: {Path(shot).relative_to(ROOT)})" if shot else ""
        return f"{error['message']}{where}"

    async def _close(self, *, failed: bool) -> None:
        """Quit the browser; after a failure, save a screenshot of the page first."""
        process = self._process
        if process is None:
            return
        if process.returncode is None and not self._ended:
            with contextlib.suppress(CheckError, ConnectionError, TimeoutError):
                if failed and (shot := self._options.get("failure_screenshot")):
                    await self.event(
                        "result", await self.send("screenshot", path=shot, full_page=True), 30
                    )
                    self._steps.say(f"  screenshot of the page: {Path(shot).relative_to(ROOT)}")
                await self.send("quit")
        if process.stdin is not None:
            process.stdin.close()
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class DemoProcess:
    """`python -m demo` in a fresh configuration directory, as the test's child."""

    def __init__(self, config_dir: Path, ready_file: Path, devices: Path) -> None:
        self.config_dir = config_dir
        self.ready_file = ready_file
        self.devices = devices
        self.ready: dict[str, Any] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._echo: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        """The demo supervisor's process id (and process group)."""
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        """Start the demo and wait until it wrote its ready file."""
        self.ready_file.unlink(missing_ok=True)
        self._process = await spawn(
            sys.executable,
            "-m",
            "demo",
            "--config-dir",
            str(self.config_dir),
            "--fresh",
            "--no-activity",
            "--devices",
            str(self.devices),
            "--hass-port",
            str(HASS_PORT),
            "--ready-file",
            str(self.ready_file),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=_credentials_env(),
        )
        self._echo = asyncio.create_task(self._echo_output())
        while not self.ready_file.exists():
            if self._process.returncode is not None:
                raise CheckError(f"the demo exited with status {self._process.returncode}")
            await asyncio.sleep(0.1)
        self.ready = json.loads(self.ready_file.read_text(encoding="utf-8"))
        for pgid in self.ready["pids"].values():
            record_process_group(pgid)

    async def _echo_output(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            print(f"     | {line.decode(errors='replace').rstrip()}", flush=True)

    @property
    def returncode(self) -> int | None:
        """The demo's exit status once it ended."""
        return None if self._process is None else self._process.returncode

    async def wait(self) -> int:
        """Wait until the demo exits, for whatever reason; its exit status."""
        assert self._process is not None
        return await self._process.wait()

    async def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the demo, then wait for it to stop everything and exit."""
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
        async with asyncio.timeout(90):
            status = await self._process.wait()
        if self._echo is not None:
            await self._echo
        return status

    async def kill(self) -> None:
        """Last resort after a failure: end the demo and anything it started."""
        if self._process is None:
            return
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                self._process.send_signal(signal.SIGINT)
                async with asyncio.timeout(60):
                    await self._process.wait()
        for pgid in [self.pid, *self.ready.get("pids", {}).values()]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self._process.returncode is None:
            await self._process.wait()
        if self._echo is not None:
            self._echo.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._echo


class EndToEnd:
    """The steps of the test, against one demo."""

    def __init__(self, steps: Steps, devices: Path) -> None:
        self.steps = steps
        self.devices = devices
        self.device_map: DeviceMap = load_device_map(devices)
        self.demo = DemoProcess(WORK / "config", WORK / "ready.json", devices)
        self.api: HassApi | None = None
        self.observer: Observer | None = None
        self.entity_of: dict[str, str] = {}
        self.problems: list[str] = []
        """Checks that fail the test once every step has run and been timed."""

    async def run(self) -> None:
        """All steps; raises CheckError on the first failed check."""
        WORK.mkdir(parents=True, exist_ok=True)
        PID_FILE.write_text("", encoding="utf-8")
        # Screenshots of an earlier run would pass for this one's.
        for stale in ARTIFACTS.glob("e2e-*.png"):
            stale.unlink()
        try:
            await self._start()
            await self._while_demo_runs(self._checks())
        finally:
            await self._release()
        await self._stop_and_check()
        self._check_hass_log()
        if self.problems:
            raise CheckError("\n".join(self.problems))

    async def _checks(self) -> None:
        await self._rest_commands()
        await self._confirmation_latency()
        await self._wall_switch()
        await self._browser()
        await self._subentries()

    async def _while_demo_runs(self, checks: Awaitable[None]) -> None:
        """Run the checks, but stop at once if the demo falls over meanwhile."""
        checking = asyncio.ensure_future(checks)
        demo_exit = asyncio.ensure_future(self.demo.wait())
        try:
            await asyncio.wait({checking, demo_exit}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            demo_exit.cancel()
            checking.cancel()
            await asyncio.gather(checking, demo_exit, return_exceptions=True)
        if not checking.cancelled():
            checking.result()
            return
        raise CheckError(
            f"{self.steps.current}: the demo exited with status {self.demo.returncode}"
        )

    @property
    def _simulator_port(self) -> int:
        return int(self.demo.ready["simulator"]["port"])

    async def _start(self) -> None:
        if not port_is_free(HOST, HASS_PORT):
            raise CheckError(f"port {HASS_PORT} is in use: stop the Home Assistant using it first")
        async with self.steps.step("start the demo (fresh configuration, no random activity)"):
            started = time.monotonic()
            async with asyncio.timeout(600):
                await self.demo.start()
            self.steps.figure("start-up, command to ready", f"{time.monotonic() - started:.1f} s")
        async with self.steps.step("log in and create a long-lived token"):
            self.api = HassApi(f"http://{HOST}:{HASS_PORT}")
            await self.api.login_trusted_network()
            registry = await self._registry()
            token = await self.api.long_lived_token("ipcom e2e")
            self.api.use_token(token)
            for placed in place_devices(self.device_map, registry):
                self.entity_of[placed.key] = placed.entity_ids[0]
            missing = [d.name for d in self.device_map if d.key not in self.entity_of]
            if missing:
                raise CheckError(f"no entity in Home Assistant for {', '.join(missing)}")
            self.steps.say(f"  {len(self.entity_of)} devices have their entity")
        async with self.steps.step("the entry holds one sub-entry per device of devices.yaml"):
            await self._imported_subentries()
        async with self.steps.step("watch the installation with a second client"):
            self.observer = Observer(self._simulator_port, self.devices)
            await self.observer.start()

    async def _subentry_list(self) -> list[dict[str, Any]]:
        assert self.api is not None
        async with self.api.websocket() as ws:
            subentries: list[dict[str, Any]] = await ws.command(
                "config_entries/subentries/list", entry_id=self.demo.ready["entry_id"]
            )
        return subentries

    async def _entity_registry(self) -> list[dict[str, Any]]:
        assert self.api is not None
        async with self.api.websocket() as ws:
            entities: list[dict[str, Any]] = await ws.command("config/entity_registry/list")
        return entities

    async def _imported_subentries(self) -> None:
        """The setup imported devices.yaml: a sub-entry per device, holding its entity."""
        subentries = await self._subentry_list()
        check = check_subentries(self.device_map, subentries)
        if not check.complete:
            raise CheckError(f"sub-entries do not match devices.yaml: {check.summary()}")
        by_unique_id = {s["unique_id"]: s for s in subentries}
        records = records_of(self.device_map)
        subentry_of = {
            device.key: by_unique_id[record.unique_id]["subentry_id"]
            for device, record in zip(self.device_map, records, strict=True)
        }
        registry = {entity["entity_id"]: entity for entity in await self._entity_registry()}
        outside = [
            f"{entity_id} (sub-entry {registry.get(entity_id, {}).get('config_subentry_id')})"
            for key, entity_id in self.entity_of.items()
            if registry.get(entity_id, {}).get("config_subentry_id") != subentry_of[key]
        ]
        if outside:
            raise CheckError(f"entities outside their device's sub-entry: {', '.join(outside)}")
        kinds = Counter(s["subentry_type"] for s in subentries)
        self.steps.say(
            f"  {len(subentries)} sub-entries ({', '.join(f'{n} {k}' for k, n in kinds.items())}),"
            " each holding its device's entity"
        )

    async def _registry(self) -> Registry:
        assert self.api is not None
        async with self.api.websocket() as ws:
            return Registry(
                entry_id=self.demo.ready["entry_id"],
                devices=await ws.command("config/device_registry/list"),
                entities=await ws.command("config/entity_registry/list"),
                areas=await ws.command("config/area_registry/list"),
            )

    async def _rest_commands(self) -> None:
        light, dimmer, _, _ = self._pick_lights()
        shutter = self.device_map.covers[0]
        async with self.steps.step(f"REST: turn on {light.name!r}"):
            await self._command_reaches_simulator(
                "light on",
                "light",
                "turn_on",
                {"entity_id": self.entity_of[light.key]},
                [(light.module, light.output, RELAY_ON)],
            )
        async with self.steps.step(f"REST: dim {dimmer.name!r} to {DIM_PERCENT} %"):
            await self._command_reaches_simulator(
                f"dim to {DIM_PERCENT} %",
                "light",
                "turn_on",
                {"entity_id": self.entity_of[dimmer.key], "brightness_pct": DIM_PERCENT},
                [(dimmer.module, dimmer.output, DIM_PERCENT)],
            )
        async with self.steps.step(f"REST: open {shutter.name!r}"):
            await self._command_reaches_simulator(
                "open shutter",
                "cover",
                "open_cover",
                {"entity_id": self.entity_of[shutter.key]},
                [(shutter.up.module, shutter.up.output, RELAY_ON)],
            )
        second_bus = next((light for light in self.device_map.lights if light.bus == 2), None)
        if second_bus is not None:
            async with self.steps.step(f"REST: turn on {second_bus.name!r}, on bus 2"):
                await self._command_reaches_simulator(
                    "bus 2 light on",
                    "light",
                    "turn_on",
                    {"entity_id": self.entity_of[second_bus.key]},
                    [(second_bus.module, second_bus.output, RELAY_ON)],
                    bus=2,
                )
        async with self.steps.step("the simulator holds all three (ipcom status --json)"):
            values = await _installation_values(self._simulator_port, self.devices)
            expected = {
                (light.module, light.output): RELAY_ON,
                (dimmer.module, dimmer.output): DIM_PERCENT,
                (shutter.up.module, shutter.up.output): RELAY_ON,
                (shutter.down.module, shutter.down.output): RELAY_OFF,
            }
            wrong = {a: values.get(a) for a, v in expected.items() if values.get(a) != v}
            if wrong:
                raise CheckError(f"simulator outputs {wrong}, expected {expected}")
            state = await self._state(self.entity_of[dimmer.key])
            brightness = state["attributes"].get("brightness")
            if brightness is None or round(brightness * 100 / 255) != DIM_PERCENT:
                raise CheckError(f"{dimmer.name} has brightness {brightness} in Home Assistant")

    async def _confirmation_latency(self) -> None:
        """How long an action takes: it returns only once the installation showed its write."""
        assert self.api is not None
        light, _, _, _ = self._pick_lights()
        entity_id = self.entity_of[light.key]
        async with self.steps.step(
            f"REST: {CONFIRMATION_ACTIONS} actions on {light.name!r}, each until the "
            "installation confirmed it"
        ):
            durations: list[float] = []
            for number in range(CONFIRMATION_ACTIONS):
                service = "turn_off" if number % 2 == 0 else "turn_on"
                started = time.monotonic()
                await self.api.rest(
                    "POST", f"/api/services/light/{service}", {"entity_id": entity_id}
                )
                durations.append(time.monotonic() - started)
            cuts = statistics.quantiles(durations, n=20)
            self.steps.figure(
                "action to confirmation (REST call), median / p95",
                f"{statistics.median(durations) * 1000:.0f} / {cuts[18] * 1000:.0f} ms "
                f"(target p95 <= 300 ms, {CONFIRMATION_ACTIONS} actions)",
            )

    async def _command_reaches_simulator(
        self,
        label: str,
        domain: str,
        service: str,
        data: dict[str, Any],
        outputs: list[tuple[int, int, int]],
        *,
        bus: int = 1,
    ) -> None:
        assert self.api is not None
        assert self.observer is not None
        sent = time.time()
        await self.api.rest("POST", f"/api/services/{domain}/{service}", data)
        changes = [await self.observer.wait_for(m, o, v, sent, bus) for m, o, v in outputs]
        latest = max(change.seen_at for change in changes)
        self.steps.figure(f"{label}: REST call to simulator", f"{(latest - sent) * 1000:.0f} ms")

    async def _wall_switch(self) -> None:
        _, _, light, _ = self._pick_lights()
        entity_id = self.entity_of[light.key]
        assert self.observer is not None
        name = f"wall switch: press {light.name!r} {WALL_SWITCH_PRESSES} times on the installation"
        async with self.steps.step(name):
            if (await self._state(entity_id))["state"] != "off":
                raise CheckError(f"{entity_id} should be off before the first press")
            delays: list[float] = []
            for press in range(WALL_SWITCH_PRESSES):
                target = "off" if press % 2 else "on"
                pressed = time.time()
                await _ipcom(self._simulator_port, self.devices, target, light.key)
                value = RELAY_ON if target == "on" else RELAY_OFF
                change = await self.observer.wait_for(light.module, light.output, value, pressed)
                state = await self._wait_for_state(entity_id, target)
                followed = datetime.fromisoformat(state["last_changed"]).timestamp()
                delays.append(followed - change.seen_at)
            self.steps.figure(
                "wall switch to Home Assistant state",
                f"median {statistics.median(delays) * 1000:.0f} ms, "
                f"max {max(delays) * 1000:.0f} ms over {len(delays)} presses",
            )

    async def _browser(self) -> None:
        _, _, _, light = self._pick_lights()
        entity_id = self.entity_of[light.key]
        assert self.observer is not None
        screenshot = ARTIFACTS / "e2e-dashboard.png"
        async with self.steps.step("browser: dashboard, every device name, click a light"):
            if (await self._state(entity_id))["state"] != "off":
                raise CheckError(f"{entity_id} should be off before the click")
            names = [device.name for device in self.device_map]
            options = {
                "url": self.demo.ready["url"],
                "names": names,
                "toggle": {"entity_id": entity_id, "name": light.name},
                "screenshot": str(screenshot),
                "integrations_screenshot": str(ARTIFACTS / "e2e-integrations.png"),
                "failure_screenshot": str(ARTIFACTS / "e2e-dashboard-failure.png"),
                "timeout_ms": 60000,
            }
            events = await _run_browser(options, self.steps)
            toggled = next(event for event in events if event["event"] == "toggled")
            clicked = toggled["clicked_at_ms"] / 1000
            change = await self.observer.wait_for(light.module, light.output, RELAY_ON, clicked)
            ready = next(event for event in events if event["event"] == "frontend_ready")
            self.steps.say(f"  landed on {ready['url']}; {len(names)} device names visible")
            self.steps.figure(
                "browser click to simulator", f"{(change.seen_at - clicked) * 1000:.0f} ms"
            )
            self.steps.say(f"  screenshot: {screenshot.relative_to(ROOT)}")

    async def _subentries(self) -> None:
        """Add a light in the UI, switch it on, rename it, delete it; time each, no reconnect."""
        found = free_relay_output(self.device_map)
        if found is None:
            raise CheckError("the device map leaves no output free on a module of relay lights")
        module, output = found
        log = SimulatorLog(Path(self.demo.ready["config_dir"]) / "simulator.log")
        mark = log.mark()
        options = {
            "url": f"{self.demo.ready['url'].rstrip('/')}/config/integrations/integration/ipcom",
            "timeout_ms": BROWSER_WAIT_MS,
            "failure_screenshot": str(ARTIFACTS / "e2e-subentries-failure.png"),
        }
        async with contextlib.AsyncExitStack() as stack:
            async with self.steps.step("browser: open the integration's page"):
                browser = await stack.enter_async_context(BrowserSession(options, self.steps))
            entity_id, subentry_id = await self._add_light(browser, module, output)
            await self._switch_on_in_browser(browser, entity_id, module, output)
            await self._rename_light(browser, entity_id, subentry_id, module, output)
            await self._delete_light(browser, entity_id, subentry_id)
        async with self.steps.step("no reconnection while devices were added, changed, deleted"):
            connected, closed = log.connections_since(mark)
            if connected or closed:
                raise CheckError(
                    f"the simulator saw {len(connected)} new connections "
                    f"({', '.join(connected) or 'none'}) and {len(closed)} closed "
                    f"({', '.join(closed) or 'none'}): the entry reconnected"
                )
            entries = await self._entries()
            if [entry["state"] for entry in entries] != ["loaded"]:
                raise CheckError(f"ipcom entries: {[(e['title'], e['state']) for e in entries]}")
            self.steps.say("  no connection opened or closed; the entry stayed loaded")

    async def _add_light(
        self, browser: BrowserSession, module: int, output: int
    ) -> tuple[str, str]:
        """Add a light through the page's "Add light"; its entity id and sub-entry id."""
        assert self.api is not None
        name = ADDED_LIGHT_NAME
        unique_id = address_id(1, module, output)
        async with self.steps.step(f"browser: Add light {name!r} on output {module}.{output}"):
            known = {state["entity_id"] for state in await self.api.rest("GET", "/api/states")}
            command = await browser.send(
                "add_subentry",
                flow_type="light",
                fields={"name": name, "module": module, "output": output},
                screenshot=str(ARTIFACTS / "e2e-subentries.png"),
            )
            submitted = (await browser.event("submitted", command))["at_ms"] / 1000

            async def new_entity() -> dict[str, Any] | None:
                assert self.api is not None
                states: list[dict[str, Any]] = await self.api.rest("GET", "/api/states")
                return next(
                    (
                        state
                        for state in states
                        if state["entity_id"] not in known
                        and state["attributes"].get("friendly_name") == name
                    ),
                    None,
                )

            state = await browser.alongside(
                _poll_until(new_entity, f"no entity named {name!r} in /api/states")
            )
            appeared = time.time()
            result = await browser.result(command)
            entity_id = str(state["entity_id"])
            subentry = next(
                (s for s in await self._subentry_list() if s["unique_id"] == unique_id), None
            )
            if subentry is None or (subentry["subentry_type"], subentry["title"]) != (
                "light",
                name,
            ):
                raise CheckError(
                    f"expected a light sub-entry {name!r} at {unique_id}, got {subentry}"
                )
            registry = {e["entity_id"]: e for e in await self._entity_registry()}
            holder = registry.get(entity_id, {}).get("config_subentry_id")
            if holder != subentry["subentry_id"]:
                raise CheckError(
                    f"{entity_id} belongs to sub-entry {holder}, not {subentry['subentry_id']}"
                )
            self.steps.say(
                f"  button {result['label']!r}; the dialog said {result['outcome']!r}; "
                f"{entity_id} in sub-entry {unique_id}, listed on the page "
                f"{result['submit_to_listed_ms']} ms after Submit"
            )
            if result["label"] != "Add light":
                self.problems.append(
                    f"the integration page's button to add a light reads {result['label']!r}, "
                    "not 'Add light' (config_subentries.light.initiate_flow.user)"
                )
            self.steps.figure(
                "add light (Submit to entity in REST)", f"{(appeared - submitted) * 1000:.0f} ms"
            )
            return entity_id, str(subentry["subentry_id"])

    async def _switch_on_in_browser(
        self, browser: BrowserSession, entity_id: str, module: int, output: int
    ) -> None:
        assert self.observer is not None
        async with self.steps.step(f"browser: switch {entity_id} on in its more-info dialog"):
            command = await browser.send("switch_on", entity_id=entity_id)
            clicked = (await browser.event("clicked", command))["at_ms"] / 1000
            change = await browser.alongside(
                self.observer.wait_for(module, output, RELAY_ON, clicked)
            )
            result = await browser.result(command)
            await self._wait_for_state(entity_id, "on")
            self.steps.say(
                f"  the frontend showed it on {result['click_to_state_ms']} ms after the click"
            )
            self.steps.figure(
                "switch new light (click to simulator)",
                f"{(change.seen_at - clicked) * 1000:.0f} ms",
            )

    async def _rename_light(
        self, browser: BrowserSession, entity_id: str, subentry_id: str, module: int, output: int
    ) -> None:
        assert self.api is not None
        old, new = ADDED_LIGHT_NAME, RENAMED_LIGHT_NAME
        async with self.steps.step(f"browser: rename {old!r} to {new!r} (sub-entry's Configure)"):
            command = await browser.send(
                "reconfigure_subentry",
                subentry_id=subentry_id,
                fields={"name": new},
                expect={"name": old, "module": module, "output": output},
            )
            submitted = (await browser.event("submitted", command))["at_ms"] / 1000
            state = await browser.alongside(
                _poll_until(
                    lambda: self._state_or_none(entity_id),
                    f"{entity_id} not named {new!r} in /api/states",
                    lambda state: (
                        state is not None and state["attributes"].get("friendly_name") == new
                    ),
                )
            )
            renamed = time.time()
            result = await browser.result(command)
            if state["state"] != "on":
                raise CheckError(f"{entity_id} is {state['state']} after the rename, expected on")
            subentry = next(
                (s for s in await self._subentry_list() if s["subentry_id"] == subentry_id), None
            )
            if subentry is None or subentry["title"] != new:
                raise CheckError(f"sub-entry {subentry_id} after the rename: {subentry}")
            self.steps.say(
                f"  button {result['label']!r}; prefilled {result['prefilled']}; "
                f"{entity_id} keeps its id and stays on; the dialog said {result['outcome']!r}"
            )
            if result["outcome"] in ("", "reconfigure_successful"):
                self.problems.append(
                    f"the reconfigure dialog ends with {result['outcome']!r}, no sentence "
                    "(config_subentries.light.abort.reconfigure_successful is not translated)"
                )
            self.steps.figure(
                "rename light (Submit to new name in REST)",
                f"{(renamed - submitted) * 1000:.0f} ms",
            )

    async def _delete_light(
        self, browser: BrowserSession, entity_id: str, subentry_id: str
    ) -> None:
        async with self.steps.step(f"browser: delete {RENAMED_LIGHT_NAME!r} (sub-entry's menu)"):
            command = await browser.send("delete_subentry", subentry_id=subentry_id)
            confirmed = (await browser.event("submitted", command))["at_ms"] / 1000
            await browser.alongside(
                _poll_until(
                    lambda: self._state_or_none(entity_id),
                    f"{entity_id} still in /api/states",
                    lambda state: state is None,
                )
            )
            gone = time.time()
            await browser.result(command)
            if any(s["subentry_id"] == subentry_id for s in await self._subentry_list()):
                raise CheckError(f"sub-entry {subentry_id} is still listed")
            left = [
                e["entity_id"]
                for e in await self._entity_registry()
                if e.get("config_subentry_id") == subentry_id
            ]
            if left:
                raise CheckError(f"entities of the deleted sub-entry are still registered: {left}")
            self.steps.figure(
                "delete light (confirm to entity gone from REST)",
                f"{(gone - confirmed) * 1000:.0f} ms",
            )

    async def _state_or_none(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's state, or None when Home Assistant has none (404)."""
        assert self.api is not None
        try:
            state: dict[str, Any] = await self.api.rest("GET", f"/api/states/{entity_id}")
        except HassApiError as err:
            if ": 404 " in str(err):
                return None
            raise
        return state

    async def _entries(self) -> list[dict[str, Any]]:
        assert self.api is not None
        async with self.api.websocket() as ws:
            entries: list[dict[str, Any]] = await ws.command("config_entries/get", domain="ipcom")
        return entries

    def _pick_lights(self) -> tuple[LightEntry, LightEntry, LightEntry, LightEntry]:
        """Relay light for REST, dimmer, relay light for the wall switch, one for the browser."""
        lights = [light for light in self.device_map.lights if light.bus == 1]
        relays = [light for light in lights if not light.dimmable]
        dimmers = [light for light in lights if light.dimmable]
        if len(relays) < 3 or not dimmers or not self.device_map.covers:
            raise CheckError("the device map needs 3 relay lights, a dimmer and a shutter")
        # The browser finds its tile by the device's name, so that name must be the only one.
        names = Counter(device.name for device in self.device_map)
        browser = next((light for light in relays[2:] if names[light.name] == 1), None)
        if browser is None:
            raise CheckError("the device map needs a relay light with a name no other device has")
        return relays[0], dimmers[0], relays[1], browser

    async def _wait_for_state(self, entity_id: str, wanted: str) -> dict[str, Any]:
        """Poll the REST API every 20 ms until the entity has the wanted state."""
        try:
            return await _poll(
                lambda: self._state(entity_id), lambda state: state["state"] == wanted, STEP_TIMEOUT
            )
        except TimeoutError:
            raise CheckError(
                f"{entity_id} did not become {wanted} within {STEP_TIMEOUT:.0f} s"
            ) from None

    async def _state(self, entity_id: str) -> dict[str, Any]:
        assert self.api is not None
        state: dict[str, Any] = await self.api.rest("GET", f"/api/states/{entity_id}")
        return state

    async def _release(self) -> None:
        if self.observer is not None:
            await self.observer.stop()
        if self.api is not None:
            await self.api.close()

    async def _stop_and_check(self) -> None:
        async with self.steps.step("Ctrl-C: stop the demo, nothing left behind"):
            pids = dict(self.demo.ready["pids"])
            started = time.monotonic()
            status = await self.demo.interrupt()
            stopped_in = time.monotonic() - started
            self.steps.figure("stop, Ctrl-C to everything gone", f"{stopped_in:.1f} s")
            if status != 0:
                raise CheckError(f"the demo exited with status {status}")
            alive = [f"{name} (pid {pid})" for name, pid in pids.items() if group_alive(pid)]
            if alive:
                raise CheckError(f"still running: {', '.join(alive)}")
            busy = [p for p in (HASS_PORT, self._simulator_port) if not port_is_free(HOST, p)]
            if busy:
                raise CheckError(f"ports still in use: {busy}")
            self.steps.say(f"  no process left; ports {HASS_PORT} and {self._simulator_port} free")

    def _check_hass_log(self) -> None:
        log = self.demo.config_dir / "home-assistant.log"
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        problems = [line for line in lines if _LOG_PROBLEM.search(line)]
        warnings = [line for line in lines if " WARNING " in line]
        self.steps.say(
            f"Home Assistant log: {len(problems)} errors, {len(warnings)} warnings "
            f"({log.relative_to(ROOT)})"
        )
        for line in warnings:
            self.steps.say(f"  {line[:200]}")
        if problems:
            raise CheckError("errors in Home Assistant's log:\n" + "\n".join(problems[:20]))


def _bus_options(devices: Path) -> list[str]:
    """The command line's bus options for the demo installation (as the demo simulates it)."""
    return ["--bus-2-type", SECOND_BUS_TYPE] if 2 in load_device_map(devices).buses() else []


async def _installation_values(port: int, devices: Path) -> dict[tuple[int, int], int]:
    """Bus 1's mapped outputs and their values, read by `ipcom status --json` as another client."""
    document = json.loads(await _ipcom(port, devices, "status", "--json"))
    values: dict[tuple[int, int], int] = {}
    for device in document["devices"]:
        if device.get("bus", 1) != 1:
            continue
        relays = [device["up"], device["down"]] if "up" in device else [device]
        for relay in relays:
            values[(relay["module"], relay["output"])] = relay["value"]
    return values


async def _ipcom(port: int, devices: Path, *arguments: str) -> str:
    """Run one `ipcom` command against the simulator; its standard output."""
    process = await spawn(
        _ipcom_path(),
        "--host",
        HOST,
        "--port",
        str(port),
        "--devices",
        str(devices),
        *_bus_options(devices),
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_credentials_env(),
    )
    try:
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise CheckError(
            f"ipcom {' '.join(arguments)} failed ({process.returncode}): {err.decode().strip()}"
        )
    return out.decode()


async def _run_browser(options: dict[str, Any], steps: Steps) -> list[dict[str, Any]]:
    """Run e2e/browser.mjs; its events, each printed as it comes."""
    node = shutil.which("node")
    if node is None:
        raise CheckError("node is not installed")
    process = await spawn(
        node,
        str(ROOT / "e2e" / "browser.mjs"),
        json.dumps(options),
        cwd=ROOT / "e2e",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(240):
            async for raw in process.stdout:
                event = _browser_event(raw, steps)
                if event is not None:
                    events.append(event)
            status = await process.wait()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    errors = [event for event in events if event["event"] == "error"]
    if status != 0 or errors:
        shots = [event["screenshot"] for event in errors if event.get("screenshot")]
        where = f" (screenshot: {Path(shots[0]).relative_to(ROOT)})" if shots else ""
        message = "; ".join(event["message"] for event in errors) or f"exit status {status}"
        raise CheckError(f"browser: {message}{where}")
    return events


def _browser_event(raw: bytes, steps: Steps) -> dict[str, Any] | None:
    """One line of e2e/browser.mjs, printed; its event, or None for a line that is not one."""
    line = raw.decode(errors="replace").strip()
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        if line:
            steps.say(f"  browser: {line}")
        return None
    if not isinstance(event, dict) or "event" not in event:
        steps.say(f"  browser: {line}")
        return None
    details = {k: v for k, v in event.items() if k not in ("event", "seconds")}
    # The frontend's own errors (such as an aborted view transition) are shown, not fatal: the
    # checks that follow decide whether the page works.
    note = " (frontend's own, not fatal)" if event["event"] in _PAGE_ERRORS else ""
    steps.say(f"  browser {event.get('seconds', 0):6.2f}s {event['event']}{note} {details or ''}")
    return event


async def _poll_until[T](
    read: Callable[[], Awaitable[T]],
    failure: str,
    done: Callable[[T], bool] = lambda value: value is not None,
    seconds: float = SUBENTRY_TIMEOUT,
) -> T:
    """Read every 20 ms until `done` holds; CheckError `failure` after `seconds`."""
    try:
        return await _poll(read, done, seconds)
    except TimeoutError:
        raise CheckError(f"{failure} within {seconds:.0f} s") from None


async def _poll[T](
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float
) -> T:
    """Read every 20 ms until `done` holds (TimeoutError after `seconds`)."""
    async with asyncio.timeout(seconds):
        while True:
            value = await read()
            if done(value):
                return value
            await asyncio.sleep(0.02)


def _ipcom_path() -> str:
    return str(Path(sys.executable).with_name("ipcom"))


def _credentials_env() -> dict[str, str]:
    return {
        **os.environ,
        ENV_USERNAME: os.environ.get(ENV_USERNAME) or "demo",
        ENV_PASSWORD: os.environ.get(ENV_PASSWORD) or "demo",
    }


async def _main(devices: Path) -> int:
    steps = Steps()
    test = EndToEnd(steps, devices)
    try:
        await test.run()
    except CheckError as err:
        steps.say(f"FAILED: {err}")
        _print_figures(steps)
        await test.demo.kill()
        _print_log_tail(test.demo.config_dir / "home-assistant.log")
        _print_log_tail(test.demo.config_dir / "simulator.log")
        return 1
    except BaseException:
        await test.demo.kill()
        raise
    _print_figures(steps)
    steps.say(f"passed in {time.monotonic() - steps.started:.1f} s")
    return 0


def _print_figures(steps: Steps) -> None:
    if not steps.figures:
        return
    steps.say("summary:")
    width = max(len(name) for name, _ in steps.figures)
    for name, value in steps.figures:
        steps.say(f"  {name:<{width}} {value}")


def _print_log_tail(path: Path, lines: int = 25) -> None:
    if not path.exists():
        return
    print(f"---- last {lines} lines of {path.relative_to(ROOT)}", flush=True)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]:
        print(f"     {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m demo.e2e`."""
    parser = argparse.ArgumentParser(prog="scripts/e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=Path, default=ROOT / "devices.yaml")
    args = parser.parse_args(argv)
    loop_signals = (signal.SIGTERM, signal.SIGHUP)

    async def run() -> int:
        task = asyncio.current_task()
        assert task is not None
        for signum in loop_signals:
            asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
        return await _main(args.devices.resolve())

    try:
        return asyncio.run(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("e2e: interrupted; everything it started was stopped", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
