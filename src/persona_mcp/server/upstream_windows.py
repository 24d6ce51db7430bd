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

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Double, func, select, text, update
from sqlalchemy import cast as sql_cast
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
_NOW = sql_cast(func.extract("epoch", func.clock_timestamp()), Double).label("now")


class SharedLedger:
    """Window state in the store's `upstream_rate_windows` table (PostgreSQL), one row per budget.

    Steps are group-committed (issue 18, point 5): this replica runs one transaction at a time per
    budget, and every step that arrives while one runs goes into the next, applied in arrival order to
    the row it locked once. Before, each step waited for its own transaction (four round trips) behind a
    per-budget lock, two per upstream request: with many sessions that queue, not Persona, set the pace.
    """

    def __init__(self, store: Store, *, fallback: WindowLedger | None = None) -> None:
        if store.dialect != "postgresql":
            raise ValueError("a shared rate-limit ledger needs PostgreSQL; SQLite keeps LocalLedger")
        self._store = store
        self._fallback = fallback if fallback is not None else LocalLedger()
        self._waiting: defaultdict[str, list[_Pending]] = defaultdict(list)
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self.transactions = 0
        """Transactions run on the shared row (for tests: steps share them under concurrency)."""

    async def update(self, key: str, step: Step[_R]) -> _R:
        pending = _Pending(step, asyncio.get_running_loop().create_future())
        self._waiting[key].append(pending)
        if key not in self._flushers:
            self._flushers[key] = asyncio.create_task(self._flush(key), name="rate-window-flush")
        try:
            return cast(_R, await asyncio.shield(pending.future))
        except asyncio.CancelledError:
            # Not taken into a transaction yet: withdrawn, as if never asked. Taken: it applies, as a
            # step whose transaction committed just before its caller was cancelled always did.
            with contextlib.suppress(ValueError):
                self._waiting[key].remove(pending)
            raise

    async def _flush(self, key: str) -> None:
        try:
            while self._waiting[key]:
                batch, self._waiting[key] = self._waiting[key], []
                await self._apply_batch(key, batch)
        finally:
            del self._flushers[key]
            for left in self._waiting.pop(key, []):  # only if this task was cancelled (shutdown)
                left.future.cancel()

    async def _apply_batch(self, key: str, batch: list[_Pending]) -> None:
        try:
            self.transactions += 1
            async with self._store.engine.begin() as conn:
                results = await _apply(conn, key, [pending.step for pending in batch])
        except (SQLAlchemyError, OSError) as exc:
            log.warning("persona.pacing.shared_state_unavailable", budget=key, error=type(exc).__name__)
            for pending in batch:
                await _on_fallback(self._fallback, key, pending)
            return
        except BaseException as exc:  # cancelled, or a step failed: nothing was applied
            for pending in batch:
                if pending.future.done():
                    continue
                if isinstance(exc, Exception):
                    pending.future.set_exception(exc)
                else:
                    pending.future.cancel()
            raise
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)


@dataclass(slots=True)
class _Pending:
    step: Step[Any]
    future: asyncio.Future[Any]


async def _on_fallback(fallback: WindowLedger, key: str, pending: _Pending) -> None:
    try:
        result = await fallback.update(key, pending.step)
    except Exception as exc:
        if not pending.future.done():
            pending.future.set_exception(exc)
        return
    if not pending.future.done():
        pending.future.set_result(result)


async def _apply(conn: AsyncConnection, key: str, steps: list[Step[Any]]) -> list[Any]:
    """Lock the budget's row once and apply `steps` in order, on the database's clock; one write back."""
    await conn.execute(_BOUNDS, {"lock": str(LOCK_TIMEOUT_MS), "idle": str(IDLE_IN_TRANSACTION_TIMEOUT_MS)})
    row = await _locked_row(conn, key)
    if row is None:
        await conn.execute(insert(windows).values(budget=key).on_conflict_do_nothing())
        row = await _locked_row(conn, key)
        assert row is not None
    state, now, results = _state(row), float(row.now), []
    for step in steps:
        state, result = step(state, now)
        results.append(result)
    await conn.execute(update(windows).where(windows.c.budget == key).values(**_columns(state)))
    return results


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
