"""The `ipcom` command: check wiring and control outputs without Home Assistant.

Every command that talks to an installation connects, does one job and
disconnects again; `watch` and `simulate` run until Ctrl-C or SIGTERM. A write
only counts as done once a status snapshot shows it, so the exit code tells
an installer whether the output really changed.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import getpass
import json
import logging
import math
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final, NoReturn, TextIO

from . import messages, presentation
from .client import IPComClient
from .devices import CoverEntry, DeviceEntry, DeviceMap, DeviceMapError, LightEntry, load_device_map
from .errors import IPComAuthenticationError, IPComConnectionError
from .installation import Installation
from .models import ConnectionEvent, ConnectionState, StateSnapshot
from .outputs import Dimmer, RelayDevice
from .protocol import (
    DEFAULT_PORT,
    DIMMER_MAX,
    DIMMER_MIN,
    MODULE_COUNT,
    OUTPUT_VALUE_MAX,
    OUTPUTS_PER_MODULE,
    POLL_INTERVAL,
    RELAY_OFF,
    RELAY_ON,
    STALE_AFTER,
)
from .scheduling import ThreadScheduler
from .shutter import RelayNotReleasedError, Shutter
from .simulator import DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator
from .writes import AbandonReason, WriteAbandonedError, WriteOutcome

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_CONNECTION: Final = 3
EXIT_AUTHENTICATION: Final = 4
EXIT_DEVICES: Final = 5
EXIT_UNKNOWN_DEVICE: Final = 6
EXIT_UNCONFIRMED: Final = 7
"""The write went out but no snapshot showed it in time: the output may not have changed."""
EXIT_INTERRUPTED: Final = 130

ENV_HOST: Final = "IPCOM_HOST"
ENV_PORT: Final = "IPCOM_PORT"
ENV_USERNAME: Final = "IPCOM_USERNAME"
ENV_PASSWORD: Final = "IPCOM_PASSWORD"
ENV_DEVICES: Final = "IPCOM_DEVICES"
DEFAULT_DEVICES: Final = "devices.yaml"
DEFAULT_TIMEOUT: Final = 10.0
SIMULATOR_HOST: Final = "127.0.0.1"
ACTIVITY_INTERVAL: Final = 8.0
MAX_SECONDS: Final = 86_400.0
"""The longest duration an option takes, a day: nobody waits longer on purpose, and
far longer ones overflow the operating system's timers (`--timeout 1e10` did)."""
_WATCH_TICK: Final = 0.25
_LINK_LOST: Final = frozenset(
    {AbandonReason.LINK_DROPPED, AbandonReason.LINK_ENDED, AbandonReason.OUTAGE}
)
"""Why a write given up on means the connection failed (exit 3), not the write (exit 7)."""

_LOGGER = logging.getLogger(__name__)


class CommandError(Exception):
    """A failure the command reports as one sentence on stderr, with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (
        CommandError,
        DeviceMapError,
        IPComAuthenticationError,
        IPComConnectionError,
        KeyboardInterrupt,
    ) as err:
        sentences, exit_code = _failure(err, args)
        for sentence in sentences:
            print(f"ipcom: {sentence}", file=sys.stderr, flush=True)
        return exit_code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK


def _failure(err: BaseException, args: argparse.Namespace) -> tuple[list[str], int]:
    """What to tell the user about an expected failure, and the exit code."""
    if isinstance(err, CommandError):
        return [str(err)], err.exit_code
    if isinstance(err, DeviceMapError):
        return err.problems, EXIT_DEVICES
    if isinstance(err, IPComAuthenticationError):
        return [f"{_address(args)} rejected the username or password"], EXIT_AUTHENTICATION
    if isinstance(err, IPComConnectionError):
        return [str(err)], EXIT_CONNECTION
    return ["interrupted"], EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """After the reader of our output went away, keep Python from complaining at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# The parser


