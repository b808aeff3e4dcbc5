"""The `ipcom` command: check wiring and control outputs without Home Assistant.

Every command that talks to an installation connects, does one job and
disconnects again; `watch` runs until Ctrl-C or SIGTERM. A write only counts
as done once a status snapshot shows it, so the exit code tells an installer
whether the output really changed. The commands that need no installation
come from their own modules (`cli_simulate`, `cli_account`); what every
module shares is in `cli_common`.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import getpass
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Final, NoReturn, TextIO

from . import messages, presentation
from .cli_account import add_account_command
from .cli_common import (
    DEFAULT_DEVICES,
    ENV_DEVICES,
    ENV_HOST,
    ENV_PASSWORD,
    ENV_PORT,
    ENV_REMOTE_HOST,
    ENV_REMOTE_PORT,
    ENV_SERIAL,
    ENV_USERNAME,
    EXIT_AUTHENTICATION,
    EXIT_CONNECTION,
    EXIT_DEVICES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNCONFIRMED,
    EXIT_UNKNOWN_DEVICE,
    EXIT_USAGE,
    CommandError,
    Handler,
    positive_seconds,
    print_json,
    print_line,
    print_lines,
    ranged,
    read_device_map,
    stop_on_signals,
)
from .cli_simulate import add_simulate_command
from .client import IPComClient
from .devices import CoverEntry, DeviceEntry, DeviceMap, DeviceMapError, LightEntry
from .errors import IPComAuthenticationError, IPComConnectionError
from .installation import Installation
from .models import ConnectionEvent, ConnectionState, StateSnapshot
from .outputs import Dimmer, RelayDevice
from .protocol import (
    BUSES,
    DEFAULT_BUS,
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
    BusType,
)
from .scheduling import ThreadScheduler
from .shutter import RelayNotReleasedError, Shutter
from .writes import AbandonReason, WriteAbandonedError, WriteOutcome

DEFAULT_TIMEOUT: Final = 10.0
_WATCH_TICK: Final = 0.25
_LINK_LOST: Final = frozenset(
    {AbandonReason.LINK_DROPPED, AbandonReason.LINK_ENDED, AbandonReason.OUTAGE}
)
"""Why a write given up on means the connection failed (exit 3), not the write (exit 7)."""


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
    handler: Handler = args.handler
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
        # The warnings too, as `list` prints them for a valid map: one run names everything.
        return [*err.problems, *(f"warning: {warning}" for warning in err.warnings)], EXIT_DEVICES
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
            f"Connection settings may also come from {ENV_HOST}, {ENV_PORT}, {ENV_USERNAME}, "
            f"{ENV_PASSWORD}, {ENV_REMOTE_HOST}, {ENV_REMOTE_PORT} and {ENV_SERIAL}; without "
            f"{ENV_PASSWORD} the password is asked for. "
            f"Exit codes: {EXIT_OK} success, {EXIT_USAGE} usage, {EXIT_CONNECTION} cannot connect "
            f"or lost the connection, {EXIT_AUTHENTICATION} authentication failed, "
            f"{EXIT_DEVICES} invalid devices.yaml, {EXIT_UNKNOWN_DEVICE} unknown device, "
            f"{EXIT_UNCONFIRMED} the installation did not confirm a write within --timeout."
        ),
    )
    _add_common_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
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
        "percent", type=ranged(DIMMER_MIN, DIMMER_MAX), help=f"{DIMMER_MIN}..{DIMMER_MAX}"
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
    raw_set.add_argument(
        "--bus",
        type=int,
        choices=BUSES,
        default=DEFAULT_BUS,
        help="the bus of the module; 2 needs --bus-2-type (default %(default)s)",
    )
    raw_set.add_argument("module", type=ranged(1, MODULE_COUNT), help=f"1..{MODULE_COUNT}")
    raw_set.add_argument(
        "output", type=ranged(1, OUTPUTS_PER_MODULE), help=f"1..{OUTPUTS_PER_MODULE}"
    )
    raw_set.add_argument(
        "value",
        type=ranged(RELAY_OFF, OUTPUT_VALUE_MAX),
        help=f"{RELAY_OFF}..{OUTPUT_VALUE_MAX} (relay: {RELAY_OFF}/{RELAY_ON}, "
        f"dimmer: {DIMMER_MIN}..{DIMMER_MAX})",
    )
    add_account_command(command)
    add_simulate_command(command)
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
        type=ranged(0, 65535),
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
    bus_types = [kind.value for kind in BusType]
    parser.add_argument(
        "--bus-type",
        choices=bus_types,
        default=suppress,
        help="type of bus 1, which decides how its frames are addressed "
        f"(default {BusType.MINIDO.value}; simulate: of the simulated bus 1)",
    )
    parser.add_argument(
        "--bus-2-type",
        choices=bus_types,
        default=suppress,
        help="the installation has a second bus, of this type: needed when the device map "
        "has devices on bus 2 (simulate: serve bus 2 too)",
    )
    parser.add_argument(
        "--tricom",
        action="store_true",
        default=suppress,
        help="a TriCom installation: bus 1's frames carry bus byte 2 whatever its type",
    )
    parser.add_argument(
        "--remote-host",
        default=suppress,
        metavar="HOST",
        help="the installation's remote address, used when the local one cannot be reached "
        f"(env {ENV_REMOTE_HOST}; not for simulate)",
    )
    parser.add_argument(
        "--remote-port",
        type=ranged(0, 65535),
        default=suppress,
        metavar="N",
        help=f"the remote address's TCP port (env {ENV_REMOTE_PORT}, default {DEFAULT_PORT}; "
        "simulate: also listen on this port as the remote address, 0 for any free port)",
    )
    parser.add_argument(
        "--serial",
        default=suppress,
        help="a TriCom's serial number, sent with the username on its remote address "
        f"(env {ENV_SERIAL}; not for simulate)",
    )


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
    bus_types: Mapping[int, BusType] = field(default_factory=lambda: {DEFAULT_BUS: BusType.MINIDO})
    """The installation's buses and their types: bus 1 always, bus 2 with --bus-2-type."""
    tricom: bool = False
    remote_host: str | None = None
    remote_port: int = DEFAULT_PORT
    serial: str | None = None

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


