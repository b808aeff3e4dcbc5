"""What every module of the `ipcom` command shares: exit codes, settings, failures and output.

The entry point (`cli.py`) and the command modules it adds (`cli_simulate.py`,
`cli_account.py`) all import from here, never from each other, so no import
goes in a circle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final

from .devices import DeviceMap, load_device_map

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
ENV_REMOTE_HOST: Final = "IPCOM_REMOTE_HOST"
ENV_REMOTE_PORT: Final = "IPCOM_REMOTE_PORT"
ENV_SERIAL: Final = "IPCOM_SERIAL"
DEFAULT_DEVICES: Final = "devices.yaml"
MAX_SECONDS: Final = 86_400.0
"""The longest duration an option takes, a day: nobody waits longer on purpose, and
far longer ones overflow the operating system's timers (`--timeout 1e10` did)."""

_LOGGER = logging.getLogger("ipcom.cli")
"""One logger for the whole command, named after its entry point, whichever module logs."""

type Handler = Callable[[argparse.Namespace], int]
"""Runs one command on its parsed arguments and returns the exit code."""
type AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]
"""Adds a command by name, handler and one-line description, with the common options;
returns its parser for the command's own arguments."""


class CommandError(Exception):
    """A failure the command reports as one sentence on stderr, with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Arguments


def ranged(low: int, high: int) -> Callable[[str], int]:
    """An argument type for a whole number from `low` to `high`."""

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


def read_device_map(args: argparse.Namespace, *, required: bool) -> DeviceMap:
    """Load the device map; a missing default file is fine where a map is optional."""
    given = getattr(args, "devices", None) or os.environ.get(ENV_DEVICES)
    path = Path(given or DEFAULT_DEVICES)
    if not given and not required and not path.exists():
        _LOGGER.debug("No %s here; continuing without a device map", DEFAULT_DEVICES)
        return DeviceMap()
    return load_device_map(path)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
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


def print_line(line: str) -> None:
    """Print one line of stdout now, so whoever reads a pipe sees it as it happens."""
    print(line, flush=True)


def print_json(document: object) -> None:
    print(json.dumps(document, indent=2), flush=True)


def print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print_line(line)
