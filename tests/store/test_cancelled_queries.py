"""A query cancelled in flight on SQLite leaves nothing behind that could hang a shutdown.

With aiosqlite 0.22, SQLAlchemy's `terminate` of an invalidated connection runs a graceful close in
`asyncio.shield` and, if cancelled again meanwhile (anyio delivers cancellation until the task leaves
the scope), stops the worker thread as well; the graceful close then queues a second stop behind the
first and waits for an answer from a thread that has already ended. That orphan task never finishes:
`asyncio.Runner.close()` (and so `asyncio.run`, pytest's anyio runner, `persona-mcp serve` on exit)
waits for it forever when the cancellation happens during shutdown. (wapiti-scanner/wapiti#802 reports
the same deadlock.)
"""

from __future__ import annotations

import asyncio

import anyio
import pytest
from sqlalchemy import text

from persona_mcp.store import create_store

pytestmark = pytest.mark.anyio

# Long enough to be in flight when cancelled, short enough that the worker thread is soon free again.
_SLOW = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c"
)


def _closing_tasks(ignore: set[asyncio.Task[object]]) -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() - ignore if "close" in repr(task.get_coro())]


async def test_a_query_cancelled_in_flight_leaves_no_close_waiting_forever(sqlite_url: str) -> None:
    # The event loop may be shared with earlier tests: only tasks this test starts are its business.
    earlier = asyncio.all_tasks()
    store = create_store(sqlite_url)
    try:
        for _ in range(3):
            with anyio.move_on_after(0.01):
                async with store.engine.connect() as conn:
                    await conn.execute(_SLOW)
        with anyio.fail_after(10):
            while _closing_tasks(earlier):
                await anyio.sleep(0.05)
        async with store.engine.connect() as conn:  # and the store still answers
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await store.close()
