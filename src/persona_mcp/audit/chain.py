"""The chain in the database: sealing events into records, and extending the chain by one batch.

Every extension happens in one transaction that holds the chain lock from reading the head to committing:
`BEGIN IMMEDIATE` on SQLite (the database write lock, taken before the head is read, across processes
sharing the file) and `pg_advisory_xact_lock` on PostgreSQL (one lock per schema, across replicas). Any
number of processes therefore extend one linear chain; the primary key on `seq` refuses a fork should the
lock ever be bypassed (a record sealed on the head at `seq` N is record N + 1, so two records with one
predecessor share a `seq`).

`extend_chain` is deliberately synchronous and driver-level: the writer runs a whole batch (lock, head,
inserts, checkpoint, commit) in one call on its own thread and its own DBAPI connection, so a batch costs
one thread hop instead of one per statement, and no SQL is compiled on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from persona_mcp.audit.checkpoint import Checkpoint, sign_checkpoint
from persona_mcp.audit.record import GENESIS_HASH, AuditEvent, AuditRecord, canonical_bytes, digest
from persona_mcp.store.engine import POSTGRES_FROZEN_ON_ITS_CLIENT
from persona_mcp.store.schema.audit import (
    audit_checkpoints,
    audit_open_calls,
    audit_record_objects,
    audit_records,
)

RECORD_COLUMNS: tuple[str, ...] = tuple(column.name for column in audit_records.columns)
CHECKPOINT_COLUMNS: tuple[str, ...] = tuple(column.name for column in audit_checkpoints.columns)
OBJECT_COLUMNS: tuple[str, ...] = tuple(column.name for column in audit_record_objects.columns)

#: Head of the chain and newest checkpoint position, read in one statement once the lock is held.
HEAD_SQL = (
    "SELECT (SELECT seq FROM audit_records ORDER BY seq DESC LIMIT 1), "
    "(SELECT hash FROM audit_records ORDER BY seq DESC LIMIT 1), "
    "(SELECT MAX(seq) FROM audit_checkpoints)"
)
PG_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_records'))"
#: Ends the session of an audit writer that holds this schema's chain lock and is frozen on its client
#: (`POSTGRES_FROZEN_ON_ITS_CLIENT`; parameters: the writers' application_name, the lease in seconds).
#: PostgreSQL's own idle-in-transaction timer covers a writer frozen after a protocol Sync; this also
#: covers one frozen between pipelined messages (say, inserts sent, COMMIT not yet), where that timer is
#: not armed. The key's two halves are how pg_locks shows a one-bigint advisory lock (classid, objid,
#: objsubid 1).
PG_END_FROZEN_HOLDER_SQL = (
    "WITH chain AS (SELECT hashtext(current_schema() || '.audit_records')::bigint AS key) "
    "SELECT COUNT(pg_terminate_backend(activity.pid)) "
    "FROM chain, pg_locks AS lock JOIN pg_stat_activity AS activity ON activity.pid = lock.pid "
    "WHERE lock.locktype = 'advisory' AND lock.granted AND lock.objsubid = 1 "
    "AND lock.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND lock.classid = ((chain.key >> 32) & 4294967295)::oid "
    "AND lock.objid = (chain.key & 4294967295)::oid "
    f"AND {POSTGRES_FROZEN_ON_ITS_CLIENT}"
)


def insert_sql(table: str, columns: Sequence[str], marker: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"


def checkpoint_sql(marker: str) -> str:
    return f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM audit_checkpoints WHERE seq = {marker}"


@dataclass(frozen=True, slots=True)
class Batch:
    """What one group commit must do: the events (already dumped to JSON-ready dicts, in queue order)
    and whether a checkpoint was asked for (`requested`) or the timer fired (`timed`)."""

    events: Sequence[dict[str, Any]]
    requested: bool = False
    timed: bool = False


@dataclass(frozen=True, slots=True)
class Committed:
    """What a committed batch produced: its records in order and the checkpoint it signed, if any.

    `current` answers a checkpoint request when nothing was added since the newest checkpoint (that
    checkpoint), and is None otherwise.
    """

    records: list[AuditRecord]
    signed: Checkpoint | None
    current: Checkpoint | None


@dataclass(frozen=True, slots=True)
class ChainPolicy:
    """Who signs, under which instance id, and how often a checkpoint is due."""

    instance_id: str
    signing_key: Ed25519PrivateKey
    checkpoint_every: int
    clock: Callable[[], str]


@dataclass(frozen=True, slots=True)
class Extension:
    """The rows to insert for a batch, computed once the head is known (`object_rows` index the
    records' object ids, in `OBJECT_COLUMNS` order)."""

    records: list[AuditRecord]
    rows: list[tuple[Any, ...]]
    signed: Checkpoint | None
    head_seq: int
    last_checkpoint_seq: int
    object_rows: list[tuple[str, int]]


def extend(head: Sequence[Any] | None, batch: Batch, policy: ChainPolicy) -> Extension:
    """Seal `batch` on top of `head` (the HEAD_SQL row) and sign a checkpoint if one is due.

    Pure computation: the caller holds the chain lock and writes the result in the same transaction.
    A checkpoint is due after `checkpoint_every` records since the newest one (whoever signed it), on
    request, or on the timer, whenever records were added since the newest checkpoint.
    """
    seq, prev_hash, last = _head_values(head)
    records: list[AuditRecord] = []
    rows: list[tuple[Any, ...]] = []
    object_rows: list[tuple[str, int]] = []
    for fields in batch.events:
        seq += 1
        record, row = seal_fields(
            fields, seq=seq, prev_hash=prev_hash, instance_id=policy.instance_id, timestamp=policy.clock()
        )
        prev_hash = record.hash
        records.append(record)
        rows.append(row)
        object_rows.extend(object_index_rows(seq, fields.get("object_ids")))
    signed: Checkpoint | None = None
    if _checkpoint_due(seq, last, batch, policy):
        signed = sign_checkpoint(
            policy.signing_key,
            seq=seq,
            hash_=prev_hash,
            timestamp=policy.clock(),
            instance_id=policy.instance_id,
            count=seq,
        )
    return Extension(records, rows, signed, seq, last, object_rows)


def signs_checkpoint(head: Sequence[Any] | None, batch: Batch, policy: ChainPolicy) -> bool:
    """Whether `extend(head, batch, policy)` would sign a checkpoint, without sealing or signing."""
    seq, _hash, last = _head_values(head)
    return _checkpoint_due(seq + len(batch.events), last, batch, policy)


def extends_known_head(batch: Batch, head: Sequence[Any], policy: ChainPolicy) -> bool:
    """Whether a writer may seal `batch` on `head`, the head its own previous batch left, without reading
    it again under the lock: records only, no checkpoint due even counting from the newest checkpoint this
    writer knows of (another writer's newer one would only make it due later). If another writer extended
    the chain meanwhile, the batch's first `seq` (the primary key) is taken and
    its first insert fails, so a stale head is never written on."""
    return bool(batch.events) and not signs_checkpoint(head, batch, policy)


def head_after(head: Sequence[Any] | None, extension: Extension) -> tuple[int, str, int]:
    """The HEAD_SQL row once `extension` (built on `head`) is committed: what the same writer's next
    batch extends, unless another writer extends the chain first."""
    _seq, prev_hash, last = _head_values(head)
    return (
        extension.head_seq,
        extension.records[-1].hash if extension.records else prev_hash,
        extension.signed.seq if extension.signed is not None else last,
    )


def _head_values(head: Sequence[Any] | None) -> tuple[int, str, int]:
    """The head's (seq, hash, newest checkpoint seq), an empty chain's where the row has NULLs."""
    seq = int(head[0]) if head is not None and head[0] is not None else 0
    prev_hash = str(head[1]) if head is not None and head[1] is not None else GENESIS_HASH
    last = int(head[2]) if head is not None and head[2] is not None else 0
    return seq, prev_hash, last


def _checkpoint_due(seq: int, last: int, batch: Batch, policy: ChainPolicy) -> bool:
    return seq > last and (batch.requested or batch.timed or seq - last >= policy.checkpoint_every)


def object_index_rows(seq: int, object_ids: Sequence[str] | None) -> list[tuple[str, int]]:
    """The `audit_record_objects` rows of one record: each object id it names, once."""
    return [(object_id, seq) for object_id in dict.fromkeys(object_ids or ())]


def wants_current(batch: Batch, extension: Extension) -> bool:
    """Whether a checkpoint request is answered by the existing newest checkpoint (nothing new)."""
    return batch.requested and extension.signed is None and extension.last_checkpoint_seq > 0


def checkpoint_values(checkpoint: Checkpoint) -> tuple[Any, ...]:
    row = checkpoint.to_row()
    return tuple(row[c] for c in CHECKPOINT_COLUMNS)


def checkpoint_from_values(values: Sequence[Any]) -> Checkpoint:
    row = dict(zip(CHECKPOINT_COLUMNS, values, strict=True))
    return Checkpoint(
        seq=row["seq"],
        hash=row["hash"],
        timestamp=row["created_at"],
        instance_id=row["instance_id"],
        count=row["record_count"],
        key_id=row["key_id"],
        public_key=row["public_key"],
        signature=row["signature"],
    )


def seal(
    event: AuditEvent, *, seq: int, prev_hash: str, instance_id: str, timestamp: str
) -> tuple[AuditRecord, dict[str, Any]]:
    """The record for `event` at `seq`, and its table row (canonical body plus index columns)."""
    record, values = seal_fields(
        event.model_dump(mode="json"),
        seq=seq,
        prev_hash=prev_hash,
        instance_id=instance_id,
        timestamp=timestamp,
    )
    return record, dict(zip(RECORD_COLUMNS, values, strict=True))


def seal_fields(
    event_fields: dict[str, Any], *, seq: int, prev_hash: str, instance_id: str, timestamp: str
) -> tuple[AuditRecord, tuple[Any, ...]]:
    """`seal` for an event already dumped with `model_dump(mode="json")`; the row as a tuple in
    `RECORD_COLUMNS` order, ready for a driver `executemany`."""
    fields = dict(event_fields)
    fields.update(seq=seq, timestamp=timestamp, instance_id=instance_id, prev_hash=prev_hash)
    body = canonical_bytes(fields)
    hash_ = digest(body)
    get = fields.get
    object_ids = object_ids_column(get("object_ids") or ())
    fields["hash"] = hash_
    record = AuditRecord.from_sealed(fields)
    values = (
        seq,
        timestamp,
        instance_id,
        fields["kind"],
        get("call_id"),
        get("principal"),
        get("grant_id"),
        get("tool"),
        get("decision"),
        get("outcome"),
        object_ids,
        prev_hash,
        hash_,
        body.decode(),
    )
    return record, values


def object_ids_column(ids: Sequence[str]) -> str | None:
    return f" {' '.join(ids)} " if ids else None


def select_unresolved(instance_id: str | None = None) -> Any:
    """Bodies of intents with no outcome and no outcome_unknown (optionally of one instance).

    Recovery runs this at every start, so it must cost the calls still open, not the log's length: the
    intents are looked up by the seqs of the open-calls set (`audit.open_calls`), which lists every
    intent whose call no `ok`/`error` outcome has settled, so every intent this can return. Scanning the
    instance's intents instead took ~1 s per million records at each start. `IN` rather than a join:
    without table statistics SQLite's planner drove a join from the intents and scanned them all.
    """
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
        .where(intent.c.seq.in_(select(audit_open_calls.c.seq)))
        .where(intent.c.kind == "call.intent")
        .where(~resolved)
    )
    if instance_id is not None:
        query = query.where(intent.c.instance_id == instance_id)
    return query.order_by(intent.c.seq)


__all__ = [
    "CHECKPOINT_COLUMNS",
    "HEAD_SQL",
    "OBJECT_COLUMNS",
    "PG_END_FROZEN_HOLDER_SQL",
    "PG_LOCK_SQL",
    "RECORD_COLUMNS",
    "Batch",
    "ChainPolicy",
    "Committed",
    "Extension",
    "checkpoint_from_values",
    "checkpoint_sql",
    "checkpoint_values",
    "extend",
    "extends_known_head",
    "head_after",
    "insert_sql",
    "object_ids_column",
    "object_index_rows",
    "seal",
    "seal_fields",
    "select_unresolved",
    "signs_checkpoint",
    "wants_current",
]
