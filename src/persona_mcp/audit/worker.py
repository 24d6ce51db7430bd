"""The audit log's commits: on the event loop while the database is free, else on the writer thread.

A record must be durable before its caller goes on, so every append waits for a commit (one transaction,
one fsync). Appends are committed where they wait least:

SQLite (a commit is a local transaction and its fsync, which stops the loop while it runs):

- **Alone, at once.** An append that finds no other append within `INLINE_AFTER_IDLE_S` and no other
  call in flight (`calls_in_flight`, which the server answers from the calls it runs) is committed on the
  event loop in `submit`, sparing a lone call the thread hand-offs.
- **With the appends of the other calls in flight.** Otherwise it waits for them, on the loop: the
  appends made meanwhile are committed together, on the loop, as one batch, at the end of the loop pass
  in which every call in flight has made one (nothing else can join), or `COMMIT_DELAY_S` after the
  first at the latest (PostgreSQL's `commit_delay` with `commit_siblings`, here the calls in flight),
  while appends come that close together (`GAP_WEIGHT`); otherwise at the end of the loop pass.
  Calls that run at the same time share that commit, and the loop does not wait for the writer thread
  to take the GIL. Measured on 2 cores (issue 18, benchmarks/README.md): handed to the thread, a record
  waited ~4.5 ms at 8 sessions to become durable, most of it the thread waiting for the GIL the loop
  holds (to wake, and again after each statement); committed on the loop it waits ~2.7 ms, and the
  loop's time on a core rose from 0.62 to 0.79 of the phase. Committed at the end of each loop pass
  instead of waiting for the others, a stdio session with 8 calls in flight made 1.1 records a commit,
  each costing the loop ~0.32 ms of CPU; waiting, it makes ~3 records a commit of ~0.46 ms, and the
  session serves 17-25 % more calls a second (paired with the code before, reads and creates).

PostgreSQL (a commit is a network round trip, which the loop awaits without stopping):

- **Awaited on the loop, one batch in flight.** The first append starts a commit at the end of its loop
  pass: sealed on the loop, sent in one pipeline of prepared statements, its answer awaited
  (`BatchCommitter.commit_awaited`), the committer held meanwhile. The appends made while it is in flight
  are the next batch, started as soon as it ends: waiting for the calls in flight would only add to the
  round trip they already wait for. Handed to the thread, each batch cost two hand-offs and the thread's
  waits for the GIL (issue 18, benchmarks/README.md: a lone record 1.33 ms from submitted to durable
  through the thread, 1.16 awaited; at 8 sessions 0.77 of the bare server's calls/s through the thread,
  0.84 awaited).

Either database, **on the writer thread** when the loop must not wait: the thread has work queued or is
committing (the batch joins its next one: group commit), another process holds SQLite's write lock
(tried without waiting; the thread waits for it within the store's bounds), or a PostgreSQL batch cannot
be sealed on the head this writer left (the first batch, a checkpoint due: the head is read under the
lock). Checkpoint requests, timer ticks and probes always go to the thread.

The thread takes everything waiting in its inbox (up to `MAX_BATCH`) as one batch, commits it through the
`BatchCommitter`, mirrors new checkpoints to the external file, and hands the outcome to the event loop
with a single `call_soon_threadsafe`. Futures belong to the event loop: the thread never touches them,
the `deliver` callback runs on the loop.

Committing on the loop stops it for the commit's fsync (~0.4 ms here): with one commit per batch, that
is one fsync for all the calls in flight, not one per call, the design that made concurrency useless
before issue 18 (each call committed alone on the loop while every other session waited).

The committer is used under one lock by whichever side commits, each batch in its own BEGIN IMMEDIATE
transaction, so the chain stays linear and the record is durable before the caller's future resolves
on either path.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from persona_mcp.audit.chain import Batch, Committed
from persona_mcp.audit.checkpoint import Checkpoint, append_external
from persona_mcp.audit.committer import BatchCommitter
from persona_mcp.audit.record import AuditRecord
from persona_mcp.audit.witness import WitnessPublisher

_log = structlog.get_logger("persona_mcp.audit")

MAX_BATCH = 1024
INLINE_AFTER_IDLE_S = 0.002
"""An append commits inline only if no other append came within this time: under load (appends closer
together than a commit takes) they go to the thread and share group commits."""
COMMIT_DELAY_S = 0.002
"""How long the first append of a batch waits for those of the other calls in flight (none beyond the
pass in which each of them has made one). Over stdio with 8 calls in flight, 1 ms gave 1.8 records a
commit, 2 ms 3.1 and the most calls a second, 3 ms and 5 ms fewer (each call waits longer than its
share of the commit saves); a lone call never waits (issue 18, benchmarks/README.md)."""
GAP_WEIGHT = 0.25
"""Weight of the newest gap between two appends in their running mean. Appends wait for each other only
while that mean is under `COMMIT_DELAY_S` (each gap counted up to four delays): against Persona itself,
whose answers take tens to hundreds of milliseconds, calls in flight rarely append within 2 ms of each
other, and waiting would add to their latency without sharing a commit."""


@dataclass(slots=True)
class Append:
    fields: dict[str, Any]
    future: asyncio.Future[AuditRecord]


@dataclass(slots=True)
class CheckpointRequest:
    future: asyncio.Future[Checkpoint | None]


@dataclass(slots=True)
class Probe:
    """Take the chain lock, read the head, commit nothing: can this process append right now?"""

    future: asyncio.Future[None]


class Signal:
    pass


TICK = Signal()
"""The checkpoint timer fired: sign a checkpoint if records were added since the newest one."""
STOP = Signal()
"""Commit what came before, then close the connection and end the thread."""

Item = Append | CheckpointRequest | Probe | Signal


@dataclass(frozen=True, slots=True)
class Outcome:
    """One batch as the loop learns of it: committed (with the external mirror's failure, if any),
    or failed with `error` (nothing of the batch was committed)."""

    appends: list[Append]
    requests: list[CheckpointRequest]
    committed: Committed | None
    error: Exception | None
    external_error: str | None
    probes: list[Probe] = field(default_factory=list)


Deliver = Callable[[Outcome], None]


class WriterThread:
    """One thread, one committer, one connection: batches are committed one at a time, in order."""

    def __init__(
        self,
        committer: BatchCommitter[Any],
        loop: asyncio.AbstractEventLoop,
        deliver: Deliver,
        external_checkpoint_path: Path | None,
        witness: WitnessPublisher | None = None,
        calls_in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self._committer = committer
        self._calls_in_flight = calls_in_flight
        self._loop = loop
        self._deliver = deliver
        self._external = external_checkpoint_path
        self._witness = witness
        self._pending_external: list[Checkpoint] = []
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        # Items put into the inbox (written by the loop only) and items the thread has finished with
        # (written by the thread only, before it lets go of the committer): while they differ the thread
        # has work queued or in hand, and nothing submitted later may be committed on the loop before it.
        self._handed = 0
        self._finished = 0
        # Held by whichever side (thread or loop) is using the committer; `_closed` is set under it.
        self._committing = threading.Lock()
        self._closed = False
        self._last_append = float("-inf")
        self._mean_gap = 4 * COMMIT_DELAY_S  # appends far apart until they come closer
        # Appends waiting for those of the other calls in flight, committed together (`_commit_pending`),
        # and the timer that commits them `COMMIT_DELAY_S` after the first if the others take longer.
        self._pending: list[Append] = []
        self._pending_deadline: asyncio.TimerHandle | None = None
        self.commits = 0
        """Batches committed with at least one record, inline or on the thread (for tests and metrics)."""
        self.inline_commits = 0
        """Of those, the batches committed on the event loop (SQLite inline, PostgreSQL awaited)."""
        # The batch being committed from the loop (`_commit_awaited`), kept referenced while it runs.
        self._awaited: asyncio.Task[None] | None = None
        # When the batch being committed now started (monotonic), None between batches: read by the loop
        # to tell a commit that hangs beyond every bound the database enforces (see `AuditLog.health`).
        self._commit_started: float | None = None
        self._stopped: asyncio.Future[None] = loop.create_future()
        # A daemon: a process that exits without `AuditLog.aclose` must not hang on the inbox. Nothing
        # durable is at stake, since an interrupted transaction commits nothing and no caller is waiting.
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    @property
    def committer(self) -> BatchCommitter[Any]:
        return self._committer

    @property
    def queue_depth(self) -> int:
        """Appends and requests waiting for the writer thread (a metric: a growing queue is a slow store)."""
        return self._inbox.qsize()

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped.done()

    @property
    def commit_started(self) -> float | None:
        """`time.monotonic()` at which the commit in progress started; None if none is."""
        return self._commit_started

    def submit(self, item: Item) -> None:
        """Queue `item` for the thread, or commit an `Append` on the event loop (see the module docstring):
        SQLite at once when the log is idle, else with the appends of the other calls in flight;
        PostgreSQL with the next batch whose round trip the loop awaits.

        On the event loop; the loop's paths call `deliver` themselves, so the future is resolved (or
        failed) when the commit is done. The loop never blocks on a lock: a busy thread or database sends
        the appends to the thread instead, and an awaited round trip blocks nothing.
        """
        committer = self._committer
        if not isinstance(item, Append) or not (committer.commits_inline or committer.commits_awaited):
            # Appends submitted before `item` are never handled after it.
            self._commit_pending(may_wait=False)
            self._hand(item)
            return
        if committer.commits_awaited:
            # A round trip does not stop the loop: the first append starts one at the end of its loop
            # pass, and those made while it is in flight go together in the next, when it ends.
            self._pending.append(item)
            if len(self._pending) == 1 and self._awaited is None:
                self._loop.call_soon(self._commit_pending)
            return
        in_flight = self._calls_in_flight()
        if self._commit_alone(item, in_flight):
            return
        self._pending.append(item)
        self._schedule_pending(in_flight)

    def _commit_alone(self, item: Append, in_flight: int) -> bool:
        """Commit a lone append now: none within `INLINE_AFTER_IDLE_S`, no other call in flight. Every
        inline append passes here, so the running mean of their gaps (`GAP_WEIGHT`) is kept here too."""
        now = time.monotonic()
        gap, self._last_append = now - self._last_append, now
        self._mean_gap += GAP_WEIGHT * (min(gap, 4 * COMMIT_DELAY_S) - self._mean_gap)
        alone = not self._pending and in_flight <= 1
        return gap >= INLINE_AFTER_IDLE_S and alone and self._commit_on_loop([item])

    def _schedule_pending(self, in_flight: int) -> None:
        """Commit the pending appends at the end of this loop pass once there are as many as the
        `in_flight` calls (each call waits on one: nothing else can join) or appends come too far apart
        to join them, else `COMMIT_DELAY_S` after the first."""
        deadline = self._pending_deadline
        if len(self._pending) >= in_flight or self._mean_gap >= COMMIT_DELAY_S:
            if deadline is not None:
                deadline.cancel()
                self._pending_deadline = None
            elif len(self._pending) > 1:
                return  # already due at the end of this pass
            self._loop.call_soon(self._commit_pending)
        elif deadline is None and len(self._pending) == 1:
            self._pending_deadline = self._loop.call_later(COMMIT_DELAY_S, self._commit_pending)

    def _commit_pending(self, *, may_wait: bool = True) -> None:
        """The pending appends, as one batch: on the loop, or on the thread if it has work queued or is
        committing, or another process holds the database's write lock. While a batch's round trip is
        awaited on the loop they wait for it, if `may_wait`, and are committed as soon as it ends."""
        if self._pending_deadline is not None:
            self._pending_deadline.cancel()
            self._pending_deadline = None
        if may_wait and self._awaited is not None:
            return  # `_commit_awaited` commits them when the batch in flight ends
        appends, self._pending = self._pending, []
        if appends and not self._commit_on_loop(appends):
            for append in appends:
                self._hand(append)

    def _hand(self, item: Item) -> None:
        """Queue `item` for the thread (on the loop)."""
        self._handed += 1
        self._inbox.put(item)

    def _commit_on_loop(self, appends: list[Append]) -> bool:
        """Commit `appends` on the event loop and deliver the outcome; False (nothing done) if the thread
        has work queued or in hand, holds the committer, or the database's write lock is taken."""
        if self._handed != self._finished or not self._committing.acquire(blocking=False):
            return False
        if self._committer.commits_awaited:
            return self._start_awaited(appends)
        try:
            if self._closed or not self._thread.is_alive():
                return False
            outcome = self._commit(appends, inline=True)
        finally:
            self._committing.release()
        if outcome is None:
            return False
        if outcome.committed is not None:
            self.inline_commits += 1
        self._deliver(outcome)
        return True

    def _start_awaited(self, appends: list[Append]) -> bool:
        """With `_committing` held: start committing `appends` from the loop (`_commit_awaited`, which lets
        go of it), or let go of it at once and return False if the committer cannot take them now."""
        batch = Batch(events=[append.fields for append in appends])
        if self._closed or not self._thread.is_alive() or not self._committer.awaitable(batch):
            self._committing.release()
            return False
        self._commit_started = time.monotonic()
        self._awaited = self._loop.create_task(self._commit_awaited(appends, batch), name="audit-commit")
        return True

    async def _commit_awaited(self, appends: list[Append], batch: Batch) -> None:
        """The committer's round trip awaited on the loop; the thread, if handed anything meanwhile, waits
        for `_committing` and commits it after this batch, in submission order."""
        try:
            committed = await self._committer.commit_awaited(batch)
        except Exception as exc:  # fail closed, as on the thread
            outcome = Outcome(appends, [], None, exc, None)
        except BaseException:  # cancelled (the loop is closing): the outcome is unknown to the callers
            cancelled = ConnectionAbortedError("the audit commit was cancelled")
            outcome = Outcome(appends, [], None, cancelled, None)
            raise
        else:
            self.inline_commits += 1
            outcome = self._committed(committed, appends)
        finally:
            self._commit_started = None
            self._awaited = None
            self._committing.release()
            self._deliver(outcome)
        if self._pending:
            self._commit_pending()  # made during this round trip: the next batch

    async def stop(self) -> None:
        """Commit everything queued so far, close the connection, and wait for the thread to end."""
        self._commit_pending(may_wait=False)  # the pending appends first, then the thread's last batch
        if self._thread.is_alive():
            self._hand(STOP)
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
                with self._committing:
                    self._commit_started = time.monotonic()
                    try:
                        outcome = self._commit(items)
                    finally:
                        self._commit_started = None
                        self._finished += len(items)
                if outcome is not None:
                    self._report(outcome)
        finally:
            with self._committing:
                self._closed = True
                self._committer.close()
            if self._witness is not None:
                self._witness.close()  # the final checkpoint reaches the witness if it answers
            self._report(None)

    def _commit(self, items: Sequence[Item], *, inline: bool = False) -> Outcome | None:
        """Commit `items` as one batch (the caller holds `_committing`); None only when `inline` and
        the database lock was taken, in which case nothing was done."""
        appends = [item for item in items if isinstance(item, Append)]
        requests = [item for item in items if isinstance(item, CheckpointRequest)]
        probes = [item for item in items if isinstance(item, Probe)]
        batch = Batch(
            events=[item.fields for item in appends],
            requested=bool(requests),
            timed=any(item is TICK for item in items),
        )
        if not appends and not requests and not probes and not batch.timed:
            return Outcome(appends, requests, None, None, None)
        try:
            committed = self._committer.try_commit(batch) if inline else self._committer.commit(batch)
        except Exception as exc:  # fail closed: the loop turns this into AuditUnavailableError
            return Outcome(appends, requests, None, exc, None, probes)
        if committed is None:
            return None
        return self._committed(committed, appends, requests, probes)

    def _committed(
        self,
        committed: Committed,
        appends: list[Append],
        requests: list[CheckpointRequest] | None = None,
        probes: list[Probe] | None = None,
    ) -> Outcome:
        """The outcome of a committed batch, on whichever side committed it (holding `_committing`): counted,
        its new checkpoint mirrored to the external file and published to the witness."""
        if appends:
            self.commits += 1
        if committed.signed is not None:
            self._pending_external.append(committed.signed)
            if self._witness is not None:
                self._witness.publish([committed.signed])
        return Outcome(appends, requests or [], committed, None, self._flush_external(), probes or [])

    def _flush_external(self) -> str | None:
        """Mirror signed checkpoints to the external file; the reason it failed (they stay pending for
        the next batch and the log reports unhealthy meanwhile), or why the witness is behind, or None."""
        witness_problem = self._witness.problem if self._witness is not None else None
        if self._external is None or not self._pending_external:
            return witness_problem
        try:
            append_external(self._external, self._pending_external)
        except OSError as exc:
            reason = f"external checkpoint file not writable: {type(exc).__name__}: {exc.strerror or exc}"
            _log.error("audit.external_checkpoint_failed", reason=reason, pending=len(self._pending_external))
            return reason
        self._pending_external.clear()
        return witness_problem

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
    "COMMIT_DELAY_S",
    "GAP_WEIGHT",
    "INLINE_AFTER_IDLE_S",
    "MAX_BATCH",
    "STOP",
    "TICK",
    "Append",
    "CheckpointRequest",
    "Deliver",
    "Item",
    "Outcome",
    "Probe",
    "Signal",
    "WriterThread",
]
