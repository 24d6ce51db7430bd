"""Opening the log with several spooled outcomes drains them once, without deadlocking the event loop.

Found while bounding the store's waits (issue 11): the drain at start appended a record, the successful
commit scheduled a background drain, and that second drain took the spool's file lock on the event loop
while the first still held it across its awaits. The loop blocked in `flock` for good: the server never
finished starting. The log now runs one drain at a time.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from persona_mcp.audit import AuditEvent, AuditLog
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.audit.spool import OutcomeSpool
from persona_mcp.store import create_store, upgrade

#: A hang detector: opening with three spooled records takes well under a second.
OPEN_GUARD_S = 60


def test_several_spooled_outcomes_are_drained_once_at_start_without_blocking_the_loop(tmp_path: Path) -> None:
    spool = OutcomeSpool.in_data_dir(tmp_path)
    for n in range(3):
        spool.put(AuditEvent(kind="call.outcome", call_id=f"spooled-{n}", outcome="ok"))
    recorded: list[str | None] = []

    async def open_and_close() -> None:
        store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
        await upgrade(store)
        log = await AuditLog.open(store, data_dir=tmp_path, instance_id="restarted")
        await log.aclose()
        recorded.extend([r.call_id async for r in iter_records(store, AuditFilter())])
        await store.close()

    # Its own thread and loop: a loop blocked in a system call cannot be interrupted from inside it.
    opener = threading.Thread(target=lambda: asyncio.run(open_and_close()), daemon=True)
    opener.start()
    opener.join(OPEN_GUARD_S)

    assert not opener.is_alive(), "AuditLog.open hung: the event loop is blocked"
    assert [c for c in recorded if c and c.startswith("spooled-")] == [f"spooled-{n}" for n in range(3)]
    assert spool.pending() == 0
