"""Persona's rate-limit window shared by the replicas of one PostgreSQL store.

Persona counts one budget per environment, whichever replica spends it; replicas that each kept their own
count would each spend the whole limit. `SharedLedger` keeps the rate gate's state in the
`upstream_rate_windows` table instead: each step reads its budget's row `FOR UPDATE`, applies the gate's
pure transition on the database's clock, and writes the row back in one short transaction.

Every wait here is bounded: the row lock by `lock_timeout`, a replica frozen inside the transaction by
`idle_in_transaction_session_timeout`. If the shared row cannot be used in time the step runs on this
replica's own memory instead (logged), so a slow store degrades pacing to per-replica, never to a hang.
SQLite runs one server process, whose memory is the whole truth: it keeps `LocalLedger`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TypeVar

import anyio
import structlog
from sqlalchemy import Double, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from persona_mcp.persona.ratelimit import LocalLedger, Step, WindowLedger, WindowState
from persona_mcp.store import Store
from persona_mcp.store.schema.pacing import upstream_rate_windows as windows

log = structlog.get_logger("persona_mcp.pacing")

_R = TypeVar("_R")

#: Longest wait for another replica's lock on a budget's row.
LOCK_TIMEOUT_MS = 1000
#: A replica that stops inside its transaction (frozen, paused) loses its session, and the lock, after this.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 5000

_BOUNDS = text(
    "SELECT set_config('lock_timeout', :lock, true), "
    "set_config('idle_in_transaction_session_timeout', :idle, true), "
    "set_config('statement_timeout', :lock, true)"
)
_NOW = cast(func.extract("epoch", func.clock_timestamp()), Double).label("now")


class SharedLedger:
    """Window state in the store's `upstream_rate_windows` table (PostgreSQL), one row per budget."""

    def __init__(self, store: Store, *, fallback: WindowLedger | None = None) -> None:
        if store.dialect != "postgresql":
            raise ValueError("a shared rate-limit ledger needs PostgreSQL; SQLite keeps LocalLedger")
        self._store = store
        self._fallback = fallback if fallback is not None else LocalLedger()
        # One transaction at a time per budget from this replica: waiters queue here, not in the pool.
        self._turns: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)

    async def update(self, key: str, step: Step[_R]) -> _R:
        async with self._turns[key]:
            try:
                async with self._store.engine.begin() as conn:
                    return await _apply(conn, key, step)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("persona.pacing.shared_state_unavailable", budget=key, error=type(exc).__name__)
        return await self._fallback.update(key, step)


async def _apply(conn: AsyncConnection, key: str, step: Step[_R]) -> _R:
    await conn.execute(_BOUNDS, {"lock": str(LOCK_TIMEOUT_MS), "idle": str(IDLE_IN_TRANSACTION_TIMEOUT_MS)})
    row = await _locked_row(conn, key)
    if row is None:
        await conn.execute(insert(windows).values(budget=key).on_conflict_do_nothing())
        row = await _locked_row(conn, key)
        assert row is not None
    state, result = step(_state(row), float(row.now))
    await conn.execute(update(windows).where(windows.c.budget == key).values(**_columns(state)))
    return result


async def _locked_row(conn: AsyncConnection, key: str) -> Any:
    query = select(windows, _NOW).where(windows.c.budget == key).with_for_update()
    return (await conn.execute(query)).first()


def _state(row: Any) -> WindowState:
    return WindowState(
        limit=row.request_limit,
        remaining=row.remaining,
        ends_at=row.ends_at,
        heard=row.heard,
        in_flight=row.in_flight,
        next_at=row.next_at,
        window_seconds=row.window_seconds,
        held_until=row.held_until,
    )


def _columns(state: WindowState) -> dict[str, Any]:
    return {
        "request_limit": state.limit,
        "remaining": state.remaining,
        "ends_at": state.ends_at,
        "heard": state.heard,
        "in_flight": state.in_flight,
        "next_at": state.next_at,
        "window_seconds": state.window_seconds,
        "held_until": state.held_until,
    }


def ledger_for(store: Store) -> WindowLedger:
    """Shared through the table on PostgreSQL (several replicas); this process's memory on SQLite."""
    return SharedLedger(store) if store.dialect == "postgresql" else LocalLedger()
