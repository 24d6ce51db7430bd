"""drop the audit (kind, instance_id) index

Revision ID: 0012_drop_kind_instance_index
Revises: 0011_audit_open_calls

Its one reader was recovery at start, which found this instance's intents without an outcome by walking
every intent the instance ever wrote: ~1 s per million records at each start on SQLite. Recovery now
looks its intents up by the seqs of the open-calls set (`chain.select_unresolved`), so nothing reads this
index, while every record written paid for it (one more B-tree to update in each record's transaction:
5-11 us of the writer's CPU per record on SQLite).
"""

from alembic import op

revision = "0012_drop_kind_instance_index"
down_revision = "0011_audit_open_calls"
branch_labels = None
depends_on = None

_INDEX = "ix_audit_records_kind_instance"


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="audit_records")


def downgrade() -> None:
    op.create_index(_INDEX, "audit_records", ["kind", "instance_id"])
