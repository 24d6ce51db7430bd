"""audit object index

Revision ID: 0004_audit_object_index
Revises: 0003_credentials

`audit query --object act_...` used to scan every record with `LIKE '% act_... %'` over the space-joined
`object_ids` column. This table indexes each (object id, record) pair instead; it is append-only like the
records it indexes, and the existing records are indexed from that column on upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_object_index"
down_revision = "0003_credentials"
branch_labels = None
depends_on = None

_TABLE = "audit_record_objects"
_BACKFILL_BATCH = 5000


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("object_id", "seq", name=f"pk_{_TABLE}"),
    )
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        # audit_reject_change() comes with 0002_audit.
        op.execute(
            f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_TABLE}_no_{event.lower()} BEFORE {event} ON {_TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{_TABLE} is append-only'); END"
            )


def _backfill() -> None:
    """Index the records written before this revision, in keyset pages (a log may be large)."""
    bind = op.get_bind()
    objects = sa.table(_TABLE, sa.column("object_id"), sa.column("seq"))
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, object_ids FROM audit_records WHERE seq > :after AND object_ids IS NOT NULL "
                "ORDER BY seq LIMIT :n"
            ),
            {"after": after, "n": _BACKFILL_BATCH},
        ).all()
        if not rows:
            return
        pairs = [
            {"object_id": object_id, "seq": seq}
            for seq, joined in rows
            for object_id in dict.fromkeys(str(joined).split())
        ]
        if pairs:
            bind.execute(sa.insert(objects), pairs)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_table(_TABLE)