def _bus_types(args: argparse.Namespace, device_map: DeviceMap | None) -> dict[int, BusType]:
    """The installation's buses and their types; a map with bus 2 devices needs bus 2's type.

    The type decides how a bus's frames are addressed (PROTOCOL.md section 6),
    so it is never guessed.
    """
    bus_types = {DEFAULT_BUS: BusType(getattr(args, "bus_type", BusType.MINIDO.value))}
    bus_2_type: str | None = getattr(args, "bus_2_type", None)
    if bus_2_type is not None:
        bus_types[2] = BusType(bus_2_type)
    missing = [bus for bus in (device_map.buses() if device_map else ()) if bus not in bus_types]
    if missing:
        raise CommandError(
            f"the device map has devices on bus {missing[0]}: give --bus-2-type "
            f"({', '.join(kind.value for kind in BusType)}), the type of the installation's "
            "second bus, which decides how its frames are addressed",
            EXIT_USAGE,
        )
    return bus_types


def _connection(args: argparse.Namespace, device_map: DeviceMap | None = None) -> _Connection:
    """Connection settings from the flags, then the environment, then a prompt.

    With a device map, also checks that every bus it has devices on has a type.
    """
    bus_types = _bus_types(args, device_map)
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
    remote_host, remote_port = _remote_address(args)
    serial: str | None = getattr(args, "serial", None)
    if serial is None:
        serial = os.environ.get(ENV_SERIAL) or None
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
        bus_types=bus_types,
        tricom=getattr(args, "tricom", False),
        remote_host=remote_host,
        remote_port=remote_port,
        serial=serial,
    )


