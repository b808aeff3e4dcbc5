"""One thread that runs a client's listeners, in the order their events happened.

The receive thread judges whether the link lives; if it ran a caller's
listener, a listener that took six seconds would make a healthy link look
dead. So every listener, and every write handle's callbacks, run here
instead. A listener may do anything, `stop_persistent_connection` included,
and one that raises (even `SystemExit`) is logged and the next job runs.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

Job = Callable[[], None]


class Dispatcher:
    """Runs posted jobs one at a time on a thread of its own, started when needed."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._jobs: deque[Job] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False

    def open(self) -> None:
        """Keep the thread for as long as the client runs (until `close`)."""
        with self._lock:
            self._closing = False

    def post(self, job: Job) -> None:
        """Queue `job` behind every job posted before it; never blocks on a job."""
        with self._lock:
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            else:
                self._wake.notify()

    def close(self) -> None:
        """Let the thread end once it has run every job posted so far."""
        with self._lock:
            self._closing = True
            self._wake.notify()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end after `close`; returns at once on the thread itself."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._jobs and not self._closing:
                    self._wake.wait()
                if not self._jobs:
                    self._thread = None
                    return
                job = self._jobs.popleft()
            try:
                job()
            except BaseException:
                _LOGGER.exception("Error in an ipcom listener")
