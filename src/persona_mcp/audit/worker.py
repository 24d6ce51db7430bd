"""The writer thread: takes queued work straight from callers, commits it in batches, reports back.

Callers put items into a thread-safe inbox, which wakes the thread at once; it takes everything waiting
(up to `MAX_BATCH`) as one batch, commits it through the `BatchCommitter` (one transaction, one fsync),
mirrors new checkpoints to the external file, and hands the outcome to the event loop with a single
`call_soon_threadsafe`. Items arriving while a batch commits form the next batch (group commit); a lone
item never waits for company. No event-loop task sits between the caller and the database, which saves
the loop passes a writer task would cost on every append.

Futures belong to the event loop: the thread never touches them, the `deliver` callback runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from persona_mcp.audit.chain import Batch, Committed
from persona_mcp.audit.checkpoint import Checkpoint, append_external
from persona_mcp.audit.committer import BatchCommitter
from persona_mcp.audit.record import AuditRecord

_log = structlog.get_logger("persona_mcp.audit")

MAX_BATCH = 1024


@dataclass(slots=True)
class Append:
    fields: dict[str, Any]
    future: asyncio.Future[AuditRecord]


@dataclass(slots=True)
class CheckpointRequest:
    future: asyncio.Future[Checkpoint | None]


class Signal:
    pass


TICK = Signal()
"""The checkpoint timer fired: sign a checkpoint if records were added since the newest one."""
STOP = Signal()
"""Commit what came before, then close the connection and end the thread."""

Item = Append | CheckpointRequest | Signal


@dataclass(frozen=True, slots=True)
class Outcome:
    """One batch as the loop learns of it: committed (with the external mirror's failure, if any),
    or failed with `error` (nothing of the batch was committed)."""

    appends: list[Append]
    requests: list[CheckpointRequest]
    committed: Committed | None
    error: Exception | None
    external_error: str | None


Deliver = Callable[[Outcome], None]


class WriterThread:
    """One thread, one committer, one connection: batches are committed one at a time, in order."""

    def __init__(
        self,
        committer: BatchCommitter[Any],
        loop: asyncio.AbstractEventLoop,
        deliver: Deliver,
        external_checkpoint_path: Path | None,
    ) -> None:
        self._committer = committer
        self._loop = loop
        self._deliver = deliver
        self._external = external_checkpoint_path
        self._pending_external: list[Checkpoint] = []
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stopped: asyncio.Future[None] = loop.create_future()
        # A daemon: a process that exits without `AuditLog.aclose` must not hang on the inbox. Nothing
        # durable is at stake, since an interrupted transaction commits nothing and no caller is waiting.
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped.done()

    def submit(self, item: Item) -> None:
        """Queue `item`; thread-safe, never blocks."""
        self._inbox.put(item)

    async def stop(self) -> None:
        """Commit everything queued so far, close the connection, and wait for the thread to end."""
        if self._thread.is_alive():
            self._inbox.put(STOP)
            await self._stopped

    # -- on the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        try:
            while not stop:
                items = [self._inbox.get()]
                while len(items) < MAX_BATCH:
                    try:
                        items.append(self._inbox.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is STOP for item in items)
                self._report(self._commit(items))
        finally:
            self._committer.close()
            self._report(None)

    def _commit(self, items: list[Item]) -> Outcome:
        appends = [item for item in items if isinstance(item, Append)]
        requests = [item for item in items if isinstance(item, CheckpointRequest)]
        batch = Batch(
            events=[item.fields for item in appends],
            requested=bool(requests),
            timed=any(item is TICK for item in items),
        )
        if not appends and not requests and not batch.timed:
            return Outcome(appends, requests, None, None, None)
        try:
            committed = self._committer.commit(batch)
        except Exception as exc:  # fail closed: the loop turns this into AuditUnavailableError
            return Outcome(appends, requests, None, exc, None)
        if committed.signed is not None:
            self._pending_external.append(committed.signed)
        return Outcome(appends, requests, committed, None, self._flush_external())

    def _flush_external(self) -> str | None:
        """Mirror signed checkpoints to the external file; the reason it failed (they stay pending for
        the next batch and the log reports unhealthy meanwhile), or None."""
        if self._external is None or not self._pending_external:
            return None
        try:
            append_external(self._external, self._pending_external)
        except OSError as exc:
            reason = f"external checkpoint file not writable: {type(exc).__name__}: {exc.strerror or exc}"
            _log.error("audit.external_checkpoint_failed", reason=reason, pending=len(self._pending_external))
            return reason
        self._pending_external.clear()
        return None

    def _report(self, outcome: Outcome | None) -> None:
        """Hand an outcome (or, with None, the thread's end) to the loop; a closed loop has no one left
        waiting, so there is nothing to report to."""
        with contextlib.suppress(RuntimeError):
            if outcome is None:
                self._loop.call_soon_threadsafe(_set_done, self._stopped)
            elif outcome.committed is not None or outcome.error is not None:
                self._loop.call_soon_threadsafe(self._deliver, outcome)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


__all__ = [
    "MAX_BATCH",
    "STOP",
    "TICK",
    "Append",
    "CheckpointRequest",
    "Deliver",
    "Item",
    "Outcome",
    "Signal",
    "WriterThread",
]
