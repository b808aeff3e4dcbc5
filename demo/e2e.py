"""End-to-end test of the demo: Home Assistant, the integration, the simulator and a browser.

`scripts/e2e` runs this after installing Chromium and playwright-core. It starts the demo as
a newcomer would (a fresh configuration directory, `python -m demo`), with the simulator's
random household activity off so that every change it sees is one it caused. It then:

1. turns a light on, dims a dimmer to 37 % and opens a shutter through Home Assistant's REST
   API (with a long-lived token) and checks each on the simulator's outputs;
2. times 40 light actions from the REST call to its answer, which Home Assistant gives only
   once the installation showed the write (median and p95);
3. presses a wall switch on the installation and measures how long Home Assistant takes to
   follow;
4. opens the dashboard in headless Chromium, checks every device's name is on the page, clicks
   a light's toggle and checks the simulator's output followed, and saves a screenshot;
5. stops the demo with Ctrl-C (SIGINT) and checks no process is left and the ports are free.

The simulator is observed with the product's own command line: `ipcom watch --json`, a second
client polling every 50 ms, reports each output change with the time it saw it, and
`ipcom status --json` reads the whole installation. A wall-switch press is `ipcom on <key>`
from that second client: to Home Assistant, exactly like a press, a change it did not make.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from ipcom.devices import DeviceMap, LightEntry, load_device_map

from .config_dir import SECOND_BUS_TYPE
from .dashboard import Registry, place_devices
from .hass_api import HassApi
from .processes import group_alive, parent_death_signal, port_is_free
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
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
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
    """The four steps of the test, against one demo."""

    def __init__(self, steps: Steps, devices: Path) -> None:
        self.steps = steps
        self.devices = devices
        self.device_map: DeviceMap = load_device_map(devices)
        self.demo = DemoProcess(WORK / "config", WORK / "ready.json", devices)
        self.api: HassApi | None = None
        self.observer: Observer | None = None
        self.entity_of: dict[str, str] = {}

    async def run(self) -> None:
        """All steps; raises CheckError on the first failed check."""
        WORK.mkdir(parents=True, exist_ok=True)
        PID_FILE.write_text("", encoding="utf-8")
        try:
            await self._start()
            await self._while_demo_runs(self._checks())
        finally:
            await self._release()
        await self._stop_and_check()
        self._check_hass_log()

    async def _checks(self) -> None:
        await self._rest_commands()
        await self._confirmation_latency()
        await self._wall_switch()
        await self._browser()

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
        async with self.steps.step("watch the installation with a second client"):
            self.observer = Observer(self._simulator_port, self.devices)
            await self.observer.start()

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
                line = raw.decode(errors="replace").strip()
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    steps.say(f"  browser: {line}")
                    continue
                events.append(event)
                details = {k: v for k, v in event.items() if k not in ("event", "seconds")}
                # The frontend's own errors (such as an aborted view transition) are shown, not
                # fatal: the checks that follow decide whether the page works.
                note = " (frontend's own, not fatal)" if event["event"] in _PAGE_ERRORS else ""
                steps.say(
                    f"  browser {event['seconds']:6.2f}s {event['event']}{note} {details or ''}"
                )
            status = await process.wait()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    errors = [event["message"] for event in events if event["event"] == "error"]
    if status != 0 or errors:
        raise CheckError(f"browser: {'; '.join(errors) or f'exit status {status}'}")
    return events


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
        await test.demo.kill()
        _print_log_tail(test.demo.config_dir / "home-assistant.log")
        _print_log_tail(test.demo.config_dir / "simulator.log")
        return 1
    except BaseException:
        await test.demo.kill()
        raise
    steps.say("summary:")
    for name, value in steps.figures:
        steps.say(f"  {name:<40} {value}")
    steps.say(f"passed in {time.monotonic() - steps.started:.1f} s")
    return 0


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
