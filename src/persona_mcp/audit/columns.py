"""The search columns of `audit_records` hold copies of body fields; verify holds them against the body.

Queries filter on the columns (`principal`, `tool`, `object_ids`, ...) and show what the body says, so a
column edited after the fact hides a record from a query or pins it on someone else while every hash still
verifies. Verification therefore checks every column of every record against the body it was copied from.

Two passes, one fast and one exact:

* the database finds the records whose columns may disagree with their body (its JSON functions read the
  body: `json_extract` on SQLite, `jsonb` on PostgreSQL), in one statement that returns no rows for an
  intact log. On SQLite it runs on its own connection and thread and holds no GIL while it scans, so it
  costs the hashing walk next to nothing when a second core is free; on PostgreSQL the server does it.
  Only a value that passes a strict form test is compared there (an `object_ids` column outside the form
  the writer produces is always a suspect), so "agrees" in SQL implies "agrees" here;
* each suspect is then checked here, exactly as the writer derives the columns (`expected_columns`). A
  suspect that agrees after all (a value the SQL comparison could not vouch for) is skipped.

Should the database refuse the statement (a body that is not JSON makes `json_extract` raise), every
record is checked here instead: slower, same verdict.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from persona_mcp.audit.chain import object_ids_column
from persona_mcp.store import Store
from persona_mcp.store.sqlalchemy_async import AsyncConnection

#: Column name -> the body field it copies (`object_ids` is stored as " id1 id2 ", see `object_ids_column`).
COLUMN_FIELDS: Mapping[str, str] = {
    "seq": "seq",
    "recorded_at": "timestamp",
    "instance_id": "instance_id",
    "kind": "kind",
    "call_id": "call_id",
    "principal": "principal",
    "grant_id": "grant_id",
    "tool": "tool",
    "decision": "decision",
    "outcome": "outcome",
    "object_ids": "object_ids",
}
COLUMNS: tuple[str, ...] = tuple(COLUMN_FIELDS)
_SCAN_PAGE = 5_000
_NO_COLUMN = object()

_PLAIN = ", ".join(column for column in COLUMNS if column != "object_ids")

# SQLite. The object_ids column is rebuilt into the JSON array the body holds only when it has the
# writer's form (a leading and a trailing space, no quote or backslash): then the rebuilt array equals the
# body's exactly when the column equals `object_ids_column(body ids)`. A column outside that form makes its
# record a suspect, decided in Python. (Both operands of AND are evaluated, so json() is never handed a
# malformed rebuild; a control character in the column still makes json() raise, and then every record
# is checked in Python, see `find_disagreement`.) `seq` is left out: the walk holds the body's seq
# against the column already.
_SQLITE_IDS_FORM = (
    "length(object_ids) >= 3 AND substr(object_ids, 1, 1) = ' ' "
    "AND substr(object_ids, length(object_ids), 1) = ' ' "
    "AND instr(object_ids, '\"') = 0 AND instr(object_ids, '\\') = 0"
)
_SQLITE_IDS_TEXT = "'[\"' || replace(substr(object_ids, 2, length(object_ids) - 2), ' ', '\",\"') || '\"]'"
_SQLITE_IDS = (
    f"json(CASE WHEN object_ids IS NULL THEN '[]' WHEN {_SQLITE_IDS_FORM} "
    f"THEN {_SQLITE_IDS_TEXT} ELSE '[]' END)"
)
_SQLITE_PATHS = ", ".join(f"'$.{field}'" for column, field in COLUMN_FIELDS.items() if column != "seq")
_SQLITE_PLAIN = ", ".join(column for column in COLUMNS if column not in ("seq", "object_ids"))
SQLITE_SUSPECT = (
    "SELECT seq FROM audit_records WHERE seq > ? AND seq <= ? AND NOT COALESCE("
    f"(object_ids IS NULL OR ({_SQLITE_IDS_FORM})) AND json_extract(body, {_SQLITE_PATHS}) "
    f"= json_array({_SQLITE_PLAIN}, {_SQLITE_IDS}), 0) ORDER BY seq LIMIT 1"
)

# PostgreSQL: jsonb equality of the body's values and the columns'. `string_to_array` splits on every
# space, so joining its parts gives the column back; a column too short to hold one id is a suspect.
# `OFFSET 0` keeps the planner from inlining the lateral subquery, which would parse the body once per
# field instead of once per record (6x slower, measured).
_PG_IDS_FORM = (
    "(object_ids IS NULL OR (length(object_ids) >= 3 AND left(object_ids, 1) = ' ' "
    "AND right(object_ids, 1) = ' '))"
)
_PG_IDS_ARRAY = (
    "CASE WHEN object_ids IS NULL THEN '[]'::jsonb ELSE "
    "to_jsonb(string_to_array(substr(object_ids, 2, length(object_ids) - 2), ' ')) END"
)
_PG_BODY_VALUES = ", ".join(f"parsed.b -> '{field}'" for field in COLUMN_FIELDS.values())
POSTGRES_SUSPECT = (
    "SELECT seq FROM audit_records, LATERAL (SELECT body::jsonb AS b OFFSET 0) AS parsed "
    "WHERE seq > :after AND seq <= :end AND NOT COALESCE("
    f"{_PG_IDS_FORM} AND jsonb_build_array({_PG_BODY_VALUES}) "
    f"= jsonb_build_array({_PLAIN}, {_PG_IDS_ARRAY}), false) ORDER BY seq LIMIT 1"
)

_ROWS = (
    f"SELECT {', '.join(COLUMNS)}, body FROM audit_records WHERE seq > {{a}} AND seq <= {{e}} ORDER BY seq"
)


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A record whose search columns say something its body does not."""

    seq: int
    columns: tuple[str, ...]


