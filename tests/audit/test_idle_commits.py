"""Appends commit on the event loop, alone or with the other calls' appends; a busy database sends them to
the thread.

Both paths must give the same guarantees: durable before `append` returns, one linear chain, and an
event loop that never blocks on another process's lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy.engine import make_url

from persona_mcp.audit import AuditLog, worker
from persona_mcp.audit.verify import verify_log
from persona_mcp.store import Store, create_store, upgrade

from ._support import append_while_locked, call_event, scalar

pytestmark = pytest.mark.anyio


@dataclass(frozen=True, slots=True)
class OpenLog:
    store: Store
    log: AuditLog
    database: str
    """The SQLite file, for a second connection (another process's)."""


@pytest.fixture
async def open_log(sqlite_url: str, data_dir: Path) -> AsyncIterator[OpenLog]:
    store = create_store(sqlite_url)
    await upgrade(store)
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="idle-commits")
    database = make_url(sqlite_url).database
    assert database is not None
    try:
        yield OpenLog(store, log, database)
    finally:
        await log.aclose()
        await store.close()


def _commits_since(log: AuditLog, before: tuple[int, int]) -> tuple[int, int]:
    """Batches committed since `before` (a reading of `log.commits`): in all, and on the loop."""
    return log.commits[0] - before[0], log.commits[1] - before[1]


async def test_appends_spaced_apart_are_each_durable_when_append_returns(open_log: OpenLog) -> None:
    store, log, database = open_log.store, open_log.log, open_log.database
    for i in range(5):
        record = await log.append(call_event(i))
        # Another connection sees it at once: it was committed before append returned.
        with sqlite3.connect(database) as other:
            seen = other.execute("SELECT COUNT(*) FROM audit_records WHERE seq = ?", (record.seq,))
            assert seen.fetchone()[0] == 1
        await anyio.sleep(0.01)  # idle between appends: the inline path is taken
    report = await verify_log(store, trusted_keys=[log.public_key])
    assert report.ok and report.records == 5


async def test_an_append_while_another_process_holds_the_write_lock_waits_off_the_event_loop(
    open_log: OpenLog,
) -> None:
    store, log, database = open_log.store, open_log.log, open_log.database
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        await log.append(call_event(0))
        await anyio.sleep(0.01)
        holder.execute("BEGIN IMMEDIATE")  # as another server process in the middle of its commit
        seq = await append_while_locked(log, call_event(1), release=lambda: holder.execute("ROLLBACK"))
        assert seq == 2
        assert await scalar(store, "SELECT MAX(seq) FROM audit_records") == 2
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok
    finally:
        holder.close()


async def test_while_other_calls_run_the_appends_of_one_loop_pass_share_one_commit_on_the_loop(
    open_log: OpenLog,
) -> None:
    """Issue 18, points 2 and 5: a lone append commits on the event loop at once; while other calls are
    running it is not committed alone (an fsync per call would stall every session) but with every append
    made in the same pass of the event loop, at the pass's end, on the loop: the writer thread, whose
    hand-offs made records wait for the GIL, is not involved. Each record is durable when its append
    returns."""
    store, log, database = open_log.store, open_log.log, open_log.database
    await log.append(call_event(0))  # the first opens the writer's connection, on its thread
    await anyio.sleep(0.01)
    with log.call_in_flight():
        await log.append(call_event(1))
    assert log.commits == (2, 1), "alone: committed on the loop"
    await anyio.sleep(0.01)

    async def append_durably(i: int) -> None:
        record = await log.append(call_event(i))
        with sqlite3.connect(database) as other:
            seen = other.execute("SELECT COUNT(*) FROM audit_records WHERE seq = ?", (record.seq,))
            assert seen.fetchone()[0] == 1, "durable when append returns"

    with log.call_in_flight(), log.call_in_flight():  # this call and another one
        async with anyio.create_task_group() as tg:
            for i in range(2, 7):  # each task's first step runs in the same loop pass
                tg.start_soon(append_durably, i)
    assert log.commits == (3, 2), "five appends of one pass: one commit, on the loop"
    assert await scalar(store, "SELECT COUNT(*) FROM audit_records") == 7
    assert (await verify_log(store, trusted_keys=[log.public_key])).ok


