"""webhook endpoints and the events they received

Revision ID: 0008_webhook_events
Revises: 0005_upstream_rate_windows
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_webhook_events"
down_revision = "0007_oauth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_webhook_events"),
    )
    op.create_index("ix_webhook_events_object", "webhook_events", ["object_id", "created_at"])
    op.create_index("ix_webhook_events_name", "webhook_events", ["name", "created_at"])
    op.create_index("ix_webhook_events_created", "webhook_events", ["created_at"])
    op.create_index("ix_webhook_events_received", "webhook_events", ["received_at"])


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("webhook_endpoints")
