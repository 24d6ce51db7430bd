"""A client-side gate that keeps requests inside Persona's rate-limit window.

Persona's limit is per environment and shared by every key and caller (PROTOCOL.md section 8), so one gate
is shared by a client and all its `bind()` copies. It learns from the `RateLimit-*` headers of every
response: when `RateLimit-Remaining` reaches 0 it holds all requests until `RateLimit-Reset` (or the
`Retry-After` of a 429) has passed; when fewer than `slow_down_below` of the window's requests remain it
spaces requests evenly over the rest of the window instead of spending them in a burst that ends in 429s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from persona_mcp.persona.retry import RateLimitInfo


class RateGate:
    """Tells each request how long to wait before it may be sent."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, slow_down_below: float = 0.15) -> None:
        if not 0.0 <= slow_down_below < 1.0:
            raise ValueError("slow_down_below must be in [0, 1)")
        self._clock = clock
        self._slow_down_below = slow_down_below
        self._blocked_until = 0.0
        self._interval = 0.0
        self._next_slot = 0.0

    def observe(self, info: RateLimitInfo, *, retry_after: float | None = None) -> None:
        """Update from a response's rate-limit headers (and its `Retry-After`, if it is a 429)."""
        now = self._clock()
        if info.exhausted or retry_after is not None:
            wait = retry_after if retry_after is not None else (info.reset or 0.0)
            self._blocked_until = max(self._blocked_until, now + wait)
            return
        if info.remaining is None:
            return
        low = (
            info.limit is not None
            and info.limit > 0
            and info.reset is not None
            and info.remaining < info.limit * self._slow_down_below
        )
        if low and info.reset is not None:
            self._interval = info.reset / max(info.remaining, 1.0)
        else:
            self._interval = 0.0
            self._next_slot = 0.0
            # A fresh window with requests to spare lifts any earlier hold.
            self._blocked_until = min(self._blocked_until, now)

    def reserve(self) -> float:
        """Seconds the caller must wait before sending; reserves its slot when pacing is active."""
        now = self._clock()
        start = max(now, self._blocked_until)
        if self._interval > 0:
            start = max(start, self._next_slot)
            self._next_slot = start + self._interval
        return start - now
