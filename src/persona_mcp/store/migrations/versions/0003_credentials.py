"""upstream credentials

Revision ID: 0003_credentials
Revises: 0002_audit
"""

revision = '0003_credentials'
down_revision = '0002_audit'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
