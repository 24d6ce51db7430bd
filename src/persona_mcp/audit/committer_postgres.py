"""The PostgreSQL committer (see `committer`): its own module, so psycopg is imported only by a server
whose store is on PostgreSQL (`open_committer` imports it for that dialect)."""

from __future__ import annotations

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
    extend,
    head_after,
)
from persona_mcp.audit.committer import APPLICATION_NAME, BatchCommitter, BatchStatements, describe_seconds
from persona_mcp.store import WaitBounds
from persona_mcp.store.engine import postgres_set_statement

_log = structlog.get_logger("persona_mcp.audit")


class PostgresCommitter(BatchCommitter[psycopg.Connection[Any]]):
    """One READ COMMITTED transaction in pipeline mode: one round trip per batch while this writer is
    the only one extending the chain, two otherwise.

    One round trip: the head this writer left with its previous batch is the head it extends, sealed
    before anything is sent (`chain.extends_known_head`); the lock, the inserts and COMMIT go in one
    pipeline. If another writer extended the chain meanwhile, the first insert fails on its `seq`: the
    transaction aborts, nothing of it is committed, and the batch is sealed again on the head read under
    the lock.

    Two round trips: the advisory lock and the head read are separate statements on purpose: under
    READ COMMITTED each statement takes its snapshot when it starts, so only a head read issued after
    the lock is granted sees the commit of the writer that held it before. The first round trip ends
    with a Sync, so that while the batch is computed the session is idle in its transaction with
    PostgreSQL's timer armed: the lease a frozen writer loses.
    """

    _SQL = BatchStatements.with_marker("%s")

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

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(**self._connect_kwargs, autocommit=True)
        try:
            if self._session:
                # Session-wide (autocommit): the bounds hold for every batch this connection commits.
                statement, params = postgres_set_statement(self._session)
                conn.execute(statement, params)
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
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

    def _end_frozen_holder(self, conn: psycopg.Connection[Any]) -> None:
        """After the chain lock was not granted in time: end the holder's session if it is an audit writer
        that has waited on its client for longer than the lease (frozen: idle in its transaction, or
        between pipelined messages, where PostgreSQL's idle timer is not armed), so the next batch gets
        the lock.
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

        def moved(exc: Exception) -> bool:
            # Another writer took this batch's seq: the transaction aborted, nothing was committed. Any
            # other state after the error is not an aborted transaction's: the error is raised and the
            # connection dropped.
            return (
                isinstance(exc, psycopg.errors.UniqueViolation)
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            )

        committed = self._on_known_head(batch, write, moved)
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
        `head`) in one round trip, or, when None, sealed on the head read under the lock in two."""
        # Leaving the pipeline block waits for every result, COMMIT's included, and raises any error.
        with conn.pipeline() as pipeline, conn.transaction():
            conn.execute(PG_LOCK_SQL)
            if extension is None:
                read = conn.execute(HEAD_SQL)
                # A Sync with the first round trip, not only a flush: PostgreSQL arms the
                # idle-in-transaction timer (the chain lock's lease) only once a Sync is processed;
                # without it a writer frozen now would hold the lock until its connection closed.
                pipeline.sync()
                head = read.fetchone()
                extension = extend(head, batch, self._policy)
            with conn.cursor() as cursor:
                committed = self._SQL.write(cursor, batch, extension)
        self._head = head_after(head, extension)
        return committed

    def _close(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()


__all__ = ["PostgresCommitter"]
