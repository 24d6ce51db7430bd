"""Migration 0013: the audit records keep no unique index on `hash` or `prev_hash` (the primary key already
refuses a fork), and a log upgraded to it keeps every record, index and append-only trigger."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import DBAPIError

from persona_mcp.audit import AuditLog
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store, create_store, upgrade
from persona_mcp.store.migrate import current_revision, head_revision

from ._support import call_event, execute, scalar, written_log

pytestmark = pytest.mark.anyio

BEFORE = "0012_drop_kind_instance_index"


def _shape(conn: Connection) -> dict[str, object]:
    """What of `audit_records` a schema change could lose: unique constraints and unique indexes, the
    other indexes with their columns, and the primary key."""
    found = inspect(conn)
    indexes = found.get_indexes("audit_records")
    return {
        "uniques": sorted(c["name"] or "?" for c in found.get_unique_constraints("audit_records")),
        "unique_indexes": sorted(i["name"] or "?" for i in indexes if i["unique"]),
        "indexes": sorted((i["name"], tuple(i["column_names"])) for i in indexes if not i["unique"]),
        "primary_key": found.get_pk_constraint("audit_records")["constrained_columns"],
    }


async def _audit_shape(store: Store) -> dict[str, object]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(_shape)


async def test_a_migrated_log_has_no_unique_index_on_hash_or_prev_hash(store: Store) -> None:
    shape = await _audit_shape(store)

    assert shape["uniques"] == []
    assert shape["unique_indexes"] == []
    assert shape["primary_key"] == ["seq"]


async def test_a_log_upgraded_to_it_keeps_its_records_indexes_and_append_only_triggers(
    database_url: str, data_dir: Path
) -> None:
    store = create_store(database_url)
    try:
        await upgrade(store, BEFORE)
        log = await written_log(store, data_dir, 10, instance_id="before", checkpoint_every=4)
        before = await _audit_shape(store)
        assert before["uniques"] == ["uq_audit_records_hash", "uq_audit_records_prev_hash"]
        key = log.public_key

        await upgrade(store)

        assert await current_revision(store) == head_revision()
        after = await _audit_shape(store)
        assert after["uniques"] == [] and after["unique_indexes"] == []
        assert after["indexes"] == before["indexes"]
        assert after["primary_key"] == ["seq"]
        assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 10
        assert (await verify_log(store, trusted_keys=[key])).ok
        for statement in (
            "UPDATE audit_records SET tool = 'other' WHERE seq = 2",
            "DELETE FROM audit_records WHERE seq = 2",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                await execute(store, statement)

        # The chain goes on from the records the old table held.
        log = await AuditLog.open(store, data_dir=data_dir, instance_id="after")
        try:
            record = await log.append(call_event(10))
        finally:
            await log.aclose()
        assert record.seq == 11
        assert (await verify_log(store, trusted_keys=[key, log.public_key])).ok
    finally:
        await store.close()


async def test_downgrading_puts_the_unique_constraints_back_with_every_record(
    database_url: str, data_dir: Path
) -> None:
    from alembic import command

    from persona_mcp.store.migrate import alembic_config

    store = create_store(database_url)
    try:
        await upgrade(store)
        log = await written_log(store, data_dir, 5, instance_id="a")

        async with store.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), BEFORE))

        shape = await _audit_shape(store)
        assert shape["uniques"] == ["uq_audit_records_hash", "uq_audit_records_prev_hash"]
        assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 5
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok
        with pytest.raises(DBAPIError, match="append-only"):
            await execute(store, "DELETE FROM audit_records WHERE seq = 1")
    finally:
        await store.close()
