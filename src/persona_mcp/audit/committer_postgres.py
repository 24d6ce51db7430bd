"""The PostgreSQL committer (see `committer`): its own module, so psycopg is imported only by a server
whose store is on PostgreSQL (`open_committer` imports it for that dialect).

Each round trip is one pipeline (`pg_pipeline`): the statements prepared when the connection opens, a
batch's executions written at once with one Sync, its answers read back once. Most batches are sent from
the event loop and their answer awaited there (`commit_awaited`), without the thread; the thread keeps
those that read the head under the lock. Earlier forms, measured (issue 18, benchmarks/README.md): psycopg's
own pipeline on the thread took a wait per statement, each the thread taking the GIL back from a busy
loop (6-9 ms a batch at 8 callers); one multi-statement query with its values quoted on the client was
one wait, but parsed and planned by PostgreSQL every time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import structlog

from persona_mcp.audit.chain import (
    HEAD_SQL,
    PG_END_FROZEN_HOLDER_SQL,
    PG_LOCK_SQL,
    Batch,
    ChainPolicy,
    Committed,
    Extension,
    checkpoint_from_values,
    extend,
    extends_known_head,
    head_after,
    wants_current,
)
from persona_mcp.audit.committer import APPLICATION_NAME, BatchCommitter, BatchStatements, describe_seconds
from persona_mcp.store import WaitBounds
from persona_mcp.store.engine import postgres_set_statement
from persona_mcp.store.pg_pipeline import Execution, Pipeline

_log = structlog.get_logger("persona_mcp.audit")


class PostgresCommitter(BatchCommitter[psycopg.Connection[Any]]):
    """One READ COMMITTED transaction: one round trip per batch while this writer is the only one
    extending the chain, two otherwise.

    One round trip: the head this writer left with its previous batch is the head it extends, sealed before
    anything is sent (`chain.extends_known_head`); the lock and the inserts go in one pipeline, which
    PostgreSQL runs as one implicit transaction up to its Sync, committed once its last statement succeeds.
    If another writer extended the chain meanwhile, the first insert fails on its `seq`: the transaction is
    rolled back, nothing of it is committed, and the batch is sealed again on the head read under the lock.
    The lock is never held while PostgreSQL waits for this writer: it comes with the rest of the pipeline.

    Two round trips: BEGIN, the advisory lock and the head read, then the inserts and COMMIT. The lock and
    the head read are separate statements on purpose: under READ COMMITTED each statement takes its
    snapshot when it starts, so only a head read issued after the lock is granted sees the commit of the
    writer that held it before. Between the two messages the session is idle in its transaction with
    PostgreSQL's timer armed: the lease a frozen writer loses.
    """

    _SQL = BatchStatements.with_marker("%s")
    _PREPARED = ("BEGIN", PG_LOCK_SQL, HEAD_SQL, *_SQL.every, "COMMIT")
    commits_awaited = True

    def __init__(
        self, policy: ChainPolicy, connect_kwargs: Mapping[str, Any], bounds: WaitBounds | None = None
    ) -> None:
        super().__init__(policy)
        self._connect_kwargs = dict(connect_kwargs)
        # Names the connection in pg_stat_activity and pg_locks (who holds the chain lock), unless the
        # URL already names it.
        self._connect_kwargs.setdefault("application_name", APPLICATION_NAME)
        self._bounds = bounds
        self._session = (
            {} if bounds is None else bounds.postgres_settings(idle_in_transaction_s=bounds.chain_lease_s)
        )
        self._pipeline: Pipeline | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(**self._connect_kwargs, autocommit=True)
        try:
            if self._session:
                # Session-wide (autocommit): the bounds hold for every batch this connection commits.
                statement, params = postgres_set_statement(self._session)
                conn.execute(statement, params)
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            self._pipeline = Pipeline(conn, self._PREPARED)
            self._pipeline.prepare()
        except BaseException:
            conn.close()
            raise
        return conn

    def stall_reason(self, exc: BaseException) -> str | None:
        bounds = self._bounds
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            within = (
                f" within {describe_seconds(bounds.lock_timeout_s)}"
                if bounds and bounds.lock_timeout_s
                else ""
            )
            return (
                f"the audit log is stalled: the audit chain lock was not granted{within} (another replica "
                "or database session holds it; a frozen holder loses it when its transaction's idle "
                "timeout ends its session)"
            )
        if isinstance(exc, psycopg.errors.QueryCanceled):
            limit = bounds.statement_timeout_s if bounds else None
            within = f" ({describe_seconds(limit)})" if limit else ""
            return f"the audit log is stalled: an audit write outlasted the statement timeout{within}"
        return None

    def _commit(self, conn: psycopg.Connection[Any], batch: Batch) -> Committed:
        try:
            return self._extend(conn, batch)
        except psycopg.errors.LockNotAvailable:
            self._end_frozen_holder(conn)
            raise

    def awaitable(self, batch: Batch) -> bool:
        """A batch of records only, sealed on the head this writer's previous batch left, on an open
        connection: the one-message case. Anything else (the first batch, a checkpoint due or asked for)
        reads the head under the lock, on the writer thread."""
        conn, head = self._conn, self._head
        return (
            conn is not None
            and not conn.closed
            and self._pipeline is not None
            and head is not None
            and extends_known_head(batch, head, self._policy)
        )

    async def commit_awaited(self, batch: Batch) -> Committed:
        """`commit` of a batch `awaitable` accepted, from the event loop: the lock and the inserts in one
        message, as on the thread, sent and read back by libpq without blocking while the loop awaits
        the answer. A record then waits for no thread hand-off: the batch's round trip is the only
        wait (issue 18: 1.16 against 1.33 ms from submitted to durable, benchmarks/README.md).

        If another writer extended the chain meanwhile (nothing was committed), or the chain lock was not
        granted in time, the rest is the thread's code, run in a worker thread while the writer's
        committer stays held: the batch sealed on the head read under the lock, or the frozen holder
        ended. Like `commit`, any failure drops the connection and raises."""
        conn, head, pipeline = self._conn, self._head, self._pipeline
        assert conn is not None and head is not None, "commit_awaited without awaitable"
        assert pipeline is not None, "an open connection has its pipeline"
        self._head = None  # unknown until this batch commits
        try:
            extension = extend(head, batch, self._policy)
            executions, _ = self._executions(batch, extension, before=[(PG_LOCK_SQL, ())])
            try:
                await pipeline.run_awaited(executions)
            except psycopg.errors.UniqueViolation as exc:
                if not _moved(conn, exc):
                    raise
                self.head_moves += 1
                return await asyncio.to_thread(self.commit, batch)
            except psycopg.errors.LockNotAvailable:
                await asyncio.to_thread(self._end_frozen_holder, conn)
                raise
        except BaseException:
            self.close()
            raise
        self._head = head_after(head, extension)
        self.known_head_commits += 1
        return Committed(extension.records, extension.signed, None)

    def _end_frozen_holder(self, conn: psycopg.Connection[Any]) -> None:
        """After the chain lock was not granted in time: end the holder's session if it is an audit writer
        that has waited on its client for longer than the lease (frozen: idle in its transaction, or, for
        a writer of an earlier version, between pipelined messages, where PostgreSQL's idle timer is not
        armed), so the next batch gets the lock.
        Sessions of other programs (a psql left in BEGIN) are left alone; the log stays stalled while
        they hold the lock."""
        lease = self._bounds.chain_lease_s if self._bounds is not None else None
        if lease is None:
            return
        name = str(self._connect_kwargs["application_name"])
        try:
            ended = conn.execute(PG_END_FROZEN_HOLDER_SQL, (name, lease)).fetchone()
        except psycopg.Error as exc:  # no right to end it, or the connection is gone: stay stalled
            _log.warning("audit.frozen_holder_not_ended", error_type=type(exc).__name__)
            return
        if ended is not None and ended[0]:
            _log.warning("audit.frozen_holder_ended", sessions=int(ended[0]), lease_seconds=lease)

    def _extend(self, conn: psycopg.Connection[Any], batch: Batch) -> Committed:
        def write(head: tuple[int, str, int] | None) -> Committed:
            extension = None if head is None else extend(head, batch, self._policy)
            return self._locked_write(conn, batch, extension, head)

        committed = self._on_known_head(batch, write, lambda exc: _moved(conn, exc))
        assert committed is not None  # `write` always commits or raises
        return committed

    def _locked_write(
        self,
        conn: psycopg.Connection[Any],
        batch: Batch,
        extension: Extension | None,
        head: Sequence[Any] | None,
    ) -> Committed:
        """Take the chain lock and write `batch` in one transaction: `extension` (sealed beforehand on
        `head`) in one round trip, or, when None, sealed on the head read under the lock, in two."""
        pipeline = self._pipeline
        assert pipeline is not None, "a connection opened by _connect has its pipeline"
        if extension is None:
            try:
                head = pipeline.run([("BEGIN", ()), (PG_LOCK_SQL, ()), (HEAD_SQL, ())])[0]
                extension = extend(head, batch, self._policy)
                committed = self._write(pipeline, batch, extension, after=[("COMMIT", ())])
            except BaseException:
                # The transaction is open (or aborted): end it, so that the connection can be kept. A
                # connection that cannot even do that is dropped by `commit`; the first error is raised.
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
        else:
            committed = self._write(pipeline, batch, extension, before=[(PG_LOCK_SQL, ())])
        self._head = head_after(head, extension)
        return committed

    def _write(
        self,
        pipeline: Pipeline,
        batch: Batch,
        extension: Extension,
        *,
        before: Sequence[Execution] = (),
        after: Sequence[Execution] = (),
    ) -> Committed:
        """Run the batch's executions and read the newest checkpoint from the answer if it asked for it."""
        executions, current_wanted = self._executions(batch, extension, before=before, after=after)
        rows = pipeline.run(executions)
        current = None
        if current_wanted and rows:
            current = checkpoint_from_values(rows[0])
        return Committed(extension.records, extension.signed, current)

    def _executions(
        self,
        batch: Batch,
        extension: Extension,
        *,
        before: Sequence[Execution] = (),
        after: Sequence[Execution] = (),
    ) -> tuple[list[Execution], bool]:
        """The batch's executions (and the newest checkpoint's read, if the batch wants it: the second
        value), between the executions `before` and `after` them."""
        executions = [*before]
        executions.extend((sql, row) for sql, rows in self._SQL.steps(extension) for row in rows)
        current_wanted = wants_current(batch, extension)
        if current_wanted:
            executions.append((self._SQL.checkpoint, (extension.last_checkpoint_seq,)))
        executions.extend(after)
        return executions, current_wanted

    def _close(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()


def _moved(conn: psycopg.Connection[Any], exc: Exception) -> bool:
    """Whether `exc` says another writer took this batch's seq: the transaction aborted, nothing was
    committed. Any other state after the error is not an aborted transaction's: the error is raised and
    the connection dropped."""
    return (
        isinstance(exc, psycopg.errors.UniqueViolation)
        and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    )


__all__ = ["PostgresCommitter"]
