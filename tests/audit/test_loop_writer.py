"""On PostgreSQL the audit log commits on the event loop: awaited round trips, no writer thread (issue 18).

A commit is a network round trip. On a writer thread each record waited for the thread to get the GIL
back from the event loop on every return from the network (6-9 ms from submitted to durable at 8
sessions); awaited on the loop there is no hand-off, and the loop is never blocked: appends submitted
while a commit is in flight queue for the next one and share it, in the order they were submitted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from persona_mcp.audit import AuditLog
from persona_mcp.audit.chain import PG_LOCK_SQL
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store, create_store, upgrade

from ._support import call_event

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
async def pg_store(postgres_schema_url: str) -> AsyncIterator[Store]:
    store = create_store(postgres_schema_url)
    await upgrade(store)
    try:
        yield store
    finally:
        await store.close()


def _writer_threads() -> set[str]:
    return {thread.name for thread in threading.enumerate() if thread.name.startswith("audit-writer")}


async def test_a_postgresql_audit_log_commits_on_the_event_loop_with_no_writer_thread(
    pg_store: Store, data_dir: Path
) -> None:
    before = _writer_threads()
    log = await AuditLog.open(pg_store, data_dir=data_dir, instance_id="loop", recover=False)
    try:
        assert _writer_threads() == before, "no thread commits PostgreSQL's batches"
        first = await log.append(call_event(1))
        # Durable and visible to another connection when `append` returns.
        async with pg_store.engine.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM audit_records"))).scalar_one()
        assert (first.seq, stored) == (1, 1)
        assert log.commits == (1, 1), "one commit, on the event loop"
    finally:
        await log.aclose()
    assert (await verify_log(pg_store, trusted_keys=[log.public_key])).ok


async def test_appends_made_while_a_commit_waits_share_the_next_one_in_the_order_they_were_made(
    pg_store: Store, data_dir: Path
) -> None:
    log = await AuditLog.open(pg_store, data_dir=data_dir, instance_id="loop", recover=False)
    try:
        async with pg_store.engine.connect() as holder:
            await holder.begin()
            await holder.execute(text(PG_LOCK_SQL))  # another replica holds the chain lock
            first = log.submit(call_event(0))
            await anyio.sleep(0.2)  # the writer has sent the first batch and waits for the lock
            assert not first.done()
            later = [log.submit(call_event(i)) for i in range(1, 11)]
            ticks = 0
            while ticks < 5:  # the event loop runs on while the commit waits
                await anyio.sleep(0.01)
                ticks += 1
            assert not first.done()
            await holder.rollback()  # the lock is released
        with anyio.fail_after(10):
            records = await asyncio.gather(first, *later)
        assert [record.seq for record in records] == list(range(1, 12)), "chained in submission order"
        assert log.commits[0] == 2, "the ten appends made during the first commit shared the second"
    finally:
        await log.aclose()
    assert (await verify_log(pg_store, trusted_keys=[log.public_key])).ok
