"""Retry policy, backoff schedule and the header parsing that steers it.

Backoff is exponential with full jitter (a uniform draw between zero and the exponential ceiling), which
spreads retries of many concurrent callers instead of synchronising them. A server-stated wait
(`Retry-After`, or `RateLimit-Reset` on a 429) replaces the drawn delay: Persona knows better than a guess.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

#: Longest server-stated wait we take at face value; anything longer is clipped (the budget still applies).
MAX_STATED_WAIT = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one logical call may retry (`max_retries` counts retries, not attempts).

    `budget_seconds` bounds the whole call: a wait that would end past it is not started (the call fails
    with the last error instead), and each retry's timeout is cut to what remains of the budget.
    """

    max_retries: int = 4
    budget_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.budget_seconds <= 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("budget_seconds must be > 0 and delays >= 0")


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Full-jitter delay before retry number `retry_number` (1 for the first retry)."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** max(retry_number - 1, 0)))
    return rng.uniform(0.0, ceiling)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, MAX_STATED_WAIT)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None when absent or malformed."""
    seconds = _seconds(value)
    if seconds is not None or value is None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return min(max(when.timestamp() - current, 0.0), MAX_STATED_WAIT)


@dataclass(frozen=True)
class RateLimitInfo:
    """The `RateLimit-*` headers of one response (each None when absent or malformed)."""

    limit: float | None
    remaining: float | None
    reset: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        return cls(
            limit=_seconds(headers.get("ratelimit-limit")),
            remaining=_seconds(headers.get("ratelimit-remaining")),
            reset=_seconds(headers.get("ratelimit-reset")),
        )

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0
