"""Finding records: filters over the index columns, digest look-ups over the bodies.

Results are always parsed from the hashed body (never from the index columns), so what a reviewer reads is
exactly what `verify` vouches for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select

from persona_mcp.audit.record import AuditRecord, utc_timestamp
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import audit_record_objects, audit_records
from persona_mcp.store.schema.grants import grants

#: The records one tool call leaves (a denial is a call too, but one that never reached Persona).
_CALL_KINDS = ("call.intent", "call.outcome", "call.outcome_unknown")
#: Outcomes that settle what a call did in Persona; `unknown` settles nothing.
_DEFINITE = ("ok", "error")


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
    #: Calls whose effect in Persona is unknown, one record each (see `_unresolved`).
    unresolved: bool = False
    digests: tuple[str, ...] = ()
    #: Only calls made under grants of these environments (a grant's environment never changes); None: all.
    environments: frozenset[str] | None = None
    #: The story of one approval: every record naming it (requested, decided, expired, used, and the
    #: records of the call that used it, which carry it in `details.approval_id`).
    approval_id: str | None = None


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
    if flt.approval_id is not None:
        query = query.where(t.body.contains(json.dumps(flt.approval_id), autoescape=True))
    if flt.digests:
        query = query.where(or_(*(t.body.contains(d, autoescape=True) for d in flt.digests)))
    if flt.environments is not None:
        in_environments = select(grants.c.id).where(grants.c.environment.in_(sorted(flt.environments)))
        query = query.where(t.grant_id.in_(in_environments))
    if flt.unresolved:
        query = _unresolved(query)
    return query


def _unresolved(query: Select[Any]) -> Select[Any]:
    """Every call whose effect in Persona is unknown, listed once, by its first record.

    A call is unresolved until a `call.outcome` says `ok` or `error`: an intent with no outcome yet, a
    `call.outcome` with `outcome: unknown` (the answer was lost, or the call was cancelled) and a
    `call.outcome_unknown` from crash recovery all leave it open. The first record of a write is its
    intent, which carries the Idempotency-Key and the arguments to check by; `--call` shows the rest. A
    call with no intent (none is written for reads) is listed by its outcome.
    """
    t = audit_records.c
    definite = audit_records.alias("definite")
    earlier = audit_records.alias("earlier")
    settled = exists().where(
        definite.c.call_id == t.call_id,
        definite.c.kind == "call.outcome",
        definite.c.outcome.in_(_DEFINITE),
    )
    not_first = exists().where(
        earlier.c.call_id == t.call_id, earlier.c.kind.in_(_CALL_KINDS), earlier.c.seq < t.seq
    )
    return query.where(t.kind.in_(_CALL_KINDS), t.call_id.is_not(None), ~settled, ~not_first)


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
