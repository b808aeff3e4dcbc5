"""Run the demo: the simulated installation and a real Home Assistant that controls it.

`scripts/demo` lands here. The supervisor starts `ipcom simulate` with the repository's
devices.yaml, prepares a configuration directory, starts Home Assistant, finishes what
onboarding still needs, sets the integration up through its own config flow (the same one the
UI runs), writes a dashboard of every device by room, and then waits. Ctrl-C (or SIGTERM)
stops Home Assistant and the simulator and waits for both; nothing is left running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.const import REQUIRED_PYTHON_VER, RESTART_EXIT_CODE

from ipcom.devices import DeviceMap, DeviceMapError, load_device_map

from .config_dir import (
    DASHBOARD_TITLE,
    DASHBOARD_URL,
    DEVICES_FILE,
    SECOND_BUS_TYPE,
    ConfigDir,
    DemoState,
)
from .dashboard import Registry, build_dashboard, place_devices
from .hass_api import HassApi, HassApiError, HassWebSocket
from .processes import ChildProcess, free_port, port_is_free
from .subentries import SubentryCheck, check_subentries, only

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_HASS_PORT = 8123
DEFAULT_SIMULATOR_PORT = 5000

OWNER_NAME = "Demo"
OWNER_USERNAME = "demo"
# The simulator and the integration use the same credentials; like the ipcom command they come
# from the environment and never appear on a command line.
ENV_USERNAME = "IPCOM_USERNAME"
ENV_PASSWORD = "IPCOM_PASSWORD"
DEFAULT_CREDENTIAL = "demo"

_LISTENING = re.compile(r"listening on (?P<host>[^\s:]+):(?P<port>\d+)")
_SIMULATOR_START_TIMEOUT = 20
_SUBENTRY_IMPORT_TIMEOUT = 60


class DemoError(Exception):
    """The demo cannot start; the message says why and what to look at."""


@dataclass(frozen=True)
class Options:
    """Command-line options of the demo."""

    config_dir: Path
    devices: Path
    hass_port: int
    simulator_port: int | None
    activity: bool
    fresh: bool
    ready_file: Path | None
    timeout: float


class Reporter:
    """Prints what the demo does, each line stamped with the seconds since it started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        """One line of progress."""
        print(f"demo [{self.elapsed():6.1f}s] {message}", flush=True)


