"""Persona's rate-limit window shared by the replicas of one PostgreSQL store.

Persona counts one budget per environment, whichever replica spends it; replicas that each kept their own
count would each spend the whole limit. `SharedLedger` keeps the rate gate's state in the
`upstream_rate_windows` table instead: each step reads its budget's row `FOR UPDATE`, applies the gate's
pure transition on the database's clock, and writes the row back in one short transaction.

Every wait here is bounded: the row lock by `lock_timeout`, a replica frozen inside the transaction by
`idle_in_transaction_session_timeout` or, frozen between pipelined messages (its UPDATE sent, its COMMIT
not yet: PostgreSQL shows that session as active, waiting on its client, and arms no idle timer), by the
next replica that times out on the row, which ends that session once it has waited on its client for
longer than the same lease. If the shared row cannot be used in time the step runs on this replica's own
memory instead (logged), so a slow store degrades pacing to per-replica, never to a hang.
SQLite runs one server process, whose memory is the whole truth: it keeps `LocalLedger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import structlog
from sqlalchemy import Double, and_, bindparam, func, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql.elements import BindParameter

from persona_mcp.persona.ratelimit import LocalLedger, RateGate, Step, WindowLedger, WindowState
from persona_mcp.store import Store
from persona_mcp.store.engine import (
    POSTGRES_FROZEN_ON_ITS_CLIENT,
    postgres_connect_kwargs,
    postgres_set_statement,
)
from persona_mcp.store.schema.pacing import upstream_rate_windows as windows

if TYPE_CHECKING:
    import psycopg

    from persona_mcp.store.pg_pipeline import Pipeline

log = structlog.get_logger("persona_mcp.pacing")

_R = TypeVar("_R")

#: Longest wait for another replica's lock on a budget's row.
LOCK_TIMEOUT_MS = 1000
#: A replica that stops inside its transaction (frozen, paused) loses its session, and the lock, after this.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 5000

#: Longest a posted step (a settled permit) waits for the next permit's transaction before its own.
POST_DELAY_S = 0.05
#: A database that does not answer a new connection within this is taken as unavailable.
CONNECT_TIMEOUT_S = 5
#: Ends the session of another replica's rate window that holds rows of this schema's table locked (its
#: `SELECT ... FOR UPDATE` took the table's RowShareLock) and is frozen on its client
#: (`POSTGRES_FROZEN_ON_ITS_CLIENT`; parameters: the rate windows' application_name, the lease in seconds).
_END_FROZEN_HOLDER_SQL = (
    "SELECT COUNT(pg_terminate_backend(activity.pid)) "
    "FROM pg_locks AS lock JOIN pg_stat_activity AS activity ON activity.pid = lock.pid "
    "WHERE lock.locktype = 'relation' AND lock.granted AND lock.mode = 'RowShareLock' "
    "AND lock.relation = 'upstream_rate_windows'::regclass "
    f"AND {POSTGRES_FROZEN_ON_ITS_CLIENT}"
)
#: Prefix of the swap's parameters holding the row as last seen (the others hold the row to write).
_WAS = "was_"
_NOW = sql_cast(func.extract("epoch", func.clock_timestamp()), Double).label("now")


class SharedLedger:
    """Window state in the store's `upstream_rate_windows` table (PostgreSQL), one row per budget.

    Steps are group-committed (issue 18, point 5): this replica runs one transaction at a time, and
    every step that arrives while one runs goes into the next, applied in arrival order to the row it
    locked once. Settling a permit is `post`ed: it joins the next transaction and nobody waits for it,
    so an upstream request costs its call one transaction (the permit), not two.

    A batch first tries one round trip: the steps applied to the row as this replica last wrote it, on
    the database's clock as last measured, written back by a single `UPDATE` that matches only if the
    row is still exactly that (compare-and-swap, autocommit; prepared once per connection and sent through
    libpq's pipeline mode, `store/pg_pipeline.py`). Only if another replica changed the row
    meanwhile (or this one has not seen it yet) does the batch take the locked path: in psycopg's
    pipeline mode, two round trips (lock and read; write and commit). Steps are pure functions of the
    state and the time, so a batch whose swap did not match is simply applied again to the row read
    under the lock. A lone replica pays one statement per batch; several replicas never overspend,
    since every write is conditional on the state its steps were applied to.

    The statements run on a connection of their own. The bounds are set once, for the session, when the
    connection opens; a connection that fails in any way is dropped and the next batch opens a new one.
    """

    def __init__(self, store: Store, *, fallback: WindowLedger | None = None) -> None:
        if store.dialect != "postgresql":
            raise ValueError("a shared rate-limit ledger needs PostgreSQL; SQLite keeps LocalLedger")
        import psycopg.rows  # here, not at the top: a server on SQLite never imports psycopg

        self._psycopg = psycopg
        self._connect_kwargs = _connect_kwargs(store)
        self._sql = _Statements.compiled()
        self._fallback = fallback if fallback is not None else LocalLedger()
        self._waiting: defaultdict[str, list[_Pending]] = defaultdict(list)
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._delayed: dict[str, asyncio.TimerHandle] = {}  # posted steps waiting for company
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._swapping: Pipeline | None = None
        self._turn = asyncio.Lock()  # one transaction at a time on the connection, whatever the budget
        # Per budget: the row as this replica last wrote or read it, and the database's clock minus
        # `time.monotonic()` then (refreshed by every statement).
        self._known: dict[str, tuple[WindowState, float]] = {}
        self.transactions = 0
        """Transactions run on the shared row (for tests: steps share them under concurrency)."""
        self.swaps = 0
        """Of those, the ones done by one compare-and-swap statement (for tests)."""

    async def update(self, key: str, step: Step[_R]) -> _R:
        pending = _Pending(step, asyncio.get_running_loop().create_future())
        self._enqueue(key, pending)
        assert pending.future is not None
        try:
            return cast(_R, await asyncio.shield(pending.future))
        except asyncio.CancelledError:
            # Not taken into a transaction yet: withdrawn, as if never asked. Taken: it applies, as a
            # step whose transaction committed just before its caller was cancelled always did.
            with contextlib.suppress(ValueError):
                self._waiting[key].remove(pending)
            raise

    def post(self, key: str, step: Step[Any]) -> None:
        """Apply `step` with the next transaction: the next permit asked for, or at most `POST_DELAY_S`
        from now. A settled permit stays counted as in flight until then, so no replica can spend more
        than the window meanwhile; a lone call's answer and the next call's permit share a transaction."""
        self._waiting[key].append(_Pending(step, None))
        if key not in self._flushers and key not in self._delayed:
            loop = asyncio.get_running_loop()
            self._delayed[key] = loop.call_later(POST_DELAY_S, self._flush_posted, key)

    def _flush_posted(self, key: str) -> None:
        self._delayed.pop(key, None)
        if self._waiting[key]:
            self._start_flush(key)

    async def aclose(self) -> None:
        """Apply the steps still waiting (settled permits), then close the connection."""
        for key, delayed in list(self._delayed.items()):
            delayed.cancel()
            self._flush_posted(key)
        flushers = list(self._flushers.values())
        if flushers:
            await asyncio.wait(flushers, timeout=LOCK_TIMEOUT_MS / 1000 * 2)
        self._discard()

    def _enqueue(self, key: str, pending: _Pending) -> None:
        self._waiting[key].append(pending)
        delayed = self._delayed.pop(key, None)
        if delayed is not None:
            delayed.cancel()  # the posted steps go with this one
        self._start_flush(key)

    def _start_flush(self, key: str) -> None:
        if key not in self._flushers:
            self._flushers[key] = asyncio.create_task(self._flush(key), name="rate-window-flush")

    async def _flush(self, key: str) -> None:
        try:
            while self._waiting[key]:
                batch, self._waiting[key] = self._waiting[key], []
                await self._apply_batch(key, batch)
        finally:
            del self._flushers[key]
            for left in self._waiting.pop(key, []):  # only if this task was cancelled (shutdown)
                if left.future is not None:
                    left.future.cancel()

    async def _apply_batch(self, key: str, batch: list[_Pending]) -> None:
        try:
            async with self._turn:
                self.transactions += 1
                results = await self._transaction(key, [pending.step for pending in batch])
        except (self._psycopg.Error, OSError) as exc:
            self._discard()
            log.warning("persona.pacing.shared_state_unavailable", budget=key, error=type(exc).__name__)
            for pending in batch:
                await _on_fallback(self._fallback, key, pending)
            return
        except BaseException as exc:  # cancelled, or a step failed: nothing was applied
            self._discard()  # the connection may be inside the transaction: never reuse it
            for pending in batch:
                if pending.future is None or pending.future.done():
                    continue
                if isinstance(exc, Exception):
                    pending.future.set_exception(exc)
                else:
                    pending.future.cancel()
            raise
        for pending, result in zip(batch, results, strict=True):
            if pending.future is not None and not pending.future.done():
                pending.future.set_result(result)

    async def _transaction(self, key: str, steps: list[Step[Any]]) -> list[Any]:
        """Apply `steps` in order to the budget's row, on the database's clock: by one compare-and-swap
        if the row is as last seen, else under its lock."""
        conn, swapping = await self._connection()
        known = self._known.get(key)
        if known is not None:
            seen, offset = known
            state, results = _applied(seen, time.monotonic() + offset, steps)
            values = {"budget": key, **_columns(state), **_columns(seen, prefix=_WAS)}
            swap = [values[name] for name in self._sql.swap_order]
            swapped = await swapping.run_awaited([(self._sql.swap, swap)])
            if swapped:
                self.swaps += 1
                self._known[key] = (state, float(swapped[0][0]) - time.monotonic())
                return results
        return await self._locked_transaction(conn, key, steps)

    async def _locked_transaction(
        self, conn: psycopg.AsyncConnection[Any], key: str, steps: list[Step[Any]]
    ) -> list[Any]:
        """Lock the budget's row once and apply `steps` in order, on the database's clock; one write back."""
        try:
            return await self._locked_write(conn, key, steps)
        except (self._psycopg.errors.LockNotAvailable, self._psycopg.errors.QueryCanceled):
            # The row's wait ran out (`statement_timeout` equals `lock_timeout` here, either may end it).
            await self._end_frozen_holder(conn)
            raise

    async def _locked_write(
        self, conn: psycopg.AsyncConnection[Any], key: str, steps: list[Step[Any]]
    ) -> list[Any]:
        async with conn.pipeline() as pipeline, conn.transaction():
            locking = conn.cursor(row_factory=self._psycopg.rows.namedtuple_row)
            reading = await locking.execute(self._sql.lock, {"budget": key})
            # A Sync, not only a flush: while the steps are applied the session is idle in its
            # transaction, with PostgreSQL's idle timer (the lease) armed.
            await pipeline.sync()
            row: Any = await reading.fetchone()
            if row is None:
                await conn.execute(self._sql.create, {"budget": key})
                row = await (await locking.execute(self._sql.lock, {"budget": key})).fetchone()
                assert row is not None
            now = float(row.now)
            state, results = _applied(_state(row), now, steps)
            await conn.execute(self._sql.write, {"budget": key, **_columns(state)})
        self._known[key] = (state, now - time.monotonic())
        return results

    async def _end_frozen_holder(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """After the row was not granted in time: end the session of a replica's rate window that holds
        this schema's rows locked and has waited on its client for longer than the lease (frozen), so
        the next batch gets the row. Other programs' sessions are left alone."""
        lease_s = IDLE_IN_TRANSACTION_TIMEOUT_MS / 1000
        try:
            ended = await (
                await conn.execute(
                    _END_FROZEN_HOLDER_SQL, (self._connect_kwargs["application_name"], lease_s)
                )
            ).fetchone()
        except self._psycopg.Error as exc:  # no right to end it, or the connection is gone
            log.warning("persona.pacing.frozen_holder_not_ended", error=type(exc).__name__)
            return
        if ended is not None and ended[0]:
            log.warning("persona.pacing.frozen_holder_ended", sessions=int(ended[0]), lease_seconds=lease_s)

    async def _connection(self) -> tuple[psycopg.AsyncConnection[Any], Pipeline]:
        """The ledger's connection, and its swap prepared on it (the statement every call's permit runs)."""
        if self._conn is not None and not self._conn.closed and self._swapping is not None:
            return self._conn, self._swapping
        from persona_mcp.store.pg_pipeline import Pipeline  # imports psycopg: not at the top

        conn = await self._psycopg.AsyncConnection.connect(**self._connect_kwargs, autocommit=True)
        try:
            await conn.execute(*postgres_set_statement(_SESSION_BOUNDS))
            swapping = Pipeline(conn, [self._sql.swap])
            await swapping.prepare_awaited()
        except BaseException:
            await conn.close()
            raise
        self._conn, self._swapping = conn, swapping
        return conn, swapping

    def _discard(self) -> None:
        self._known.clear()  # a statement cut short may or may not have applied: read the rows again
        conn, self._conn, self._swapping = self._conn, None, None
        if conn is not None:
            conn.pgconn.finish()  # synchronous: safe even while this task is being cancelled


@dataclass(slots=True)
class _Pending:
    step: Step[Any]
    future: asyncio.Future[Any] | None  # None: posted, nobody waits for the result


async def _on_fallback(fallback: WindowLedger, key: str, pending: _Pending) -> None:
    if pending.future is None:
        fallback.post(key, pending.step)
        return
    try:
        result = await fallback.update(key, pending.step)
    except Exception as exc:
        if not pending.future.done():
            pending.future.set_exception(exc)
        return
    if not pending.future.done():
        pending.future.set_result(result)


@dataclass(frozen=True, slots=True)
class _Statements:
    """The ledger's statements, compiled once from the table's definition for psycopg (named params)."""

    lock: str
    create: str
    write: str
    swap: str
    """Positional (`%s`): run as a prepared statement (`store.pg_pipeline`), its values in `swap_order`."""
    swap_order: tuple[str, ...]

    @classmethod
    @functools.cache
    def compiled(cls) -> _Statements:
        # PostgreSQL's dialect only here: an SQLite server never loads it (25 ms of its start).
        from sqlalchemy.dialects.postgresql import insert
        from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

        dialect = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
        positional = psycopg_dialect.dialect(paramstyle="format")  # type: ignore[no-untyped-call]
        budget: BindParameter[str] = bindparam("budget")
        values: dict[str, BindParameter[Any]] = {
            column.name: bindparam(column.name) for column in windows.c if column.name != "budget"
        }

        def sql(statement: Any) -> str:
            return str(statement.compile(dialect=dialect))

        unchanged = [
            column.is_not_distinct_from(bindparam(_WAS + column.name))
            for column in windows.c
            if column.name != "budget"
        ]
        swap = (
            update(windows)
            .where(and_(windows.c.budget == budget, *unchanged))
            .values(**values)
            .returning(_NOW)
            .compile(dialect=positional)
        )
        return cls(
            lock=sql(select(windows, _NOW).where(windows.c.budget == budget).with_for_update()),
            create=sql(insert(windows).values(budget=budget).on_conflict_do_nothing()),
            write=sql(update(windows).where(windows.c.budget == budget).values(**values)),
            swap=str(swap),
            swap_order=tuple(swap.positiontup or ()),
        )


#: The connection's session bounds: a row locked by a stalled replica is waited for `LOCK_TIMEOUT_MS` at
#: most (then this replica paces from memory); a replica frozen inside its transaction loses its session.
#: Its commits do not wait for the WAL flush: pacing state is advice that Persona's next answer corrects,
#: not a record, and a crash losing its last milliseconds costs nothing (the audit log keeps its fsync).
_SESSION_BOUNDS = {
    "lock_timeout": str(LOCK_TIMEOUT_MS),
    "statement_timeout": str(LOCK_TIMEOUT_MS),
    "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
    "synchronous_commit": "off",
}


def _connect_kwargs(store: Store) -> dict[str, Any]:
    kwargs = postgres_connect_kwargs(store)
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    kwargs.setdefault("application_name", "persona-mcp rate window")
    return kwargs


def _applied(state: WindowState, now: float, steps: list[Step[Any]]) -> tuple[WindowState, list[Any]]:
    results = []
    for step in steps:
        state, result = step(state, now)
        results.append(result)
    return state, results


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


def _columns(state: WindowState, prefix: str = "") -> dict[str, Any]:
    """The row's columns for `state`, as named parameters (`prefix`ed: the swap's expected values)."""
    return {
        prefix + "request_limit": state.limit,
        prefix + "remaining": state.remaining,
        prefix + "ends_at": state.ends_at,
        prefix + "heard": state.heard,
        prefix + "in_flight": state.in_flight,
        prefix + "next_at": state.next_at,
        prefix + "window_seconds": state.window_seconds,
        prefix + "held_until": state.held_until,
    }


#: Permits a replica sharing the window takes with the one it asks for (`RateGate`'s `take_ahead`), while
#: the window is far from its end: the next requests go without a round trip to the database each. Eight
#: covers a burst of the calls eight sessions have in flight.
TAKE_AHEAD = 8


def rate_gate_for(store: Store) -> RateGate:
    """Shared through the table on PostgreSQL (several replicas), taking permits ahead; this process's
    memory on SQLite, where asking costs nothing."""
    if store.dialect == "postgresql":
        return RateGate(SharedLedger(store), take_ahead=TAKE_AHEAD)
    return RateGate(LocalLedger())
