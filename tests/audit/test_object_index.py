"""The object index: one row per (object id, record), written with the record, append-only, and checked by
verify against the bodies, so nobody can hide a record from `--object` or pin one on another object."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from persona_mcp.audit import AuditLog
from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.audit.verify import BreakKind, verify_log
from persona_mcp.store import Store

from ._support import call_event, drop_append_only_triggers, execute, fill, scalar

pytestmark = pytest.mark.anyio


async def test_each_record_is_indexed_under_every_id_it_names_once(audit_log: AuditLog, store: Store) -> None:
    await audit_log.append(call_event(1, object_ids=["act_A1", "inq_B2", "act_A1"]))
    await audit_log.append(call_event(2, object_ids=[]))
    await fill(audit_log, 20, start=10)

    assert await scalar(store, "SELECT COUNT(*) FROM audit_record_objects WHERE seq = 1") == 2
    assert await scalar(store, "SELECT COUNT(*) FROM audit_record_objects WHERE seq = 2") == 0
    assert [r.call_id for r in await query_records(store, AuditFilter(object_id="inq_B2"))] == ["call-1"]
    assert [r.call_id for r in await query_records(store, AuditFilter(object_id="act_15"))] == ["call-15"]
    assert await query_records(store, AuditFilter(object_id="act_1")) == [], "whole ids only"


async def test_the_object_index_refuses_updates_and_deletes(audit_log: AuditLog, store: Store) -> None:
    await audit_log.append(call_event(1))
    for sql in (
        "DELETE FROM audit_record_objects",
        "UPDATE audit_record_objects SET object_id = 'act_other'",
    ):
        with pytest.raises(DBAPIError):
            await execute(store, sql)
    assert await scalar(store, "SELECT COUNT(*) FROM audit_record_objects") == 1


@pytest.mark.parametrize(
    ("tamper", "seq"),
    [
        ("DELETE FROM audit_record_objects WHERE seq = 7", 7),
        ("INSERT INTO audit_record_objects (object_id, seq) VALUES ('act_innocent', 12)", 12),
        ("UPDATE audit_record_objects SET object_id = 'act_elsewhere' WHERE seq = 3", 3),
    ],
    ids=["hidden", "pinned on another object", "moved"],
)
async def test_verification_finds_an_object_index_that_disagrees_with_the_bodies(
    audit_log: AuditLog, store: Store, tamper: str, seq: int
) -> None:
    await fill(audit_log, 30)
    assert (await verify_log(store, trusted_keys=[audit_log.public_key])).ok
    await drop_append_only_triggers(store)
    await execute(store, tamper)

    report = await verify_log(store, trusted_keys=[audit_log.public_key], batch_size=10)
    assert [(b.kind, b.seq) for b in report.breaks][:1] == [(BreakKind.EDITED, seq)]