def _remote_address(args: argparse.Namespace) -> tuple[str | None, int]:
    """The installation's remote host (None without one) and port, from flags or environment."""
    remote_host: str | None = getattr(args, "remote_host", None)
    source = "argument --remote-host:"
    if remote_host is None:
        remote_host = os.environ.get(ENV_REMOTE_HOST) or None
        source = ENV_REMOTE_HOST
    if remote_host is not None:
        if not remote_host.strip():
            raise CommandError(
                f"{source} expected a host name or address, got {remote_host!r}", EXIT_USAGE
            )
        _check_host(remote_host, source)
    remote_port: int | None = getattr(args, "remote_port", None)
    if remote_port is None:
        return remote_host, _env_port(ENV_REMOTE_PORT)
    if remote_port == 0:
        raise CommandError(
            "argument --remote-port: must be 1..65535 to reach an installation, got 0 "
            "(only simulate takes 0, for any free port)",
            EXIT_USAGE,
        )
    if remote_host is None:
        raise CommandError(
            f"argument --remote-port: needs the remote host too: give --remote-host or set "
            f"{ENV_REMOTE_HOST}",
            EXIT_USAGE,
        )
    return remote_host, remote_port


def _check_host(host: str, source: str) -> None:
    """Refuse a host that no name lookup can take (an empty or over-long label)."""
    try:
        host.encode("idna")
    except UnicodeError:
        raise CommandError(
            f"{source} expected a host name or address, got {host!r}", EXIT_USAGE
        ) from None


def _env_port(variable: str = ENV_PORT) -> int:
    text = os.environ.get(variable)
    if not text:
        return DEFAULT_PORT
    try:
        return ranged(1, 65535)(text)
    except argparse.ArgumentTypeError as err:
        raise CommandError(f"{variable} {err}", EXIT_USAGE) from None


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


def _client(settings: _Connection, bus: int = DEFAULT_BUS) -> IPComClient:
    """A client for one bus; a combination of settings it refuses is a usage error.

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
            bus=bus,
            bus_type=settings.bus_types[bus],
            tricom=settings.tricom,
            remote_host=settings.remote_host,
            remote_port=settings.remote_port,
            serial=settings.serial,
        )
    except ValueError as err:
        raise CommandError(f"invalid settings: {err}", EXIT_USAGE) from None


def _clients(settings: _Connection, buses: Sequence[int] | None = None) -> dict[int, IPComClient]:
    """One client per bus (every bus of the installation by default), none connected yet.

    All are made before any connects, so refused settings stop the command first.
    """
    return {bus: _client(settings, bus) for bus in (buses or sorted(settings.bus_types))}


@contextlib.contextmanager
def _started(clients: Mapping[int, IPComClient], *, auto_reconnect: bool) -> Iterator[None]:
    """Start each client in turn; every one started is stopped however the block ends.

    An installation refuses a login for a bus it lacks as it refuses wrong
    credentials (PROTOCOL.md section 3); once another bus's login with the
    same credentials succeeded, the failure says which bus it was.
    """
    started: list[IPComClient] = []
    logged_in: list[int] = []
    try:
        for bus, client in clients.items():
            started.append(client)
            try:
                client.start_persistent_connection(auto_reconnect=auto_reconnect)
            except IPComAuthenticationError:
                if not logged_in:
                    raise
                raise CommandError(
                    f"{client.address} refused the login for bus {bus} but accepted it for bus "
                    f"{logged_in[0]}: does the installation have a bus {bus} (--bus-{bus}-type)?",
                    EXIT_AUTHENTICATION,
                ) from None
            logged_in.append(bus)
        yield
    finally:
        for client in reversed(started):
            client.stop_persistent_connection()


@contextlib.contextmanager
def _connected(
    settings: _Connection, buses: Sequence[int] | None = None, *, auto_reconnect: bool = False
) -> Iterator[dict[int, IPComClient]]:
    """A started client per bus; all are stopped (every thread joined) however the block ends."""
    clients = _clients(settings, buses)
    with _started(clients, auto_reconnect=auto_reconnect):
        yield clients


def _first_snapshots(
    clients: Mapping[int, IPComClient], timeout: float
) -> dict[int, StateSnapshot]:
    """Wait for every client's first snapshot, bus by bus."""
    return {bus: client.wait_for_snapshot(timeout) for bus, client in clients.items()}


