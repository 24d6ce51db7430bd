"""The chain in the database: the head lock, sealing events into records, and inserts.

Every extension of the chain happens inside `chain_transaction`, which holds the chain lock from reading
the head to committing: `pg_advisory_xact_lock` on PostgreSQL (one lock per schema), `BEGIN IMMEDIATE`
on SQLite (the database write lock, taken before the head is read). Any number of processes therefore
extend one linear chain; UNIQUE(seq) and UNIQUE(prev_hash) refuse a fork should the lock ever be bypassed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from persona_mcp.audit.checkpoint import Checkpoint
from persona_mcp.audit.record import GENESIS_HASH, AuditEvent, AuditRecord, canonical_bytes, digest
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import audit_checkpoints, audit_records

_PG_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_records'))")


@asynccontextmanager
async def chain_transaction(store: Store) -> AsyncIterator[AsyncConnection]:
    """A transaction holding the chain lock; committed (durably) when the block exits normally."""
    async with store.engine.connect() as conn:
        conn = await autocommit(conn)
        async with locked(conn, sqlite=store.is_sqlite):
            yield conn


async def autocommit(conn: AsyncConnection) -> AsyncConnection:
    """The connection in driver autocommit mode, so that `locked` can issue BEGIN/COMMIT itself.

    pysqlite would otherwise open a deferred transaction lazily; the chain needs the write lock taken
    before the head is read.
    """
    return await conn.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def locked(conn: AsyncConnection, *, sqlite: bool) -> AsyncIterator[AsyncConnection]:
    """BEGIN with the chain lock on an autocommit connection; COMMIT on success, ROLLBACK otherwise."""
    if sqlite:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        await conn.exec_driver_sql("BEGIN")
    try:
        if not sqlite:
            await conn.execute(_PG_LOCK)
        yield conn
    except BaseException:
        # SQLite may already have rolled back (e.g. disk full); keep the original error.
        with contextlib.suppress(Exception):
            await conn.exec_driver_sql("ROLLBACK")
        raise
    await conn.exec_driver_sql("COMMIT")


async def read_head(conn: AsyncConnection) -> tuple[int, str]:
    """(seq, hash) of the last record, or (0, genesis) for an empty log."""
    row = (
        await conn.execute(
            select(audit_records.c.seq, audit_records.c.hash).order_by(audit_records.c.seq.desc()).limit(1)
        )
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row.seq), str(row.hash))


def seal(
    event: AuditEvent, *, seq: int, prev_hash: str, instance_id: str, timestamp: str
) -> tuple[AuditRecord, dict[str, Any]]:
    """The record for `event` at `seq`, and its table row (canonical body plus index columns)."""
    fields = event.model_dump(mode="json")
    fields.update(seq=seq, timestamp=timestamp, instance_id=instance_id, prev_hash=prev_hash)
    body = canonical_bytes(fields)
    hash_ = digest(body)
    record = AuditRecord.model_construct(**fields, hash=hash_)
    row = {
        "seq": seq,
        "recorded_at": timestamp,
        "instance_id": instance_id,
        "kind": event.kind,
        "call_id": event.call_id,
        "principal": event.principal,
        "grant_id": event.grant_id,
        "tool": event.tool,
        "decision": event.decision,
        "outcome": event.outcome,
        "object_ids": object_ids_column(event.object_ids),
        "prev_hash": prev_hash,
        "hash": hash_,
        "body": body.decode(),
    }
    return record, row


def object_ids_column(ids: Sequence[str]) -> str | None:
    return f" {' '.join(ids)} " if ids else None


_COLUMNS = tuple(column.name for column in audit_records.columns)
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


async def insert_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert a batch as one driver-level executemany (the writer's hot path skips SQL compilation)."""
    if not rows:
        return
    marker = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if marker is None:
        await conn.execute(insert(audit_records), rows)
        return
    sql = f"INSERT INTO audit_records ({', '.join(_COLUMNS)}) VALUES ({', '.join([marker] * len(_COLUMNS))})"
    await conn.exec_driver_sql(sql, [tuple(row[c] for c in _COLUMNS) for row in rows])


async def latest_checkpoint(conn: AsyncConnection) -> Checkpoint | None:
    row = (
        await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1))
    ).first()
    return None if row is None else Checkpoint.from_row(row)


async def checkpoint_at(conn: AsyncConnection, seq: int) -> Checkpoint | None:
    row = (await conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.seq == seq))).first()
    return None if row is None else Checkpoint.from_row(row)


async def insert_checkpoint(conn: AsyncConnection, checkpoint: Checkpoint) -> None:
    await conn.execute(insert(audit_checkpoints), [checkpoint.to_row()])


async def count_records(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(audit_records))).scalar_one())


def select_unresolved(instance_id: str | None = None) -> Any:
    """Bodies of intents with no outcome and no outcome_unknown (optionally of one instance)."""
    intent = audit_records.alias("intent")
    resolution = audit_records.alias("resolution")
    resolved = (
        select(resolution.c.seq)
        .where(resolution.c.call_id == intent.c.call_id)
        .where(resolution.c.kind.in_(("call.outcome", "call.outcome_unknown")))
        .exists()
    )
    query = (
        select(intent.c.seq, intent.c.body, intent.c.hash)
        .where(intent.c.kind == "call.intent")
        .where(~resolved)
    )
    if instance_id is not None:
        query = query.where(intent.c.instance_id == instance_id)
    return query.order_by(intent.c.seq)


__all__ = [
    "autocommit",
    "chain_transaction",
    "checkpoint_at",
    "count_records",
    "insert_checkpoint",
    "insert_rows",
    "latest_checkpoint",
    "locked",
    "object_ids_column",
    "read_head",
    "seal",
    "select_unresolved",
]
