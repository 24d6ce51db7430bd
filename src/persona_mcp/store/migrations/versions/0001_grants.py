"""grants and grant tokens

Revision ID: 0001_grants
Revises: None
"""

revision = '0001_grants'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
