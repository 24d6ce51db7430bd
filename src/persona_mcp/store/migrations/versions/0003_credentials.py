"""upstream credentials

Revision ID: 0003_credentials
Revises: 0002_audit
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_credentials"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("principal", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("access_token", sa.LargeBinary(), nullable=True),
        sa.Column("refresh_token", sa.LargeBinary(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_url", sa.Text(), nullable=True),
        sa.Column("client_id", sa.String(255), nullable=True),
        sa.Column("auth_method", sa.String(32), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("environment IN ('sandbox', 'production')", name="ck_credentials_environment"),
        sa.CheckConstraint("kind IN ('api_key', 'oauth_client', 'access_token')", name="ck_credentials_kind"),
        sa.CheckConstraint("status IN ('active', 'disabled')", name="ck_credentials_status"),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
    )
    op.create_index(
        "uq_credentials_environment_principal",
        "credentials",
        ["environment", sa.text("coalesce(principal, '')")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_credentials_environment_principal", table_name="credentials")
    op.drop_table("credentials")
