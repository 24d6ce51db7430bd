"""Helpers for the audit tests: events, filling a log through the real writer, playing the attacker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import psycopg
from sqlalchemy import text

from persona_mcp.audit import AuditEvent, AuditLog, AuditRecord
from persona_mcp.audit.chain import PG_LOCK_SQL
from persona_mcp.store import Store
from persona_mcp.store.engine import postgres_connect_kwargs


def call_event(i: int, **overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "kind": "call.outcome",
        "call_id": f"call-{i}",
        "principal": f"agent-{i % 3}",
        "grant_id": f"grt_{i % 5}",
        "tool": "get_account" if i % 2 else "update_account",
        "scope": "accounts:read",
        "decision": "allowed",
        "arguments": {"account_id": f"act_{i}"},
        "upstream_method": "GET",
        "upstream_path": f"/accounts/act_{i}",
        "upstream_status": 200,
        "persona_request_id": f"req_{i}",
        "object_ids": [f"act_{i}"],
        "attempts": 1,
        "latency_ms": 1.5,
        "outcome": "ok",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def intent_event(call_id: str, **overrides: Any) -> AuditEvent:
    """A write's intent record (what the pipeline appends before Persona sees the request)."""
    fields: dict[str, Any] = {
        "kind": "call.intent",
        "call_id": call_id,
        "principal": "agent",
        "tool": "create_account",
        "scope": "accounts:write",
        "decision": "allowed",
        "idempotency_key": f"key-{call_id}",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


async def fill(log: AuditLog, count: int, start: int = 0) -> list[AuditRecord]:
    """Append `count` events concurrently (group commit) and return them in seq order."""
    records: list[AuditRecord] = []

    async def one(i: int) -> None:
        records.append(await log.append(call_event(i)))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i in range(start, start + count):
                tg.start_soon(one, i)
    return sorted(records, key=lambda r: r.seq)


async def written_log(
    store: Store, data_dir: Path, count: int, *, instance_id: str, **options: Any
) -> AuditLog:
    """Open a log on `store`, `fill` it with `count` records and close it (its final checkpoint
    written); the closed log is returned for its public key."""
    log = await AuditLog.open(store, data_dir=data_dir, instance_id=instance_id, **options)
    try:
        await fill(log, count)
    finally:
        await log.aclose()
    return log


async def execute(store: Store, sql: str, params: dict[str, Any] | None = None) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(sql), params or {})


async def drop_append_only_triggers(store: Store) -> None:
    """What an attacker with database access does first."""
    tables = ("audit_records", "audit_checkpoints", "audit_record_objects")
    if store.is_sqlite:
        for table in tables:
            await execute(store, f"DROP TRIGGER IF EXISTS {table}_no_update")
            await execute(store, f"DROP TRIGGER IF EXISTS {table}_no_delete")
    else:
        for table in tables:
            await execute(store, f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            await execute(store, f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


async def scalar(store: Store, sql: str, params: dict[str, Any] | None = None) -> Any:
    async with store.engine.connect() as conn:
        return (await conn.execute(text(sql), params or {})).scalar_one()


async def replace_records(store: Store, rows: list[dict[str, Any]]) -> None:
    """Replace every record, its object index and the open-calls set with `rows` (sealed by
    `chain.seal`), as an attacker who rewrites the chain would; the append-only triggers must be dropped
    first."""
    from persona_mcp.audit.chain import object_index_rows
    from persona_mcp.audit.open_calls import rebuild_statement
    from persona_mcp.store.schema.audit import audit_record_objects, audit_records

    await execute(store, "DELETE FROM audit_record_objects")
    await execute(store, "DELETE FROM audit_open_calls")
    await execute(store, "DELETE FROM audit_records")
    index = [
        {"object_id": object_id, "seq": seq}
        for row in rows
        for object_id, seq in object_index_rows(row["seq"], (row["object_ids"] or "").split())
    ]
    async with store.engine.begin() as conn:
        await conn.execute(audit_records.insert(), rows)
        if index:
            await conn.execute(audit_record_objects.insert(), index)
        await conn.execute(rebuild_statement())


def pipelined_lock_holder(store: Store, application_name: str | None = None) -> psycopg.Connection[Any]:
    """An audit writer of an earlier version, frozen between pipelined messages: a session in pipeline
    mode that has sent BEGIN and the chain lock and no Sync (libpq's pipeline mode itself, so that nothing
    sends one). PostgreSQL shows it `active`, waiting on `ClientRead`, with no idle timer armed. Keep the
    connection referenced: it is the holder."""
    kwargs = postgres_connect_kwargs(store)
    if application_name is not None:
        kwargs.setdefault("application_name", application_name)
    conn = psycopg.connect(**kwargs, autocommit=True)
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    for statement in ("BEGIN", PG_LOCK_SQL):
        pgconn.send_query_params(statement.encode(), None)
    pgconn.send_flush_request()
    while pgconn.flush():
        pass
    return conn


@contextmanager
def chain_lock_held(store: Store) -> Iterator[psycopg.Connection[Any]]:
    """Another PostgreSQL session holding the chain lock in an open transaction, as a replica in the
    middle of its commit, until it rolls back (or the block ends)."""
    holder = psycopg.connect(**postgres_connect_kwargs(store))
    try:
        holder.execute(PG_LOCK_SQL)
        yield holder
    finally:
        holder.close()


async def append_while_locked(log: AuditLog, event: AuditEvent, release: Callable[[], object]) -> int:
    """Append `event` while another session holds the database's write lock: the event loop keeps running
    and the append waits; then `release` the lock. The seq the record was committed as."""
    done: list[int] = []

    async def append() -> None:
        done.append((await log.append(event)).seq)

    async with anyio.create_task_group() as tg:
        tg.start_soon(append)
        ticks_started = time.monotonic()
        for _ in range(10):
            await anyio.sleep(0.01)
        assert time.monotonic() - ticks_started < 1.0, "the event loop kept running"
        assert done == [], "the append is waiting for the lock, not committed around it"
        release()
        with anyio.fail_after(10):
            while not done:
                await anyio.sleep(0.01)
    return done[0]
