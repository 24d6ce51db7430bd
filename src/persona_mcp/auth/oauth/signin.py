"""The consent page's sign-in limit: failed sign-ins per client address in a sliding window.

A grant token has 256 bits of secret, so guessing one is hopeless anyway; the limit is there so the page
cannot be used to hammer the grant store, and so an attacker trying stolen or partial tokens is slowed
and shows up in the audit log. In process, like the grant rate limiter: each replica counts its own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

_MAX_KEYS = 10_000


class SignInLimiter:
    """At most `attempts` failed sign-ins per key in any `window_seconds`."""

    def __init__(
        self, *, attempts: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._attempts = attempts
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None if it may try now."""
        failures = self._recent(key)
        if len(failures) < self._attempts:
            return None
        return max(0.0, failures[0] + self._window - self._clock())

    def failed(self, key: str) -> None:
        if len(self._failures) >= _MAX_KEYS and key not in self._failures:
            self._prune()
        self._recent(key).append(self._clock())

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        cutoff = self._clock() - self._window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def _prune(self) -> None:
        for key in list(self._failures):
            if not self._recent(key):
                del self._failures[key]
        if len(self._failures) >= _MAX_KEYS:
            self._failures.clear()
