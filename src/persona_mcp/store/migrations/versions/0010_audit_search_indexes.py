"""audit search indexes for the console

Revision ID: 0010_audit_search_indexes
Revises: 0005_upstream_rate_windows

The console's searches filter by principal, grant, tool, decision ("was anything denied?") and outcome, newest first, and show the
total. Without an index either is a scan of every record; with (column, seq) the count is an index range
and the newest page is read backwards along it. Unresolved calls are found from the intents and the
unknown outcomes (kind and outcome ranges), each checked against its call's other records through one
covering index, so that search never reads the records' bodies.
"""

from alembic import op

revision = "0010_audit_search_indexes"
down_revision = "0005_upstream_rate_windows"
branch_labels = None
depends_on = None


#: Single-column indexes that become (column, seq): a filtered page, newest first, is then a backward walk
#: along the index instead of a sort of every match.
_WITH_SEQ = ("principal", "grant_id", "tool")


def upgrade() -> None:
    for column in _WITH_SEQ:
        op.create_index(f"ix_audit_records_{column}_seq", "audit_records", [column, "seq"])
        op.drop_index(f"ix_audit_records_{column}", table_name="audit_records")
    op.create_index("ix_audit_records_decision_seq", "audit_records", ["decision", "seq"])
    op.create_index("ix_audit_records_outcome_seq", "audit_records", ["outcome", "seq"])
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
    op.drop_index("ix_audit_records_outcome_seq", table_name="audit_records")
    op.drop_index("ix_audit_records_decision_seq", table_name="audit_records")
