"""Added cost of authentication (cached token resolution) plus authorization per tool call, in process.

Creates a grant in a temporary SQLite store, resolves its token once (filling the cache), then times
`CallerResolver.resolve(token)` + `authorize(...)` + the rate-limit check, as the call pipeline runs them.
Prints the median and 99th percentile in microseconds (target: a median under 200 us), and for comparison
the cost of a resolution that reads the database (cache disabled).

    .venv/bin/python benchmarks/auth_overhead.py [iterations]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import DiscardEvents
from persona_mcp.auth.grant import GrantDraft
from persona_mcp.auth.grants import GrantStore, utcnow
from persona_mcp.auth.policy import authorize
from persona_mcp.auth.ratelimit import GrantRateLimiter
from persona_mcp.auth.scopes import Scope
from persona_mcp.store import create_store, upgrade


async def main(iterations: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = create_store(f"sqlite+aiosqlite:///{Path(directory) / 'bench.sqlite3'}")
        await upgrade(store)
        try:
            grants = GrantStore(store, events=DiscardEvents(), known_tools={"get_account", "redact_account"})
            issued = await grants.create(
                GrantDraft(
                    principal="bench",
                    environment=Environment.SANDBOX,
                    scopes=frozenset({Scope.ACCOUNTS_WRITE}),
                    deny_tools=frozenset({"redact_account"}),
                    rate_per_minute=100_000,
                )
            )
            resolver = CallerResolver(grants)
            limiter = GrantRateLimiter()
            uncached = time.perf_counter()
            assert await resolver.resolve(issued.token) is not None
            uncached_us = (time.perf_counter() - uncached) * 1e6

            samples: list[float] = []
            for _ in range(iterations):
                started = time.perf_counter()
                caller = await resolver.resolve(issued.token)
                assert caller is not None
                decision = authorize(
                    caller.grant,
                    tool="get_account",
                    scope=Scope.ACCOUNTS_READ,
                    effect="read",
                    now=utcnow(),
                    jwt_scopes=caller.jwt_scopes,
                )
                assert decision.allowed
                assert limiter.check(caller.grant) is None
                samples.append((time.perf_counter() - started) * 1e6)

            # For comparison: every resolution goes to the database (what the 2 s cache saves).
            uncached_resolver = CallerResolver(grants, cache_seconds=0)
            database: list[float] = []
            for _ in range(max(100, iterations // 100)):
                started = time.perf_counter()
                assert await uncached_resolver.resolve(issued.token) is not None
                database.append((time.perf_counter() - started) * 1e6)
        finally:
            await store.close()

    samples.sort()
    median = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"iterations: {iterations}")
    print(f"first (uncached) resolution: {uncached_us:.1f} us")
    print(f"cached resolve + authorize + rate check: median {median:.2f} us, p99 {p99:.2f} us")
    print(f"uncached resolution (SQLite read + digest): median {statistics.median(database):.1f} us")
    print(f"target median < 200 us: {'met' if median < 200 else 'MISSED'}")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
