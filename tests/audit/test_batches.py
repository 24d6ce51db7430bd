"""How the writer extends the chain batch by batch: checkpoints across writers, reconnecting, processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from sqlalchemy import text

from persona_mcp.audit import AuditLog, AuditUnavailableError
from persona_mcp.audit.committer import APPLICATION_NAME
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store, create_store, upgrade

from ._support import call_event, fill, scalar

pytestmark = pytest.mark.anyio


async def _checkpoint_seqs(store: Store) -> list[int]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq"))).all()
    return [int(row[0]) for row in rows]


async def test_a_checkpoint_signed_by_another_writer_restarts_the_count_to_the_next_one(
    store: Store, data_dir: Path
) -> None:
    counting = await AuditLog.open(store, data_dir=data_dir, instance_id="a", checkpoint_every=10)
    other = await AuditLog.open(store, data_dir=data_dir, instance_id="b")
    try:
        for i in range(5):
            await counting.append(call_event(i))
        signed = await other.checkpoint()
        assert signed is not None and signed.seq == 5
        for i in range(5, 14):
            await counting.append(call_event(i))
        assert await _checkpoint_seqs(store) == [5], "9 records since the newest checkpoint: none due"
        await counting.append(call_event(14))
        assert await _checkpoint_seqs(store) == [5, 15]
    finally:
        await counting.aclose()
        await other.aclose()


async def test_asking_for_a_checkpoint_with_nothing_new_returns_the_newest_one(
    audit_log: AuditLog, store: Store
) -> None:
    assert await audit_log.checkpoint() is None, "an empty log has nothing to sign"
    await fill(audit_log, 3)

    first = await audit_log.checkpoint()
    again = await audit_log.checkpoint()

    assert first is not None and first.seq == 3
    assert again == first
    assert await _checkpoint_seqs(store) == [3]


# PostgreSQL only: an SQLite connection is a file handle, there is no server to end it.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_the_writer_fails_closed_when_its_connection_is_killed_and_reconnects_for_the_next_batch(
    audit_log: AuditLog, store: Store
) -> None:
    assert not store.is_sqlite
    await audit_log.append(call_event(1))
    async with store.engine.connect() as conn:
        ended = (
            await conn.execute(
                text(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            )
        ).scalar_one()
    assert ended >= 1

    with pytest.raises(AuditUnavailableError):
        await audit_log.append(call_event(2))
    assert not audit_log.health.ok

    record = await audit_log.append(call_event(3))
    assert record.seq == 2
    assert audit_log.health.ok
    assert (await verify_log(store, trusted_keys=[audit_log.public_key])).ok


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from persona_mcp.audit import AuditEvent, AuditLog
    from persona_mcp.store import create_store

    async def main(url: str, data_dir: str, name: str, count: int) -> None:
        store = create_store(url)
        log = await AuditLog.open(store, data_dir=Path(data_dir), instance_id=name, checkpoint_every=150)
        for start in range(0, count, 50):
            events = [AuditEvent(kind="call.denied", call_id=f"{name}-{i}") for i in range(start, start + 50)]
            await asyncio.gather(*(log.append(e) for e in events))
        await log.aclose()
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


@pytest.mark.slow
async def test_two_processes_appending_to_one_sqlite_file_leave_one_verifiable_chain(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = create_store(sqlite_url)
    await upgrade(store)
    data_dir = tmp_path / "data"
    # Create the shared keys once, as a deployment would, before both processes start.
    await (await AuditLog.open(store, data_dir=data_dir, instance_id="setup")).aclose()
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)

    def run_both() -> list[subprocess.CompletedProcess[bytes]]:
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), sqlite_url, str(data_dir), name, "300"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for name in ("proc-a", "proc-b")
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        return results

    try:
        with anyio.fail_after(150):
            results = await anyio.to_thread.run_sync(run_both)
        for result in results:
            assert result.returncode == 0, result.stderr.decode()[-2000:]

        assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 600
        assert await scalar(store, "SELECT MAX(seq) FROM audit_records") == 600
        assert await scalar(store, "SELECT COUNT(DISTINCT instance_id) FROM audit_records") == 2
        setup = await AuditLog.open(store, data_dir=data_dir, instance_id="setup", recover=False)
        await setup.aclose()
        report = await verify_log(store, trusted_keys=[setup.public_key])
        assert report.ok, report.breaks
        assert report.checkpoints_matched >= 4
    finally:
        await store.close()