class Demo:
    """The simulator, Home Assistant, and the setup that joins them."""

    def __init__(self, options: Options, reporter: Reporter) -> None:
        self.options = options
        self.report = reporter
        self.config = ConfigDir(options.config_dir)
        self.base_url = f"http://{HOST}:{options.hass_port}"
        self.username = os.environ.get(ENV_USERNAME) or DEFAULT_CREDENTIAL
        self.password = os.environ.get(ENV_PASSWORD) or DEFAULT_CREDENTIAL
        self.simulator: ChildProcess | None = None
        self.hass: ChildProcess | None = None
        self.simulator_port = 0
        self.entry_id: str | None = None
        self.device_map = DeviceMap()
        self.present_map = DeviceMap()
        """The devices of the map with a subentry at their address: those the dashboard shows."""
        self._stop = asyncio.Event()
        self._signals = 0

    async def run(self) -> int:
        """Start everything, wait for Ctrl-C, stop everything; the process exit status."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_signal)
        try:
            if not await self._until_stopped(self._start()):
                return 0
            self._write_ready_file()
            self._print_welcome()
            return await self._supervise()
        except (DemoError, HassApiError, aiohttp.ClientError) as err:
            self.report.say(f"error: {err}")
            return 1
        finally:
            await self._shutdown()

    def _on_signal(self) -> None:
        self._signals += 1
        if self._signals == 1:
            self.report.say("stopping (Ctrl-C again to kill at once)")
            self._stop.set()
            return
        for child in (self.hass, self.simulator):
            if child is not None:
                child.kill()

    async def _until_stopped(self, work: Awaitable[object]) -> bool:
        """Run `work` unless a stop request comes first; whether it ran to the end."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            task.cancel()
            await asyncio.gather(task, stopped, return_exceptions=True)
        if task.cancelled():
            return False
        task.result()
        return True

    # Start-up

    async def _start(self) -> None:
        self.device_map = self._load_devices()
        self._prepare_config_dir()
        await self._start_simulator()
        await self._start_hass()
        async with HassApi(self.base_url) as api:
            await self._wait_until_answering(api)
            await self._onboard(api)
            async with api.websocket() as ws:
                await self._wait_until_running(ws)
                await ws.promote_http_config()
                await self._ensure_entry(api, ws)
                await self._write_dashboard(ws)
                await ws.command(
                    "frontend/set_system_data",
                    key="core",
                    value={**await self._system_core(ws), "default_panel": DASHBOARD_URL},
                )
        self.config.save_state(DemoState(self.simulator_port, self.entry_id))
        self.report.say(f"ready after {self.report.elapsed():.1f} s")

    def _load_devices(self) -> DeviceMap:
        try:
            device_map = load_device_map(self.options.devices)
        except DeviceMapError as err:
            raise DemoError(f"the device map cannot be used:\n{err}") from None
        self.report.say(
            f"device map {_shown(self.options.devices)}: {len(device_map.lights)} lights, "
            f"{len(device_map.switches)} switches, {len(device_map.covers)} shutters"
        )
        return device_map

    def _prepare_config_dir(self) -> None:
        if not port_is_free(HOST, self.options.hass_port):
            raise DemoError(
                f"port {self.options.hass_port} on {HOST} is in use (another Home Assistant?); "
                "stop it or pass --hass-port"
            )
        shown = _shown(self.config.path)
        if self.options.fresh or not self.config.built:
            self.config.build()
            self.report.say(f"configuration directory {shown}: created")
        else:
            self.report.say(f"configuration directory {shown}: reused (--fresh rebuilds it)")
        self.config.refresh(
            self.options.hass_port, self.options.devices, ROOT / "custom_components" / "ipcom"
        )

    async def _start_simulator(self) -> None:
        if self.options.simulator_port is not None:
            port = self.options.simulator_port
            if not port_is_free(HOST, port):
                raise DemoError(f"simulator port {port} on {HOST} is in use")
        else:
            previous = self.config.load_state().simulator_port
            preferred = [p for p in (previous, DEFAULT_SIMULATOR_PORT) if p is not None]
            port = free_port(HOST, preferred)
        argv = [
            str(Path(sys.executable).with_name("ipcom")),
            "simulate",
            "--host",
            HOST,
            "--port",
            str(port),
            "--devices",
            str(self.options.devices),
            # Its log then tells every wall-switch press and every write it receives.
            "--verbose",
        ]
        if 2 in self.device_map.buses():
            argv += ["--buses", "2", "--bus-2-type", SECOND_BUS_TYPE]
        if self.options.activity:
            argv.append("--activity")
        env = {**os.environ, ENV_USERNAME: self.username, ENV_PASSWORD: self.password}
        log_path = self.config.path / "simulator.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        self.simulator = ChildProcess("simulator", argv, log_path, env)
        await self.simulator.start()
        try:
            async with asyncio.timeout(_SIMULATOR_START_TIMEOUT):
                line = await _wait_for_line(log_path, offset, _LISTENING, self.simulator)
        except TimeoutError:
            raise DemoError(
                f"the simulator did not start within {_SIMULATOR_START_TIMEOUT} s; "
                f"see {_shown(log_path)}"
            ) from None
        match = _LISTENING.search(line)
        assert match is not None
        self.simulator_port = int(match["port"])
        activity = "random wall-switch presses every few seconds" if self.options.activity else ""
        self.report.say(
            f"simulator listening on {match['host']}:{self.simulator_port} "
            f"(pid {self.simulator.pid}{'; ' + activity if activity else ''})"
        )

    def _hass_command(self) -> list[str]:
        arguments = ["-c", str(self.config.path), "--log-no-color"]
        if sys.version_info[:3] >= REQUIRED_PYTHON_VER:
            return [str(Path(sys.executable).with_name("hass")), *arguments]
        required = ".".join(map(str, REQUIRED_PYTHON_VER))
        self.report.say(
            f"Python {_python_version()} is older than the {required} Home Assistant asks for: "
            "starting it through demo/run_hass.py, which skips only that version check"
        )
        return [sys.executable, str(Path(__file__).with_name("run_hass.py")), *arguments]

    async def _start_hass(self) -> None:
        from homeassistant.const import __version__ as hass_version  # noqa: PLC0415

        self.hass = ChildProcess(
            "Home Assistant", self._hass_command(), self.config.path / "home-assistant.console.log"
        )
        await self.hass.start()
        self.report.say(
            f"Home Assistant {hass_version} starting on {self.base_url} (pid {self.hass.pid})"
        )

    async def _wait_until_answering(self, api: HassApi) -> None:
        hass = self.hass
        assert hass is not None
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.options.timeout):
                await api.wait_until_answering(alive=lambda: hass.running)
        except TimeoutError:
            raise DemoError(
                f"Home Assistant did not answer within {self.options.timeout:.0f} s; "
                f"see {_shown(self.config.hass_log)}"
            ) from None
        except HassApiError as err:
            raise DemoError(f"{err}; see {_shown(self.config.hass_log)}") from None
        self.report.say(f"Home Assistant answers (after {time.monotonic() - started:.1f} s)")

    async def _onboard(self, api: HassApi) -> None:
        steps = await api.onboarding_steps()
        if steps and not steps.get("user", True):
            await api.create_owner(OWNER_NAME, OWNER_USERNAME, self.config.owner_password())
            async with api.websocket() as ws:
                await _remove_example_areas(ws)
            self.report.say(
                f"onboarding finished: owner account {OWNER_USERNAME!r} created "
                f"(password in {_shown(self.config.owner_password_file)}; not needed here)"
            )
        await api.login_trusted_network()

    async def _wait_until_running(self, ws: HassWebSocket) -> None:
        await _poll(
            lambda: _core_state(ws),
            lambda state: state == "RUNNING",
            self.options.timeout,
            "Home Assistant did not finish starting",
        )

    def _installation_settings(self) -> dict[str, Any]:
        """The config flow's installation section for the simulated house: as simulate is told."""
        second = SECOND_BUS_TYPE if 2 in self.device_map.buses() else "none"
        return {"bus_type": "minido", "tricom": False, "bus_2_type": second}

    async def _ensure_entry(self, api: HassApi, ws: HassWebSocket) -> None:
        """Exactly one ipcom entry, pointing at this run's simulator, loaded."""
        started = time.monotonic()
        state = self.config.load_state()
        entries = await ws.command("config_entries/get", domain="ipcom")
        entry = next((e for e in entries if e["entry_id"] == state.entry_id), None)
        devices_file = DEVICES_FILE
        if entry is None:
            for stale in entries:
                await api.rest("DELETE", f"/api/config/config_entries/entry/{stale['entry_id']}")
            result = await _run_flow(
                api,
                {"handler": "ipcom"},
                {
                    "host": HOST,
                    "port": self.simulator_port,
                    "username": self.username,
                    "password": self.password,
                    "devices_file": devices_file,
                    "installation": self._installation_settings(),
                },
            )
            if result.get("type") != "create_entry":
                raise DemoError(f"the ipcom config flow did not create an entry: {result}")
            self.entry_id = str(result["result"]["entry_id"])
            how = "set up through its config flow"
        else:
            self.entry_id = str(entry["entry_id"])
            how = "already set up"
            if state.simulator_port != self.simulator_port:
                result = await _run_flow(
                    api,
                    {"handler": "ipcom", "entry_id": self.entry_id},
                    {
                        "host": HOST,
                        "port": self.simulator_port,
                        "devices_file": devices_file,
                        "installation": self._installation_settings(),
                    },
                )
                if result.get("reason") != "reconfigure_successful":
                    raise DemoError(f"reconfiguring ipcom to the new port failed: {result}")
                how = f"reconfigured to port {self.simulator_port}"
        loaded = await _poll(
            lambda: self._entry(ws),
            lambda entry: entry["state"] in ("loaded", "setup_error", "migration_error"),
            self.options.timeout,
            "the ipcom entry did not load",
        )
        if loaded["state"] != "loaded":
            raise DemoError(
                f"the ipcom entry did not load: {loaded['state']} {loaded.get('reason') or ''}; "
                f"see {_shown(self.config.hass_log)}"
            )
        self.report.say(f"ipcom {how} and loaded (in {time.monotonic() - started:.1f} s)")
        await self._check_subentries(ws, imported=entry is None)

    async def _check_subentries(self, ws: HassWebSocket, *, imported: bool) -> None:
        """The entry's devices are its subentries: one per device of the map after the import.

        A new entry names the devices file in its data, and its setup imports the file into
        subentries once: every device must then have its subentry. A reused entry keeps what was
        changed in the UI since (devices added, renamed or deleted there); the dashboard then
        shows the devices of the map that are still there.
        """
        started = time.monotonic()

        async def listed() -> SubentryCheck:
            subentries = await ws.command("config_entries/subentries/list", entry_id=self.entry_id)
            return check_subentries(self.device_map, subentries)

        if imported:
            check = await _poll(
                listed,
                lambda check: check.complete,
                _SUBENTRY_IMPORT_TIMEOUT,
                "the ipcom entry did not get one subentry per device of the device map",
            )
            self.report.say(
                f"devices: {len(check.present)} sub-entries imported from {DEVICES_FILE} "
                f"(in {time.monotonic() - started:.1f} s)"
            )
        else:
            check = await listed()
            self.report.say(
                f"devices: sub-entries for {check.summary()} (changes made in the UI are kept; "
                "--fresh starts again from the device map)"
            )
        self.present_map = only(self.device_map, check.at_their_address)

    async def _entry(self, ws: HassWebSocket) -> dict[str, Any]:
        entries = await ws.command("config_entries/get", domain="ipcom")
        missing = {"entry_id": self.entry_id, "state": "missing"}
        return next((e for e in entries if e["entry_id"] == self.entry_id), missing)

    async def _registry(self, ws: HassWebSocket) -> Registry:
        assert self.entry_id is not None
        states = await ws.command("get_states")
        return Registry(
            entry_id=self.entry_id,
            devices=await ws.command("config/device_registry/list"),
            entities=await ws.command("config/entity_registry/list"),
            areas=await ws.command("config/area_registry/list"),
            states={state["entity_id"]: state for state in states},
        )

    async def _write_dashboard(self, ws: HassWebSocket) -> None:
        """Wait until every mapped device has its entities, then write the dashboard."""
        device_map = self.present_map
        wanted = len(device_map)
        deadline = time.monotonic() + 20
        while True:
            registry = await self._registry(ws)
            placed = place_devices(device_map, registry)
            if len(placed) == wanted or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        if len(placed) < wanted:
            known = {device.key for device in placed}
            missing = [device.name for device in device_map if device.key not in known]
            self.report.say(f"warning: Home Assistant has no entity for {', '.join(missing)}")
        self.config.write_dashboard(build_dashboard(device_map, registry, DASHBOARD_TITLE))
        areas = {device.area for device in placed}
        entities = sum(len(device.entity_ids) for device in placed)
        self.report.say(
            f"dashboard: {len(placed)} devices ({entities} entities) in {len(areas)} rooms"
        )

    async def _system_core(self, ws: HassWebSocket) -> dict[str, Any]:
        answer = await ws.command("frontend/get_system_data", key="core")
        value = answer.get("value") if isinstance(answer, dict) else None
        return dict(value) if isinstance(value, dict) else {}

    # Running

    def _write_ready_file(self) -> None:
        if self.options.ready_file is None:
            return
        assert self.hass is not None
        assert self.simulator is not None
        ready = {
            "url": f"{self.base_url}/",
            "dashboard_url": f"{self.base_url}/{DASHBOARD_URL}/home",
            "config_dir": str(self.config.path),
            "hass_log": str(self.config.hass_log),
            "devices_file": str(self.options.devices),
            "entry_id": self.entry_id,
            "simulator": {"host": HOST, "port": self.simulator_port},
            "pids": {"demo": os.getpid(), "hass": self.hass.pid, "simulator": self.simulator.pid},
            "ready_after_s": round(self.report.elapsed(), 2),
        }
        self.options.ready_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.options.ready_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(ready, indent=2), encoding="utf-8")
        temporary.replace(self.options.ready_file)

    def _print_welcome(self) -> None:
        port = self.simulator_port
        light = next((light for light in self.device_map.lights if not light.dimmable), None)
        dimmer = next((light for light in self.device_map.lights if light.dimmable), None)
        cli = f".venvs/demo/bin/ipcom --host {HOST} --port {port}"
        if 2 in self.device_map.buses():
            cli += f" --bus-2-type {SECOND_BUS_TYPE}"
        lines = [
            "",
            f"  Home Assistant with ipcom is running: open {self.base_url}",
            "  You are logged in without a password (trusted network, this machine only).",
            "",
            "  Try:",
            f"  - the {DASHBOARD_TITLE} dashboard: switch lights, dim, open and close shutters",
        ]
        if self.options.activity:
            lines.append("  - watch: the simulator presses a random wall switch every few seconds")
        if light is not None:
            lines.append(f"  - press a wall switch yourself: {cli} toggle {light.key}")
        if dimmer is not None:
            lines.append(f"  - dim from the bus side: {cli} dim {dimmer.key} 30")
        lines += [
            f"  - see what the installation sees: {cli} watch",
            "  - Settings > Devices & services > IPCom: add a light, switch or shutter, change or",
            "    delete one (each device is a sub-entry there); diagnostics, options",
            "",
            f"  Logs: {_shown(self.config.hass_log)}, "
            f"{_shown(self.config.path / 'simulator.log')} (every press and write)",
            "  Ctrl-C stops Home Assistant and the simulator.",
            "",
        ]
        print("\n".join(lines), flush=True)

    async def _supervise(self) -> int:
        """Wait for Ctrl-C; restart Home Assistant when it asks for it (Settings > Restart)."""
        while True:
            assert self.hass is not None
            assert self.simulator is not None
            waits = {
                "stop": asyncio.ensure_future(self._stop.wait()),
                "hass": asyncio.ensure_future(self.hass.wait()),
                "simulator": asyncio.ensure_future(self.simulator.wait()),
            }
            try:
                await asyncio.wait(waits.values(), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits.values():
                    task.cancel()
                await asyncio.gather(*waits.values(), return_exceptions=True)
            if self._stop.is_set():
                return 0
            if self.simulator.returncode is not None:
                raise DemoError(
                    f"the simulator exited with status {self.simulator.returncode}; "
                    f"see {_shown(self.config.path / 'simulator.log')}"
                )
            if self.hass.returncode != RESTART_EXIT_CODE:
                raise DemoError(
                    f"Home Assistant exited with status {self.hass.returncode}; "
                    f"see {_shown(self.config.hass_log)}"
                )
            self.report.say("Home Assistant asked to be restarted")
            await self._start_hass()
            async with HassApi(self.base_url) as api:
                if not await self._until_stopped(self._wait_until_answering(api)):
                    return 0
            self._write_ready_file()

    async def _shutdown(self) -> None:
        stopped: list[str] = []
        if self.hass is not None and self.hass.running:
            self.report.say("stopping Home Assistant")
        if self.hass is not None:
            status = await self.hass.stop(grace=60)
            stopped.append(f"Home Assistant (status {status})")
        if self.simulator is not None:
            status = await self.simulator.stop(grace=10)
            stopped.append(f"simulator (status {status})")
        if self.options.ready_file is not None:
            self.options.ready_file.unlink(missing_ok=True)
        if stopped:
            self.report.say(f"stopped {' and '.join(stopped)}")


_MENU_CHOICE = "manual"
"""What the demo picks when the flow starts with a menu: entering the installation by hand."""


async def _run_flow(
    api: HassApi, start: dict[str, Any], user_input: dict[str, Any]
) -> dict[str, Any]:
    """Start a config flow and answer its first form, as the UI does.

    A menu first (by hand, or from the vendor's account) is answered with `_MENU_CHOICE`. Only
    the fields the form has are sent: the devices file, say, is a field in some versions of the
    flow and found at its default place in others.
    """
    step: dict[str, Any] = await api.rest("POST", "/api/config/config_entries/flow", start)
    if step.get("type") == "menu":
        if _MENU_CHOICE not in step.get("menu_options", []):
            raise DemoError(f"the ipcom config flow offers no {_MENU_CHOICE!r} step: {step}")
        step = await api.rest(
            "POST",
            f"/api/config/config_entries/flow/{step['flow_id']}",
            {"next_step_id": _MENU_CHOICE},
        )
    if step.get("type") != "form":
        return step
    fields = {field.get("name") for field in step.get("data_schema", [])}
    answer: dict[str, Any] = await api.rest(
        "POST",
        f"/api/config/config_entries/flow/{step['flow_id']}",
        {key: value for key, value in user_input.items() if key in fields},
    )
    if answer.get("type") == "form":
        raise DemoError(f"the ipcom config flow refused the settings: {answer.get('errors')}")
    return answer


async def _remove_example_areas(ws: HassWebSocket) -> None:
    """Onboarding creates example rooms; the demo's rooms come from devices.yaml instead."""
    for area in await ws.command("config/area_registry/list"):
        await ws.command("config/area_registry/delete", area_id=area["area_id"])


async def _core_state(ws: HassWebSocket) -> str:
    config = await ws.command("get_config")
    return str(config.get("state"))


async def _poll[T](
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float, failure: str
) -> T:
    """Read until `done` holds, every 0.2 s; a DemoError naming the last value after `seconds`."""
    last: list[T] = []

    async def until_done() -> T:
        while True:
            last[:] = [await read()]
            if done(last[0]):
                return last[0]
            await asyncio.sleep(0.2)

    try:
        async with asyncio.timeout(seconds):
            return await until_done()
    except TimeoutError:
        seen = last[0] if last else "nothing"
        raise DemoError(f"{failure} within {seconds:.0f} s (last seen: {seen})") from None


async def _wait_for_line(
    path: Path, offset: int, pattern: re.Pattern[str], child: ChildProcess
) -> str:
    """The first line matching `pattern` that the child writes to its log after `offset`."""
    while True:
        for line in await asyncio.to_thread(_lines_from, path, offset):
            if pattern.search(line):
                return line
        if not child.running:
            raise DemoError(
                f"the {child.name} exited with status {child.returncode}; see {_shown(path)}"
            )
        await asyncio.sleep(0.1)


def _lines_from(path: Path, offset: int) -> list[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as log:
            log.seek(offset)
            return log.readlines()
    except FileNotFoundError:
        return []


def _python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def _shown(path: Path) -> str:
    """A path as short as it can be said: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _parse_arguments(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Run Home Assistant with ipcom on the simulated demo installation.",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=ROOT / "demo-config",
        help="Home Assistant configuration directory (default: demo-config, rebuilt if missing)",
    )
    parser.add_argument(
        "--devices",
        type=Path,
        default=ROOT / "devices.yaml",
        help="device map served by the simulator (default: devices.yaml)",
    )
    parser.add_argument("--hass-port", type=int, default=DEFAULT_HASS_PORT)
    parser.add_argument(
        "--simulator-port",
        type=int,
        default=None,
        help="default: the previous run's port if free, else 5000 if free, else any free port",
    )
    parser.add_argument(
        "--no-activity",
        dest="activity",
        action="store_false",
        help="no random wall-switch presses (the end-to-end test needs a quiet house)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="rebuild the configuration directory from scratch"
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="write URLs, ports and process ids as JSON here once ready; removed on exit",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds each start-up step may take (default 300)",
    )
    args = parser.parse_args(argv)
    return Options(
        config_dir=args.config_dir.resolve(),
        devices=args.devices.resolve(),
        hass_port=args.hass_port,
        simulator_port=args.simulator_port,
        activity=args.activity,
        fresh=args.fresh,
        ready_file=args.ready_file.resolve() if args.ready_file else None,
        timeout=args.timeout,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m demo`."""
    options = _parse_arguments(argv)
    return asyncio.run(Demo(options, Reporter()).run())
