"""Injected misbehaviour for client tests: latency, throttling, server errors and lost responses.

`Faults` is a plain mutable dataclass so that a test can change it between requests (in process through
`app.state.sandbox.faults`, over HTTP through `PUT /__sandbox__/faults`). `FaultInjector` turns it into
decisions, drawing from its own seeded RNG.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Persona documents 300 requests per minute for production; the sandbox default is undocumented.
DEFAULT_RATE_LIMIT = 300
_SERVER_ERRORS = (500, 502, 503)
#: `fail_next` steps besides HTTP statuses: serve the request and apply it, then lose its response...
APPLY_THEN_DROP = "drop"
#: ...or serve it normally (so that a later step hits a later request).
PASS = "pass"
_STEPS = frozenset({APPLY_THEN_DROP, PASS})


@dataclass
class Faults:
    """What to inject. Rates are probabilities in [0, 1].

    `fail_next` scripts the next requests, one step each: an HTTP status is answered before anything is
    applied; `"drop"` lets the request be applied and then loses its response (the way a read timeout or a
    dropped connection looks to a client); `"pass"` serves it normally. `["drop", 429]` replays a create
    whose answer was lost and whose retry hit the rate limit.
    """

    latency_ms: int = 0
    write_latency_ms: int = 0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    drop_rate: float = 0.0
    rate_limit_per_minute: int | None = None
    rate_limit_window_seconds: float = 60.0
    retry_after_seconds: int = 1
    fail_next: list[int | str] = field(default_factory=list)
    drop_next: int = 0
    #: Webhook delivery (when enabled): share of deliveries sent twice, share held back and sent after
    #: the next one, and the factor applied to Persona's retry delays (3 s, 64 s, ... ; 0.001 in tests).
    webhook_duplicate_rate: float = 0.0
    webhook_reorder_rate: float = 0.0
    webhook_retry_scale: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial JSON update; unknown names and wrong types are refused (a typo must not hide)."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}")
            _check_type(name, value)
            setattr(self, name, list(value) if name == "fail_next" else value)


def _check_type(name: str, value: Any) -> None:
    if name == "fail_next":
        ok = isinstance(value, list) and all(_is_step(v) for v in value)
    elif name == "rate_limit_per_minute":
        ok = value is None or (isinstance(value, int) and value > 0)
    elif name in ("rate_429", "rate_5xx", "drop_rate", "webhook_duplicate_rate", "webhook_reorder_rate"):
        ok = isinstance(value, int | float) and 0 <= value <= 1
    elif name in ("rate_limit_window_seconds", "webhook_retry_scale"):
        ok = isinstance(value, int | float) and value > 0
    else:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise ValueError(f"invalid value for fault setting {name!r}")


def _is_step(value: Any) -> bool:
    if isinstance(value, str):
        return value in _STEPS
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


@dataclass(frozen=True)
class RateWindow:
    """The rate-limit figures reported on every response (`RateLimit-*`)."""

    limit: int
    remaining: int
    reset_seconds: int
    exceeded: bool


class FaultInjector:
    """Decides, request by request, which fault (if any) the current `Faults` call for."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(f"faults:{seed}")
        self._window_start: float | None = None
        self._window_count = 0

    def reset(self) -> None:
        self._window_start = None
        self._window_count = 0

    def latency_seconds(self, is_write: bool) -> float:
        total = self.faults.latency_ms + (self.faults.write_latency_ms if is_write else 0)
        return total / 1000

    def take_rate_window(self) -> RateWindow:
        """Count this request in the fixed window that opens with the first request (Persona's model)."""
        limit = self.faults.rate_limit_per_minute or DEFAULT_RATE_LIMIT
        length = self.faults.rate_limit_window_seconds
        moment = time.monotonic()
        if self._window_start is None or moment - self._window_start >= length:
            self._window_start = moment
            self._window_count = 0
        self._window_count += 1
        reset = max(1, round(length - (moment - self._window_start)))
        if self.faults.rate_limit_per_minute is None:
            # Not enforcing: report an untouched window, or well-behaved clients would hold their calls
            # for a reset that nothing requires (long demos and benchmarks would stall).
            return RateWindow(limit, limit, reset, False)
        exceeded = self._window_count > limit
        return RateWindow(limit, max(0, limit - self._window_count), reset, exceeded)

    def current_window(self) -> RateWindow:
        """The figures of the window as it stands, without counting a request (`GET /rate-limits`)."""
        limit = self.faults.rate_limit_per_minute or DEFAULT_RATE_LIMIT
        length = self.faults.rate_limit_window_seconds
        if self._window_start is None or time.monotonic() - self._window_start >= length:
            return RateWindow(limit, limit, max(1, round(length)), False)
        reset = max(1, round(length - (time.monotonic() - self._window_start)))
        if self.faults.rate_limit_per_minute is None:
            return RateWindow(limit, limit, reset, False)
        return RateWindow(limit, max(0, limit - self._window_count), reset, self._window_count > limit)

    def scripted_failure(self) -> int | None:
        """Pop the next step of `fail_next`: its status, or None when the request is to be served.

        A `"drop"` step arms `drop_next`, so the response this request is served with (the next one to
        finish) is lost after the request was applied.
        """
        if not self.faults.fail_next:
            return None
        step = self.faults.fail_next.pop(0)
        if step == APPLY_THEN_DROP:
            self.faults.drop_next += 1
        return step if isinstance(step, int) else None

    def random_failure(self) -> int | None:
        if self.faults.rate_429 and self._rng.random() < self.faults.rate_429:
            return 429
        if self.faults.rate_5xx and self._rng.random() < self.faults.rate_5xx:
            return self._rng.choice(_SERVER_ERRORS)
        return None

    def should_drop(self) -> bool:
        """Whether to lose this response after the request was applied (scripted drops first, then random)."""
        if self.faults.drop_next > 0:
            self.faults.drop_next -= 1
            return True
        return bool(self.faults.drop_rate) and self._rng.random() < self.faults.drop_rate