@contextlib.contextmanager
def _installation(settings: _Connection, device_map: DeviceMap) -> Iterator[Installation]:
    """The map's devices on a started client per bus, each of which has seen its first snapshot.

    Their context is a thread of their own, ended with the clients however
    the block ends.
    """
    scheduler = ThreadScheduler()
    try:
        with _connected(settings) as clients:
            installation = Installation(device_map, clients, scheduler)
            installation.start()
            try:
                _first_snapshots(clients, settings.timeout)
                yield installation
            finally:
                installation.close()
    finally:
        scheduler.close()


def _firmware_version(clients: Mapping[int, IPComClient]) -> str | None:
    """The installation's firmware version: the first bus whose login answer named one."""
    return next(
        (
            client.firmware_version
            for client in clients.values()
            if client.firmware_version is not None
        ),
        None,
    )


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


def _describe_write(module: int, output: int, value: int, bus: int = DEFAULT_BUS) -> str:
    return f"writing {value} to {_output_name(module, output, bus)}"


def _output_name(module: int, output: int, bus: int) -> str:
    """`MODULE.OUTPUT` on bus 1, `2:MODULE.OUTPUT` on bus 2."""
    return presentation.address(module, output, None if bus == DEFAULT_BUS else bus)


# Commands


def _cmd_list(args: argparse.Namespace) -> int:
    device_map = read_device_map(args, required=True)
    if args.json:
        print_json(presentation.map_json(device_map))
    else:
        print_lines(presentation.map_table(device_map))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    device_map = read_device_map(args, required=False)
    settings = _connection(args, device_map)
    with _connected(settings) as clients:
        snapshots = _first_snapshots(clients, settings.timeout)
        buses = [
            presentation.BusState(
                bus=bus,
                bus_type=settings.bus_types[bus].value,
                snapshot=snapshots[bus],
                address=client.address if client.via_remote else settings.address,
                via_remote=client.via_remote,
            )
            for bus, client in clients.items()
        ]
        firmware_version = _firmware_version(clients)
    if args.json:
        document = presentation.status_json(
            device_map, buses, settings.host, settings.port, firmware_version
        )
        print_json(document)
    else:
        print_lines(presentation.status_table(device_map, buses, firmware_version))
    return EXIT_OK


