"""Opening the database: a SQLite file by default, PostgreSQL when configured.

SQLite runs in WAL mode with `synchronous=FULL`, so a committed audit record survives a power cut, and
with a busy timeout so several connections (and processes) wait for each other instead of failing. The
WAL is copied back into the database file every `WAL_AUTOCHECKPOINT_PAGES` pages, not SQLite's 1,000.

Every wait on the database is bounded (`WaitBounds`, issue 11): SQLite's busy timeout, and on PostgreSQL
`lock_timeout`, `statement_timeout` and `idle_in_transaction_session_timeout` set on each connection as
it opens. The server passes short bounds (`serving_bounds`, from `[store]` settings), so a stalled lock
holder gets calls refused within seconds instead of hanging them; admin commands keep `ADMIN_BOUNDS`,
whose long statements (verify, export) must not be cut short.

The SQLite file holds grants and the audit log, so it is created 0600 in a 0700 directory before SQLite
opens it: SQLite gives its `-wal` and `-shm` files the mode of the database file, whatever the umask.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from persona_mcp.config import StoreSettings, create_private_dir
from persona_mcp.operator_error import ConfigError
from persona_mcp.store.sqlalchemy_async import AsyncEngine, create_async_engine
from persona_mcp.store.sqlite_stop import stop_once

if TYPE_CHECKING:
    from sqlalchemy import Table

#: Files SQLite keeps next to the database in WAL mode.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class WaitBounds:
    """How long a connection may wait on the database; None leaves PostgreSQL's own default (no bound).

    `chain_lease_s` is the audit writer's `idle_in_transaction_session_timeout`: how long a writer frozen
    while it holds the chain lock keeps it before PostgreSQL ends its session. `idle_in_transaction_s` is
    the same bound for the other connections, which may legitimately wait on the network inside a
    transaction (an OAuth refresh holds its credential's row while the token endpoint answers).
    """

    lock_timeout_s: float | None
    statement_timeout_s: float | None
    idle_in_transaction_s: float | None
    chain_lease_s: float | None
    sqlite_busy_timeout_s: float

    def postgres_settings(self, *, idle_in_transaction_s: float | None) -> dict[str, str]:
        """The session settings, as `set_config` values (milliseconds), of the bounds that are set."""
        wanted = {
            "lock_timeout": self.lock_timeout_s,
            "statement_timeout": self.statement_timeout_s,
            "idle_in_transaction_session_timeout": idle_in_transaction_s,
        }
        return {name: str(round(seconds * 1000)) for name, seconds in wanted.items() if seconds is not None}

    @property
    def sqlite_busy_timeout_ms(self) -> int:
        return round(self.sqlite_busy_timeout_s * 1000)


#: Admin commands and tests: long enough for any legitimate wait, but never forever on a lock.
ADMIN_BOUNDS = WaitBounds(
    lock_timeout_s=30.0,
    statement_timeout_s=None,
    idle_in_transaction_s=None,
    chain_lease_s=60.0,
    sqlite_busy_timeout_s=30.0,
)
#: Kept above the longest network wait inside a request-path transaction, beyond that wait itself.
_IDLE_MARGIN_S = 5.0


def serving_bounds(settings: StoreSettings, *, outbound_timeout_s: float) -> WaitBounds:
    """The server's bounds: `[store]` settings, with request-path transactions allowed to outlive one
    outbound request of `outbound_timeout_s` (the chain lock's lease is the setting itself)."""
    return WaitBounds(
        lock_timeout_s=settings.lock_timeout_seconds,
        statement_timeout_s=settings.statement_timeout_seconds,
        idle_in_transaction_s=max(
            settings.idle_in_transaction_timeout_seconds, outbound_timeout_s + _IDLE_MARGIN_S
        ),
        chain_lease_s=settings.idle_in_transaction_timeout_seconds,
        sqlite_busy_timeout_s=settings.sqlite_busy_timeout_seconds,
    )


def postgres_connect_kwargs(store: Store) -> dict[str, Any]:
    """psycopg's `connect` arguments for `store`'s URL, for the connections kept outside the pool (the
    audit committer's, the shared rate window's). SQLAlchemy's adapters map is left out: those bind only
    plain values."""
    _args, kwargs = store.engine.dialect.create_connect_args(store.engine.url)
    kwargs.pop("context", None)
    return dict(kwargs)


def postgres_set_statement(settings: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """One `SELECT set_config(...)` for all of `settings` (session-wide): one round trip at connect."""
    calls = ", ".join(["set_config(%s, %s, false)"] * len(settings))
    return f"SELECT {calls}", tuple(part for item in settings.items() for part in item)


#: The condition, on `pg_stat_activity AS activity`, under which a session of one of this server's own
#: connections (named by `application_name`, the first parameter) that holds a lock others wait for counts
#: as frozen: it has waited on its client with no statement started for longer than the lease (the second
#: parameter, in seconds). That is a session idle in its transaction, where PostgreSQL's idle timer ends
#: it anyway, or one between pipelined messages (say, an UPDATE sent, its COMMIT not yet), which PostgreSQL
#: shows as `active`, waiting on `ClientRead`, with no timer armed; `state_change` is when its last
#: statement started. A live writer waits there for microseconds; a lease is seconds. The peer that timed
#: out on the lock ends such a session (`pg_terminate_backend`, allowed between sessions of one role).
POSTGRES_FROZEN_ON_ITS_CLIENT = (
    "activity.pid <> pg_backend_pid() AND activity.application_name = %s "
    "AND activity.wait_event_type = 'Client' AND activity.wait_event = 'ClientRead' "
    "AND activity.state_change < clock_timestamp() - make_interval(secs => %s)"
)


@dataclass(frozen=True, slots=True)
class Store:
    """The database handle every component shares, and the bounds its connections wait within."""

    engine: AsyncEngine
    bounds: WaitBounds = ADMIN_BOUNDS

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def insert(self, table: Table) -> Any:
        """`INSERT` in this database's own dialect (for `on_conflict_do_nothing`), whose module is imported
        here, when first used: an SQLite server never loads PostgreSQL's dialect (25 ms of its start)."""
        return _dialect_insert(self.dialect)(table)

    async def close(self) -> None:
        await self.engine.dispose()


@functools.cache
def _dialect_insert(dialect: str) -> Any:
    """`insert` of SQLAlchemy's `dialect` module, imported on first use and looked up once."""
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert


#: Databases the server runs on (the drivers it ships with).
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_URL_HINT = (
    "set PERSONA_MCP_DATABASE_URL to postgresql://user@host:5432/dbname (postgres:// works too) or "
    "sqlite:////absolute/path/persona-mcp.sqlite3, or unset it for the SQLite file in the data directory"
)


def normalise_url(url: str) -> str:
    """Pick the async driver for a plain URL (`postgresql://` or `postgres://` -> psycopg, `sqlite://` ->
    aiosqlite). A URL that is not one of a supported database is a `ConfigError` that never shows the URL
    itself (it may hold a password), only its scheme."""
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy.exc.ArgumentError, ValueError: not a URL at all
        raise ConfigError("PERSONA_MCP_DATABASE_URL is not a database URL", _URL_HINT) from None
    if parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql")
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"PERSONA_MCP_DATABASE_URL names an unknown database `{parsed.drivername}`: only SQLite and "
            "PostgreSQL are supported",
            _URL_HINT,
        )
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite" and parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def create_store(url: str, *, echo: bool = False, bounds: WaitBounds = ADMIN_BOUNDS) -> Store:
    """Create the engine for `url`, its connections waiting within `bounds`; the SQLite directory is
    created if missing."""
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            _create_private_database(Path(parsed.database))
        kwargs["connect_args"] = {"timeout": bounds.sqlite_busy_timeout_s}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(bounds.sqlite_busy_timeout_ms))
    elif parsed.get_backend_name() == "postgresql":
        settings = bounds.postgres_settings(idle_in_transaction_s=bounds.idle_in_transaction_s)
        event.listen(engine.sync_engine, "connect", _postgres_bounds(settings))
    return Store(engine=engine, bounds=bounds)


def _create_private_database(database: Path) -> None:
    """Create the SQLite file (and its directory) readable by this user only; tighten older files."""
    create_private_dir(database.parent)
    _owner_only(database, os.O_RDWR | os.O_CREAT)
    for suffix in _SQLITE_COMPANIONS:
        _owner_only(Path(f"{database}{suffix}"), os.O_RDONLY)


def _owner_only(path: Path, flags: int) -> None:
    """Open `path` (created 0600 if `flags` say so) and take group and other permissions away.

    A file this process cannot open or change (absent, another user's, read-only) is left alone: SQLite
    reports any problem with it itself.
    """
    try:
        fd = os.open(path, flags, 0o600)
    except OSError:
        return
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            with contextlib.suppress(OSError):
                os.fchmod(fd, mode & 0o700)
    finally:
        os.close(fd)


WAL_AUTOCHECKPOINT_PAGES = 4000
"""Pages in the WAL (4 KiB each: 16 MiB) before the committing connection copies them into the database
file. The copy is charged to the commit that crosses the mark, nearly always the audit writer's; a page
changed again before the next copy is copied once, and the records' shared pages (the table's and the
indexes' newest leaves) change with every batch. `audit_insert_cost.py`, 2026-12-06: against SQLite's
1,000, the writer's system time per record fell by a fifth at 3 records a batch and its mean commit by
a seventh; fewer commits carry a copy (p99 of a commit 7.0 -> 1.5-1.8 ms), each of those takes longer
(the longest 8.7 -> 17-21 ms)."""


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        stop_once(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect


def _postgres_bounds(settings: Mapping[str, str]) -> Callable[[Any, Any], None]:
    """Set the bounds on each new connection, committed: a SET rolled back with the pool's reset of the
    connection would be undone."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not settings:
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(*postgres_set_statement(settings))
        finally:
            cursor.close()
        dbapi_connection.commit()

    return on_connect
