"""Issue 16.4: the open-calls set the committer keeps with the log is exactly what the log says is open.

`--unresolved` and the console's "unresolved calls" read `audit_open_calls` instead of anti-joining every
intent against the outcomes. The set must therefore hold, after any sequence of records, the answer of the
old query over the log (`open_calls.in_log`, whose docstring is the spec): intents with no outcome yet,
answers lost, crash recovery, reads whose answer was lost, settled calls left out; written in the records'
own transaction, however the records were grouped into batches; built from an existing log by migration
0011; and held against the log by `audit verify`. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import select, text

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.audit.open_calls import in_log
from persona_mcp.audit.query import AuditFilter, count_records, page_records, query_records
from persona_mcp.audit.verify import BreakKind, verify_log
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.store.schema.audit import audit_records
from persona_mcp.testing import insert_sealed_records

from ._support import call_event, execute, intent_event
from .test_unresolved import UNRESOLVED, seed_calls

pytestmark = pytest.mark.anyio


async def _the_set(store: Store) -> list[tuple[int, str]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text("SELECT seq, call_id FROM audit_open_calls ORDER BY seq"))
        return [(int(seq), str(call_id)) for seq, call_id in rows.all()]


async def _the_log_says(store: Store) -> list[tuple[int, str]]:
    """The old query's answer, computed from the log alone."""
    found = in_log().subquery()
    query = (
        select(audit_records.c.seq, audit_records.c.call_id)
        .join_from(found, audit_records, audit_records.c.seq == found.c.seq)
        .order_by(audit_records.c.seq)
    )
    async with store.engine.connect() as conn:
        return [(int(seq), str(call_id)) for seq, call_id in (await conn.execute(query)).all()]


def _intent(call_id: str) -> AuditEvent:
    return intent_event(call_id, principal="agent-2", tool="update_account")


def _outcome(call_id: str, outcome: str) -> AuditEvent:
    return call_event(0, call_id=call_id, principal="agent-2", tool="update_account", outcome=outcome)


async def test_the_set_equals_the_logs_answer_after_every_kind_of_call(store: Store, data_dir: Path) -> None:
    crashed = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    await seed_calls(crashed)
    await crashed.append(_intent("died-mid-call"))
    await crashed.aclose()  # no outcome: the next start records call.outcome_unknown for it

    log = await AuditLog.open(store, data_dir=data_dir, instance_id="node-1")
    try:
        assert [r.kind for r in await query_records(store, AuditFilter(call_id="died-mid-call"))] == [
            "call.intent",
            "call.outcome_unknown",
        ]
        the_set = await _the_set(store)
        assert the_set == await _the_log_says(store)
        assert {call_id for _, call_id in the_set} == {*UNRESOLVED, "died-mid-call"}, "one row per call"
        assert len(the_set) == len(UNRESOLVED) + 1

        # Settling calls later (the real answer found by a reviewer's check) removes them, and only them.
        await log.append(_outcome("answer-lost", "ok"))
        await log.append(_outcome("died-mid-call", "error"))
        assert await _the_set(store) == await _the_log_says(store)
        assert {call_id for _, call_id in await _the_set(store)} == {"in-flight", "crashed", "no-intent"}
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok
    finally:
        await log.aclose()


