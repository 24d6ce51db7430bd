"""Tables of the audit component: the hash-chained records, their object index, the signed checkpoints.

`body` holds the record's RFC 8785 canonical JSON exactly as it was hashed, so verification re-hashes
stored bytes instead of re-encoding every row. The other record columns are copies of body fields kept
only to index searches; `audit verify` checks that they still agree with the body.
`audit_record_objects` is the index of the body's `object_ids`: one row per (object id, record), written
in the record's own transaction, so `audit query --object` is an index look-up, not a scan of every row.
`audit_open_calls` is the set of calls whose effect in Persona is unknown (`audit.open_calls`), also written
in the records' own transaction; unlike the others it shrinks (a call leaves it when it is settled), and
`audit verify` holds it against the log.
"""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from persona_mcp.store.metadata import metadata

audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded_at", String(32), nullable=False),
    Column("instance_id", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("call_id", String(64)),
    Column("principal", String(255)),
    Column("grant_id", String(64)),
    Column("tool", String(128)),
    Column("decision", String(16)),
    Column("outcome", String(16)),
    # Space-delimited with a leading and trailing space, so `LIKE '% id %'` finds one whole id.
    Column("object_ids", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    # No UNIQUE on prev_hash or hash: the primary key already refuses a fork (migration 0013 says why).
    Index("ix_audit_records_recorded_at", "recorded_at"),
    Index("ix_audit_records_principal_seq", "principal", "seq"),
    Index("ix_audit_records_grant_id_seq", "grant_id", "seq"),
    Index("ix_audit_records_tool_seq", "tool", "seq"),
    # The console's searches (0010): denied calls, outcomes and kinds, newest first, with their totals.
    Index("ix_audit_records_decision_seq", "decision", "seq"),
    Index("ix_audit_records_outcome_seq", "outcome", "seq"),
    # Partial: migration 0010 creates them with their condition on both databases. The condition is
    # kept in `info`, not as `sqlite_where`/`postgresql_where`, which would import both dialects into every
    # server (PostgreSQL's: 25 ms of an SQLite server's start); nothing builds DDL from this metadata.
    *(
        Index(f"ix_audit_records_{label}_{column}", column, "seq", info={"where": where})
        for label, where in (("denied", "decision = 'denied'"), ("failed", "outcome = 'error'"))
        for column in ("principal", "tool")
    ),
    Index("ix_audit_records_kind_seq", "kind", "seq"),
    Index("ix_audit_records_kind_call", "kind", "call_id", "seq"),
    # Every look-up by call id, and the checks of an open call, without reading the body.
    Index("ix_audit_records_call_kind", "call_id", "kind", "outcome", "seq"),
)

audit_record_objects = Table(
    "audit_record_objects",
    metadata,
    Column("object_id", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
)

audit_open_calls = Table(
    "audit_open_calls",
    metadata,
    # The record that lists the call (its intent, or without one the outcome that says unknown).
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("call_id", String(64)),
    # Settling a call deletes its rows by call id.
    Index("ix_audit_open_calls_call_id", "call_id"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("instance_id", String(200), nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
)

#: Tables whose rows may never change or disappear (triggers enforce it in the database).
APPEND_ONLY_TABLES: tuple[str, ...] = ("audit_records", "audit_record_objects", "audit_checkpoints")

__all__ = [
    "APPEND_ONLY_TABLES",
    "audit_checkpoints",
    "audit_open_calls",
    "audit_record_objects",
    "audit_records",
    "metadata",
]
