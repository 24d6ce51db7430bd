from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from persona_mcp.audit import GENESIS_HASH, AuditEvent, AuditLog, AuditUnavailableError
from persona_mcp.audit.record import AuditRecord
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store

from ._support import call_event, execute, fill, scalar

pytestmark = pytest.mark.anyio


async def test_two_hundred_concurrent_appends_form_one_gap_free_chain_that_verifies(
    audit_log: AuditLog, store: Store
) -> None:
    records = await fill(audit_log, 200)

    assert [r.seq for r in records] == list(range(1, 201))
    assert records[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in records}) == 200
    report = await verify_log(store, trusted_keys=[audit_log.public_key])
    assert report.ok, report.breaks
    assert report.records == 200


async def test_append_returns_the_committed_record_readable_from_another_connection(
    audit_log: AuditLog, store: Store
) -> None:
    record = await audit_log.append(call_event(1))

    async with store.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT body, hash FROM audit_records WHERE seq = :s"), {"s": record.seq})
        ).one()
    assert AuditRecord.from_stored(row.body, row.hash) == record
    assert record.canonical_bytes().decode() == row.body


async def test_the_hash_covers_every_field_but_itself_in_rfc8785_form(audit_log: AuditLog) -> None:
    import hashlib

    import rfc8785

    record = await audit_log.append(call_event(7, arguments={"b": 1, "a": {"z": "ü", "y": [1, 2]}}))

    fields = record.model_dump(mode="json")
    del fields["hash"]
    assert hashlib.sha256(rfc8785.dumps(fields)).hexdigest() == record.hash
    assert fields["prev_hash"] == GENESIS_HASH


async def test_a_failed_write_raises_and_marks_the_log_unhealthy_until_a_write_succeeds(
    audit_log: AuditLog, store: Store
) -> None:
    await audit_log.append(call_event(1))
    await execute(store, "ALTER TABLE audit_records RENAME TO audit_records_away")

    with pytest.raises(AuditUnavailableError):
        await audit_log.append(call_event(2))
    assert not audit_log.health.ok
    assert audit_log.health.reason and "audit write failed" in audit_log.health.reason

    await execute(store, "ALTER TABLE audit_records_away RENAME TO audit_records")
    record = await audit_log.append(call_event(3))
    assert record.seq == 2
    assert audit_log.health.ok


async def test_admin_events_are_recorded_as_admin_kinds(audit_log: AuditLog, store: Store) -> None:
    await audit_log.admin_event(
        action="grant.created", actor="ops@host", target="grt_1", details={"scopes": ["a"]}
    )

    body = await scalar(store, "SELECT body FROM audit_records WHERE kind = 'admin.grant.created'")
    assert '"target":"grt_1"' in body
    assert '"actor":"ops@host"' in body


async def test_checkpoints_are_signed_every_n_records_and_mirrored_to_the_external_file(
    store: Store, data_dir: Path, tmp_path: Path
) -> None:
    external = tmp_path / "anchor" / "checkpoints.jsonl"
    log = await AuditLog.open(
        store, data_dir=data_dir, instance_id="cp", checkpoint_every=50, external_checkpoint_path=external
    )
    try:
        for start in range(0, 120, 10):
            await fill(log, 10, start)
        on_demand = await log.checkpoint()
    finally:
        await log.aclose()

    assert on_demand is not None and on_demand.seq == 120 and on_demand.signature_valid()
    seqs = [row[0] for row in await _checkpoint_seqs(store)]
    assert seqs == [50, 100, 120]
    lines = external.read_text().splitlines()
    assert len(lines) == 3
    assert (data_dir / "audit-signing.key").stat().st_mode & 0o777 == 0o600


async def _checkpoint_seqs(store: Store) -> list[tuple[int]]:
    async with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in (await conn.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq"))).all()
        ]


async def test_a_closed_log_refuses_appends(store: Store, data_dir: Path) -> None:
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="x")
    await log.aclose()
    with pytest.raises(AuditUnavailableError):
        await log.append(AuditEvent(kind="call.denied", decision="denied", reason="missing scope"))


async def test_two_logs_sharing_a_database_extend_one_chain(store: Store, data_dir: Path) -> None:
    first = await AuditLog.open(store, data_dir=data_dir, instance_id="a")
    second = await AuditLog.open(store, data_dir=data_dir, instance_id="b")
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(fill, first, 100, 0)
                tg.start_soon(fill, second, 100, 100)
    finally:
        await first.aclose()
        await second.aclose()

    assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 200
    assert await scalar(store, "SELECT MAX(seq) FROM audit_records") == 200
    report = await verify_log(store, trusted_keys=[first.public_key])
    assert report.ok, report.breaks