class _Parser(argparse.ArgumentParser):
    """A parser whose usage errors are one `ipcom:` line, like every other failure.

    Sub-parsers are made of the same class, so this holds for every command.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"ipcom: {message} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ipcom",
        description="Check and control an IPCom Home Anywhere Blue installation.",
        epilog=(
            f"Connection settings may also come from {ENV_HOST}, {ENV_PORT}, {ENV_USERNAME} "
            f"and {ENV_PASSWORD}; without {ENV_PASSWORD} the password is asked for. "
            f"Exit codes: {EXIT_OK} success, {EXIT_USAGE} usage, {EXIT_CONNECTION} cannot connect "
            f"or lost the connection, {EXIT_AUTHENTICATION} authentication failed, "
            f"{EXIT_DEVICES} invalid devices.yaml, {EXIT_UNKNOWN_DEVICE} unknown device, "
            f"{EXIT_UNCONFIRMED} the installation did not confirm a write within --timeout."
        ),
    )
    _add_common_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        sub = commands.add_parser(name, help=text, description=text)
        _add_common_options(sub)
        sub.set_defaults(handler=handler)
        return sub

    command("list", _cmd_list, "Show the device map from devices.yaml, validated.").add_argument(
        "--json", action="store_true", help="print JSON instead of a table"
    )
    status = command("status", _cmd_status, "Show the state of every mapped device once.")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    watch = command("watch", _cmd_watch, "Print one line per output change until Ctrl-C.")
    watch.add_argument("--json", action="store_true", help="print one JSON object per line")
    for name, text in (
        ("on", "Switch a light or switch on (a dimmer to full brightness)."),
        ("off", "Switch a light or switch off."),
        ("toggle", "Switch a light or switch to the opposite state."),
    ):
        command(name, _cmd_switch, text).add_argument("device", help="device key")
    dim = command("dim", _cmd_dim, "Set a dimmable light to a level in percent.")
    dim.add_argument("device", help="device key of a dimmable light")
    dim.add_argument(
        "percent", type=_ranged(DIMMER_MIN, DIMMER_MAX), help=f"{DIMMER_MIN}..{DIMMER_MAX}"
    )
    for name, text in (
        ("open", "Open a shutter (the down relay is switched off first)."),
        ("close", "Close a shutter (the up relay is switched off first)."),
        ("stop", "Stop a shutter (both relays off)."),
    ):
        command(name, _cmd_cover, text).add_argument("device", help="shutter key")
    raw = command("raw", _cmd_raw, "Write an output directly, mapped or not.")
    raw_commands = raw.add_subparsers(dest="raw_command", required=True, metavar="ACTION")
    raw_set = raw_commands.add_parser("set", help="set one output to a raw value")
    _add_common_options(raw_set)
    raw_set.add_argument("module", type=_ranged(1, MODULE_COUNT), help=f"1..{MODULE_COUNT}")
    raw_set.add_argument(
        "output", type=_ranged(1, OUTPUTS_PER_MODULE), help=f"1..{OUTPUTS_PER_MODULE}"
    )
    raw_set.add_argument(
        "value",
        type=_ranged(RELAY_OFF, OUTPUT_VALUE_MAX),
        help=f"{RELAY_OFF}..{OUTPUT_VALUE_MAX} (relay: {RELAY_OFF}/{RELAY_ON}, "
        f"dimmer: {DIMMER_MIN}..{DIMMER_MAX})",
    )
    simulate = command("simulate", _cmd_simulate, "Run a simulated installation until Ctrl-C.")
    simulate.add_argument(
        "--activity",
        action="store_true",
        help="press a random light or switch now and then, like a household",
    )
    simulate.add_argument(
        "--activity-interval",
        type=positive_seconds,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help=f"mean pause between presses (default {ACTIVITY_INTERVAL:g})",
    )
    device = simulate.add_argument_group(
        "a device a client must survive (each off by default; see the README)"
    )
    device.add_argument(
        "--no-frame-answers",
        dest="answer_frames",
        action="store_false",
        default=argparse.SUPPRESS,
        help="apply set-outputs frames without answering them",
    )
    for flag, text in (
        ("--reply-delay", "send each reply this long after making it: late, and as old"),
        ("--request-time", "take this long over each request, one at a time (a serial device)"),
        ("--report-interval", "also send every client a status snapshot this often, unasked"),
        ("--connect-dribble", "send the connect response one byte at a time, this far apart"),
    ):
        device.add_argument(
            flag, type=positive_seconds, default=argparse.SUPPRESS, metavar="SECONDS", help=text
        )
    device.add_argument(
        "--connect-status",
        type=_ranged(0, 255),
        default=argparse.SUPPRESS,
        metavar="N",
        help="answer each connect request with this status byte; any but 1 refuses and closes",
    )
    return parser


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options accepted before and after the command name.

    Their defaults are suppressed so that a value given before the command
    is not overwritten by the sub-parser; the settings are resolved later.
    """
    suppress = argparse.SUPPRESS
    parser.add_argument(
        "--host", default=suppress, help=f"installation address (env {ENV_HOST}; simulate: bind)"
    )
    parser.add_argument(
        "--port",
        type=_ranged(0, 65535),
        default=suppress,
        help=f"TCP port (env {ENV_PORT}, default {DEFAULT_PORT})",
    )
    parser.add_argument("--username", default=suppress, help=f"user name (env {ENV_USERNAME})")
    parser.add_argument(
        "--devices",
        default=suppress,
        metavar="PATH",
        help=f"device map (env {ENV_DEVICES}, default ./{DEFAULT_DEVICES})",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=suppress,
        metavar="SECONDS",
        help="how long to wait for the installation: to connect, to log in, for its state "
        f"and for each write to show (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--poll-interval",
        type=_poll_interval,
        default=suppress,
        metavar="SECONDS",
        help=f"status poll period (default {POLL_INTERVAL:g}, as the vendor application)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=suppress, help="log debug messages"
    )


