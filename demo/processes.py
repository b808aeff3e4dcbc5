"""Child processes that cannot outlive the demo, and the ports they listen on.

Every child runs in a process group of its own, so stopping it reaches whatever it started,
and on Linux it gets SIGTERM from the kernel if the process that started it dies, even by
SIGKILL. Ctrl-C therefore never leaves Home Assistant or the simulator running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking the kernel to SIGTERM the child when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolved in the parent: the hook runs between fork and exec, where loading a library
    # is not safe.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class ChildProcess:
    """One long-running program of the demo, its output going to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        """Process id, which is also the id of the child's process group."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once the child ended, else None."""
        return None if self._process is None else self._process.returncode

    @property
    def running(self) -> bool:
        """True between start and the moment the child was seen to exit."""
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the child in a new session, appending its output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=parent_death_signal(),
            )

    async def wait(self) -> int:
        """Wait until the child exits and return its status."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was not started")
        return await self._process.wait()

    def kill(self) -> None:
        """SIGKILL the child's whole group now (a second Ctrl-C: no more patience)."""
        if self._process is not None:
            _signal_group(self.pid, signal.SIGKILL)

    async def stop(self, grace: float, first_signal: int = signal.SIGTERM) -> int | None:
        """Ask the child's whole group to stop; kill it if it is not gone after `grace` seconds.

        Returns the exit status, or None if the child was never started.
        """
        if self._process is None:
            return None
        if self._process.returncode is None:
            _signal_group(self.pid, first_signal)
            try:
                await asyncio.wait_for(self._process.wait(), grace)
            except TimeoutError:
                _signal_group(self.pid, signal.SIGKILL)
                await self._process.wait()
        # The leader may be gone while something it started is still in the group.
        _signal_group(self.pid, signal.SIGKILL)
        return self._process.returncode


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def group_alive(pgid: int) -> bool:
    """Whether any process of a process group still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_is_free(host: str, port: int) -> bool:
    """Whether a TCP server could listen on host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, preferred: Sequence[int] = ()) -> int:
    """The first free port of `preferred`, else one the kernel picks."""
    for port in preferred:
        if port_is_free(host, port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        picked: int = probe.getsockname()[1]
    return picked