def _cmd_watch(args: argparse.Namespace) -> int:
    device_map = read_device_map(args, required=False)
    settings = _connection(args, device_map)
    with_bus = len(settings.bus_types) > 1
    lines: queue.SimpleQueue[tuple[TextIO, str]] = queue.SimpleQueue()
    refused: list[CommandError] = []

    def follow(bus: int, client: IPComClient, stop: threading.Event) -> None:
        """Print the changes and connection news of one bus's client."""
        previous: list[StateSnapshot] = []
        down = threading.Event()
        which = f"bus {bus}: " if with_bus else ""

        def on_snapshot(snapshot: StateSnapshot) -> None:
            """Runs in the client's receive thread; the main thread does the printing."""
            timestamp = snapshot.timestamp_iso
            for change in snapshot.compare(previous[0]) if previous else ():
                if args.json:
                    document = presentation.change_json(
                        device_map, change, timestamp, bus, with_bus=with_bus
                    )
                    lines.put((sys.stdout, json.dumps(document)))
                else:
                    text = presentation.change_text(
                        device_map, change, timestamp, bus, with_bus=with_bus
                    )
                    lines.put((sys.stdout, text))
            previous[:] = [snapshot]

        def on_connection(event: ConnectionEvent) -> None:
            """Subscribed before the start, so an outage while starting is reported too."""
            if event.state is ConnectionState.RECONNECTING:
                down.set()
                lines.put(
                    (sys.stderr, f"ipcom: {which}connection lost ({event.reason}); reconnecting")
                )
            elif event.state is ConnectionState.CONNECTED:
                if down.is_set():
                    down.clear()
                    lines.put((sys.stderr, f"ipcom: {which}connected to {settings.address} again"))
            elif event.authentication_failed:
                refused.append(
                    CommandError(
                        f"{settings.address} rejected the username or password on reconnecting",
                        EXIT_AUTHENTICATION,
                    )
                )
                stop.set()

        client.on_state_snapshot(on_snapshot)
        client.on_connection_state(on_connection)

    with stop_on_signals() as stop:
        clients = _clients(settings)
        for bus, client in clients.items():
            follow(bus, client, stop)
        with _started(clients, auto_reconnect=True):
            _first_snapshots(clients, settings.timeout)
            remote = [client.address for client in clients.values() if client.via_remote]
            where = settings.address + (f" via its remote address {remote[0]}" if remote else "")
            buses = f" (buses {' and '.join(map(str, clients))})" if with_bus else ""
            print(
                f"ipcom: watching {where}{buses}; press Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            while not stop.is_set():
                with contextlib.suppress(queue.Empty):
                    stream, line = lines.get(timeout=_WATCH_TICK)
                    print(line, file=stream, flush=True)
    with contextlib.suppress(queue.Empty):
        while True:
            stream, line = lines.get_nowait()
            print(line, file=stream, flush=True)
    if refused:
        raise refused[0]
    return EXIT_OK


def _cmd_switch(args: argparse.Namespace) -> int:
    device_map = read_device_map(args, required=True)
    entry = _find(device_map, args.device)
    if isinstance(entry, CoverEntry):
        raise CommandError(f"{entry.key} is a shutter: use ipcom open, close or stop", EXIT_USAGE)
    settings = _connection(args, device_map)
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
        _confirm(handle, settings, _describe_write(entry.module, entry.output, value, entry.bus))
        snapshot = _latest(installation.clients[entry.bus])
    print_line(f"{entry.key}: {presentation.state_text(entry, snapshot)}")
    return EXIT_OK


def _cmd_dim(args: argparse.Namespace) -> int:
    device_map = read_device_map(args, required=True)
    entry = _find(device_map, args.device)
    if not (isinstance(entry, LightEntry) and entry.dimmable):
        raise CommandError(
            f"{entry.key} is not a dimmable light: use ipcom "
            + ("open, close or stop" if isinstance(entry, CoverEntry) else "on, off or toggle"),
            EXIT_USAGE,
        )
    settings = _connection(args, device_map)
    with _installation(settings, device_map) as installation:
        dimmer = installation.get(entry.key)
        assert isinstance(dimmer, Dimmer)
        what = _describe_write(entry.module, entry.output, args.percent, entry.bus)
        _confirm(dimmer.turn_on(args.percent), settings, what)
        snapshot = _latest(installation.clients[entry.bus])
    print_line(f"{entry.key}: {presentation.state_text(entry, snapshot)}")
    return EXIT_OK


def _cmd_cover(args: argparse.Namespace) -> int:
    """Open, close or stop a shutter with the library's rules: never both relays on, rest first."""
    device_map = read_device_map(args, required=True)
    entry = _find(device_map, args.device)
    if not isinstance(entry, CoverEntry):
        raise CommandError(f"{entry.key} is not a shutter: use ipcom on, off or toggle", EXIT_USAGE)
    settings = _connection(args, device_map)
    with _installation(settings, device_map) as installation:
        shutter = installation.get(entry.key)
        assert isinstance(shutter, Shutter)
        command, what = {
            "open": (shutter.open, "opening"),
            "close": (shutter.close, "closing"),
            "stop": (shutter.stop, "stopping"),
        }[args.command]
        _confirm(command(), settings, f"{what} {entry.key}")
        snapshot = _latest(installation.clients[entry.bus])
    print_line(f"{entry.key}: {presentation.state_text(entry, snapshot)}")
    return EXIT_OK


def _cmd_raw(args: argparse.Namespace) -> int:
    settings = _connection(args)
    bus: int = args.bus
    if bus not in settings.bus_types:
        raise CommandError(
            f"argument --bus: bus {bus} needs --bus-2-type "
            f"({', '.join(kind.value for kind in BusType)}), the type of the installation's "
            "second bus, which decides how its frames are addressed",
            EXIT_USAGE,
        )
    with _connected(settings, [bus]) as clients:
        client = clients[bus]
        client.wait_for_snapshot(settings.timeout)
        what = _describe_write(args.module, args.output, args.value, bus)
        _confirm(client.set_value(args.module, args.output, args.value), settings, what)
        snapshot = _latest(client)
    value = snapshot.get_value(args.module, args.output)
    print_line(f"{_output_name(args.module, args.output, bus)}: {value}")
    return EXIT_OK
