"""Concurrent calls share audit commits (issue 18, points 2 and 5), on SQLite and PostgreSQL.

Counted, not timed: the audit log counts the batches it committed. A write is two records (intent before
Persona sees the request, outcome before the answer returns); calls in flight at the same time put their
records in the same commits: on SQLite an append waits for those of the other calls in flight (committed
together on the loop, or in the writer thread's batch when it is busy), on PostgreSQL the writer thread's.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
from mcp_types import CallToolResult

from persona_mcp.persona.ratelimit import Admission, RateGate
from persona_mcp.sandbox import DEFAULT_API_KEY, Faults, SandboxConfig, create_app
from persona_mcp.testing import connected

from ._chain import all_records, assert_linear, assert_verifies

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WRITES = 24


async def test_concurrent_writes_share_commits(tmp_path: Path, database_url: str) -> None:
    # Persona answers after 30 ms and the calls start 4 ms apart, so by the clock every append looks
    # idle (more than 2 ms after the previous one): only the calls in flight tell the log not to commit
    # each alone.
    sandbox = create_app(
        SandboxConfig(api_keys=frozenset({DEFAULT_API_KEY}), seed="demo", faults=Faults(latency_ms=30))
    )
    async with connected(tmp_path, ["accounts:write"], database_url=database_url, sandbox=sandbox) as h:
        audit = h.app.audit
        before, before_inline = audit.commits
        records_before = len(await all_records(h.app.store))

        async def create(i: int) -> None:
            result = await h.client.call_tool("create_account", {"reference_id": f"group-commit-{i}"})
            assert not result.is_error, result.content

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(WRITES):
                    tg.start_soon(create, i)
                    await anyio.sleep(0.004)

        commits, inline = audit.commits
        records = await all_records(h.app.store)
        written = len(records) - records_before
        assert written == 2 * WRITES, "an intent and an outcome per write"
        assert commits - before < written, f"{commits - before} commits for {written} records: none shared"
        if h.app.store.dialect == "postgresql":
            # Round trips awaited on the loop, one batch in flight; only a batch that reads the head under
            # the lock (a checkpoint falling due) goes to the writer thread.
            on_thread = (commits - before) - (inline - before_inline)
            assert on_thread <= 1, f"{on_thread} of {commits - before} batches committed on the thread"
        assert_linear(records)
        await assert_verifies(h.app.store, audit.public_key)


async def test_a_write_gets_its_permit_while_its_intent_commits_and_sends_only_once_it_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, point 2: the intent's commit overlaps the work before the request (credential, rate
    permit, request building), so a lone write does not wait for it and then for that work; the request
    still goes out only after the intent is durable. Shown with the database's write lock held by another
    connection: the intent cannot commit, yet the call gets its permit; nothing is sent until the lock
    is released."""
    admitted = anyio.Event()
    admit = RateGate.admit

    async def admit_and_tell(self: RateGate, budget: str = "default") -> Admission:
        admission = await admit(self, budget)
        admitted.set()
        return admission

    monkeypatch.setattr(RateGate, "admit", admit_and_tell)
    async with connected(tmp_path, ["accounts:write"]) as h:
        records_before = len(await all_records(h.app.store))
        blocker = sqlite3.connect(tmp_path / "persona-mcp.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the audit log's commit waits for this lock
        try:
            async with anyio.create_task_group() as tg:
                results: list[CallToolResult] = []

                async def create() -> None:
                    results.append(await h.client.call_tool("create_account", {"reference_id": "overlap"}))

                tg.start_soon(create)
                with anyio.fail_after(10):
                    await admitted.wait()  # the permit, while the intent cannot have committed
                await anyio.sleep(0.2)
                assert h.sandbox.counters["accounts.create"] == 0, "sent before its intent was durable"
                assert len(await all_records(h.app.store)) == records_before
                blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert not results[0].is_error, results[0].content
        assert h.sandbox.counters["accounts.create"] == 1
        records = (await all_records(h.app.store))[records_before:]
        assert [r.kind for r in records] == ["call.intent", "call.outcome"]
        assert_linear(await all_records(h.app.store))
