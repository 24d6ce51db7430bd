"""Finding records: filters over the index columns, digest look-ups over the bodies.

Results are always parsed from the hashed body (never from the index columns), so what a reviewer reads is
exactly what `verify` vouches for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select

from persona_mcp.audit.record import AuditRecord, utc_timestamp
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import audit_record_objects, audit_records

_OUTCOMES = ("call.outcome", "call.outcome_unknown")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Every field narrows the result; unset fields do not filter. Digests match any one of them."""

    principal: str | None = None
    grant_id: str | None = None
    tool: str | None = None
    kind: str | None = None
    decision: str | None = None
    outcome: str | None = None
    call_id: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    unresolved: bool = False
    digests: tuple[str, ...] = ()


def _apply(query: Select[Any], flt: AuditFilter) -> Select[Any]:
    t = audit_records.c
    equal = {
        t.principal: flt.principal,
        t.grant_id: flt.grant_id,
        t.tool: flt.tool,
        t.kind: flt.kind,
        t.decision: flt.decision,
        t.outcome: flt.outcome,
        t.call_id: flt.call_id,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if flt.object_id is not None:
        # The object index (primary key object_id, seq), not a LIKE scan of every record's id list.
        named = select(audit_record_objects.c.seq).where(audit_record_objects.c.object_id == flt.object_id)
        query = query.where(t.seq.in_(named))
    if flt.since is not None:
        query = query.where(t.recorded_at >= utc_timestamp(flt.since))
    if flt.until is not None:
        query = query.where(t.recorded_at < utc_timestamp(flt.until))
    if flt.digests:
        query = query.where(or_(*(t.body.contains(d, autoescape=True) for d in flt.digests)))
    if flt.unresolved:
        # Intents whose call never got a definite outcome: none at all, or only call.outcome_unknown.
        outcome = audit_records.alias("outcome")
        settled = exists().where(outcome.c.call_id == t.call_id).where(outcome.c.kind == "call.outcome")
        query = query.where(t.kind == "call.intent").where(~settled)
    return query


def _records(rows: Sequence[Any]) -> list[AuditRecord]:
    return [AuditRecord.from_stored(row.body, row.hash) for row in rows]


async def query_records(
    store: Store, flt: AuditFilter, *, limit: int | None = 100, newest_first: bool = False
) -> list[AuditRecord]:
    """Matching records in seq order (or newest first), at most `limit`."""
    order = audit_records.c.seq.desc() if newest_first else audit_records.c.seq
    query = _apply(select(audit_records.c.body, audit_records.c.hash), flt).order_by(order)
    if limit is not None:
        query = query.limit(limit)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return _records(rows)


async def iter_records(
    store: Store, flt: AuditFilter, *, batch_size: int = 2000
) -> AsyncIterator[AuditRecord]:
    """Every matching record in seq order, fetched in keyset pages (for exports of any size)."""
    after = 0
    while True:
        query = (
            _apply(select(audit_records.c.seq, audit_records.c.body, audit_records.c.hash), flt)
            .where(audit_records.c.seq > after)
            .order_by(audit_records.c.seq)
            .limit(batch_size)
        )
        async with store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return
        for record in _records(rows):
            yield record
        after = rows[-1].seq


async def tail(store: Store, count: int, *, after_seq: int = 0) -> list[AuditRecord]:
    """The last `count` records (after `after_seq`), oldest first."""
    query = (
        select(audit_records.c.body, audit_records.c.hash)
        .where(audit_records.c.seq > after_seq)
        .order_by(audit_records.c.seq.desc())
        .limit(count)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return list(reversed(_records(rows)))


__all__ = ["AuditFilter", "iter_records", "query_records", "tail"]
