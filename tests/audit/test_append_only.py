"""The database itself refuses to change or remove audit rows, whatever the application does."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from persona_mcp.audit import AuditLog
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store

from ._support import execute, fill, scalar

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET tool = 'other' WHERE seq = 2",
        "UPDATE audit_records SET body = body || ' ' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 2",
        "DELETE FROM audit_records",
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
async def test_updates_and_deletes_on_audit_tables_are_refused(
    audit_log: AuditLog, store: Store, statement: str
) -> None:
    await fill(audit_log, 3)
    await audit_log.checkpoint()

    with pytest.raises(DBAPIError, match="append-only"):
        await execute(store, statement)

    assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 3
    assert await scalar(store, "SELECT COUNT(*) FROM audit_checkpoints") == 1
    assert (await verify_log(store, trusted_keys=[audit_log.public_key])).ok


# SQLite has no TRUNCATE statement (a DELETE without WHERE is refused above), so this runs on PostgreSQL only.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_truncate_is_refused_on_postgresql(audit_log: AuditLog, store: Store) -> None:
    assert not store.is_sqlite
    await fill(audit_log, 3)

    for table in ("audit_records", "audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"):
            await execute(store, f"TRUNCATE {table}")
    assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 3
