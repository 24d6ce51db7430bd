"""Two OS processes appending to one database (SQLite file or PostgreSQL) still build one chain."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from persona_mcp.audit import AuditLog
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import create_store, upgrade

from ._support import scalar

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

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


async def test_two_processes_appending_to_one_database_leave_one_verifiable_chain(
    database_url: str, tmp_path: Path
) -> None:
    store = create_store(database_url)
    await upgrade(store)
    data_dir = tmp_path / "data"
    # Create the shared keys once, as a deployment would, before both processes start.
    await (await AuditLog.open(store, data_dir=data_dir, instance_id="setup")).aclose()
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)

    def run_both() -> list[subprocess.CompletedProcess[bytes]]:
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), database_url, str(data_dir), name, "300"],
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
        assert report.checkpoints_matched >= 2
    finally:
        await store.close()
