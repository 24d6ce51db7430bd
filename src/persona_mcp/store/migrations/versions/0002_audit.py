"""audit records and checkpoints

Revision ID: 0002_audit
Revises: 0001_grants
"""

revision = '0002_audit'
down_revision = '0001_grants'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
