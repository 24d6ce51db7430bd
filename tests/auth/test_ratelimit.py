from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, PrincipalKind
from persona_mcp.auth.ratelimit import GrantRateLimiter, RateLimitExceeded

NOW = datetime(2026, 3, 1, tzinfo=UTC)
GRANT = Grant(
    id="grt_aaaaaaaaaaaaaaaa",
    principal="bot",
    principal_kind=PrincipalKind.AGENT,
    environment=Environment.SANDBOX,
    scopes=frozenset(),
    expires_at=None,
    created_at=NOW,
    updated_at=NOW,
    rate_per_minute=60,
)


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_grant_may_burst_its_rate_then_waits_with_retry_after() -> None:
    ticker = Ticker()
    limiter = GrantRateLimiter(clock=ticker)
    assert all(limiter.check(GRANT) is None for _ in range(60))
    retry_after = limiter.check(GRANT)
    assert retry_after == pytest.approx(1.0)
    ticker.now += 0.5
    assert limiter.check(GRANT) == pytest.approx(0.5)
    ticker.now += 0.5
    assert limiter.check(GRANT) is None


def test_the_exception_names_the_limit_and_the_wait() -> None:
    ticker = Ticker()
    limiter = GrantRateLimiter(clock=ticker)
    slow = replace(GRANT, rate_per_minute=2)
    limiter.acquire(slow)
    limiter.acquire(slow)
    with pytest.raises(RateLimitExceeded, match=r"2 calls per minute; retry after 30\.0 s") as raised:
        limiter.acquire(slow)
    assert raised.value.retry_after == pytest.approx(30.0)


def test_grants_are_limited_independently_and_unlimited_grants_never_wait() -> None:
    limiter = GrantRateLimiter(clock=Ticker())
    one = replace(GRANT, rate_per_minute=1)
    other = replace(GRANT, id="grt_bbbbbbbbbbbbbbbb", rate_per_minute=1)
    unlimited = replace(GRANT, id="grt_cccccccccccccccc", rate_per_minute=None)
    assert limiter.check(one) is None and limiter.check(one) is not None
    assert limiter.check(other) is None
    assert all(limiter.check(unlimited) is None for _ in range(1000))


def test_a_changed_rate_takes_effect_on_the_next_call() -> None:
    limiter = GrantRateLimiter(clock=Ticker())
    tight = replace(GRANT, rate_per_minute=1)
    assert limiter.check(tight) is None and limiter.check(tight) is not None
    assert limiter.check(replace(tight, rate_per_minute=10)) is None
