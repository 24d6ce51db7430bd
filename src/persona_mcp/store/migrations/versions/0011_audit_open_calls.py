"""audit open-calls set

Revision ID: 0011_audit_open_calls
Revises: 0010_audit_search_indexes

The console's "unresolved calls" search was an anti-join of every intent against the outcomes: over a
million records 1.4 s on SQLite and 0.9 s on PostgreSQL, against a target of 300 ms. `audit_open_calls`
holds one row per call whose effect in Persona is unknown (by the seq of the record that lists it), kept by
the batch committer in the records' own transaction (see `persona_mcp.audit.open_calls`); the search is
then a range of its primary key. The rows of an existing log are found here with the query the search
used until now, so the set starts equal to it. Unlike the audit tables the set is not append-only: a call
leaves it when an `ok` or `error` outcome settles it. It is derived from the chain and `audit verify`
holds it against the chain, so deleting from it hides nothing that verification does not report.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_audit_open_calls"
down_revision = "0010_audit_search_indexes"
branch_labels = None
depends_on = None

_TABLE = "audit_open_calls"

#: The calls whose effect is unknown, each by its first record (the spec: `persona_mcp.audit.open_calls`),
#: as the search found them before this revision. Written out here so that the migration keeps meaning
#: what it meant when it was written.
_SETTLED = (
    "EXISTS (SELECT definite.seq FROM audit_records AS definite WHERE definite.call_id = {t}.call_id "
    "AND definite.kind = 'call.outcome' AND definite.outcome IN ('ok', 'error'))"
)
_BACKFILL = f"""
INSERT INTO {_TABLE} (seq, call_id)
SELECT open_intent.seq, open_intent.call_id FROM audit_records AS open_intent
WHERE open_intent.kind = 'call.intent' AND NOT {_SETTLED.format(t="open_intent")}
UNION ALL
SELECT open_other.seq, open_other.call_id FROM audit_records AS open_other
WHERE open_other.outcome = 'unknown' AND open_other.kind IN ('call.outcome', 'call.outcome_unknown')
AND NOT {_SETTLED.format(t="open_other")}
AND NOT EXISTS (SELECT earlier.seq FROM audit_records AS earlier WHERE earlier.call_id = open_other.call_id
AND earlier.kind IN ('call.intent', 'call.outcome', 'call.outcome_unknown') AND earlier.seq < open_other.seq)
"""


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("call_id", sa.String(64)),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{_TABLE}"),
    )
    op.create_index(f"ix_{_TABLE}_call_id", _TABLE, ["call_id"])
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table(_TABLE)
