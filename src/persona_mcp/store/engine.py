"""Opening the database: a SQLite file by default, PostgreSQL when configured.

SQLite runs in WAL mode with `synchronous=FULL`, so a committed audit record survives a power cut, and
with a busy timeout so several connections (and processes) wait for each other instead of failing.

The SQLite file holds grants and the audit log, so it is created 0600 in a 0700 directory before SQLite
opens it: SQLite gives its `-wal` and `-shm` files the mode of the database file, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from persona_mcp.config import create_private_dir

#: Files SQLite keeps next to the database in WAL mode.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class Store:
    """The database handle every component shares."""

    engine: AsyncEngine

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def close(self) -> None:
        await self.engine.dispose()


def normalise_url(url: str) -> str:
    """Pick the async driver for a plain URL (`postgresql://` -> psycopg, `sqlite://` -> aiosqlite)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite" and parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def create_store(url: str, *, echo: bool = False) -> Store:
    """Create the engine for `url`; the SQLite directory is created if missing."""
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            _create_private_database(Path(parsed.database))
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return Store(engine=engine)


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
