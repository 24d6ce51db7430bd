"""The audit log's commits on PostgreSQL: one task on the event loop, each batch an awaited round trip.

A record must be durable before its caller goes on, so every append waits for a commit. On PostgreSQL a
commit is a network round trip, which the event loop must not block on; on the writer thread (`worker`)
each record waited for the thread to take the GIL the loop holds, on every return from the network
(issue 18: 6-9 ms from submitted to durable at 8 sessions, against ~3 on SQLite). Here the committer's
connection is psycopg's asynchronous one, and the writer is a task: it takes everything submitted so far
(up to `MAX_BATCH`) as one batch, awaits its commit, resolves its callers, and takes the next. Appends
submitted while a commit is in flight wait for the next one and share it: group commit, with no thread
and no hand-off.

Items are committed in the order they were submitted (one list, one task), so the chain follows
`AuditLog.submit`'s order as on SQLite. The wait bounds are PostgreSQL's own (`lock_timeout`,
`statement_timeout`, the chain lock's lease; see `committer`); `commit_started` lets the log report a
commit that outlives them all (a database that stopped answering) as a stall.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anyio

from persona_mcp.audit.committer_postgres import PostgresCommitter
from persona_mcp.audit.witness import WitnessPublisher
from persona_mcp.audit.worker import MAX_BATCH, STOP, CheckpointMirror, Deliver, Item, Outcome, Work


class LoopWriter:
    """One task, one committer, one connection: batches are committed one at a time, in order."""

    def __init__(
        self,
        committer: PostgresCommitter,
        deliver: Deliver,
        external_checkpoint_path: Path | None,
        witness: WitnessPublisher | None = None,
    ) -> None:
        self._committer = committer
        self._deliver = deliver
        self._mirror = CheckpointMirror(external_checkpoint_path, witness)
        self._inbox: list[Item] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._commit_started: float | None = None
        self.commits = 0
        """Batches committed with at least one record (for tests and metrics)."""

    @property
    def committer(self) -> PostgresCommitter:
        return self._committer

    @property
    def inline_commits(self) -> int:
        """Commits made on the event loop: all of them (the SQLite writer's counter, for `AuditLog`)."""
        return self.commits

    @property
    def queue_depth(self) -> int:
        """Appends and requests waiting for the commit in flight to end."""
        return len(self._inbox)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def commit_started(self) -> float | None:
        """`time.monotonic()` at which the commit in progress started; None if none is."""
        return self._commit_started

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    def submit(self, item: Item) -> None:
        """Queue `item` for the next batch (on the event loop; never waits)."""
        self._inbox.append(item)
        self._arrived.set()

    async def stop(self) -> None:
        """Commit everything queued so far, close the connection, and wait for the task to end."""
        if self.running:
            self.submit(STOP)
            assert self._task is not None
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            while True:
                if not self._inbox:
                    self._arrived.clear()
                    await self._arrived.wait()
                items, self._inbox = self._inbox[:MAX_BATCH], self._inbox[MAX_BATCH:]
                self._commit_started = time.monotonic()
                try:
                    outcome = await self._commit(items)
                finally:
                    self._commit_started = None
                if outcome.committed is not None or outcome.error is not None:
                    self._deliver(outcome)
                if any(item is STOP for item in items):
                    return
        finally:
            await self._committer.aclose()
            await anyio.to_thread.run_sync(self._mirror.close)
            self._fail_leftovers()

    async def _commit(self, items: list[Item]) -> Outcome:
        work = Work.of(items)
        if work.empty:
            return Outcome(work.appends, work.requests, None, None, None)
        try:
            committed = await self._committer.commit(work.batch)
        except Exception as exc:  # fail closed: the log turns this into AuditUnavailableError
            return work.failed(exc)
        if work.appends:
            self.commits += 1
        self._mirror.add(committed)
        # The external file is fsynced: off the loop, and only when a checkpoint was signed.
        mirror = self._mirror
        flush = mirror.flush
        external_error = await anyio.to_thread.run_sync(flush) if mirror.has_pending else flush()
        return work.committed(committed, external_error)

    def _fail_leftovers(self) -> None:
        """Items submitted after STOP (or left by a task that ended on an error) fail: nothing commits
        them any more."""
        leftovers, self._inbox = self._inbox, []
        if leftovers:
            work = Work.of(leftovers)
            self._deliver(work.failed(RuntimeError("the audit writer has stopped")))


__all__ = ["LoopWriter"]
