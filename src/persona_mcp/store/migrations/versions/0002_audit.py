"""audit records and checkpoints

Revision ID: 0002_audit
Revises: 0001_grants

The tables are append-only in the database itself: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL), so a bug or a careless operator cannot rewrite history through the application's role.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_audit"
down_revision = "0001_grants"
branch_labels = None
depends_on = None

_TABLES = ("audit_records", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("instance_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64)),
        sa.Column("principal", sa.String(255)),
        sa.Column("grant_id", sa.String(64)),
        sa.Column("tool", sa.String(128)),
        sa.Column("decision", sa.String(16)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("object_ids", sa.Text()),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_records"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_records_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_audit_records_hash"),
    )
    op.create_index("ix_audit_records_recorded_at", "audit_records", ["recorded_at"])
    op.create_index("ix_audit_records_call_id", "audit_records", ["call_id"])
    op.create_index("ix_audit_records_principal", "audit_records", ["principal"])
    op.create_index("ix_audit_records_grant_id", "audit_records", ["grant_id"])
    op.create_index("ix_audit_records_tool", "audit_records", ["tool"])
    op.create_index("ix_audit_records_kind_instance", "audit_records", ["kind", "instance_id"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("instance_id", sa.String(200), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table in _TABLES:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
        )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_reject_change()")