async def test_an_append_waits_for_the_other_call_in_flight_and_shares_its_commit(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: over stdio with 8 calls in flight, committing each loop pass's appends made 1.1 records
    a commit. Now an append made while another call is running waits for that call's append, and the two
    are committed together, on the loop, as soon as both are made; each is durable when its append
    returns. (The delay is set to an hour: only the second append can end the wait.)"""
    monkeypatch.setattr(worker, "COMMIT_DELAY_S", 3600.0)
    store, log, database = open_log.store, open_log.log, open_log.database
    await log.append(call_event(0))
    await anyio.sleep(0.01)
    seqs: list[int] = []

    async def call(i: int, work_s: float) -> None:
        with log.call_in_flight():
            await anyio.sleep(work_s)  # the call's upstream request: the two finish in different passes
            record = await log.append(call_event(i))
            with sqlite3.connect(database) as other:
                seen = other.execute("SELECT COUNT(*) FROM audit_records WHERE seq = ?", (record.seq,))
                assert seen.fetchone()[0] == 1, "durable when append returns"
            seqs.append(record.seq)

    before = log.commits
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, 1, 0.0)
            tg.start_soon(call, 2, 0.01)
    assert sorted(seqs) == [2, 3]
    assert _commits_since(log, before) == (1, 1), "one commit, on the loop"
    assert (await verify_log(store, trusted_keys=[log.public_key])).ok


async def test_a_lone_calls_appends_never_wait_for_other_calls(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write's intent and outcome come close together, within `INLINE_AFTER_IDLE_S`: with no other
    call in flight the second is committed at the end of its loop pass, not after the delay (an hour
    here), so a lone call's latency does not grow."""
    monkeypatch.setattr(worker, "COMMIT_DELAY_S", 3600.0)
    log = open_log.log
    await log.append(call_event(0))
    await anyio.sleep(0.01)
    before = log.commits
    with log.call_in_flight(), anyio.fail_after(30):
        intent = await log.append(call_event(1))
        outcome = await log.append(call_event(2))
    assert (intent.seq, outcome.seq) == (2, 3)
    assert _commits_since(log, before) == (2, 2), "each at once, on the loop"


async def test_an_append_waits_no_longer_than_the_commit_delay_for_a_call_that_makes_none(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other call in flight may never append (or only much later): the first append is committed
    `COMMIT_DELAY_S` after it was made (a second here), not when that call ends."""
    monkeypatch.setattr(worker, "COMMIT_DELAY_S", 1.0)
    log = open_log.log
    await log.append(call_event(0))
    await anyio.sleep(0.01)  # appends a hundredth of a second apart: close together for a 1 s delay
    other_call_ended = anyio.Event()

    async def other_call() -> None:
        with log.call_in_flight():
            await other_call_ended.wait()

    before = log.commits
    async with anyio.create_task_group() as tg:
        tg.start_soon(other_call)
        await anyio.sleep(0)
        with log.call_in_flight(), anyio.fail_after(5):
            record = await log.append(call_event(1))
        assert not other_call_ended.is_set() and record.seq == 2
        other_call_ended.set()
    assert _commits_since(log, before) == (1, 1), "on the loop, alone"


async def test_appends_far_apart_do_not_wait_for_the_other_calls(
    open_log: OpenLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against Persona itself calls take tens to hundreds of milliseconds, and the calls in flight append
    far apart: waiting for each other would only add to their latency. An append that comes long after
    the previous one (here the log's first) is committed at once although another call is in flight, which
    appends only once the first append has returned (with an hour's delay, a wait would never end)."""
    monkeypatch.setattr(worker, "COMMIT_DELAY_S", 3600.0)
    log = open_log.log
    first_returned = anyio.Event()
    seqs: list[int] = []

    async def first_call() -> None:
        with log.call_in_flight():
            seqs.append((await log.append(call_event(0))).seq)
            first_returned.set()

    async def second_call() -> None:
        with log.call_in_flight():
            await first_returned.wait()
            seqs.append((await log.append(call_event(1))).seq)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(second_call)
            tg.start_soon(first_call)
    assert seqs == [1, 2]


async def test_a_checkpoint_asked_for_after_appends_of_the_same_loop_pass_covers_them(
    open_log: OpenLog,
) -> None:
    """Work reaches the writer in the order it was submitted: a checkpoint request (the final one at
    close included) made after appends still waiting for the end of their loop pass commits them first,
    so it signs them."""
    store, log = open_log.store, open_log.log
    await log.append(call_event(0))
    await anyio.sleep(0.01)
    signed: list[int] = []

    async def checkpoint() -> None:
        checkpoint = await log.checkpoint()
        assert checkpoint is not None
        signed.append(checkpoint.seq)

    with log.call_in_flight(), log.call_in_flight():
        async with anyio.create_task_group() as tg:
            for i in range(1, 4):
                tg.start_soon(log.append, call_event(i))
            tg.start_soon(checkpoint)  # its first step runs after the three appends were made

    assert signed == [4], "the checkpoint signs the head the three appends made"
    assert (await verify_log(store, trusted_keys=[log.public_key])).ok


class _HeldLock:
    """The writer's committer lock, holding the writer thread once, after it has taken work from its
    inbox and before it locks the committer: the moment at which the thread has work in hand and the
    committer is still free for the event loop."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self.hold = threading.Event()
        self.taken = threading.Event()
        self.go = threading.Event()

    def acquire(self, blocking: bool = True) -> bool:
        return bool(self._lock.acquire(blocking))

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        if self.hold.is_set() and threading.current_thread().name == "audit-writer":
            self.hold.clear()
            self.taken.set()
            self.go.wait(10)
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


async def test_an_append_never_overtakes_one_the_writer_thread_has_taken(open_log: OpenLog) -> None:
    """Records submitted one after another are chained in that order, even when the first went to the
    writer thread (the database was locked by another process) and the thread has taken it but not yet
    committed it: the second is not committed on the event loop ahead of it."""
    store, log, database = open_log.store, open_log.log, open_log.database
    holder = sqlite3.connect(database, isolation_level=None)
    gate: _HeldLock | None = None
    try:
        await log.append(call_event(0))
        await anyio.sleep(0.01)
        writer: Any = log._writer  # the test's hold on the writer thread
        gate = writer._committing = _HeldLock(writer._committing)
        gate.hold.set()
        holder.execute("BEGIN IMMEDIATE")  # another process: the first append goes to the thread
        first = log.submit(call_event(1))
        with anyio.fail_after(10):
            while not gate.taken.is_set():
                await anyio.sleep(0.001)
        holder.execute("ROLLBACK")
        await anyio.sleep(0.01)  # idle by the clock: the second would commit alone, at once
        second = log.submit(call_event(2))
        await anyio.sleep(0.01)
        gate.go.set()
        with anyio.fail_after(10):
            first_seq, second_seq = (await first).seq, (await second).seq
        assert first_seq < second_seq, "submitted first, chained first"
        assert (await verify_log(store, trusted_keys=[log.public_key])).ok
    finally:
        if gate is not None:
            gate.go.set()
        holder.close()
