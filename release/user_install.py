"""`scripts/install-test`: install the integration as a user does, and prove it works.

1. Build the library's wheel (and sdist) and check what they hold.
2. Make a fresh Home Assistant configuration directory holding only the integration (the
   release's `ipcom.zip` unpacked into `custom_components/ipcom`, as HACS does), a device map
   and a minimal configuration.yaml.
3. Start the simulator from the built wheel, and Home Assistant from its own venv
   (`.venvs/user`: Home Assistant and nothing of this project's; the library is uninstalled
   before every run) with the wheel reachable as a published package would be: a find-links
   directory that Home Assistant's requirement installer (`uv pip install`) reads from
   UV_FIND_LINKS.
4. Finish onboarding over HTTP, add the integration through its config flow's manual form over
   REST (this is when Home Assistant installs `homeanywhere-ipcom`; the device map at its default
   place is imported into subentries), check the entities, switch a light and see its output on
   in the simulator.
5. Fail unless the library Home Assistant imports is the installed wheel: installed by uv, file
   for file the built wheel, and nothing that could put this repository on Home Assistant's
   `sys.path`.

Run by `scripts/install-test` with the user venv's Python; prints every step with its time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from demo.config_dir import DEVICES_FILE, SECOND_BUS_TYPE, ConfigDir
from demo.hass_api import HassApi, HassApiError
from demo.processes import ChildProcess, free_port

from .artefacts import INTEGRATION, build, integration_zip
from .version import DISTRIBUTION, ROOT, read_versions

HOST = "127.0.0.1"
CREDENTIAL = "installer"
BUS_OPTIONS = ("--bus-2-type", SECOND_BUS_TYPE)
"""The demo devices.yaml has a second bus: the simulator and the command line get its type."""
OWNER = "owner"
STEP_TIMEOUT = 90.0
_LISTENING = re.compile(r"listening on [^\s:]+:(?P<port>\d+)")
_INSTALL_LINE = re.compile(rf"Attempting install of {re.escape(DISTRIBUTION)}==")
# Errors of ipcom or of installing requirements. Home Assistant's default integrations log their
# own about this machine (no ffmpeg, no libturbojpeg), which say nothing about installing ipcom.
# Also Home Assistant's warning that ipcom uses something the newest release deprecates: it
# names the release that will break it.
_LOG_PROBLEM = re.compile(
    r" (ERROR|CRITICAL) \([^)]*\) \[(custom_components\.ipcom|ipcom|homeassistant\.(util\.package"
    r"|requirements|loader|setup|config_entries))[\].]"
    r"|Detected that custom integration 'ipcom'"
)

CONFIGURATION = """\
# Written by scripts/install-test: the least a Home Assistant needs to be set up over HTTP.
homeassistant:
  name: ipcom install test
  unit_system: metric
  time_zone: UTC
  country: BE
  currency: EUR
  latitude: 50.85
  longitude: 4.35
  elevation: 60
http:
  server_host: {host}
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    homeassistant.util.package: info
    homeassistant.requirements: info
    custom_components.ipcom: info
"""


class InstallTestError(Exception):
    """The installation did not work as a user's would; the message says where."""


