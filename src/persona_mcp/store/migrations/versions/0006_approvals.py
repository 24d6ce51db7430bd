"""approvals, per-tool call windows, circuit breakers; grants' approval policy and tool limits

Revision ID: 0006_approvals
Revises: 0005_upstream_rate_windows
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_approvals"
down_revision = "0005_upstream_rate_windows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("require_approval", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("no_approval", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("tool_limits", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(96), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requirement", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_call_id", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_call_id", sa.String(64), nullable=True),
        sa.Column("args_key_id", sa.String(32), nullable=False),
        sa.Column("args_sealed", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'used', 'expired')",
            name="ck_approvals_approval_state",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
    )
    op.create_index("ix_approvals_digest", "approvals", ["digest", "state"])
    op.create_index("ix_approvals_state", "approvals", ["state", "requested_at"])
    op.create_table(
        "tool_call_windows",
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("counter", sa.String(80), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", "counter", "window_start", name="pk_tool_call_windows"),
    )
    op.create_table(
        "circuit_breakers",
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("tripped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", name="pk_circuit_breakers"),
    )


def downgrade() -> None:
    op.drop_table("circuit_breakers")
    op.drop_table("tool_call_windows")
    op.drop_index("ix_approvals_state", table_name="approvals")
    op.drop_index("ix_approvals_digest", table_name="approvals")
    op.drop_table("approvals")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("tool_limits")
        batch.drop_column("no_approval")
        batch.drop_column("require_approval")
