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

from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select

from persona_mcp.audit.checkpoint import Checkpoint
from persona_mcp.audit.record import AuditRecord, utc_timestamp
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import (
    audit_checkpoints,
    audit_open_calls,
    audit_record_objects,
    audit_records,
)
from persona_mcp.store.schema.grants import grants
from persona_mcp.store.sqlalchemy_async import AsyncConnection


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
    #: Any unique start of a call id (a reviewer pastes what a narrow terminal showed).
    call_id_prefix: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Calls whose effect in Persona is unknown, one record each (see `_unresolved`).
    unresolved: bool = False
    digests: tuple[str, ...] = ()
    #: Only calls made under grants of these environments (a grant's environment never changes); None: all.
    environments: frozenset[str] | None = None
    seq: int | None = None
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
        t.call_id: flt.call_id,
        t.seq: flt.seq,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    # Denials and failures have partial indexes (by principal and by tool); the value is written into
    # the SQL so that the planner can see that they apply.
    for column, value in ((t.decision, flt.decision), (t.outcome, flt.outcome)):
        if value is not None:
            query = query.where(column == _literal(value))
    if flt.call_id_prefix:
        # A range the call id index can serve (LIKE cannot use it on SQLite), then the exact test.
        prefix = flt.call_id_prefix
        query = query.where(
            t.call_id >= prefix,
            t.call_id < prefix + "\U0010ffff",
            t.call_id.startswith(prefix, autoescape=True),
        )
    if flt.object_id is not None:
        # The object index (primary key object_id, seq), not a LIKE scan of every record's id list.
        named = select(audit_record_objects.c.seq).where(audit_record_objects.c.object_id == flt.object_id)
        query = query.where(t.seq.in_(named))
    query = query.where(*_time_window(flt))
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


def _time_window(flt: AuditFilter) -> list[ColumnElement[bool]]:
    """The conditions of the filter's `since`/`until` window (none without one)."""
    t = audit_records.c
    window = []
    if flt.since is not None:
        window.append(t.recorded_at >= utc_timestamp(flt.since))
    if flt.until is not None:
        window.append(t.recorded_at < utc_timestamp(flt.until))
    return window


def _unresolved(query: Select[Any]) -> Select[Any]:
    """Every call whose effect in Persona is unknown, listed once, by its first record.

    A call is unresolved until a `call.outcome` says `ok` or `error`: an intent with no outcome yet, a
    `call.outcome` with `outcome: unknown` (the answer was lost, or the call was cancelled) and a
    `call.outcome_unknown` from crash recovery all leave it open. The first record of a write is its
    intent, which carries the Idempotency-Key and the arguments to check by; `--call` shows the rest. A
    call with no intent (none is written for reads) is listed by its outcome.

    Read from the open-calls set the committer keeps with the log (`open_calls`), joined by seq: the
    page is a walk of the set's primary key, each entry a look-up of its record, not an anti-join of
    every intent against the outcomes. Written as `seq IN (set)` rather than a JOIN: SQLite then drives
    the search from the set (as the IN operator's index) whether or not it has statistics, where a JOIN
    without them was planned as a backward scan of every record probing the set (100 ms per 200,000).
    """
    return query.where(audit_records.c.seq.in_(select(audit_open_calls.c.seq)))


def _literal(value: str) -> Any:
    """A decision or outcome value as an SQL literal (validated upstream against a short vocabulary;
    quotes doubled regardless)."""
    return literal_column("'" + value.replace("'", "''") + "'")


def _records(rows: Sequence[Any]) -> list[AuditRecord]:
    return [AuditRecord.from_stored(row.body, row.hash) for row in rows]


#: A time window holding at most this many records is read through the time index and sorted (at most
#: ~100 ms on SQLite); a larger one is walked in seq order.
SMALL_WINDOW = 20_000


