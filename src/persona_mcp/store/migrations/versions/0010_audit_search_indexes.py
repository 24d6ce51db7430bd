"""audit search indexes for the console

Revision ID: 0010_audit_search_indexes
Revises: 0005_upstream_rate_windows

The console's searches filter by principal, grant, tool, decision ("was anything denied?") and outcome,
newest first, and show the total. Principal, grant and tool indexes carry seq, so a filtered page newest
first is a backward walk along the index; denials and failures get partial indexes of their own, by
principal and by tool; unresolved calls are found from the intents (kind, call_id, seq) and checked
through a covering (call_id, kind, outcome, seq) index that replaces the call id index, without reading a
record's body.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_audit_search_indexes"
down_revision = "0009_siem_cursor"
branch_labels = None
depends_on = None


#: Single-column indexes that become (column, seq): a filtered page, newest first, is then a backward walk
#: along the index instead of a sort of every match.
_WITH_SEQ = ("principal", "grant_id", "tool")


#: Denials and failures of one principal or one tool, the reviewer's usual narrowing: partial indexes hold
#: only those rows (a few per cent), so they cost nothing when the majority is written, and SQLite's planner
#: prefers them to the (principal, seq) or (tool, seq) range, which it cannot tell is mostly the wrong rows.
_PARTIAL = {
    f"ix_audit_records_{label}_{column}": (column, where)
    for label, where in (("denied", "decision = 'denied'"), ("failed", "outcome = 'error'"))
    for column in ("principal", "tool")
}


def upgrade() -> None:
    for column in _WITH_SEQ:
        op.create_index(f"ix_audit_records_{column}_seq", "audit_records", [column, "seq"])
        op.drop_index(f"ix_audit_records_{column}", table_name="audit_records")
    op.create_index("ix_audit_records_decision_seq", "audit_records", ["decision", "seq"])
    op.create_index("ix_audit_records_outcome_seq", "audit_records", ["outcome", "seq"])
    for name, (column, where) in _PARTIAL.items():
        condition = sa.text(where)
        op.create_index(
            name, "audit_records", [column, "seq"], sqlite_where=condition, postgresql_where=condition
        )
    op.create_index("ix_audit_records_kind_seq", "audit_records", ["kind", "seq"])
    # Unresolved calls: open intents are found along (kind, call_id, seq) and each is checked through
    # (call_id, kind, outcome, seq), which also serves every look-up by call id (it replaces the call id
    # index), without reading a record's body.
    op.create_index("ix_audit_records_kind_call", "audit_records", ["kind", "call_id", "seq"])
    op.create_index("ix_audit_records_call_kind", "audit_records", ["call_id", "kind", "outcome", "seq"])
    op.drop_index("ix_audit_records_call_id", table_name="audit_records")


def downgrade() -> None:
    for column in _WITH_SEQ:
        op.create_index(f"ix_audit_records_{column}", "audit_records", [column])
        op.drop_index(f"ix_audit_records_{column}_seq", table_name="audit_records")
    op.create_index("ix_audit_records_call_id", "audit_records", ["call_id"])
    op.drop_index("ix_audit_records_call_kind", table_name="audit_records")
    op.drop_index("ix_audit_records_kind_call", table_name="audit_records")
    op.drop_index("ix_audit_records_kind_seq", table_name="audit_records")
    for name in _PARTIAL:
        op.drop_index(name, table_name="audit_records")
    op.drop_index("ix_audit_records_outcome_seq", table_name="audit_records")
    op.drop_index("ix_audit_records_decision_seq", table_name="audit_records")
