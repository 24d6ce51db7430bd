"""Reading the chain for `verify`: keyset pages of (seq, prev_hash, hash, body bytes) in `seq` order.

On SQLite the pages come from a plain `sqlite3` cursor on a worker thread (the event loop stays free, and
rows skip SQLAlchemy and aiosqlite's per-call hops) with `body` read as the stored bytes
(`CAST(body AS BLOB)`): no UTF-8 decode into `str` and re-encode before hashing. Elsewhere pages come
through the store's own driver cursor.

Pages are read one after the other, not ahead: Python's sqlite3 takes the GIL back for every row, so a
reader thread running beside the hashing loop slows both down rather than overlapping them (measured).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from persona_mcp.store import Store
from persona_mcp.store.sqlalchemy_async import AsyncConnection

Row = Sequence[Any]
"""(seq, prev_hash, hash, body) with `body` as UTF-8 bytes."""

_SQLITE_PAGE = (
    "SELECT seq, prev_hash, hash, CAST(body AS BLOB) FROM audit_records "
    "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)


def chain_pages(store: Store, conn: AsyncConnection, end: int, size: int) -> AsyncGenerator[list[Row], None]:
    """Pages of up to `size` rows with `seq` in (0, end], in `seq` order; stops at the first empty page.

    Close it with `contextlib.aclosing` when stopping early, so that the reader's connection is closed.
    """
    path = store.engine.url.database
    if store.is_sqlite and path and path != ":memory:":
        return _sqlite_pages(path, end, size)
    return _driver_pages(conn, end, size)


async def _sqlite_pages(path: str, end: int, size: int) -> AsyncGenerator[list[Row], None]:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify") as thread:
        reader = await loop.run_in_executor(thread, _open_reader, path)
        try:
            after = 0
            while True:
                rows = await loop.run_in_executor(thread, _fetch, reader, after, end, size)
                if not rows:
                    return
                after = rows[-1][0]
                yield rows
        finally:
            # Runs after any fetch still pending (one thread, first in first out).
            await loop.run_in_executor(thread, reader.close)


def _open_reader(path: str) -> sqlite3.Connection:
    reader = sqlite3.connect(path, check_same_thread=False)
    reader.execute("PRAGMA busy_timeout=30000")
    return reader


def _fetch(reader: sqlite3.Connection, after: int, end: int, size: int) -> list[Row]:
    cursor = reader.execute(_SQLITE_PAGE, (after, end, size))
    try:
        cursor.arraysize = size
        return cursor.fetchall()
    finally:
        cursor.close()


async def _driver_pages(conn: AsyncConnection, end: int, size: int) -> AsyncGenerator[list[Row], None]:
    """Pages through the driver's own cursor: building SQLAlchemy rows for a million records costs more
    than hashing them."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        "SELECT seq, prev_hash, hash, body FROM audit_records "
        f"WHERE seq > {marker} AND seq <= {marker} ORDER BY seq LIMIT {marker}"
    )
    after = 0
    while True:
        async with driver.cursor() as cursor:
            await cursor.execute(sql, (after, end, size))
            fetched = await cursor.fetchall()
        if not fetched:
            return
        rows: list[Row] = [(seq, prev, hash_, body.encode()) for seq, prev, hash_, body in fetched]
        after = rows[-1][0]
        yield rows


__all__ = ["Row", "chain_pages"]
