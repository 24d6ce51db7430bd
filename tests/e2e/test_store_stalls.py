"""A stalled lock holder never hangs the other replicas (issue 11, case 2).

Reproductions: a replica frozen with SIGSTOP while it held the audit chain's advisory lock stopped the
other replica for 30 s with no call completed; a lock held from another session hung every call 31 s
with no refusal; on SQLite calls waited out a 30 s busy timeout, and `/healthz` stayed green throughout.
Now every wait on the store is bounded: the healthy replica refuses within the bound (saying the log is
stalled) or keeps serving, `/healthz` and `/readyz` answer 503 with the reason, a frozen holder loses the
lock when its lease runs out, and everything recovers once the lock is free. A later reproduction: a
replica frozen between pipelined messages (its inserts sent, its COMMIT not yet) kept the lock for good,
and the other refused every call; the frozen-replica test now freezes A at each point on purpose. (The
writer now sends each round trip as one message, so only its head read leaves it holding the lock while
PostgreSQL waits for it; the pipelined case is kept with A playing an earlier version's writer.)
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import psycopg
import pytest
from mcp.shared.exceptions import MCPError

from persona_mcp.audit.chain import PG_LOCK_SQL
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.audit.verify import verify_log

from ._stalls import (
    BOUNDS,
    CALL_GUARD_S,
    Replica,
    assert_refused_as_stalled,
    call_within_guard,
    probe,
    replica,
)

pytestmark = pytest.mark.anyio


async def _assert_stalled_everywhere(running: Replica, what: str) -> None:
    """Calls are refused within the bound, as stalled; /healthz and /readyz say so with the reason."""
    for n in range(3):
        assert_refused_as_stalled(
            await call_within_guard(running.client, "create_account", {"reference_id": f"stalled-{n}"})
        )
    health = await probe(running.http, running.base, "/healthz")
    assert health.status_code == 503
    assert "stalled" in health.json()["audit"]["reason"] and what in health.json()["audit"]["reason"]
    ready = await probe(running.http, running.base, "/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and "stalled" in ready.json()["audit"]["reason"]


async def _assert_recovered(running: Replica) -> None:
    ready = await probe(running.http, running.base, "/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["status"] == "ready"
    health = await probe(running.http, running.base, "/healthz")
    assert health.status_code == 200, health.json()
    result = await call_within_guard(running.client, "create_account", {"reference_id": "after-the-stall"})
    assert not isinstance(result, MCPError) and not result.is_error


# -- PostgreSQL -------------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_a_chain_lock_held_from_another_session_gets_calls_refused_within_the_bound_never_hung(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    async with replica(tmp_path, postgres_schema_url) as running:
        first = await call_within_guard(running.client, "create_account", {"reference_id": "before"})
        assert not isinstance(first, MCPError) and not first.is_error

        # A psql session that took the chain lock and went idle inside its transaction (no idle timeout
        # of its own: it holds the lock until it is told to let go).
        holder = await psycopg.AsyncConnection.connect(postgres_schema_url)
        try:
            await holder.execute(PG_LOCK_SQL)
            await _assert_stalled_everywhere(running, "chain lock")
        finally:
            await holder.rollback()
            await holder.close()

        await _assert_recovered(running)
        assert (await verify_log(running.app.store, trusted_keys=[running.app.audit.public_key])).ok


#: Replica A: the real audit writer, frozen (SIGSTOP) while it holds the chain lock inside its transaction,
#: at the point named by its last argument. Its connection carries the serving bounds, the lease
#: (idle_in_transaction) included. The writer thread that stops the process never goes on: SIGSTOP reaches
#: the other threads when the kernel delivers it, and a writer that ran on meanwhile would be frozen
#: somewhere else than the test says (or not holding the lock at all).
_FROZEN_REPLICA = textwrap.dedent(
    """
    import asyncio, os, signal, sys, threading
    from pathlib import Path

    from persona_mcp.audit import AuditEvent, AuditLog, committer_postgres
    from persona_mcp.config import StoreSettings
    from persona_mcp.store import create_store, serving_bounds

    url, data_dir, lease, where = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, sys.argv[5])  # the tests' directory: their helpers

    def freeze():
        print("holding the chain lock", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
        threading.Event().wait()

    def freeze_after_the_head_read(*args, **kwargs):
        freeze()

    def frozen_between_pipelined_messages(store):
        # This version sends each round trip as one message; an earlier one sent a message per statement
        # in pipeline mode. Its writer, frozen with the lock sent and no Sync, under the writers' name,
        # is the holder replicas of both versions must end.
        import time
        from audit._support import pipelined_lock_holder
        from persona_mcp.audit.committer import APPLICATION_NAME

        holder = pipelined_lock_holder(store, APPLICATION_NAME)
        time.sleep(0.5)  # the server has run both statements before the process stops
        freeze()
        return holder

    async def main():
        lease_only = StoreSettings(idle_in_transaction_timeout_seconds=lease)
        bounds = serving_bounds(lease_only, outbound_timeout_s=1)
        store = create_store(url, bounds=bounds)
        if where == "between pipelined messages":
            frozen_between_pipelined_messages(store)
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="frozen-replica", recover=False)
        committer_postgres.extend = freeze_after_the_head_read
        await log.append(AuditEvent(kind="call.outcome", call_id="frozen", outcome="ok"))

    asyncio.run(main())
    """
)
#: A's own lease: longer than the test takes to ask for the lock while A holds it, so that what ends A's
#: session is B's lease (B times out on the lock and ends an audit writer that has waited on its client
#: for longer than that). PostgreSQL's own timer is tested in tests/audit/test_chain_lease.py.
_FROZEN_LEASE_S = 60


def _stopped(pid: int) -> bool:
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "T"


@pytest.mark.postgres
@pytest.mark.parametrize("freeze_point", ["after its head read", "between pipelined messages"])
async def test_a_replica_frozen_while_holding_the_chain_lock_loses_it_and_the_other_keeps_serving(
    tmp_path: Path, postgres_schema_url: str, freeze_point: str
) -> None:
    async with replica(tmp_path, postgres_schema_url) as running:
        data_dir = tmp_path / "frozen"
        data_dir.mkdir()
        frozen = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _FROZEN_REPLICA,
                postgres_schema_url,
                str(data_dir),
                str(_FROZEN_LEASE_S),
                freeze_point,
                str(Path(__file__).parents[1]),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert frozen.stdout is not None
            with anyio.fail_after(30):
                line = await anyio.to_thread.run_sync(frozen.stdout.readline)
            assert line.strip() == "holding the chain lock", line
            with anyio.fail_after(10):
                while not _stopped(frozen.pid):
                    await anyio.sleep(0.05)

            # While A holds the lock: refused within the bound, as a stall; never hung.
            assert_refused_as_stalled(
                await call_within_guard(running.client, "create_account", {"reference_id": "during"})
            )
            health = await probe(running.http, running.base, "/healthz")
            assert health.status_code == 503 and "chain lock" in health.json()["audit"]["reason"]

            # B's lease runs out on A (B ends the session of a writer frozen that long): B serves again
            # while A is frozen.
            served = None
            with anyio.fail_after(BOUNDS.idle_in_transaction_timeout_seconds + 6 * CALL_GUARD_S):
                n = 0
                while served is None:
                    n += 1
                    outcome = await call_within_guard(
                        running.client, "create_account", {"reference_id": f"retry-{n}"}
                    )
                    if isinstance(outcome, MCPError):
                        assert_refused_as_stalled(outcome)
                        await anyio.sleep(0.2)
                    else:
                        served = outcome
            assert not served.is_error
            assert _stopped(frozen.pid), "B was served again while A is still frozen: A lost the lock"
            await _assert_recovered(running)
        finally:
            frozen.kill()  # SIGKILL ends a stopped process too
            frozen.wait(timeout=30)
        report = await verify_log(running.app.store, trusted_keys=[running.app.audit.public_key])
        assert report.ok
        call_ids = {r.call_id async for r in iter_records(running.app.store, AuditFilter())}
        assert "frozen" not in call_ids, "A's transaction was aborted: nothing of its batch was committed"


# -- SQLite -------------------------------------------------------------------------------------------


async def test_sqlite_write_lock_held_by_another_connection_gets_calls_refused_within_the_short_bound(
    tmp_path: Path,
) -> None:
    async with replica(tmp_path) as running:
        first = await call_within_guard(running.client, "create_account", {"reference_id": "before"})
        assert not isinstance(first, MCPError) and not first.is_error

        database = running.app.store.engine.url.database
        assert database is not None
        holder = sqlite3.connect(database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            await _assert_stalled_everywhere(running, "write lock")
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        await _assert_recovered(running)
