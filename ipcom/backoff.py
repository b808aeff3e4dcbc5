"""How long to wait before the next reconnect (PROTOCOL.md section 5, ours).

The delay doubles from `base` to `maximum` and is spread by a random share so
that clients of one installation do not return in step. It starts over only
when a session stayed healthy (answered polls) for `healthy_after` seconds:
any byte, a handshake or a single answered poll is no proof that the device
will keep the session, and a device that closes after every poll must not
turn the client into a storm of connections.
"""

from __future__ import annotations

import random


class Backoff:
    """The reconnect delay of one client; not thread-safe (the receive loop owns it)."""

    def __init__(self, base: float, maximum: float, healthy_after: float, jitter: float) -> None:
        self._base = base
        self._maximum = max(maximum, base)
        self._healthy_after = healthy_after
        self._jitter = jitter
        self._failures = 1

    def session_ended(self, healthy_for: float) -> None:
        """A session ended after answering polls for `healthy_for` seconds."""
        if healthy_for >= self._healthy_after:
            self._failures = 0

    def next_delay(self) -> float:
        """The wait before the next attempt: none right after a healthy session."""
        failures = self._failures
        self._failures += 1
        if failures == 0:
            return 0.0
        delay = min(self._base * 2.0 ** min(failures - 1, 32), self._maximum)
        return delay * random.uniform(1 - self._jitter, 1 + self._jitter)