async def _seq_for(conn: AsyncConnection, flt: AuditFilter) -> ColumnElement[Any]:
    """The seq a page orders and bounds by: `seq`, or, when the filter's time window holds few records,
    `seq + 0`.

    A page is ordered by seq, so SQLite's planner walks the log along its primary key and tests each
    record against the window, which pays off when the window is large and near the newest records.
    When the window holds few records (the last hour after a quiet night) or lies far back (the oldest
    day), that walk reads most of the log before it finds them: 130-220 ms per 300,000 records; so did a
    keyset bound (`seq < cursor`) on the next page and the count of where that page starts. `seq + 0`
    is the same value, but the planner can no longer take it from the primary key, so it reads the
    window through `ix_audit_records_recorded_at` (and sorts what it found). Counting the window first
    stops at `SMALL_WINDOW + 1` records, so the check costs a few ms at most. A large window far from
    the newest records is still walked.
    """
    t = audit_records.c
    window = _time_window(flt)
    if not window:
        return t.seq
    in_window = select(t.seq).where(*window).limit(SMALL_WINDOW + 1).subquery()
    held = select(func.count()).select_from(in_window)
    return t.seq + 0 if int((await conn.execute(held)).scalar_one()) <= SMALL_WINDOW else t.seq


async def query_records(
    store: Store, flt: AuditFilter, *, limit: int | None = 100, newest_first: bool = False
) -> list[AuditRecord]:
    """Matching records in seq order (or newest first), at most `limit`."""
    async with store.engine.connect() as conn:
        seq = await _seq_for(conn, flt)
        query = _apply(select(audit_records.c.body, audit_records.c.hash), flt)
        query = query.order_by(seq.desc() if newest_first else seq)
        if limit is not None:
            query = query.limit(limit)
        rows = (await conn.execute(query)).all()
    return _records(rows)


async def count_records(store: Store, flt: AuditFilter) -> int:
    """How many records match: pages say "N of M", never a silently cut list."""
    query = _apply(select(func.count()).select_from(audit_records), flt)
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def page_records(
    store: Store, flt: AuditFilter, *, limit: int, before_seq: int | None = None, oldest_first: bool = False
) -> list[AuditRecord]:
    """One keyset page: newest first below `before_seq` (or oldest first above it, for timelines).

    Keyset rather than OFFSET, so the thousandth page of a million records costs what the first does.
    """
    t = audit_records.c
    async with store.engine.connect() as conn:
        seq = await _seq_for(conn, flt)
        query = _apply(select(t.body, t.hash), flt)
        if before_seq is not None:
            query = query.where(seq > before_seq) if oldest_first else query.where(seq < before_seq)
        query = query.order_by(seq if oldest_first else seq.desc()).limit(limit)
        rows = (await conn.execute(query)).all()
    return _records(rows)


async def count_before(store: Store, flt: AuditFilter, seq: int) -> int:
    """How many matching records come before position `seq`: where a page starts in "N of M"."""
    async with store.engine.connect() as conn:
        position = await _seq_for(conn, flt)
        query = _apply(select(func.count()).select_from(audit_records), flt).where(position < seq)
        return int((await conn.execute(query)).scalar_one())


async def last_recorded_at(store: Store, grant_id: str) -> str | None:
    """When a grant was last used (its newest record), as recorded; None if never."""
    t = audit_records.c
    query = select(t.recorded_at).where(t.grant_id == grant_id).order_by(t.seq.desc()).limit(1)
    async with store.engine.connect() as conn:
        value = (await conn.execute(query)).scalar_one_or_none()
    return str(value) if value is not None else None


async def covering_checkpoint(store: Store, seq: int) -> Checkpoint | None:
    """The first signed checkpoint at or after `seq`: the signature that vouches for that record."""
    c = audit_checkpoints.c
    query = select(audit_checkpoints).where(c.seq >= seq).order_by(c.seq).limit(1)
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Checkpoint.from_row(row)


async def record_at(store: Store, seq: int) -> AuditRecord | None:
    """The record at one position of the chain, if there is one."""
    query = select(audit_records.c.body, audit_records.c.hash).where(audit_records.c.seq == seq)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    records = _records(rows)
    return records[0] if records else None


async def call_ids_starting_with(store: Store, prefix: str, *, limit: int) -> list[str]:
    """Distinct recorded call ids that start with `prefix` (at most `limit`), for typing a short one."""
    t = audit_records.c
    query = (
        select(t.call_id)
        .where(t.call_id.startswith(prefix, autoescape=True))
        .group_by(t.call_id)
        .order_by(t.call_id)
        .limit(limit)
    )
    async with store.engine.connect() as conn:
        return [row.call_id for row in await conn.execute(query)]


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


__all__ = [
    "SMALL_WINDOW",
    "AuditFilter",
    "call_ids_starting_with",
    "count_before",
    "count_records",
    "covering_checkpoint",
    "iter_records",
    "last_recorded_at",
    "page_records",
    "query_records",
    "record_at",
    "tail",
]
