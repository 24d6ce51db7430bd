"""Committing one batch of the chain on a dedicated DBAPI connection, in one blocking call.

The writer thread (`worker`) hands each batch to a committer that owns a plain driver connection
(`sqlite3`, or `psycopg` with one pipeline of prepared statements a round trip: `committer_postgres`)
opened on the same database as the store. A batch is then one blocking call and, on PostgreSQL, one network
round trip (lock and inserts, one transaction) while this writer is the only one extending the chain, two
otherwise (BEGIN + lock + head; inserts + COMMIT), instead of a thread hop or a round trip per statement
through the async engine.
`commit` returns only once COMMIT succeeded; on any error the transaction is rolled back, the connection
dropped (the next batch opens a fresh one) and the error raised for the writer to fail the batch closed.

The connection keeps the store's settings: SQLite's `synchronous`, `busy_timeout` and `wal_autocheckpoint`
are copied from a store connection (engine.py sets WAL, FULL, the store's busy timeout and
`WAL_AUTOCHECKPOINT_PAGES`), PostgreSQL's connection arguments come from the store's URL (options
included).

Every wait is bounded by the store's `WaitBounds` (issue 11): on SQLite the busy timeout (short while
serving); on PostgreSQL `lock_timeout` bounds the wait for the chain lock (it applies to advisory locks),
`statement_timeout` any statement, and `idle_in_transaction_session_timeout` is the chain lock's lease: a
writer frozen inside its transaction (SIGSTOP, a paused VM) has its session ended by the server after it,
which aborts the transaction and frees the lock for the other replicas. That timer is armed only once
the server has processed a protocol Sync (the end of each round trip here); a writer frozen between
the messages of one round trip (part of its pipeline written, the Sync not yet; or an earlier version's,
which sent a Sync per statement: inserts sent, COMMIT not yet; the session shows as `active`, waiting on
its client) is ended by the next writer that times out
on the lock instead (`_end_frozen_holder`: an audit writer that has waited on its client for
longer than the lease, idle in its transaction or not). A batch that fails on one of these
bounds is a stall (`stall_reason`), which the log reports as such.
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import text

from persona_mcp.audit.chain import CHECKPOINT_COLUMNS as _CP_COLUMNS
from persona_mcp.audit.chain import (
    HEAD_SQL,
    OBJECT_COLUMNS,
    RECORD_COLUMNS,
    Batch,
    ChainPolicy,
    Committed,
    Extension,
    checkpoint_from_values,
    checkpoint_sql,
    checkpoint_values,
    extend,
    extends_known_head,
    head_after,
    insert_sql,
    wants_current,
)
from persona_mcp.audit.open_calls import OpenCallsSql
from persona_mcp.store import Store
from persona_mcp.store.engine import WAL_AUTOCHECKPOINT_PAGES, postgres_connect_kwargs

_Conn = TypeVar("_Conn")

APPLICATION_NAME = "persona-mcp audit writer"


@dataclass(frozen=True, slots=True)
class BatchStatements:
    """What a committer runs inside its transaction once the chain is extended, in one driver's parameter
    style (`?` for sqlite3, `%s` for psycopg): written once for both databases."""

    insert: str
    insert_objects: str
    insert_checkpoint: str
    checkpoint: str
    open_calls: OpenCallsSql

    @classmethod
    def with_marker(cls, marker: str) -> BatchStatements:
        return cls(
            insert_sql("audit_records", RECORD_COLUMNS, marker),
            insert_sql("audit_record_objects", OBJECT_COLUMNS, marker),
            insert_sql("audit_checkpoints", _CP_COLUMNS, marker),
            checkpoint_sql(marker),
            OpenCallsSql.with_marker(marker),
        )

    @property
    def every(self) -> tuple[str, ...]:
        """Every statement `steps` and a checkpoint read can run (what a driver may prepare)."""
        calls = self.open_calls
        return (
            self.insert,
            self.insert_objects,
            self.insert_checkpoint,
            self.checkpoint,
            calls.open_intent,
            calls.open_unknown,
            calls.settle,
        )

    def steps(self, extension: Extension) -> list[tuple[str, Sequence[Sequence[Any]]]]:
        """Each statement of the batch's transaction with its parameter rows, in this order: the records,
        their object index, the open-calls changes (they read the batch's own records, so they come
        after them) and a new checkpoint."""
        steps: list[tuple[str, Sequence[Sequence[Any]]]] = []
        if extension.rows:
            steps.append((self.insert, extension.rows))
            if extension.object_rows:
                steps.append((self.insert_objects, extension.object_rows))
            steps.extend(self.open_calls.for_batch(extension.rows))
        if extension.signed is not None:
            steps.append((self.insert_checkpoint, [checkpoint_values(extension.signed)]))
        return steps

    def write(self, cursor: Any, batch: Batch, extension: Extension) -> Committed:
        """Run `steps` through `cursor` (a sqlite3 connection), and read the newest checkpoint if the
        batch wants it."""
        for sql, params in self.steps(extension):
            cursor.executemany(sql, params)
        current = None
        if wants_current(batch, extension):
            found = cursor.execute(self.checkpoint, (extension.last_checkpoint_seq,)).fetchone()
            current = None if found is None else checkpoint_from_values(found)
        return Committed(extension.records, extension.signed, current)


class BatchCommitter(ABC, Generic[_Conn]):
    """Extends the chain by one batch per `commit` call. Not thread-safe: one worker thread uses it."""

    commits_inline: ClassVar[bool] = False
    """Whether `try_commit` can commit on the event loop (SQLite, a local file)."""
    commits_awaited: ClassVar[bool] = False
    """Whether `commit_awaited` can commit a batch from the event loop, its round trip awaited
    without blocking the loop (PostgreSQL). With neither, every append goes to the writer thread."""

    def __init__(self, policy: ChainPolicy) -> None:
        self._policy = policy
        self._conn: _Conn | None = None
        # The HEAD_SQL row as this writer's last batch left it, on this connection; None: read it.
        self._head: tuple[int, str, int] | None = None
        self.known_head_commits = 0
        """Batches committed on the head this writer's previous batch left (for tests and benchmarks)."""
        self.head_moves = 0
        """Batches sealed on that head that found another writer had extended the chain first."""

    def commit(self, batch: Batch) -> Committed:
        """Commit `batch` durably and return its records; raise (nothing committed) on any failure."""
        try:
            if self._conn is None:
                self._conn = self._connect()
            return self._commit(self._conn, batch)
        except BaseException:
            self.close()
            raise

    def try_commit(self, batch: Batch) -> Committed | None:
        """`commit`, but only if the chain lock is free right now and the connection is open; None
        (nothing done, connection kept) otherwise. For the writer's inline path, which runs on the
        event loop and must never wait for another process. Raises, like `commit`, on any failure
        once the lock is held. The default never commits inline."""
        return None

    def awaitable(self, batch: Batch) -> bool:
        """Whether `commit_awaited` can take `batch` now. The default never can."""
        return False

    async def commit_awaited(self, batch: Batch) -> Committed:
        """`commit` from the event loop, for a batch `awaitable` said it can take; raises like `commit`."""
        raise NotImplementedError

    def stall_reason(self, exc: BaseException) -> str | None:
        """Why `exc` means the log is stalled (a bound on a wait ran out), or None for other failures."""
        return None

    def _on_known_head(
        self,
        batch: Batch,
        write: Callable[[tuple[int, str, int] | None], Committed | None],
        moved: Callable[[Exception], bool],
    ) -> Committed | None:
        """`write(head)`: `batch` sealed on the head this writer's previous batch left, when
        `chain.extends_known_head` allows; if that failed because another writer had extended the chain
        (`moved` says so of the error; nothing of the batch was committed), or it is not allowed,
        `write(None)`: sealed on the head read under the lock. `write` records the head it leaves in
        `self._head`; None from it means nothing was done (the lock was not free)."""
        head, self._head = self._head, None  # unknown until this batch commits
        if head is not None and extends_known_head(batch, head, self._policy):
            try:
                committed = write(head)
            except Exception as exc:
                if not moved(exc):
                    raise
                self.head_moves += 1
            else:
                if committed is None:
                    self._head = head
                else:
                    self.known_head_commits += 1
                return committed
        return write(None)

    def close(self) -> None:
        self._head = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                self._close(conn)

    @abstractmethod
    def _connect(self) -> _Conn: ...

    @abstractmethod
    def _commit(self, conn: _Conn, batch: Batch) -> Committed: ...

    @abstractmethod
    def _close(self, conn: _Conn) -> None: ...


