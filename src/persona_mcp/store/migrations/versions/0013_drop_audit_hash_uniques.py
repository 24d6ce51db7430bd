"""drop the audit records' UNIQUE(prev_hash) and UNIQUE(hash)

Revision ID: 0013_drop_audit_hash_uniques
Revises: 0012_drop_kind_instance_index

Both constraints repeat what the primary key already refuses. A record sealed on the head at `seq` N has
`seq` N + 1 and `prev_hash` equal to record N's hash, so two records with one predecessor (a fork) have
one `seq`, and the second insert fails on the primary key whatever lock was bypassed; a record's hash
covers its own `seq`, so two records cannot share one either. Meanwhile each constraint is a B-tree keyed
by a random hash: every record written dirtied one more random page in each (on SQLite, two more WAL
frames per commit), 20 % of the audit writer's CPU per record at three records a batch
(benchmarks/README.md). The only reader of `prev_hash` by value, `audit verify` naming the kind of a
break it has already found, reads it once per break and can afford a scan.

PostgreSQL drops the constraints in place. SQLite cannot drop a constraint, so the table is rebuilt without
them (SQLite's documented procedure: create, copy, drop, rename), and its indexes and append-only
triggers are created again from their own SQL. That is done once, at the first start of this version,
under the database's write lock: 4.4 s for a log of 120,000 records (234 MB) on a 2-core machine. The
old table's pages stay in the file, free, and are reused by the records written next (`VACUUM` would
return them to the file system).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision = "0013_drop_audit_hash_uniques"
down_revision = "0012_drop_kind_instance_index"
branch_labels = None
depends_on = None

_TABLE = "audit_records"
_REBUILT = "audit_records_rebuilt"
_UNIQUES = {"uq_audit_records_prev_hash": "prev_hash", "uq_audit_records_hash": "hash"}
_COLUMNS = (
    "seq, recorded_at, instance_id, kind, call_id, principal, grant_id, tool, decision, outcome, "
    "object_ids, prev_hash, hash, body"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _UNIQUES:
            op.drop_constraint(name, _TABLE, type_="unique")
    else:
        _rebuild_sqlite(uniques=())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, column in _UNIQUES.items():
            op.create_unique_constraint(name, _TABLE, [column])
    else:
        _rebuild_sqlite(uniques=[sa.UniqueConstraint(column, name=name) for name, column in _UNIQUES.items()])


def _rebuild_sqlite(uniques: Sequence[sa.UniqueConstraint]) -> None:
    """`audit_records` again with `uniques` as its only constraints besides the primary key, every row,
    index and trigger kept."""
    bind = op.get_bind()
    # Indexes and triggers as they stand (SQL is NULL for the constraints' own automatic indexes).
    dependents = [
        sql
        for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name",
            (_TABLE,),
        )
    ]
    op.execute(f"DROP TABLE IF EXISTS {_REBUILT}")  # left by an interrupted earlier attempt
    op.create_table(
        _REBUILT,
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
        *uniques,
    )
    op.execute(f"INSERT INTO {_REBUILT} ({_COLUMNS}) SELECT {_COLUMNS} FROM {_TABLE} ORDER BY seq")
    # Dropping a table fires none of its triggers; its indexes and triggers go with it.
    op.execute(f"DROP TABLE {_TABLE}")
    op.execute(f"ALTER TABLE {_REBUILT} RENAME TO {_TABLE}")
    for sql in dependents:
        op.execute(sql)
