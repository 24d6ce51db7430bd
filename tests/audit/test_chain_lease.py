"""The chain lock's lease on PostgreSQL: a writer frozen while it holds the lock loses it (issue 11).

Two ways out, one per place a writer can be frozen. After its head read (the first round trip ends with a
Sync) its session is *idle in transaction* and PostgreSQL's own timer ends it. Between pipelined messages
(its inserts sent, its COMMIT not yet) PostgreSQL shows the session as *active*, waiting on `ClientRead`,
and arms no timer: the next writer that times out on the lock ends it. Reproduction: a writer frozen
there kept the lock until its connection closed, and every other replica refused every call meanwhile
(the end-to-end test of a SIGSTOPped replica hung that way whenever the stop caught the writer after its
inserts), because that second way out looked only for sessions idle in their transaction.

The freeze here is a writer thread parked at an exact point of its batch, so each case is the one named.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import psycopg
import pytest
from sqlalchemy import text

from persona_mcp.audit import AuditLog, AuditStalledError, AuditUnavailableError, committer_postgres
from persona_mcp.audit.committer import APPLICATION_NAME
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.audit.verify import verify_log
from persona_mcp.config import StoreSettings
from persona_mcp.store import Store, create_store, serving_bounds, upgrade

from ._support import call_event, pipelined_lock_holder

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

#: A hang detector, not a speed assertion: the leases here run out after a few seconds.
GUARD_S = 20.0

#: The holder of this schema's chain lock, as PostgreSQL shows it: (pid, state, wait_event).
HOLDER_SQL = text(
    "WITH chain AS (SELECT hashtext(current_schema() || '.audit_records')::bigint AS key) "
    "SELECT activity.pid, activity.state, activity.wait_event "
    "FROM chain, pg_locks AS lock JOIN pg_stat_activity AS activity ON activity.pid = lock.pid "
    "WHERE lock.locktype = 'advisory' AND lock.granted AND lock.objsubid = 1 "
    "AND lock.classid = ((chain.key >> 32) & 4294967295)::oid "
    "AND lock.objid = (chain.key & 4294967295)::oid"
)


async def _holder(store: Store) -> tuple[int, str, str | None] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(HOLDER_SQL)).first()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


@asynccontextmanager
async def _store(postgres_schema_url: str, *, lease_s: float) -> AsyncIterator[Store]:
    """A serving store with a short lease and lock wait, its writers named for this test alone (the
    lease ends only audit writers of the same name, and other tests' writers share the default one)."""
    name = f"{APPLICATION_NAME} {uuid.uuid4().hex[:12]}"
    bounds = StoreSettings(
        lock_timeout_seconds=0.5, statement_timeout_seconds=3.0, idle_in_transaction_timeout_seconds=lease_s
    )
    store = create_store(
        f"{postgres_schema_url}&application_name={quote(name)}",
        bounds=serving_bounds(bounds, outbound_timeout_s=1),
    )
    await upgrade(store)
    try:
        yield store
    finally:
        await store.close()


class _Parked:
    """A point in a writer's batch where its thread stops until released: the writer is frozen there."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()

    def park(self) -> None:
        self.reached.set()
        self.released.wait(GUARD_S * 3)

    async def wait_reached(self) -> None:
        assert await anyio.to_thread.run_sync(self.reached.wait, GUARD_S), "the writer never got there"


async def _holder_once_settled(store: Store, state: str) -> tuple[int, str, str | None]:
    """The lock's holder once PostgreSQL shows it in `state`, waiting on its client (the frozen writer's
    last message may still be executing when it parks)."""
    with anyio.fail_after(GUARD_S):
        while True:
            holder = await _holder(store)
            if holder is not None and holder[1] == state and holder[2] == "ClientRead":
                return holder
            await anyio.sleep(0.05)


async def _call_ids(store: Store) -> set[str]:
    return {record.call_id async for record in iter_records(store, AuditFilter()) if record.call_id}


async def _frozen_append(log: AuditLog, parked: _Parked) -> asyncio.Task[Any]:
    pending = asyncio.ensure_future(log.append(call_event(0, call_id="frozen")))
    await parked.wait_reached()
    return pending


async def _assert_failed_closed(pending: asyncio.Task[Any], parked: _Parked) -> None:
    """Released, the frozen writer finds its session ended: its batch fails, nothing of it committed."""
    parked.released.set()
    with anyio.fail_after(GUARD_S), pytest.raises(AuditUnavailableError):
        await pending


async def test_a_writer_frozen_after_its_head_read_is_ended_by_postgresql_when_its_lease_runs_out(
    postgres_schema_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parked = _Parked()
    real_extend: Callable[..., Any] = committer_postgres.extend

    def extend_after_a_freeze(*args: Any, **kwargs: Any) -> Any:
        parked.park()
        return real_extend(*args, **kwargs)

    # 3 s: longer than the test takes to see the frozen writer hold the lock, which PostgreSQL then ends.
    async with _store(postgres_schema_url, lease_s=3.0) as store:
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="frozen", recover=False)
        try:
            monkeypatch.setattr(committer_postgres, "extend", extend_after_a_freeze)
            pending = await _frozen_append(log, parked)
            pid, _, _ = await _holder_once_settled(store, "idle in transaction")

            # Nobody else asks for the lock: only PostgreSQL's idle-in-transaction timer can end it.
            with anyio.fail_after(GUARD_S):
                while await _holder(store) is not None:
                    await anyio.sleep(0.1)
            async with store.engine.connect() as conn:
                sessions = text("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = :pid")
                gone = (await conn.execute(sessions, {"pid": pid})).scalar_one()
            assert gone == 0, "the frozen writer's session was ended, not only its transaction"

            monkeypatch.setattr(committer_postgres, "extend", real_extend)
            await _assert_failed_closed(pending, parked)
            await log.append(call_event(1, call_id="after"))
            assert await _call_ids(store) == {"after"}
            assert (await verify_log(store, trusted_keys=[log.public_key])).ok
        finally:
            parked.released.set()
            await log.aclose()


async def test_a_writer_frozen_between_pipelined_messages_is_ended_by_the_next_writer_timing_out_on_the_lock(
    postgres_schema_url: str, data_dir: Path
) -> None:
    """This writer sends each round trip as one message, so PostgreSQL never waits for it between two
    messages of a transaction; an audit writer of an earlier version sent one message per statement in
    pipeline mode, and one frozen there (its lock sent, its COMMIT not yet) must still lose the lock while
    replicas of both versions share a database during an upgrade. Such a writer is reproduced here with
    psycopg's pipeline under the writers' name."""
    async with _store(postgres_schema_url, lease_s=1.0) as store:
        other = await AuditLog.open(store, data_dir=data_dir, instance_id="other", recover=False)
        frozen = await anyio.to_thread.run_sync(pipelined_lock_holder, store)
        try:
            # No Sync since the lock: PostgreSQL's idle timer is not armed, the session shows as active.
            pid, _, _ = await _holder_once_settled(store, "active")

            refusals = 0
            with anyio.fail_after(GUARD_S):
                while True:
                    try:
                        await other.append(call_event(1, call_id="other"))
                        break
                    except AuditStalledError:
                        refusals += 1  # refused within the lock's bound while the frozen writer holds it
            assert refusals >= 1, "the lock was free: the frozen writer did not hold it"
            holder = await _holder(store)
            assert holder is None or holder[0] != pid
            async with store.engine.connect() as conn:
                sessions = text("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = :pid")
                assert (await conn.execute(sessions, {"pid": pid})).scalar_one() == 0, "its session ended"
            assert await _call_ids(store) == {"other"}
            assert (await verify_log(store, trusted_keys=[other.public_key])).ok
        finally:
            await anyio.to_thread.run_sync(_close_quietly, frozen)
            await other.aclose()


def _close_quietly(conn: psycopg.Connection[Any]) -> None:
    with contextlib.suppress(Exception):
        conn.close()