def expected_columns(fields: Mapping[str, Any]) -> tuple[Any, ...]:
    """The column values (in `COLUMNS` order) the writer derives from a record's fields."""
    values = [fields.get(field) for field in COLUMN_FIELDS.values()]
    ids = values[-1]
    # A body whose object_ids is not a list of strings was never written by the writer: no column matches.
    if ids is not None:
        listed = isinstance(ids, list) and all(isinstance(i, str) for i in ids)
        values[-1] = object_ids_column(ids) if listed else _NO_COLUMN
    return tuple(values)


def disagreeing_columns(values: Sequence[Any], body: str | bytes) -> tuple[str, ...]:
    """Names of the columns (`values` in `COLUMNS` order) that differ from what `body` says."""
    try:
        fields = json.loads(body)
    except ValueError:
        return COLUMNS
    if not isinstance(fields, dict):
        return COLUMNS
    return tuple(
        name for name, got, want in zip(COLUMNS, values, expected_columns(fields), strict=True) if got != want
    )


class _Reader(Protocol):
    async def next_suspect(self, after: int, end: int) -> int | None: ...

    async def rows(self, after: int, end: int, limit: int) -> list[Sequence[Any]]: ...


async def find_disagreement(
    store: Store, end: int, conn: AsyncConnection | None = None
) -> Disagreement | None:
    """The first record up to `end` whose search columns disagree with its body, or None.

    Uses its own connection (and, on a SQLite file, its own thread), so it can run beside the hashing
    walk; pass `conn` to run it on that connection instead (a SQLite database in memory).
    """
    async with _reader(store, conn) as reader:
        after = 0
        while after < end:
            try:
                suspect = await reader.next_suspect(after, end)
            except (sqlite3.Error, DBAPIError):
                return await _scan(reader, after, end)
            if suspect is None:
                return None
            for row in await reader.rows(suspect - 1, suspect, 1):
                columns = disagreeing_columns(row[:-1], row[-1])
                if columns:
                    return Disagreement(suspect, columns)
            after = suspect
    return None


async def _scan(reader: _Reader, after: int, end: int) -> Disagreement | None:
    """Every record checked here, page by page (when the database cannot read the bodies as JSON)."""
    while after < end:
        rows = await reader.rows(after, end, _SCAN_PAGE)
        if not rows:
            return None
        for row in rows:
            columns = disagreeing_columns(row[:-1], row[-1])
            if columns:
                return Disagreement(int(row[0]), columns)
        after = int(rows[-1][0])
    return None


@asynccontextmanager
async def _reader(store: Store, conn: AsyncConnection | None) -> AsyncIterator[_Reader]:
    path = store.engine.url.database
    if conn is None and store.is_sqlite and path and path != ":memory:":
        sqlite_reader = _SqliteReader(path)
        try:
            yield sqlite_reader
        finally:
            await sqlite_reader.close()
    elif conn is not None:
        yield _EngineReader(conn)
    else:
        async with store.engine.connect() as own:
            yield _EngineReader(own)


class _SqliteReader:
    """A plain `sqlite3` connection on a thread of its own: the scan runs in SQLite's C code, GIL released."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-columns")
        self._db: sqlite3.Connection | None = None

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, fn, *args)
        except asyncio.CancelledError:
            if self._db is not None:
                self._db.interrupt()  # the one call that is safe from another thread
            raise

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self._path, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")
        return self._db

    def _next(self, after: int, end: int) -> int | None:
        row = self._connect().execute(SQLITE_SUSPECT, (after, end)).fetchone()
        return None if row is None else int(row[0])

    def _rows(self, after: int, end: int, limit: int) -> list[Sequence[Any]]:
        sql = _ROWS.format(a="?", e="?") + " LIMIT ?"
        return list(self._connect().execute(sql, (after, end, limit)).fetchall())

    async def next_suspect(self, after: int, end: int) -> int | None:
        found: int | None = await self._call(self._next, after, end)
        return found

    async def rows(self, after: int, end: int, limit: int) -> list[Sequence[Any]]:
        found: list[Sequence[Any]] = await self._call(self._rows, after, end, limit)
        return found

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()

        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, close)
        finally:
            self._thread.shutdown(wait=False)


class _EngineReader:
    """Through the store's engine (PostgreSQL, or a SQLite database in memory)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def next_suspect(self, after: int, end: int) -> int | None:
        sql = POSTGRES_SUSPECT if self._conn.dialect.name == "postgresql" else _named(SQLITE_SUSPECT)
        found = (await self._conn.execute(text(sql), {"after": after, "end": end})).scalar()
        return None if found is None else int(found)

    async def rows(self, after: int, end: int, limit: int) -> list[Sequence[Any]]:
        sql = _ROWS.format(a=":after", e=":end") + " LIMIT :n"
        result = await self._conn.execute(text(sql), {"after": after, "end": end, "n": limit})
        return [tuple(row) for row in result.all()]


def _named(sql: str) -> str:
    return sql.replace("seq > ?", "seq > :after", 1).replace("seq <= ?", "seq <= :end", 1)


__all__ = [
    "COLUMNS",
    "COLUMN_FIELDS",
    "POSTGRES_SUSPECT",
    "SQLITE_SUSPECT",
    "Disagreement",
    "disagreeing_columns",
    "expected_columns",
    "find_disagreement",
]
