"""Per-tool call limits per grant, and the destructive-call circuit breaker, counted in the store.

Counters are fixed windows in the `tool_call_windows` table, one row per (grant, counter, window start),
incremented by one atomic upsert (`INSERT ... ON CONFLICT DO UPDATE SET calls = calls + 1 RETURNING
calls`) on SQLite and PostgreSQL alike: replicas sharing a database share the counts, and no increment
is lost between them. Window starts are multiples of the window length in seconds since the epoch, on
each replica's clock (replicas are expected to keep time; a skew only moves a window edge).

The breaker counts a grant's high-risk calls (destructive or decision tools) in its own counter; past the
threshold it writes a `circuit_breakers` row, and while that row exists every high-risk call of the
grant needs approval. Only an administrator removes it (`persona-mcp approvals reset-breaker`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select

from persona_mcp.auth.grant import Grant, ToolLimit
from persona_mcp.store import Store
from persona_mcp.store.schema.approvals import circuit_breakers, tool_call_windows
from persona_mcp.store.sqlalchemy_async import AsyncConnection

#: The breaker's counter name (tool names never contain `*`).
BREAKER_COUNTER = "*high-risk*"


@dataclass(frozen=True, slots=True)
class Breaker:
    """A tripped breaker: since when, and the count that tripped it."""

    grant_id: str
    tripped_at: datetime
    calls: int
    threshold: int


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    """A per-tool limit refused a call: which limit, and when its window ends."""

    limit: ToolLimit
    retry_after_seconds: int


class CallCounters:
    """Shared counters and breakers in `store`."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    async def count(self, grant_id: str, counter: str, window_seconds: int) -> tuple[int, int]:
        """Add one call; return the calls in the current window (this one included) and the seconds
        until the window ends."""
        async with self._store.engine.begin() as conn:
            return await self._count(conn, grant_id, counter, window_seconds)

    async def _count(
        self, conn: AsyncConnection, grant_id: str, counter: str, window_seconds: int
    ) -> tuple[int, int]:
        now = int(self._clock().timestamp())
        start = now - now % window_seconds
        statement = (
            self._store.insert(tool_call_windows)
            .values(grant_id=grant_id, counter=counter, window_start=start, calls=1)
            .on_conflict_do_update(
                index_elements=["grant_id", "counter", "window_start"],
                set_={"calls": tool_call_windows.c.calls + 1},
            )
            .returning(tool_call_windows.c.calls)
        )
        calls = int((await conn.execute(statement)).scalar_one())
        # Old windows of this counter are of no further use.
        await conn.execute(
            delete(tool_call_windows).where(
                tool_call_windows.c.grant_id == grant_id,
                tool_call_windows.c.counter == counter,
                tool_call_windows.c.window_start < start,
            )
        )
        return calls, start + window_seconds - now

    async def check_tool_limit(self, grant: Grant, tool: str) -> LimitExceeded | None:
        """Count this call against the grant's limit for `tool`, if it has one; None while within it."""
        limit = next((limit for limit in grant.tool_limits if limit.tool == tool), None)
        if limit is None:
            return None
        calls, remaining = await self.count(grant.id, tool, limit.window_seconds)
        if calls > limit.calls:
            return LimitExceeded(limit, max(remaining, 1))
        return None

    async def breaker(self, grant_id: str) -> Breaker | None:
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(select(circuit_breakers).where(circuit_breakers.c.grant_id == grant_id))
            ).first()
        if row is None:
            return None
        return Breaker(row.grant_id, row.tripped_at, row.calls, row.threshold)

    async def count_high_risk(self, grant_id: str, *, threshold: int, window_seconds: int) -> Breaker | None:
        """Count one high-risk call; trip the breaker (and return it) the first time the count passes the
        threshold. None when it did not trip now (within the threshold, or tripped already).

        The count and the trip are one transaction: the counter's row stays locked (the SQLite file's write
        lock, PostgreSQL's row lock) until the breaker is written, so the call that passed the threshold
        is the one that trips it, never a later call that happened to reach the insert first."""
        tripped_at = self._clock()
        async with self._store.engine.begin() as conn:
            calls, _ = await self._count(conn, grant_id, BREAKER_COUNTER, window_seconds)
            if calls <= threshold:
                return None
            statement = (
                self._store.insert(circuit_breakers)
                .values(grant_id=grant_id, tripped_at=tripped_at, calls=calls, threshold=threshold)
                .on_conflict_do_nothing(index_elements=["grant_id"])
                # The row returned says this call tripped it: `rowcount` of an insert that may do nothing
                # is not reported by every driver (psycopg gives -1), and without it the trip went unaudited.
                .returning(circuit_breakers.c.grant_id)
            )
            inserted = (await conn.execute(statement)).first()
        if inserted is None:
            return None
        return Breaker(grant_id, tripped_at, calls, threshold)

    async def reset(self, grant_id: str) -> bool:
        """Remove a tripped breaker and its count (an administrator's decision). False if none."""
        async with self._store.engine.begin() as conn:
            result = await conn.execute(
                delete(circuit_breakers).where(circuit_breakers.c.grant_id == grant_id)
            )
            await conn.execute(
                delete(tool_call_windows).where(
                    tool_call_windows.c.grant_id == grant_id, tool_call_windows.c.counter == BREAKER_COUNTER
                )
            )
        return bool(result.rowcount == 1)
