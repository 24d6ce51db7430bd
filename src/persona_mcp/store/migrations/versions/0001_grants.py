"""grants and grant tokens

Revision ID: 0001_grants
Revises: None

Written out in full (not imported from `store.schema.grants`) so this revision stays what it was when
later revisions change the table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_grants"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("principal_kind", sa.String(16), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("allow_tools", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("deny_tools", sa.JSON(), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("managed_by", sa.String(200), nullable=True),
        sa.Column("managed_name", sa.String(200), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("token_salt", sa.LargeBinary(16), nullable=False),
        sa.Column("token_digest", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        sa.UniqueConstraint("token_id", name="uq_grants_token_id"),
        sa.CheckConstraint("principal_kind IN ('agent', 'person')", name="ck_grants_principal_kind"),
        sa.CheckConstraint("environment IN ('sandbox', 'production')", name="ck_grants_environment"),
        sa.CheckConstraint("rate_per_minute IS NULL OR rate_per_minute > 0", name="ck_grants_rate_positive"),
    )
    op.create_index("ix_grants_principal", "grants", ["principal"])
    op.create_index("ix_grants_managed", "grants", ["managed_by", "managed_name"])


def downgrade() -> None:
    op.drop_index("ix_grants_managed", table_name="grants")
    op.drop_index("ix_grants_principal", table_name="grants")
    op.drop_table("grants")
