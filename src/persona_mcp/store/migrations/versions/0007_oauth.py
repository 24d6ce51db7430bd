"""built-in OAuth authorization server: clients, pending consents, codes, tokens (digests only)

Revision ID: 0007_oauth
Revises: 0005_upstream_rate_windows
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_oauth"
down_revision = "0006_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("client_name", sa.String(200), nullable=True),
        sa.Column("client_metadata", sa.JSON(), nullable=False),
        sa.Column("secret_key_id", sa.String(32), nullable=True),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name="pk_oauth_clients"),
    )
    op.create_table(
        "oauth_authorizations",
        sa.Column("handle_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("csrf_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("upstream_state_digest", sa.LargeBinary(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("handle_digest", name="pk_oauth_authorizations"),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("code_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("family_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("redirect_uri_explicit", sa.Boolean(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_digest", name="pk_oauth_codes"),
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("token_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("family_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('access', 'refresh')", name="ck_oauth_tokens_kind"),
        sa.PrimaryKeyConstraint("token_digest", name="pk_oauth_tokens"),
    )
    op.create_index("ix_oauth_tokens_family_id", "oauth_tokens", ["family_id"])
    op.create_index("ix_oauth_tokens_grant_id", "oauth_tokens", ["grant_id"])
    op.create_index("ix_oauth_tokens_client_id", "oauth_tokens", ["client_id"])


def downgrade() -> None:
    op.drop_table("oauth_tokens")
    op.drop_table("oauth_codes")
    op.drop_table("oauth_authorizations")
    op.drop_table("oauth_clients")