class Steps:
    """Prints each step with the seconds since the start and keeps the figures."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.figures: list[tuple[str, str]] = []

    def say(self, message: str) -> None:
        """One line of progress."""
        print(f"install-test [{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """Time one step; its duration becomes a figure."""
        self.say(f"{name} ...")
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.figures.append((name, f"{seconds:.1f} s"))
        self.say(f"{name}: done in {seconds:.1f} s")


class UserInstall:
    """One run: the artefacts, the configuration directory, the two processes and the checks."""

    def __init__(self, work: Path, steps: Steps) -> None:
        self.work = work
        self.steps = steps
        self.python = Path(sys.executable)
        self.config = ConfigDir(work / "config")
        self.find_links = work / "find-links"
        self.hass_port = free_port(HOST, [18123])
        self.simulator_port = 0
        self.wheel = Path()
        self.simulator: ChildProcess | None = None
        self.hass: ChildProcess | None = None

    async def run(self) -> None:
        """Every step in order; InstallTestError at the first that fails."""
        async with self.steps.step("build the wheel and the sdist, check their contents"):
            await asyncio.to_thread(self._build)
        async with self.steps.step(f"uninstall {DISTRIBUTION} from the user venv"):
            await asyncio.to_thread(self._uninstall)
        self._write_config_dir()
        async with self.steps.step("start the simulator from the wheel"):
            await self._start_simulator()
        async with self.steps.step("start Home Assistant until it answers"):
            await self._start_hass()
        async with HassApi(f"http://{HOST}:{self.hass_port}") as api:
            async with self.steps.step("onboard: create the owner and log in"):
                await self._onboard(api)
            entry_id = await self._add_integration(api)
            await self._check_entities_and_switch(api, entry_id)
            await self._check_brand(api)
        self._check_installed_library()
        self._check_hass_log()

    # Artefacts and the user venv

    def _build(self) -> None:
        wheel, sdist = build(self.work / "dist")
        self.find_links.mkdir()
        # Only the wheel, as the package index serves it: Home Assistant must not build anything.
        self.wheel = Path(shutil.copy2(wheel, self.find_links / wheel.name))
        self.steps.say(f"  {wheel.name} and {sdist.name}: contents as expected")

    def _uninstall(self) -> None:
        uv = self.python.with_name("uv")
        subprocess.run(
            [str(uv), "pip", "uninstall", "--quiet", "--python", str(self.python), DISTRIBUTION],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        if self._installed_dist_info() is not None:
            raise InstallTestError(f"{DISTRIBUTION} is still installed in {self.python.parent}")

    def _site_packages(self) -> Path:
        found = subprocess.run(
            [
                str(self.python),
                "-I",
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        return Path(found.stdout.strip())

    def _installed_dist_info(self) -> Path | None:
        stem = DISTRIBUTION.replace("-", "_")
        return next(iter(self._site_packages().glob(f"{stem}-*.dist-info")), None)

    # The configuration directory

    def _write_config_dir(self) -> None:
        """The integration as HACS installs it: the release's ipcom.zip unpacked in its folder."""
        self.config.build()
        release_zip = integration_zip(self.work / "dist")
        with zipfile.ZipFile(release_zip) as archive:
            archive.extractall(self.config.path / INTEGRATION)
            files = len(archive.namelist())
        self.config.devices_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "devices.yaml", self.config.devices_file)
        (self.config.path / "configuration.yaml").write_text(
            CONFIGURATION.format(host=HOST, port=self.hass_port), encoding="utf-8"
        )
        self.steps.say(
            f"configuration directory {self.config.path}: custom_components/ipcom "
            f"({release_zip.name} unpacked, {files} files), {DEVICES_FILE}, configuration.yaml"
        )

    # The two processes

    async def _start_simulator(self) -> None:
        log = self.work / "simulator.log"
        self.simulator = ChildProcess(
            "simulator",
            [
                str(self.python),
                "-P",
                "-m",
                "ipcom",
                "simulate",
                "--host",
                HOST,
                "--port",
                "0",
                "--devices",
                str(self.config.devices_file),
                *BUS_OPTIONS,
                # Its log then shows each write it receives, with the values.
                "--verbose",
            ],
            log,
            # A pure-Python wheel is importable as it is: the simulator runs the built library.
            env={**_environment(), "PYTHONPATH": str(self.wheel), **_credentials()},
        )
        await self.simulator.start()

        async def listening() -> re.Match[str] | None:
            return _LISTENING.search(await asyncio.to_thread(_log_since, log, 0))

        line = await _wait_for(listening, self.simulator, "the simulator to listen", log)
        assert line is not None
        self.simulator_port = int(line["port"])
        self.steps.say(f"  simulator on {HOST}:{self.simulator_port} (pid {self.simulator.pid})")

    async def _start_hass(self) -> None:
        self.hass = ChildProcess(
            "Home Assistant",
            [str(self.python.with_name("hass")), "-c", str(self.config.path), "--log-no-color"],
            self.work / "home-assistant.console.log",
            env={**_environment(), "UV_FIND_LINKS": str(self.find_links)},
        )
        await self.hass.start()
        from homeassistant.const import __version__  # noqa: PLC0415

        self.steps.say(
            f"  Home Assistant {__version__} (pid {self.hass.pid}), port {self.hass_port}"
        )
        url = f"http://{HOST}:{self.hass_port}/api/onboarding"
        async with aiohttp.ClientSession() as session:

            async def answers() -> bool:
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as reply:
                        return reply.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            await _wait_for(answers, self.hass, "Home Assistant to answer", self.config.hass_log)

    # Over HTTP, as the user's browser would

    async def _onboard(self, api: HassApi) -> None:
        steps = await api.onboarding_steps()
        if steps.get("user", True):
            raise InstallTestError(f"onboarding does not ask for the owner: {steps}")
        await api.create_owner("Owner", OWNER, self.config.owner_password())

        async def running() -> bool:
            config: dict[str, Any] = await api.rest("GET", "/api/config")
            return config.get("state") == "RUNNING"

        assert self.hass is not None
        await _wait_for(running, self.hass, "Home Assistant to be running", self.config.hass_log)
        async with api.websocket() as ws:
            await ws.promote_http_config()

    async def _add_integration(self, api: HassApi) -> str:
        async with self.steps.step(
            "config flow: open the form (Home Assistant installs the library)"
        ):
            menu: dict[str, Any] = await api.rest(
                "POST", "/api/config/config_entries/flow", {"handler": "ipcom"}
            )
            if menu.get("type") != "menu" or "manual" not in menu.get("menu_options", ()):
                raise InstallTestError(f"the config flow did not offer the manual form: {menu}")
            form: dict[str, Any] = await api.rest(
                "POST",
                f"/api/config/config_entries/flow/{menu['flow_id']}",
                {"next_step_id": "manual"},
            )
            if form.get("type") != "form":
                raise InstallTestError(f"the config flow did not show its form: {form}")
        if self._installed_dist_info() is None:
            raise InstallTestError(f"the flow opened but {DISTRIBUTION} is not installed")
        async with self.steps.step("config flow: submit, entry loaded"):
            result: dict[str, Any] = await api.rest(
                "POST",
                f"/api/config/config_entries/flow/{form['flow_id']}",
                {
                    "host": HOST,
                    "port": self.simulator_port,
                    "username": CREDENTIAL,
                    "password": CREDENTIAL,
                    "installation": {"bus_2_type": SECOND_BUS_TYPE},
                },
            )
            if result.get("type") != "create_entry":
                raise InstallTestError(f"the config flow did not create an entry: {result}")
            entry_id = str(result["result"]["entry_id"])

            async def loaded() -> bool:
                entries = await api.rest("GET", "/api/config/config_entries/entry?domain=ipcom")
                state = next(e["state"] for e in entries if e["entry_id"] == entry_id)
                if state in ("setup_error", "setup_retry", "migration_error"):
                    raise InstallTestError(f"the ipcom entry did not load: {state}")
                return bool(state == "loaded")

            assert self.hass is not None
            await _wait_for(loaded, self.hass, "the entry to load", self.config.hass_log)
        return entry_id

    async def _check_entities_and_switch(self, api: HassApi, entry_id: str) -> None:
        async with api.websocket() as ws:
            registry = await ws.command("config/entity_registry/list")
        entities = [e for e in registry if e["config_entry_id"] == entry_id]
        by_output = {e["unique_id"].removeprefix(f"{entry_id}_"): e for e in entities}
        states = {s["entity_id"]: s for s in await api.rest("GET", "/api/states")}
        unavailable = [e["entity_id"] for e in entities if _state(states, e) == "unavailable"]
        lights = [e for e in entities if e["entity_id"].startswith("light.")]
        if not lights or unavailable:
            raise InstallTestError(
                f"{len(entities)} entities, {len(lights)} lights; unavailable: {unavailable}"
            )
        self.steps.say(f"  {len(entities)} entities, {len(lights)} lights, all available")
        self.steps.figures.append(("entities of the entry", str(len(entities))))

        module, output, light = await self._pick_off_light(by_output)
        log = self.work / "simulator.log"
        offset = log.stat().st_size
        wrote = re.compile(rf"wrote module {module} on bus 1: \((?P<values>[\d, ]+)\)")

        async def written() -> bool:
            found = wrote.search(await asyncio.to_thread(_log_since, log, offset))
            return found is not None and int(found["values"].split(",")[output - 1]) != 0

        assert self.simulator is not None
        started = time.monotonic()
        await api.rest("POST", "/api/services/light/turn_on", {"entity_id": light})
        await _wait_for(written, self.simulator, f"{light}'s write to reach the simulator", log)
        figure = f"{(time.monotonic() - started) * 1000:.0f} ms"
        self.steps.figures.append(("REST light.turn_on to the write on the simulator", figure))
        if (await self._simulator_values()).get((module, output), 0) == 0:
            raise InstallTestError(f"{light} was written but output {module}.{output} is off")
        self.steps.say(f"  {light} on: simulator output {module}.{output} is on")

    async def _check_brand(self, api: HassApi) -> None:
        """Home Assistant serves the integration's own brand images (2026.3 and newer)."""
        brand = ROOT / INTEGRATION / "brand"
        headers = {"Authorization": f"Bearer {api.access_token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for image in ("icon.png", "icon@2x.png", "logo.png", "dark_logo.png"):
                url = f"{api.base_url}/api/brands/integration/ipcom/{image}"
                async with session.get(url) as reply:
                    body = await reply.read()
                    if reply.status != 200 or body != (brand / image).read_bytes():
                        raise InstallTestError(f"{url}: {reply.status}, not brand/{image}")
        self.steps.say(
            "  Home Assistant serves brand/icon.png, icon@2x.png, logo.png, dark_logo.png"
        )

    async def _pick_off_light(self, by_output: dict[str, Any]) -> tuple[int, int, str]:
        values = await self._simulator_values()
        for key, entity in sorted(by_output.items()):
            bus_1_output = key.count("_") == 1 and key.replace("_", "").isdigit()
            if not entity["entity_id"].startswith("light.") or not bus_1_output:
                continue
            module, output = (int(part) for part in key.split("_"))
            if values.get((module, output), 0) == 0:
                return module, output, str(entity["entity_id"])
        raise InstallTestError("every light is on already")

    async def _simulator_values(self) -> dict[tuple[int, int], int]:
        """Bus 1's mapped outputs and their values, read by the wheel's `ipcom status --json`."""
        process = await asyncio.create_subprocess_exec(
            str(self.python),
            "-P",
            "-m",
            "ipcom",
            "--host",
            HOST,
            "--port",
            str(self.simulator_port),
            "--devices",
            str(self.config.devices_file),
            *BUS_OPTIONS,
            "status",
            "--json",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**_environment(), "PYTHONPATH": str(self.wheel), **_credentials()},
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise InstallTestError(f"ipcom status failed ({process.returncode}): {err.decode()}")
        values: dict[tuple[int, int], int] = {}
        for device in json.loads(out)["devices"]:
            if device.get("bus", 1) != 1:
                continue
            for relay in [device["up"], device["down"]] if "up" in device else [device]:
                values[(relay["module"], relay["output"])] = relay["value"]
        return values

    # What Home Assistant imported

    def _check_installed_library(self) -> None:
        dist_info = self._installed_dist_info()
        if dist_info is None:
            raise InstallTestError(f"{DISTRIBUTION} is not installed after the setup")
        installer = (dist_info / "INSTALLER").read_text(encoding="utf-8").strip()
        if installer != "uv":
            raise InstallTestError(f"{dist_info.name} was installed by {installer!r}, not uv")
        if dist_info.name != f"{DISTRIBUTION.replace('-', '_')}-{read_versions().agreed}.dist-info":
            raise InstallTestError(f"installed {dist_info.name}, not this version")
        site = dist_info.parent
        mismatched = [
            path
            for path, digest in _wheel_digests(self.wheel).items()
            if _digest((site / path).read_bytes()) != digest
        ]
        if mismatched:
            raise InstallTestError(f"installed files differ from the wheel: {mismatched[:5]}")
        repo = str(ROOT)
        pointing_home = [
            pth.name for pth in site.glob("*.pth") if repo in pth.read_text(encoding="utf-8")
        ]
        if pointing_home or (site / "ipcom").is_symlink():
            raise InstallTestError(f"site-packages points into the repository: {pointing_home}")
        assert self.hass is not None
        environ = Path(f"/proc/{self.hass.pid}/environ")
        if environ.exists() and b"PYTHONPATH=" in environ.read_bytes():
            raise InstallTestError("Home Assistant ran with PYTHONPATH set")
        self.steps.say(
            f"  Home Assistant's ipcom: {site / 'ipcom'} (installed by uv, "
            f"{len(_wheel_digests(self.wheel))} files identical to {self.wheel.name})"
        )

    def _check_hass_log(self) -> None:
        lines = self.config.hass_log.read_text(encoding="utf-8", errors="replace").splitlines()
        if not any(_INSTALL_LINE.search(line) for line in lines):
            raise InstallTestError("Home Assistant's log does not show it installing the library")
        problems = [line for line in lines if _LOG_PROBLEM.search(line)]
        if problems:
            shown = "\n".join(problems[:10])
            raise InstallTestError(f"ipcom problems in Home Assistant's log:\n{shown}")
        self.steps.say("  Home Assistant's log: it installed the library; no errors")

    async def stop(self) -> None:
        """Stop Home Assistant and the simulator, whatever state they are in."""
        for child, grace in ((self.hass, 30.0), (self.simulator, 10.0)):
            if child is not None:
                await child.stop(grace)


def _state(states: dict[str, Any], entity: dict[str, Any]) -> str | None:
    state = states.get(entity["entity_id"])
    return None if state is None else str(state["state"])


def _environment() -> dict[str, str]:
    """This process's environment without what could point Python at the repository."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _credentials() -> dict[str, str]:
    return {"IPCOM_USERNAME": CREDENTIAL, "IPCOM_PASSWORD": CREDENTIAL}


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel_digests(wheel: Path) -> dict[str, str]:
    """Path -> digest of each file the wheel installs, from its RECORD."""
    with zipfile.ZipFile(wheel) as archive:
        record = next(name for name in archive.namelist() if name.endswith(".dist-info/RECORD"))
        rows = csv.reader(io.StringIO(archive.read(record).decode()))
        return {path: digest for path, digest, _ in rows if digest and path.startswith("ipcom/")}


def _log_since(path: Path, offset: int) -> str:
    """What a child's log file got after `offset` bytes ("" while the file does not exist)."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


async def _wait_for[T](
    check: Callable[[], Awaitable[T]], process: ChildProcess, what: str, log: Path | None
) -> T:
    """Poll `check` every 20 ms until it gives something true; fail when `process` died."""
    shown = f"; see {log}" if log is not None else ""
    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                value = await check()
                if value:
                    return value
                if not process.running:
                    status = process.returncode
                    raise InstallTestError(
                        f"{process.name} exited ({status}) waiting for {what}{shown}"
                    )
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise InstallTestError(f"waited {STEP_TIMEOUT:.0f} s for {what}{shown}") from None


async def _main(work: Path) -> int:
    steps = Steps()
    test = UserInstall(work, steps)
    try:
        await test.run()
    except (InstallTestError, HassApiError, aiohttp.ClientError) as err:
        steps.say(f"FAILED: {err}")
        for log in (test.config.hass_log, work / "simulator.log"):
            _print_tail(log)
        return 1
    finally:
        await test.stop()
    steps.say("summary:")
    for name, value in steps.figures:
        steps.say(f"  {name:<64} {value}")
    steps.say(f"passed in {time.monotonic() - steps.started:.1f} s")
    return 0


def _print_tail(path: Path, lines: int = 30) -> None:
    if path.exists():
        print(f"---- last {lines} lines of {path}", flush=True)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]:
            print(f"     {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m release.user_install`."""
    parser = argparse.ArgumentParser(
        prog="scripts/install-test", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--work", type=Path, default=ROOT / "artifacts" / "install-test")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    # Nothing started from here may find this repository through the working directory.
    os.chdir(work.parent)

    async def run() -> int:
        task = asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
        return await _main(work)

    try:
        return asyncio.run(run())
    except asyncio.CancelledError:
        print("install-test: interrupted; everything it started was stopped", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