def _ranged(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}..{high}, got {value}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    """Parse a duration argument: a number of seconds above zero, at most `MAX_SECONDS`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, got {text}")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS:g} (a day), got {text}")
    return value


def _poll_interval(text: str) -> float:
    """Parse --poll-interval: shorter than the silence after which the client drops a link."""
    value = positive_seconds(text)
    if value >= STALE_AFTER:
        raise argparse.ArgumentTypeError(
            f"must be less than {STALE_AFTER:g} (a link that answers no poll "
            f"for {STALE_AFTER:g} s counts as dead), got {text}"
        )
    return value


# Settings


@dataclass(frozen=True)
class _Connection:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    poll_interval: float
    timeout: float

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _address(args: argparse.Namespace) -> str:
    host = getattr(args, "host", None) or os.environ.get(ENV_HOST, "")
    port = getattr(args, "port", None) or os.environ.get(ENV_PORT) or DEFAULT_PORT
    return f"the installation at {host}:{port}"


def _timeout(args: argparse.Namespace) -> float:
    timeout: float = getattr(args, "timeout", DEFAULT_TIMEOUT)
    return timeout


def _connection(args: argparse.Namespace) -> _Connection:
    """Connection settings from the flags, then the environment, then a prompt."""
    host = getattr(args, "host", None)
    host_source = "argument --host:"
    if not host:
        host = os.environ.get(ENV_HOST)
        host_source = ENV_HOST
    if not host:
        raise CommandError(f"no installation address: give --host or set {ENV_HOST}", EXIT_USAGE)
    _check_host(host, host_source)
    port: int | None = getattr(args, "port", None)
    if port is None:
        port = _env_port()
    elif port == 0:
        raise CommandError(
            "argument --port: must be 1..65535 to reach an installation, got 0 "
            "(only simulate takes 0, for any free port)",
            EXIT_USAGE,
        )
    username = getattr(args, "username", None) or os.environ.get(ENV_USERNAME)
    if not username:
        raise CommandError(f"no username: give --username or set {ENV_USERNAME}", EXIT_USAGE)
    password = os.environ.get(ENV_PASSWORD)
    if password is None:
        if not sys.stdin.isatty():
            raise CommandError(
                f"no password: set {ENV_PASSWORD} or run ipcom in a terminal to be asked for it",
                EXIT_USAGE,
            )
        password = getpass.getpass(f"Password for {username} at {host}:{port}: ")
    try:
        messages.validate_credentials(username, password)
    except ValueError as err:
        raise CommandError(f"invalid credentials: {err}", EXIT_USAGE) from None
    return _Connection(
        host=host,
        port=port,
        username=username,
        password=password,
        poll_interval=getattr(args, "poll_interval", POLL_INTERVAL),
        timeout=_timeout(args),
    )


def _check_host(host: str, source: str) -> None:
    """Refuse a host that no name lookup can take (an empty or over-long label)."""
    try:
        host.encode("idna")
    except UnicodeError:
        raise CommandError(
            f"{source} expected a host name or address, got {host!r}", EXIT_USAGE
        ) from None


def _env_port() -> int:
    text = os.environ.get(ENV_PORT)
    if not text:
        return DEFAULT_PORT
    try:
        return _ranged(1, 65535)(text)
    except argparse.ArgumentTypeError as err:
        raise CommandError(f"{ENV_PORT} {err}", EXIT_USAGE) from None


def _device_map(args: argparse.Namespace, *, required: bool) -> DeviceMap:
    """Load the device map; a missing default file is fine where a map is optional."""
    given = getattr(args, "devices", None) or os.environ.get(ENV_DEVICES)
    path = Path(given or DEFAULT_DEVICES)
    if not given and not required and not path.exists():
        _LOGGER.debug("No %s here; continuing without a device map", DEFAULT_DEVICES)
        return DeviceMap()
    return load_device_map(path)


def _find(device_map: DeviceMap, key: str) -> DeviceEntry:
    device = device_map.get(key)
    if device is not None:
        return device
    keys = [device.key for device in device_map]
    keys += [k for cover in device_map.covers for k in (cover.up_key, cover.down_key)]
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise CommandError(f"no device named {key!r} in the device map{hint}", EXIT_UNKNOWN_DEVICE)


# Talking to the installation


def _client(settings: _Connection) -> IPComClient:
    """A client for the settings; a combination of them it refuses is a usage error.

    Each option was checked on its own, but the client also judges them together.
    """
    try:
        return IPComClient(
            settings.host,
            settings.port,
            settings.username,
            settings.password,
            poll_interval=settings.poll_interval,
            socket_timeout=settings.timeout,
        )
    except ValueError as err:
        raise CommandError(f"invalid settings: {err}", EXIT_USAGE) from None


@contextlib.contextmanager
def _connected(settings: _Connection, *, auto_reconnect: bool = False) -> Iterator[IPComClient]:
    """A started client that is stopped (every thread joined) however the block ends."""
    client = _client(settings)
    try:
        client.start_persistent_connection(auto_reconnect=auto_reconnect)
        yield client
    finally:
        client.stop_persistent_connection()


@contextlib.contextmanager
def _installation(settings: _Connection, device_map: DeviceMap) -> Iterator[Installation]:
    """The map's devices on a started client that has seen its first snapshot.

    Their context is a thread of their own, ended with the client however
    the block ends.
    """
    scheduler = ThreadScheduler()
    try:
        with _connected(settings) as client:
            installation = Installation(device_map, client, scheduler)
            installation.start()
            try:
                client.wait_for_snapshot(settings.timeout)
                yield installation
            finally:
                installation.close()
    finally:
        scheduler.close()


def _confirm(handle: Future[WriteOutcome], settings: _Connection, what: str) -> None:
    """Wait until the installation shows a command; exit codes for every way it does not."""
    try:
        handle.result(settings.timeout)
    except TimeoutError:
        raise CommandError(
            f"{settings.address} did not confirm {what} within {settings.timeout:g} s",
            EXIT_UNCONFIRMED,
        ) from None
    except WriteAbandonedError as err:
        if err.reason in _LINK_LOST:
            raise IPComConnectionError(
                f"lost the connection to {settings.address} before it confirmed {what}"
            ) from None
        raise CommandError(
            f"{settings.address} did not confirm {what}: {err.reason}", EXIT_UNCONFIRMED
        ) from None
    except RelayNotReleasedError as err:
        raise CommandError(
            f"{settings.address} did not confirm {what}: {err}", EXIT_UNCONFIRMED
        ) from None


def _latest(client: IPComClient) -> StateSnapshot:
    snapshot = client.get_latest_snapshot()
    assert snapshot is not None, "a confirmed write implies a snapshot"
    return snapshot


def _describe_write(module: int, output: int, value: int) -> str:
    return f"writing {value} to {module}.{output}"


# Commands


def _cmd_list(args: argparse.Namespace) -> int:
    device_map = _device_map(args, required=True)
    if args.json:
        _print_json(presentation.map_json(device_map))
    else:
        _print_lines(presentation.map_table(device_map))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    device_map = _device_map(args, required=False)
    settings = _connection(args)
    with _connected(settings) as client:
        snapshot = client.wait_for_snapshot(settings.timeout)
    if args.json:
        _print_json(presentation.status_json(device_map, snapshot, settings.host, settings.port))
    else:
        _print_lines(presentation.status_table(device_map, snapshot, settings.address))
    return EXIT_OK


def _cmd_watch(args: argparse.Namespace) -> int:
    device_map = _device_map(args, required=False)
    settings = _connection(args)
    lines: queue.SimpleQueue[tuple[TextIO, str]] = queue.SimpleQueue()
    previous: list[StateSnapshot] = []

    def on_snapshot(snapshot: StateSnapshot) -> None:
        """Runs in the client's receive thread; the main thread does the printing."""
        for change in snapshot.compare(previous[0]) if previous else ():
            if args.json:
                document = presentation.change_json(device_map, change, snapshot.timestamp_iso)
                lines.put((sys.stdout, json.dumps(document)))
            else:
                text = presentation.change_text(device_map, change, snapshot.timestamp_iso)
                lines.put((sys.stdout, text))
        previous[:] = [snapshot]

    refused: list[CommandError] = []
    down = threading.Event()

    def on_connection(event: ConnectionEvent) -> None:
        """Subscribed before the start, so an outage while starting is reported too."""
        if event.state is ConnectionState.RECONNECTING:
            down.set()
            lines.put((sys.stderr, f"ipcom: connection lost ({event.reason}); reconnecting"))
        elif event.state is ConnectionState.CONNECTED:
            if down.is_set():
                down.clear()
                lines.put((sys.stderr, f"ipcom: connected to {settings.address} again"))
        elif event.authentication_failed:
            refused.append(
                CommandError(
                    f"{settings.address} rejected the username or password on reconnecting",
                    EXIT_AUTHENTICATION,
                )
            )
            stop.set()

    with _stop_on_signals() as stop:
        client = _client(settings)
        client.on_state_snapshot(on_snapshot)
        client.on_connection_state(on_connection)
        try:
            client.start_persistent_connection(auto_reconnect=True)
            client.wait_for_snapshot(settings.timeout)
            print(
                f"ipcom: watching {settings.address}; press Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            while not stop.is_set():
                with contextlib.suppress(queue.Empty):
                    stream, line = lines.get(timeout=_WATCH_TICK)
                    print(line, file=stream, flush=True)
        finally:
            client.stop_persistent_connection()
    with contextlib.suppress(queue.Empty):
        while True:
            stream, line = lines.get_nowait()
            print(line, file=stream, flush=True)
    if refused:
        raise refused[0]
    return EXIT_OK


def _cmd_switch(args: argparse.Namespace) -> int:
    device_map = _device_map(args, required=True)
    entry = _find(device_map, args.device)
    if isinstance(entry, CoverEntry):
        raise CommandError(f"{entry.key} is a shutter: use ipcom open, close or stop", EXIT_USAGE)
    settings = _connection(args)
    with _installation(settings, device_map) as installation:
        device = installation.get(entry.key)
        assert isinstance(device, RelayDevice)
        on = args.command == "on" or (args.command == "toggle" and not device.is_on)
        if not on:
            handle, value = device.turn_off(), RELAY_OFF
        elif isinstance(device, Dimmer):
            handle, value = device.turn_on(DIMMER_MAX), DIMMER_MAX
        else:
            handle, value = device.turn_on(), RELAY_ON
        _confirm(handle, settings, _describe_write(entry.module, entry.output, value))
        snapshot = _latest(installation.client)
    _print(f"{entry.key}: {presentation.state_text(entry, snapshot)}")
    return EXIT_OK


def _cmd_dim(args: argparse.Namespace) -> int:
    device_map = _device_map(args, required=True)
    entry = _find(device_map, args.device)
    if not (isinstance(entry, LightEntry) and entry.dimmable):
        raise CommandError(
            f"{entry.key} is not a dimmable light: use ipcom "
            + ("open, close or stop" if isinstance(entry, CoverEntry) else "on, off or toggle"),
            EXIT_USAGE,
        )
    settings = _connection(args)
    with _installation(settings, device_map) as installation:
        dimmer = installation.get(entry.key)
        assert isinstance(dimmer, Dimmer)
        what = _describe_write(entry.module, entry.output, args.percent)
        _confirm(dimmer.turn_on(args.percent), settings, what)
        snapshot = _latest(installation.client)
    _print(f"{entry.key}: {presentation.state_text(entry, snapshot)}")
    return EXIT_OK


def _cmd_cover(args: argparse.Namespace) -> int:
    """Open, close or stop a shutter with the library's rules: never both relays on, rest first."""
    device_map = _device_map(args, required=True)
    entry = _find(device_map, args.device)
    if not isinstance(entry, CoverEntry):
        raise CommandError(f"{entry.key} is not a shutter: use ipcom on, off or toggle", EXIT_USAGE)
    settings = _connection(args)
    with _installation(settings, device_map) as installation:
        shutter = installation.get(entry.key)
        assert isinstance(shutter, Shutter)
        command, what = {
            "open": (shutter.open, "opening"),
            "close": (shutter.close, "closing"),
            "stop": (shutter.stop, "stopping"),
        }[args.command]
        _confirm(command(), settings, f"{what} {entry.key}")
        snapshot = _latest(installation.client)
    _print(f"{entry.key}: {presentation.state_text(entry, snapshot)}")
    return EXIT_OK


def _cmd_raw(args: argparse.Namespace) -> int:
    settings = _connection(args)
    with _connected(settings) as client:
        client.wait_for_snapshot(settings.timeout)
        what = _describe_write(args.module, args.output, args.value)
        _confirm(client.set_value(args.module, args.output, args.value), settings, what)
        snapshot = _latest(client)
    _print(f"{args.module}.{args.output}: {snapshot.get_value(args.module, args.output)}")
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    device_map = _device_map(args, required=False)
    username = getattr(args, "username", None) or os.environ.get(ENV_USERNAME) or DEFAULT_USERNAME
    password = os.environ.get(ENV_PASSWORD) or DEFAULT_PASSWORD
    try:
        messages.validate_credentials(username, password)
    except ValueError as err:
        raise CommandError(f"invalid credentials for the simulator: {err}", EXIT_USAGE) from None
    pressable = [light.address for light in device_map.lights]
    pressable += [switch.address for switch in device_map.switches]
    if args.activity and not pressable:
        raise CommandError(
            "--activity needs lights or switches in the device map to press", EXIT_USAGE
        )
    host = getattr(args, "host", SIMULATOR_HOST)
    port = getattr(args, "port", DEFAULT_PORT)
    device_options: dict[str, Any] = {
        option: getattr(args, option)
        for option in (
            "answer_frames",
            "reply_delay",
            "request_time",
            "report_interval",
            "connect_dribble",
            "connect_status",
        )
        if hasattr(args, option)
    }
    simulator = Simulator(
        host,
        port,
        username,
        password,
        dimmer_modules=device_map.dimmer_modules(),
        **device_options,
    )
    with _stop_on_signals() as stop:
        try:
            simulator.start()
        except OSError as err:
            raise CommandError(
                f"cannot listen on {host}:{port}: {err.strerror or err}", EXIT_CONNECTION
            ) from None
        try:
            if args.activity:
                simulator.start_activity(
                    pressable, getattr(args, "activity_interval", ACTIVITY_INTERVAL)
                )
            _print(
                f"ipcom simulator listening on {simulator.host}:{simulator.port} (user {username})"
            )
            stop.wait()
        finally:
            simulator.stop()
    return EXIT_OK


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM, so long-running commands end cleanly.

    Handlers can only be installed from the main thread; elsewhere (embedding,
    tests) the event is simply never set by a signal.
    """
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# Output


def _print(line: str) -> None:
    print(line, flush=True)


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2), flush=True)


def _print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        _print(line)
