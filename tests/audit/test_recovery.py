"""A crash between intent and outcome leaves an intent that the next start resolves as outcome_unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.audit.chain import select_unresolved
from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.audit.record import AuditRecord
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store

from ._support import intent_event

pytestmark = pytest.mark.anyio


def _intent(call_id: str) -> AuditEvent:
    return intent_event(
        call_id,
        grant_id="grt_1",
        idempotency_key=f"idem-{call_id}",
        upstream_method="POST",
        upstream_path="/accounts",
    )


async def test_an_intent_without_outcome_is_resolved_as_unknown_at_the_next_open(
    store: Store, data_dir: Path
) -> None:
    crashed = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    await crashed.append(_intent("c-done"))
    await crashed.append(
        AuditEvent(kind="call.outcome", call_id="c-done", outcome="ok", tool="create_account")
    )
    intent = await crashed.append(_intent("c-lost"))
    await crashed.aclose()  # the process "dies" here: no outcome for c-lost

    restarted = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    try:
        resolved = await query_records(store, AuditFilter(call_id="c-lost"))
        assert [r.kind for r in resolved] == ["call.intent", "call.outcome_unknown"]
        unknown = resolved[1]
        assert unknown.outcome == "unknown"
        assert unknown.idempotency_key == intent.idempotency_key
        assert f"seq {intent.seq}" in (unknown.reason or "")
        assert resolved[0] == intent, "the intent itself is never changed"

        unresolved = await query_records(store, AuditFilter(unresolved=True))
        assert [r.call_id for r in unresolved] == ["c-lost"]
        assert (await verify_log(store, trusted_keys=[restarted.public_key])).ok
        assert await restarted.recover() == [], "resolving twice adds nothing"
    finally:
        await restarted.aclose()


async def test_another_instances_open_intents_are_left_alone(store: Store, data_dir: Path) -> None:
    other = await AuditLog.open(store, data_dir=data_dir, instance_id="node-2")
    await other.append(_intent("in-flight"))

    mine = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    try:
        assert [r.kind for r in await query_records(store, AuditFilter(call_id="in-flight"))] == [
            "call.intent"
        ]
    finally:
        await mine.aclose()
        await other.aclose()


async def test_recovery_looks_up_only_the_calls_still_open(store: Store, data_dir: Path) -> None:
    """Recovery runs at every start, so it must cost the calls still open, not every intent the instance
    ever wrote: its intents are looked up by the seqs of the open-calls set."""
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    for n in range(20):
        await log.append(_intent(f"settled-{n}"))
        await log.append(AuditEvent(kind="call.outcome", call_id=f"settled-{n}", outcome="ok", tool="t"))
    await log.append(_intent("lost"))
    # Still open (its effect is unknown), but it has an outcome: not for recovery to resolve.
    await log.append(_intent("answer-lost"))
    await log.append(AuditEvent(kind="call.outcome", call_id="answer-lost", outcome="unknown", tool="t"))
    await log.aclose()

    statement = select_unresolved("node-1")
    async with store.engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
        assert [AuditRecord.from_stored(row.body, row.hash).call_id for row in rows] == ["lost"]
        if store.is_sqlite:
            sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = [str(row[3]) for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
            reads = [step for step in plan if " intent " in f"{step} "]
            assert reads, plan
            assert all("seq=?" in step for step in reads), f"intents read other than by seq: {plan}"


async def test_the_intents_a_crash_left_open_are_resolved_together_in_intent_order(
    store: Store, data_dir: Path
) -> None:
    crashed = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    intents = [await crashed.append(_intent(f"lost-{n}")) for n in range(6)]
    await crashed.aclose()

    restarted = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    try:
        unknown = await query_records(store, AuditFilter(kind="call.outcome_unknown"))
        assert [r.call_id for r in unknown] == [i.call_id for i in intents], "one each, in intent order"
        assert [r.seq for r in unknown] == list(range(unknown[0].seq, unknown[0].seq + 6))
        batches, _inline = restarted.commits
        assert batches < 6, "they share commits instead of waiting for one after another"
    finally:
        await restarted.aclose()
