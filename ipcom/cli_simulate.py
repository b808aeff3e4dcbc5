"""`ipcom simulate`: a simulated installation to try the client, the command and Home Assistant on.

It listens until Ctrl-C or SIGTERM; the options shape the installation and
the faults of a real device that a client must survive.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Final

from . import messages
from .cli_common import (
    ENV_PASSWORD,
    ENV_USERNAME,
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_USAGE,
    AddCommand,
    CommandError,
    positive_seconds,
    print_line,
    ranged,
    read_device_map,
    stop_on_signals,
)
from .protocol import BUSES, DEFAULT_BUS, DEFAULT_PORT, MODULE_COUNT, BusType
from .simulator import DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator
from .simulator_codec import check_firmware

SIMULATOR_HOST: Final = "127.0.0.1"
ACTIVITY_INTERVAL: Final = 8.0


def add_simulate_command(add_command: AddCommand) -> None:
    """Add `simulate` and its options for the installation and for a device's faults."""
    simulate = add_command("simulate", _cmd_simulate, "Run a simulated installation until Ctrl-C.")
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
    installation = simulate.add_argument_group(
        "the installation (default: the captured one, one Minido bus, on --port only; "
        "--bus-type, --bus-2-type, --tricom and --remote-port shape it too)"
    )
    installation.add_argument(
        "--buses",
        type=int,
        choices=BUSES,
        default=argparse.SUPPRESS,
        help="how many buses: 2 also serves bus 2, on the same port, of --bus-2-type or "
        f"else {BusType.MINIDO.value} (default 1; 2 with --bus-2-type)",
    )
    installation.add_argument(
        "--plaintext",
        choices=["short", "nonsecure"],
        default=argparse.SUPPRESS,
        help="talk without the cipher: answer with the short connect response, or ask "
        "for a plain connection again with NonSecure",
    )
    installation.add_argument(
        "--firmware",
        type=_firmware,
        default=argparse.SUPPRESS,
        metavar="XXXX",
        help="firmware version the connect response names, 4 ASCII characters (default 0000)",
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
        type=ranged(0, 255),
        default=argparse.SUPPRESS,
        metavar="N",
        help="answer each connect request with this status byte; any but 1 refuses and closes",
    )


def _firmware(text: str) -> str:
    """Parse --firmware: what a connect response can carry, 4 ASCII characters."""
    try:
        check_firmware(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 4 ASCII characters such as 0000, got {text!r}"
        ) from None
    return text


def _cmd_simulate(args: argparse.Namespace) -> int:
    bus_2_type: str | None = getattr(args, "bus_2_type", None)
    bus_count: int = getattr(args, "buses", 1 if bus_2_type is None else 2)
    if bus_2_type is not None and bus_count != 2:
        raise CommandError(
            f"argument --bus-2-type: gives the installation a second bus; "
            f"it contradicts --buses {bus_count}",
            EXIT_USAGE,
        )
    for flag, why in (
        ("--remote-host", "it listens (--remote-port N also listens as the remote address)"),
        ("--serial", "it is part of a TriCom's remote login, which the simulator does not check"),
    ):
        if hasattr(args, flag[2:].replace("-", "_")):
            raise CommandError(f"argument {flag}: not for simulate: {why}", EXIT_USAGE)
    device_map = read_device_map(args, required=False)
    username = getattr(args, "username", None) or os.environ.get(ENV_USERNAME) or DEFAULT_USERNAME
    password = os.environ.get(ENV_PASSWORD) or DEFAULT_PASSWORD
    try:
        messages.validate_credentials(username, password)
    except ValueError as err:
        raise CommandError(f"invalid credentials for the simulator: {err}", EXIT_USAGE) from None
    pressable = [light.address for light in device_map.lights if light.bus == 1]
    pressable += [switch.address for switch in device_map.switches if switch.bus == 1]
    if args.activity and not pressable:
        raise CommandError(
            "--activity needs lights or switches on bus 1 in the device map to press", EXIT_USAGE
        )
    host = getattr(args, "host", SIMULATOR_HOST)
    port = getattr(args, "port", DEFAULT_PORT)
    remote_port: int | None = getattr(args, "remote_port", None)
    if remote_port and remote_port == port:
        raise CommandError(
            f"argument --remote-port: must differ from --port, got {remote_port} for both",
            EXIT_USAGE,
        )
    addresses = f"{host}:{port}" + ("" if remote_port is None else f" and {host}:{remote_port}")
    device_options: dict[str, Any] = {
        option: getattr(args, option)
        for option in (
            "answer_frames",
            "reply_delay",
            "request_time",
            "report_interval",
            "connect_dribble",
            "connect_status",
            "plaintext",
            "remote_port",
        )
        if hasattr(args, option)
    }
    if hasattr(args, "firmware"):
        device_options["firmware_version"] = args.firmware
    buses = {DEFAULT_BUS: BusType(getattr(args, "bus_type", BusType.MINIDO.value))}
    if bus_count == 2:
        buses[2] = BusType(bus_2_type or BusType.MINIDO.value)
        device_options["dimmer_modules_by_bus"] = {2: device_map.dimmer_modules(2)}
    simulator = Simulator(
        host,
        port,
        username,
        password,
        dimmer_modules=device_map.dimmer_modules(),
        buses=buses,
        tricom=getattr(args, "tricom", False),
        **device_options,
    )
    with stop_on_signals() as stop:
        try:
            simulator.start()
        except OSError as err:
            raise CommandError(
                f"cannot listen on {addresses}: {err.strerror or err}", EXIT_CONNECTION
            ) from None
        try:
            if args.activity:
                simulator.start_activity(
                    pressable, getattr(args, "activity_interval", ACTIVITY_INTERVAL)
                )
            print_line(
                f"ipcom simulator listening on {simulator.host}:{simulator.port} (user {username})"
            )
            if simulator.remote_port is not None:
                print_line(
                    f"ipcom simulator listening on {simulator.host}:{simulator.remote_port} "
                    f"(user {username}, remote address)"
                )
            for number, kind in simulator.buses.items():
                addressing = simulator.addressing(bus=number)
                print(
                    f"ipcom: simulated bus {number}: {kind.value}, bus byte "
                    f"{addressing.bus_byte}, module addresses {addressing.base}.."
                    f"{addressing.base + MODULE_COUNT - 1}",
                    file=sys.stderr,
                    flush=True,
                )
            stop.wait()
        finally:
            simulator.stop()
    return EXIT_OK
