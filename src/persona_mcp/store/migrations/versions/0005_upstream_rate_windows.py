"""upstream rate-limit windows shared by replicas

Revision ID: 0005_upstream_rate_windows
Revises: 0004_audit_object_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_upstream_rate_windows"
down_revision = "0004_audit_object_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_rate_windows",
        sa.Column("budget", sa.String(64), nullable=False),
        sa.Column("request_limit", sa.Integer(), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("ends_at", sa.Double(), nullable=True),
        sa.Column("heard", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("in_flight", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_at", sa.Double(), nullable=False, server_default="0"),
        sa.Column("window_seconds", sa.Double(), nullable=True),
        sa.Column("held_until", sa.Double(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("budget", name="pk_upstream_rate_windows"),
    )


def downgrade() -> None:
    op.drop_table("upstream_rate_windows")
