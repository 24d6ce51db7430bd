"""The breaker's counter in the store, on SQLite and PostgreSQL alike: among calls counted concurrently
through two stores on one database (two replicas), exactly one is told it tripped the breaker, so the
trip is audited exactly once; an administrator's reset starts the count anew."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest

from persona_mcp.auth.call_limits import Breaker, CallCounters
from persona_mcp.store import create_store, upgrade

pytestmark = pytest.mark.anyio

THRESHOLD = 3


@asynccontextmanager
async def _two_replicas(database_url: str) -> AsyncIterator[list[CallCounters]]:
    async with AsyncExitStack() as stack:
        counters = []
        for _ in range(2):
            store = create_store(database_url)
            stack.push_async_callback(store.close)
            await upgrade(store)
            counters.append(CallCounters(store))
        yield counters


async def test_exactly_one_call_trips_the_breaker_across_replicas_and_a_reset_starts_anew(
    database_url: str,
) -> None:
    async with _two_replicas(database_url) as replicas:
        tripped: list[Breaker] = []

        async def count(counters: CallCounters) -> None:
            found = await counters.count_high_risk("grt_1", threshold=THRESHOLD, window_seconds=3600)
            if found is not None:
                tripped.append(found)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                for counters in replicas:
                    tg.start_soon(count, counters)

        assert len(tripped) == 1, "one call passed the threshold, and only it says so"
        assert tripped[0].calls == THRESHOLD + 1 and tripped[0].threshold == THRESHOLD
        for counters in replicas:
            assert await counters.breaker("grt_1") == tripped[0]
        assert await replicas[1].breaker("grt_other") is None

        assert await replicas[0].reset("grt_1")
        assert await replicas[1].breaker("grt_1") is None
        assert not await replicas[1].reset("grt_1"), "nothing left to reset"
        for _ in range(THRESHOLD):
            assert (
                await replicas[1].count_high_risk("grt_1", threshold=THRESHOLD, window_seconds=3600) is None
            )
        again = await replicas[0].count_high_risk("grt_1", threshold=THRESHOLD, window_seconds=3600)
        assert again is not None and again.calls == THRESHOLD + 1
