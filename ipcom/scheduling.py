"""Where the devices' own work runs: one context, one job at a time.

A device hears of changes from the client's listener thread, is commanded
from its caller's thread, and a shutter also keeps timers (the end of a
run, a reversal pause). Running all of that in one context, one job after
another, keeps a device free of locks and its callers free of threads: Home
Assistant gives its event loop (`AsyncioScheduler`), a program without one
gets a thread of its own (`ThreadScheduler`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

_LOGGER = logging.getLogger(__name__)

JOIN_TIMEOUT: Final = 2.0

Job = Callable[[], None]
Cancel = Callable[[], None]


class Scheduler(Protocol):
    """Runs jobs one at a time in one context, now or after a delay."""

    def time(self) -> float:
        """Monotonic seconds on the clock `call_later` counts with."""
        ...

    def call_soon(self, job: Job) -> None:
        """Run `job` in the context as soon as it is free; safe from any thread."""
        ...

    def call_later(self, delay: float, job: Job) -> Cancel:
        """Run `job` in the context after `delay` seconds; called only from within the context."""
        ...


class AsyncioScheduler:
    """The context of an asyncio event loop: jobs run on the loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def time(self) -> float:
        """The loop's clock."""
        return self._loop.time()

    def call_soon(self, job: Job) -> None:
        """Hand `job` to the loop; safe from any thread."""
        self._loop.call_soon_threadsafe(job)

    def call_later(self, delay: float, job: Job) -> Cancel:
        """A timer of the loop's."""
        return self._loop.call_later(delay, job).cancel


@dataclass(order=True)
class _Timer:
    when: float
    order: int
    job: Job = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ThreadScheduler:
    """A thread of its own that runs jobs in order, and timers when they are due.

    The thread starts with the first job and is ended by `close`, which
    joins it. A job that raises is logged and the next one runs.
    """

    def __init__(self, name: str = "ipcom-devices") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._timers: list[_Timer] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def time(self) -> float:
        """The monotonic clock."""
        return time.monotonic()

    def call_soon(self, job: Job) -> None:
        """Run `job` after every job handed over before it."""
        self.call_later(0.0, job)

    def call_later(self, delay: float, job: Job) -> Cancel:
        """Run `job` once `delay` seconds have passed; also safe from other threads."""
        timer = _Timer(self.time() + max(0.0, delay), next(self._order), job)
        with self._lock:
            if self._closed:
                return timer.cancel
            heapq.heappush(self._timers, timer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()
        return timer.cancel

    def close(self) -> None:
        """Drop the jobs still waiting and end the thread; returns once it has ended."""
        with self._lock:
            self._closed = True
            self._timers.clear()
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)

    def _run(self) -> None:
        while (job := self._next()) is not None:
            try:
                job()
            except Exception:
                _LOGGER.exception("Error in an ipcom device job")

    def _next(self) -> Job | None:
        with self._lock:
            while not self._closed:
                if not self._timers:
                    self._wake.wait()
                    continue
                timer = self._timers[0]
                if timer.cancelled:
                    heapq.heappop(self._timers)
                    continue
                wait = timer.when - self.time()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._timers)
                return timer.job
            return None
