"""A time-bounded page costs what its window holds, not the length of the log.

Pages are ordered by seq, so a search for "the last hour" after a quiet night walked the whole log along
its primary key looking for the few records of the window (150-220 ms per 300,000 records on SQLite).
A window of at most `SMALL_WINDOW` records is now read through the time index and sorted; a larger one
keeps the walk, which fills a page quickly when matches are dense. Both give the same pages. The tests
lower `SMALL_WINDOW` to `WINDOW`, so that a log larger than it stays small.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from persona_mcp.audit import AuditEvent, query
from persona_mcp.audit.query import AuditFilter, count_before, page_records, query_records
from persona_mcp.audit.record import utc_timestamp
from persona_mcp.store import Store
from persona_mcp.testing import insert_sealed_records

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query, "SMALL_WINDOW", WINDOW)


NOW = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
WINDOW = 40
OLD = WINDOW + 30  # records two days old: more than a small window holds
RECENT = 5  # records of the last hour


async def _log_after_a_quiet_night(store: Store) -> None:
    """`OLD` records from two days ago, then `RECENT` from the last half hour, as one valid chain."""
    stamps = [NOW - timedelta(days=2, seconds=OLD - n) for n in range(OLD)]
    stamps += [NOW - timedelta(minutes=30 - n) for n in range(RECENT)]
    events = [
        AuditEvent(kind="call.outcome", call_id=f"call-{seq}", tool="get_account", outcome="ok")
        for seq in range(1, len(stamps) + 1)
    ]
    await insert_sealed_records(
        store, events, instance_id="node-1", timestamps=[utc_timestamp(stamp) for stamp in stamps]
    )
    if store.is_sqlite:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")  # what a long-running server's database would know


@contextmanager
def _statements(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the store runs meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)


async def _plans(store: Store, statements: list[tuple[str, Any]]) -> list[list[str]]:
    """SQLite's plan for each statement that reads records (not the count of the window itself)."""
    plans = []
    async with store.engine.connect() as conn:
        for statement, parameters in statements:
            if "audit_records.body" in statement or statement.lstrip().startswith(
                "SELECT count(*) AS count_1 \nFROM audit_records"
            ):
                found = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append([str(row[3]) for row in found])
    return plans


async def test_the_last_hour_after_a_quiet_night_is_read_through_the_time_index(store: Store) -> None:
    await _log_after_a_quiet_night(store)
    last_hour = AuditFilter(since=NOW - timedelta(hours=1))

    with _statements(store) as seen:
        page = await page_records(store, last_hour, limit=50)
    assert [r.seq for r in page] == list(range(OLD + RECENT, OLD, -1)), "the window's records, newest first"

    if store.is_sqlite:
        statement, parameters = next((sql, p) for sql, p in seen if "ORDER BY" in sql and "body" in sql)
        async with store.engine.connect() as conn:
            plan = [
                str(row[3])
                for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
        assert any("ix_audit_records_recorded_at" in step for step in plan), f"the log was walked: {plan}"


async def test_small_and_large_windows_give_the_same_pages_as_a_walk_would(store: Store) -> None:
    await _log_after_a_quiet_night(store)
    small = AuditFilter(since=NOW - timedelta(hours=1))
    large = AuditFilter(since=NOW - timedelta(days=3), until=NOW - timedelta(days=1))

    # Keyset pages of the small window, both ways.
    first = await page_records(store, small, limit=2)
    second = await page_records(store, small, limit=2, before_seq=first[-1].seq)
    assert [r.seq for r in first + second] == [OLD + 5, OLD + 4, OLD + 3, OLD + 2]
    oldest = await page_records(store, small, limit=3, oldest_first=True)
    assert [r.seq for r in oldest] == [OLD + 1, OLD + 2, OLD + 3]
    newest = await query_records(store, small, limit=3, newest_first=True)
    assert [r.seq for r in newest] == [OLD + 5, OLD + 4, OLD + 3]

    # The large window keeps the walk and still finds its newest and its oldest.
    assert [r.seq for r in await page_records(store, large, limit=3)] == [OLD, OLD - 1, OLD - 2]
    assert [r.seq for r in await query_records(store, large, limit=2)] == [1, 2]
    # A window that holds nothing is an empty page.
    empty = AuditFilter(since=NOW - timedelta(hours=6), until=NOW - timedelta(hours=5))
    assert await page_records(store, empty, limit=50) == []


async def test_the_next_page_and_where_it_starts_are_read_through_the_time_index_too(store: Store) -> None:
    """A keyset cursor (`seq < cursor`) and "N of M" (records before the cursor) must not turn the search
    back into a walk of everything older than the cursor."""
    await _log_after_a_quiet_night(store)
    last_hour = AuditFilter(since=NOW - timedelta(hours=1))
    first = await page_records(store, last_hour, limit=2)

    with _statements(store) as seen:
        second = await page_records(store, last_hour, limit=2, before_seq=first[-1].seq)
        before = await count_before(store, last_hour, second[0].seq)
    assert [r.seq for r in second] == [OLD + 3, OLD + 2]
    assert before == 2, "the two records of the first page come before the second"

    if store.is_sqlite:
        plans = await _plans(store, seen)
        assert len(plans) == 2, seen
        for plan in plans:
            assert any("ix_audit_records_recorded_at" in step for step in plan), f"the log was walked: {plan}"
