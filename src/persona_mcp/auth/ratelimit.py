"""Calls-per-minute limits per grant, in process: a token bucket per grant id.

A bucket holds up to `rate` calls and refills at `rate / 60` per second, so a grant may burst up to its
per-minute rate and then sustain it. Opening an MCP session over HTTP (`initialize`) takes from the same
bucket as a tool call (`server/session_guard.py`): a session costs the server memory whether or not a tool
is ever called in it, so a grant limited to one call a minute may also open only one session a minute.

In process by design: with several replicas each enforces the rate on its own share of calls; the limit
protects Persona and the organisation's key from one runaway agent, not billing, so that
over-approximation is accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from persona_mcp.auth.grant import Grant


class RateLimitExceeded(Exception):
    """A grant's calls-per-minute limit is used up; `retry_after` seconds until the next call may pass."""

    def __init__(self, grant_id: str, rate_per_minute: int, retry_after: float) -> None:
        self.grant_id = grant_id
        self.rate_per_minute = rate_per_minute
        self.retry_after = retry_after
        super().__init__(
            f"grant {grant_id} allows {rate_per_minute} calls per minute; retry after {retry_after:.1f} s"
        )


@dataclass(slots=True)
class _Bucket:
    rate: int
    tokens: float
    updated: float


class GrantRateLimiter:
    """Token buckets keyed by grant id; grants without a rate are not limited."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, grant: Grant) -> float | None:
        """Take one call from the grant's bucket: None if allowed, else seconds until one is available."""
        rate = grant.rate_per_minute
        if rate is None:
            return None
        now = self._clock()
        bucket = self._buckets.get(grant.id)
        if bucket is None or bucket.rate != rate:
            bucket = _Bucket(rate=rate, tokens=float(rate), updated=now)
            self._buckets[grant.id] = bucket
        per_second = rate / 60.0
        bucket.tokens = min(float(rate), bucket.tokens + max(0.0, now - bucket.updated) * per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / per_second

    def acquire(self, grant: Grant) -> None:
        """Like `check`, raising `RateLimitExceeded` (with a message naming the limit) when refused."""
        retry_after = self.check(grant)
        if retry_after is not None:
            assert grant.rate_per_minute is not None
            raise RateLimitExceeded(grant.id, grant.rate_per_minute, retry_after)