class SqliteCommitter(BatchCommitter[sqlite3.Connection]):
    """BEGIN IMMEDIATE (the file's write lock, shared by every process), inserts, COMMIT.

    While this writer is the only one extending the chain, a batch is sealed on the head its previous
    batch left (`chain.extends_known_head`), as on PostgreSQL, without reading it again. If another
    connection (the admin CLI, another replica on the same file) extended the chain meanwhile, the first
    record's insert fails on its `seq`: the transaction is rolled back and the batch sealed again on the
    head read under the lock.
    """

    _SQL = BatchStatements.with_marker("?")
    commits_inline = True

    def __init__(
        self,
        policy: ChainPolicy,
        path: str,
        *,
        synchronous: int,
        busy_timeout_ms: int,
        wal_autocheckpoint: int = WAL_AUTOCHECKPOINT_PAGES,
    ) -> None:
        super().__init__(policy)
        self._path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._wal_autocheckpoint = wal_autocheckpoint

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module never opens transactions itself; BEGIN IMMEDIATE is explicit.
        conn = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={int(self._synchronous)}")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute(f"PRAGMA wal_autocheckpoint={int(self._wal_autocheckpoint)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def try_commit(self, batch: Batch) -> Committed | None:
        conn = self._conn
        if conn is None:
            return None
        try:
            return self._extend(conn, batch, self._begin_now)
        except BaseException:
            self.close()
            raise

    def _begin_now(self, conn: sqlite3.Connection) -> bool:
        """BEGIN IMMEDIATE without waiting: False when another connection (process) holds the write
        lock, instead of blocking the event loop for up to `busy_timeout`."""
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            return False
        finally:
            # Restored before anything else runs; if that fails the caller drops the connection.
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        return True

    @staticmethod
    def _begin(conn: sqlite3.Connection) -> bool:
        conn.execute("BEGIN IMMEDIATE")
        return True

    def _commit(self, conn: sqlite3.Connection, batch: Batch) -> Committed:
        committed = self._extend(conn, batch, self._begin)
        assert committed is not None  # `_begin` waits for the lock (or raises)
        return committed

    def _extend(
        self, conn: sqlite3.Connection, batch: Batch, begin: Callable[[sqlite3.Connection], bool]
    ) -> Committed | None:
        """The batch in one transaction that `begin` opens; None if `begin` could not (nothing done)."""

        def write(head: tuple[int, str, int] | None) -> Committed | None:
            return self._write(conn, batch, head) if begin(conn) else None

        # A taken `seq` fails the first insert, and `_write` rolls the transaction back.
        return self._on_known_head(batch, write, lambda exc: isinstance(exc, sqlite3.IntegrityError))

    def _write(self, conn: sqlite3.Connection, batch: Batch, head: tuple[int, str, int] | None) -> Committed:
        """Seal the batch on `head` (read under the lock when None), insert, COMMIT; ROLLBACK on failure."""
        try:
            found = head if head is not None else conn.execute(HEAD_SQL).fetchone()
            extension = extend(found, batch, self._policy)
            committed = self._SQL.write(conn, batch, extension)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (e.g. disk full); keep the original error.
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        self._head = head_after(found, extension)
        return committed

    def stall_reason(self, exc: BaseException) -> str | None:
        if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            return (
                "the audit log is stalled: the database write lock was not granted within "
                f"{describe_seconds(self._busy_timeout_ms / 1000)} (another connection or process holds it)"
            )
        return None

    def _close(self, conn: sqlite3.Connection) -> None:
        conn.close()


async def open_committer(store: Store, policy: ChainPolicy) -> BatchCommitter[Any]:
    """The committer for `store`'s database (the connection itself opens on first use, in the thread)."""
    engine = store.engine
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    if store.is_sqlite:
        path = engine.url.database
        if not path or path == ":memory:" or kwargs.get("uri"):
            raise ValueError("the audit log needs an SQLite database file (not :memory: or a URI)")
        async with engine.connect() as conn:
            synchronous = int((await conn.execute(text("PRAGMA synchronous"))).scalar_one())
            busy_timeout = int((await conn.execute(text("PRAGMA busy_timeout"))).scalar_one())
            wal_autocheckpoint = int((await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())
        return SqliteCommitter(
            policy,
            path,
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout,
            wal_autocheckpoint=wal_autocheckpoint,
        )
    if store.dialect == "postgresql":
        from persona_mcp.audit.committer_postgres import PostgresCommitter  # psycopg: PostgreSQL only

        return PostgresCommitter(policy, postgres_connect_kwargs(store), store.bounds)
    raise ValueError(f"the audit log does not support the {store.dialect} dialect")


def describe_seconds(value: float | None) -> str:
    return f"{value:g} s" if value is not None else "its bound"


__all__ = ["APPLICATION_NAME", "BatchCommitter", "SqliteCommitter", "describe_seconds", "open_committer"]
