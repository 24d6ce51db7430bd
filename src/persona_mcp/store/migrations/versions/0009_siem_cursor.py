"""durable cursor of SIEM forwarding

Revision ID: 0009_siem_cursor
Revises: 0005_upstream_rate_windows
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_siem_cursor"
down_revision = "0008_webhook_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "siem_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_siem_cursors"),
    )


def downgrade() -> None:
    op.drop_table("siem_cursors")