async def test_the_set_holds_when_calls_share_batches(store: Store, data_dir: Path) -> None:
    """Concurrent calls: intents, outcomes and lost answers of many calls committed together (an intent
    and its outcome often in one batch, where the intent must not be listed)."""
    endings = ("ok", "error", "unknown", None, "recovered", "unknown-then-ok")

    async def one_call(i: int, log: AuditLog) -> None:
        call_id = f"busy-{i}"
        ending = endings[i % len(endings)]
        if i % 7 == 3:  # a read: no intent, only its outcome
            await log.append(_outcome(call_id, "unknown" if ending == "unknown" else "ok"))
            return
        await log.append(_intent(call_id))
        if ending in ("ok", "error", "unknown"):
            await log.append(_outcome(call_id, ending))
        elif ending == "recovered":
            await log.append(AuditEvent(kind="call.outcome_unknown", call_id=call_id, outcome="unknown"))
        elif ending == "unknown-then-ok":
            await log.append(_outcome(call_id, "unknown"))
            await log.append(_outcome(call_id, "ok"))

    log = await AuditLog.open(store, data_dir=data_dir, instance_id="busy")
    try:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(300):
                    tg.start_soon(one_call, i, log)
        the_set = await _the_set(store)
        assert the_set == await _the_log_says(store)
        open_calls = {f"busy-{i}" for i in range(300) if endings[i % 6] in ("unknown", None, "recovered")}
        open_calls -= {f"busy-{i}" for i in range(300) if i % 7 == 3 and endings[i % 6] != "unknown"}
        assert {call_id for _, call_id in the_set} == open_calls
        assert len(the_set) == len(open_calls), "one row per call"
        # The search pages through the set, newest first, with its total.
        flt = AuditFilter(unresolved=True)
        assert await count_records(store, flt) == len(open_calls)
        first = await page_records(store, flt, limit=10)
        assert [r.seq for r in first] == sorted((seq for seq, _ in the_set), reverse=True)[:10]
    finally:
        await log.aclose()


async def test_migration_0011_builds_the_set_from_an_existing_log(database_url: str, data_dir: Path) -> None:
    store = create_store(database_url)
    try:
        await upgrade(store, "0010_audit_search_indexes")
        events = [
            _intent("old-open"),
            _intent("old-done"),
            _outcome("old-done", "ok"),
            _intent("old-lost"),
            _outcome("old-lost", "unknown"),
            _outcome("old-read-lost", "unknown"),
            _outcome("old-read-lost", "unknown"),
            AuditEvent(kind="call.outcome_unknown", call_id="old-recovered-read", outcome="unknown"),
            _outcome("old-read", "ok"),
        ]
        await insert_sealed_records(store, events)

        await upgrade(store)

        assert await _the_set(store) == [
            (1, "old-open"),
            (4, "old-lost"),
            (6, "old-read-lost"),
            (8, "old-recovered-read"),
        ]
        assert await _the_set(store) == await _the_log_says(store)
        # From then on the committer keeps it.
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="new")
        try:
            await log.append(_outcome("old-open", "ok"))
            assert [c for _, c in await _the_set(store)] == [
                "old-lost",
                "old-read-lost",
                "old-recovered-read",
            ]
        finally:
            await log.aclose()
    finally:
        await store.close()


async def test_verify_finds_a_set_that_disagrees_with_the_log(store: Store, data_dir: Path) -> None:
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="verify")
    try:
        await seed_calls(log)
        hidden = (await query_records(store, AuditFilter(call_id="in-flight")))[0].seq
        settled = (await query_records(store, AuditFilter(call_id="done")))[0].seq
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok

        # Whoever can write the set can hide an open call from the search (no trigger stops a DELETE:
        # the writer needs it) ...
        await execute(store, "DELETE FROM audit_open_calls WHERE seq = :s", {"s": hidden})
        listed = await query_records(store, AuditFilter(unresolved=True))
        assert "in-flight" not in {r.call_id for r in listed}
        # ... but not from verification, which holds the set against the chain.
        report = await verify_log(store, trusted_keys=[log.public_key])
        assert [(b.kind, b.seq) for b in report.breaks] == [(BreakKind.EDITED, hidden)]
        assert "does not list it" in report.breaks[0].detail

        await execute(
            store, "INSERT INTO audit_open_calls (seq, call_id) VALUES (:s, 'in-flight')", {"s": hidden}
        )
        await execute(
            store, "INSERT INTO audit_open_calls (seq, call_id) VALUES (:s, 'done')", {"s": settled}
        )
        report = await verify_log(store, trusted_keys=[log.public_key])
        assert [(b.kind, b.seq) for b in report.breaks] == [(BreakKind.EDITED, settled)]
        assert "lists record" in report.breaks[0].detail

        # Checking the columns is what checks the indexes; without it, the report says so.
        unchecked = await verify_log(store, trusted_keys=[log.public_key], check_columns=False)
        assert unchecked.ok and not unchecked.columns_checked
    finally:
        await log.aclose()
